//! `harness fixtures write | synth`.

use std::path::Path;

use crate::firmware::fixtures::{COMMITTED_IMAGE_LEN, write_fixture_set};
use crate::outcome::exit_code;

/// Writes the fixture set, small (`None`) or at `size_mb` MiB per image.
pub fn write(out: &Path, size_mb: Option<usize>) -> i32 {
    let len = size_mb.map_or(COMMITTED_IMAGE_LEN, |mb| mb * 1024 * 1024);
    match write_fixture_set(out, len) {
        Ok(files) => {
            println!("wrote {} files under {}", files.len(), out.display());
            exit_code::PASS
        }
        Err(e) => {
            eprintln!("cannot write fixtures under {}: {e}", out.display());
            exit_code::CONFIG_ERROR
        }
    }
}
