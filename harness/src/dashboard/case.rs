//! `/runs/{id}/cases/{case_id}`: one case: outcome, attempts, firmware seen, the detail or
//! diff (coloured) and the redacted transcript.

use std::fmt::Write as _;

use axum::extract::{Path, State};
use axum::response::Response;

use crate::dashboard::data::{self, CaseRow, RunSummary};
use crate::dashboard::{Db, layout};
use crate::report::html::parts::{diff_block, escape, human_duration, outcome_badge, text_block};

/// Serves the page; a database error becomes an error page, never a crash.
pub async fn page(State(db): State<Db>, Path((run, case_id)): Path<(String, String)>) -> Response {
    let (Some(run_id), Some(case_id)) = (layout::parse_id(&run), layout::parse_id(&case_id)) else {
        return layout::not_found(&format!("There is no case {case_id} in run {run}."));
    };
    let found = db
        .read(move |conn| {
            let Some(run) = data::run(conn, run_id)? else {
                return Ok(None);
            };
            Ok(data::case(conn, run_id, case_id)?.map(|case| (run, case)))
        })
        .await;
    match found {
        Ok(Some((run, case))) => layout::ok(
            &format!("{}@{} in {}", case.scenario, case.model, run.run_id),
            &render(&run, &case),
        ),
        Ok(None) => layout::not_found(&format!(
            "There is no case {case_id} in run {run_id} in the history."
        )),
        Err(reason) => layout::server_error(&reason),
    }
}

fn render(run: &RunSummary, case: &CaseRow) -> String {
    let mut body = format!(
        r#"<h1>{}@{} <span class="case-outcome">{}</span></h1>"#,
        escape(&case.scenario),
        escape(&case.model),
        outcome_badge(&case.outcome, None, &format!("outcome: {}", case.outcome)),
    );
    if run.is_partial() {
        body.push_str(
            r#"<div class="banner partial" role="alert">This case belongs to a PARTIAL run.</div>"#,
        );
    }
    let firmware = if case.firmware_seen.is_empty() {
        "none announced".to_string()
    } else {
        escape(&case.firmware_seen.join(", "))
    };
    let _ = write!(
        body,
        r#"<dl class="facts"><dt>run</dt><dd><a href="{}">{}</a> ({})</dd><dt>bench</dt><dd>{}</dd><dt>duration</dt><dd>{}</dd><dt>attempts</dt><dd class="attempts">{}</dd><dt>firmware seen</dt><dd class="firmware">{firmware}</dd><dt>trend</dt><dd><a href="{}">this scenario on the {} across runs</a></dd></dl>"#,
        layout::run_href(run.id),
        escape(&run.run_id),
        escape(&run.started_at),
        escape(if case.bench.is_empty() {
            "no bench"
        } else {
            &case.bench
        }),
        human_duration(case.duration_s),
        case.attempts,
        layout::trend_href(&case.scenario, &case.model),
        escape(&case.model),
    );
    body.push_str("<h2>Detail</h2>");
    if case.detail.is_empty() {
        body.push_str(r#"<p class="muted">No detail: the transcript matched its snapshot.</p>"#);
    } else {
        body.push_str(&diff_block(&case.detail));
    }
    body.push_str("<h2>Transcript (redacted)</h2>");
    match case.transcript.as_deref().filter(|t| !t.is_empty()) {
        Some(transcript) => body.push_str(&text_block(transcript)),
        None => body.push_str(r#"<p class="muted">No transcript was recorded.</p>"#),
    }
    body
}
