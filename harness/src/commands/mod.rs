//! The subcommands of the `harness` binary, one file each. They return the process exit
//! code; the binary only parses arguments.

pub mod bench;
pub mod dashboard;
pub mod drop;
pub mod fixtures;
pub mod hand;
pub mod lab;
pub mod list;
pub mod repro;
pub mod run;
pub mod serve;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// Where the project's folders are: the current directory when it holds `lab/virtual.toml`
/// (a checkout), else the checkout the binary was built from.
#[derive(Debug, Clone)]
pub struct Paths {
    pub root: PathBuf,
}

impl Paths {
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

    pub fn default_lab(&self) -> PathBuf {
        self.root.join("lab/virtual.toml")
    }

    pub fn scenarios(&self) -> PathBuf {
        self.root.join("scenarios")
    }

    pub fn snapshots(&self) -> PathBuf {
        self.root.join("scenarios/snapshots")
    }

    pub fn fixtures(&self) -> PathBuf {
        self.root.join("firmware-fixtures")
    }

    pub fn runs(&self) -> PathBuf {
        self.root.join("target/harness-runs")
    }
}

/// Logs go to stderr, warnings and errors only unless `RUST_LOG` says otherwise, so the
/// live progress stays readable.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never into a log file.
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
