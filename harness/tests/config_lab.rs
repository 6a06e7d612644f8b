//! The lab-file loader: each kind of mistake paired with the exact message an operator sees
//! (file:line:col, key path, what was expected), and the real lab files loading cleanly.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

#[path = "common/lab_rows.rs"]
mod lab_rows;

use lab_rows::{BASE, KEYS_ON_RELAYS, TIME_SCALE_RANGE, edited, mistake_rows, run_breaking_rows};

use harness::drivers::power::lcus::{LCUS, LcusFrame};
use harness::drivers::power::numato::NUMATO;
use harness::drivers::power::registry::UsbSelection;
use harness::drivers::power::{hid_relay::USB_HID_RELAY, ykush::YKUSH};
use harness::lab::{
    self, ActuatorKind, Approval, FaultPolicy, Key, Mac, Model, PowerState, RelayChannel, RelayKind,
};

fn error_of(text: &str) -> String {
    match lab::parse(text, Path::new("lab.toml")) {
        Ok(lab) => panic!("expected an error, the lab loaded: {lab:?}"),
        Err(error) => error.to_string(),
    }
}

fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

#[test]
fn base_lab_loads_with_defaults_filled_in() {
    let lab = lab::parse(BASE, Path::new("lab.toml")).expect("the base lab is valid");
    assert_eq!(lab.source, PathBuf::from("lab.toml"));
    assert_eq!(lab.name, "bench-test");
    assert_eq!(
        lab.relay_boards[0].kind,
        RelayKind::new(&LCUS, LcusFrame::default())
    );
    assert_eq!(lab.relay_boards[1].kind, RelayKind::new(&NUMATO, ()));
    let one = &lab.benches[0];
    assert_eq!(one.web_port, 80);
    assert_eq!(one.safe_power, PowerState::Off);
    assert_eq!(one.approval, Approval::None);
    assert_eq!(one.keys.len(), 19);
    assert_eq!(one.keys[&Key("pound".into())], 19);
    let two = &lab.benches[1];
    assert_eq!(two.web_port, 8080);
    assert_eq!(two.safe_power, PowerState::On);
    assert_eq!(two.approval, Approval::Required);
    assert_eq!(
        two.network,
        Some(RelayChannel {
            board: "net".into(),
            channel: 1
        })
    );
    assert_eq!(lab.twin, None);
}

#[test]
fn each_kind_of_mistake_gets_its_exact_message() {
    let rows = mistake_rows();
    let mut failures = Vec::new();
    for (what, edits, expected) in &rows {
        let actual = error_of(&edited(edits));
        if &actual != expected {
            failures.push(format!(
                "{what}:\n  expected: {expected}\n  actual:   {actual}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} rows differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Values that passed the check and then broke a run: each is refused with its file, line,
/// key and why.
#[test]
fn values_that_would_break_a_run_are_refused() {
    let rows = run_breaking_rows();
    let mut failures = Vec::new();
    for (what, edits, expected) in &rows {
        let actual = error_of(&edited(edits));
        if &actual != expected {
            failures.push(format!(
                "{what}:\n  expected: {expected}\n  actual:   {actual}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} rows differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_time_scale_range_ends_are_accepted() {
    for scale in ["0.001", "0.01", "10.0"] {
        let text = edited(&[("time_scale = 1.0", &format!("time_scale = {scale}"))]);
        let lab =
            lab::parse(&text, Path::new("lab.toml")).unwrap_or_else(|e| panic!("{scale}: {e}"));
        assert_eq!(lab.time_scale, scale.parse::<f64>().unwrap());
    }
}

#[test]
fn boards_found_on_the_usb_bus_by_distinct_serials_load() {
    let text = edited(&[(
        "approval = \"required\"\n",
        "approval = \"required\"\n\n[[relay_board]]\nname = \"hub-a\"\nkind = \"ykush\"\nserial = \"YK1\"\n\n\
         [[relay_board]]\nname = \"hub-b\"\nkind = \"ykush\"\nserial = \"YK2\"\n",
    )]);
    let lab = lab::parse(&text, Path::new("lab.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(lab.relay_boards.len(), 4);
}

#[test]
fn a_missing_name_lists_a_dozen_known_names_and_counts_the_rest() {
    let mut text = edited(&[(
        "board = \"power\", channel = 1",
        "board = \"pwr\", channel = 1",
    )]);
    for n in 0..30 {
        text.push_str(&format!(
            "\n[[relay_board]]\nname = \"extra-{n:02}\"\nkind = \"pdudaemon\"\nurl = \"http://localhost:16421\"\npdu = \"pdu-{n:02}\"\nchannels = 8\n"
        ));
    }
    let message = error_of(&text);
    let known: Vec<String> = [
        "extra-00", "extra-01", "extra-02", "extra-03", "extra-04", "extra-05", "extra-06",
        "extra-07", "extra-08", "extra-09", "extra-10", "extra-11",
    ]
    .iter()
    .map(|n| format!("`{n}`"))
    .collect();
    assert_eq!(
        message,
        format!(
            "lab.toml:60:19: bench[0].power.board: no relay board named `pwr` (relay boards: {} and 20 more)",
            known.join(", ")
        )
    );
}

#[test]
fn the_lab_fault_policy_has_defaults_and_takes_each_key_alone() {
    let policy = |text: &str| {
        lab::parse(text, Path::new("lab.toml"))
            .unwrap_or_else(|e| panic!("{e}"))
            .faults
    };
    assert_eq!(
        policy(BASE),
        FaultPolicy {
            retries: 1,
            health_check_timeout_s: 300
        }
    );
    let with = |table: &str| {
        edited(&[(
            "time_scale = 1.0\n",
            &format!("time_scale = 1.0\n\n[lab_faults]\n{table}\n"),
        )])
    };
    assert_eq!(
        policy(&with("retries = 0")),
        FaultPolicy {
            retries: 0,
            health_check_timeout_s: 300
        }
    );
    assert_eq!(
        policy(&with("health_check_timeout_s = 600\nretries = 5")),
        FaultPolicy {
            retries: 5,
            health_check_timeout_s: 600
        }
    );
}

#[test]
fn every_problem_of_a_file_is_reported_in_line_order() {
    let text = edited(&[
        ("time_scale = 1.0", "time_scale = -1.0"),
        ("model = \"T46G\"", "model = \"T99\""),
        ("ip = \"127.0.0.12\"", "ip = \"127.0.0.11\""),
        ("safe_power = \"on\"", "safe_power = \"sometimes\""),
    ]);
    let error = lab::parse(&text, Path::new("lab.toml")).unwrap_err();
    let lines: Vec<String> = error.problems().iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            format!("lab.toml:3:14: {TIME_SCALE_RANGE} -1").as_str(),
            "lab.toml:57:9: bench[0].model: unknown model `T99`, expected one of T40P, T41P, T42G, T46G, T48G, T42S, \
             T46S, T48S",
            "lab.toml:75:14: bench[1].safe_power: unknown variant `sometimes`, expected `on` or `off`",
        ]
    );
    // The IP clash is not reported: bench[1] could not be read, so it is not checked
    // against bench[0] (its own problem is already on the list).
    assert_eq!(error.to_string(), lines.join("\n"));
}

#[test]
fn a_broken_board_is_not_reported_again_as_missing() {
    // The board `net` fails to read; the benches that use it must not add "no relay board
    // named `net`" lines that would send the operator looking for a typo that isn't there.
    let text = edited(&[("kind = \"numato\"", "kind = \"numato\"\nchannel = 4")]);
    assert_eq!(
        error_of(&text),
        "lab.toml:21:1: relay_board[1].channel: unknown field `channel`, expected one of `name`, `kind`, `port`, \
         `channels`, `count`, `frame`, `serial`, `url`, `pdu`, `timeout_s`"
    );
}

#[test]
fn keys_on_relays_and_the_usb_kinds_load() {
    let text = edited(&[
        (
            "port = \"/dev/serial/by-id/usb-yealink-lab_actuator_keys-2-if00\"\nchannels = 32",
            KEYS_ON_RELAYS,
        ),
        (
            "kind = \"numato\"\nport = \"/dev/serial/by-id/usb-Numato_Systems_4_Channel_USB_Relay_Module-if00\"\nchannels = 4",
            "kind = \"usb-hid-relay\"\nserial = \"QAAMZ\"\nchannels = 4",
        ),
        (
            "network = { board = \"net\", channel = 0 }",
            "network = { board = \"net\", channel = 3 }",
        ),
        (
            "network = { board = \"net\", channel = 1 }",
            "network = { board = \"net\", channel = 4 }",
        ),
    ]);
    let lab = lab::parse(&text, Path::new("lab.toml")).unwrap_or_else(|e| panic!("{e}"));
    let net = lab.relay_boards.iter().find(|b| b.name == "net").unwrap();
    assert_eq!(net.port, None);
    assert_eq!(
        net.kind,
        RelayKind::new(
            &USB_HID_RELAY,
            UsbSelection {
                serial: Some("QAAMZ".into())
            }
        )
    );
    assert_eq!(net.first_channel(), 1);
    let keys = lab.actuators.iter().find(|a| a.name == "keys-2").unwrap();
    assert_eq!(keys.port, None);
    assert_eq!(keys.channels, 19);
    match &keys.kind {
        ActuatorKind::Relay { board, relays } => {
            assert_eq!(board.name, "key-relays");
            assert_eq!(relays.len(), 19);
            assert_eq!(relays[18], 19);
        }
        other => panic!("expected keys on relays, got {other:?}"),
    }
    assert_eq!(lab.actuators[0].kind, ActuatorKind::Serial);
}

#[test]
fn a_lab_without_benches_is_refused() {
    let end_of_keymap = BASE.find("[[bench]]").unwrap();
    assert_eq!(
        error_of(&BASE[..end_of_keymap]),
        "lab.toml:1:1: bench: the lab has no `[[bench]]`: nothing could run"
    );
}

#[test]
fn a_custom_lcus_frame_and_the_twin_table_are_kept() {
    let text = edited(&[
        (
            "kind = \"lcus\"",
            "kind = \"lcus\"\nframe = { header = 0xA1, on = 0x02 }",
        ),
        (
            "approval = \"required\"\n",
            "approval = \"required\"\n\n[twin]\nfirmware_dir = \"fixtures\"\n",
        ),
    ]);
    let lab = lab::parse(&text, Path::new("lab.toml")).unwrap();
    assert_eq!(
        lab.relay_boards[0].kind,
        RelayKind::new(
            &LCUS,
            LcusFrame {
                header: 0xA1,
                on: 0x02,
                off: 0x00
            }
        )
    );
    let twin = lab.twin.expect("[twin] is kept");
    assert_eq!(twin["firmware_dir"].as_str(), Some("fixtures"));
}

#[test]
fn an_unreadable_file_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-lab.toml");
    let error = lab::load(&missing).unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("{}: cannot read the file: ", missing.display())),
        "unexpected message: {message}"
    );
    assert!(
        message.ends_with("(check the path and its permissions)"),
        "unexpected message: {message}"
    );
}

#[test]
fn the_virtual_lab_loads() {
    let lab = lab::load(&repo_file("lab/virtual.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(lab.name, "virtual");
    assert_eq!(lab.time_scale, 0.01);
    assert_eq!(lab.faults, FaultPolicy::default());
    assert_eq!(
        lab.endpoints.sip,
        "127.0.0.1:15060".parse::<SocketAddr>().unwrap()
    );
    // A pool per model: every bench with its own actuator and its own pair of boards.
    let per_model = lab.benches.len() / Model::ALL.len();
    assert!(per_model >= 1);
    assert_eq!(lab.benches.len(), per_model * Model::ALL.len());
    assert_eq!(lab.relay_boards.len(), 2 * per_model);
    assert_eq!(lab.actuators.len(), lab.benches.len());
    for model in Model::ALL {
        let pool = lab.benches.iter().filter(|b| b.model == model).count();
        assert_eq!(pool, per_model, "{model}");
    }
    let first_copies: Vec<Model> = lab
        .benches
        .iter()
        .filter(|b| !b.name.contains('-'))
        .map(|b| b.model)
        .collect();
    assert_eq!(first_copies, Model::ALL);
    if per_model >= 2 {
        let copy = lab.benches.iter().find(|b| b.name == "t48s-2").unwrap();
        assert_eq!(copy.mac, Mac::parse("00:15:65:01:01:48").unwrap());
        assert_eq!(copy.ip, Ipv4Addr::new(127, 0, 1, 58));
        assert_eq!(copy.power.board, "relay-power-2");
        assert_eq!(copy.actuator, "keys-t48s-2");
    }
    let t48s = lab.benches.iter().find(|b| b.name == "t48s").unwrap();
    assert_eq!(t48s.mac, Mac::parse("00:15:65:00:01:48").unwrap());
    assert_eq!(t48s.ip, Ipv4Addr::new(127, 0, 1, 48));
    assert_eq!(t48s.web_port, 8080);
    assert_eq!(
        t48s.power,
        RelayChannel {
            board: "relay-power".into(),
            channel: 8
        }
    );
    assert_eq!(
        t48s.network,
        Some(RelayChannel {
            board: "relay-net".into(),
            channel: 7
        })
    );
    assert_eq!(t48s.keys[&Key("pound".into())], 21);
    assert_eq!(t48s.actuator, "keys-t48s");
    let twin = lab.twin.expect("the virtual lab has a [twin] table");
    assert_eq!(twin["initial_firmware"].as_str(), Some("current"));
}

#[test]
fn the_example_rack_loads() {
    let lab = lab::load(&repo_file("lab/rack.example.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(lab.time_scale, 1.0);
    assert_eq!(lab.benches.len(), 4);
    assert_eq!(lab.actuators.len(), 4);
    let kinds: Vec<&str> = lab.relay_boards.iter().map(|b| b.kind.name()).collect();
    assert_eq!(kinds, ["lcus", "numato", "ykush", "pdudaemon"]);
    // Real rack wiring goes through stable /dev/serial/by-id links, never /dev/ttyUSBn.
    let by_id = |port: &Option<PathBuf>| {
        port.as_deref()
            .is_some_and(|p| p.starts_with("/dev/serial/by-id/"))
    };
    let serial_boards = lab
        .relay_boards
        .iter()
        .filter(|b| ["lcus", "numato"].contains(&b.kind.name()));
    assert!(serial_boards.clone().all(|b| by_id(&b.port)));
    assert!(
        lab.relay_boards
            .iter()
            .filter(|b| !serial_boards.clone().any(|s| s == *b))
            .all(|b| b.port.is_none())
    );
    assert!(lab.actuators.iter().all(|a| by_id(&a.port)));
    let ykush = &lab.relay_boards[2];
    assert_eq!(ykush.channels, 3);
    assert_eq!(
        ykush.kind,
        RelayKind::new(
            &YKUSH,
            UsbSelection {
                serial: Some("YK21234".into())
            }
        )
    );
    for bench in &lab.benches {
        assert!(
            bench.network.is_some(),
            "bench {} has no network relay",
            bench.name
        );
    }
    let desk_4 = lab.benches.iter().find(|b| b.name == "desk-4").unwrap();
    assert_eq!(desk_4.model, Model::T46S);
    assert_eq!(desk_4.approval, Approval::Required);
    assert_eq!(desk_4.safe_power, PowerState::On);
}

/// `BASE` followed by `count` more benches, each with its own mistakes: the even ones an
/// unknown key (a reading error), the odd ones the MAC, IP, power relay and actuator keys of
/// bench `one` (four checking errors, each naming bench `one` or its line). Returns the text
/// and every problem expected, in file order.
fn lab_with_broken_benches(count: usize) -> (String, Vec<String>) {
    let mut text = BASE.to_string();
    let mut expected = Vec::new();
    let mut line = BASE.lines().count() + 1;
    for k in 0..count {
        let index = k + 2;
        let header = line + 1;
        if k % 2 == 0 {
            text.push_str(&format!("\n[[bench]]\nname = \"b{k}\"\ncolour = \"red\"\n"));
            expected.push(format!(
                "lab.toml:{}:1: bench[{index}].colour: unknown field `colour`, expected one of `name`, `model`, \
                 `mac`, `ip`, `web_port`, `power`, `network`, `actuator`, `keymap`, `safe_power`, `approval`, `approved`, `usb`, `dhcp_interface`, `count`",
                header + 2
            ));
            line += 4;
        } else {
            text.push_str(&format!(
                "\n[[bench]]\nname = \"b{k}\"\nmodel = \"T46G\"\nmac = \"00:15:65:00:00:01\"\nip = \"127.0.0.11\"\n\
                 power = {{ board = \"power\", channel = 1 }}\nactuator = \"keys\"\nkeymap = \"t4x\"\n"
            ));
            expected.extend([
                format!(
                    "lab.toml:{}:7: bench[{index}].mac: MAC 00:15:65:00:00:01 is already the MAC of bench `one` \
                     (bench[0])",
                    header + 3
                ),
                format!(
                    "lab.toml:{}:6: bench[{index}].ip: IP 127.0.0.11 is already the address of bench `one` (bench[0])",
                    header + 4
                ),
                format!(
                    "lab.toml:{}:38: bench[{index}].power.channel: channel 1 of relay board `power` is already used \
                     by bench[0].power (line 60)",
                    header + 5
                ),
                format!(
                    "lab.toml:{}:12: bench[{index}].actuator: channel 1 of actuator `keys` already presses a key of \
                     bench `one` (bench[0]); benches sharing an actuator need keymaps on distinct channels",
                    header + 6
                ),
            ]);
            line += 9;
        }
    }
    (text, expected)
}

/// A lab of 20,000 benches with mistakes in each: every problem is found and placed at its
/// own line. Each problem's line comes from an index of line starts and each clash from a
/// map (`config_error.rs`, `check.rs`), so this takes a moment; with a count from the top of
/// the file per problem it took minutes. The timing itself is `lab/bench/lab-check.sh`.
#[test]
fn a_lab_of_20000_broken_benches_reports_every_problem_at_its_line() {
    let (text, expected) = lab_with_broken_benches(20_000);
    let error = lab::parse(&text, Path::new("lab.toml")).unwrap_err();
    let actual: Vec<String> = error.problems().iter().map(ToString::to_string).collect();
    assert_eq!(expected.len(), 50_000);
    assert_eq!(actual.len(), expected.len(), "problem counts differ");
    if let Some((got, want)) = actual.iter().zip(&expected).find(|(got, want)| got != want) {
        panic!("first difference:\n  expected: {want}\n  actual:   {got}");
    }
}

/// A relative stick image is relative to the lab file, as the twin reads it: the harness
/// writes the stick the twin phone finds, whatever folder the harness was started in.
#[test]
fn a_relative_stick_image_is_relative_to_the_lab_file() {
    let text = edited(&[(
        "approval = \"required\"",
        "approval = \"required\"\nusb = { image = \"sticks/two.img\" }",
    )]);
    let lab = lab::parse(&text, Path::new("/labs/rack/lab.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        lab.benches[1].usb,
        Some(lab::UsbConfig::ImageFile {
            path: PathBuf::from("/labs/rack/sticks/two.img")
        })
    );
}

#[test]
fn a_standing_approval_loads_on_a_bench_that_requires_approval() {
    let text = edited(&[(
        "approval = \"required\"",
        "approval = \"required\"\napproved = { by = \"TIER2-7 j.doe\", scenarios = [\"autop-*\", \"usb-recovery\"] }",
    )]);
    let lab = lab::parse(&text, Path::new("lab.toml")).unwrap_or_else(|e| panic!("{e}"));
    let approved = lab.benches[1].approved.as_ref().unwrap();
    assert_eq!(approved.by, "TIER2-7 j.doe");
    assert!(approved.covers("autop-password-reset"));
    assert!(!approved.covers("long-press-legacy"));
    assert_eq!(lab.benches[0].approved, None);
}

#[test]
fn a_standing_approval_that_means_nothing_or_cannot_be_read_is_refused() {
    // On a bench that needs no approval, it would make the bench look guarded.
    let unguarded = edited(&[(
        "keymap = \"t4x\"",
        "keymap = \"t4x\"\napproved = { by = \"T\", scenarios = [\"*\"] }",
    )]);
    assert_eq!(
        error_of(&unguarded),
        "lab.toml:64:12: bench[0].approved: `approved` needs `approval = \"required\"`: on a bench that \
         needs no approval it records nothing"
    );
    let nobody = edited(&[(
        "approval = \"required\"",
        "approval = \"required\"\napproved = { by = \" \", scenarios = [\"*\"] }",
    )]);
    assert!(
        error_of(&nobody).contains("bench[1].approved.by: who approved must be one line"),
        "{}",
        error_of(&nobody)
    );
    let bad_glob = edited(&[(
        "approval = \"required\"",
        "approval = \"required\"\napproved = { by = \"T\", scenarios = [\"autop-[\"] }",
    )]);
    assert!(
        error_of(&bad_glob)
            .contains("bench[1].approved.scenarios[0]: `autop-[` is not a scenario pattern"),
        "{}",
        error_of(&bad_glob)
    );
    let empty = edited(&[(
        "approval = \"required\"",
        "approval = \"required\"\napproved = { by = \"T\", scenarios = [] }",
    )]);
    assert!(
        error_of(&empty).contains("bench[1].approved.scenarios: an approval covers at least one"),
        "{}",
        error_of(&empty)
    );
}
