//! Bench pools: which bench runs which case. A lab may have several benches of one model
//! (LAVA's device types); a case names a model, not a bench, and runs on whichever bench of
//! its pool is free. The rules:
//!
//! - a bench runs one case at a time (its lease and its phone are one);
//! - a bench that leaves service (a failed health check, a takeover it could not make safe)
//!   runs nothing more; the case it was on, and every case still waiting, go to the healthy
//!   siblings, and each moved case carries the reason;
//! - a case that no bench can run any more is handed back, with the reasons, for the run to
//!   report as skipped.
//!
//! The scheduler knows benches only by index and cases only through the caller's
//! `can_run`: what a bench is, and what running a case means, stay in `run.rs`.

use std::collections::VecDeque;
use std::future::Future;

use futures::StreamExt;
use futures::stream::FuturesUnordered;

/// A case handed to a bench, with the benches it was moved away from.
#[derive(Debug, Clone)]
pub struct Dispatch<C> {
    /// The case.
    pub case: C,
    /// Each earlier bench that left service while the case waited for it or ran on it:
    /// (bench index, why it left).
    pub moved_from: Vec<(usize, String)>,
}

/// How a bench came out of one case.
#[derive(Debug)]
pub enum Finished<C, R> {
    /// The case has its result; the bench takes the next one.
    Done(R),
    /// The case has its result, and the bench leaves service (`reason`).
    DoneAndRetired(R, String),
    /// The bench left service (`reason`) before the case had a result that says anything
    /// about the firmware (a lab fault, then a failed health check): the case goes to a
    /// sibling, or, when no bench in service can take it, keeps the result it has.
    Retired(Dispatch<C>, String, R),
}

/// What the pools did with every case.
#[derive(Debug)]
pub struct Outcome<C, R> {
    /// The results, in the order the cases finished.
    pub results: Vec<R>,
    /// The results of cases whose bench left service with no sibling to take them over
    /// (`Finished::Retired`'s own result).
    pub kept: Vec<R>,
    /// The cases no bench could run: each with the benches that left service before it
    /// found one (empty: no bench could ever take it).
    pub unrun: Vec<Dispatch<C>>,
    /// The benches that left service, with the reason, in the order they left.
    pub retired: Vec<(usize, String)>,
}

/// Runs `cases` on `benches` benches. `retired_at_start` are benches that cannot take any
/// case (with the reason); `can_run(bench, case)` says whether a bench may take a case at
/// all (its model, its approval); `stopped()` is checked before each dispatch (Ctrl-C: no
/// new case starts); `run(bench, dispatch)` runs one case on one bench.
///
/// Cases are taken in the order given; an idle bench takes the first one it can run.
pub async fn schedule<C, R, Fut>(
    benches: usize,
    retired_at_start: Vec<(usize, String)>,
    cases: Vec<C>,
    can_run: impl Fn(usize, &C) -> bool,
    stopped: impl Fn() -> bool,
    mut run: impl FnMut(usize, Dispatch<C>) -> Fut,
) -> Outcome<C, R>
where
    Fut: Future<Output = (usize, Finished<C, R>)>,
{
    let mut queue: VecDeque<Dispatch<C>> = cases
        .into_iter()
        .map(|case| Dispatch {
            case,
            moved_from: Vec::new(),
        })
        .collect();
    let mut in_service = vec![true; benches];
    let mut idle = vec![true; benches];
    let mut retired = Vec::new();
    for (bench, reason) in retired_at_start {
        if bench < benches && in_service[bench] {
            in_service[bench] = false;
            idle[bench] = false;
            retired.push((bench, reason));
        }
    }
    // A case waiting when its bench leaves carries the reason only if that bench could have
    // taken it: the report says where a case was moved from, not every bench that failed.
    for dispatch in &mut queue {
        for (bench, reason) in &retired {
            if can_run(*bench, &dispatch.case) {
                dispatch.moved_from.push((*bench, reason.clone()));
            }
        }
    }
    let mut results = Vec::new();
    let mut kept = Vec::new();
    let mut running = FuturesUnordered::new();
    loop {
        if !stopped() {
            for bench in 0..benches {
                if !(in_service[bench] && idle[bench]) {
                    continue;
                }
                if let Some(at) = queue.iter().position(|d| can_run(bench, &d.case)) {
                    let dispatch = queue.remove(at).expect("position is in the queue");
                    idle[bench] = false;
                    running.push(run(bench, dispatch));
                }
            }
        }
        let Some((bench, finished)) = running.next().await else {
            break;
        };
        match finished {
            Finished::Done(result) => {
                results.push(result);
                idle[bench] = true;
            }
            Finished::DoneAndRetired(result, reason) => {
                results.push(result);
                leave(
                    bench,
                    reason,
                    &mut in_service,
                    &mut queue,
                    &mut retired,
                    &can_run,
                );
            }
            Finished::Retired(mut dispatch, reason, result) => {
                leave(
                    bench,
                    reason.clone(),
                    &mut in_service,
                    &mut queue,
                    &mut retired,
                    &can_run,
                );
                let sibling = (0..benches).any(|b| in_service[b] && can_run(b, &dispatch.case));
                if sibling {
                    dispatch.moved_from.push((bench, reason));
                    queue.push_front(dispatch);
                } else {
                    kept.push(result);
                }
            }
        }
    }
    Outcome {
        results,
        kept,
        unrun: queue.into_iter().collect(),
        retired,
    }
}

/// Takes `bench` out of service and notes it on every waiting case it could have run.
fn leave<C>(
    bench: usize,
    reason: String,
    in_service: &mut [bool],
    queue: &mut VecDeque<Dispatch<C>>,
    retired: &mut Vec<(usize, String)>,
    can_run: &impl Fn(usize, &C) -> bool,
) {
    in_service[bench] = false;
    for dispatch in queue.iter_mut() {
        let noted = dispatch.moved_from.iter().any(|(b, _)| *b == bench);
        if !noted && can_run(bench, &dispatch.case) {
            dispatch.moved_from.push((bench, reason.clone()));
        }
    }
    retired.push((bench, reason));
}
