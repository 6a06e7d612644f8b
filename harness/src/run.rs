//! `harness run`: the scenario matrix on every selected bench, benches in parallel, each
//! bench's cases in series; then the reports.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use futures::FutureExt;
use tokio::sync::watch;

use crate::expect::{SnapshotStore, SnapshotWrites};
use crate::health::HealthError;
use crate::lab::{Approval, Bench, FaultPolicy, Lab};
use crate::lab_services::LabServices;
use crate::outcome::{Outcome, exit_code_for};
use crate::rack::{BenchRig, Rack};
use crate::report::{BenchHealth, CaseReport, Progress, RunReport};
use crate::retry::{self, Health, HealthTally, NextAction};
use crate::safety::lock::LockWait;
use crate::safety::owned::{Claim, OwnedBench, claim};
use crate::scenario::Scenario;
use crate::scenario::engine::{CaseEnd, EngineContext, run_case};

/// What to run and where to put the results.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The lab file.
    pub lab: PathBuf,
    /// The scenarios folder.
    pub scenarios_dir: PathBuf,
    /// Glob patterns over scenario names; empty = every scenario.
    pub scenario_globs: Vec<String>,
    /// Bench names; empty = every bench.
    pub benches: Vec<String>,
    /// The firmware fixtures or drop the scenarios flash from.
    pub fixtures_dir: PathBuf,
    /// The snapshots each transcript is compared with.
    pub snapshots_dir: PathBuf,
    /// What the comparisons may write into `snapshots_dir`.
    pub snapshot_writes: SnapshotWrites,
    /// The run folder; `None` = a new folder under `target/harness-runs/`.
    pub out_dir: Option<PathBuf>,
    /// An extra JUnit file (the run folder always gets `junit.xml`).
    pub junit: Option<PathBuf>,
    /// The ticket or approver that allows destructive steps on benches that require it.
    pub approval: Option<String>,
    /// How progress is shown: live bars for a person, plain lines for a log.
    pub progress: Progress,
    /// Start the in-process virtual bench when the lab has a `[twin]` table. Off when the
    /// twin runs as its own process.
    pub start_virtual_bench: bool,
    /// Where bench leases and crash journals live; `None`: the lab's `lock_dir`, else the
    /// host default (`safety::default_lock_dir`).
    pub lock_dir: Option<PathBuf>,
    /// How long to wait for a bench another process drives.
    pub lock_wait: LockWait,
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
    let snapshots = match absolute(&opts.snapshots_dir) {
        Ok(p) => SnapshotStore::new(p, opts.snapshot_writes),
        Err(e) => {
            return report.config_error(format!(
                "snapshots folder {}: {e}",
                opts.snapshots_dir.display()
            ));
        }
    };
    let (plan, mut skipped) = plan(&lab, &selected, &opts);
    report.cases.append(&mut skipped);

    let mut progress = opts.progress.start(
        &dedup_benches(&plan),
        &plan
            .iter()
            .map(|p| p.bench.name.clone())
            .collect::<Vec<_>>(),
    );
    // The folder is written as cases finish, so a run that dies still leaves its results.
    match crate::report::run_folder::RunFolder::create(&report) {
        Ok(folder) => progress.attach(Arc::new(folder)),
        Err(e) => {
            tracing::warn!(dir = %report.run_dir.display(), "cannot start the run folder: {e}")
        }
    }
    // Every bench is ours before anything is opened or bound: the other process holds its
    // serial ports exclusively and the endpoints' ports.
    let lock_dir =
        crate::safety::resolve_lock_dir(opts.lock_dir.as_deref(), lab.lock_dir.as_deref());
    let (plan, claims, mut refused) =
        claim_benches(&lock_dir, plan, opts.lock_wait, &progress).await;
    report.cases.append(&mut refused);
    if plan.is_empty() {
        progress.finish();
        report.duration = started.elapsed();
        report.exit_code = exit_code_for(report.cases.iter().map(|c| c.outcome));
        return report;
    }
    if let Some(approval) = &opts.approval
        && plan
            .iter()
            .any(|p| p.scenario.destructive && p.bench.approval == Approval::Required)
    {
        report.approval = Some(approval.clone());
    }

    let services = match LabServices::start(&lab, opts.start_virtual_bench).await {
        Ok(s) => s,
        Err(e) => return report.lab_fault_everywhere(&plan_cases(&plan), e.to_string()),
    };

    let benches: Vec<&Bench> = dedup_benches(&plan);
    let rack = Rack::open(&lab, &benches);
    let (cancel_tx, cancel_rx) = watch::channel(false);
    let ctrl_c = tokio::spawn(async move {
        let signal = crate::safety::stop::stop_requested().await;
        tracing::warn!(
            "{}: releasing every key and making every bench safe",
            signal.name()
        );
        let _ = cancel_tx.send(true);
        // The sender stays alive: a closed channel would read as a Ctrl-C.
        std::future::pending::<()>().await;
    });

    let shared = BenchRun {
        ctx: EngineContext {
            endpoints: &services.endpoints,
            fixtures_dir: &opts.fixtures_dir,
            time_scale: lab.time_scale,
            cancel: cancel_rx,
        },
        rack: &rack,
        snapshots: &snapshots,
        progress: &progress,
        approval: opts.approval.as_deref(),
        faults: &lab.faults,
    };
    let bench_runs = claims.into_iter().map(|claim| {
        let cases: Vec<&Planned> = plan
            .iter()
            .filter(|p| p.bench.name == claim.bench().name)
            .collect();
        shared.run_bench(claim, cases)
    });
    for (mut cases, recovery, health) in futures::future::join_all(bench_runs).await {
        report.cases.append(&mut cases);
        report.recoveries.extend(recovery);
        report.bench_health.push(health);
    }
    progress.finish();
    ctrl_c.abort();
    drop(shared);
    // Close every device while the (virtual) rack is still there: the next owner of a
    // bench must find its ports free once its lease is given up.
    drop(rack);
    services.shutdown().await;
    report.duration = started.elapsed();
    report.exit_code = exit_code_for(report.cases.iter().map(|c| c.outcome));
    report
}

/// Claims every planned bench, waiting as `wait` allows (all benches at once, so the
/// total wait is the longest, not the sum). Returns the plan of the benches claimed, their
/// claims, and the cases of the others: `skipped` naming the holder when the bench is
/// busy, `lab-fault` when the lock folder or journal is unusable.
async fn claim_benches(
    lock_dir: &Path,
    plan: Vec<Planned>,
    wait: LockWait,
    progress: &crate::report::LiveProgress,
) -> (Vec<Planned>, Vec<Claim>, Vec<CaseReport>) {
    let benches: Vec<Bench> = dedup_benches(&plan).into_iter().cloned().collect();
    let attempts = benches.iter().map(|bench| {
        let scenarios: Vec<&str> = plan
            .iter()
            .filter(|p| p.bench.name == bench.name)
            .map(|p| p.scenario.name.as_str())
            .collect();
        let purpose = format!("run {}", scenarios.join(" "));
        async move {
            let got = claim(lock_dir, bench, &purpose, wait, |holder| {
                tracing::warn!(bench = %bench.name, "waiting for the bench: it is in use by {holder}");
                progress.bench_message(&bench.name, &format!("waiting: in use by {holder}"));
            })
            .await;
            (bench, got)
        }
    });
    let mut claims = Vec::new();
    let mut unclaimed: Vec<(String, Outcome, String)> = Vec::new();
    for (bench, got) in futures::future::join_all(attempts).await {
        match got {
            Ok(claim) => {
                tracing::info!(bench = %bench.name, pid = std::process::id(), "bench locked");
                claims.push(claim);
            }
            Err(e) => unclaimed.push((bench.name.clone(), e.outcome(), e.to_string())),
        }
    }
    let mut kept = Vec::new();
    let mut refused = Vec::new();
    for p in plan {
        match unclaimed.iter().find(|(name, _, _)| *name == p.bench.name) {
            Some((_, outcome, reason)) => {
                let r = CaseReport::new(&p.scenario, &p.bench, *outcome, reason.clone());
                progress.case_done(&r);
                refused.push(r);
            }
            None => kept.push(p),
        }
    }
    (kept, claims, refused)
}

/// What every bench of a run shares.
struct BenchRun<'a> {
    ctx: EngineContext<'a>,
    rack: &'a Rack,
    snapshots: &'a SnapshotStore,
    progress: &'a crate::report::LiveProgress,
    /// The approval of destructive steps, for benches that require one.
    approval: Option<&'a str>,
    faults: &'a FaultPolicy,
}

impl BenchRun<'_> {
    /// Reports every case of `cases` with `outcome` and `reason`, without running it.
    fn report_all(
        &self,
        bench: &Bench,
        cases: &[&Planned],
        outcome: Outcome,
        reason: &str,
    ) -> Vec<CaseReport> {
        cases
            .iter()
            .map(|case| {
                let r = CaseReport::new(&case.scenario, bench, outcome, reason.to_string());
                self.progress.case_done(&r);
                r
            })
            .collect()
    }

    /// Runs a bench's cases in series, from taking it over to giving it up safe. What a
    /// predecessor left is made safe first; what that found is returned for the run
    /// summary, with the bench's health over the run.
    ///
    /// A case that ends as a lab fault is followed by the health check; a healthy bench runs
    /// the case again as the lab's fault policy allows (only the last attempt is reported),
    /// an unhealthy one leaves service and its remaining cases are skipped naming the check.
    async fn run_bench(
        &self,
        claim: Claim,
        cases: Vec<&Planned>,
    ) -> (Vec<CaseReport>, Option<String>, BenchHealth) {
        let bench = claim.bench().clone();
        let mut tally = HealthTally::new(&bench);
        let owned = claim.take_over(self.rack).await;
        let recovery = owned.takeover.note();
        let unusable = if owned.takeover.left_unsafe() {
            recovery.clone()
        } else {
            owned.rig().unavailable().map(|e| e.to_string())
        };
        let reports = match unusable {
            Some(reason) => {
                tally.unusable(&reason);
                self.report_all(&bench, &cases, Outcome::LabFault, &reason)
            }
            None => self.run_cases(&owned, &mut tally, cases).await,
        };
        let safe = owned.close().await;
        if !safe.is_safe() {
            tracing::error!(bench = %bench.name, "could not make the bench safe: {safe}");
            tally.unsafe_at_end(&safe.to_string());
        }
        (reports, recovery, tally.finish())
    }

    async fn run_cases(
        &self,
        owned: &OwnedBench,
        tally: &mut HealthTally,
        cases: Vec<&Planned>,
    ) -> Vec<CaseReport> {
        let rig = owned.rig();
        let bench = &rig.bench;
        let mut reports = Vec::new();
        let mut out_of_service: Option<String> = None;
        for case in cases {
            if let Some(reason) = &out_of_service {
                let r = CaseReport::new(&case.scenario, bench, Outcome::Skipped, reason.clone());
                self.progress.case_done(&r);
                reports.push(r);
                continue;
            }
            let approval = self
                .approval
                .filter(|_| bench.approval == Approval::Required);
            let case_name = format!("{}@{}", case.scenario.name, bench.model);
            let mut earlier: Vec<String> = Vec::new();
            let mut attempt = 1;
            let mut r = loop {
                self.progress.case_started(&bench.name, &case.scenario.name);
                let mut r =
                    run_guarded(&self.ctx, rig, &case.scenario, self.snapshots, approval).await;
                r.attempts = attempt;
                let health = if retry::needs_health_check(r.outcome) {
                    tally.lab_fault(&case_name, attempt, &r.detail);
                    self.progress
                        .bench_message(&bench.name, "health check after a lab fault");
                    match crate::health::check(&self.ctx, self.rack, rig, self.faults).await {
                        Ok(()) => {
                            tally.healthy();
                            Health::Healthy
                        }
                        Err(HealthError::Interrupted) => Health::Interrupted,
                        Err(e) => {
                            tracing::error!(bench = %bench.name, "health check failed: {e}");
                            tally.unhealthy(&e.to_string());
                            Health::Unhealthy(e.to_string())
                        }
                    }
                } else {
                    Health::NotChecked
                };
                let retries_left = (self.faults.retries + 1).saturating_sub(attempt);
                match retry::next_action(r.outcome, retries_left, &health) {
                    NextAction::Retry => {
                        tracing::warn!(bench = %bench.name, case = %case_name,
                            "the bench is healthy again: attempt {} of the case", attempt + 1);
                        earlier.push(format!("attempt {attempt}: lab fault: {}", r.detail));
                        tally.retried();
                        attempt += 1;
                    }
                    NextAction::Report => break r,
                    NextAction::RetireBench(reason) => {
                        out_of_service = Some(retry::retired_reason(&bench.name, &reason));
                        break r;
                    }
                    NextAction::Stop => {
                        out_of_service = Some("run interrupted".into());
                        break r;
                    }
                }
            };
            // A pass carries the earlier attempts' reasons; a diff is kept as it is, for its
            // file, and the reasons are in the bench's health detail either way.
            if r.outcome == Outcome::Pass && !earlier.is_empty() {
                r.detail = format!(
                    "passed on attempt {} after a lab fault ({})",
                    r.attempts,
                    earlier.join("; ")
                );
            }
            self.progress.case_done(&r);
            reports.push(r);
        }
        reports
    }
}

/// One attempt of a case. A panic in it must not skip the bench's make-safe: it is
/// caught here and reported as a lab fault.
async fn run_guarded(
    ctx: &EngineContext<'_>,
    rig: &BenchRig,
    scenario: &Scenario,
    snapshots: &SnapshotStore,
    approval: Option<&str>,
) -> CaseReport {
    std::panic::AssertUnwindSafe(run_one(ctx, rig, scenario, snapshots, approval))
        .catch_unwind()
        .await
        .unwrap_or_else(|_| {
            CaseReport::new(
                scenario,
                &rig.bench,
                Outcome::LabFault,
                "the harness panicked in this case".into(),
            )
        })
}

/// Runs one case. `approval` is given only on a bench that requires it: it goes into the
/// raw transcript's header and the case report, never into the compared (redacted) text,
/// so the same snapshot holds with and without approval and on the virtual benches.
async fn run_one(
    ctx: &EngineContext<'_>,
    rig: &BenchRig,
    scenario: &Scenario,
    snapshots: &SnapshotStore,
    approval: Option<&str>,
) -> CaseReport {
    let started = Instant::now();
    let run = run_case(ctx, rig, scenario).await;
    let redacted = run.redactor.apply(&run.transcript.text());
    let name = format!("{}@{}", scenario.name, rig.bench.model);
    let (outcome, detail) = match run.end {
        // A finding needs a bench whose devices still answer: a relay board lost mid-case
        // changes what the phone does without the transcript saying so. Checked before the
        // comparison, so a broken lab leaves no pending snapshot behind either.
        CaseEnd::Completed => match rig.verify_devices().await {
            Err(e) => (
                e.class().outcome(),
                format!(
                    "a device of the bench failed when read after the case, so its transcript \
                     was not compared: {e}"
                ),
            ),
            Ok(()) => snapshots
                .check(&name, &scenario.summary, &redacted)
                .verdict(),
        },
        CaseEnd::LabFault(m) => (Outcome::LabFault, m),
        CaseEnd::ConfigError(m) => (Outcome::ConfigError, m),
        CaseEnd::Interrupted => (Outcome::Interrupted, "interrupted".into()),
    };
    let mut report = CaseReport::new(scenario, &rig.bench, outcome, detail);
    report.duration = started.elapsed();
    report.transcript = redacted;
    report.raw_transcript = with_approval(&run.transcript.text(), approval);
    report.approval = approval.map(str::to_string);
    report.firmware_seen = run.transcript.firmware_seen().to_vec();
    report
}

/// The transcript with an `approval:` line closing its header (the lines before the first
/// blank line).
fn with_approval(transcript: &str, approval: Option<&str>) -> String {
    let Some(approval) = approval else {
        return transcript.to_string();
    };
    let line = format!("approval: {approval}\n");
    match transcript.find("\n\n") {
        Some(end) => format!(
            "{}\n{}{}",
            &transcript[..end],
            line.trim_end(),
            &transcript[end..]
        ),
        None => format!("{transcript}{line}"),
    }
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
                let lock_dir = opts.lock_dir.as_deref().or(lab.lock_dir.as_deref());
                if let Some(why) = crate::safety::service::unusable_in(lock_dir, &bench.name) {
                    skipped.push(CaseReport::new(&scenario, bench, Outcome::Skipped, why));
                    continue;
                }
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

#[cfg(test)]
mod tests {
    use super::with_approval;

    #[test]
    fn approval_closes_the_header() {
        let t = "scenario: x\nsource: kb\n\n== given\npower on\n";
        assert_eq!(
            with_approval(t, Some("TICKET-7")),
            "scenario: x\nsource: kb\napproval: TICKET-7\n\n== given\npower on\n"
        );
        assert_eq!(with_approval(t, None), t);
    }
}
