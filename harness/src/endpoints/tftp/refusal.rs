//! Why the server refused a request, and how the refusal reads on the wire and in events.
//! Each maps onto one TFTP error code, so a client sees the class of refusal a standard
//! server would send.

use super::packet::{self, ErrorCode};

/// Why a request was not served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Nothing by that name in the bench's folder (or the client is no bench, or nothing
    /// was staged for it): TFTP code 1.
    #[error("file not found: {0}")]
    NotFound(String),
    /// The name or the path it resolves to leaves the bench's folder, or the request wants
    /// to write: TFTP code 2.
    #[error("access violation: {0}")]
    AccessViolation(String),
    /// The datagram is no request the server understands: TFTP code 4.
    #[error("illegal operation: {0}")]
    Malformed(String),
    /// An option value the server does not accept (a `timeout` above its maximum): TFTP
    /// code 8 (RFC 2347), so the client may ask again without it.
    #[error("option refused: {0}")]
    Option(String),
    /// Every transfer slot (of the server, or of this client) is taken: TFTP code 0. The
    /// client may ask again once a transfer ends.
    #[error("busy: {0}")]
    Busy(String),
    /// The process ran out of file descriptors (EMFILE, ENFILE) opening the file or the
    /// transfer's socket: TFTP code 0, and a lab fault of the client's bench.
    #[error("out of files: {0}")]
    OutOfFiles(String),
}

impl Refusal {
    fn code(&self) -> ErrorCode {
        match self {
            Refusal::NotFound(_) => ErrorCode::FileNotFound,
            Refusal::AccessViolation(_) => ErrorCode::AccessViolation,
            Refusal::Malformed(_) => ErrorCode::IllegalOperation,
            Refusal::Option(_) => ErrorCode::OptionRefused,
            Refusal::Busy(_) | Refusal::OutOfFiles(_) => ErrorCode::NotDefined,
        }
    }

    /// The text of the TFTP error packet, as the client reads it (and as the event
    /// records it). Never the server's paths.
    pub fn wire_text(&self) -> String {
        match self {
            Refusal::NotFound(_) => "File not found".into(),
            Refusal::AccessViolation(_) => "Permission denied".into(),
            Refusal::Malformed(why) => format!("Illegal TFTP operation: {why}"),
            Refusal::Option(why) => format!("Option refused: {why}"),
            Refusal::Busy(why) => format!("Server busy: {why}"),
            Refusal::OutOfFiles(_) => "Server out of resources".into(),
        }
    }

    /// The ERROR packet sent for this refusal.
    pub fn to_packet(&self) -> Vec<u8> {
        packet::error(self.code(), &self.wire_text())
    }

    /// Whether the refusal is the lab's failure or policy rather than anything the client
    /// did wrong: no slot, no descriptor, or an option value RFC 2349 allows but this
    /// server does not grant. A case whose phone is refused so tests nothing of its
    /// firmware.
    pub fn is_lab_fault(&self) -> bool {
        matches!(
            self,
            Refusal::Busy(_) | Refusal::OutOfFiles(_) | Refusal::Option(_)
        )
    }
}

/// Whether an OS error says the process or the host has no file descriptor left.
pub fn out_of_files(error: &std::io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}
