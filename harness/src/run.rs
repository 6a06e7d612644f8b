//! `harness run`: the scenario matrix on every selected bench, benches in parallel, each
//! bench's cases in series; then the reports.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;

use crate::endpoints::Endpoints;
use crate::expect::{SnapshotCheck, check};
use crate::lab::{Approval, Bench, Lab};
use crate::outcome::{Outcome, exit_code_for};
use crate::rack::{BenchRig, Rack};
use crate::report::{CaseReport, Progress, RunReport};
use crate::scenario::Scenario;
use crate::scenario::engine::{CaseEnd, EngineContext, run_case};

/// What to run and where to put the results.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub lab: PathBuf,
    pub scenarios_dir: PathBuf,
    /// Glob patterns over scenario names; empty = every scenario.
    pub scenario_globs: Vec<String>,
    /// Bench names; empty = every bench.
    pub benches: Vec<String>,
    pub fixtures_dir: PathBuf,
    pub snapshots_dir: PathBuf,
    /// The run folder; `None` = a new folder under `target/harness-runs/`.
    pub out_dir: Option<PathBuf>,
    /// An extra JUnit file (the run folder always gets `junit.xml`).
    pub junit: Option<PathBuf>,
    /// The ticket or approver that allows destructive steps on benches that require it.
    pub approval: Option<String>,
    pub progress: Progress,
    /// Start the in-process virtual bench when the lab has a `[twin]` table. Off when the
    /// twin runs as its own process.
    pub start_virtual_bench: bool,
}

/// One case to run.
struct Planned {
    scenario: Arc<Scenario>,
    bench: Bench,
}

/// Runs the matrix. Never panics on bad input: a bad file is a `config-error` report.
pub async fn run(opts: RunOptions) -> RunReport {
    let started = Instant::now();
    let run_dir = opts
        .out_dir
        .clone()
        .unwrap_or_else(crate::report::new_run_dir);
    let mut report = RunReport::new(run_dir, opts.lab.clone());

    let lab = match crate::lab::load(&opts.lab) {
        Ok(lab) => lab,
        Err(e) => return report.config_error(e.to_string()),
    };
    report.lab_name = lab.name.clone();
    let scenarios = match crate::scenario::load::load_dir(&opts.scenarios_dir) {
        Ok(s) => s,
        Err(e) => return report.config_error(e.to_string()),
    };
    let selected = match select(&lab, &scenarios, &opts) {
        Ok(s) => s,
        Err(e) => return report.config_error(e),
    };
    let snapshots_dir = match absolute(&opts.snapshots_dir) {
        Ok(p) => p,
        Err(e) => {
            return report.config_error(format!(
                "snapshots folder {}: {e}",
                opts.snapshots_dir.display()
            ));
        }
    };
    let (plan, mut skipped) = plan(&lab, &selected, &opts);
    report.cases.append(&mut skipped);

    let endpoints = match Endpoints::start(&lab).await {
        Ok(e) => e,
        Err(e) => {
            return report.lab_fault_everywhere(&plan_cases(&plan), format!("endpoints: {e}"));
        }
    };
    let virtual_bench = if opts.start_virtual_bench && lab.twin.is_some() {
        match crate::virtual_bench::VirtualLab::start(
            &lab,
            &endpoints.provisioning_url(),
            endpoints.addrs.tftp,
        )
        .await
        {
            Ok(v) => Some(v),
            Err(e) => {
                endpoints.shutdown().await;
                return report
                    .lab_fault_everywhere(&plan_cases(&plan), format!("virtual bench: {e}"));
            }
        }
    } else {
        None
    };

    let benches: Vec<&Bench> = dedup_benches(&plan);
    let rack = Rack::open(&lab, &benches);
    let (cancel_tx, cancel_rx) = watch::channel(false);
    let ctrl_c = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::warn!("interrupted: releasing every key and making every bench safe");
            let _ = cancel_tx.send(true);
        }
    });

    let progress = opts.progress.start(
        &benches,
        &plan
            .iter()
            .map(|p| p.bench.name.clone())
            .collect::<Vec<_>>(),
    );
    let ctx = EngineContext {
        endpoints: &endpoints,
        fixtures_dir: &opts.fixtures_dir,
        time_scale: lab.time_scale,
        cancel: cancel_rx,
    };
    let bench_runs = benches.iter().map(|bench| {
        let cases: Vec<&Planned> = plan.iter().filter(|p| p.bench.name == bench.name).collect();
        run_bench(&ctx, &rack, bench, cases, &snapshots_dir, &progress)
    });
    for mut cases in futures::future::join_all(bench_runs).await {
        report.cases.append(&mut cases);
    }
    progress.finish();
    ctrl_c.abort();

    if let Some(v) = virtual_bench {
        v.shutdown().await;
    }
    endpoints.shutdown().await;
    report.duration = started.elapsed();
    report.exit_code = exit_code_for(report.cases.iter().map(|c| c.outcome));
    report
}

/// Runs a bench's cases in series; on any exit its keys are released and its power made safe.
async fn run_bench(
    ctx: &EngineContext<'_>,
    rack: &Rack,
    bench: &Bench,
    cases: Vec<&Planned>,
    snapshots_dir: &Path,
    progress: &crate::report::LiveProgress,
) -> Vec<CaseReport> {
    let mut reports = Vec::new();
    let rig = match rack.rig(bench) {
        Ok(rig) => rig,
        Err(e) => {
            for case in cases {
                let r = CaseReport::new(&case.scenario, bench, Outcome::LabFault, e.to_string());
                progress.case_done(&r);
                reports.push(r);
            }
            return reports;
        }
    };
    let mut out_of_service: Option<String> = None;
    for case in cases {
        if let Some(reason) = &out_of_service {
            let r = CaseReport::new(&case.scenario, bench, Outcome::Skipped, reason.clone());
            progress.case_done(&r);
            reports.push(r);
            continue;
        }
        progress.case_started(&bench.name, &case.scenario.name);
        let r = run_one(ctx, &rig, &case.scenario, snapshots_dir).await;
        match r.outcome {
            Outcome::LabFault => {
                out_of_service = Some(format!(
                    "bench out of service after a lab fault: {}",
                    r.detail
                ));
            }
            Outcome::Interrupted => out_of_service = Some("run interrupted".into()),
            _ => {}
        }
        progress.case_done(&r);
        reports.push(r);
    }
    if let Err(e) = rig.make_safe().await {
        tracing::error!(bench = %bench.name, "could not make the bench safe: {e}");
    }
    reports
}

async fn run_one(
    ctx: &EngineContext<'_>,
    rig: &BenchRig,
    scenario: &Scenario,
    snapshots_dir: &Path,
) -> CaseReport {
    let started = Instant::now();
    let run = run_case(ctx, rig, scenario).await;
    let redacted = run.redactor.apply(&run.transcript.text());
    let name = format!("{}@{}", scenario.name, rig.bench.model);
    let (outcome, detail) = match run.end {
        CaseEnd::Completed => match check(snapshots_dir, &name, &scenario.summary, &redacted) {
            SnapshotCheck::Matches => (Outcome::Pass, String::new()),
            SnapshotCheck::Missing { pending } => (
                Outcome::Fail,
                format!(
                    "no snapshot yet: read {} and accept it with `cargo insta accept`",
                    pending.display()
                ),
            ),
            SnapshotCheck::Differs { diff } => (Outcome::Fail, diff),
        },
        CaseEnd::LabFault(m) => (Outcome::LabFault, m),
        CaseEnd::ConfigError(m) => (Outcome::ConfigError, m),
        CaseEnd::Interrupted => (Outcome::Interrupted, "interrupted".into()),
    };
    let mut report = CaseReport::new(scenario, &rig.bench, outcome, detail);
    report.duration = started.elapsed();
    report.transcript = redacted;
    report.raw_transcript = run.transcript.text();
    report
}

/// Scenarios picked by the globs, benches picked by name; unknown names are errors.
fn select<'s>(
    lab: &Lab,
    scenarios: &'s [Scenario],
    opts: &RunOptions,
) -> Result<Vec<&'s Scenario>, String> {
    for name in &opts.benches {
        if !lab.benches.iter().any(|b| &b.name == name) {
            let known: Vec<&str> = lab.benches.iter().map(|b| b.name.as_str()).collect();
            return Err(format!(
                "--bench {name}: no such bench in {} (benches: {})",
                lab.source.display(),
                known.join(", ")
            ));
        }
    }
    if opts.scenario_globs.is_empty() {
        return Ok(scenarios.iter().collect());
    }
    let mut set = globset::GlobSetBuilder::new();
    for pattern in &opts.scenario_globs {
        set.add(globset::Glob::new(pattern).map_err(|e| format!("--scenario {pattern}: {e}"))?);
    }
    let set = set.build().map_err(|e| e.to_string())?;
    let picked: Vec<&Scenario> = scenarios.iter().filter(|s| set.is_match(&s.name)).collect();
    if picked.is_empty() {
        return Err(format!(
            "--scenario {}: matches no scenario in {}",
            opts.scenario_globs.join(" "),
            opts.scenarios_dir.display()
        ));
    }
    Ok(picked)
}

/// Every (scenario, bench) pair to run, and the skipped ones with their reason.
fn plan(lab: &Lab, scenarios: &[&Scenario], opts: &RunOptions) -> (Vec<Planned>, Vec<CaseReport>) {
    let mut planned = Vec::new();
    let mut skipped = Vec::new();
    let benches: Vec<&Bench> = lab
        .benches
        .iter()
        .filter(|b| opts.benches.is_empty() || opts.benches.contains(&b.name))
        .collect();
    for scenario in scenarios {
        let scenario = Arc::new((*scenario).clone());
        for model in &scenario.models {
            let on_model: Vec<&&Bench> = benches.iter().filter(|b| b.model == *model).collect();
            if on_model.is_empty() && opts.benches.is_empty() {
                skipped.push(CaseReport::unbenched(&scenario, *model));
            }
            for bench in on_model {
                if scenario.destructive
                    && bench.approval == Approval::Required
                    && opts.approval.is_none()
                {
                    skipped.push(CaseReport::new(
                        &scenario,
                        bench,
                        Outcome::Skipped,
                        "approval missing: the bench requires --approval for destructive scenarios"
                            .into(),
                    ));
                    continue;
                }
                planned.push(Planned {
                    scenario: scenario.clone(),
                    bench: (*bench).clone(),
                });
            }
        }
    }
    (planned, skipped)
}

fn plan_cases(plan: &[Planned]) -> Vec<(Arc<Scenario>, Bench)> {
    plan.iter()
        .map(|p| (p.scenario.clone(), p.bench.clone()))
        .collect()
}

fn dedup_benches(plan: &[Planned]) -> Vec<&Bench> {
    let mut out: Vec<&Bench> = Vec::new();
    for p in plan {
        if !out.iter().any(|b| b.name == p.bench.name) {
            out.push(&p.bench);
        }
    }
    out
}

fn absolute(path: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(path)?;
    path.canonicalize()
}
