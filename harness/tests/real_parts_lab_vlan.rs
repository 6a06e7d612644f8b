//! The lab VLAN for real: a network namespace with a bridge, a veth per twin phone carrying
//! the bench's MAC, the harness's endpoints on the bridge's address, and dnsmasq serving
//! exactly what `harness lab dnsmasq` prints. The twin phones learn their address and
//! option 66 by DHCP, and the scenarios' transcripts must match the loopback lab's
//! snapshots: they may not depend on the topology.
//!
//! Opt-in: `cargo test -p harness --features real-parts --test real_parts_lab_vlan`. Needs
//! the Debian packages iproute2 and dnsmasq-base, and root (network namespaces): run as
//! root (CI does), or with passwordless sudo.

#![cfg(feature = "real-parts")]

mod real_parts_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use real_parts_support::lab_vlan::{HOST, LabVlan, PhonePort, RANGE};
use real_parts_support::repo_root;

const BENCH: &str = "t46g";
const PHONE_INTERFACE: &str = "phone-t46g";
const PHONE_IP: &str = "10.50.0.46";

/// The virtual lab, moved onto the VLAN: the T46G bench alone, asking DHCP on its veth,
/// the endpoints on the lab host's address (TFTP on `tftp_port`), the serial devices and
/// the stick in the test's folder.
fn vlan_lab(dir: &Path, tftp_port: u16) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let root = repo_root();
    let text = std::fs::read_to_string(root.join("lab/virtual.toml")).unwrap();
    let mut lab: toml::Table = toml::from_str(&text).unwrap();
    let devices = dir.join("devices");
    let moved = |path: &str| {
        path.replace(
            "/tmp/yealink-virtual-lab",
            devices.to_str().expect("a UTF-8 temp folder"),
        )
    };
    lab["lab"]["name"] = "lab-vlan".into();
    let endpoints = lab["endpoints"].as_table_mut().unwrap();
    for (key, port) in [
        ("provisioning", 8080),
        ("foreign_provisioning", 8081),
        ("tftp", tftp_port),
        ("sip", 5060),
        ("syslog", 514),
    ] {
        endpoints.insert(key.into(), format!("{HOST}:{port}").into());
    }
    for table in ["relay_board", "actuator"] {
        for entry in lab[table].as_array_mut().unwrap() {
            let port = moved(entry["port"].as_str().unwrap());
            entry["port"] = port.into();
            // One phone on the VLAN: the pools' copies are not wired to it.
            entry.as_table_mut().unwrap().remove("count");
        }
    }
    let benches = lab["bench"].as_array_mut().unwrap();
    benches.retain(|b| b["name"].as_str() == Some(BENCH));
    assert_eq!(benches.len(), 1, "lab/virtual.toml has a bench `{BENCH}`");
    let bench = benches[0].as_table_mut().unwrap();
    bench.remove("count");
    bench.insert("ip".into(), PHONE_IP.into());
    bench.insert("dhcp_interface".into(), PHONE_INTERFACE.into());
    let image = moved(bench["usb"]["image"].as_str().unwrap());
    bench["usb"]["image"] = image.into();
    lab["twin"]["firmware_dir"] = root
        .join("firmware-fixtures")
        .to_str()
        .unwrap()
        .to_string()
        .into();
    let path = dir.join("lab-vlan.toml");
    std::fs::write(&path, toml::to_string(&lab).unwrap()).unwrap();
    path
}

/// `harness lab dnsmasq` for `lab` on the VLAN's bridge: exit code, stdout, stderr.
fn dnsmasq_config(lab: &Path) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["lab", "dnsmasq", "--lab"])
        .arg(lab)
        .args([
            "--interface",
            real_parts_support::lab_vlan::BRIDGE,
            "--range",
            RANGE,
        ])
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The VLAN with the T46G's port, dnsmasq serving `config`.
fn vlan_serving(config: &str) -> LabVlan {
    let mut vlan = LabVlan::create(&[PhonePort {
        interface: PHONE_INTERFACE.into(),
        mac: "00:15:65:00:00:46".into(),
    }]);
    vlan.start_dnsmasq(config);
    vlan
}

/// One case of a run, from its summary.
#[derive(Debug)]
struct Case {
    scenario: String,
    outcome: String,
    detail: String,
}

/// Runs `scenarios` on the bench with `harness run` inside the namespace, against the
/// project's snapshots; returns the exit code, the cases and what the harness said.
fn run_in_vlan(vlan: &LabVlan, lab: &Path, scenarios: &[&str]) -> (i32, Vec<Case>, String) {
    let out = vlan.dir().join(format!("run-{}", scenarios.join("_")));
    let mut command = vlan.exec(Path::new(env!("CARGO_BIN_EXE_harness")));
    command
        .current_dir(repo_root())
        .arg("--lock-dir")
        .arg(vlan.dir().join("locks"))
        .args(["run", "--no-history", "--bench", BENCH, "--lab"])
        .arg(lab)
        .arg("--out")
        .arg(&out);
    for scenario in scenarios {
        command.args(["--scenario", scenario]);
    }
    let output = command.output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = std::fs::read_to_string(out.join("summary.json"))
        .unwrap_or_else(|e| panic!("no summary.json in {}: {e}\n{said}", out.display()));
    let summary: serde_json::Value = serde_json::from_str(&summary).unwrap();
    let cases = summary["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            scenario: c["scenario"].as_str().unwrap_or_default().to_string(),
            outcome: c["outcome"].as_str().unwrap_or_default().to_string(),
            detail: c["detail"].as_str().unwrap_or_default().to_string(),
        })
        .collect();
    (output.status.code().unwrap_or(-1), cases, said)
}

#[test]
fn the_auto_p_reset_and_a_tftp_recovery_over_dhcp_match_the_loopback_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let lab = vlan_lab(dir.path(), 69);
    let (code, config, stderr) = dnsmasq_config(&lab);
    assert_eq!(code, 0, "{stderr}");
    assert!(!config.contains("WARNING"), "{config}");
    assert!(
        config.contains(&format!(
            "\ndhcp-host=00:15:65:00:00:46,{PHONE_IP},{BENCH}\n"
        )),
        "{config}"
    );
    let vlan = vlan_serving(&config);

    let (code, cases, said) = run_in_vlan(&vlan, &lab, &["autop-password-reset", "tftp-recovery"]);
    let log = vlan.log();
    assert_eq!(cases.len(), 2, "{cases:?}\n{said}");
    for case in &cases {
        assert_eq!(
            case.outcome, "pass",
            "{}: {}\n{said}\ndnsmasq: {log}",
            case.scenario, case.detail
        );
    }
    assert_eq!(code, 0, "{said}");
    // The phone did ask: the whole exchange is in dnsmasq's log, for the bench's MAC, and
    // each boot (baseline, given, recovery, its reboot) asked again.
    for step in ["DHCPDISCOVER", "DHCPOFFER", "DHCPREQUEST", "DHCPACK"] {
        assert!(
            log.contains(&format!("{step}({})", real_parts_support::lab_vlan::BRIDGE)),
            "no {step} in dnsmasq's log: {log}"
        );
    }
    assert!(
        log.contains(&format!(
            "DHCPACK(lab-vlan) {PHONE_IP} 00:15:65:00:00:46 {BENCH}"
        )),
        "{log}"
    );
    let acks = log.matches("DHCPACK(").count();
    assert!(
        acks >= 4,
        "{acks} leases for the boots of two scenarios: {log}"
    );
}

#[test]
fn without_option_66_a_factory_phone_never_reaches_the_lab_baseline_a_lab_fault() {
    let dir = tempfile::tempdir().unwrap();
    let lab = vlan_lab(dir.path(), 69);
    let (code, config, stderr) = dnsmasq_config(&lab);
    assert_eq!(code, 0, "{stderr}");
    // A lab whose DHCP server lost option 66 (written by hand, or another server's).
    let broken: String = config
        .lines()
        .filter(|l| !l.starts_with("dhcp-option-force=tag:yealink-lab,66,"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(broken, config, "the printed config has option 66");
    let vlan = vlan_serving(&broken);

    let (code, cases, said) = run_in_vlan(&vlan, &lab, &["autop-password-reset"]);
    assert_eq!(cases.len(), 1, "{cases:?}\n{said}");
    // A factory phone with no URL from any source asks nothing (P1): the harness cannot
    // bring it to the lab's baseline, which is the lab's fault, not the firmware's.
    assert_eq!(cases[0].outcome, "lab-fault", "{cases:?}\n{said}");
    assert!(
        cases[0].detail.contains("did not reach the lab baseline"),
        "{cases:?}"
    );
    assert_ne!(code, 0, "{said}");
    assert!(vlan.log().contains("DHCPACK("), "the phone got its address");
}

#[test]
fn a_tftp_endpoint_off_port_69_is_refused_by_the_generator_and_fails_the_tftp_wait() {
    let dir = tempfile::tempdir().unwrap();
    let wrong = vlan_lab(dir.path(), 6969);
    // `harness lab dnsmasq` refuses the lab: the bootloader asks option 66's host on port 69.
    let (code, config, stderr) = dnsmasq_config(&wrong);
    assert_eq!(code, 2, "{config}{stderr}");
    assert_eq!(config, "");
    assert!(stderr.contains("[endpoints] tftp"), "{stderr}");
    assert!(stderr.contains("69"), "{stderr}");

    // Run anyway, with the configuration of the right lab: the phones' TFTP server (option
    // 66's host, port 69) has no server behind it, and the recovery's first wait sees no
    // TFTP read, as the scenario's snapshot predicts it must see one.
    let right = vlan_lab(&dir.path().join("right"), 69);
    let (code, config, stderr) = dnsmasq_config(&right);
    assert_eq!(code, 0, "{stderr}");
    let vlan = vlan_serving(&config);
    let (code, cases, said) = run_in_vlan(&vlan, &wrong, &["tftp-recovery"]);
    assert_eq!(cases.len(), 1, "{cases:?}\n{said}");
    assert_eq!(cases[0].outcome, "fail", "{cases:?}\n{said}");
    assert!(
        cases[0].detail.contains("+  none within the timeout"),
        "the TFTP wait saw nothing: {}",
        cases[0].detail
    );
    assert!(
        cases[0]
            .detail
            .contains("-  tftp: read T46G.bin (whole file)"),
        "{}",
        cases[0].detail
    );
    assert_ne!(code, 0, "{said}");
}
