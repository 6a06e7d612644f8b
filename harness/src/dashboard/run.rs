//! `/runs/{id}`: one run's facts, its scenario × model matrix (each cell links to its
//! case) and its benches' health.

use std::fmt::Write as _;

use axum::extract::{Path, State};
use axum::response::Response;

use crate::dashboard::data::{self, BenchHealthRow, CaseRow, RunSummary};
use crate::dashboard::{Db, layout};
use crate::report::html::exit_code_meaning;
use crate::report::html::parts::{
    MatrixCell, counts_line, escape, health_badge, human_duration, matrix_table, outcome_words,
};

/// Serves the page; a database error becomes an error page, never a crash.
pub async fn page(State(db): State<Db>, Path(id): Path<String>) -> Response {
    let Some(id) = layout::parse_id(&id) else {
        return layout::not_found(&format!("There is no run {id}."));
    };
    let found = db
        .read(move |conn| {
            let Some(run) = data::run(conn, id)? else {
                return Ok(None);
            };
            let cases = data::cases_of_run(conn, id)?;
            let health = data::bench_health_of_run(conn, id)?;
            Ok(Some((run, cases, health)))
        })
        .await;
    match found {
        Ok(Some((run, cases, health))) => layout::ok(
            &format!("Run {}", run.run_id),
            &render(&run, &cases, &health),
        ),
        Ok(None) => layout::not_found(&format!("There is no run {id} in the history.")),
        Err(reason) => layout::server_error(&reason),
    }
}

/// The facts of a run, shared with the case page's header.
pub fn facts(run: &RunSummary) -> String {
    let mut html = String::new();
    if run.is_partial() {
        html.push_str(
            r#"<div class="banner partial" role="alert">PARTIAL RUN: it did not finish; only the cases it finished are shown.</div>"#,
        );
    }
    let _ = write!(
        html,
        r#"<dl class="facts"><dt>lab</dt><dd>{}</dd><dt>host</dt><dd>{}</dd><dt>started</dt><dd>{}</dd><dt>duration</dt><dd>{}</dd><dt>status</dt><dd>{}</dd><dt>exit code</dt><dd>{} — {}</dd><dt>run folder</dt><dd>{}</dd>"#,
        escape(&run.lab_name),
        escape(&run.host),
        escape(&run.started_at),
        human_duration(run.duration_s),
        escape(&run.status),
        run.exit_code,
        i32::try_from(run.exit_code)
            .map_or("not an exit code the harness documents", exit_code_meaning),
        escape(&run.run_dir),
    );
    if let Some(approval) = &run.approval {
        let _ = write!(html, "<dt>approval</dt><dd>{}</dd>", escape(approval));
    }
    html.push_str("</dl>");
    html
}

fn render(run: &RunSummary, cases: &[CaseRow], health: &[BenchHealthRow]) -> String {
    let mut body = format!("<h1>Run {}</h1>", escape(&run.run_id));
    body.push_str(&facts(run));
    let _ = write!(
        body,
        "<p>{} cases: {}</p>",
        cases.len(),
        counts_line(outcome_words().iter().map(|&w| (w, run.count(w))))
    );
    body.push_str("<h2>Matrix</h2>");
    if cases.is_empty() {
        body.push_str(r#"<p class="muted">No case was recorded for this run.</p>"#);
    } else {
        let cells: Vec<MatrixCell> = cases
            .iter()
            .map(|c| MatrixCell {
                scenario: c.scenario.clone(),
                model: c.model.clone(),
                bench: c.bench.clone(),
                outcome: c.outcome.clone(),
                href: Some(layout::case_href(run.id, c.id)),
            })
            .collect();
        body.push_str(&matrix_table(&cells));
    }
    body.push_str("<h2>Bench health</h2>");
    if health.is_empty() {
        body.push_str(r#"<p class="muted">No bench health was recorded for this run.</p>"#);
    } else {
        body.push_str(
            r#"<table class="bench-health"><thead><tr><th>bench</th><th>model</th><th>state</th><th>lab faults</th><th>retries</th><th>detail</th></tr></thead><tbody>"#,
        );
        for bench in health {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&bench.bench),
                escape(&bench.model),
                health_badge(&bench.state),
                bench.lab_faults,
                bench.retries,
                escape(&bench.detail)
            );
        }
        body.push_str("</tbody></table>");
    }
    body
}
