//! The provisioning server and the foreign one, over real HTTP from clients bound to the
//! benches' addresses.

mod endpoints_support;

use std::net::{Ipv4Addr, SocketAddr};

use endpoints_support::*;
use harness::endpoints::{
    EndpointError, EndpointEvent, Endpoints, FirmwareOffer, HttpServer, TaggedEvent,
};
use harness::lab::Model;
use harness::scenario::AccountState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

const UA_T46G: &str = "Yealink SIP-T46G 28.83.0.120 00:15:65:4a:a9:37";
const MAC_T46G: &str = "0015654aa937";
const MAC_T48S: &str = "001565000148";

struct Rig {
    endpoints: Endpoints,
    t46g: Ipv4Addr,
    t48s: Ipv4Addr,
    stranger: Ipv4Addr,
}

async fn rig() -> Rig {
    let subnet = Subnet::random();
    let (t46g, t48s, stranger) = (subnet.ip(46), subnet.ip(148), subnet.ip(200));
    let lab = lab(vec![
        bench("t46g", Model::T46G, MAC_T46G, t46g),
        bench("t48s", Model::T48S, MAC_T48S, t48s),
    ]);
    Rig {
        endpoints: start(&lab).await,
        t46g,
        t48s,
        stranger,
    }
}

impl Rig {
    fn url(&self, path: &str) -> String {
        format!(
            "{}{}",
            self.endpoints.provisioning_url(),
            path.trim_start_matches('/')
        )
    }

    async fn get(&self, from: Ipv4Addr, path: &str) -> (u16, String) {
        let response = http_client(from, UA_T46G)
            .get(self.url(path))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }
}

/// The one HTTP event in `events`, as (bench, server, path, status, bytes, note).
fn http(event: &TaggedEvent) -> (Option<&str>, HttpServer, &str, u16, u64, Option<&str>) {
    match &event.event {
        EndpointEvent::Http {
            server,
            path,
            status,
            bytes,
            note,
            ..
        } => (
            event.bench.as_deref(),
            *server,
            path,
            *status,
            *bytes,
            note.as_deref(),
        ),
        other => panic!("expected an HTTP event, got {other:?}"),
    }
}

#[tokio::test]
async fn boot_files_are_absent_and_common_configs_served_per_model() {
    let rig = rig().await;
    let mut events = rig.endpoints.bus.subscribe();
    assert_eq!(rig.get(rig.t46g, &format!("/{MAC_T46G}.boot")).await.0, 404);
    assert_eq!(rig.get(rig.t46g, "/y000000000000.boot").await.0, 404);
    for model in Model::ALL {
        let (status, body) = rig.get(rig.t46g, &format!("/{}", model.common_cfg())).await;
        assert_eq!(status, 200, "{model}");
        assert!(body.starts_with("#!version:1.0.0.1\n#"), "{model}: {body}");
        assert_eq!(body.lines().count(), 2, "{model}: {body}");
    }
    assert_eq!(rig.get(rig.t46g, "/y000000000099.cfg").await.0, 404);

    let seen = published(&mut events);
    assert_eq!(seen.len(), 11);
    assert_eq!(http(&seen[0]).5, Some("boot file not used"));
    assert_eq!(http(&seen[2]).5, Some("common config"));
    assert_eq!(
        http(&seen[10]),
        (
            Some("t46g"),
            HttpServer::Provisioning,
            "/y000000000099.cfg",
            404,
            0,
            Some("unknown common config")
        )
    );
}

#[tokio::test]
async fn mac_config_follows_the_account_state() {
    let rig = rig().await;
    let accounts = &rig.endpoints.accounts;
    let mut events = rig.endpoints.bus.subscribe();
    let home = rig.endpoints.provisioning_url();
    let addrs = rig.endpoints.addrs;

    let mut active = account(AccountState::Active, "s3cret", &home);
    active.syslog = true;
    accounts.set("t46g", active);
    let (status, body) = rig.get(rig.t46g, &format!("/{MAC_T46G}.cfg")).await;
    assert_eq!(status, 200);
    let expected = format!(
        "#!version:1.0.0.1\n\
         static.security.user_password = admin:s3cret\n\
         static.auto_provision.server.url = {home}\n\
         static.auto_provision.dhcp_option.enable = 0\n\
         static.syslog.enable = 1\n\
         static.syslog.server = 127.0.0.1\n\
         static.syslog.server_port = {}\n\
         account.1.enable = 1\n\
         account.1.user_name = {MAC_T46G}\n\
         account.1.sip_server.1.address = 127.0.0.1\n\
         account.1.sip_server.1.port = {}\n\
         account.1.expires = 86400\n",
        addrs.syslog.port(),
        addrs.sip.port()
    );
    assert_eq!(body, expected);

    // Syslog off: the collector's address is not handed out.
    accounts.set("t46g", account(AccountState::Active, "pw", &home));
    let (_, body) = rig.get(rig.t46g, &format!("/{MAC_T46G}.cfg")).await;
    assert!(body.contains("static.syslog.enable = 0\n"));
    assert!(!body.contains("static.syslog.server"));

    accounts.set("t46g", account(AccountState::Cancelled, "pw", &home));
    assert_eq!(
        rig.get(rig.t46g, &format!("/{MAC_T46G}.cfg")).await,
        (404, String::new())
    );
    accounts.set("t46g", account(AccountState::V2, "pw", &home));
    assert_eq!(rig.get(rig.t46g, &format!("/{MAC_T46G}.cfg")).await.0, 404);
    // A MAC no bench has, and a bench whose account was never set.
    assert_eq!(rig.get(rig.t46g, "/001565ffffff.cfg").await.0, 404);
    assert_eq!(rig.get(rig.t48s, &format!("/{MAC_T48S}.cfg")).await.0, 404);

    let notes: Vec<_> = published(&mut events)
        .iter()
        .map(|e| http(e).5.map(str::to_owned))
        .collect();
    let expected: Vec<Option<String>> = [
        "account active",
        "account active",
        "account cancelled",
        "2.0 account",
        "unknown MAC",
        "unknown MAC",
    ]
    .into_iter()
    .map(|note| Some(note.to_owned()))
    .collect();
    assert_eq!(notes, expected);
}

#[tokio::test]
async fn call_home_resets_only_a_cancelled_account() {
    let rig = rig().await;
    let accounts = &rig.endpoints.accounts;
    let home = rig.endpoints.provisioning_url();
    let mut events = rig.endpoints.bus.subscribe();
    let call_home = format!("/autop/{MAC_T46G}.cfg");

    accounts.set("t46g", account(AccountState::Cancelled, "lost", &home));
    let reset = "#!version:1.0.0.1\nstatic.security.user_password = admin:admin\n";
    assert_eq!(rig.get(rig.t46g, &call_home).await, (200, reset.to_owned()));
    accounts.set("t46g", account(AccountState::Active, "pw", &home));
    assert_eq!(rig.get(rig.t46g, &call_home).await.0, 403);
    accounts.set("t46g", account(AccountState::V2, "pw", &home));
    assert_eq!(rig.get(rig.t46g, &call_home).await.0, 403);
    assert_eq!(rig.get(rig.t46g, "/autop/001565ffffff.cfg").await.0, 404);
    assert_eq!(rig.get(rig.t46g, "/autop/y000000000028.cfg").await.0, 404);
    assert_eq!(
        rig.get(rig.t46g, &format!("/autop/{MAC_T46G}.boot"))
            .await
            .0,
        404
    );

    let seen = published(&mut events);
    let summary: Vec<_> = seen
        .iter()
        .map(|e| (http(e).3, http(e).5.unwrap().to_owned()))
        .collect();
    assert_eq!(
        summary,
        [
            (200, "call-home: admin password reset"),
            (403, "call-home refused: account active"),
            (403, "call-home refused: 2.0 account"),
            (404, "unknown MAC"),
            (404, "call-home: file not served"),
            (404, "call-home: file not served"),
        ]
        .map(|(status, note)| (status, note.to_owned()))
    );
    let EndpointEvent::Http { path, bytes, .. } = &seen[0].event else {
        unreachable!()
    };
    assert_eq!(path, &call_home);
    assert_eq!(*bytes, reset.len() as u64);
}

#[tokio::test]
async fn events_are_tagged_with_the_bench_and_keep_request_order() {
    let rig = rig().await;
    rig.endpoints
        .accounts
        .set("t46g", account(AccountState::Active, "pw", "http://x/"));
    let mut events = rig.endpoints.bus.subscribe();
    // The boot-time fetch order of a T46G, with a query string on the last one.
    let fetches = [
        format!("/{MAC_T46G}.boot"),
        "/y000000000000.boot".to_owned(),
        "/y000000000028.cfg".to_owned(),
        format!("/{MAC_T46G}.cfg?boot=1"),
    ];
    for path in &fetches {
        rig.get(rig.t46g, path).await;
    }
    rig.get(rig.stranger, "/y000000000028.cfg").await;

    let seen = published(&mut events);
    assert_eq!(seen.len(), 5);
    for (event, path) in seen.iter().zip(&fetches) {
        let EndpointEvent::Http {
            client,
            method,
            path: seen_path,
            user_agent,
            ..
        } = &event.event
        else {
            panic!("{event:?}")
        };
        assert_eq!(event.bench.as_deref(), Some("t46g"));
        assert_eq!(client.ip(), rig.t46g);
        assert_eq!(method, "GET");
        assert_eq!(seen_path, path.split('?').next().unwrap());
        assert_eq!(user_agent.as_deref(), Some(UA_T46G));
    }
    assert_eq!(seen[4].bench, None);
    assert_eq!(seen[4].event.client().ip(), rig.stranger);
}

#[tokio::test]
async fn offered_firmware_is_streamed_whole() {
    let rig = rig().await;
    let dir = tempfile::tempdir().unwrap();
    let image: Vec<u8> = (0..3_000_001u32).map(|i| (i * 7 % 251) as u8).collect();
    let path = dir.path().join("T46-28.83.0.130.rom");
    std::fs::write(&path, &image).unwrap();
    let mut offer = account(AccountState::Active, "pw", "http://x/");
    offer.firmware = Some(FirmwareOffer {
        file_name: "T46-28.83.0.130.rom".into(),
        path,
    });
    rig.endpoints.accounts.set("t46g", offer);
    let mut events = rig.endpoints.bus.subscribe();

    let (_, config) = rig.get(rig.t46g, &format!("/{MAC_T46G}.cfg")).await;
    let url = config
        .lines()
        .find_map(|line| line.strip_prefix("static.firmware.url = "))
        .expect("firmware URL in the config");
    assert_eq!(url, rig.url("/firmware/T46-28.83.0.130.rom"));
    let response = http_client(rig.t46g, UA_T46G)
        .get(url)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.content_length(), Some(image.len() as u64));
    let body = response.bytes().await.unwrap();
    assert!(
        body[..] == image[..],
        "downloaded image differs from the offered file"
    );

    // Another bench may fetch an offered image too, but a name not offered is unknown.
    assert_eq!(
        rig.get(rig.t48s, "/firmware/T46-28.83.0.130.rom").await.0,
        200
    );
    assert_eq!(
        rig.get(rig.t46g, "/firmware/T46-28.83.0.120.rom").await.0,
        404
    );

    let seen = published(&mut events);
    assert_eq!(
        http(&seen[1]),
        (
            Some("t46g"),
            HttpServer::Provisioning,
            "/firmware/T46-28.83.0.130.rom",
            200,
            3_000_001,
            Some("firmware")
        )
    );
    assert_eq!(http(&seen[2]).0, Some("t48s"));
    assert_eq!(http(&seen[3]).5, Some("firmware not offered"));
}

/// Sends a request line as written (no client-side path normalisation) from `from`.
async fn raw_get(from: Ipv4Addr, server: SocketAddr, target: &str) -> String {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    let mut stream = socket.connect(server).await.unwrap();
    let request = format!("GET {target} HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}

#[tokio::test]
async fn path_traversal_is_refused() {
    let rig = rig().await;
    let dir = tempfile::tempdir().unwrap();
    let offered = dir.path().join("fw");
    std::fs::create_dir(&offered).unwrap();
    std::fs::write(offered.join("T48-35.rom"), b"image").unwrap();
    std::fs::write(dir.path().join("secret"), b"not for phones").unwrap();
    let mut state = account(AccountState::Active, "pw", "http://x/");
    state.firmware = Some(FirmwareOffer {
        file_name: "T48-35.rom".into(),
        path: offered.join("T48-35.rom"),
    });
    rig.endpoints.accounts.set("t46g", state);
    let mut events = rig.endpoints.bus.subscribe();

    let server = rig.endpoints.addrs.provisioning;
    let attempts = [
        "/firmware/../secret",
        "/firmware/..%2Fsecret",
        "/firmware/%2e%2e%2fsecret",
        "/firmware/..%5Csecret",
        "/firmware/fw%2FT48-35.rom",
        "/firmware/",
        "/firmware/%zz",
    ];
    for target in attempts {
        let answer = raw_get(rig.t46g, server, target).await;
        assert!(answer.starts_with("HTTP/1.1 404"), "{target}: {answer}");
        assert!(!answer.contains("not for phones"));
    }
    let notes: Vec<_> = published(&mut events)
        .iter()
        .map(|e| http(e).5.unwrap().to_owned())
        .collect();
    assert_eq!(notes.len(), attempts.len());
    assert!(
        notes.iter().all(|note| note == "firmware name refused"),
        "{notes:?}"
    );
    // The offered image itself still downloads after the attempts.
    assert!(
        raw_get(rig.t46g, server, "/firmware/T48-35.rom")
            .await
            .ends_with("\r\n\r\nimage")
    );
}

#[tokio::test]
async fn other_paths_and_methods_are_refused_and_serving_goes_on() {
    let rig = rig().await;
    let mut events = rig.endpoints.bus.subscribe();
    let client = http_client(rig.t46g, UA_T46G);
    let response = client
        .post(rig.url("/y000000000028.cfg"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(response.headers()["allow"], "GET");
    assert_eq!(rig.get(rig.t46g, "/config/deep/file.cfg").await.0, 404);
    assert_eq!(rig.get(rig.t46g, "/index.html").await.0, 404);
    assert_eq!(rig.get(rig.t46g, "/y000000000028.cfg").await.0, 200);

    let seen = published(&mut events);
    let EndpointEvent::Http {
        method,
        note,
        status,
        ..
    } = &seen[0].event
    else {
        unreachable!()
    };
    assert_eq!(
        (method.as_str(), *status, note.as_deref()),
        ("POST", 405, Some("method not allowed"))
    );
    assert_eq!(http(&seen[1]).5, Some("unknown path"));
    assert_eq!(http(&seen[2]).5, Some("unknown path"));
    assert_eq!(http(&seen[3]).3, 200);
}

#[tokio::test]
async fn foreign_server_refuses_everything_and_records_it() {
    let rig = rig().await;
    let mut events = rig.endpoints.bus.subscribe();
    let client = http_client(rig.t48s, "Yealink SIP-T48S 66.86.0.15 00:15:65:00:01:48");
    let base = rig.endpoints.foreign_provisioning_url();
    for path in [
        format!("{MAC_T48S}.cfg"),
        format!("autop/{MAC_T48S}.cfg?x=1"),
        "y000000000065.cfg".into(),
    ] {
        let response = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 404);
    }
    assert_eq!(
        client.put(&base).send().await.unwrap().status().as_u16(),
        404
    );

    let seen = published(&mut events);
    assert_eq!(seen.len(), 4);
    assert_eq!(
        http(&seen[1]),
        (
            Some("t48s"),
            HttpServer::Foreign,
            "/autop/001565000148.cfg",
            404,
            0,
            Some("foreign server")
        )
    );
    let EndpointEvent::Http {
        method, user_agent, ..
    } = &seen[3].event
    else {
        unreachable!()
    };
    assert_eq!(method, "PUT");
    assert_eq!(
        user_agent.as_deref(),
        Some("Yealink SIP-T48S 66.86.0.15 00:15:65:00:01:48")
    );
}

#[tokio::test]
async fn a_taken_address_is_a_bind_error_naming_the_endpoint() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let taken_addr = taken.local_addr().unwrap();
    let mut lab = lab(Vec::new());
    lab.endpoints.syslog = taken_addr;
    let Err(error) = Endpoints::start(&lab).await else {
        panic!("bound a taken address")
    };
    assert!(
        matches!(error, EndpointError::Bind { endpoint: "syslog", addr, .. } if addr == taken_addr)
    );
    let message = error.to_string();
    assert!(
        message.contains("syslog") && message.contains(&taken_addr.to_string()),
        "{message}"
    );
}

#[tokio::test]
async fn shutdown_closes_the_http_endpoints() {
    let rig = rig().await;
    let addrs = rig.endpoints.addrs;
    assert_eq!(rig.get(rig.t46g, "/y000000000028.cfg").await.0, 200);
    rig.endpoints.shutdown().await;
    for addr in [addrs.provisioning, addrs.foreign_provisioning] {
        let refused = tokio::net::TcpStream::connect(addr).await;
        assert!(refused.is_err(), "{addr} still accepts connections");
    }
}

#[tokio::test]
async fn an_unreachable_bench_is_shut_out_unread_and_the_others_are_served() {
    let rig = rig().await;
    let accounts = &rig.endpoints.accounts;
    accounts.set(
        "t46g",
        account(
            AccountState::Cancelled,
            "pw",
            &rig.endpoints.provisioning_url(),
        ),
    );
    let mut events = rig.endpoints.bus.subscribe();
    accounts.set_reachable("t46g", false);

    // The shut-out phone gets no HTTP answer at all: its request fails below HTTP.
    let refused = http_client(rig.t46g, UA_T46G)
        .get(rig.url(&format!("/autop/{MAC_T46G}.cfg")))
        .send()
        .await;
    assert!(refused.is_err(), "{refused:?}");
    // Another bench, and an address that is no bench, are served as before.
    assert_eq!(rig.get(rig.t48s, "/y000000000065.cfg").await.0, 200);
    assert_eq!(rig.get(rig.stranger, "/y000000000065.cfg").await.0, 200);

    let seen = published(&mut events);
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(seen[0].bench.as_deref(), Some("t46g"));
    assert!(
        matches!(
            seen[0].event,
            EndpointEvent::ShutOut {
                server: HttpServer::Provisioning,
                ..
            }
        ),
        "{:?}",
        seen[0].event
    );
    assert_eq!(http(&seen[1]).0, Some("t48s"));

    // Reachable again: the same phone is served.
    accounts.set_reachable("t46g", true);
    let (status, _) = rig.get(rig.t46g, &format!("/autop/{MAC_T46G}.cfg")).await;
    assert_eq!(status, 200);
}
