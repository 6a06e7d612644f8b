//! `harness run`: the scenario matrix on the lab's bench pools, then the reports.
//!
//! A case is a scenario on a model; every bench of that model is its pool, and the
//! scheduler (`pool.rs`) gives each case to a free bench of its pool, benches in parallel,
//! each bench one case at a time. The steps of a run: which benches are eligible
//! ([`eligible_benches`]), the plan of cases ([`plan`], where a case that does not apply is
//! set aside), the claims, the takeovers, the pools, the make-safe of every bench.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use futures::FutureExt;
use tokio::sync::watch;

use crate::expect::{SnapshotStore, SnapshotWrites};
use crate::health::HealthError;
use crate::lab::{Approval, Bench, FaultPolicy, Lab, Model};
use crate::lab_services::LabServices;
use crate::outcome::{Outcome, exit_code_for};
use crate::pool::{Dispatch, Finished};
use crate::rack::{BenchRig, Rack};
use crate::report::{CaseReport, Progress, RunReport};
use crate::retry::{self, Health, HealthTally, NextAction};
use crate::safety::lock::LockWait;
use crate::safety::owned::{Claim, OwnedBench, claim};
use crate::scenario::Scenario;
use crate::scenario::applicability::applicability;
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

/// One case to run: a scenario on a model. Which bench of the model's pool runs it is the
/// scheduler's choice (`pool.rs`).
#[derive(Clone)]
struct Planned {
    scenario: Arc<Scenario>,
    model: Model,
    /// The case's place in the plan: the report lists cases in this order, whatever order
    /// they finished in.
    order: usize,
}

/// The benches a run may use, and the ones it sets aside with the reason.
pub struct Eligibility<'l> {
    /// The benches cases may run on, in lab-file order.
    pub benches: Vec<&'l Bench>,
    /// Benches of the lab set aside, with why: a model whose every bench is set aside has
    /// its cases skipped naming these reasons.
    pub excluded: Vec<(&'l Bench, String)>,
    /// `--bench` named the benches: a model none of them has is not a case of this run.
    pub narrowed: bool,
}

/// Why a bench is set aside when `--bench` names others.
const NOT_SELECTED: &str = "not selected with --bench";

/// Which benches of the lab this run may schedule cases on. The one place that decides it:
/// `--bench` narrows the pool here, and so does anything else that takes a bench out of
/// service before a run starts.
pub fn eligible_benches<'l>(lab: &'l Lab, opts: &RunOptions) -> Eligibility<'l> {
    let mut eligibility = Eligibility {
        benches: Vec::new(),
        excluded: Vec::new(),
        narrowed: !opts.benches.is_empty(),
    };
    let lock_dir = opts.lock_dir.as_deref().or(lab.lock_dir.as_deref());
    for bench in &lab.benches {
        if !(opts.benches.is_empty() || opts.benches.contains(&bench.name)) {
            eligibility.excluded.push((bench, NOT_SELECTED.to_string()));
        } else if let Some(why) = crate::safety::service::unusable_in(lock_dir, &bench.name) {
            // Disabled by a person, or bad since a failed health check: the pool routes
            // around it, and a model left with no bench says why.
            eligibility.excluded.push((bench, why));
        } else {
            eligibility.benches.push(bench);
        }
    }
    eligibility
}

/// Whether `bench` may take `case` at all: its model, and the approval a destructive
/// scenario needs on a bench that requires one.
fn can_run(bench: &Bench, case: &Planned, approval: Option<&str>) -> bool {
    bench.model == case.model
        && case_approval(bench, &case.scenario, approval) != CaseApproval::Refused
}

/// Whether a case may run on its bench, and under which approval.
#[derive(Debug, Clone, PartialEq, Eq)]
enum CaseApproval<'a> {
    /// The bench needs none for this case (no approval required, or not destructive);
    /// an `--approval` given is still recorded on a bench that requires one.
    NotNeeded(Option<&'a str>),
    /// Runs under this approval: `--approval`, else the lab file's `approved` for the bench.
    Approved(&'a str),
    /// A destructive case on a bench requiring approval, with none given: not run.
    Refused,
}

impl<'a> CaseApproval<'a> {
    /// The approval the case's transcript and reports record.
    fn recorded(&self) -> Option<&'a str> {
        match self {
            CaseApproval::NotNeeded(approval) => *approval,
            CaseApproval::Approved(approval) => Some(approval),
            CaseApproval::Refused => None,
        }
    }
}

/// Decides the approval of `scenario` on `bench`: `--approval` (`cli`) covers every case
/// of the run; a bench's `approved` covers the scenarios it names, and no others.
fn case_approval<'a>(
    bench: &'a Bench,
    scenario: &Scenario,
    cli: Option<&'a str>,
) -> CaseApproval<'a> {
    if bench.approval != Approval::Required {
        return CaseApproval::NotNeeded(None);
    }
    if !scenario.destructive {
        return CaseApproval::NotNeeded(cli);
    }
    if let Some(approval) = cli {
        return CaseApproval::Approved(approval);
    }
    match &bench.approved {
        Some(standing) if standing.covers(&scenario.name) => CaseApproval::Approved(&standing.by),
        _ => CaseApproval::Refused,
    }
}

/// How a bench of the pool was lost, for the cases left without a bench.
#[derive(Clone)]
struct Loss {
    outcome: Outcome,
    reason: String,
}

/// A bench of the run: claimed (or refused), then taken over (or found unusable).
struct Slot {
    bench: Bench,
    owned: Option<OwnedBench>,
    tally: tokio::sync::Mutex<HealthTally>,
    recovery: Option<String>,
    /// Why the bench cannot take cases, from before the first case.
    lost: Option<Loss>,
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
    let eligibility = eligible_benches(&lab, &opts);
    let approval = opts.approval.as_deref();
    let (plan, mut skipped) = plan(&selected, &eligibility, approval);
    report.cases.append(&mut skipped);
    // Only the benches some case can run on are claimed.
    let pool: Vec<Bench> = eligibility
        .benches
        .iter()
        .filter(|b| plan.iter().any(|case| can_run(b, case, approval)))
        .map(|b| (*b).clone())
        .collect();

    let mut progress = opts.progress.start(
        &pool.iter().collect::<Vec<_>>(),
        &expected_shares(&pool, &plan, approval),
    );
    // The folder is written as cases finish, so a run that dies still leaves its results.
    match crate::report::run_folder::RunFolder::create(&report) {
        Ok(folder) => progress.attach(Arc::new(folder)),
        Err(e) => {
            tracing::warn!(dir = %report.run_dir.display(), "cannot start the run folder: {e}")
        }
    }
    if plan.is_empty() {
        progress.finish();
        report.duration = started.elapsed();
        report.exit_code = exit_code_for(report.cases.iter().map(|c| c.outcome));
        return report;
    }
    // Every bench is ours before anything is opened or bound: the other process holds its
    // serial ports exclusively and the endpoints' ports.
    let lock_dir =
        crate::safety::resolve_lock_dir(opts.lock_dir.as_deref(), lab.lock_dir.as_deref());
    let claims = claim_benches(&lock_dir, &pool, &plan, opts.lock_wait, &progress).await;
    if let Some(approval) = approval
        && plan.iter().any(|case| {
            case.scenario.destructive
                && pool
                    .iter()
                    .any(|b| b.model == case.model && b.approval == Approval::Required)
        })
    {
        report.approval = Some(approval.to_string());
    } else if let Some(standing) = plan.iter().find_map(|case| {
        pool.iter().filter(|b| b.model == case.model).find_map(|b| {
            match case_approval(b, &case.scenario, None) {
                CaseApproval::Approved(by) => Some(by.to_string()),
                _ => None,
            }
        })
    }) {
        // Without `--approval`, the lab file's standing approval the run's cases ran under.
        report.approval = Some(standing);
    }

    // No bench could be claimed: nothing is opened or bound, the cases say why.
    if claims.iter().all(Result::is_err) {
        for case in &plan {
            let refusals: Vec<(&Bench, &Loss)> = pool
                .iter()
                .zip(&claims)
                .filter(|(bench, _)| can_run(bench, case, approval))
                .filter_map(|(bench, claim)| claim.as_ref().err().map(|loss| (bench, loss)))
                .collect();
            let Some((bench, loss)) = refusals.last() else {
                continue;
            };
            let reason = if refusals.len() > 1 {
                let all: Vec<String> = refusals
                    .iter()
                    .map(|(b, l)| format!("{}: {}", b.name, l.reason))
                    .collect();
                format!("no bench of the pool could run it ({})", all.join("; "))
            } else {
                loss.reason.clone()
            };
            let r = CaseReport::new(&case.scenario, bench, loss.outcome, reason);
            progress.case_done(&r);
            report.cases.push(r);
        }
        progress.finish();
        report.duration = started.elapsed();
        report.exit_code = exit_code_for(report.cases.iter().map(|c| c.outcome));
        return report;
    }
    let services = match LabServices::start(&lab, opts.start_virtual_bench).await {
        Ok(s) => s,
        Err(e) => {
            for claim in claims.into_iter().flatten() {
                claim.give_up();
            }
            let everywhere: Vec<(Arc<Scenario>, Bench)> = plan
                .iter()
                .filter_map(|case| {
                    let bench = pool.iter().find(|b| can_run(b, case, approval))?;
                    Some((case.scenario.clone(), bench.clone()))
                })
                .collect();
            return report.lab_fault_everywhere(&everywhere, e.to_string());
        }
    };

    let claimed: Vec<&Bench> = claims
        .iter()
        .filter_map(|c| c.as_ref().ok().map(Claim::bench))
        .collect();
    let rack = Rack::open(&lab, &claimed);
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
        approval,
        faults: &lab.faults,
    };
    let slots = take_over(&pool, claims, &rack).await;
    let ran = shared.run_pools(&slots, plan).await;
    report.cases.extend(ran);
    // Every bench is made safe and given up, each whatever the others did.
    let closing = slots.into_iter().map(|slot| async move {
        let mut tally = slot.tally.into_inner();
        if let Some(owned) = slot.owned {
            let safe = owned.close().await;
            if !safe.is_safe() {
                tracing::error!(bench = %slot.bench.name, "could not make the bench safe: {safe}");
                tally.unsafe_at_end(&safe.to_string());
            }
        }
        (slot.recovery, tally.finish())
    });
    for (recovery, health) in futures::future::join_all(closing).await {
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

/// Claims every bench of the pool, waiting as `wait` allows (all benches at once, so the
/// total wait is the longest, not the sum). A bench that cannot be claimed is out of the
/// pool: `skipped` naming the holder when it is busy, `lab-fault` when the lock folder or
/// journal is unusable; its cases go to its siblings.
async fn claim_benches(
    lock_dir: &Path,
    pool: &[Bench],
    plan: &[Planned],
    wait: LockWait,
    progress: &crate::report::LiveProgress,
) -> Vec<Result<Claim, Loss>> {
    let attempts = pool.iter().map(|bench| {
        let scenarios: Vec<&str> = plan
            .iter()
            .filter(|case| case.model == bench.model)
            .map(|case| case.scenario.name.as_str())
            .collect();
        let purpose = format!("run {}", scenarios.join(" "));
        async move {
            let got = claim(lock_dir, bench, &purpose, wait, |holder| {
                tracing::warn!(bench = %bench.name, "waiting for the bench: it is in use by {holder}");
                progress.bench_message(&bench.name, &format!("waiting: in use by {holder}"));
            })
            .await;
            match got {
                Ok(claim) => {
                    tracing::info!(bench = %bench.name, pid = std::process::id(), "bench locked");
                    Ok(claim)
                }
                Err(e) => Err(Loss {
                    outcome: e.outcome(),
                    reason: e.to_string(),
                }),
            }
        }
    });
    futures::future::join_all(attempts).await
}

/// Takes every claimed bench over, all at once: what a predecessor left is made safe first.
/// One slot per bench of the pool, in pool order.
async fn take_over(pool: &[Bench], claims: Vec<Result<Claim, Loss>>, rack: &Rack) -> Vec<Slot> {
    let takeovers = pool.iter().zip(claims).map(|(bench, claim)| async move {
        let mut slot = Slot {
            bench: bench.clone(),
            owned: None,
            tally: tokio::sync::Mutex::new(HealthTally::new(bench)),
            recovery: None,
            lost: None,
        };
        let claim = match claim {
            Ok(claim) => claim,
            Err(loss) => {
                slot.lost = Some(loss);
                return slot;
            }
        };
        let owned = claim.take_over(rack).await;
        slot.recovery = owned.takeover.note();
        let unusable = if owned.takeover.left_unsafe() {
            slot.recovery.clone()
        } else {
            owned.rig().unavailable().map(|e| e.to_string())
        };
        if let Some(reason) = unusable {
            slot.tally.get_mut().unusable(&reason);
            slot.lost = Some(Loss {
                outcome: Outcome::LabFault,
                reason,
            });
        }
        slot.owned = Some(owned);
        slot
    });
    futures::future::join_all(takeovers).await
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
    /// Runs every planned case on the pool's benches (`pool::schedule`) and reports them
    /// in plan order: each case that ran, and each that no bench could run, as skipped or
    /// lab fault with the reason.
    async fn run_pools(&self, slots: &[Slot], plan: Vec<Planned>) -> Vec<CaseReport> {
        let lost_at_start: Vec<(usize, String)> = slots
            .iter()
            .enumerate()
            .filter_map(|(i, slot)| slot.lost.as_ref().map(|l| (i, l.reason.clone())))
            .collect();
        let losses: std::cell::RefCell<Vec<Option<Loss>>> =
            std::cell::RefCell::new(slots.iter().map(|s| s.lost.clone()).collect());
        let scheduled = crate::pool::schedule(
            slots.len(),
            lost_at_start,
            plan,
            |bench, case| can_run(&slots[bench].bench, case, self.approval),
            || *self.ctx.cancel.borrow(),
            |bench, dispatch| {
                let slot = &slots[bench];
                let losses = &losses;
                async move {
                    let owned = slot
                        .owned
                        .as_ref()
                        .expect("only benches in service run cases");
                    let mut tally = slot.tally.lock().await;
                    let finished = self.run_case(owned, &mut tally, slots, dispatch).await;
                    if let Finished::DoneAndRetired(_, reason) | Finished::Retired(_, reason, _) =
                        &finished
                    {
                        losses.borrow_mut()[bench] = Some(Loss {
                            outcome: Outcome::Skipped,
                            reason: reason.clone(),
                        });
                    }
                    (bench, finished)
                }
            },
        )
        .await;
        let losses = losses.into_inner();
        for (bench, reason) in &scheduled.retired {
            let siblings: Vec<&str> = slots
                .iter()
                .enumerate()
                .filter(|(i, s)| {
                    *i != *bench
                        && s.bench.model == slots[*bench].bench.model
                        && !scheduled.retired.iter().any(|(r, _)| r == i)
                })
                .map(|(_, s)| s.bench.name.as_str())
                .collect();
            let whereto = if siblings.is_empty() {
                "no healthy sibling is left for its cases".to_string()
            } else {
                format!("its cases go to {}", siblings.join(", "))
            };
            tracing::warn!(bench = %slots[*bench].bench.name, "out of service ({reason}): {whereto}");
        }
        let mut reports: Vec<(usize, CaseReport)> = scheduled.results;
        for (order, r) in scheduled.kept {
            self.progress.case_done(&r);
            reports.push((order, r));
        }
        for dispatch in scheduled.unrun {
            let case = &dispatch.case;
            let (bench, loss) = match dispatch.moved_from.last() {
                Some((bench, _)) => (
                    &slots[*bench].bench,
                    losses[*bench].clone().unwrap_or(Loss {
                        outcome: Outcome::Skipped,
                        reason: "run interrupted".into(),
                    }),
                ),
                None => match slots
                    .iter()
                    .find(|s| can_run(&s.bench, case, self.approval))
                {
                    Some(slot) => (
                        &slot.bench,
                        Loss {
                            outcome: Outcome::Skipped,
                            reason: "run interrupted".into(),
                        },
                    ),
                    None => continue,
                },
            };
            let reason = if dispatch.moved_from.len() > 1 {
                let all: Vec<String> = dispatch
                    .moved_from
                    .iter()
                    .map(|(b, why)| format!("{}: {why}", slots[*b].bench.name))
                    .collect();
                format!("no bench of the pool could run it ({})", all.join("; "))
            } else {
                loss.reason
            };
            let r = CaseReport::new(&case.scenario, bench, loss.outcome, reason);
            self.progress.case_done(&r);
            reports.push((case.order, r));
        }
        reports.sort_by_key(|(order, _)| *order);
        reports.into_iter().map(|(_, r)| r).collect()
    }

    /// Runs one case on one bench of its pool, with the lab's fault policy: a case that ends
    /// as a lab fault is followed by the health check; a healthy bench runs the case again
    /// as the policy allows (only the last attempt is reported), an unhealthy one leaves
    /// service and the case goes to a sibling when one can take it.
    async fn run_case(
        &self,
        owned: &OwnedBench,
        tally: &mut HealthTally,
        slots: &[Slot],
        dispatch: Dispatch<Planned>,
    ) -> Finished<Planned, (usize, CaseReport)> {
        let rig = owned.rig();
        let bench = &rig.bench;
        let case = &dispatch.case;
        let approval = case_approval(bench, &case.scenario, self.approval).recorded();
        let case_name = format!("{}@{}", case.scenario.name, bench.model);
        let mut earlier: Vec<String> = Vec::new();
        let mut attempt = 1;
        let mut retire: Option<String> = None;
        let mut r = loop {
            self.progress.case_started(&bench.name, &case.scenario.name);
            let mut r = run_guarded(&self.ctx, rig, &case.scenario, self.snapshots, approval).await;
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
                    retire = Some(retry::retired_reason(&bench.name, &reason));
                    break r;
                }
                NextAction::Stop => {
                    retire = Some("run interrupted".into());
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
        if !dispatch.moved_from.is_empty() {
            let from: Vec<String> = dispatch
                .moved_from
                .iter()
                .map(|(b, why)| format!("{} ({why})", slots[*b].bench.name))
                .collect();
            let note = format!("moved to {} from {}", bench.name, from.join(", "));
            r.detail = match (r.outcome, r.detail.is_empty()) {
                (_, true) => note,
                (Outcome::Fail, false) => r.detail,
                (_, false) => format!("{note}; {}", r.detail),
            };
        }
        let order = case.order;
        match retire {
            None => {
                self.progress.case_done(&r);
                Finished::Done((order, r))
            }
            Some(reason) if r.outcome == Outcome::LabFault => {
                self.progress.bench_message(&bench.name, &reason);
                // Reported only if no sibling takes the case over.
                Finished::Retired(dispatch, reason, (order, r))
            }
            Some(reason) => {
                self.progress.case_done(&r);
                Finished::DoneAndRetired((order, r), reason)
            }
        }
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
    // For lab/bench/matrix.sh: the harness's own share of a case is its wall time less the
    // time it waited on the phone.
    tracing::info!(
        bench = %rig.bench.name,
        case = %name,
        wall_ms = report.duration.as_secs_f64() * 1000.0,
        phone_ms = run.phone_time.as_secs_f64() * 1000.0,
        "case timing"
    );
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

/// Every (scenario, model) case to run, and the ones skipped with their reason: a model
/// with no eligible bench (naming why its benches were set aside), or only benches that
/// need an approval the run lacks. Whether a scenario applies to a model at all is decided
/// here too, case by case, before any bench is looked at.
fn plan(
    scenarios: &[&Scenario],
    eligibility: &Eligibility<'_>,
    approval: Option<&str>,
) -> (Vec<Planned>, Vec<CaseReport>) {
    let mut planned = Vec::new();
    let mut skipped = Vec::new();
    for scenario in scenarios {
        let scenario = Arc::new((*scenario).clone());
        for model in &scenario.models {
            let case = Planned {
                scenario: scenario.clone(),
                model: *model,
                order: planned.len() + skipped.len(),
            };
            let pool: Vec<&&Bench> = eligibility
                .benches
                .iter()
                .filter(|b| b.model == *model)
                .collect();
            if let Err(why) = applicability(&scenario, *model) {
                // Not a case of this run when `--bench` left the model out.
                let left_out = pool.is_empty() && eligibility.narrowed;
                if !left_out {
                    skipped.extend(why.reports(&scenario, *model, std::iter::empty()));
                }
                continue;
            }
            if pool.is_empty() {
                let set_aside: Vec<&(&Bench, String)> = eligibility
                    .excluded
                    .iter()
                    .filter(|(b, _)| b.model == *model)
                    .collect();
                match set_aside.first() {
                    None if eligibility.narrowed => {}
                    None => skipped.push(CaseReport::unbenched(&scenario, *model)),
                    // `--bench` picked other models' benches: not a case of this run.
                    Some(_) if set_aside.iter().all(|(_, why)| why == NOT_SELECTED) => {}
                    Some((bench, _)) => {
                        let reasons: Vec<String> = set_aside
                            .iter()
                            .filter(|(_, why)| why != NOT_SELECTED)
                            .map(|(b, why)| format!("{}: {why}", b.name))
                            .collect();
                        skipped.push(CaseReport::new(
                            &scenario,
                            bench,
                            Outcome::Skipped,
                            format!("no eligible {model} bench ({})", reasons.join("; ")),
                        ));
                    }
                }
                continue;
            }
            if !pool.iter().any(|b| can_run(b, &case, approval)) {
                skipped.push(CaseReport::new(
                    &scenario,
                    pool[0],
                    Outcome::Skipped,
                    format!(
                        "approval missing: refused, the bench requires approval for destructive \
                         scenarios and none covers `{}` (--approval, or the bench's `approved` \
                         in the lab file)",
                        scenario.name
                    ),
                ));
                continue;
            }
            planned.push(case);
        }
    }
    (planned, skipped)
}

/// Bench names, one per case, spreading each model's cases over its pool: how long each
/// bench's progress bar is before the scheduler decides who runs what.
fn expected_shares(pool: &[Bench], plan: &[Planned], approval: Option<&str>) -> Vec<String> {
    let mut next: std::collections::HashMap<Model, usize> = std::collections::HashMap::new();
    plan.iter()
        .filter_map(|case| {
            let benches: Vec<&Bench> = pool.iter().filter(|b| can_run(b, case, approval)).collect();
            let turn = next.entry(case.model).or_default();
            let bench = benches.get(*turn % benches.len().max(1))?;
            *turn += 1;
            Some(bench.name.clone())
        })
        .collect()
}

fn absolute(path: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(path)?;
    path.canonicalize()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::StandingApproval;

    fn options(benches: &[&str]) -> RunOptions {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        RunOptions {
            lab: root.join("lab/virtual.toml"),
            scenarios_dir: root.join("scenarios"),
            scenario_globs: Vec::new(),
            benches: benches.iter().map(|b| b.to_string()).collect(),
            fixtures_dir: root.join("firmware-fixtures"),
            snapshots_dir: root.join("scenarios/snapshots"),
            snapshot_writes: crate::expect::SnapshotWrites::Nothing,
            out_dir: None,
            junit: None,
            approval: None,
            progress: Progress::Quiet,
            start_virtual_bench: false,
            lock_dir: None,
            lock_wait: LockWait::NoWait,
        }
    }

    fn virtual_lab() -> (Lab, Vec<Scenario>) {
        let opts = options(&[]);
        let lab = crate::lab::load(&opts.lab).unwrap();
        let scenarios = crate::scenario::load::load_dir(&opts.scenarios_dir).unwrap();
        (lab, scenarios)
    }

    #[test]
    fn a_model_without_a_bench_is_skipped_with_the_reason() {
        let (mut lab, scenarios) = virtual_lab();
        lab.benches.retain(|b| b.model != Model::T40P);
        let opts = options(&[]);
        let selected: Vec<&Scenario> = scenarios.iter().collect();
        let (planned, skipped) = plan(&selected, &eligible_benches(&lab, &opts), None);
        let on_t40p: Vec<&CaseReport> = skipped.iter().filter(|c| c.model == "T40P").collect();
        let for_t40p = scenarios
            .iter()
            .filter(|s| s.models.contains(&Model::T40P))
            .count();
        assert_eq!(on_t40p.len(), for_t40p);
        for case in on_t40p {
            assert_eq!(case.outcome, Outcome::Skipped);
            // A stick scenario is not applicable to a T40P, whatever the lab has.
            assert!(
                case.detail == "no bench with a T40P in this lab"
                    || case.detail.starts_with("not applicable"),
                "{}",
                case.detail
            );
        }
        assert!(planned.iter().all(|case| case.model != Model::T40P));
        assert_eq!(
            planned.len() + skipped.len(),
            scenarios.iter().map(|s| s.models.len()).sum::<usize>()
        );
    }

    #[test]
    fn a_case_is_planned_once_per_model_whatever_the_pool() {
        let (lab, scenarios) = virtual_lab();
        let opts = options(&[]);
        let selected: Vec<&Scenario> = scenarios.iter().collect();
        let eligibility = eligible_benches(&lab, &opts);
        let (planned, skipped) = plan(&selected, &eligibility, None);
        // Only a case the model cannot do, or one its pool needs an approval for, is left.
        assert!(
            skipped
                .iter()
                .all(|c| c.detail.starts_with("not applicable")
                    || c.detail.starts_with("approval missing"))
        );
        assert_eq!(
            planned.len() + skipped.len(),
            scenarios.iter().map(|s| s.models.len()).sum::<usize>()
        );
        // The order numbers are the plan's positions.
        assert!(planned.windows(2).all(|w| w[0].order < w[1].order));
        // Every bench of a case's model may take it.
        for case in &planned {
            let pool = eligibility
                .benches
                .iter()
                .filter(|b| can_run(b, case, None))
                .count();
            let of_model = lab.benches.iter().filter(|b| b.model == case.model).count();
            assert_eq!(pool, of_model);
        }
    }

    #[test]
    fn bench_selects_the_pool_and_leaves_other_models_out() {
        let (lab, scenarios) = virtual_lab();
        let opts = options(&["t46g"]);
        let selected: Vec<&Scenario> = scenarios.iter().collect();
        let eligibility = eligible_benches(&lab, &opts);
        assert_eq!(eligibility.benches.len(), 1);
        let (planned, skipped) = plan(&selected, &eligibility, None);
        assert!(skipped.is_empty(), "other models are not cases of this run");
        let for_t46g = scenarios
            .iter()
            .filter(|s| s.models.contains(&Model::T46G))
            .count();
        assert_eq!(planned.len(), for_t46g);
        assert!(planned.iter().all(|case| case.model == Model::T46G));
    }

    #[test]
    fn a_pool_that_needs_an_approval_skips_destructive_cases_without_one() {
        let (mut lab, scenarios) = virtual_lab();
        for bench in &mut lab.benches {
            bench.approval = Approval::Required;
            bench.approved = None;
        }
        let opts = options(&[]);
        let selected: Vec<&Scenario> = scenarios.iter().filter(|s| s.destructive).collect();
        assert!(!selected.is_empty());
        let (planned, skipped) = plan(&selected, &eligible_benches(&lab, &opts), None);
        assert!(planned.is_empty());
        assert!(
            skipped
                .iter()
                .all(|c| c.detail.starts_with("approval missing")
                    || c.detail.starts_with("not applicable"))
        );
        let (planned, skipped) = plan(&selected, &eligible_benches(&lab, &opts), Some("T-1"));
        assert!(
            skipped
                .iter()
                .all(|c| c.detail.starts_with("not applicable"))
        );
        assert_eq!(
            planned.len() + skipped.len(),
            selected.iter().map(|s| s.models.len()).sum::<usize>()
        );
    }

    /// The virtual lab's `t48s` (its bench file as committed) and a scenario named `name`.
    fn t48s_and(name: &str, destructive: bool) -> (crate::lab::Bench, crate::scenario::Scenario) {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let lab = crate::lab::load(&root.join("lab/virtual.toml")).unwrap();
        let bench = lab.benches.into_iter().find(|b| b.name == "t48s").unwrap();
        let text = format!(
            "summary = \"s\"\nsource = \"s\"\nmodels = \"all\"\ndestructive = {destructive}\n\
             [given]\nfirmware = \"current\"\naccount = \"active\"\nadmin_password = \"random\"\n\
             [[step]]\npower = \"cycle\"\n"
        );
        let scenario =
            crate::scenario::load::parse(&text, std::path::Path::new(&format!("{name}.toml")))
                .unwrap();
        (bench, scenario)
    }

    #[test]
    fn the_virtual_t48s_approves_autop_and_refuses_the_long_press_reset() {
        let (bench, autop) = t48s_and("autop-password-reset", true);
        assert_eq!(bench.approval, Approval::Required);
        let by = &bench.approved.as_ref().unwrap().by;
        assert_eq!(
            case_approval(&bench, &autop, None),
            CaseApproval::Approved(by)
        );
        let (bench, long_press) = t48s_and("long-press-legacy", true);
        assert_eq!(
            case_approval(&bench, &long_press, None),
            CaseApproval::Refused
        );
        // `--approval` covers every case of its run.
        assert_eq!(
            case_approval(&bench, &long_press, Some("TIER2-1")),
            CaseApproval::Approved("TIER2-1")
        );
        // A case that resets nothing needs none, and records `--approval` when given.
        let (bench, harmless) = t48s_and("long-press-legacy", false);
        assert_eq!(
            case_approval(&bench, &harmless, None),
            CaseApproval::NotNeeded(None)
        );
        assert_eq!(
            case_approval(&bench, &harmless, Some("T")).recorded(),
            Some("T")
        );
    }

    #[test]
    fn a_bench_without_required_approval_ignores_approvals() {
        let (mut bench, scenario) = t48s_and("long-press-legacy", true);
        bench.approval = Approval::None;
        bench.approved = None;
        assert_eq!(
            case_approval(&bench, &scenario, Some("X")),
            CaseApproval::NotNeeded(None)
        );
    }

    #[test]
    fn standing_approvals_match_whole_names_by_glob() {
        let standing = StandingApproval {
            by: "t".into(),
            scenarios: vec!["autop-*".into(), "usb-recovery".into()],
        };
        assert!(standing.covers("autop-on-2.0-account"));
        assert!(standing.covers("usb-recovery"));
        assert!(!standing.covers("usb-recovery-extra"));
        assert!(!standing.covers("long-press-legacy"));
    }

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
