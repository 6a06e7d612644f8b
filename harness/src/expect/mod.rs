//! Expectations: redaction, the snapshot comparison of transcripts, and the review of
//! pending snapshots.

pub mod redact;
pub mod review;
pub mod snap_file;
pub mod snapshot;

pub use redact::Redactor;
pub use snapshot::{SnapshotCheck, SnapshotStore, SnapshotWrites, check};
