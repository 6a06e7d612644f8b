//! `harness dashboard`: serves the dashboard over the run history until Ctrl-C.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::commands::Paths;
use crate::outcome::exit_code;

/// Where the dashboard listens unless `--bind` says otherwise: loopback only, since the
/// pages have no login and show transcripts.
pub const DEFAULT_BIND: &str = "127.0.0.1:8470";

/// Serves the dashboard until stopped; returns the exit code (2 for an unusable
/// database or lab file, 3 when the address cannot be bound). With `lab`, the Benches page
/// also shows who holds, waits for or took out each of its benches now.
pub async fn execute(
    paths: &Paths,
    db: Option<PathBuf>,
    bind: SocketAddr,
    lab: Option<&Path>,
    lock_dir: Option<&Path>,
) -> i32 {
    let db = db.unwrap_or_else(|| paths.root.join(crate::history::DEFAULT_PATH));
    let live = match lab.map(crate::lab::load).transpose() {
        Ok(lab) => lab.map(|lab| crate::dashboard::benches::LiveLab {
            lock_dir: crate::safety::resolve_lock_dir(lock_dir, lab.lock_dir.as_deref()),
            lab: Arc::new(lab),
        }),
        Err(e) => {
            eprintln!("harness dashboard: {e}");
            return exit_code::CONFIG_ERROR;
        }
    };
    // Opened before binding, so a wrong --db is reported without a port being taken.
    if let Err(e) = crate::dashboard::Db::open(&db) {
        eprintln!("harness dashboard: {e}");
        return exit_code::CONFIG_ERROR;
    }
    let listener = match tokio::net::TcpListener::bind(bind).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "harness dashboard: cannot listen on {bind}: {e} (is another dashboard running? pick another --bind)"
            );
            return exit_code::LAB_FAULT;
        }
    };
    let local = listener.local_addr().unwrap_or(bind);
    if !local.ip().is_loopback() {
        eprintln!(
            "harness dashboard: listening on {local}, reachable from other hosts: the pages have no login"
        );
    }
    println!(
        "dashboard on http://{local}/ (history {}); Ctrl-C stops",
        db.display()
    );
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let limits = crate::endpoints::HttpLimits::default();
    match crate::dashboard::serve_with_live_status(listener, &db, limits, live, shutdown).await {
        Ok(()) => exit_code::PASS,
        Err(e) => {
            eprintln!("harness dashboard: {e}");
            exit_code::LAB_FAULT
        }
    }
}
