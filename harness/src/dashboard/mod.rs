//! The dashboard: server-rendered pages over the run history (no script), for the morning
//! look at what changed since yesterday, which phones are sick, and which failures are the
//! firmware's and which the lab's. Binds loopback unless told otherwise: it has no login.

pub mod benches;
pub mod case;
pub mod data;
pub mod layout;
pub mod run;
pub mod runs;
pub mod trend;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::endpoints::HttpLimits;
use axum::Router;
use axum::routing::get;
use rusqlite::Connection;

use crate::history::HistoryError;

/// Why the dashboard could not start.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // Each variant's `#[error]` text says what it means, fields included.
pub enum DashboardError {
    #[error(
        "no run history at {0}: record a run into it first, or point --db at an existing history database"
    )]
    NoHistory(PathBuf),
    #[error(
        "cannot open the run history {path}: {source} (is it a harness history database, and readable?)"
    )]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// A database of another schema version or layout: refused at start, rather than
    /// serving pages that each fail. The message says what to do.
    #[error("cannot show the run history: {0}")]
    History(#[source] HistoryError),
    #[error("the dashboard stopped serving: {0}")]
    Serve(#[source] std::io::Error),
}

/// The history connection shared by the handlers. SQLite connections are not shareable
/// across threads, so one request reads at a time, on a blocking thread.
#[derive(Clone)]
pub struct Db(Arc<Mutex<Connection>>);

impl Db {
    /// Opens an existing history database, checking its schema version and layout, and
    /// writing nothing. A missing file is an error rather than a new empty database: an
    /// empty dashboard would hide a wrong `--db`.
    pub fn open(path: &Path) -> Result<Db, DashboardError> {
        if !path.is_file() {
            return Err(DashboardError::NoHistory(path.to_path_buf()));
        }
        let conn = crate::history::open_for_reading(path).map_err(|e| match e {
            HistoryError::Open { path, source } => DashboardError::Open { path, source },
            other => DashboardError::History(other),
        })?;
        Ok(Db(Arc::new(Mutex::new(conn))))
    }

    /// Runs one read on a blocking thread. The error is worded for the page that shows it.
    pub async fn read<T, F>(&self, query: F) -> Result<T, String>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let db = self.0.clone();
        tokio::task::spawn_blocking(move || {
            // A panic in an earlier read leaves the connection itself intact.
            let conn = db.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            query(&conn).map_err(|e| format!("the run history could not be read: {e}"))
        })
        .await
        .unwrap_or_else(|e| Err(format!("the history read stopped: {e}")))
    }
}

/// Every page of the dashboard over one history database.
pub fn router(db: Db) -> Router {
    Router::new()
        .route("/", get(runs::page))
        .route("/runs/{id}", get(run::page))
        .route("/runs/{id}/cases/{case_id}", get(case::page))
        .route("/benches", get(benches::page))
        .route("/history/{scenario}/{model}", get(trend::page))
        .fallback(layout::unknown_path)
        .with_state(db)
}

/// Serves the dashboard on `listener` until `shutdown` completes. The caller binds, so a
/// test can bind port 0 and the command can report the address it got.
pub async fn serve(
    listener: tokio::net::TcpListener,
    db_path: &Path,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), DashboardError> {
    serve_with_limits(listener, db_path, HttpLimits::default(), shutdown).await
}

/// `serve` within `limits`: idle and half-sent connections are closed, and connections
/// beyond the caps are turned away, like every HTTP server of the harness.
pub async fn serve_with_limits(
    listener: tokio::net::TcpListener,
    db_path: &Path,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), DashboardError> {
    serve_with_live_status(listener, db_path, limits, None, shutdown).await
}

/// `serve_with_limits`, with the live status of `live`'s benches on the Benches page (who
/// holds, waits for or took out each bench now), read from its lock folder at each request.
pub async fn serve_with_live_status(
    listener: tokio::net::TcpListener,
    db_path: &Path,
    limits: HttpLimits,
    live: Option<benches::LiveLab>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), DashboardError> {
    let db = Db::open(db_path)?;
    let app = match live {
        Some(live) => router(db).layer(axum::Extension(live)),
        None => router(db),
    };
    crate::endpoints::http_limits::serve("dashboard", listener, app, limits, shutdown)
        .await
        .map_err(DashboardError::Serve)
}
