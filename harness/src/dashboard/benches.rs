//! `/benches`: every bench's latest health, its lab faults over its recent runs and when it
//! last ran: which phones (or relays) are sick.

use std::fmt::Write as _;

use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use crate::dashboard::data::{self, BenchOverview};
use crate::dashboard::{Db, layout};
use crate::report::html::parts::{escape, health_badge};

/// How many of a bench's runs its lab-fault count covers unless `?last=N` says otherwise.
const DEFAULT_LAST_RUNS: usize = 10;

/// The page's query string.
#[derive(Debug, Deserialize)]
pub struct BenchesQuery {
    /// Count lab faults over the bench's last N runs.
    last: Option<usize>,
}

/// Serves the page; a database error becomes an error page, never a crash.
pub async fn page(State(db): State<Db>, Query(query): Query<BenchesQuery>) -> Response {
    let last = query.last.unwrap_or(DEFAULT_LAST_RUNS).max(1);
    match db.read(move |conn| data::benches(conn, last)).await {
        Ok(benches) => layout::ok("Benches", &render(&benches, last)),
        Err(reason) => layout::server_error(&reason),
    }
}

fn render(benches: &[BenchOverview], last: usize) -> String {
    let mut body = String::from("<h1>Benches</h1>");
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
