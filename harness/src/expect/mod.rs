//! Expectations: redaction and the snapshot comparison of transcripts.

pub mod redact;
pub mod snap_file;
pub mod snapshot;

pub use redact::Redactor;
pub use snapshot::{SnapshotCheck, SnapshotStore, SnapshotWrites, check};
