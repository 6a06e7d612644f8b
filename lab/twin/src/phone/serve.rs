//! The phone's web listener. A phone that loses power or its cable stops answering at once,
//! keep-alive connections included; axum's own server would keep serving accepted
//! connections after its listener is dropped, so every connection here is tied to the
//! listener's life.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::serve::Listener;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Serves `router` on `listener` until this future is dropped; dropping it aborts every
/// connection it accepted (each read or write then fails and the socket closes).
pub async fn serve(listener: TcpListener, router: Router) -> io::Result<()> {
    let (alive, alive_rx) = watch::channel(());
    let listener = LinkedListener {
        inner: listener,
        alive: alive_rx,
    };
    let result = axum::serve(listener, router).await;
    drop(alive);
    result
}

struct LinkedListener {
    inner: TcpListener,
    alive: watch::Receiver<()>,
}

impl Listener for LinkedListener {
    type Io = LinkedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (LinkedStream, SocketAddr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let mut alive = self.alive.clone();
                    let dead = Box::pin(async move { while alive.changed().await.is_ok() {} });
                    return (
                        LinkedStream {
                            inner: stream,
                            dead,
                            is_dead: false,
                        },
                        addr,
                    );
                }
                // Out of file descriptors and the like: wait a little, as axum does.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// An accepted connection that fails every operation once its listener is gone.
struct LinkedStream {
    inner: TcpStream,
    dead: Pin<Box<dyn Future<Output = ()> + Send>>,
    is_dead: bool,
}

impl LinkedStream {
    fn check_dead(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if !self.is_dead && self.dead.as_mut().poll(cx).is_ready() {
            self.is_dead = true;
        }
        if self.is_dead {
            Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the phone lost power or its network",
            ))
        } else {
            Ok(())
        }
    }
}

impl AsyncRead for LinkedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check_dead(cx)?;
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for LinkedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check_dead(cx)?;
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check_dead(cx)?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn dropping_the_server_closes_open_keep_alive_connections() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new().route("/", axum::routing::get(|| async { "up" }));
        let server = tokio::spawn(serve(listener, router));

        let mut conn = TcpStream::connect(addr).await.unwrap();
        conn.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = vec![0u8; 1024];
        let n = conn.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));

        server.abort();
        let _ = server.await;
        // The kept-alive connection is closed (EOF or reset), not answered.
        let _ = conn.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
        let n = conn.read(&mut buf).await.unwrap_or(0);
        assert_eq!(n, 0);
        assert!(TcpStream::connect(addr).await.is_err());
    }
}
