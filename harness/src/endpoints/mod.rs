//! The servers the lab's phones talk to: provisioning HTTP (with the Auto-P call-home and
//! firmware downloads), a foreign provisioning server, the recovery TFTP server, the SIP
//! registrar and the syslog collector. Each publishes what it sees on one event bus, tagged with the bench.

pub mod accounts;
pub mod directory;
pub mod events;
pub mod foreign;
pub mod http_conn;
pub mod http_limits;
pub mod provisioning;
pub mod registrar;
pub mod sip_message;
pub mod syslog;
pub mod tftp;

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::lab::Lab;

pub use accounts::{Accounts, BenchAccount, FirmwareOffer};
pub use directory::BenchDirectory;
pub use events::{EndpointEvent, EventBus, HttpServer, TaggedEvent, TftpRequest, event_bus};
pub use http_limits::HttpLimits;
pub use tftp::{TftpError, TftpRecovery, TransferLimits};

/// How long `shutdown` lets a server finish what it is sending (a firmware download in
/// flight) before cutting it off.
const SHUTDOWN_GRACE_S: u64 = 5;

/// Why the endpoints could not start. The run treats it as a lab fault, not a finding.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// The address is in use or not an address of this host.
    #[error(
        "cannot bind the {endpoint} endpoint on {addr}: {source}; check that no other program \
         (another harness run, a `harness serve`) listens there and that the address belongs \
         to this host (the `[endpoints]` table of the lab file)"
    )]
    Bind {
        /// Which server (`provisioning`, `SIP registrar`, ...).
        endpoint: &'static str,
        /// The address from the lab file.
        addr: SocketAddr,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// The socket was bound but its address cannot be read back (the OS refused).
    #[error(
        "the {endpoint} endpoint bound on {addr} but its local address cannot be read: {source}"
    )]
    LocalAddr {
        /// Which server.
        endpoint: &'static str,
        /// The address from the lab file.
        addr: SocketAddr,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// The recovery TFTP server did not start.
    #[error(transparent)]
    Tftp(#[from] TftpError),
}

/// What the servers an outsider can reach tolerate: connections and transfers at once,
/// and how long an idle client keeps its place.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointLimits {
    /// Both provisioning servers.
    pub http: HttpLimits,
    /// The recovery TFTP server.
    pub tftp: TransferLimits,
}

/// Where each server actually listens (port 0 in the lab file resolved to the real port).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoundAddrs {
    /// The Intermedia stand-in (configs, call-home, firmware), TCP.
    pub provisioning: SocketAddr,
    /// The provisioning server that is not Intermedia's, TCP.
    pub foreign_provisioning: SocketAddr,
    /// The recovery TFTP server, UDP: what a phone is told as its TFTP server.
    pub tftp: SocketAddr,
    /// The SIP registrar, UDP.
    pub sip: SocketAddr,
    /// The syslog collector, UDP.
    pub syslog: SocketAddr,
}

/// The running endpoints of one lab. Dropping it stops every server abruptly; `shutdown`
/// lets answers in flight finish first.
pub struct Endpoints {
    /// Every endpoint event, tagged with its bench; subscribe before the phone acts.
    pub bus: EventBus,
    /// What the platform holds per bench; scenarios set it in their `given`.
    pub accounts: Accounts,
    /// Where each server listens, for URLs handed to phones and for tests.
    pub addrs: BoundAddrs,
    tftp: TftpRecovery,
    stop: watch::Sender<bool>,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

impl Endpoints {
    /// Binds every server (port 0 = free port). A bind failure is an `EndpointError` that
    /// names the endpoint and address (the run treats it as a lab fault).
    pub async fn start(lab: &Lab) -> Result<Endpoints, EndpointError> {
        Endpoints::start_with_limits(lab, EndpointLimits::default()).await
    }

    /// `start`, with `limits` instead of the defaults (tests use short timeouts).
    pub async fn start_with_limits(
        lab: &Lab,
        limits: EndpointLimits,
    ) -> Result<Endpoints, EndpointError> {
        let config = &lab.endpoints;
        let provisioning_listener = bind_tcp("provisioning", config.provisioning).await?;
        let foreign_listener =
            bind_tcp("foreign provisioning", config.foreign_provisioning).await?;
        let sip_socket = bind_udp("SIP registrar", config.sip).await?;
        let syslog_socket = bind_udp("syslog", config.syslog).await?;
        let bus = event_bus();
        let directory = Arc::new(BenchDirectory::new(lab));
        let tftp = TftpRecovery::start_with_limits(
            config.tftp,
            directory.clone(),
            bus.clone(),
            limits.tftp,
        )?;
        let addrs = BoundAddrs {
            provisioning: local_addr("provisioning", config.provisioning, &provisioning_listener)?,
            foreign_provisioning: local_addr(
                "foreign provisioning",
                config.foreign_provisioning,
                &foreign_listener,
            )?,
            tftp: tftp.addr(),
            sip: local_addr("SIP registrar", config.sip, &sip_socket)?,
            syslog: local_addr("syslog", config.syslog, &syslog_socket)?,
        };

        let accounts = Accounts::new();
        let (stop, stopped) = watch::channel(false);

        let provisioning_gate = shut_out_gate(directory.clone(), accounts.clone(), bus.clone());
        let provisioning = provisioning::router(provisioning::ProvisioningServer {
            directory: directory.clone(),
            accounts: accounts.clone(),
            bus: bus.clone(),
            bound: addrs.provisioning,
            sip: addrs.sip,
            syslog: addrs.syslog,
        });
        let foreign = foreign::router(foreign::ForeignServer {
            directory: directory.clone(),
            bus: bus.clone(),
            accounts: accounts.clone(),
        });
        let registrar = registrar::Registrar {
            directory: directory.clone(),
            accounts: accounts.clone(),
        };

        let tasks = vec![
            (
                "provisioning",
                spawn_http(
                    "provisioning",
                    provisioning_listener,
                    provisioning,
                    limits.http,
                    Some(provisioning_gate),
                    stopped.clone(),
                ),
            ),
            (
                "foreign provisioning",
                spawn_http(
                    "foreign provisioning",
                    foreign_listener,
                    foreign,
                    limits.http,
                    None,
                    stopped.clone(),
                ),
            ),
            (
                "SIP registrar",
                tokio::spawn(registrar::serve(
                    sip_socket,
                    registrar,
                    bus.clone(),
                    stopped.clone(),
                )),
            ),
            (
                "syslog",
                tokio::spawn(syslog::serve(
                    syslog_socket,
                    directory,
                    bus.clone(),
                    stopped,
                )),
            ),
        ];
        tracing::info!(?addrs, "endpoints listening");
        Ok(Endpoints {
            bus,
            accounts,
            addrs,
            tftp,
            stop,
            tasks,
        })
    }

    /// The URL a phone holding the lab's Intermedia provisioning URL fetches from.
    pub fn provisioning_url(&self) -> String {
        format!("http://{}/", self.addrs.provisioning)
    }

    /// The URL of the foreign provisioning server (a phone re-provisioned elsewhere).
    pub fn foreign_provisioning_url(&self) -> String {
        format!("http://{}/", self.addrs.foreign_provisioning)
    }

    /// The folder holding one TFTP folder per bench (`<root>/<bench>/`). Removed on
    /// shutdown.
    pub fn tftp_root(&self) -> &Path {
        self.tftp.root()
    }

    /// Puts exactly `files` (name served, source file) in the bench's TFTP folder,
    /// replacing what was staged before: what its phone gets when it asks the recovery
    /// server. Hard links when possible, else copies; blocking file I/O (a copy of a 27 MB
    /// image takes milliseconds).
    pub fn stage_recovery(&self, bench: &str, files: &[(String, PathBuf)]) -> io::Result<()> {
        self.tftp.stage(bench, files)
    }

    /// Stops every server: no new requests are taken, answers in flight get
    /// `SHUTDOWN_GRACE_S` to finish, then are cut off. The ports are free when it returns.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        let grace = Duration::from_secs(SHUTDOWN_GRACE_S);
        for (name, task) in std::mem::take(&mut self.tasks) {
            let abort = task.abort_handle();
            match tokio::time::timeout(grace, task).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::error!(endpoint = name, %error, "endpoint task failed"),
                Err(_) => {
                    tracing::warn!(
                        endpoint = name,
                        "endpoint still busy after the grace period: stopped"
                    );
                    abort.abort();
                }
            }
        }
        // Joins the TFTP thread; transfers still running are cut (their events say so).
        self.tftp.stop();
        tracing::info!("endpoints stopped");
    }
}

impl Drop for Endpoints {
    fn drop(&mut self) {
        // Without a shutdown (a failed run, a panicking test) the servers must not outlive
        // the lab run holding its ports.
        for (_, task) in &self.tasks {
            task.abort();
        }
    }
}

async fn bind_tcp(endpoint: &'static str, addr: SocketAddr) -> Result<TcpListener, EndpointError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| EndpointError::Bind {
            endpoint,
            addr,
            source,
        })
}

async fn bind_udp(endpoint: &'static str, addr: SocketAddr) -> Result<UdpSocket, EndpointError> {
    UdpSocket::bind(addr)
        .await
        .map_err(|source| EndpointError::Bind {
            endpoint,
            addr,
            source,
        })
}

/// Anything bound that can say where.
trait LocalAddr {
    fn local(&self) -> io::Result<SocketAddr>;
}

impl LocalAddr for TcpListener {
    fn local(&self) -> io::Result<SocketAddr> {
        self.local_addr()
    }
}

impl LocalAddr for UdpSocket {
    fn local(&self) -> io::Result<SocketAddr> {
        self.local_addr()
    }
}

fn local_addr(
    endpoint: &'static str,
    addr: SocketAddr,
    bound: &impl LocalAddr,
) -> Result<SocketAddr, EndpointError> {
    bound.local().map_err(|source| EndpointError::LocalAddr {
        endpoint,
        addr,
        source,
    })
}

fn spawn_http(
    endpoint: &'static str,
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    gate: Option<http_limits::ClientGate>,
    mut stopped: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let shutdown = async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    tokio::spawn(async move {
        // Per-connection errors are the connection's; an error here means the listener
        // itself failed, which the run must hear about.
        if let Err(error) =
            http_limits::serve_gated(endpoint, listener, router, limits, gate, shutdown).await
        {
            tracing::error!(endpoint, %error, "HTTP endpoint stopped on an error");
        }
    })
}

/// The provisioning server's gate: a bench's phone the scenario made it unreachable for is
/// shut out, and each connection it tried is published, so the transcript shows the phone
/// tried and reached nothing.
fn shut_out_gate(
    directory: Arc<BenchDirectory>,
    accounts: Accounts,
    bus: events::EventBus,
) -> http_limits::ClientGate {
    Arc::new(move |client: SocketAddr| {
        let Some(bench) = directory.bench_at(client.ip()) else {
            return false;
        };
        if accounts.is_reachable(bench) {
            return false;
        }
        directory.publish(
            &bus,
            events::EndpointEvent::ShutOut {
                client,
                server: events::HttpServer::Provisioning,
            },
        );
        true
    })
}
