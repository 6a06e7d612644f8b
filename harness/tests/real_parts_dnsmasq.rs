//! `harness lab dnsmasq` read by dnsmasq itself: its output for the lab files in the
//! repository passes `dnsmasq --test`, and a refused lab gives dnsmasq nothing to read.
//!
//! Opt-in: `cargo test -p harness --features real-parts --test real_parts_dnsmasq`. Needs the
//! Debian package dnsmasq-base (or dnsmasq); a missing one fails the test and names it.

#![cfg(feature = "real-parts")]

mod real_parts_support;

use std::path::Path;
use std::process::Command;

use real_parts_support::{Needed, repo_root, require};

const DNSMASQ: &str = "/usr/sbin/dnsmasq";

/// Runs `harness lab dnsmasq` on `lab` and returns its exit code, stdout and stderr.
fn generate(lab: &Path, interface: &str, range: &str) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["lab", "dnsmasq", "--lab"])
        .arg(lab)
        .args(["--interface", interface, "--range", range])
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `dnsmasq --test` on `config`: whether it passed, and what it said.
fn dnsmasq_test(config: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("yealink-lab.conf");
    std::fs::write(&file, config).unwrap();
    let output = Command::new(DNSMASQ)
        .arg("--test")
        .arg(format!("--conf-file={}", file.display()))
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), said)
}

fn require_dnsmasq() {
    require(&[Needed {
        path: DNSMASQ,
        package: "dnsmasq-base",
    }]);
}

#[test]
fn dnsmasq_accepts_the_configuration_of_every_lab_file_in_the_repository() {
    require_dnsmasq();
    for lab in ["lab/virtual.toml", "lab/rack.example.toml"] {
        let (code, config, stderr) = generate(
            &repo_root().join(lab),
            "enp3s0.50",
            "192.0.2.100,192.0.2.199",
        );
        assert_eq!(code, 0, "{lab}: {stderr}");
        assert!(
            config.contains("\ndhcp-option-force=tag:yealink-lab,66,\"http://"),
            "{lab}: {config}"
        );
        let (ok, said) = dnsmasq_test(&config);
        assert!(
            ok,
            "{lab}: dnsmasq refused the configuration: {said}\n{config}"
        );
        assert!(said.contains("syntax check OK"), "{lab}: {said}");
    }
}

#[test]
fn dnsmasq_itself_refuses_what_the_generator_refuses() {
    require_dnsmasq();
    // The checks are not for show: dnsmasq refuses the lines they keep out.
    for (what, line) in [
        (
            "a bench name with a space",
            "dhcp-host=00:15:65:3a:10:01,192.0.2.41,desk 1\n",
        ),
        (
            "two benches with one address",
            "dhcp-host=00:15:65:3a:10:01,192.0.2.41\ndhcp-host=00:15:65:3a:10:02,192.0.2.41\n",
        ),
    ] {
        let (ok, said) = dnsmasq_test(line);
        assert!(!ok, "dnsmasq accepted {what}: {said}");
    }
    let (ok, said) = dnsmasq_test("dhcp-host=00:15:65:3a:10:01,192.0.2.41,desk-1\n");
    assert!(ok, "{said}");
}

#[test]
fn a_refused_lab_prints_no_configuration() {
    require_dnsmasq();
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo_root().join("lab/rack.example.toml")).unwrap();
    let lab = dir.path().join("rack.toml");
    // The TFTP endpoint moved off the host option 66 names.
    let moved = text.replacen("tftp = \"127.0.0.1:69\"", "tftp = \"127.0.0.2:69\"", 1);
    assert_ne!(moved, text, "rack.example.toml's tftp line changed");
    std::fs::write(&lab, moved).unwrap();
    let (code, config, stderr) = generate(&lab, "enp3s0.50", "192.0.2.100,192.0.2.199");
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(config, "");
    assert!(stderr.contains("[endpoints] tftp"), "{stderr}");
}

#[test]
#[should_panic(expected = "install them with: sudo apt-get install -y no-such-package")]
fn a_missing_package_fails_the_test_and_names_the_package() {
    require(&[Needed {
        path: "/nonexistent/real-parts/tool",
        package: "no-such-package",
    }]);
}
