//! Serving an axum router so that idle, half-sent or piled-up connections cannot take the
//! server down: every HTTP server of the harness (provisioning, foreign provisioning, the
//! dashboard) runs through `serve` here.
//!
//! `axum::serve` keeps a connection as long as the client keeps it open, so a thousand
//! idle TCP connections hold a thousand file descriptors and the next `accept` fails.
//! Here each accepted connection runs hyper's HTTP/1 connection with a header-read
//! timeout, a watchdog closes it after `idle_timeout` without a byte either way, and
//! connections beyond the caps are answered 503 and closed at once.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use super::directory::canonical_client;
use super::http_conn::Connection;

/// Time a client has to send a request's head, counted from when the server waits for
/// it: on a new connection, and between requests on a kept-alive one.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Time a connection may go without a byte in either direction (a half-sent body, a
/// client that stopped reading its answer) before it is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Connections served at once by one server: far above what a lab's phones and a browser
/// use, far below the 1024 descriptors of a default process limit.
pub const MAX_CONNECTIONS: usize = 256;

/// Connections served at once for one client address: a phone uses one or two, a browser
/// six; more is a broken or hostile client, which must not starve the others.
pub const MAX_CONNECTIONS_PER_CLIENT: usize = 32;

/// How often at most a server logs the connections it turned away or could not accept.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(1);

/// How long the accept loop waits after `accept` failed for want of descriptors.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// What an HTTP server of the harness tolerates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// See `HEADER_READ_TIMEOUT`.
    pub header_read_timeout: Duration,
    /// See `IDLE_TIMEOUT`.
    pub idle_timeout: Duration,
    /// See `MAX_CONNECTIONS`.
    pub max_connections: usize,
    /// See `MAX_CONNECTIONS_PER_CLIENT`.
    pub max_connections_per_client: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_read_timeout: HEADER_READ_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
            max_connections_per_client: MAX_CONNECTIONS_PER_CLIENT,
        }
    }
}

/// What a connection over a cap gets before it is closed.
const BUSY_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\
Retry-After: 1\r\nContent-Type: text/plain\r\nContent-Length: 42\r\n\r\n\
too many connections: try again in a while";

/// Decides, per accepted connection's client address, whether the server closes it before
/// reading a byte (`true`): how the lab makes itself unreachable for one phone.
pub type ClientGate = Arc<dyn Fn(SocketAddr) -> bool + Send + Sync>;

/// Serves `router` on `listener` within `limits` until `shutdown` completes, then lets
/// the connections finish their current request and returns once every one is closed.
/// Handlers see `ConnectInfo<Connection>` as with axum's own `serve`.
pub async fn serve(
    server: &'static str,
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_gated(server, listener, router, limits, None, shutdown).await
}

/// `serve`, closing at once every connection whose client `gate` shuts out: no status line
/// and no byte, as a client finds a server it cannot reach.
pub async fn serve_gated(
    server: &'static str,
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    gate: Option<ClientGate>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let capacity = limits.max_connections.max(1);
    let slots = Arc::new(Semaphore::new(capacity));
    let per_client = Arc::new(Mutex::new(HashMap::<IpAddr, usize>::new()));
    let (stopping, stop_watch) = watch::channel(false);
    let mut turned_away = Tally::default();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors (or a connection reset before it was accepted): the
                // pending connections wait in the backlog until descriptors are free.
                turned_away.count(server, &format!("accept failed: {error}"));
                if matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                }
                continue;
            }
        };
        let remote = canonical_client(remote);
        if gate.as_ref().is_some_and(|shut_out| shut_out(remote)) {
            tracing::debug!(server, client = %remote, "client shut out: connection closed unread");
            drop(stream);
            continue;
        }
        let Some(slot) = ClientSlot::take(&slots, &per_client, remote.ip(), &limits) else {
            turned_away.count(server, "over the connection limits: answered 503");
            // A fresh socket's send buffer is empty: the answer goes out without waiting,
            // and the socket is closed right after.
            let _ = stream.try_write(BUSY_RESPONSE);
            drop(stream);
            continue;
        };
        let local = stream
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)));
        let connection = Connection { remote, local };
        let service = router
            .clone()
            .layer(axum::Extension(ConnectInfo(connection)));
        tokio::spawn(serve_connection(
            server,
            stream,
            service,
            limits,
            stop_watch.clone(),
            slot,
        ));
    }
    drop(listener);
    let _ = stopping.send(true);
    // Every connection holds a permit until it is closed.
    let _ = slots.acquire_many(capacity as u32).await;
    Ok(())
}

/// One connection, from its first byte to its close; `slot` is freed when it ends.
async fn serve_connection(
    server: &'static str,
    stream: TcpStream,
    service: Router,
    limits: HttpLimits,
    mut stopping: watch::Receiver<bool>,
    slot: ClientSlot,
) {
    let activity = Activity::new();
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let connection = builder.serve_connection(io, TowerToHyperService::new(service));
    let mut connection = std::pin::pin!(connection);
    let mut graceful = false;
    loop {
        let deadline = activity.last() + limits.idle_timeout;
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(server, client = %slot.ip, %error, "HTTP connection ended");
                }
                break;
            }
            () = tokio::time::sleep_until(deadline.into()) => {
                if activity.last() + limits.idle_timeout <= Instant::now() {
                    tracing::debug!(server, client = %slot.ip, "HTTP connection idle: closed");
                    break;
                }
            }
            changed = stopping.changed(), if !graceful => {
                // Finish the request in flight (or close at once when idle).
                if changed.is_err() || *stopping.borrow() {
                    connection.as_mut().graceful_shutdown();
                    graceful = true;
                }
            }
        }
    }
    drop(slot);
}

/// A connection's place under both caps; freed on drop.
struct ClientSlot {
    ip: IpAddr,
    per_client: Arc<Mutex<HashMap<IpAddr, usize>>>,
    _permit: OwnedSemaphorePermit,
}

impl ClientSlot {
    fn take(
        slots: &Arc<Semaphore>,
        per_client: &Arc<Mutex<HashMap<IpAddr, usize>>>,
        ip: IpAddr,
        limits: &HttpLimits,
    ) -> Option<ClientSlot> {
        let permit = slots.clone().try_acquire_owned().ok()?;
        let mut counts = per_client.lock().unwrap_or_else(|p| p.into_inner());
        let count = counts.entry(ip).or_default();
        if *count >= limits.max_connections_per_client {
            return None;
        }
        *count += 1;
        Some(ClientSlot {
            ip,
            per_client: per_client.clone(),
            _permit: permit,
        })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut counts = self.per_client.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = counts.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// When a connection last moved a byte.
#[derive(Clone)]
struct Activity {
    start: Instant,
    last_ms: Arc<AtomicU64>,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            start: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// A stream that records each byte moved in `activity`.
struct Watched {
    inner: TcpStream,
    activity: Activity,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Connections turned away, logged at most once per `REFUSAL_LOG_INTERVAL` so a flood
/// cannot drown the log.
#[derive(Default)]
struct Tally {
    since_log: u64,
    logged_at: Option<Instant>,
}

impl Tally {
    fn count(&mut self, server: &'static str, why: &str) {
        self.since_log += 1;
        let due = self
            .logged_at
            .is_none_or(|at| at.elapsed() >= REFUSAL_LOG_INTERVAL);
        if due {
            tracing::warn!(
                server,
                connections = self.since_log,
                "HTTP connections turned away: {why}"
            );
            self.since_log = 0;
            self.logged_at = Some(Instant::now());
        }
    }
}
