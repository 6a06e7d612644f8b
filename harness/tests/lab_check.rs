//! `harness lab check` against the virtual bench: every device found and read without
//! switching anything, then a relay board unplugged and reported missing with exit code 3.

mod common;

use std::process::Command;

use harness::lab_check::{Presence, check_exit_code, check_lab, render_check};
use harness::outcome::exit_code;
use harness::virtual_bench::VirtualLab;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_check_finds_every_device_then_reports_an_unplugged_board() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = common::root().join("firmware-fixtures");
    let lab_path = common::private_lab_one_per_model(dir.path(), [0; 5], &fixtures);
    let lab = harness::lab::load(&lab_path).unwrap_or_else(|e| panic!("{e}"));
    let tftp = "127.0.0.1:69".parse().unwrap();
    let virtual_lab = VirtualLab::start(&lab, "http://127.0.0.1:1/", tftp)
        .await
        .expect("the virtual bench starts");

    let locks = dir.path().join("locks");
    let rows = check_lab(&lab, &locks).await;
    let table = render_check(&rows);
    // Every bench: power, network and actuator each, and a stick.
    assert_eq!(rows.len(), lab.benches.len() * 4, "{table}");
    assert!(
        rows.iter().all(|r| r.presence == Presence::Found),
        "{table}"
    );
    assert_eq!(check_exit_code(&rows), exit_code::PASS);
    let t40p_power = &rows[0];
    assert_eq!(t40p_power.device, "power relay-power/1");
    // The LCUS board cannot read its relays back; the Numato can, and nothing was switched
    // on; the actuator holds nothing.
    assert_eq!(t40p_power.state, "not readable", "{table}");
    assert_eq!(rows[1].state, "relay off", "{table}");
    assert_eq!(rows[2].state, "no key held", "{table}");
    assert!(table.starts_with("bench"), "{table}");

    // The binary prints the same table and exits 0.
    let lab_arg = lab_path.clone();
    let lock_arg = locks.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(common::harness_exe())
            .args(["lab", "check", "--lab"])
            .arg(&lab_arg)
            .arg("--lock-dir")
            .arg(&lock_arg)
            .output()
            .expect("run harness")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("actuator keys-t48s"), "{stdout}");
    assert!(!stdout.contains("MISSING"), "{stdout}");

    virtual_lab
        .bench()
        .unplug_relay_board("relay-power")
        .expect("unplug");
    let rows = check_lab(&lab, &locks).await;
    let table = render_check(&rows);
    let power: Vec<_> = rows
        .iter()
        .filter(|r| r.device.starts_with("power "))
        .collect();
    assert_eq!(power.len(), lab.benches.len());
    assert!(
        power
            .iter()
            .all(|r| matches!(r.presence, Presence::Missing(_))),
        "{table}"
    );
    assert!(
        rows.iter()
            .filter(|r| !r.device.starts_with("power "))
            .all(|r| r.presence == Presence::Found),
        "{table}"
    );
    assert!(table.contains("MISSING"), "{table}");
    assert_eq!(check_exit_code(&rows), exit_code::LAB_FAULT);

    virtual_lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_check_names_the_holder_of_a_bench_in_use_and_leaves_its_devices_alone() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = common::root().join("firmware-fixtures");
    let lab_path = common::private_lab_one_per_model(dir.path(), [0; 5], &fixtures);
    let lab = harness::lab::load(&lab_path).unwrap_or_else(|e| panic!("{e}"));
    let tftp = "127.0.0.1:69".parse().unwrap();
    let virtual_lab = VirtualLab::start(&lab, "http://127.0.0.1:1/", tftp)
        .await
        .expect("the virtual bench starts");
    let locks = dir.path().join("locks");
    let (held, _) = harness::safety::lock::acquire(
        &locks,
        "t46g",
        "a run in another process",
        harness::safety::lock::LockWait::NoWait,
        |_| {},
    )
    .await
    .unwrap();

    let rows = check_lab(&lab, &locks).await;
    let table = render_check(&rows);
    let t46g: Vec<_> = rows.iter().filter(|r| r.bench == "t46g").collect();
    assert_eq!(t46g.len(), 1, "{table}");
    match &t46g[0].presence {
        Presence::InUse(why) => assert!(
            why.contains(&format!("pid {}", std::process::id()))
                && why.contains("a run in another process"),
            "{why}"
        ),
        other => panic!("{other:?}\n{table}"),
    }
    assert!(!table.contains("MISSING"), "{table}");
    assert_eq!(check_exit_code(&rows), exit_code::PASS, "{table}");
    // The other benches were checked, but for the relay boards they share with t46g,
    // which its owner has open; and their leases were given back.
    for r in rows.iter().filter(|r| r.bench != "t46g") {
        if r.device.starts_with("power ") || r.device.starts_with("network ") {
            assert!(matches!(r.presence, Presence::InUse(_)), "{table}");
        } else {
            assert_eq!(r.presence, Presence::Found, "{table}");
        }
    }
    assert!(!locks.join("t40p.lock").exists());
    held.release().unwrap();
    virtual_lab.shutdown().await;
}
