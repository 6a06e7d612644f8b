//! The subcommands of the `harness` binary, one file each. They return the process exit
//! code; the binary only parses arguments.

pub mod bench;
pub mod bench_relay;
pub mod dashboard;
pub mod drop;
pub mod fixtures;
pub mod hand;
pub mod history;
pub mod lab;
pub mod list;
pub mod logging;
pub mod repro;
pub mod review;
pub mod run;
pub mod serve;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// Where the project's folders are: the current directory when it holds `lab/virtual.toml`
/// (a checkout), else the checkout the binary was built from.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The checkout's root, which every default folder is relative to.
    pub root: PathBuf,
}

impl Paths {
    /// Finds the checkout, so `harness` works from the checkout and from anywhere else on a
    /// lab host where it was built.
    pub fn detect() -> Paths {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        if cwd.join("lab/virtual.toml").is_file() {
            return Paths { root: cwd };
        }
        let built_from = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map(Path::to_path_buf);
        Paths {
            root: built_from
                .filter(|p| p.join("lab/virtual.toml").is_file())
                .unwrap_or(cwd),
        }
    }

    /// The virtual lab, run when no `--lab` is given so a fresh checkout runs as it is.
    pub fn default_lab(&self) -> PathBuf {
        self.root.join("lab/virtual.toml")
    }

    /// The committed scenarios.
    pub fn scenarios(&self) -> PathBuf {
        self.root.join("scenarios")
    }

    /// The committed snapshots, which every transcript is compared with.
    pub fn snapshots(&self) -> PathBuf {
        self.root.join("scenarios/snapshots")
    }

    /// The committed synthetic firmware, used when no drop is given.
    pub fn fixtures(&self) -> PathBuf {
        self.root.join("firmware-fixtures")
    }

    /// Where run folders go: under `target/`, so git never sees them.
    pub fn runs(&self) -> PathBuf {
        self.root.join("target/harness-runs")
    }

    /// The history database runs are recorded into unless told otherwise.
    pub fn history(&self) -> PathBuf {
        self.root.join(crate::history::DEFAULT_PATH)
    }
}

/// Logs go to stderr, warnings and errors only unless `RUST_LOG` says otherwise, so the
/// live progress stays readable; the virtual bench's own lines never go there.
/// Every event at INFO and above (or as `HARNESS_LOG` says,
/// in `RUST_LOG` syntax) also goes to the run's `harness.log`, with timestamps, once
/// `harness run` points [`logging::run_log`] at its folder: the morning after a nightly
/// run, the log says what happened even when the console was not kept.
pub fn init_logging() {
    use tracing_subscriber::{
        EnvFilter, Layer, fmt, layer::SubscriberExt, util::SubscriberInitExt,
    };
    // The in-process virtual bench's phones log what they do (a recovery aborted, a login
    // refused): the phones' story, for harness.log, not the person watching the progress.
    let console_filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!("warn,{}=off", crate::virtual_bench::LOG_TARGET))
    });
    let file_filter =
        EnvFilter::try_from_env("HARNESS_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let console = fmt::layer()
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never into a log file.
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(console_filter);
    let file = fmt::layer()
        .with_writer(logging::run_log().clone())
        .with_ansi(false)
        .with_filter(file_filter);
    let _ = tracing_subscriber::registry()
        .with(console)
        .with(file)
        .try_init();
}
