//! A provisioning server that is not Intermedia's: a phone re-provisioned to a customer's or
//! reseller's own server. It provisions nothing (404 to every request) but records every
//! request, so a scenario can show where a phone went for its config or its call-home.
//!
//! One exception, because the lab runs this server too: a bench marked for hand-back gets
//! a MAC config that points its phone back at the lab's provisioning server. Scenarios use
//! it only while restoring a bench's baseline, never while recording.

use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::accounts::Accounts;
use super::directory::BenchDirectory;
use super::events::{EventBus, HttpServer};
use super::http_conn::{Connection, RequestSeen};
use crate::lab::Mac;

/// The transcript's note on every request this server sees.
pub const NOTE: &str = "foreign server";
/// The note on a MAC config that hands a phone back to the lab.
pub const HANDBACK_NOTE: &str = "foreign server: hands the phone back to the lab";

/// What the foreign server's handler reads.
#[derive(Clone)]
pub struct ForeignServer {
    /// Tags each request with its bench.
    pub directory: Arc<BenchDirectory>,
    /// Where each request is published.
    pub bus: EventBus,
    /// Which benches are handed back to the lab.
    pub accounts: Accounts,
}

/// The foreign server's routes: every method and path ends in the one handler.
pub fn router(server: ForeignServer) -> Router {
    Router::new().fallback(handle).with_state(server)
}

async fn handle(
    State(server): State<ForeignServer>,
    ConnectInfo(connection): ConnectInfo<Connection>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let seen = RequestSeen::new(HttpServer::Foreign, &connection, &method, &uri, &headers);
    tracing::info!(client = %seen.client, method = %seen.method, path = %seen.path,
        user_agent = ?seen.user_agent, "foreign provisioning request: 404");
    if let Some(url) = handback(&server, &method, &seen.path) {
        let body = format!(
            "{}\nstatic.auto_provision.server.url = {url}\n",
            super::provisioning::CFG_HEADER
        );
        server.directory.publish(
            &server.bus,
            seen.answered(
                StatusCode::OK.as_u16(),
                body.len() as u64,
                Some(HANDBACK_NOTE.into()),
            ),
        );
        return (StatusCode::OK, body).into_response();
    }
    let status = StatusCode::NOT_FOUND;
    server.directory.publish(
        &server.bus,
        seen.answered(status.as_u16(), 0, Some(NOTE.into())),
    );
    status.into_response()
}

/// The lab's provisioning URL, when `path` is the MAC config of a bench marked for hand-back.
fn handback(server: &ForeignServer, method: &Method, path: &str) -> Option<String> {
    if method != Method::GET {
        return None;
    }
    let stem = path.strip_prefix('/')?.strip_suffix(".cfg")?;
    if stem.len() != 12 {
        return None;
    }
    let bench = server.directory.bench_with_mac(Mac::parse(stem)?)?;
    server.accounts.handback(&bench.name)
}
