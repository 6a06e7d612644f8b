//! Evidence, on the wire, that a phone has run past a point in time: it answers requests to
//! its web UI that were sent after that point.
//!
//! A wait that proves something does NOT happen (no call-home after `**7283`) used to end
//! no sooner than 3 s of wall time, whatever the time scale, so that a loaded machine could
//! not turn a slow phone into a finding. The phone's own answers are the better witness:
//! once the scaled timeout has passed, the harness asks the phone's web UI twice in a row;
//! the event waited for, had it been due within the timeout, was due before the first
//! request was even sent, so a phone that has answered both has had the time the event
//! needed. A phone that does not answer (cable pulled, recovery menu, rebooting) gives no
//! such evidence and the wait keeps its wall-clock floor. docs/DECISIONS.md has the
//! reasoning.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How many answered requests, one after the other, count as evidence.
pub const ROUND_TRIPS: usize = 2;

/// The most of an answer read: its status line is all that matters.
const ANSWER_BYTES: usize = 512;

/// Asks the web UI at `addr` [`ROUND_TRIPS`] times in a row; `true` once every request got
/// an HTTP answer (any status: the page does not matter, the answer does), `false` as soon
/// as one cannot be sent or answered within `each`.
pub async fn answers_in_turn(addr: SocketAddr, each: Duration) -> bool {
    for _ in 0..ROUND_TRIPS {
        match tokio::time::timeout(each, one_request(addr)).await {
            Ok(Ok(true)) => {}
            _ => return false,
        }
    }
    true
}

/// One `GET /` (a page no phone keeps state for), `true` when an HTTP status line came back.
async fn one_request(addr: SocketAddr) -> std::io::Result<bool> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!("GET / HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::with_capacity(64);
    let mut buf = [0u8; 128];
    while answer.len() < ANSWER_BYTES && !answer.windows(2).any(|w| w == b"\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
    }
    Ok(answer.starts_with(b"HTTP/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[tokio::test]
    async fn a_web_server_that_answers_is_evidence_and_a_closed_port_is_not() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            for _ in 0..ROUND_TRIPS {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 256];
                let _ = s.read(&mut buf).await.unwrap();
                s.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                    .await
                    .unwrap();
            }
        });
        assert!(answers_in_turn(addr, Duration::from_secs(30)).await);
        server.await.unwrap();
        // Nobody listens there any more: no evidence.
        assert!(!answers_in_turn(addr, Duration::from_secs(30)).await);
    }

    #[tokio::test]
    async fn a_server_that_never_answers_is_no_evidence() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Accepts (the kernel does) but never writes a byte.
        let _keep = listener;
        assert!(!answers_in_turn(addr, Duration::from_millis(50)).await);
    }

    #[tokio::test]
    async fn something_that_is_not_http_is_no_evidence() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            s.write_all(b"SSH-2.0-OpenSSH\r\n").await.unwrap();
        });
        assert!(!answers_in_turn(addr, Duration::from_secs(30)).await);
    }
}
