//! What every endpoint test needs: a lab of benches on a loopback subnet of its own, clients
//! bound to a bench's address, and reading events off the bus.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use harness::endpoints::{BenchAccount, Endpoints, TaggedEvent};
use harness::lab::{Approval, Bench, EndpointsConfig, Lab, Mac, Model, PowerState, RelayChannel};
use harness::scenario::AccountState;
use tokio::net::UdpSocket;
use tokio::sync::broadcast;

/// Only bounds a wait that would otherwise hang a broken test; never asserted on.
pub const GIVE_UP: Duration = Duration::from_secs(5);

/// A bench address plan: `127.a.b.<host>` with `a`, `b` random per test, so tests running
/// in parallel never see each other's phones.
pub struct Subnet([u8; 2]);

impl Subnet {
    pub fn random() -> Subnet {
        // 127.0.x.x is left out: the servers listen on 127.0.0.1.
        Subnet([rand::random::<u8>().max(1), rand::random()])
    }

    pub fn ip(&self, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(127, self.0[0], self.0[1], host)
    }
}

/// One bench of a test lab.
pub fn bench(name: &str, model: Model, mac: &str, ip: Ipv4Addr) -> Bench {
    Bench {
        name: name.into(),
        model,
        mac: Mac::parse(mac).expect("test MAC"),
        ip,
        web_port: 80,
        power: RelayChannel {
            board: "relay".into(),
            channel: 1,
        },
        network: None,
        actuator: "keys".into(),
        keys: BTreeMap::new(),
        safe_power: PowerState::Off,
        approval: Approval::None,
        approved: None,
        usb: None,
    }
}

/// A lab with these benches whose endpoints all listen on free loopback ports.
pub fn lab(benches: Vec<Bench>) -> Lab {
    let any_port = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    Lab {
        source: PathBuf::from("endpoints-test.toml"),
        name: "endpoints-test".into(),
        time_scale: 1.0,
        endpoints: EndpointsConfig {
            provisioning: any_port,
            foreign_provisioning: any_port,
            tftp: any_port,
            sip: any_port,
            syslog: any_port,
        },
        relay_boards: Vec::new(),
        actuators: Vec::new(),
        benches,
        twin: None,
        lock_dir: None,
        faults: Default::default(),
    }
}

pub fn account(state: AccountState, password: &str, provisioning_url: &str) -> BenchAccount {
    BenchAccount {
        account: state,
        admin_password: password.into(),
        provisioning_url: provisioning_url.into(),
        firmware: None,
        syslog: false,
    }
}

/// An HTTP client whose connections come from `ip`, as the phone at `ip` would.
pub fn http_client(ip: Ipv4Addr, user_agent: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(ip))
        .user_agent(user_agent)
        .build()
        .expect("reqwest client")
}

/// A UDP socket sending from `ip`.
pub async fn udp_from(ip: Ipv4Addr) -> UdpSocket {
    UdpSocket::bind((ip, 0))
        .await
        .expect("bind test UDP socket")
}

/// The next datagram on `socket`, as text.
pub async fn recv_text(socket: &UdpSocket) -> String {
    let mut buffer = vec![0u8; 65_535];
    let (len, _) = tokio::time::timeout(GIVE_UP, socket.recv_from(&mut buffer))
        .await
        .expect("no answer from the endpoint")
        .expect("receive");
    String::from_utf8(buffer[..len].to_vec()).expect("UTF-8 answer")
}

/// The next event on the bus.
pub async fn next_event(events: &mut broadcast::Receiver<TaggedEvent>) -> TaggedEvent {
    tokio::time::timeout(GIVE_UP, events.recv())
        .await
        .expect("no event published")
        .expect("event bus closed or lagging")
}

/// Every event already on the bus (those of requests already answered).
pub fn published(events: &mut broadcast::Receiver<TaggedEvent>) -> Vec<TaggedEvent> {
    std::iter::from_fn(|| events.try_recv().ok()).collect()
}

pub async fn start(lab: &Lab) -> Endpoints {
    Endpoints::start(lab).await.expect("endpoints start")
}
