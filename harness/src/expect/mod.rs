//! Expectations: redaction and the snapshot comparison of transcripts.

pub mod redact;
pub mod snapshot;

pub use redact::Redactor;
pub use snapshot::{SnapshotCheck, check};
