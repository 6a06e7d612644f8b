//! The twin's lab reader on the real virtual lab file and on broken ones.

use std::path::{Path, PathBuf};

use yealink_twin::lab::{LabError, LabFile, RelayKind, TwinLab};

fn virtual_lab_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../virtual.toml")
}

/// The real lab file with one bench per model (every `count` left out): the tests below
/// rewire single entries, which a pool's copies would otherwise still refer to.
fn virtual_lab_text() -> String {
    let text = std::fs::read_to_string(virtual_lab_path()).unwrap();
    let mut one_each: String = text
        .lines()
        .filter(|line| !line.starts_with("count = "))
        .collect::<Vec<_>>()
        .join("\n");
    one_each.push('\n');
    one_each
}

/// The real lab file with one line swapped, checked in `dir`.
fn with_replaced(dir: &Path, from: &str, to: &str) -> Result<TwinLab, LabError> {
    let text = virtual_lab_text();
    assert!(text.contains(from), "the lab file no longer holds {from:?}");
    TwinLab::from_str(&text.replacen(from, to, 1), dir)
}

fn invalid_key(err: LabError) -> String {
    match err {
        LabError::Invalid { key, .. } => key,
        other => panic!("expected an invalid-key error, got {other}"),
    }
}

#[test]
fn the_real_virtual_lab_parses() {
    let lab = TwinLab::from_file(&virtual_lab_path()).unwrap();
    assert_eq!(lab.time_scale, 0.01);
    assert_eq!(
        lab.provisioning_url().as_deref(),
        Some("http://127.0.0.1:18080/")
    );
    // A pool of benches per model, each with its own actuator and pair of boards.
    let per_model = lab.benches.len() / 8;
    assert_eq!(lab.benches.len(), 8 * per_model);
    assert_eq!(lab.relay_boards.len(), 2 * per_model);
    assert_eq!(lab.relay_boards[0].kind, RelayKind::Lcus);
    assert_eq!(lab.relay_boards[per_model].kind, RelayKind::Numato);
    assert_eq!(lab.actuators.len(), lab.benches.len());
    let t46g = lab.bench("t46g").unwrap();
    assert_eq!(t46g.model, "T46G");
    assert_eq!(t46g.mac_colons(), "00:15:65:00:00:46");
    assert_eq!(t46g.ip.to_string(), "127.0.0.46");
    assert_eq!(
        (t46g.power.board.as_str(), t46g.power.channel),
        ("relay-power", 4)
    );
    assert_eq!(t46g.network.as_ref().map(|n| n.channel), Some(3));
    assert_eq!(t46g.keys.get(&1).map(String::as_str), Some("speaker"));
    assert_eq!(t46g.keys.get(&21).map(String::as_str), Some("pound"));
    assert!(lab.firmware_dir.ends_with("../firmware-fixtures"));
    assert_eq!(lab.initial_firmware, "current");
}

#[test]
fn a_missing_file_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let err = TwinLab::from_file(&dir.path().join("nope.toml")).unwrap_err();
    assert!(matches!(err, LabError::Read { .. }));
    assert!(err.to_string().contains("nope.toml"), "{err}");
}

#[test]
fn syntax_errors_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lab.toml");
    let text = std::fs::read_to_string(virtual_lab_path()).unwrap();
    let line = 1 + text[..text.find("time_scale = 0.01").unwrap()]
        .lines()
        .count();
    std::fs::write(
        &path,
        text.replacen("time_scale = 0.01", "time_scale = \"fast\"", 1),
    )
    .unwrap();
    let err = TwinLab::from_file(&path).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, LabError::Syntax { .. }), "{text}");
    assert!(
        text.contains("lab.toml") && text.contains(&format!("line {line}")),
        "{text}"
    );
}

#[test]
fn bad_values_name_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases = [
        ("time_scale = 0.01", "time_scale = -1.0", "lab.time_scale"),
        (
            "provisioning = \"127.0.0.1:18080\"",
            "provisioning = \"somewhere\"",
            "endpoints.provisioning",
        ),
        (
            "kind = \"lcus\"",
            "kind = \"usb-hid\"",
            "relay_board[0].kind",
        ),
        (
            "channels = 8\n\n[[relay_board]]",
            "channels = 0\n\n[[relay_board]]",
            "relay_board[0].channels",
        ),
        ("model = \"T46G\"", "model = \"T99\"", "bench[3].model"),
        (
            "mac = \"00:15:65:00:00:46\"",
            "mac = \"00:15:65\"",
            "bench[3].mac",
        ),
        (
            "ip = \"127.0.0.46\"",
            "ip = \"192.168.1.46\"",
            "bench[3].ip",
        ),
        ("ip = \"127.0.0.46\"", "ip = \"127.0.0.40\"", "bench[3].ip"),
        (
            "board = \"relay-power\", channel = 4",
            "board = \"relay-pwr\", channel = 4",
            "bench[3].power.board",
        ),
        (
            "board = \"relay-power\", channel = 4",
            "board = \"relay-power\", channel = 9",
            "bench[3].power.channel",
        ),
        (
            "board = \"relay-power\", channel = 4",
            "board = \"relay-power\", channel = 3",
            "bench[3].power.channel",
        ),
        (
            "board = \"relay-net\", channel = 3",
            "board = \"relay-net\", channel = 8",
            "bench[3].network.channel",
        ),
        (
            "actuator = \"keys-t46g\"",
            "actuator = \"keys-t99\"",
            "bench[3].actuator",
        ),
        (
            "actuator = \"keys-t46g\"",
            "actuator = \"keys-t40p\"",
            "bench[3].actuator",
        ),
        (
            "keymap = \"t4x\"\nsafe_power",
            "keymap = \"t5x\"\nsafe_power",
            "bench[0].keymap",
        ),
        ("pound = 21", "pound = 25", "keymap.t4x.pound"),
        ("pound = 21", "hash = 22", "keymap.t4x.hash"),
        ("pound = 21", "pound = 20", "keymap.t4x.star"),
        (
            "initial_firmware = \"current\"",
            "initial_firmware = \"\"",
            "twin.initial_firmware",
        ),
    ];
    for (from, to, key) in cases {
        let err = with_replaced(d, from, to).expect_err(to);
        let text = err.to_string();
        assert!(text.starts_with("lab text"), "{text}");
        assert_eq!(
            invalid_key(err),
            key,
            "replacing {from:?} by {to:?}: {text}"
        );
    }
}

#[test]
fn a_missing_required_key_is_named_with_its_table() {
    let dir = tempfile::tempdir().unwrap();
    let err = with_replaced(dir.path(), "initial_firmware = \"current\"", "").unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, LabError::Syntax { .. }), "{text}");
    assert!(
        text.contains("initial_firmware") && text.contains("[twin]"),
        "{text}"
    );
}

#[test]
fn missing_twin_table_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let text = virtual_lab_text();
    let cut = text.find("[twin]").unwrap();
    let err = TwinLab::from_str(&text[..cut], dir.path()).unwrap_err();
    assert!(err.to_string().contains("[twin]"), "{err}");
}

fn write_manifest(dir: &Path, model: &str, rom: Option<&str>) {
    let folder = dir.join("fw").join(model);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("manifest.toml"),
        format!(
            "model = \"{model}\"\nfamily = 28\n\n[[image]]\ngeneration = \"legacy\"\nversion = \"28.80.0.70\"\nrom = \"old.rom\"\n\n[[image]]\ngeneration = \"current\"\nversion = \"28.83.0.120\"\nrom = \"T46-28.83.0.120.rom\"\n"
        ),
    )
    .unwrap();
    if let Some(rom) = rom {
        std::fs::write(folder.join(rom), b"rom").unwrap();
    }
}

#[test]
fn initial_firmware_resolves_through_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    write_manifest(dir.path(), "T46G", Some("T46-28.83.0.120.rom"));
    let lab = with_replaced(
        dir.path(),
        "firmware_dir = \"../firmware-fixtures\"",
        "firmware_dir = \"fw\"",
    )
    .unwrap();
    let rom = lab.initial_firmware_path("T46G").unwrap();
    assert_eq!(rom, dir.path().join("fw/T46G/T46-28.83.0.120.rom"));

    let err = lab.initial_firmware_path("T48G").unwrap_err();
    assert_eq!(invalid_key(err), "twin.firmware_dir");

    let lab = with_replaced(
        dir.path(),
        "firmware_dir = \"../firmware-fixtures\"\ninitial_firmware = \"current\"",
        "firmware_dir = \"fw\"\ninitial_firmware = \"min\"",
    )
    .unwrap();
    let err = lab.initial_firmware_path("T46G").unwrap_err();
    let text = err.to_string();
    assert!(text.contains("legacy, current"), "{text}");
    assert_eq!(invalid_key(err), "twin.initial_firmware");
}

#[test]
fn a_manifest_naming_a_missing_rom_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_manifest(dir.path(), "T46G", None);
    let lab = with_replaced(
        dir.path(),
        "firmware_dir = \"../firmware-fixtures\"",
        "firmware_dir = \"fw\"",
    )
    .unwrap();
    let err = lab.initial_firmware_path("T46G").unwrap_err();
    assert!(err.to_string().contains("T46-28.83.0.120.rom"), "{err}");
}

#[test]
fn a_bench_without_web_port_listens_on_80() {
    let dir = tempfile::tempdir().unwrap();
    let lab = with_replaced(dir.path(), "web_port = 8080\n", "").unwrap();
    assert_eq!(lab.benches[0].web_port, 80);
    assert_eq!(lab.bench("t41p").unwrap().web_port, 8080);
}

#[test]
fn the_example_rack_is_read_but_not_built() {
    let rack = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rack.example.toml");
    let file = LabFile::read(&rack).unwrap();
    let kinds: Vec<&str> = file.other_boards.iter().map(|b| b.kind.as_str()).collect();
    assert_eq!(kinds, ["ykush", "pdudaemon"]);
    assert_eq!(file.relay_boards.len(), 2);
    assert_eq!(file.benches.len(), 4);
    // Its phones are on the lab VLAN, not on loopback, and it has no [twin] table.
    assert_eq!(
        invalid_key(TwinLab::from_file(&rack).unwrap_err()),
        "bench[0].ip"
    );
}

#[test]
fn a_bench_wired_to_what_the_virtual_bench_does_not_build_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let pdu = "[[relay_board]]\nname = \"pdu\"\nkind = \"pdudaemon\"\nurl = \"http://localhost:16421\"\npdu = \"p1\"\nchannels = 8\n\n[[relay_board]]";
    let err = with_replaced(dir.path(), "[[relay_board]]", pdu);
    assert!(err.is_ok(), "an unused PDU is set aside: {:?}", err.err());
    let text = virtual_lab_text()
        .replacen("[[relay_board]]", pdu, 1)
        .replacen(
            "board = \"relay-power\", channel = 1",
            "board = \"pdu\", channel = 1",
            1,
        );
    assert_eq!(
        invalid_key(TwinLab::from_str(&text, dir.path()).unwrap_err()),
        "bench[0].power.board"
    );
    assert!(LabFile::from_str(&text, dir.path()).is_ok());

    let relay_keys = "name = \"keys-t40p\"\nkind = \"relay\"\nrelay_board = \"keys-relays\"\nrelays = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21]\n\n[[relay_board]]\nname = \"keys-relays\"\nkind = \"lcus\"\nport = \"/tmp/keys-relays\"\nchannels = 24\n\n[[actuator]]\nname = \"keys-t41p\"";
    let text = virtual_lab_text().replacen(
        "name = \"keys-t40p\"\nport = \"/tmp/yealink-virtual-lab/serial/by-id/usb-yealink-lab_actuator_keys-t40p-if00\"\nchannels = 24\n\n[[actuator]]\nname = \"keys-t41p\"",
        relay_keys,
        1,
    );
    assert!(
        text.contains("kind = \"relay\""),
        "the actuator was not rewired"
    );
    let file = LabFile::from_str(&text, dir.path()).unwrap();
    assert_eq!(file.relay_actuators[0].relays.len(), 21);
    assert_eq!(
        invalid_key(TwinLab::from_lab_file(file).unwrap_err()),
        "bench[0].actuator"
    );
}
