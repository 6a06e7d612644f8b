//! Test support: a private copy of the virtual lab, so tests run in parallel without
//! sharing a serial device path, an address or a port.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use rand::Rng;

/// The checkout's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// A copy of `lab/virtual.toml` in `dir`: its serial devices under `dir`, its phones and
/// endpoints in a random 127.a.b.0/23 of their own, endpoint ports as given (0 = free),
/// and the twin's firmware from `fixtures`.
pub fn private_lab(dir: &Path, ports: [u16; 5], fixtures: &Path) -> PathBuf {
    let mut rng = rand::thread_rng();
    let a: u8 = rng.gen_range(1..=254);
    let b: u8 = rng.gen_range(1..=126) * 2;
    let text = std::fs::read_to_string(root().join("lab/virtual.toml")).expect("virtual lab");
    let mut text = text
        .replace(
            "/tmp/yealink-virtual-lab",
            &dir.join("dev").display().to_string(),
        )
        .replace("\"127.0.0.", &format!("\"127.{a}.{b}."))
        .replace("\"127.0.1.", &format!("\"127.{a}.{}.", b + 1))
        .replace(
            "\"../firmware-fixtures\"",
            &format!("{:?}", fixtures.display().to_string()),
        );
    for (fixed, port) in [18080, 18081, 10069, 15060, 10514].iter().zip(ports) {
        text = text.replace(&format!(":{fixed}\""), &format!(":{port}\""));
    }
    let path = dir.join("lab.toml");
    std::fs::write(&path, text).expect("write lab");
    path
}

/// Run options for a private lab, quiet, with the run folder in `dir`.
pub fn options(
    dir: &Path,
    lab: PathBuf,
    fixtures: &Path,
    scenarios: &[&str],
    benches: &[&str],
) -> harness::run::RunOptions {
    harness::run::RunOptions {
        lab,
        scenarios_dir: root().join("scenarios"),
        scenario_globs: scenarios.iter().map(|s| s.to_string()).collect(),
        benches: benches.iter().map(|s| s.to_string()).collect(),
        fixtures_dir: fixtures.to_path_buf(),
        snapshots_dir: root().join("scenarios/snapshots"),
        out_dir: Some(dir.join("run")),
        junit: None,
        approval: None,
        progress: harness::report::Progress::Quiet,
        start_virtual_bench: true,
    }
}
