//! Typed events the endpoints publish. Every listener (the transcript of a running scenario,
//! the log, later the history database) subscribes to one broadcast bus.

use std::net::SocketAddr;
use std::time::Instant;

/// Which HTTP server saw a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpServer {
    /// The lab's stand-in for the Intermedia provisioning server.
    Provisioning,
    /// A provisioning server that is not Intermedia's (answers 404 to everything).
    Foreign,
}

/// What a TFTP request asked for: the server only reads, so a write is always refused, and
/// the transcript must say which one was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TftpRequest {
    /// RRQ: the phone reads a file.
    Read,
    /// WRQ: a client tried to write a file.
    Write,
}

impl TftpRequest {
    /// The word the transcript and the log use.
    pub fn word(self) -> &'static str {
        match self {
            TftpRequest::Read => "read",
            TftpRequest::Write => "write",
        }
    }
}

/// Something a phone did that an endpoint observed, or a lab server that failed it.
#[derive(Debug, Clone, PartialEq)]
pub enum EndpointEvent {
    /// An HTTP request, published after the answer was decided and before it is sent, so
    /// the events of one phone arrive in the order the phone made the requests.
    Http {
        /// Which server saw it.
        server: HttpServer,
        /// The phone's address.
        client: SocketAddr,
        /// `GET`, `POST`, ...
        method: String,
        /// Path without the query, e.g. `/autop/0015654aa937.cfg`.
        path: String,
        /// Names the phone's model, firmware version and MAC.
        user_agent: Option<String>,
        /// HTTP status sent.
        status: u16,
        /// Body bytes served.
        bytes: u64,
        /// What the answer meant, for the transcript: e.g. `call-home: admin password reset`,
        /// `account cancelled`, `unknown MAC`.
        note: Option<String>,
    },
    /// A SIP REGISTER and the registrar's answer.
    Register {
        /// The phone's address.
        client: SocketAddr,
        /// The user part of the To URI.
        user: String,
        /// Names the phone's model and firmware version.
        user_agent: Option<String>,
        /// SIP status sent.
        status: u16,
        /// Reason phrase sent.
        reason: String,
        /// Expires granted (0 when refused).
        expires: u32,
        /// The request's Call-ID: one per registration, kept by its refreshes (RFC 3261
        /// 10.2.4), so a refresh can be told from a new registration.
        call_id: Option<String>,
    },
    /// One syslog message (RFC 3164 or 5424), with its priority stripped.
    Syslog {
        /// The phone's address.
        client: SocketAddr,
        /// From the priority (1 when the datagram had none).
        facility: u8,
        /// From the priority (5 when the datagram had none).
        severity: u8,
        /// The text after the header: `tag: text`.
        message: String,
    },
    /// A TFTP read (or a refused request).
    Tftp {
        /// The phone's address.
        client: SocketAddr,
        /// Whether the client asked to read or to write.
        request: TftpRequest,
        /// The file name asked for.
        file: String,
        /// Bytes sent; 0 when refused.
        bytes: u64,
        /// `None` when served in full; else the TFTP error sent.
        error: Option<String>,
    },
    /// A connection the lab's provisioning server closed before reading a byte, because a
    /// scenario made it unreachable for this phone: the phone tried, and reached nothing.
    ShutOut {
        /// The phone's address.
        client: SocketAddr,
        /// Which server shut it out.
        server: HttpServer,
    },
    /// One of the lab's own servers failed a request of this client for a reason of the
    /// lab (the process ran out of files, every transfer slot taken by others): whatever
    /// the phone does next is no finding about its firmware, so the case is a lab fault.
    LabFault {
        /// The address whose request was failed.
        client: SocketAddr,
        /// Which server, e.g. `TFTP recovery server`.
        server: &'static str,
        /// What went wrong, in the words of the log.
        why: String,
    },
}

impl EndpointEvent {
    /// The address the phone sent from.
    pub fn client(&self) -> SocketAddr {
        match self {
            EndpointEvent::Http { client, .. }
            | EndpointEvent::Register { client, .. }
            | EndpointEvent::Syslog { client, .. }
            | EndpointEvent::Tftp { client, .. }
            | EndpointEvent::ShutOut { client, .. }
            | EndpointEvent::LabFault { client, .. } => *client,
        }
    }

    /// For a lab-fault event: the reason a case of this client's bench ends as a lab fault.
    pub fn lab_fault(&self) -> Option<String> {
        match self {
            EndpointEvent::LabFault { server, why, .. } => {
                Some(format!("the lab's {server} failed: {why}"))
            }
            _ => None,
        }
    }
}

/// An event with the bench it came from (found by the client's IP address; `None` for a
/// client that is no bench of this lab).
#[derive(Debug, Clone)]
pub struct TaggedEvent {
    /// The bench whose phone has the client's IP address.
    pub bench: Option<String>,
    /// When it was published (for progress displays; transcripts keep only the order).
    pub at: Instant,
    /// What was seen.
    pub event: EndpointEvent,
}

/// The bus endpoints publish on. Cloning it is cheap; `subscribe` gives a receiver.
pub type EventBus = tokio::sync::broadcast::Sender<TaggedEvent>;

/// A bus with room for bursts: a lagging subscriber loses the oldest events and is told so.
pub fn event_bus() -> EventBus {
    tokio::sync::broadcast::channel(4096).0
}
