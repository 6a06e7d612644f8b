//! The scenario-file loader: each kind of mistake paired with the exact message an operator
//! sees (file:line:col, key path, what was expected), and the committed scenarios loading.

use std::path::Path;

use harness::lab::Model;
use harness::scenario::load::{load_dir, load_file, parse};
use harness::scenario::{AccountState, AdminPassword, Given, LinkState, ProvisioningUrl, Step};

/// A small valid scenario. Line numbers in the expected messages below refer to this text.
const BASE: &str = r#"summary = "Auto-P reset on a cancelled account"
source = "KB 'Resetting Admin Password'"
models = ["T46G", "T48S"]
destructive = true

[given]
firmware = "current"
account = "cancelled"
admin_password = "random"

[[step]]
power = "cycle"

[[step]]
dial = "**7283"

[[step]]
tap = "f4"
hold_ms = 250

[[step]]
wait = "call-home"
timeout_s = 60

[[step]]
login = "given"
"#;

/// Every step of `BASE`.
const STEPS: &str = "[[step]]\npower = \"cycle\"\n\n[[step]]\ndial = \"**7283\"\n\n[[step]]\ntap = \"f4\"\n\
hold_ms = 250\n\n[[step]]\nwait = \"call-home\"\ntimeout_s = 60\n\n[[step]]\nlogin = \"given\"\n";

const KEY_NAMES: &str = "`speaker`, `ok`, `cancel`, `f1`, `f2`, `f3`, `f4`, `up`, `down`, `left`, `right`, `1`, \
`2`, `3`, `4`, `5`, `6`, `7`, `8`, `9`, `0`, `star`, `pound`, `mute` or `headset`";

const ACTIONS: &str = "`power`, `hold`, `release`, `tap`, `dial`, `network`, `wait`, `login`, `pause_s`, \
                       `offer_firmware`, `tftp_package`, `usb_stick`, `account` or `provisioning_server`";

/// A table row: what the mistake is, the edits that make it, the exact message.
type Row = (&'static str, Vec<(&'static str, &'static str)>, String);

/// The base scenario with each `(from, to)` replaced once; `from` must occur in it.
fn edited(edits: &[(&str, &str)]) -> String {
    let mut text = BASE.to_string();
    for (from, to) in edits {
        assert!(
            text.contains(from),
            "edit target {from:?} is not in the base scenario"
        );
        text = text.replacen(from, to, 1);
    }
    text
}

fn error_of(text: &str) -> String {
    match parse(text, Path::new("scenarios/reset.toml")) {
        Ok(scenario) => panic!("expected an error, the scenario loaded: {scenario:?}"),
        Err(error) => error.to_string(),
    }
}

fn repo_dir(relative: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

#[test]
fn base_scenario_loads_with_defaults_filled_in() {
    let scenario =
        parse(BASE, Path::new("scenarios/reset.toml")).expect("the base scenario is valid");
    assert_eq!(scenario.name, "reset");
    assert_eq!(scenario.source_note, "KB 'Resetting Admin Password'");
    assert_eq!(scenario.models, [Model::T46G, Model::T48S]);
    assert!(scenario.destructive);
    assert_eq!(
        scenario.given,
        Given {
            firmware: "current".into(),
            account: AccountState::Cancelled,
            admin_password: AdminPassword::Random,
            provisioning: ProvisioningUrl::Intermedia,
            network: LinkState::Up,
        }
    );
    assert_eq!(
        scenario.steps.iter().map(Step::written).collect::<Vec<_>>(),
        [
            written(&[("power", "\"cycle\"")]),
            written(&[("dial", "\"**7283\"")]),
            written(&[("tap", "\"f4\""), ("hold_ms", "250")]),
            written(&[("wait", "\"call-home\""), ("timeout_s", "60")]),
            written(&[("login", "\"given\"")]),
        ]
    );
}

#[test]
fn every_step_shape_and_given_value_loads() {
    let text = edited(&[
        (
            "models = [\"T46G\", \"T48S\"]\ndestructive = true\n",
            "models = \"all\"\n",
        ),
        (
            "admin_password = \"random\"",
            "admin_password = \"s3cret\"\nprovisioning = \"foreign\"\nnetwork = \"down\"",
        ),
        ("hold_ms = 250\n", ""),
        (
            "login = \"given\"\n",
            "login = \"admin\"\n\n[[step]]\nhold = \"speaker\"\n\n[[step]]\nrelease = \"speaker\"\n\n\
             [[step]]\nnetwork = \"up\"\n\n[[step]]\nwait = \"firmware-download\"\ntimeout_s = 0.5\n",
        ),
    ]);
    let scenario = parse(&text, Path::new("every.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(scenario.models, Model::ALL);
    assert!(!scenario.destructive);
    assert_eq!(
        scenario.given.admin_password,
        AdminPassword::Literal("s3cret".into())
    );
    assert_eq!(scenario.given.provisioning, ProvisioningUrl::Foreign);
    assert_eq!(scenario.given.network, LinkState::Down);
    assert_eq!(
        scenario.steps[2..]
            .iter()
            .map(Step::written)
            .collect::<Vec<_>>(),
        [
            written(&[("tap", "\"f4\"")]),
            written(&[("wait", "\"call-home\""), ("timeout_s", "60")]),
            written(&[("login", "\"admin\"")]),
            written(&[("hold", "\"speaker\"")]),
            written(&[("release", "\"speaker\"")]),
            written(&[("network", "\"up\"")]),
            written(&[("wait", "\"firmware-download\""), ("timeout_s", "0.5")]),
        ]
    );
}

#[test]
fn each_kind_of_mistake_gets_its_exact_message() {
    let rows: Vec<Row> = vec![
        (
            "syntax error",
            vec![("[given]", "[given")],
            "scenarios/reset.toml:6:7: TOML syntax error: unclosed table, expected `]`".into(),
        ),
        (
            "unknown top-level key",
            vec![("destructive = true", "destructive = true\nowner = \"qa\"")],
            "scenarios/reset.toml:5:1: owner: unknown key `owner`, expected one of `summary`, `source`, `models`, \
             `destructive`, `given` or `step`"
                .into(),
        ),
        (
            "unknown key in a step",
            vec![("power = \"cycle\"", "power = \"cycle\"\nrepeat = 2")],
            "scenarios/reset.toml:13:1: step[0].repeat: unknown field `repeat`, expected one of `power`, `hold`, \
             `release`, `tap`, `hold_ms`, `dial`, `network`, `wait`, `timeout_s`, `login`, `pause_s`, \
             `offer_firmware`, `tftp_package`, `usb_stick`, `filesystem`, `folder`, `model`, `omit`, \
             `corrupt`, `account`, `provisioning_server`"
                .into(),
        ),
        (
            "unknown key in [given]",
            vec![("account = \"cancelled\"", "account = \"cancelled\"\nfirmware_version = \"28.83.0.120\"")],
            "scenarios/reset.toml:9:1: given.firmware_version: unknown field `firmware_version`, expected one of \
             `firmware`, `account`, `admin_password`, `provisioning`, `network`"
                .into(),
        ),
        (
            "missing summary",
            vec![("summary = \"Auto-P reset on a cancelled account\"\n", "")],
            "scenarios/reset.toml:1:1: summary: missing `summary`: expected a one-line description of what the \
             scenario shows"
                .into(),
        ),
        (
            "missing [given] key",
            vec![("firmware = \"current\"\n", "")],
            "scenarios/reset.toml:6:1: given: missing field `firmware`".into(),
        ),
        (
            "no step at all",
            vec![(
                STEPS,
                "",
            )],
            "scenarios/reset.toml:1:1: step: missing `step`: expected at least one `[[step]]`".into(),
        ),
        (
            "wrong type",
            vec![("destructive = true", "destructive = \"yes\"")],
            "scenarios/reset.toml:4:15: destructive: invalid type: string \"yes\", expected a boolean".into(),
        ),
        (
            "empty summary",
            vec![("summary = \"Auto-P reset on a cancelled account\"", "summary = \" \"")],
            "scenarios/reset.toml:1:11: summary: must not be empty".into(),
        ),
        (
            "models as one name",
            vec![("models = [\"T46G\", \"T48S\"]", "models = \"T46G\"")],
            "scenarios/reset.toml:3:10: models: expected \"all\" or a list such as [\"T46G\"], found \"T46G\"".into(),
        ),
        (
            "models of the wrong type",
            vec![("models = [\"T46G\", \"T48S\"]", "models = 8")],
            "scenarios/reset.toml:3:10: models: invalid type: integer `8`, expected \"all\" or a list of model names \
             such as [\"T46G\", \"T48S\"]"
                .into(),
        ),
        (
            "empty models list",
            vec![("models = [\"T46G\", \"T48S\"]", "models = []")],
            "scenarios/reset.toml:3:10: models: the list is empty: the scenario would run on no phone (write \"all\" \
             or model names)"
                .into(),
        ),
        (
            "unknown model",
            vec![("models = [\"T46G\", \"T48S\"]", "models = [\"T46G\", \"T49S\"]")],
            "scenarios/reset.toml:3:19: models[1]: unknown model `T49S`, expected one of T40P, T41P, T42G, T46G, \
             T48G, T42S, T46S, T48S"
                .into(),
        ),
        (
            "model listed twice",
            vec![("models = [\"T46G\", \"T48S\"]", "models = [\"T46G\", \"t46g\"]")],
            "scenarios/reset.toml:3:19: models[1]: model T46G is listed twice".into(),
        ),
        (
            "unknown account state",
            vec![("account = \"cancelled\"", "account = \"suspended\"")],
            "scenarios/reset.toml:8:11: given.account: unknown variant `suspended`, expected one of `active`, \
             `cancelled`, `v2`"
                .into(),
        ),
        (
            "unknown provisioning",
            vec![("account = \"cancelled\"", "account = \"cancelled\"\nprovisioning = \"reseller\"")],
            "scenarios/reset.toml:9:16: given.provisioning: unknown variant `reseller`, expected `intermedia` or \
             `foreign`"
                .into(),
        ),
        (
            "unknown network state",
            vec![("account = \"cancelled\"", "account = \"cancelled\"\nnetwork = \"flaky\"")],
            "scenarios/reset.toml:9:11: given.network: unknown variant `flaky`, expected `up` or `down`".into(),
        ),
        (
            "empty admin password",
            vec![("admin_password = \"random\"", "admin_password = \"\"")],
            "scenarios/reset.toml:9:18: given.admin_password: expected \"random\" or the password to provision, \
             found an empty password"
                .into(),
        ),
        (
            "two actions in one step",
            vec![("dial = \"**7283\"", "dial = \"**7283\"\ntap = \"ok\"")],
            "scenarios/reset.toml:16:7: step[1].tap: a step takes exactly one action, found `dial` and `tap` (write \
             one `[[step]]` each)"
                .into(),
        ),
        (
            "a step without action",
            vec![("power = \"cycle\"\n", "")],
            format!("scenarios/reset.toml:11:1: step[0]: a step needs one action: one of {ACTIONS}"),
        ),
        (
            "pause of 0 s",
            vec![("dial = \"**7283\"", "pause_s = 0")],
            "scenarios/reset.toml:15:11: step[1].pause_s: pause_s must be above 0 and at most 600, found 0".into(),
        ),
        (
            "filesystem on a TFTP package",
            vec![("dial = \"**7283\"", "tftp_package = \"min\"\nfilesystem = \"fat\"")],
            "scenarios/reset.toml:16:14: step[1].filesystem: `filesystem` applies to `usb_stick` only, not to `tftp_package`".into(),
        ),
        (
            "omit on a tap",
            vec![("dial = \"**7283\"", "tap = \"ok\"\nomit = \"rfs\"")],
            "scenarios/reset.toml:16:8: step[1].omit: `omit` applies to `usb_stick` and `tftp_package` only, not to `tap`".into(),
        ),
        (
            "unknown package part",
            vec![("dial = \"**7283\"", "usb_stick = \"min\"\ncorrupt = \"kernel\"")],
            "scenarios/reset.toml:16:11: step[1].corrupt: unknown variant `kernel`, expected one of `bin`, `rfs`, `rom`".into(),
        ),
        (
            "unknown filesystem",
            vec![("dial = \"**7283\"", "usb_stick = \"min\"\nfilesystem = \"hfs\"")],
            "scenarios/reset.toml:16:14: step[1].filesystem: unknown variant `hfs`, expected one of `fat`, `ntfs`, `exfat`".into(),
        ),
        (
            "empty firmware offer",
            vec![("dial = \"**7283\"", "offer_firmware = \" \"")],
            "scenarios/reset.toml:15:18: step[1].offer_firmware: a firmware generation name (e.g. `current`), found an empty string".into(),
        ),
        (
            "hold_ms on another action",
            vec![("dial = \"**7283\"", "dial = \"**7283\"\nhold_ms = 50")],
            "scenarios/reset.toml:16:11: step[1].hold_ms: `hold_ms` applies to `tap` only, not to `dial`".into(),
        ),
        (
            "timeout_s on another action",
            vec![("login = \"given\"", "login = \"given\"\ntimeout_s = 5")],
            "scenarios/reset.toml:27:13: step[4].timeout_s: `timeout_s` applies to `wait` only, not to `login`".into(),
        ),
        (
            "hold_ms of 0",
            vec![("hold_ms = 250", "hold_ms = 0")],
            "scenarios/reset.toml:19:11: step[2].hold_ms: hold_ms must be 1 to 60000 (the actuator's TAP range), \
             found 0"
                .into(),
        ),
        (
            "hold_ms above the actuator's range",
            vec![("hold_ms = 250", "hold_ms = 60001")],
            "scenarios/reset.toml:19:11: step[2].hold_ms: hold_ms must be 1 to 60000 (the actuator's TAP range), \
             found 60001"
                .into(),
        ),
        (
            "hold_ms of the wrong type",
            vec![("hold_ms = 250", "hold_ms = \"long\"")],
            "scenarios/reset.toml:19:11: step[2].hold_ms: invalid type: string \"long\", expected i64".into(),
        ),
        (
            "unknown key name in tap",
            vec![("tap = \"f4\"", "tap = \"f5\"")],
            format!("scenarios/reset.toml:18:7: step[2].tap: unknown key `f5`, expected one of {KEY_NAMES}"),
        ),
        (
            "unknown key name in hold",
            vec![("power = \"cycle\"", "hold = \"Speaker\"")],
            format!("scenarios/reset.toml:12:8: step[0].hold: unknown key `Speaker`, expected one of {KEY_NAMES}"),
        ),
        (
            "unknown power action",
            vec![("power = \"cycle\"", "power = \"restart\"")],
            "scenarios/reset.toml:12:9: step[0].power: unknown variant `restart`, expected one of `on`, `off`, \
             `cycle`"
                .into(),
        ),
        (
            "nothing to dial",
            vec![("dial = \"**7283\"", "dial = \"\"")],
            "scenarios/reset.toml:15:8: step[1].dial: nothing to dial: expected digits 0-9, `*` and `#`".into(),
        ),
        (
            "characters no key dials",
            vec![("dial = \"**7283\"", "dial = \"**72a3 \"")],
            "scenarios/reset.toml:15:8: step[1].dial: `**72a3 ` holds ` `, `a`, which no key dials: expected digits \
             0-9, `*` and `#`"
                .into(),
        ),
        (
            "wait without timeout",
            vec![("timeout_s = 60\n", "")],
            "scenarios/reset.toml:22:8: step[3].wait: `wait` needs `timeout_s` (seconds, above 0 and at most 3600)"
                .into(),
        ),
        (
            "timeout of 0",
            vec![("timeout_s = 60", "timeout_s = 0")],
            "scenarios/reset.toml:23:13: step[3].timeout_s: timeout_s must be above 0 and at most 3600, found 0".into(),
        ),
        (
            "timeout above an hour",
            vec![("timeout_s = 60", "timeout_s = 3600.5")],
            "scenarios/reset.toml:23:13: step[3].timeout_s: timeout_s must be above 0 and at most 3600, found 3600.5"
                .into(),
        ),
        (
            "unknown wait event",
            vec![("wait = \"call-home\"", "wait = \"reboot\"")],
            "scenarios/reset.toml:22:8: step[3].wait: unknown variant `reboot`, expected one of `register`, \
             `config`, `call-home`, `firmware-download`, `foreign-provisioning`, `syslog`, `tftp`"
                .into(),
        ),
        (
            "empty login password",
            vec![("login = \"given\"", "login = \"\"")],
            "scenarios/reset.toml:26:9: step[4].login: expected \"given\" or the password to try, found an empty \
             password"
                .into(),
        ),
        (
            "a package of an unknown model",
            vec![("dial = \"**7283\"", "tftp_package = \"min\"\nmodel = \"T99X\"")],
            "scenarios/reset.toml:16:9: step[1].model: unknown model `T99X`, expected one of `T40P`, `T41P`, \
             `T42G`, `T46G`, `T48G`, `T42S`, `T46S`, `T48S`"
                .into(),
        ),
        (
            "a folder on the TFTP server",
            vec![("dial = \"**7283\"", "tftp_package = \"min\"\nfolder = \"yealink-folder\"")],
            "scenarios/reset.toml:16:10: step[1].folder: `folder` applies to `usb_stick` only, not to `tftp_package`"
                .into(),
        ),
        (
            "step that is not a table",
            vec![(STEPS, ""), ("destructive = true\n", "destructive = true\nstep = 3\n")],
            "scenarios/reset.toml:5:8: step: expected an array of tables `[[step]]`".into(),
        ),
    ];
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
fn every_problem_of_a_file_is_reported_in_line_order() {
    let text = edited(&[
        ("models = [\"T46G\", \"T48S\"]", "models = [\"T46X\"]"),
        ("dial = \"**7283\"", "dial = \"**7283\"\ntap = \"ok\""),
        ("timeout_s = 60\n", ""),
    ]);
    let error = parse(&text, Path::new("s.toml")).unwrap_err();
    let lines: Vec<String> = error.problems().iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "s.toml:3:11: models[0]: unknown model `T46X`, expected one of T40P, T41P, T42G, T46G, T48G, T42S, T46S, \
             T48S",
            "s.toml:16:7: step[1].tap: a step takes exactly one action, found `dial` and `tap` (write one \
             `[[step]]` each)",
            "s.toml:23:8: step[3].wait: `wait` needs `timeout_s` (seconds, above 0 and at most 3600)",
        ]
    );
}

#[test]
fn the_committed_scenarios_load() {
    let scenarios = load_dir(&repo_dir("scenarios")).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = scenarios.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "autop-at-min-firmware",
            "autop-below-min-firmware",
            "autop-foreign-provisioning-url",
            "autop-on-2.0-account",
            "autop-on-stock-firmware",
            "autop-password-reset",
            "autop-popup-cancelled",
            "autop-reset-then-reactivated",
            "autop-server-unreachable",
            "autop-while-registered",
            "autop-without-network",
            "firmware-downgrade",
            "firmware-upgrade",
            "long-press-legacy",
            "long-press-removed",
            "recovery-corrupt-image",
            "recovery-power-lost-tftp",
            "recovery-power-lost-usb",
            "tftp-other-model-package",
            "tftp-recovery",
            "usb-exfat-rejected",
            "usb-files-in-folder",
            "usb-missing-file",
            "usb-ntfs-rejected",
            "usb-other-model-package",
            "usb-recovery",
            "usb-recovery-active-account",
        ]
    );
    for scenario in scenarios.iter().filter(|s| s.name.starts_with("autop-")) {
        assert_eq!(scenario.models, Model::ALL, "{}", scenario.name);
        assert!(scenario.destructive, "{}", scenario.name);
        // The unreachable server is arranged by a step before the code is dialled.
        let steps = if scenario.name == "autop-server-unreachable" {
            &scenario.steps[1..]
        } else {
            &scenario.steps[..]
        };
        // Cancel on the popup is F1; every other case presses Yes (F4).
        let answer = if scenario.name == "autop-popup-cancelled" {
            "f1"
        } else {
            "f4"
        };
        assert_eq!(
            steps[0].written(),
            written(&[("dial", "\"**7283\"")]),
            "{}",
            scenario.name
        );
        assert_eq!(
            steps[1].written(),
            written(&[("tap", &format!("\"{answer}\""))]),
            "{}",
            scenario.name
        );
    }
    let by_name = |name: &str| scenarios.iter().find(|s| s.name == name).unwrap();
    assert_eq!(
        by_name("autop-below-min-firmware").given.firmware,
        "below-min"
    );
    assert_eq!(
        by_name("autop-on-2.0-account").given.account,
        AccountState::V2
    );
    assert_eq!(
        by_name("autop-foreign-provisioning-url").given.provisioning,
        ProvisioningUrl::Foreign
    );
    let offline = by_name("autop-without-network");
    assert_eq!(offline.given.network, LinkState::Down);
    assert_eq!(
        offline.steps[3].written(),
        written(&[("network", "\"up\"")])
    );
    assert_eq!(
        offline.steps[4].written(),
        written(&[("wait", "\"register\""), ("timeout_s", "120")])
    );
    assert_eq!(
        offline.steps.last().map(Step::written),
        Some(written(&[("login", "\"given\"")]))
    );
}

#[test]
fn each_committed_scenario_loads_on_its_own() {
    let path = repo_dir("scenarios/autop-password-reset.toml");
    let scenario = load_file(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(scenario.name, "autop-password-reset");
    assert_eq!(scenario.source, path);
    assert_eq!(scenario.given.admin_password, AdminPassword::Random);
}

#[test]
fn a_directory_reports_the_problems_of_all_its_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("b-bad.toml"),
        edited(&[("tap = \"f4\"", "tap = \"f9\"")]),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("a-bad.toml"),
        edited(&[("account = \"cancelled\"", "account = \"gone\"")]),
    )
    .unwrap();
    std::fs::write(dir.path().join("c-good.toml"), BASE).unwrap();
    // Snapshots and notes beside the scenarios are not scenarios.
    std::fs::create_dir(dir.path().join("snapshots")).unwrap();
    std::fs::write(
        dir.path().join("snapshots").join("x.toml"),
        "not = [a scenario",
    )
    .unwrap();
    std::fs::write(dir.path().join("README.md"), "# notes").unwrap();

    let error = load_dir(dir.path()).unwrap_err();
    let a = dir.path().join("a-bad.toml");
    let b = dir.path().join("b-bad.toml");
    assert_eq!(
        error.to_string(),
        format!(
            "{}:8:11: given.account: unknown variant `gone`, expected one of `active`, `cancelled`, `v2`\n\
             {}:18:7: step[2].tap: unknown key `f9`, expected one of {KEY_NAMES}",
            a.display(),
            b.display()
        )
    );

    std::fs::remove_file(&a).unwrap();
    std::fs::remove_file(&b).unwrap();
    let scenarios = load_dir(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(scenarios.len(), 1);
    assert_eq!(scenarios[0].name, "c-good");
}

#[test]
fn an_empty_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let error = load_dir(dir.path()).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{}: no scenario files (`*.toml`) in this directory",
            dir.path().display()
        )
    );
}

/// What the refusal of an unsafe scenario name adds to its message.
const NAME_RULE: &str = "a name is 1 to 64 characters of A-Z, a-z, 0-9, `.`, `_` and `-`, starting with a letter or digit";

/// Values that passed the check and then broke a run: each is refused with its line, key
/// and why.
#[test]
fn values_that_would_break_a_run_are_refused() {
    let long_dial: &'static str = format!("dial = \"{}\"", "1".repeat(100_000)).leak();
    let long_firmware: &'static str = format!("firmware = \"{}\"", "9".repeat(100_000)).leak();
    let long_password: &'static str = format!("admin_password = \"{}\"", "p".repeat(65)).leak();
    let rows: Vec<Row> = vec![
        (
            "a dial string of 100,000 digits",
            vec![("dial = \"**7283\"", long_dial)],
            "scenarios/reset.toml:15:8: step[1].dial: 100000 characters to dial, at most 32: the idle screen keeps \
             32 and drops the rest"
                .into(),
        ),
        (
            "a dial string one digit too long",
            vec![("dial = \"**7283\"", "dial = \"123456789012345678901234567890123\"")],
            "scenarios/reset.toml:15:8: step[1].dial: 33 characters to dial, at most 32: the idle screen keeps 32 \
             and drops the rest"
                .into(),
        ),
        (
            "a firmware generation of 100,000 characters",
            vec![("firmware = \"current\"", long_firmware)],
            "scenarios/reset.toml:7:12: given.firmware: a firmware generation name has 100000 characters, at most 64 \
             (`current`, `below-min`, a drop's version)"
                .into(),
        ),
        (
            "a firmware generation on two lines",
            vec![("power = \"cycle\"", "offer_firmware = \"min\\nserver: firmware current\"")],
            "scenarios/reset.toml:12:18: step[0].offer_firmware: a firmware generation name holds the control \
             character `\\n`: it is written into transcript lines"
                .into(),
        ),
        (
            "an admin password that adds a line to the phone's config",
            vec![(
                "admin_password = \"random\"",
                "admin_password = \"x\\nstatic.security.user_password = admin:owned\"",
            )],
            "scenarios/reset.toml:9:18: given.admin_password: the password holds the control character `\\n`: it is \
             provisioned as one line of the phone's config file"
                .into(),
        ),
        (
            "an admin password of 65 characters",
            vec![("admin_password = \"random\"", long_password)],
            "scenarios/reset.toml:9:18: given.admin_password: the password has 65 characters, at most 64 (one value \
             of one line of the phone's config file)"
                .into(),
        ),
        (
            "a login password with a tab",
            vec![("login = \"given\"", "login = \"a\\tb\"")],
            "scenarios/reset.toml:26:9: step[4].login: the password holds the control character `\\t`: it is \
             provisioned as one line of the phone's config file"
                .into(),
        ),
    ];
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
fn a_dial_string_of_32_digits_loads() {
    let digits = "0123456789*#0123456789*#01234567";
    assert_eq!(digits.len(), 32);
    let text = edited(&[("dial = \"**7283\"", &format!("dial = \"{digits}\""))]);
    let scenario = parse(&text, Path::new("s.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        scenario.steps[1].written(),
        written(&[("dial", &format!("\"{digits}\""))])
    );
}

/// The scenario's name is its file name, and it becomes the snapshots' and the run folder's
/// file names: a name outside the safe alphabet is refused, with the other problems of the
/// file still reported.
#[test]
fn a_scenario_file_name_that_cannot_become_a_file_name_is_refused() {
    let long = format!("scenarios/{}.toml", "s".repeat(300));
    let rows = [
        (
            "scenarios/a b.toml",
            "`a b` cannot become a file name: ` ` (character 2) is not allowed",
        ),
        (
            "scenarios/.hidden.toml",
            "`.hidden` cannot become a file name: it starts with `.`",
        ),
        (
            "scenarios/..toml",
            "`.` cannot become a file name: it starts with `.`",
        ),
        (
            "scenarios/case@T46G.toml",
            "`case@T46G` cannot become a file name: `@` (character 5) is not allowed",
        ),
        (
            "scenarios/new\nline.toml",
            "`new\\nline` cannot become a file name: `\\n` (character 4) is not allowed",
        ),
        (
            long.as_str(),
            &format!(
                "`{}...` cannot become a file name: it has 300 characters",
                "s".repeat(40)
            ),
        ),
    ];
    for (file, why) in rows {
        let error = parse(BASE, Path::new(file)).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("{file}: the scenario's name (its file name) {why}; {NAME_RULE}")
        );
    }
    // The rest of the file is still checked.
    let text = edited(&[("tap = \"f4\"", "tap = \"f9\"")]);
    let error = parse(&text, Path::new("a b.toml")).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "a b.toml: the scenario's name (its file name) `a b` cannot become a file name: ` ` (character 2) is not \
             allowed; {NAME_RULE}\na b.toml:18:7: step[2].tap: unknown key `f9`, expected one of {KEY_NAMES}"
        )
    );
}

#[test]
fn a_directory_with_a_badly_named_scenario_names_that_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.toml"), BASE).unwrap();
    std::fs::write(dir.path().join("bad name.toml"), BASE).unwrap();
    let error = load_dir(dir.path()).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{}: the scenario's name (its file name) `bad name` cannot become a file name: ` ` (character 4) is not \
             allowed; {NAME_RULE}",
            dir.path().join("bad name.toml").display()
        )
    );
}

/// A step as a scenario file writes it, for comparing with [`Step::written`].
fn written(lines: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    lines
        .iter()
        .map(|(key, value)| (*key, value.to_string()))
        .collect()
}
