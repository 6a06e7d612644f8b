//! `/history/{scenario}/{model}`: one case across runs: a row of outcome cells, newest on
//! the right, each linking to that run's case, and a sparkline of durations (inline SVG,
//! no script).

use std::fmt::Write as _;

use axum::extract::{Path, State};
use axum::response::Response;

use crate::dashboard::data::{self, TrendPoint};
use crate::dashboard::{Db, layout};
use crate::report::html::parts::{escape, human_duration, outcome_class};

/// How many runs back the trend reaches.
const TREND_RUNS: usize = 60;

/// Serves the page; a database error becomes an error page, never a crash.
pub async fn page(
    State(db): State<Db>,
    Path((scenario, model)): Path<(String, String)>,
) -> Response {
    let (s, m) = (scenario.clone(), model.clone());
    match db
        .read(move |conn| data::trend(conn, &s, &m, TREND_RUNS))
        .await
    {
        Ok(points) if points.is_empty() => layout::not_found(&format!(
            "The history has no case of scenario {scenario} on the {model}."
        )),
        Ok(points) => layout::ok(
            &format!("{scenario}@{model} across runs"),
            &render(&scenario, &model, &points),
        ),
        Err(reason) => layout::server_error(&reason),
    }
}

fn render(scenario: &str, model: &str, points: &[TrendPoint]) -> String {
    let mut body = format!(
        r#"<h1>{}@{} across runs</h1><p class="muted">Oldest on the left, newest on the right; each cell opens that run's case.</p><div class="trend">"#,
        escape(scenario),
        escape(model)
    );
    for point in points {
        let _ = write!(
            body,
            r#"<a class="{}" href="{}" title="{} ({}, bench {}): {}">{}<small>{}</small></a>"#,
            outcome_class(&point.outcome),
            layout::case_href(point.run, point.case_id),
            escape(&point.run_id),
            escape(&point.started_at),
            escape(&point.bench),
            escape(&point.outcome),
            escape(&point.outcome),
            human_duration(point.duration_s),
        );
    }
    body.push_str("</div><h2>Duration</h2>");
    body.push_str(&sparkline(points));
    body
}

/// Durations as a polyline, one step per run, scaled to the slowest.
fn sparkline(points: &[TrendPoint]) -> String {
    const STEP_PX: f64 = 16.0;
    const HEIGHT_PX: f64 = 40.0;
    let slowest = points
        .iter()
        .map(|p| p.duration_s)
        .fold(0.0_f64, f64::max)
        .max(f64::EPSILON);
    let width = STEP_PX * (points.len().max(2) - 1) as f64 + 8.0;
    let coords: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let x = 4.0 + STEP_PX * i as f64;
            let y = 4.0 + (HEIGHT_PX - 8.0) * (1.0 - p.duration_s.max(0.0) / slowest);
            format!("{x:.1},{y:.1}")
        })
        .collect();
    format!(
        r##"<svg class="sparkline" role="img" aria-label="durations, slowest {}" width="{width:.0}" height="{HEIGHT_PX:.0}" viewBox="0 0 {width:.0} {HEIGHT_PX:.0}"><polyline fill="none" stroke="#2b6cb0" stroke-width="1.5" points="{}"/></svg>"##,
        human_duration(slowest),
        coords.join(" ")
    )
}
