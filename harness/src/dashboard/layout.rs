//! The dashboard's frame: navigation, and the pages for unknown ids and unreadable data.

use axum::http::{StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};

use crate::report::html::parts::{escape, page};

/// The bar on top of every dashboard page.
pub fn nav() -> &'static str {
    r#"<header class="top"><strong>Yealink lab</strong><nav><a href="/">Runs</a> · <a href="/benches">Benches</a></nav></header>"#
}

/// A dashboard page, 200.
pub fn ok(title: &str, body: &str) -> Response {
    Html(page(title, nav(), body)).into_response()
}

/// A 404 naming what was not found, with a way back.
pub fn not_found(what: &str) -> Response {
    let body = format!(
        r#"<h1>Not found</h1><p class="not-found">{}</p><p><a href="/">Back to the runs</a></p>"#,
        escape(what)
    );
    (StatusCode::NOT_FOUND, Html(page("Not found", nav(), &body))).into_response()
}

/// A 500 for a history that could not be read, with the reason.
pub fn server_error(reason: &str) -> Response {
    let body = format!(
        r#"<h1>The history could not be read</h1><p>{}</p><p><a href="/">Back to the runs</a></p>"#,
        escape(reason)
    );
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Html(page("History unreadable", nav(), &body)),
    )
        .into_response()
}

/// Any path the dashboard does not serve.
pub async fn unknown_path(uri: Uri) -> Response {
    not_found(&format!("There is no page at {}.", uri.path()))
}

/// A numeric id from a path segment; anything else is a 404, not a 400, since to the
/// reader it is simply a page that does not exist.
pub fn parse_id(text: &str) -> Option<i64> {
    text.parse().ok()
}

/// The link to a run's page.
pub fn run_href(run: i64) -> String {
    format!("/runs/{run}")
}

/// The link to a case's page.
pub fn case_href(run: i64, case_id: i64) -> String {
    format!("/runs/{run}/cases/{case_id}")
}

/// The link to a scenario's trend on a model.
pub fn trend_href(scenario: &str, model: &str) -> String {
    use crate::report::html::parts::url_segment;
    format!("/history/{}/{}", url_segment(scenario), url_segment(model))
}
