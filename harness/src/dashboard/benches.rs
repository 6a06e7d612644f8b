//! `/benches`: who may use each bench right now (free, leased and by whom, bad, disabled: the
//! rows of `harness lab status`, when the dashboard was given the lab file), then every
//! bench's latest health, its lab faults over its recent runs and when it last ran: which
//! phones (or relays) are sick.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use crate::dashboard::data::{self, BenchOverview};
use crate::dashboard::{Db, layout};
use crate::lab::Lab;
use crate::lab_status::{BenchStatus, StatusKind, detail, statuses};
use crate::report::html::parts::{escape, health_badge};

/// The lab whose benches' live status the page shows, and its lock folder.
#[derive(Clone)]
pub struct LiveLab {
    /// The lab file, as loaded at start.
    pub lab: Arc<Lab>,
    /// Where its leases, waiters and service marks are.
    pub lock_dir: PathBuf,
}

/// How many of a bench's runs its lab-fault count covers unless `?last=N` says otherwise.
const DEFAULT_LAST_RUNS: usize = 10;

/// The page's query string.
#[derive(Debug, Deserialize)]
pub struct BenchesQuery {
    /// Count lab faults over the bench's last N runs.
    last: Option<usize>,
}

/// Serves the page; a database error becomes an error page, never a crash.
pub async fn page(
    State(db): State<Db>,
    live: Option<Extension<LiveLab>>,
    Query(query): Query<BenchesQuery>,
) -> Response {
    let last = query.last.unwrap_or(DEFAULT_LAST_RUNS).max(1);
    // Read at every request, from the lock folder: the page is as current as `lab status`.
    let now = match live {
        Some(Extension(live)) => {
            tokio::task::spawn_blocking(move || Some(statuses(&live.lab, &live.lock_dir)))
                .await
                .unwrap_or(None)
        }
        None => None,
    };
    match db.read(move |conn| data::benches(conn, last)).await {
        Ok(benches) => {
            let mut body = String::from("<h1>Benches</h1>");
            if let Some(now) = &now {
                body.push_str(&render_live(now));
            }
            body.push_str(&render(&benches, last));
            layout::ok("Benches", &body)
        }
        Err(reason) => layout::server_error(&reason),
    }
}

/// The live table: one row per bench of the lab, as `harness lab status` prints it.
fn render_live(now: &[BenchStatus]) -> String {
    let mut body = String::from(
        r#"<h2>Now</h2><table class="live"><thead><tr><th>bench</th><th>model</th><th>state</th><th>detail</th></tr></thead><tbody>"#,
    );
    for status in now {
        let state = match status.state {
            StatusKind::Free => "free",
            StatusKind::Leased => "leased",
            StatusKind::Bad => "bad",
            StatusKind::Disabled => "disabled",
            StatusKind::Unknown => "unknown",
        };
        let _ = write!(
            body,
            r#"<tr class="live-bench" data-bench="{name}" data-state="{state}"><td>{name}</td><td>{}</td><td class="state-{state}">{state}</td><td>{}</td></tr>"#,
            escape(&status.model),
            escape(&detail(status)),
            name = escape(&status.bench),
        );
    }
    body.push_str("</tbody></table><h2>Health over recent runs</h2>");
    body
}

fn render(benches: &[BenchOverview], last: usize) -> String {
    let mut body = String::new();
    if benches.is_empty() {
        body.push_str(r#"<p class="muted">No bench health has been recorded yet.</p>"#);
        return body;
    }
    let _ = write!(
        body,
        r#"<table class="benches"><thead><tr><th>bench</th><th>model</th><th>latest state</th><th>lab faults (last {last} runs)</th><th>ended bad (last {last} runs)</th><th>last seen</th><th>detail</th></tr></thead><tbody>"#
    );
    for bench in benches {
        let _ = write!(
            body,
            r#"<tr class="bench" data-bench="{name}"><td>{name}</td><td>{}</td><td>{}</td><td class="lab-faults">{}</td><td>{} of {}</td><td><a href="{}">{}</a></td><td>{}</td></tr>"#,
            escape(&bench.model),
            health_badge(&bench.state),
            bench.lab_faults_recent,
            bench.bad_recent,
            bench.runs_counted,
            layout::run_href(bench.last_run),
            escape(&bench.last_seen),
            escape(&bench.detail),
            name = escape(&bench.bench),
        );
    }
    body.push_str("</tbody></table>");
    body
}
