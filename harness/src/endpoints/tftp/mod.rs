//! The recovery TFTP server (async-tftp): read-only, one folder per bench, each read
//! resolved inside the folder of the bench the client is, so two benches of one model can
//! recover different generations at once. Publishes one `EndpointEvent::Tftp` per transfer.

pub mod handler;
pub mod jail;
pub mod stage;

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use async_tftp::server::TftpServerBuilder;
use futures::channel::oneshot;
use futures::future::{self, Either};

use super::directory::BenchDirectory;
use super::events::EventBus;
use handler::RecoveryHandler;

/// Retransmission timeout for clients that send no `timeout` option (RFC 1350 lock-step
/// bootloaders). A LAN answers in well under a millisecond; a duplicate block after a slow
/// ACK is harmless (the client acknowledges it again).
pub const RETRANSMIT_TIMEOUT_S: u64 = 1;

/// Retransmissions of one window before a transfer is dropped. async-tftp ignores a
/// client's ERROR packet (upstream issue 18), so an aborted transfer ends only when these
/// run out: with the 1 s timeout it ends about 9 s after the client gave up.
pub const MAX_SEND_RETRIES: u32 = 8;

/// Largest block granted: U-Boot's 1468 fills a 1500-byte Ethernet frame, and a bootloader
/// without IP reassembly never receives a larger one.
pub const BLOCK_SIZE_LIMIT: u16 = 1468;

/// Largest window granted (RFC 7440): bounds the blocks held in memory per transfer.
pub const WINDOW_SIZE_LIMIT: u16 = 64;

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
    /// of `directory`, publishing on `bus`.
    ///
    /// The server runs on a thread of its own under `async_io::block_on`: async-tftp
    /// brings its own reactor and executor, and driving them there measured faster than
    /// polling its future from tokio (which adds a hop to async-io's reactor thread per
    /// packet).
    pub fn start(
        bind: SocketAddr,
        directory: Arc<BenchDirectory>,
        bus: EventBus,
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
        let builder = TftpServerBuilder::with_handler(RecoveryHandler::new(
            root.path().to_path_buf(),
            directory,
            bus,
        ))
        .std_socket(socket)
        .map_err(|error| TftpError::Bind {
            addr: bind,
            source: io::Error::other(error),
        })?
        .timeout(Duration::from_secs(RETRANSMIT_TIMEOUT_S))
        .max_send_retries(MAX_SEND_RETRIES)
        .block_size_limit(BLOCK_SIZE_LIMIT)
        .window_size_limit(WINDOW_SIZE_LIMIT);

        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("tftp-recovery".into())
            .spawn(move || {
                async_io::block_on(async move {
                    let server = match builder.build().await {
                        Ok(server) => server,
                        Err(error) => {
                            tracing::error!(%addr, %error, "TFTP recovery server cannot start");
                            return;
                        }
                    };
                    // Whichever ends first: the stop signal (or its sender dropped), or
                    // the server failing on its socket.
                    match future::select(Box::pin(server.serve()), stopped).await {
                        Either::Left((Err(error), _)) => {
                            tracing::error!(%addr, %error, "TFTP recovery server stopped on an error")
                        }
                        Either::Left((Ok(()), _)) | Either::Right(_) => {}
                    }
                });
            })
            .map_err(|source| TftpError::Thread { source })?;
        tracing::info!(%addr, root = %root.path().display(), "TFTP recovery server listening");
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
