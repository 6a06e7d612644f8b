//! `/`: the runs, newest first, each with what changed since the previous complete run of
//! its lab: the morning view.

use std::fmt::Write as _;

use axum::extract::State;
use axum::response::Response;

use crate::dashboard::data::{self, Change, ChangeKind, RunSummary};
use crate::dashboard::{Db, layout};
use crate::report::html::parts::{counts_line, escape, human_duration, outcome_words};

/// How many runs the front page lists.
const RUNS_SHOWN: usize = 100;

/// A run and its changes against its baseline (`None`: no earlier complete run).
struct RunWithChanges {
    run: RunSummary,
    baseline: Option<(RunSummary, Vec<Change>)>,
}

/// Serves the page; a database error becomes an error page, never a crash.
pub async fn page(State(db): State<Db>) -> Response {
    let rows = db
        .read(|conn| {
            data::runs(conn, RUNS_SHOWN)?
                .into_iter()
                .map(|run| {
                    let baseline = match data::previous_complete_run(conn, &run)? {
                        Some(previous) => {
                            let changes = data::changes(conn, run.id, previous.id)?;
                            Some((previous, changes))
                        }
                        None => None,
                    };
                    Ok(RunWithChanges { run, baseline })
                })
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .await;
    match rows {
        Ok(rows) => layout::ok("Runs", &render(&rows)),
        Err(reason) => layout::server_error(&reason),
    }
}

fn render(rows: &[RunWithChanges]) -> String {
    let mut body = String::from("<h1>Runs</h1>");
    if rows.is_empty() {
        body.push_str(r#"<p class="muted">The history has no run yet.</p>"#);
        return body;
    }
    body.push_str(
        r#"<table class="runs"><thead><tr><th>run</th><th>started</th><th>host</th><th>lab</th><th>status</th><th>cases</th><th>duration</th><th>exit</th><th>changed since the previous complete run</th></tr></thead><tbody>"#,
    );
    for row in rows {
        let run = &row.run;
        let status = if run.is_partial() {
            r#"<strong class="partial-mark" title="the run did not finish: its matrix is incomplete">PARTIAL</strong>"#.to_string()
        } else {
            escape(&run.status)
        };
        let _ = write!(
            body,
            r#"<tr class="run" data-run="{id}"><td><a href="{href}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{status}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            escape(&run.run_id),
            escape(&run.started_at),
            escape(&run.host),
            escape(&run.lab_name),
            counts_line(outcome_words().iter().map(|&w| (w, run.count(w)))),
            human_duration(run.duration_s),
            run.exit_code,
            changes_cell(run, row.baseline.as_ref()),
            id = run.id,
            href = layout::run_href(run.id),
        );
    }
    body.push_str("</tbody></table>");
    body
}

fn changes_cell(run: &RunSummary, baseline: Option<&(RunSummary, Vec<Change>)>) -> String {
    let Some((previous, changes)) = baseline else {
        return r#"<span class="muted">no earlier complete run of this lab</span>"#.into();
    };
    let since = format!(
        r#"<span class="muted">since <a href="{}">{}</a></span>"#,
        layout::run_href(previous.id),
        escape(&previous.run_id)
    );
    if changes.is_empty() {
        return format!(r#"<span class="no-change">no change</span> {since}"#);
    }
    let mut html = format!(r#"{since}<ul class="changes">"#);
    for change in changes {
        let (class, label) = match change.kind() {
            ChangeKind::NewlyFailing => ("newly-failing", "newly failing"),
            ChangeKind::NewlyPassing => ("newly-passing", "newly passing"),
            ChangeKind::Other => ("changed", "changed"),
        };
        let _ = write!(
            html,
            r#"<li class="{class}">{label}: <a href="{}">{}@{}</a> <span class="muted">({} → {}, bench {})</span></li>"#,
            layout::case_href(run.id, change.case_id),
            escape(&change.scenario),
            escape(&change.model),
            escape(&change.before),
            escape(&change.after),
            escape(&change.bench),
        );
    }
    html.push_str("</ul>");
    html
}
