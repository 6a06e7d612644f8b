//! The requests to stop a run: Ctrl-C at a terminal (SIGINT), and SIGTERM, which is what
//! systemd, a GitLab runner or a Jenkins agent sends when a job is stopped or cancelled.
//! Both mean the same: release every key, leave every bench safe, then exit.

use tokio::signal::unix::{SignalKind, signal};

/// Which request arrived, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    /// Ctrl-C at a terminal.
    Interrupt,
    /// A service manager or CI runner stopping the job.
    Terminate,
}

impl StopSignal {
    /// The signal's usual name, so the log says what stopped the run.
    pub fn name(self) -> &'static str {
        match self {
            StopSignal::Interrupt => "SIGINT",
            StopSignal::Terminate => "SIGTERM",
        }
    }
}

/// Resolves at the first SIGINT or SIGTERM. When a handler cannot be installed (never
/// seen on Linux), that signal keeps its default action and only the other is awaited.
pub async fn stop_requested() -> StopSignal {
    let mut interrupt = signal(SignalKind::interrupt()).ok();
    let mut terminate = signal(SignalKind::terminate()).ok();
    tokio::select! {
        Some(()) = async { interrupt.as_mut()?.recv().await } => StopSignal::Interrupt,
        Some(()) = async { terminate.as_mut()?.recv().await } => StopSignal::Terminate,
    }
}
