//! Boundary rule 1: the harness and the twin meet only on the wire. Only the file that
//! starts the embedded virtual bench may name the twin, and the twin never names the harness.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn only_the_virtual_bench_starter_names_the_twin() {
    let harness = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&harness.join("src"), &mut files);
    assert!(files.len() > 20, "the harness sources were not found");
    let offenders: Vec<_> = files
        .iter()
        .filter(|f| !f.ends_with("src/virtual_bench.rs"))
        .filter(|f| std::fs::read_to_string(f).unwrap().contains("yealink_twin"))
        .collect();
    assert!(
        offenders.is_empty(),
        "these harness files name the twin: {offenders:?}"
    );
}

#[test]
fn the_twin_never_names_the_harness() {
    let twin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lab/twin");
    let manifest = std::fs::read_to_string(twin.join("Cargo.toml")).unwrap();
    assert!(
        !manifest
            .lines()
            .any(|l| l.trim_start().starts_with("harness")),
        "the twin's Cargo.toml depends on the harness"
    );
    let mut files = Vec::new();
    rust_files(&twin.join("src"), &mut files);
    rust_files(&twin.join("tests"), &mut files);
    assert!(files.len() > 10, "the twin sources were not found");
    let offenders: Vec<_> = files
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            text.contains("harness::") || text.contains("use harness")
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "these twin files name the harness: {offenders:?}"
    );
}
