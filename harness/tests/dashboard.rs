//! The dashboard over HTTP: a history database built with SQL, the server on a free
//! loopback port, and the pages' HTML parsed to check their structure.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, params};
use scraper::{Html, Selector};

/// A history database in a temp dir, filled by the helpers below.
struct History {
    _dir: tempfile::TempDir,
    path: PathBuf,
    conn: Connection,
}

impl History {
    fn new() -> History {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.sqlite");
        let conn = harness::history::open(&path).unwrap();
        History {
            _dir: dir,
            path,
            conn,
        }
    }

    /// A run; returns its row id.
    fn run(&self, run_id: &str, lab: &str, started_at: &str, status: &str) -> i64 {
        self.conn
            .execute(
                "INSERT INTO runs (run_id, host, lab_name, started_at, duration_s, status,
                 exit_code, run_dir, recorded_at) VALUES (?1, 'labhost', ?2, ?3, 12.5, ?4, 1, ?5, ?3)",
                params![run_id, lab, started_at, status, format!("target/harness-runs/{run_id}")],
            )
            .unwrap();
        self.conn.last_insert_rowid()
    }

    /// A case of `run`; returns its row id.
    fn case(&self, run: i64, scenario: &str, model: &str, outcome: &str, transcript: &str) -> i64 {
        self.conn
            .execute(
                "INSERT INTO cases (run, scenario, model, bench, outcome, detail, duration_s,
                 attempts, transcript) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 2.0, 1, ?7)",
                params![
                    run,
                    scenario,
                    model,
                    format!("bench-{model}"),
                    outcome,
                    if outcome == "fail" {
                        "-expected <a>\n+got <b> & more"
                    } else {
                        ""
                    },
                    transcript
                ],
            )
            .unwrap();
        self.conn.last_insert_rowid()
    }

    fn health(&self, run: i64, bench: &str, state: &str, lab_faults: i64) {
        self.conn
            .execute(
                "INSERT INTO bench_health (run, bench, model, state, lab_faults, retries, detail)
                 VALUES (?1, ?2, 'T46U', ?3, ?4, 0, '')",
                params![run, bench, state, lab_faults],
            )
            .unwrap();
    }
}

/// Starts the dashboard on a free loopback port; returns its base URL.
async fn serve(db: &Path) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let db = db.to_path_buf();
    tokio::spawn(async move {
        harness::dashboard::serve(listener, &db, std::future::pending())
            .await
            .unwrap();
    });
    format!("http://{addr}")
}

async fn get(url: &str) -> (u16, Html) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    (
        status,
        Html::parse_document(&response.text().await.unwrap()),
    )
}

fn select<'a>(html: &'a Html, css: &str) -> Vec<scraper::ElementRef<'a>> {
    html.select(&Selector::parse(css).unwrap()).collect()
}

fn text(element: &scraper::ElementRef<'_>) -> String {
    element.text().collect()
}

#[tokio::test]
async fn the_run_matrix_has_one_coloured_linked_cell_per_case() {
    let h = History::new();
    let run = h.run("r1", "virtual", "2026-01-02T06:00:00Z", "complete");
    let pass = h.case(run, "upgrade", "T46U", "pass", "ok");
    let fail = h.case(run, "upgrade", "T48S", "fail", "boom");
    let fault = h.case(run, "reset", "T46U", "lab-fault", "relay");
    let base = serve(&h.path).await;

    let (status, page) = get(&format!("{base}/runs/{run}")).await;
    assert_eq!(status, 200);
    let headers: Vec<String> = select(&page, "table.matrix thead th")
        .iter()
        .map(text)
        .collect();
    assert_eq!(headers, ["scenario", "T46U", "T48S"]);
    let rows: Vec<String> = select(&page, "table.matrix tbody th[scope=row]")
        .iter()
        .map(text)
        .collect();
    assert_eq!(rows, ["reset", "upgrade"]);
    let cells: Vec<(String, String, String)> = select(&page, "table.matrix tbody td a")
        .iter()
        .map(|a| {
            (
                a.value().attr("class").unwrap().to_string(),
                a.value().attr("href").unwrap().to_string(),
                text(a),
            )
        })
        .collect();
    assert_eq!(
        cells,
        [
            (
                "outcome outcome-lab-fault".into(),
                format!("/runs/{run}/cases/{fault}"),
                "lab-fault".into()
            ),
            (
                "outcome outcome-pass".into(),
                format!("/runs/{run}/cases/{pass}"),
                "pass".into()
            ),
            (
                "outcome outcome-fail".into(),
                format!("/runs/{run}/cases/{fail}"),
                "fail".into()
            ),
        ]
    );
    // reset never ran on the T48S: the square says so in its title.
    assert_eq!(select(&page, "table.matrix td span.outcome-none").len(), 1);
}

#[tokio::test]
async fn the_case_page_shows_the_escaped_transcript_and_coloured_diff() {
    let h = History::new();
    let run = h.run("r1", "virtual", "2026-01-02T06:00:00Z", "complete");
    let transcript = "SIP REGISTER <sip:100@127.0.0.1> & friends\n</pre><script>alert(1)</script>";
    let case = h.case(run, "upgrade", "T46U", "fail", transcript);
    h.conn
        .execute(
            "INSERT INTO firmware_seen (case_id, version) VALUES (?1, '28.86.0.10')",
            [case],
        )
        .unwrap();
    let base = serve(&h.path).await;

    let response = reqwest::get(format!("{base}/runs/{run}/cases/{case}"))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let raw = response.text().await.unwrap();
    assert!(raw.contains("&lt;sip:100@127.0.0.1&gt; &amp; friends"));
    assert!(!raw.contains("<script>"));
    let page = Html::parse_document(&raw);
    let pre = select(&page, "pre.transcript");
    assert_eq!(pre.len(), 1);
    assert_eq!(text(&pre[0]), transcript);
    assert_eq!(
        text(&select(&page, "pre.diff span.del")[0]),
        "-expected <a>"
    );
    assert_eq!(
        text(&select(&page, "pre.diff span.add")[0]),
        "+got <b> & more"
    );
    assert_eq!(text(&select(&page, "h1 .outcome-fail")[0]), "fail");
    assert_eq!(text(&select(&page, "dd.firmware")[0]), "28.86.0.10");
    assert_eq!(text(&select(&page, "dd.attempts")[0]), "1");
}

#[tokio::test]
async fn the_trend_shows_outcomes_oldest_first_linking_each_case() {
    let h = History::new();
    let mut expected = Vec::new();
    // Recorded out of order: the trend follows started_at, not insertion.
    for (run_id, at, outcome) in [
        ("r3", "2026-01-03T06:00:00Z", "lab-fault"),
        ("r1", "2026-01-01T06:00:00Z", "pass"),
        ("r2", "2026-01-02T06:00:00Z", "fail"),
    ] {
        let run = h.run(run_id, "virtual", at, "complete");
        let case = h.case(run, "autop reset", "T46U", outcome, "");
        h.case(run, "other", "T46U", "skipped", "");
        expected.push((at, outcome.to_string(), format!("/runs/{run}/cases/{case}")));
    }
    expected.sort();
    let expected: Vec<(String, String)> =
        expected.into_iter().map(|(_, o, href)| (o, href)).collect();
    let base = serve(&h.path).await;

    let (status, page) = get(&format!("{base}/history/autop%20reset/T46U")).await;
    assert_eq!(status, 200);
    let cells: Vec<(String, String)> = select(&page, ".trend a.outcome")
        .iter()
        .map(|a| {
            let word = a.text().next().unwrap().to_string();
            (word, a.value().attr("href").unwrap().to_string())
        })
        .collect();
    assert_eq!(cells, expected);
    assert_eq!(select(&page, "svg.sparkline polyline").len(), 1);
}

#[tokio::test]
async fn the_front_page_lists_the_flips_since_the_previous_complete_run_of_the_lab() {
    let h = History::new();
    let r1 = h.run("r1", "virtual", "2026-01-01T06:00:00Z", "complete");
    h.case(r1, "upgrade", "T46U", "pass", "");
    h.case(r1, "reset", "T46U", "fail", "");
    h.case(r1, "steady", "T46U", "pass", "");
    // A partial run in between is not the baseline, and another lab never is.
    let r2 = h.run("r2", "virtual", "2026-01-02T06:00:00Z", "partial");
    h.case(r2, "upgrade", "T46U", "pass", "");
    h.case(r2, "reset", "T46U", "pass", "");
    let other = h.run("o1", "rack-a", "2026-01-02T07:00:00Z", "complete");
    h.case(other, "upgrade", "T46U", "pass", "");
    let r3 = h.run("r3", "virtual", "2026-01-03T06:00:00Z", "complete");
    let upgrade = h.case(r3, "upgrade", "T46U", "fail", "");
    let reset = h.case(r3, "reset", "T46U", "pass", "");
    h.case(r3, "steady", "T46U", "pass", "");
    let base = serve(&h.path).await;

    let (status, page) = get(&format!("{base}/")).await;
    assert_eq!(status, 200);
    let order: Vec<String> = select(&page, "tr.run")
        .iter()
        .map(|r| r.value().attr("data-run").unwrap().to_string())
        .collect();
    assert_eq!(order, [r3, other, r2, r1].map(|r| r.to_string()));

    let newest = &select(&page, &format!("tr.run[data-run=\"{r3}\"]"))[0];
    let failing: Vec<scraper::ElementRef<'_>> = newest
        .select(&Selector::parse("li.newly-failing a").unwrap())
        .collect();
    let passing: Vec<scraper::ElementRef<'_>> = newest
        .select(&Selector::parse("li.newly-passing a").unwrap())
        .collect();
    assert_eq!(failing.len(), 1);
    assert_eq!(text(&failing[0]), "upgrade@T46U");
    assert_eq!(
        failing[0].value().attr("href").unwrap(),
        format!("/runs/{r3}/cases/{upgrade}")
    );
    assert_eq!(passing.len(), 1);
    assert_eq!(text(&passing[0]), "reset@T46U");
    assert_eq!(
        passing[0].value().attr("href").unwrap(),
        format!("/runs/{r3}/cases/{reset}")
    );
    let since: Vec<String> = newest
        .select(&Selector::parse(".muted a").unwrap())
        .map(|a| text(&a))
        .collect();
    assert_eq!(since, ["r1"]);

    let partial = &select(&page, &format!("tr.run[data-run=\"{r2}\"]"))[0];
    assert_eq!(
        partial
            .select(&Selector::parse(".partial-mark").unwrap())
            .count(),
        1
    );
    assert_eq!(
        newest
            .select(&Selector::parse(".partial-mark").unwrap())
            .count(),
        0
    );
}

#[tokio::test]
async fn the_bench_page_shows_latest_state_and_recent_lab_faults() {
    let h = History::new();
    for (i, (state, faults)) in [("bad", 2), ("recovered", 1), ("healthy", 0)]
        .iter()
        .enumerate()
    {
        let run = h.run(
            &format!("r{i}"),
            "virtual",
            &format!("2026-01-0{}T06:00:00Z", i + 1),
            "complete",
        );
        h.health(run, "desk-1", state, *faults);
    }
    let base = serve(&h.path).await;

    let (status, page) = get(&format!("{base}/benches?last=2")).await;
    assert_eq!(status, 200);
    let row = &select(&page, "tr.bench[data-bench=\"desk-1\"]")[0];
    let state: String = row
        .select(&Selector::parse(".health").unwrap())
        .map(|e| text(&e))
        .collect();
    assert_eq!(state, "healthy");
    let faults: String = row
        .select(&Selector::parse("td.lab-faults").unwrap())
        .map(|e| text(&e))
        .collect();
    assert_eq!(faults, "1");
}

#[tokio::test]
async fn unknown_ids_and_paths_are_404_with_a_way_back() {
    let h = History::new();
    let r1 = h.run("r1", "virtual", "2026-01-01T06:00:00Z", "complete");
    let r2 = h.run("r2", "virtual", "2026-01-02T06:00:00Z", "complete");
    let case_of_r1 = h.case(r1, "upgrade", "T46U", "pass", "");
    let base = serve(&h.path).await;

    for path in [
        "/runs/999".to_string(),
        "/runs/not-a-number".into(),
        format!("/runs/{r1}/cases/999"),
        // A case under another run's URL does not exist there.
        format!("/runs/{r2}/cases/{case_of_r1}"),
        "/history/no-such-scenario/T46U".into(),
        "/no/such/page".into(),
    ] {
        let (status, page) = get(&format!("{base}{path}")).await;
        assert_eq!(status, 404, "{path}");
        let back: Vec<String> = select(&page, "main a")
            .iter()
            .map(|a| a.value().attr("href").unwrap().to_string())
            .collect();
        assert_eq!(back, ["/"], "{path}");
    }
    let (status, _) = get(&format!("{base}/runs/{r1}/cases/{case_of_r1}")).await;
    assert_eq!(status, 200);
}

#[test]
fn a_missing_or_foreign_database_is_a_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.sqlite");
    let error = harness::dashboard::Db::open(&missing).err().unwrap();
    assert!(error.to_string().contains("no run history at"), "{error}");
    assert!(
        !missing.exists(),
        "opening must not create an empty history"
    );

    let garbage = dir.path().join("garbage.sqlite");
    std::fs::write(&garbage, vec![0x42u8; 4096]).unwrap();
    let error = harness::dashboard::Db::open(&garbage).err().unwrap();
    assert!(
        error.to_string().contains("cannot open the run history"),
        "{error}"
    );
}

#[test]
fn a_database_of_another_schema_is_refused_at_start_untouched() {
    let dir = tempfile::tempdir().unwrap();
    // Another program's database with a `runs` table of its own.
    let foreign = dir.path().join("foreign.sqlite");
    {
        let conn = Connection::open(&foreign).unwrap();
        conn.execute_batch("CREATE TABLE runs (id INTEGER PRIMARY KEY, note TEXT);")
            .unwrap();
    }
    let error = harness::dashboard::Db::open(&foreign).err().unwrap();
    let said = error.to_string();
    assert!(said.contains("is not a harness history"), "{said}");
    assert!(said.contains("its table `runs` has the columns"), "{said}");
    assert!(said.contains(&foreign.display().to_string()), "{said}");
    let conn = Connection::open(&foreign).unwrap();
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tables, 1, "the dashboard created nothing in it");

    // A history written by a newer harness.
    let newer = History::new();
    newer.run("r1", "virtual", "2026-01-02T06:00:00Z", "complete");
    newer.conn.pragma_update(None, "user_version", 2).unwrap();
    let error = harness::dashboard::Db::open(&newer.path).err().unwrap();
    assert!(
        error
            .to_string()
            .contains("written by a newer harness (schema version 2"),
        "{error}"
    );
}

#[tokio::test]
async fn a_history_from_before_the_version_was_recorded_is_served_as_it_is() {
    let h = History::new();
    let run = h.run("r1", "virtual", "2026-01-02T06:00:00Z", "complete");
    h.case(run, "upgrade", "T46U", "pass", "ok");
    h.conn.pragma_update(None, "user_version", 0).unwrap();
    let base = serve(&h.path).await;
    let (status, page) = get(&format!("{base}/runs/{run}")).await;
    assert_eq!(status, 200);
    assert_eq!(select(&page, "table.matrix tbody td a").len(), 1);
    let version: i64 = h
        .conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 0, "the dashboard writes nothing");
}
