//! The SIP registrar the lab's phones register with, standing in for the Intermedia 1.x
//! platform's: it answers REGISTER per the bench's account state, so a scenario can put a
//! phone into `Registered` or `No Service` through the real protocol.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::watch;

use super::accounts::Accounts;
use super::directory::{BenchDirectory, canonical_client};
use super::events::{EndpointEvent, EventBus};
use super::sip_message::{SipRequest, SipResponse, header_param, parse_request, uri_user};
use crate::scenario::AccountState;

/// The `Server` header of every answer, so a capture shows which registrar answered.
pub const SERVER_NAME: &str = "yealink-lab-registrar";
/// Longest registration granted: a phone asking for more gets this (the platform's limit).
pub const MAX_EXPIRES_S: u32 = 86_400;
/// Granted when the REGISTER asks for no particular lifetime (RFC 3261 10.2.1.1).
pub const DEFAULT_EXPIRES_S: u32 = 3_600;
/// The methods a registrar handles; sent in `Allow` with a 405 and with OPTIONS.
const ALLOW: &str = "REGISTER, OPTIONS";
/// A UDP datagram cannot be longer.
const MAX_DATAGRAM_BYTES: usize = 65_535;

/// What the registrar does with one datagram: the answer to send back (if any) and the
/// event to publish before sending it.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistrarOutcome {
    /// The datagram to send back; `None` when the input cannot or must not be answered.
    pub reply: Option<String>,
    /// What the transcript records (REGISTERs only).
    pub event: Option<EndpointEvent>,
}

/// Everything the registrar reads to decide an answer.
#[derive(Clone)]
pub struct Registrar {
    /// Finds the bench of a SIP user and tags events.
    pub directory: Arc<BenchDirectory>,
    /// Decides each REGISTER's answer.
    pub accounts: Accounts,
}

impl Registrar {
    /// Decides the answer to one datagram from `client`. Never fails: malformed input gets a
    /// `400 Bad Request` when it can be addressed, else nothing, and is logged either way.
    pub fn handle(&self, datagram: &[u8], client: SocketAddr) -> RegistrarOutcome {
        let request = match parse_request(datagram) {
            Ok(request) => request,
            Err(error) => {
                tracing::warn!(%client, %error, "SIP datagram dropped");
                return RegistrarOutcome {
                    reply: None,
                    event: None,
                };
            }
        };
        let to_tag = format!("{:016x}", rand::random::<u64>());
        if let Some(defect) = request.defect() {
            if !request.can_be_answered() {
                tracing::warn!(%client, %defect, method = %request.method,
                    "malformed SIP request without Via dropped");
                return RegistrarOutcome {
                    reply: None,
                    event: None,
                };
            }
            tracing::warn!(%client, %defect, method = %request.method,
                "malformed SIP request answered 400");
            let response = SipResponse::new(400, "Bad Request").with(
                "Warning",
                format!("399 {SERVER_NAME} \"{}\"", defect.replace('"', "'")),
            );
            let event = (request.method.eq_ignore_ascii_case("REGISTER"))
                .then(|| register_event(&request, client, &response, 0));
            return RegistrarOutcome {
                reply: Some(response.render(&request, &to_tag, SERVER_NAME)),
                event,
            };
        }
        match request.method.to_ascii_uppercase().as_str() {
            "REGISTER" => {
                let (response, expires_s) = self.register(&request, client);
                let event = register_event(&request, client, &response, expires_s);
                RegistrarOutcome {
                    reply: Some(response.render(&request, &to_tag, SERVER_NAME)),
                    event: Some(event),
                }
            }
            "OPTIONS" => {
                tracing::debug!(%client, "SIP OPTIONS answered 200");
                let response = SipResponse::new(200, "OK").with("Allow", ALLOW);
                RegistrarOutcome {
                    reply: Some(response.render(&request, &to_tag, SERVER_NAME)),
                    event: None,
                }
            }
            // RFC 3261 17.2.1: an ACK is never answered; it only ends a transaction.
            "ACK" => RegistrarOutcome {
                reply: None,
                event: None,
            },
            method => {
                tracing::info!(%client, %method, "SIP method not handled by a registrar: 405");
                let response = SipResponse::new(405, "Method Not Allowed").with("Allow", ALLOW);
                RegistrarOutcome {
                    reply: Some(response.render(&request, &to_tag, SERVER_NAME)),
                    event: None,
                }
            }
        }
    }

    /// The answer to a well-formed REGISTER and the lifetime granted (0 when refused).
    fn register(&self, request: &SipRequest, client: SocketAddr) -> (SipResponse, u32) {
        let user = request.header("To").and_then(uri_user).unwrap_or_default();
        let Some(bench) = self.directory.bench_with_user(user) else {
            tracing::warn!(%client, user, "REGISTER for a user that is no bench's MAC: 404");
            return (SipResponse::new(404, "Not Found"), 0);
        };
        let Some(account) = self.accounts.get(&bench.name) else {
            tracing::warn!(%client, bench = %bench.name, "REGISTER from a bench without an account: 404");
            return (SipResponse::new(404, "Not Found"), 0);
        };
        match account.account {
            AccountState::Active => {
                let expires_s = self.granted_expires_s(request);
                let mut response = SipResponse::new(200, "OK");
                for contact in request.headers_named("Contact") {
                    response = response.with("Contact", contact);
                }
                response = response.with("Expires", expires_s.to_string());
                tracing::info!(%client, bench = %bench.name, expires_s, "REGISTER accepted");
                (response, expires_s)
            }
            AccountState::Cancelled | AccountState::V2 => {
                tracing::info!(%client, bench = %bench.name, account = ?account.account,
                    "REGISTER refused: 403");
                (SipResponse::new(403, "Forbidden"), 0)
            }
        }
    }

    /// The requested lifetime (the `Expires` header, else the first Contact's `expires`
    /// parameter, else the default), capped at the platform's maximum.
    fn granted_expires_s(&self, request: &SipRequest) -> u32 {
        let from_contact = || {
            request
                .header("Contact")
                .and_then(|c| header_param(c, "expires")?.parse().ok())
        };
        request
            .expires_s()
            .or_else(from_contact)
            .unwrap_or(DEFAULT_EXPIRES_S)
            .min(MAX_EXPIRES_S)
    }
}

fn register_event(
    request: &SipRequest,
    client: SocketAddr,
    response: &SipResponse,
    expires_s: u32,
) -> EndpointEvent {
    EndpointEvent::Register {
        client,
        user: request
            .header("To")
            .and_then(uri_user)
            .unwrap_or_default()
            .to_owned(),
        user_agent: request.header("User-Agent").map(str::to_owned),
        status: response.status,
        reason: response.reason.clone(),
        expires: expires_s,
        call_id: request.header("Call-ID").map(str::to_owned),
    }
}

/// Serves the registrar on `socket` until `shutdown` turns true. Every datagram's event is
/// published before its answer is sent, to the datagram's source address.
pub async fn serve(
    socket: UdpSocket,
    registrar: Registrar,
    bus: EventBus,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut buffer = vec![0u8; MAX_DATAGRAM_BYTES];
    loop {
        let received = tokio::select! {
            received = socket.recv_from(&mut buffer) => received,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        let (len, source) = match received {
            Ok(received) => received,
            Err(error) => {
                // An ICMP error from an earlier answer surfaces here on some systems; the
                // socket itself is fine, so keep serving.
                tracing::warn!(%error, "SIP registrar receive error");
                continue;
            }
        };
        let client = canonical_client(source);
        let outcome = registrar.handle(&buffer[..len], client);
        if let Some(event) = outcome.event {
            registrar.directory.publish(&bus, event);
        }
        if let Some(reply) = outcome.reply {
            if let Err(error) = socket.send_to(reply.as_bytes(), source).await {
                tracing::warn!(%client, %error, "SIP answer could not be sent");
            }
        }
    }
}
