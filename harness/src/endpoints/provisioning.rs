//! The lab's stand-in for the Intermedia provisioning server: plain cfg files per model and
//! per MAC, the Auto-P call-home under `/autop/` that resets a cancelled phone's admin
//! password, and the firmware images a bench is offered. Every answer follows the bench's
//! `BenchAccount`, read at request time.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use tokio::io::AsyncReadExt;

use super::accounts::{Accounts, BenchAccount};
use super::directory::BenchDirectory;
use super::events::{EventBus, HttpServer};
use super::http_conn::{Connection, RequestSeen, reachable_addr};
use crate::lab::{Mac, Model};
use crate::scenario::AccountState;

/// First line of every Yealink config file; the phone ignores a file without it.
pub const CFG_HEADER: &str = "#!version:1.0.0.1";
/// Lifetime the MAC config asks the phone to register for.
pub const ACCOUNT_EXPIRES_S: u32 = 86_400;
/// Firmware is streamed in chunks of this size: images are up to 27 MB.
const CHUNK_BYTES: usize = 64 * 1024;

/// Notes the transcript shows for each kind of answer.
pub mod notes {
    #![allow(missing_docs)] // Each constant is its own documentation: the text a transcript shows.
    pub const BOOT_FILE: &str = "boot file not used";
    pub const COMMON_CONFIG: &str = "common config";
    pub const UNKNOWN_COMMON_CONFIG: &str = "unknown common config";
    pub const ACCOUNT_ACTIVE: &str = "account active";
    pub const ACCOUNT_CANCELLED: &str = "account cancelled";
    pub const ACCOUNT_V2: &str = "2.0 account";
    pub const UNKNOWN_MAC: &str = "unknown MAC";
    pub const CALL_HOME_RESET: &str = "call-home: admin password reset";
    pub const CALL_HOME_ACTIVE: &str = "call-home refused: account active";
    pub const CALL_HOME_V2: &str = "call-home refused: 2.0 account";
    pub const CALL_HOME_OTHER_FILE: &str = "call-home: file not served";
    pub const FIRMWARE: &str = "firmware";
    pub const FIRMWARE_NOT_OFFERED: &str = "firmware not offered";
    pub const FIRMWARE_BAD_NAME: &str = "firmware name refused";
    pub const FIRMWARE_UNREADABLE: &str = "offered firmware unreadable";
    pub const UNKNOWN_PATH: &str = "unknown path";
    pub const METHOD_NOT_ALLOWED: &str = "method not allowed";
}

/// What the provisioning handler reads: the lab's benches, their accounts and where the
/// other endpoints listen (written into MAC configs).
#[derive(Clone)]
pub struct ProvisioningServer {
    /// Finds the bench of a MAC and of a client address.
    pub directory: Arc<BenchDirectory>,
    /// Decides every config answer.
    pub accounts: Accounts,
    /// Where each request is published.
    pub bus: EventBus,
    /// Where this server listens (firmware URLs point back here).
    pub bound: SocketAddr,
    /// The registrar the MAC config points the phone at.
    pub sip: SocketAddr,
    /// The collector the MAC config points the phone at, when syslog is on.
    pub syslog: SocketAddr,
}

/// The provisioning server's routes: one handler sees every request, so an unknown path or
/// method is recorded like any other request.
pub fn router(server: ProvisioningServer) -> Router {
    Router::new().fallback(handle).with_state(server)
}

/// A decided answer, before it becomes an HTTP response.
#[derive(Debug)]
enum Answer {
    Text {
        status: StatusCode,
        body: String,
        note: &'static str,
    },
    Empty {
        status: StatusCode,
        note: &'static str,
    },
    File {
        file: tokio::fs::File,
        len_bytes: u64,
    },
    MethodNotAllowed,
}

async fn handle(
    State(server): State<ProvisioningServer>,
    ConnectInfo(connection): ConnectInfo<Connection>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let seen = RequestSeen::new(
        HttpServer::Provisioning,
        &connection,
        &method,
        &uri,
        &headers,
    );
    let answer = if method == Method::GET {
        server.answer(uri.path(), &connection).await
    } else {
        Answer::MethodNotAllowed
    };
    let (status, bytes, note) = match &answer {
        Answer::Text { status, body, note } => (*status, body.len() as u64, *note),
        Answer::Empty { status, note } => (*status, 0, *note),
        Answer::File { len_bytes, .. } => (StatusCode::OK, *len_bytes, notes::FIRMWARE),
        Answer::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, 0, notes::METHOD_NOT_ALLOWED),
    };
    tracing::info!(client = %seen.client, method = %seen.method, path = %seen.path,
        user_agent = ?seen.user_agent, status = status.as_u16(), bytes, note, "provisioning request");
    // Published before the answer leaves, so a phone's events keep its request order.
    server.directory.publish(
        &server.bus,
        seen.answered(status.as_u16(), bytes, Some(note.into())),
    );
    match answer {
        Answer::Text { status, body, .. } => (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            body,
        )
            .into_response(),
        Answer::Empty { status, .. } => status.into_response(),
        Answer::File { file, len_bytes } => firmware_response(file, len_bytes),
        Answer::MethodNotAllowed => {
            (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "GET")]).into_response()
        }
    }
}

/// Streams an image without holding it in memory; the length is sent up front so the phone
/// (and a test) can tell a truncated download.
fn firmware_response(file: tokio::fs::File, len_bytes: u64) -> Response {
    let chunks = futures::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buffer = vec![0u8; CHUNK_BYTES];
        match file.read(&mut buffer).await {
            Ok(0) => None,
            Ok(read) => {
                buffer.truncate(read);
                Some((Ok(Bytes::from(buffer)), Some(file)))
            }
            // Ends the stream after reporting: the client sees a short body.
            Err(error) => Some((Err(error), None)),
        }
    });
    let mut response = Response::new(Body::from_stream(chunks));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len_bytes));
    response
}

impl ProvisioningServer {
    async fn answer(&self, path: &str, connection: &Connection) -> Answer {
        if let Some(name) = path.strip_prefix("/firmware/") {
            return self.firmware(name, connection).await;
        }
        if let Some(name) = path.strip_prefix("/autop/") {
            return self.call_home(name, connection);
        }
        match path.strip_prefix('/').filter(|name| !name.contains('/')) {
            Some(name) => self.config_file(name, connection),
            None => Answer::Empty {
                status: StatusCode::NOT_FOUND,
                note: notes::UNKNOWN_PATH,
            },
        }
    }

    /// Boot-time fetches: boot files, the model's common config, the MAC config.
    fn config_file(&self, name: &str, connection: &Connection) -> Answer {
        if name.ends_with(".boot") {
            return Answer::Empty {
                status: StatusCode::NOT_FOUND,
                note: notes::BOOT_FILE,
            };
        }
        let Some(stem) = name.strip_suffix(".cfg") else {
            return Answer::Empty {
                status: StatusCode::NOT_FOUND,
                note: notes::UNKNOWN_PATH,
            };
        };
        if let Some(model) = Model::ALL
            .into_iter()
            .find(|model| model.common_cfg() == name)
        {
            let body = format!(
                "{CFG_HEADER}\n## Common config of the {model}: every setting of the lab's \
                 phones is in their MAC config.\n"
            );
            return Answer::Text {
                status: StatusCode::OK,
                body,
                note: notes::COMMON_CONFIG,
            };
        }
        if stem.starts_with('y') {
            return Answer::Empty {
                status: StatusCode::NOT_FOUND,
                note: notes::UNKNOWN_COMMON_CONFIG,
            };
        }
        let Some((mac, account)) = self.account_for(stem, connection) else {
            return Answer::Empty {
                status: StatusCode::NOT_FOUND,
                note: notes::UNKNOWN_MAC,
            };
        };
        match account.account {
            AccountState::Active => Answer::Text {
                status: StatusCode::OK,
                body: self.mac_config(mac, &account, connection),
                note: notes::ACCOUNT_ACTIVE,
            },
            // The 1.x platform no longer provisions these: the phone keeps its flash.
            AccountState::Cancelled => Answer::Empty {
                status: StatusCode::NOT_FOUND,
                note: notes::ACCOUNT_CANCELLED,
            },
            AccountState::V2 => Answer::Empty {
                status: StatusCode::NOT_FOUND,
                note: notes::ACCOUNT_V2,
            },
        }
    }

    /// The Auto-P call-home (`**7283`): only a cancelled 1.x account gets its admin
    /// password reset to the factory one; the platform refuses the others.
    fn call_home(&self, name: &str, connection: &Connection) -> Answer {
        let stem = name
            .strip_suffix(".cfg")
            .filter(|stem| !stem.starts_with('y'));
        let Some(stem) = stem else {
            return Answer::Empty {
                status: StatusCode::NOT_FOUND,
                note: notes::CALL_HOME_OTHER_FILE,
            };
        };
        let Some((_, account)) = self.account_for(stem, connection) else {
            return Answer::Empty {
                status: StatusCode::NOT_FOUND,
                note: notes::UNKNOWN_MAC,
            };
        };
        match account.account {
            AccountState::Cancelled => Answer::Text {
                status: StatusCode::OK,
                body: format!("{CFG_HEADER}\nstatic.security.user_password = admin:admin\n"),
                note: notes::CALL_HOME_RESET,
            },
            AccountState::Active => Answer::Empty {
                status: StatusCode::FORBIDDEN,
                note: notes::CALL_HOME_ACTIVE,
            },
            AccountState::V2 => Answer::Empty {
                status: StatusCode::FORBIDDEN,
                note: notes::CALL_HOME_V2,
            },
        }
    }

    /// The bench account behind a MAC config stem; logs why when there is none.
    fn account_for(&self, stem: &str, connection: &Connection) -> Option<(Mac, BenchAccount)> {
        let client = connection.remote;
        let Some(bench) = self.directory.bench_with_user(stem) else {
            tracing::warn!(%client, stem, "config requested for a MAC that is no bench's");
            return None;
        };
        let Some(account) = self.accounts.get(&bench.name) else {
            tracing::warn!(%client, bench = %bench.name,
                "config requested for a bench whose account was never set: answered as unknown");
            return None;
        };
        Some((bench.mac, account))
    }

    fn mac_config(&self, mac: Mac, account: &BenchAccount, connection: &Connection) -> String {
        let base = reachable_addr(self.bound, connection);
        let sip = reachable_addr(self.sip, connection);
        let syslog = reachable_addr(self.syslog, connection);
        // Yealink phones take DHCP options ahead of the URL in flash: the config turns them
        // off so the URL it names stays in force (a foreign server that re-provisions a
        // phone does the same; without it the lab's option 66 would bring the phone back).
        let mut cfg = format!(
            "{CFG_HEADER}\nstatic.security.user_password = admin:{}\n\
             static.auto_provision.server.url = {}\n\
             static.auto_provision.dhcp_option.enable = 0\n",
            account.admin_password, account.provisioning_url
        );
        if let Some(offer) = &account.firmware {
            let name = percent_encode(&offer.file_name);
            let _ = writeln!(cfg, "static.firmware.url = http://{base}/firmware/{name}");
        }
        if account.syslog {
            let _ = write!(
                cfg,
                "static.syslog.enable = 1\nstatic.syslog.server = {}\n\
                 static.syslog.server_port = {}\n",
                syslog.ip(),
                syslog.port()
            );
        } else {
            cfg.push_str("static.syslog.enable = 0\n");
        }
        let _ = write!(
            cfg,
            "account.1.enable = 1\naccount.1.user_name = {user}\n\
             account.1.sip_server.1.address = {}\naccount.1.sip_server.1.port = {}\n\
             account.1.expires = {ACCOUNT_EXPIRES_S}\n",
            sip.ip(),
            sip.port(),
            user = mac.plain(),
        );
        cfg
    }

    /// Serves an image only if it is offered to some bench under exactly this name; the
    /// request never contributes to a filesystem path.
    async fn firmware(&self, raw_name: &str, connection: &Connection) -> Answer {
        let client = connection.remote;
        let name = percent_decode(raw_name);
        let refused =
            |name: &str| name.is_empty() || name.contains(['/', '\\']) || name.contains("..");
        let Some(name) = name.filter(|name| !refused(name)) else {
            tracing::warn!(%client, raw_name, "firmware request with a path-like name refused");
            return Answer::Empty {
                status: StatusCode::NOT_FOUND,
                note: notes::FIRMWARE_BAD_NAME,
            };
        };
        let Some(offer) = self.accounts.offered_firmware(&name) else {
            return Answer::Empty {
                status: StatusCode::NOT_FOUND,
                note: notes::FIRMWARE_NOT_OFFERED,
            };
        };
        let opened = async {
            let file = tokio::fs::File::open(&offer.path).await?;
            let len_bytes = file.metadata().await?.len();
            std::io::Result::Ok((file, len_bytes))
        };
        match opened.await {
            Ok((file, len_bytes)) => Answer::File { file, len_bytes },
            Err(error) => {
                tracing::error!(%client, path = %offer.path.display(), %error,
                    "offered firmware image cannot be read: check the firmware drop");
                Answer::Empty {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    note: notes::FIRMWARE_UNREADABLE,
                }
            }
        }
    }
}

/// Encodes a file name for a URL path segment (RFC 3986 unreserved characters kept).
fn percent_encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// Decodes a path segment; `None` for a malformed escape or a result that is not UTF-8.
fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = segment
                .get(index + 1..index + 3)
                .filter(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_round_trip() {
        let name = "T46S(T48S,T42S,T41S)-66.86.0.15 .rom";
        assert_eq!(percent_decode(&percent_encode(name)).as_deref(), Some(name));
        assert_eq!(percent_decode("..%2Fetc").as_deref(), Some("../etc"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%2"), None);
        assert_eq!(percent_decode("%+1"), None);
    }
}
