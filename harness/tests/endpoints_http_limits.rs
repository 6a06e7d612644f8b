//! The harness's HTTP servers (provisioning and the dashboard) under 1,100 idle TCP
//! connections and half-sent requests, with short limits: a normal request still gets its
//! answer, the server holds no more connections than its caps, and it closes every idle
//! or half-sent connection itself.
//!
//! The tests count the descriptors of the whole test process, so they run one at a time.

mod endpoints_support;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use endpoints_support::*;
use harness::endpoints::{EndpointLimits, Endpoints, HttpLimits};
use harness::lab::Model;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Idle TCP connections opened against each server.
const IDLE_CONNECTIONS: usize = 1_100;

/// Limits short enough for a test; the caps well below `IDLE_CONNECTIONS`.
const LIMITS: HttpLimits = HttpLimits {
    header_read_timeout: Duration::from_secs(1),
    idle_timeout: Duration::from_secs(2),
    max_connections: 64,
    max_connections_per_client: 16,
};

/// Only bounds a wait for the server to close a connection; far above the timeouts.
const CLOSE_GIVE_UP: Duration = Duration::from_secs(30);

/// Descriptors the process may open besides the connections while a test runs.
const SLACK_FDS: usize = 16;

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Lets this process hold the idle connections and the server's side of them.
fn enough_descriptors() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
        0
    );
    let wanted = 3 * IDLE_CONNECTIONS as libc::rlim_t;
    assert!(
        limit.rlim_max >= wanted,
        "this test needs {wanted} file descriptors; the hard limit is {}",
        limit.rlim_max
    );
    if limit.rlim_cur < wanted {
        limit.rlim_cur = wanted;
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
    }
}

async fn connect_from(ip: Ipv4Addr, server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((ip, 0))).unwrap();
    socket.connect(server).await.unwrap()
}

/// What a client connection ended with once the server closed it: the answer's status
/// line (a connection over the caps gets 503) or nothing (closed after a timeout).
async fn closed_by_server(mut stream: TcpStream) -> Option<String> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(CLOSE_GIVE_UP, stream.read_to_end(&mut received)).await;
    assert!(read.is_ok(), "the server kept an idle connection open");
    let text = String::from_utf8_lossy(&received);
    text.lines().next().map(str::to_owned)
}

/// A plain GET over a fresh connection from `ip`; the status code.
async fn get_status(ip: Ipv4Addr, server: SocketAddr, path: &str) -> u16 {
    let mut stream = connect_from(ip, server).await;
    let request = format!("GET {path} HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    tokio::time::timeout(CLOSE_GIVE_UP, stream.read_to_end(&mut received))
        .await
        .expect("no answer")
        .unwrap();
    let text = String::from_utf8_lossy(&received);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"))
}

/// A connection from `ip` that is idle, has sent half a request head, or half a body.
async fn half_sent(ip: Ipv4Addr, server: SocketAddr, i: usize) -> TcpStream {
    let mut stream = connect_from(ip, server).await;
    let sent: &[u8] = match i % 3 {
        0 => b"",
        1 => b"GET / HTTP/1.1\r\nHost: lab\r\nX-Slow: ",
        _ => b"POST /upload HTTP/1.1\r\nHost: lab\r\nContent-Length: 100000\r\n\r\nabc",
    };
    stream.write_all(sent).await.unwrap();
    stream
}

/// Floods `server` with idle and half-sent connections and checks it against `LIMITS`;
/// `normal` makes a normal request from a bench's address and checks its answer.
async fn flood_and_check<F, Fut>(server: SocketAddr, subnet: &Subnet, normal: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let baseline = open_fds();

    // Three addresses open them: each fills its per-client cap, the rest are over it.
    let mut held = Vec::new();
    for i in 0..IDLE_CONNECTIONS {
        let ip = subnet.ip(200 + (i % 3) as u8);
        held.push(half_sent(ip, server, i).await);
    }

    // A normal request is still answered, from another address.
    normal().await;

    // Five more addresses fill the server's own cap: over it, 503 at once.
    for i in 0..5 * LIMITS.max_connections_per_client {
        let ip = subnet.ip(210 + (i % 5) as u8);
        held.push(half_sent(ip, server, i).await);
    }

    // The server holds at most its cap of connections (the client ends are this
    // process's too, and are counted out).
    let server_side = open_fds().saturating_sub(held.len());
    assert!(
        server_side <= baseline + LIMITS.max_connections + SLACK_FDS,
        "{server_side} descriptors besides the clients' ({baseline} before)"
    );

    // Every connection is closed by the server: over the caps with a 503 at once, the
    // others after a timeout, without an answer.
    let endings = futures::future::join_all(held.into_iter().map(closed_by_server)).await;
    let busy = endings
        .iter()
        .filter(|e| e.as_deref().is_some_and(|l| l.contains(" 503 ")))
        .count();
    let timed_out = endings.iter().filter(|e| e.is_none()).count();
    assert!(busy >= 1, "no connection over the caps was answered 503");
    assert!(timed_out >= 1, "no connection was held and timed out");
    for line in endings.iter().flatten() {
        // A half-sent body may be answered before the server gives up on it.
        assert!(
            line.contains(" 503 ") || line.starts_with("HTTP/1.1 4"),
            "{line}"
        );
    }

    // Served normally once the flood is gone.
    normal().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioning_survives_idle_and_half_sent_connections() {
    let _serial = ONE_AT_A_TIME.lock().await;
    enough_descriptors();
    let subnet = Subnet::random();
    let phone = subnet.ip(46);
    let lab = lab(vec![bench("t46g", Model::T46G, "00:15:65:00:00:46", phone)]);
    let endpoints = Endpoints::start_with_limits(
        &lab,
        EndpointLimits {
            http: LIMITS,
            ..EndpointLimits::default()
        },
    )
    .await
    .unwrap();
    let server = endpoints.addrs.provisioning;
    flood_and_check(server, &subnet, || async move {
        // The phone's config: the provisioning server answers it (404 without an account).
        let status = get_status(phone, server, "/001565000046.cfg").await;
        assert_ne!(status, 503, "the phone was turned away");
    })
    .await;
    endpoints.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_survives_idle_and_half_sent_connections() {
    let _serial = ONE_AT_A_TIME.lock().await;
    enough_descriptors();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.sqlite");
    drop(harness::history::open(&db).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(async move {
        harness::dashboard::serve_with_limits(listener, &db, LIMITS, async {
            let _ = stopped.await;
        })
        .await
    });
    let subnet = Subnet::random();
    let browser = subnet.ip(10);
    flood_and_check(server, &subnet, || async move {
        assert_eq!(get_status(browser, server, "/").await, 200);
    })
    .await;
    stop.send(()).unwrap();
    tokio::time::timeout(CLOSE_GIVE_UP, serving)
        .await
        .expect("the dashboard did not stop")
        .unwrap()
        .unwrap();
}
