//! The one-file HTML report of a run (`report.html` in the run folder): everything inline,
//! no script, no external fetch, so it opens offline when attached to a CI job or mailed.
//! The dashboard draws its pages from the same parts.

pub mod parts;
pub mod style;

use std::fmt::Write as _;

use crate::outcome::exit_code;
use crate::report::{HealthState, RunReport, RunStatus};

use parts::{
    MatrixCell, counts_line, diff_block, escape, health_badge, human_duration, matrix_table, page,
    text_block,
};

/// What an exit code means, in the README's words.
pub fn exit_code_meaning(code: i32) -> &'static str {
    match code {
        exit_code::PASS => "every case passed or was skipped",
        exit_code::FAIL => "at least one case failed: a finding about the firmware or the phone",
        exit_code::CONFIG_ERROR => "a lab, scenario or fixture file is unusable",
        exit_code::LAB_FAULT => "no failure, but the lab broke on at least one case",
        exit_code::INTERRUPTED => "interrupted; every bench was made safe",
        _ => "not an exit code the harness documents",
    }
}

/// The word of a bench health state, as the history stores it.
pub fn health_word(state: HealthState) -> &'static str {
    match state {
        HealthState::Healthy => "healthy",
        HealthState::Recovered => "recovered",
        HealthState::Bad => "bad",
    }
}

/// The anchor of a case's section, which its matrix cell links to.
fn case_anchor(index: usize) -> String {
    format!("case-{index}")
}

/// Renders the whole run as one self-contained HTML page.
pub fn render(report: &RunReport) -> String {
    let title = format!("Run {} on {}", report.run_id, report.lab_name);
    let mut body = String::new();
    let _ = write!(body, "<h1>{}</h1>", escape(&title));
    if report.status == RunStatus::Partial {
        body.push_str(
            r#"<div class="banner partial" role="alert">PARTIAL RUN: this run did not finish (killed, crashed or still running). Only the cases below finished; the matrix is incomplete.</div>"#,
        );
    }
    if let Some(error) = &report.config_error {
        let _ = write!(
            body,
            r#"<div class="banner config-error" role="alert">Nothing ran: {}</div>"#,
            escape(error)
        );
    }
    let status = match report.status {
        RunStatus::Partial => "partial",
        RunStatus::Complete => "complete",
    };
    let _ = write!(
        body,
        r#"<dl class="facts"><dt>lab</dt><dd>{} <span class="muted">({})</span></dd><dt>host</dt><dd>{}</dd><dt>started</dt><dd>{}</dd><dt>duration</dt><dd>{}</dd><dt>status</dt><dd class="status-{status}">{status}</dd><dt>exit code</dt><dd>{} — {}</dd>"#,
        escape(&report.lab_name),
        escape(&report.lab.display().to_string()),
        escape(&report.host),
        escape(&report.started_at),
        human_duration(report.duration.as_secs_f64()),
        report.exit_code,
        exit_code_meaning(report.exit_code),
    );
    if let Some(approval) = &report.approval {
        let _ = write!(body, "<dt>approval</dt><dd>{}</dd>", escape(approval));
    }
    body.push_str("</dl>");
    let _ = write!(
        body,
        "<p>{} cases: {}</p>",
        report.cases.len(),
        counts_line(parts::outcome_words().iter().map(|&w| {
            (
                w,
                report
                    .cases
                    .iter()
                    .filter(|c| c.outcome.word() == w)
                    .count(),
            )
        }))
    );
    if !report.recoveries.is_empty() {
        body.push_str("<h2>Benches made safe after a crashed run</h2><ul>");
        for recovery in &report.recoveries {
            let _ = write!(body, "<li>{}</li>", escape(recovery));
        }
        body.push_str("</ul>");
    }

    body.push_str("<h2>Matrix</h2>");
    let cells: Vec<MatrixCell> = report
        .cases
        .iter()
        .enumerate()
        .map(|(i, case)| MatrixCell {
            scenario: case.scenario.clone(),
            model: case.model.clone(),
            bench: case.bench.clone(),
            outcome: case.outcome.word().into(),
            href: Some(format!("#{}", case_anchor(i))),
        })
        .collect();
    if cells.is_empty() {
        body.push_str(r#"<p class="muted">No case ran.</p>"#);
    } else {
        body.push_str(&matrix_table(&cells));
    }

    body.push_str("<h2>Bench health</h2>");
    if report.bench_health.is_empty() {
        body.push_str(r#"<p class="muted">No bench ran.</p>"#);
    } else {
        body.push_str(
            r#"<table class="bench-health"><thead><tr><th>bench</th><th>model</th><th>state</th><th>lab faults</th><th>retries</th><th>detail</th></tr></thead><tbody>"#,
        );
        for bench in &report.bench_health {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&bench.bench),
                escape(&bench.model),
                health_badge(health_word(bench.state)),
                bench.lab_faults,
                bench.retries,
                escape(&bench.detail)
            );
        }
        body.push_str("</tbody></table>");
    }

    body.push_str("<h2>Cases</h2>");
    for (i, case) in report.cases.iter().enumerate() {
        let word = case.outcome.word();
        let _ = write!(
            body,
            r#"<details id="{}" class="case"><summary><span class="{}">{word}</span> {} <span class="muted">on {} · {} · {} attempt(s)</span></summary>"#,
            case_anchor(i),
            parts::outcome_class(word),
            escape(&case.case_name()),
            escape(if case.bench.is_empty() {
                "no bench"
            } else {
                &case.bench
            }),
            human_duration(case.duration.as_secs_f64()),
            case.attempts,
        );
        if !case.firmware_seen.is_empty() {
            let _ = write!(
                body,
                "<p>Firmware seen: {}</p>",
                escape(&case.firmware_seen.join(", "))
            );
        }
        if !case.detail.is_empty() {
            body.push_str("<h3>Detail</h3>");
            body.push_str(&diff_block(&case.detail));
        }
        if !case.transcript.is_empty() {
            body.push_str("<h3>Transcript (redacted)</h3>");
            body.push_str(&text_block(&case.transcript));
        }
        body.push_str("</details>");
    }
    page(&title, "", &body)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;
    use crate::outcome::Outcome;
    use crate::report::{BenchHealth, CaseReport};

    fn case(scenario: &str, model: &str, outcome: Outcome) -> CaseReport {
        CaseReport {
            scenario: scenario.into(),
            model: model.into(),
            bench: format!("bench-{model}"),
            outcome,
            detail: String::new(),
            duration: Duration::from_millis(1500),
            transcript: String::new(),
            raw_transcript: String::new(),
            approval: None,
            firmware_seen: Vec::new(),
            attempts: 1,
            transcript_file: None,
            diff_file: None,
        }
    }

    fn report(status: RunStatus, cases: Vec<CaseReport>) -> RunReport {
        let mut report =
            RunReport::new(PathBuf::from("runs/r1"), PathBuf::from("lab/virtual.toml"));
        report.lab_name = "virtual".into();
        report.status = status;
        report.cases = cases;
        report
    }

    #[test]
    fn transcripts_and_diffs_are_escaped() {
        let mut failing = case("autop<script>", "T46U", Outcome::Fail);
        failing.transcript = "GET /cfg?a=1&b=<2>".into();
        failing.detail = "-<old>\n+<new & improved>".into();
        let html = render(&report(RunStatus::Complete, vec![failing]));
        assert!(html.contains("GET /cfg?a=1&amp;b=&lt;2&gt;"));
        assert!(html.contains(r#"<span class="add">+&lt;new &amp; improved&gt;</span>"#));
        assert!(html.contains("autop&lt;script&gt;"));
        assert!(!html.contains("<script"));
        assert!(!html.contains("<new"));
    }

    #[test]
    fn matrix_cells_carry_the_outcome_class_word_and_link() {
        let html = render(&report(
            RunStatus::Complete,
            vec![
                case("upgrade", "T46U", Outcome::Pass),
                case("upgrade", "T48S", Outcome::LabFault),
                case("reset", "T46U", Outcome::Fail),
            ],
        ));
        assert!(html.contains(
            r##"<a class="outcome outcome-pass" href="#case-0" title="upgrade on T46U (bench bench-T46U): pass">pass</a>"##
        ));
        assert!(html.contains(r##"<a class="outcome outcome-lab-fault" href="#case-1""##));
        assert!(html.contains(r##"<a class="outcome outcome-fail" href="#case-2""##));
        // reset never ran on the T48S: the square says so instead of being blank.
        assert!(html.contains(r#"title="not in this run""#));
        assert!(html.contains(r#"<details id="case-2" class="case">"#));
    }

    #[test]
    fn a_partial_run_says_so_loudly_and_a_complete_one_does_not() {
        let partial = render(&report(
            RunStatus::Partial,
            vec![case("a", "T46U", Outcome::Pass)],
        ));
        assert!(partial.contains(r#"class="banner partial""#));
        assert!(partial.contains("PARTIAL RUN"));
        let complete = render(&report(
            RunStatus::Complete,
            vec![case("a", "T46U", Outcome::Pass)],
        ));
        assert!(!complete.contains("PARTIAL RUN"));
    }

    #[test]
    fn bench_health_and_exit_code_meaning_are_shown() {
        let mut r = report(
            RunStatus::Complete,
            vec![case("a", "T46U", Outcome::LabFault)],
        );
        r.exit_code = exit_code::LAB_FAULT;
        r.bench_health.push(BenchHealth {
            bench: "bench-T46U".into(),
            model: "T46U".into(),
            state: HealthState::Bad,
            lab_faults: 2,
            retries: 1,
            detail: "relay board <lcus-1> did not answer".into(),
        });
        let html = render(&r);
        assert!(html.contains(r#"<span class="health health-bad">bad</span>"#));
        assert!(html.contains("relay board &lt;lcus-1&gt; did not answer"));
        assert!(html.contains("3 — no failure, but the lab broke"));
    }
}
