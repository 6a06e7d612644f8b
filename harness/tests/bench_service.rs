//! Who may use a bench now: `harness lab status` (human and JSON), benches taken out of
//! service by a person (`lab disable` / `lab enable`) or by a failed health check (bad
//! until enabled or checked), the reasons runs give for skipping them in every report, hand
//! commands refused (or forced, and the force recorded), and a waiting run that names the
//! bench's holder.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{harness_exe, lines_of, wait_line};
use harness::safety::lock::{Attempt, try_acquire};
use harness::safety::service::{self, OutOfService, WaitTicket};

struct Lab {
    dir: tempfile::TempDir,
    path: PathBuf,
    locks: PathBuf,
}

fn private_lab() -> Lab {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = common::root().join("firmware-fixtures");
    let path = common::private_lab(dir.path(), common::free_endpoint_ports(), &fixtures);
    let locks = dir.path().join("locks");
    Lab { dir, path, locks }
}

fn harness(lab: &Path, args: &[&str]) -> Output {
    Command::new(harness_exe())
        .args(args)
        .arg("--lab")
        .arg(lab)
        .output()
        .unwrap()
}

fn out(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn err(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The status line of `bench`.
fn line_of<'a>(table: &'a str, bench: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(bench))
        .unwrap_or_else(|| panic!("no line for {bench}: {table}"))
}

#[test]
fn lab_status_shows_free_leased_bad_and_disabled_benches_as_text_and_json() {
    let lab = private_lab();
    let Attempt::Acquired { lock: _held, .. } =
        try_acquire(&lab.locks, "t46g", "run nightly").unwrap()
    else {
        panic!("a free bench");
    };
    let _waiting = WaitTicket::take(&lab.locks, "t46g", "power on").unwrap();
    service::mark(
        &lab.locks,
        "t41p",
        OutOfService::Bad,
        "failed its health check: no boot",
        "health check of pid 1",
    )
    .unwrap();
    let disabled = harness(
        &lab.path,
        &[
            "lab",
            "disable",
            "t40p",
            "--reason",
            "PSU hums, replaced Monday",
        ],
    );
    assert!(disabled.status.success(), "{}", err(&disabled));
    assert!(
        out(&disabled).contains("bench t40p disabled by"),
        "{}",
        out(&disabled)
    );

    let status = harness(&lab.path, &["lab", "status"]);
    assert!(status.status.success(), "{}", err(&status));
    let table = out(&status);
    let me = std::process::id();
    let t46g = line_of(&table, "t46g");
    assert!(
        t46g.contains(" leased ")
            && t46g.contains(&format!("pid {me} on "))
            && t46g.contains("(run nightly) since ")
            && t46g.contains("lease until ")
            && t46g.contains(&format!("waiting: pid {me} on "))
            && t46g.contains("(power on)"),
        "{table}"
    );
    let t40p = line_of(&table, "t40p");
    assert!(
        t40p.contains(" disabled ") && t40p.contains("PSU hums, replaced Monday"),
        "{table}"
    );
    assert!(
        t40p.contains(&format!("by {}", service::user_name())),
        "{table}"
    );
    let t41p = line_of(&table, "t41p");
    assert!(
        t41p.contains(" bad ") && t41p.contains("no boot") && t41p.contains("health check"),
        "{table}"
    );
    assert!(line_of(&table, "t42s").contains(" free"), "{table}");

    let json = harness(&lab.path, &["lab", "status", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let row = |bench: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["bench"] == bench)
            .unwrap_or_else(|| panic!("{bench} in {rows}"))
            .clone()
    };
    let t46g = row("t46g");
    assert_eq!(t46g["state"], "leased", "{rows}");
    assert_eq!(t46g["lease"]["pid"], me, "{rows}");
    assert_eq!(t46g["lease"]["purpose"], "run nightly", "{rows}");
    assert!(t46g["lease"]["expires_unix_s"].as_u64().unwrap() > 0);
    assert_eq!(t46g["waiting"][0]["purpose"], "power on", "{rows}");
    let t40p = row("t40p");
    assert_eq!(t40p["state"], "disabled", "{rows}");
    assert_eq!(
        t40p["out_of_service"]["reason"], "PSU hums, replaced Monday",
        "{rows}"
    );
    assert_eq!(row("t41p")["state"], "bad", "{rows}");
    assert_eq!(row("t42s")["state"], "free", "{rows}");
    assert!(row("t42s")["lease"].is_null(), "{rows}");

    // Enabled again: free, and enabling a free bench is no error.
    let enabled = harness(&lab.path, &["lab", "enable", "t40p"]);
    assert!(
        out(&enabled).contains("bench t40p enabled (it was disabled: PSU hums"),
        "{}",
        out(&enabled)
    );
    let table = out(&harness(&lab.path, &["lab", "status"]));
    assert!(line_of(&table, "t40p").contains(" free"), "{table}");
    assert!(
        harness(&lab.path, &["lab", "enable", "t40p"])
            .status
            .success()
    );
}

#[test]
fn disabling_refuses_unknown_benches_and_names_that_are_not_names() {
    let lab = private_lab();
    for bench in ["t99", "../t46g"] {
        let output = harness(&lab.path, &["lab", "disable", bench, "--reason", "x"]);
        assert_eq!(output.status.code(), Some(2), "{bench}: {}", err(&output));
        assert!(err(&output).contains("no bench"), "{}", err(&output));
    }
    let blank = harness(&lab.path, &["lab", "disable", "t46g", "--reason", "  "]);
    assert_eq!(blank.status.code(), Some(2), "{}", err(&blank));
    // Nothing was written for any of them.
    let written: Vec<_> = std::fs::read_dir(&lab.locks)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(written.is_empty(), "{written:?}");
}

#[test]
fn a_disabled_bench_is_skipped_by_runs_with_its_reason_in_every_report() {
    let lab = private_lab();
    let disabled = harness(
        &lab.path,
        &["lab", "disable", "t40p", "--reason", "handset cord missing"],
    );
    assert!(disabled.status.success(), "{}", err(&disabled));
    let run_dir = lab.dir.path().join("run");
    let junit = lab.dir.path().join("junit.xml");
    let run = Command::new(harness_exe())
        .args([
            "run",
            "--no-history",
            "--bench",
            "t40p",
            "--scenario",
            "autop-*",
        ])
        .arg("--lab")
        .arg(&lab.path)
        .arg("--out")
        .arg(&run_dir)
        .arg("--junit")
        .arg(&junit)
        .output()
        .unwrap();
    let summary = out(&run);
    assert!(summary.contains("skipped"), "{summary}{}", err(&run));
    assert!(
        !summary.contains("pass, 1") && !summary.contains(" 1 fail"),
        "{summary}"
    );
    let reason = "bench t40p is disabled by";
    for (what, text) in [
        ("summary", summary.clone()),
        ("junit", std::fs::read_to_string(&junit).unwrap()),
        (
            "run folder junit",
            std::fs::read_to_string(run_dir.join("junit.xml")).unwrap(),
        ),
        (
            "run folder summary.txt",
            std::fs::read_to_string(run_dir.join("summary.txt")).unwrap(),
        ),
    ] {
        assert!(
            text.contains(reason) && text.contains("handset cord missing"),
            "{what}: {text}"
        );
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("summary.json")).unwrap())
            .unwrap();
    let cases = json["cases"].as_array().unwrap();
    assert!(!cases.is_empty(), "{json}");
    for case in cases {
        assert_eq!(case["outcome"], "skipped", "{json}");
        assert!(
            case["detail"]
                .as_str()
                .unwrap()
                .contains("handset cord missing"),
            "{json}"
        );
    }
}

#[test]
fn hand_commands_refuse_a_bench_out_of_service_unless_forced_and_the_force_is_recorded() {
    let lab = private_lab();
    let (_twin, _actuator) = common::start_twin(&lab.path);
    let disabled = harness(
        &lab.path,
        &["lab", "disable", "t40p", "--reason", "firmware under study"],
    );
    assert!(disabled.status.success(), "{}", err(&disabled));

    let refused = harness(&lab.path, &["power", "t40p", "on"]);
    assert_eq!(refused.status.code(), Some(3), "{}", err(&refused));
    let why = err(&refused);
    assert!(
        why.contains("refused: bench t40p is disabled")
            && why.contains("firmware under study")
            && why.contains("--force"),
        "{why}"
    );

    let forced = harness(&lab.path, &["power", "t40p", "on", "--force"]);
    assert!(forced.status.success(), "{}", err(&forced));
    assert!(out(&forced).contains("t40p: power on"), "{}", out(&forced));
    assert!(
        err(&forced).contains("used anyway: --force"),
        "{}",
        err(&forced)
    );
    // The journal keeps the override, though the bench was left as the command said.
    let journal = std::fs::read_to_string(lab.locks.join("t40p.journal")).unwrap();
    let entries = harness::safety::journal::parse(&journal);
    assert!(
        entries.iter().any(|e| matches!(
            e,
            harness::safety::journal::JournalEntry::Forced { command, overridden, .. }
                if command.contains("power t40p on --force")
                    && overridden.contains("firmware under study")
        )),
        "{journal}"
    );
    let left = harness::safety::journal::read(journal.as_bytes());
    assert!(left.is_empty(), "a note is nothing to undo: {left:?}");
    let table = out(&harness(&lab.path, &["lab", "status"]));
    assert!(
        line_of(&table, "t40p").contains("used anyway (--force)"),
        "{table}"
    );
    // Still disabled: forcing a bench does not put it back in service.
    assert!(
        harness(&lab.path, &["power", "t40p", "off"]).status.code() == Some(3),
        "still refused without --force"
    );
}

#[test]
fn a_hand_command_refused_by_a_lease_names_the_holder() {
    let lab = private_lab();
    let Attempt::Acquired { lock: _held, .. } =
        try_acquire(&lab.locks, "t46g", "run qa-drop-42").unwrap()
    else {
        panic!("a free bench");
    };
    let refused = harness(&lab.path, &["press", "t46g", "ok"]);
    assert_eq!(refused.status.code(), Some(3), "{}", err(&refused));
    let why = err(&refused);
    assert!(
        why.contains(&format!("in use by pid {} on ", std::process::id()))
            && why.contains("(run qa-drop-42)")
            && why.contains("lab status"),
        "{why}"
    );
}

#[test]
fn a_run_waiting_for_a_bench_names_its_holder_and_refreshes_the_line() {
    let lab = private_lab();
    let Attempt::Acquired { lock: mut held, .. } =
        try_acquire(&lab.locks, "t46g", "repro ticket 4711").unwrap()
    else {
        panic!("a free bench");
    };
    let mut run = Command::new(harness_exe())
        .args([
            "run",
            "--no-history",
            "--bench",
            "t46g",
            "--scenario",
            "autop-password-reset",
            "--lock-timeout-s",
            "4",
        ])
        .arg("--lab")
        .arg(&lab.path)
        .arg("--out")
        .arg(lab.dir.path().join("run"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = lines_of(run.stderr.take().unwrap());
    let holder = format!("waiting: in use by pid {} on ", std::process::id());
    let mut seen = Vec::new();
    assert!(
        wait_line(&lines, &mut seen, &holder, Duration::from_secs(30)),
        "{seen:?}"
    );
    assert!(
        seen.last().unwrap().contains("(repro ticket 4711)"),
        "{seen:?}"
    );
    // The waiting run is in the bench's queue for everyone to see.
    let table = out(&harness(&lab.path, &["lab", "status"]));
    assert!(
        line_of(&table, "t46g").contains(&format!("waiting: pid {} on ", run.id())),
        "{table}"
    );
    // The holder renews its lease: the waiting line is written again with the new expiry.
    std::thread::sleep(Duration::from_millis(1100));
    held.renew().unwrap();
    let mut again = Vec::new();
    assert!(
        wait_line(&lines, &mut again, &holder, Duration::from_secs(10)),
        "{again:?}"
    );
    let output = run.wait_with_output().unwrap();
    let summary = out(&output);
    assert!(
        summary.contains("skipped") && summary.contains("(repro ticket 4711)"),
        "{summary}"
    );
    // Given up: no longer waiting.
    let table = out(&harness(&lab.path, &["lab", "status"]));
    assert!(!line_of(&table, "t46g").contains("waiting:"), "{table}");
    let _ = std::io::stdout().flush();
}

/// A phone that never boots fails its health check: the bench is bad for the next run
/// too, until it passes `lab check --bench`.
#[test]
fn a_bench_marked_bad_by_a_health_check_stays_bad_until_it_passes_a_check() {
    let lab = private_lab();
    let text = std::fs::read_to_string(&lab.path).unwrap();
    std::fs::write(
        &lab.path,
        text.replace("time_scale = 0.01\n", "time_scale = 0.005\n"),
    )
    .unwrap();
    let scenarios = lab.dir.path().join("scenarios");
    std::fs::create_dir_all(&scenarios).unwrap();
    std::fs::write(
        scenarios.join("a-cycle.toml"),
        "summary = \"a power cycle\"\nsource = \"test\"\nmodels = [\"T46G\"]\n\n[given]\n\
         firmware = \"current\"\naccount = \"active\"\nadmin_password = \"random\"\n\n\
         [[step]]\npower = \"cycle\"\n",
    )
    .unwrap();
    let (mut twin, _actuator) = common::start_twin(&lab.path);
    let mut console = twin.0.stdin.take().unwrap();
    console.write_all(b"hang t46g\n").unwrap();
    console.flush().unwrap();

    let first = common::external_run(&lab.path, &scenarios, &lab.dir.path().join("first"))
        .output()
        .unwrap();
    assert_eq!(first.status.code(), Some(3), "{}", out(&first));
    let mark = service::read_mark(&lab.locks, "t46g").unwrap().unwrap();
    assert_eq!(mark.state, OutOfService::Bad, "{mark:?}");
    assert!(mark.reason.contains("health check"), "{mark:?}");

    // The phone works again, but nobody looked: the next run leaves the bench alone.
    console.write_all(b"unhang t46g\n").unwrap();
    console.flush().unwrap();
    let second = common::external_run(&lab.path, &scenarios, &lab.dir.path().join("second"))
        .output()
        .unwrap();
    let summary = out(&second);
    assert!(
        summary.contains("skipped") && summary.contains("bench t46g is bad since"),
        "{summary}"
    );
    let table = out(&harness(&lab.path, &["lab", "status"]));
    assert!(line_of(&table, "t46g").contains(" bad "), "{table}");
    // By hand it can be looked at (that is how it gets mended), with the finding shown.
    let by_hand = harness(&lab.path, &["power", "t46g", "off"]);
    assert!(by_hand.status.success(), "{}", err(&by_hand));
    assert!(
        err(&by_hand).contains("note: bench t46g is bad since"),
        "{}",
        err(&by_hand)
    );

    // An explicit check of the bench passes: back in service.
    let check = harness(&lab.path, &["lab", "check", "--bench", "t46g"]);
    assert!(check.status.success(), "{}{}", out(&check), err(&check));
    assert!(
        out(&check).contains("bench t46g passed its check: back in service"),
        "{}",
        out(&check)
    );
    assert!(service::read_mark(&lab.locks, "t46g").unwrap().is_none());
    let third = common::external_run(&lab.path, &scenarios, &lab.dir.path().join("third"))
        .output()
        .unwrap();
    assert_eq!(third.status.code(), Some(1), "{}", out(&third));
    // It runs again: no snapshot in this private folder, so the case reaches its snapshot
    // check (a finding), instead of being skipped.
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(lab.dir.path().join("third/summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["cases"][0]["outcome"], "fail", "{summary}");
    assert!(
        summary["cases"][0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("no snapshot yet"),
        "{summary}"
    );
}

#[tokio::test]
async fn the_dashboard_benches_page_shows_the_same_live_status() {
    let lab = private_lab();
    let Attempt::Acquired { lock: _held, .. } =
        try_acquire(&lab.locks, "t46g", "run nightly").unwrap()
    else {
        panic!("a free bench");
    };
    service::mark(
        &lab.locks,
        "t40p",
        OutOfService::Disabled,
        "cabling <redone>",
        "ana",
    )
    .unwrap();
    let db = lab.dir.path().join("history.sqlite");
    drop(harness::history::open(&db).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let live = harness::dashboard::benches::LiveLab {
        lab: std::sync::Arc::new(harness::lab::load(&lab.path).unwrap_or_else(|e| panic!("{e}"))),
        lock_dir: lab.locks.clone(),
    };
    tokio::spawn(async move {
        harness::dashboard::serve_with_live_status(
            listener,
            &db,
            harness::endpoints::HttpLimits::default(),
            Some(live),
            std::future::pending(),
        )
        .await
        .unwrap();
    });
    let page = || async {
        let html = reqwest::get(format!("http://{addr}/benches"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        scraper::Html::parse_document(&html)
    };
    let row = |html: &scraper::Html, bench: &str| -> (String, String) {
        let selector =
            scraper::Selector::parse(&format!("tr.live-bench[data-bench=\"{bench}\"]")).unwrap();
        let row = html
            .select(&selector)
            .next()
            .unwrap_or_else(|| panic!("no live row for {bench}: {}", html.html()));
        (
            row.value().attr("data-state").unwrap().to_string(),
            row.text().collect::<String>(),
        )
    };
    let html = page().await;
    let (state, text) = row(&html, "t46g");
    assert_eq!(state, "leased", "{text}");
    assert!(
        text.contains(&format!("pid {}", std::process::id())) && text.contains("run nightly"),
        "{text}"
    );
    let (state, text) = row(&html, "t40p");
    assert_eq!(state, "disabled", "{text}");
    // The reason is text, escaped, never markup.
    assert!(
        text.contains("cabling <redone>") && text.contains("by ana"),
        "{text}"
    );
    assert!(!html.html().contains("<redone>"), "unescaped reason");
    assert_eq!(row(&html, "t42s").0, "free");

    // Live: enabled a moment ago, free on the next look.
    service::clear(&lab.locks, "t40p").unwrap();
    assert_eq!(row(&page().await, "t40p").0, "free");
}
