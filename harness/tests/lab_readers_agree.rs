//! The harness and the twin read one lab file with two readers that share no code. Every lab
//! file in `lab/` and every lab snippet of the lab-file table tests must be read alike
//! (same benches with the same model, MAC, IP, web port, wiring and keys; same devices on
//! the same ports) or refused by both. The harness's reader is the reference for the format;
//! the twin may set aside what it does not model, but must not refuse what the harness
//! accepts, nor accept what it refuses.

#[path = "common/lab_rows.rs"]
mod lab_rows;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use harness::lab::{self, Lab};
use lab_rows::{BASE, KEYS_ON_RELAYS, edited, mistake_rows, run_breaking_rows};
use yealink_twin::lab::{LabFile, TwinLab};

/// One bench as both readers must see it.
#[derive(Debug, PartialEq)]
struct BenchFacts {
    name: String,
    model: String,
    mac: [u8; 6],
    ip: Ipv4Addr,
    web_port: u16,
    power: (String, u16),
    network: Option<(String, u16)>,
    actuator: String,
    /// Actuator channel to key name.
    keys: BTreeMap<u16, String>,
}

/// What both readers must agree on: the benches in file order, and each relay board's and
/// actuator's port by name (`None` for the kinds that have no serial port).
#[derive(Debug, PartialEq)]
struct Facts {
    benches: Vec<BenchFacts>,
    boards: BTreeMap<String, Option<PathBuf>>,
    actuators: BTreeMap<String, Option<PathBuf>>,
}

fn harness_facts(lab: &Lab) -> Facts {
    Facts {
        benches: lab
            .benches
            .iter()
            .map(|b| BenchFacts {
                name: b.name.clone(),
                model: b.model.name().to_string(),
                mac: b.mac.0,
                ip: b.ip,
                web_port: b.web_port,
                power: (b.power.board.clone(), b.power.channel),
                network: b.network.as_ref().map(|n| (n.board.clone(), n.channel)),
                actuator: b.actuator.clone(),
                keys: b.keys.iter().map(|(k, c)| (*c, k.0.clone())).collect(),
            })
            .collect(),
        boards: lab
            .relay_boards
            .iter()
            .map(|b| (b.name.clone(), b.port.clone()))
            .collect(),
        actuators: lab
            .actuators
            .iter()
            .map(|a| (a.name.clone(), a.port.clone()))
            .collect(),
    }
}

fn twin_facts(lab: &LabFile) -> Facts {
    Facts {
        benches: lab
            .benches
            .iter()
            .map(|b| BenchFacts {
                name: b.name.clone(),
                model: b.model.clone(),
                mac: b.mac,
                ip: b.ip,
                web_port: b.web_port,
                power: (b.power.board.clone(), b.power.channel),
                network: b.network.as_ref().map(|n| (n.board.clone(), n.channel)),
                actuator: b.actuator.clone(),
                keys: b.keys.clone(),
            })
            .collect(),
        boards: lab
            .relay_boards
            .iter()
            .map(|b| (b.name.clone(), Some(b.port.clone())))
            .chain(lab.other_boards.iter().map(|b| (b.name.clone(), None)))
            .collect(),
        actuators: lab
            .actuators
            .iter()
            .map(|a| (a.name.clone(), Some(a.port.clone())))
            .chain(lab.relay_actuators.iter().map(|a| (a.name.clone(), None)))
            .collect(),
    }
}

/// How the two readers differ on one lab, if they do.
fn disagreement(harness: Result<Lab, String>, twin: Result<LabFile, String>) -> Option<String> {
    match (harness, twin) {
        (Err(_), Err(_)) => None,
        (Ok(_), Err(twin)) => Some(format!("the harness accepts it, the twin refuses: {twin}")),
        (Err(harness), Ok(_)) => Some(format!(
            "the twin accepts it, the harness refuses: {harness}"
        )),
        (Ok(harness), Ok(twin)) => {
            let (harness, twin) = (harness_facts(&harness), twin_facts(&twin));
            (harness != twin).then(|| {
                format!("both accept it but read it differently:\n  harness: {harness:?}\n  twin:    {twin:?}")
            })
        }
    }
}

/// Both readers on lab text, as a file `lab.toml` in `/labs`.
fn read_text(text: &str) -> (Result<Lab, String>, Result<LabFile, String>) {
    (
        lab::parse(text, Path::new("/labs/lab.toml")).map_err(|e| e.to_string()),
        LabFile::from_str(text, Path::new("/labs")).map_err(|e| e.to_string()),
    )
}

fn lab_files() -> Vec<PathBuf> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lab");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_lab_file_in_lab_is_read_alike() {
    let files = lab_files();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in ["virtual.toml", "rack.example.toml"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} not found in lab/: {names:?}"
        );
    }
    let mut failures = Vec::new();
    for file in &files {
        let harness = lab::load(file).map_err(|e| e.to_string());
        let twin = LabFile::read(file).map_err(|e| e.to_string());
        assert!(harness.is_ok(), "{}: {:?}", file.display(), harness.err());
        if let Some(problem) = disagreement(harness, twin) {
            failures.push(format!("{}: {problem}", file.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every lab in `lab/` with a `[twin]` table is one the virtual bench builds.
#[test]
fn every_virtual_lab_in_lab_starts_the_virtual_bench_reader() {
    let mut virtual_labs = 0;
    for file in lab_files() {
        let harness = lab::load(&file).unwrap_or_else(|e| panic!("{e}"));
        if harness.twin.is_none() {
            continue;
        }
        virtual_labs += 1;
        let twin = TwinLab::from_file(&file).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            twin.benches.len(),
            harness.benches.len(),
            "{}",
            file.display()
        );
    }
    assert!(virtual_labs >= 1, "lab/virtual.toml has a [twin] table");
}

#[test]
fn every_table_snippet_is_refused_by_both_readers() {
    let rows: Vec<_> = mistake_rows()
        .into_iter()
        .chain(run_breaking_rows())
        .collect();
    assert!(rows.len() > 50, "the table tests have {} rows", rows.len());
    let mut failures = Vec::new();
    for (what, edits, _message) in &rows {
        let (harness, twin) = read_text(&edited(edits));
        assert!(harness.is_err(), "{what}: the harness accepts it");
        if let Some(problem) = disagreement(harness, twin) {
            failures.push(format!("{what}: {problem}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

/// A bench's DHCP interface that no Linux interface could be, or that another bench has
/// already, is refused by both readers.
#[test]
fn a_broken_dhcp_interface_is_refused_by_both_readers() {
    for (what, one, two) in [
        ("an empty name", "", "lab-two"),
        (
            "a name longer than 15 characters",
            "lab-one-very-long",
            "lab-two",
        ),
        ("a name with a slash", "lab/one", "lab-two"),
        ("a name with a space", "lab one", "lab-two"),
        ("an alias label", "lab0:1", "lab-two"),
        ("two benches on one interface", "lab0", "lab0"),
    ] {
        let on_two = format!("approval = \"required\"\ndhcp_interface = \"{two}\"");
        let on_one = format!("keymap = \"t4x\"\ndhcp_interface = \"{one}\"\n\n[[bench]]");
        let text = edited(&[
            ("approval = \"required\"", on_two.as_str()),
            ("keymap = \"t4x\"\n\n[[bench]]", on_one.as_str()),
        ]);
        let (harness, twin) = read_text(&text);
        let harness_error = harness.as_ref().err().cloned().unwrap_or_default();
        assert!(
            harness_error.contains("dhcp_interface"),
            "{what}: the harness says {harness_error:?}"
        );
        assert_eq!(disagreement(harness, twin), None, "{what}");
    }
}

/// The snippets the table tests load: the base lab and its accepted variations.
#[test]
fn every_accepted_snippet_is_read_alike() {
    let ykush_hubs = "approval = \"required\"\n\n[[relay_board]]\nname = \"hub-a\"\nkind = \"ykush\"\nserial = \"YK1\"\n\n\
         [[relay_board]]\nname = \"hub-b\"\nkind = \"ykush\"\nserial = \"YK2\"\n";
    let variants: Vec<(&str, String)> = vec![
        ("the base lab", BASE.to_string()),
        (
            "the lowest time scale",
            edited(&[("time_scale = 1.0", "time_scale = 0.001")]),
        ),
        (
            "the highest time scale",
            edited(&[("time_scale = 1.0", "time_scale = 10.0")]),
        ),
        (
            "YKUSH hubs told apart by serial",
            edited(&[("approval = \"required\"\n", ykush_hubs)]),
        ),
        (
            "keys on relays and a USB-HID relay board",
            edited(&[
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
            ]),
        ),
        (
            "a custom LCUS frame and a partial [twin] table",
            edited(&[
                (
                    "kind = \"lcus\"",
                    "kind = \"lcus\"\nframe = { header = 0xA1, on = 0x02 }",
                ),
                (
                    "approval = \"required\"\n",
                    "approval = \"required\"\n\n[twin]\nfirmware_dir = \"fixtures\"\n",
                ),
            ]),
        ),
        (
            "a relative stick image",
            edited(&[(
                "approval = \"required\"",
                "approval = \"required\"\nusb = { image = \"sticks/two.img\" }",
            )]),
        ),
        (
            "a rack's USB-SD-mux",
            edited(&[(
                "approval = \"required\"",
                "approval = \"required\"\nusb = { device = \"/dev/disk/by-id/usb-mux\", size_mb = 7600 }",
            )]),
        ),
        (
            "twin phones asking DHCP on their own interfaces",
            edited(&[
                (
                    "approval = \"required\"",
                    "approval = \"required\"\ndhcp_interface = \"lab-two\"",
                ),
                (
                    "keymap = \"t4x\"\n\n[[bench]]",
                    "keymap = \"t4x\"\ndhcp_interface = \"lab-one.50\"\n\n[[bench]]",
                ),
            ]),
        ),
        (
            "the fault policy",
            edited(&[(
                "time_scale = 1.0\n",
                "time_scale = 1.0\nlock_dir = \"locks\"\n\n[lab_faults]\nretries = 5\nhealth_check_timeout_s = 3600\n",
            )]),
        ),
        (
            "benches sharing an actuator on distinct channels",
            edited(&[
                (
                    "actuator = \"keys-2\"",
                    "actuator = \"keys\"\nkeymap = \"high\"",
                ),
                ("keymap = \"t4x\"\nsafe_power", "safe_power"),
                (
                    "[[bench]]\nname = \"one\"",
                    "[keymap.high]\nspeaker = 21\nok = 22\ncancel = 23\nf1 = 24\nf2 = 25\nf3 = 26\nf4 = 27\n\
                     \"0\" = 28\n\"1\" = 29\n\"2\" = 30\n\"3\" = 31\n\"4\" = 32\n\"5\" = 33\n\"6\" = 34\n\"7\" = 35\n\
                     \"8\" = 36\n\"9\" = 37\nstar = 38\npound = 39\n\n[[bench]]\nname = \"one\"",
                ),
                (
                    "name = \"keys\"\nport = \"/dev/serial/by-id/usb-yealink-lab_actuator_keys-if00\"\nchannels = 24",
                    "name = \"keys\"\nport = \"/dev/serial/by-id/usb-yealink-lab_actuator_keys-if00\"\nchannels = 40",
                ),
            ]),
        ),
    ];
    let mut failures = Vec::new();
    for (what, text) in &variants {
        let (harness, twin) = read_text(text);
        assert!(harness.is_ok(), "{what}: {:?}", harness.err());
        if let Some(problem) = disagreement(harness, twin) {
            failures.push(format!("{what}: {problem}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `count` on benches, boards and actuators: both readers expand an entry into the same
/// copies (names, ports, MACs, addresses by the one rule), and refuse the same mistakes.
#[test]
fn bench_pools_are_read_alike_and_refused_alike() {
    let pool = [
        (
            "name = \"power\"\nkind",
            "name = \"power\"\ncount = 3\nkind",
        ),
        ("name = \"net\"\nkind", "name = \"net\"\ncount = 3\nkind"),
        ("name = \"keys-2\"\n", "name = \"keys-2\"\ncount = 3\n"),
        ("name = \"two\"\n", "name = \"two\"\ncount = 3\n"),
    ];
    let (harness, twin) = read_text(&edited(&pool));
    let lab = harness.as_ref().unwrap_or_else(|e| panic!("{e}")).clone();
    if let Some(problem) = disagreement(harness, twin) {
        panic!("a pool of three: {problem}");
    }
    let names: Vec<&str> = lab.benches.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["one", "two", "two-2", "two-3"]);
    let third = &lab.benches[3];
    assert_eq!(third.mac.0, [0x00, 0x15, 0x65, 0x02, 0x00, 0x02]);
    assert_eq!(third.ip, Ipv4Addr::new(127, 0, 0, 32));
    assert_eq!(third.power.board, "power-3");
    assert_eq!(third.actuator, "keys-2-3");
    let port = &lab
        .actuators
        .iter()
        .find(|a| a.name == "keys-2-3")
        .unwrap()
        .port;
    assert_eq!(
        port.as_deref(),
        Some(Path::new(
            "/dev/serial/by-id/usb-yealink-lab_actuator_keys-2-if00-3"
        ))
    );

    let refused: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "no copies",
            vec![("name = \"two\"\n", "name = \"two\"\ncount = 0\n")],
        ),
        (
            "more copies than a shelf",
            vec![("name = \"two\"\n", "name = \"two\"\ncount = 65\n")],
        ),
        (
            "a copy's address past 255",
            [
                &pool[..],
                &[("ip = \"127.0.0.12\"", "ip = \"127.0.0.240\"")],
            ]
            .concat(),
        ),
        (
            "a copy's MAC past ff",
            [
                &pool[..],
                &[("mac = \"00:15:65:00:00:02\"", "mac = \"00:15:65:fe:00:02\"")],
            ]
            .concat(),
        ),
        (
            "copies of a bench without copies of its board",
            vec![("name = \"two\"\n", "name = \"two\"\ncount = 2\n")],
        ),
        (
            "a copy named like another entry",
            vec![("name = \"keys\"\n", "name = \"keys\"\ncount = 2\n")],
        ),
        (
            "a count that is not a number",
            vec![("name = \"two\"\n", "name = \"two\"\ncount = \"3\"\n")],
        ),
    ];
    let mut failures = Vec::new();
    for (what, edits) in &refused {
        let (harness, twin) = read_text(&edited(edits));
        assert!(harness.is_err(), "{what}: the harness accepts it");
        if let Some(problem) = disagreement(harness, twin) {
            failures.push(format!("{what}: {problem}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
