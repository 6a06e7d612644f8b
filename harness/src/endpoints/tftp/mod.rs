//! The recovery TFTP server: read-only, one folder per bench, each read resolved inside the
//! folder of the bench the client is, so two benches of one model can recover different
//! generations at once. Publishes one `EndpointEvent::Tftp` per transfer or refusal.
//!
//! Written for this lab rather than taken from a crate, because an outsider reaches it:
//! the `timeout` option is bounded (`options`), transfers at once are limited in total and
//! per client (`limits`), a client's ERROR ends its transfer at once and an abandoned one
//! ends after `MAX_SEND_RETRIES` (`transfer`), and running out of file descriptors is
//! published as a lab fault of the bench (`handler`).

pub mod handler;
pub mod jail;
pub mod limits;
pub mod options;
pub mod packet;
pub mod refusal;
pub mod stage;
pub mod transfer;

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;

use super::directory::BenchDirectory;
use super::events::EventBus;
use handler::{Answer, RecoveryHandler};
pub use limits::{MAX_TRANSFERS, MAX_TRANSFERS_PER_CLIENT, TransferLimits};
pub use options::{
    BLOCK_SIZE_LIMIT, MAX_CLIENT_TIMEOUT_S, RETRANSMIT_TIMEOUT_S, WINDOW_SIZE_LIMIT,
};
pub use transfer::MAX_SEND_RETRIES;

/// How long the server waits after its socket failed (out of files, say) before reading
/// it again, so a persistent failure does not spin.
const SOCKET_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Why the TFTP server did not start.
#[derive(Debug, thiserror::Error)]
pub enum TftpError {
    /// The UDP address is taken or not of this host.
    #[error(
        "cannot bind the TFTP recovery server on {addr}: {source}; check that no other TFTP \
         server (tftpd-hpa, dnsmasq, another harness) listens there and that the address \
         belongs to this host (`[endpoints] tftp` of the lab file)"
    )]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// The folder the benches' packages are staged in could not be made.
    #[error(
        "cannot create the TFTP staging folder under {}: {source}; check that TMPDIR exists \
         and is writable",
        std::env::temp_dir().display()
    )]
    Root {
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// The serving thread could not be started.
    #[error("cannot start the TFTP server thread: {source}; the host is out of threads")]
    Thread {
        /// What the OS said.
        #[source]
        source: io::Error,
    },
}

/// The running TFTP server and the folder it serves from. Dropping it stops the server;
/// transfers in flight end (their events say `transfer aborted`) and the folder is removed.
pub struct TftpRecovery {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    // Declared last: removed after the server no longer reads from it.
    root: tempfile::TempDir,
}

impl TftpRecovery {
    /// Binds `bind` (port 0 = a free port) and serves `<temp root>/<bench>/` to each bench
    /// of `directory`, publishing on `bus`, within the default `TransferLimits`.
    pub fn start(
        bind: SocketAddr,
        directory: Arc<BenchDirectory>,
        bus: EventBus,
    ) -> Result<TftpRecovery, TftpError> {
        TftpRecovery::start_with_limits(bind, directory, bus, TransferLimits::default())
    }

    /// `start`, running at most what `limits` allow at once.
    ///
    /// The server runs on a thread of its own with a single-threaded runtime: transfers
    /// are I/O on local sockets and page-cache reads, and a thread of its own keeps them
    /// apart from the scenario engine's work and lets `stop` join it from any context.
    pub fn start_with_limits(
        bind: SocketAddr,
        directory: Arc<BenchDirectory>,
        bus: EventBus,
        limits: TransferLimits,
    ) -> Result<TftpRecovery, TftpError> {
        let root = tempfile::Builder::new()
            .prefix("harness-tftp-")
            .tempdir()
            .map_err(|source| TftpError::Root { source })?;
        let socket =
            UdpSocket::bind(bind).map_err(|source| TftpError::Bind { addr: bind, source })?;
        let addr = socket
            .local_addr()
            .map_err(|source| TftpError::Bind { addr: bind, source })?;
        socket
            .set_nonblocking(true)
            .map_err(|source| TftpError::Bind { addr: bind, source })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| TftpError::Thread { source })?;
        let handler = RecoveryHandler::new(root.path().to_path_buf(), directory, bus, limits);

        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("tftp-recovery".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let socket = match tokio::net::UdpSocket::from_std(socket) {
                        Ok(socket) => socket,
                        Err(error) => {
                            tracing::error!(%addr, %error, "TFTP recovery server cannot start");
                            return;
                        }
                    };
                    tokio::select! {
                        () = serve(socket, handler) => {}
                        // The stop signal, or its sender dropped.
                        _ = stopped => {}
                    }
                });
                // Dropping the runtime drops every transfer still running: each releases
                // its file, socket and slot, and its event says `transfer aborted`.
                drop(runtime);
            })
            .map_err(|source| TftpError::Thread { source })?;
        tracing::info!(%addr, root = %root.path().display(), ?limits, "TFTP recovery server listening");
        Ok(TftpRecovery {
            addr,
            stop: Some(stop),
            thread: Some(thread),
            root,
        })
    }

    /// Where the server listens: what a phone is told as its TFTP server.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The folder holding one folder per bench.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// (Re)creates the bench's folder holding exactly `files` (name served, source). A
    /// name or bench that is not a plain file name is `InvalidInput`.
    pub fn stage(&self, bench: &str, files: &[(String, PathBuf)]) -> io::Result<()> {
        stage::stage(self.root.path(), bench, files)
    }

    /// Stops the server and waits until its socket is closed. Transfers in flight end.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!(addr = %self.addr, "the TFTP recovery server thread panicked");
        }
    }
}

impl Drop for TftpRecovery {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Answers every datagram on the server's port; each accepted read runs as a task of its
/// own. Never returns: a socket error is logged and the server reads on.
async fn serve(socket: tokio::net::UdpSocket, mut handler: RecoveryHandler) {
    let local_ip = socket
        .local_addr()
        .map(|addr| addr.ip())
        .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into());
    let mut buffer = [0u8; packet::MAX_DATAGRAM_BYTES];
    loop {
        let (len, peer) = match socket.recv_from(&mut buffer).await {
            Ok(received) => received,
            Err(error) => {
                tracing::warn!(%error, "TFTP recovery server cannot read its socket");
                tokio::time::sleep(SOCKET_ERROR_PAUSE).await;
                continue;
            }
        };
        match handler.answer(peer, local_ip, &buffer[..len]) {
            Answer::Serve(transfer) => {
                tokio::spawn(transfer.run());
            }
            Answer::Refuse(error) => {
                // Best effort: a refused client that cannot be told times out instead.
                if let Err(send_error) = socket.send_to(&error, peer).await {
                    tracing::debug!(%peer, %send_error, "TFTP error packet not sent");
                }
            }
            Answer::Ignore => {}
        }
    }
}
