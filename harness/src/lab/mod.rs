//! The lab inventory: the benches (one phone each) and the hardware each is wired to, read
//! from a lab file and checked before anything is switched.

mod check;
pub mod count;
pub mod model;
pub mod models;
pub mod name;
pub mod raw;
pub mod relay_entry;

use std::path::Path;

pub use check::HARNESS_KEYS;
pub use model::*;
pub use models::*;

use crate::config_error::{ConfigError, FileProblems};

/// Reads and checks the lab file at `path`. Every problem of the file is reported at once;
/// a file with any problem yields no `Lab`, never one with defaults in place of bad values.
pub fn load(path: &Path) -> Result<Lab, ConfigError> {
    let text =
        std::fs::read_to_string(path).map_err(|error| ConfigError::unreadable(path, &error))?;
    parse(&text, path)
}

/// Checks lab-file `text`; `source` names it in messages and becomes `Lab::source` (the
/// base for relative paths in `[twin]`).
pub fn parse(text: &str, source: &Path) -> Result<Lab, ConfigError> {
    let mut problems = FileProblems::new(source, text);
    let lab = problems.parse_document().and_then(|document| {
        let raw = raw::RawLab::read(&document, &mut problems);
        check::check(raw, source, &mut problems)
    });
    problems.finish(lab)
}
