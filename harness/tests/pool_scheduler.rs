//! The bench-pool scheduler on its own, with benches and cases that are only numbers: a
//! case goes to a free bench of its model, a bench runs one case at a time, a bench that
//! leaves service hands its case and the waiting ones to a sibling, and a case no bench can
//! run comes back with the reasons.

use std::cell::RefCell;
use std::collections::BTreeMap;

use harness::pool::{Dispatch, Finished, schedule};
use proptest::prelude::*;

/// A case: its number and the model it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Case {
    id: usize,
    model: char,
}

fn cases(models: &[char], per_model: usize) -> Vec<Case> {
    let mut out = Vec::new();
    for round in 0..per_model {
        for (m, model) in models.iter().enumerate() {
            out.push(Case {
                id: round * models.len() + m,
                model: *model,
            });
        }
    }
    out
}

/// Yields `n` times, so that the cases in flight interleave.
async fn interleave(n: usize) {
    for _ in 0..n {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn a_bad_bench_hands_its_case_and_the_waiting_ones_to_its_sibling() {
    // Benches 0 and 1 are model A, bench 2 model B. Bench 0 fails the health check on its
    // first case.
    let models = ['A', 'A', 'B'];
    let ran_on: RefCell<BTreeMap<usize, usize>> = RefCell::new(BTreeMap::new());
    let moved: RefCell<BTreeMap<usize, Vec<usize>>> = RefCell::new(BTreeMap::new());
    let outcome = schedule(
        models.len(),
        Vec::new(),
        cases(&['A', 'B'], 5),
        |bench, case: &Case| models[bench] == case.model,
        || false,
        |bench, dispatch: Dispatch<Case>| {
            let (ran_on, moved) = (&ran_on, &moved);
            async move {
                // Bench 0 leaves at once, while bench 1 is still on its first case.
                if bench == 0 {
                    let id = dispatch.case.id;
                    return (
                        bench,
                        Finished::Retired(dispatch, "health check failed".into(), id),
                    );
                }
                interleave(3).await;
                ran_on.borrow_mut().insert(dispatch.case.id, bench);
                moved.borrow_mut().insert(
                    dispatch.case.id,
                    dispatch.moved_from.iter().map(|(b, _)| *b).collect(),
                );
                (bench, Finished::Done(dispatch.case.id))
            }
        },
    )
    .await;
    assert!(outcome.unrun.is_empty(), "{:?}", outcome.unrun);
    assert!(
        outcome.kept.is_empty(),
        "a sibling was there: {:?}",
        outcome.kept
    );
    assert_eq!(outcome.retired.len(), 1);
    assert_eq!(outcome.retired[0].0, 0);
    let ran_on = ran_on.into_inner();
    let moved = moved.into_inner();
    assert_eq!(ran_on.len(), 10, "every case ran once: {ran_on:?}");
    for case in cases(&['A', 'B'], 5) {
        let bench = ran_on[&case.id];
        if case.model == 'A' {
            assert_eq!(bench, 1, "case {} of model A", case.id);
            // Case 2 was already on bench 1; every other A case was on bench 0 or waiting
            // for a bench when bench 0 left.
            let expected: Vec<usize> = if case.id == 2 { vec![] } else { vec![0] };
            assert_eq!(moved[&case.id], expected, "case {}", case.id);
        } else {
            assert_eq!(bench, 2, "case {} of model B", case.id);
            assert!(
                moved[&case.id].is_empty(),
                "a B case never waited for bench 0"
            );
        }
    }
}

#[tokio::test]
async fn the_last_bench_of_a_model_keeps_its_result_and_the_rest_come_back_unrun() {
    // One bench of model A, and it leaves service on its first case.
    let outcome = schedule(
        1,
        Vec::new(),
        cases(&['A'], 3),
        |_, _: &Case| true,
        || false,
        |bench, dispatch: Dispatch<Case>| async move {
            let id = dispatch.case.id;
            (
                bench,
                Finished::Retired(dispatch, "health check failed".into(), id),
            )
        },
    )
    .await;
    assert!(outcome.results.is_empty());
    assert_eq!(
        outcome.kept,
        vec![0],
        "the case it was on keeps its own result"
    );
    let unrun: Vec<usize> = outcome.unrun.iter().map(|d| d.case.id).collect();
    assert_eq!(unrun, vec![1, 2]);
    for dispatch in &outcome.unrun {
        assert_eq!(
            dispatch.moved_from,
            vec![(0, "health check failed".to_string())]
        );
    }
}

#[tokio::test]
async fn a_model_with_no_bench_in_service_gets_every_case_back_with_the_reason() {
    // Bench 0 (model A) could not be taken over; model B has no bench at all.
    let outcome = schedule(
        1,
        vec![(0, "its relay board is unplugged".to_string())],
        vec![Case { id: 0, model: 'A' }, Case { id: 1, model: 'B' }],
        |_, case: &Case| case.model == 'A',
        || false,
        |bench, dispatch: Dispatch<Case>| async move {
            if bench < usize::MAX {
                panic!(
                    "nothing may run, yet bench {bench} got case {:?}",
                    dispatch.case
                );
            }
            (bench, Finished::<Case, usize>::Done(dispatch.case.id))
        },
    )
    .await;
    assert!(outcome.results.is_empty());
    assert_eq!(outcome.unrun.len(), 2);
    assert_eq!(
        outcome.unrun[0].moved_from,
        vec![(0, "its relay board is unplugged".to_string())]
    );
    assert!(
        outcome.unrun[1].moved_from.is_empty(),
        "no bench could ever take a B case"
    );
}

#[tokio::test]
async fn nothing_new_starts_once_the_run_is_stopped() {
    let started = RefCell::new(0);
    let outcome = schedule(
        2,
        Vec::new(),
        cases(&['A'], 6),
        |_, _: &Case| true,
        || *started.borrow() >= 2,
        |bench, dispatch: Dispatch<Case>| {
            *started.borrow_mut() += 1;
            async move { (bench, Finished::Done(dispatch.case.id)) }
        },
    )
    .await;
    assert_eq!(outcome.results.len(), 2);
    assert_eq!(outcome.unrun.len(), 4);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Whatever the pools and the order cases finish in: no bench ever has two cases at
    /// once, every case runs once on a bench of its model, and every bench is kept busy
    /// while its model has cases waiting.
    #[test]
    fn no_bench_ever_runs_two_cases_at_once(
        pools in proptest::collection::vec(1usize..4, 1..4),
        per_model in 1usize..6,
        delays in proptest::collection::vec(0usize..5, 64),
        bad in proptest::option::of(0usize..8),
    ) {
        let models: Vec<char> = (0..pools.len()).map(|m| (b'A' + m as u8) as char).collect();
        let bench_model: Vec<char> = pools
            .iter()
            .zip(&models)
            .flat_map(|(n, m)| std::iter::repeat_n(*m, *n))
            .collect();
        let all = cases(&models, per_model);
        let busy = RefCell::new(vec![false; bench_model.len()]);
        let ran: RefCell<Vec<(usize, usize)>> = RefCell::new(Vec::new());
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let outcome = runtime.block_on(schedule(
            bench_model.len(),
            Vec::new(),
            all.clone(),
            |bench, case: &Case| bench_model[bench] == case.model,
            || false,
            |bench, dispatch: Dispatch<Case>| {
                let (busy, ran, delays) = (&busy, &ran, &delays);
                async move {
                    assert!(
                        !std::mem::replace(&mut busy.borrow_mut()[bench], true),
                        "bench {bench} got case {} while busy",
                        dispatch.case.id
                    );
                    interleave(delays[(dispatch.case.id + bench) % delays.len()]).await;
                    busy.borrow_mut()[bench] = false;
                    if Some(bench) == bad {
                        let id = dispatch.case.id;
                        return (bench, Finished::Retired(dispatch, "bad".into(), id));
                    }
                    ran.borrow_mut().push((dispatch.case.id, bench));
                    (bench, Finished::Done(dispatch.case.id))
                }
            },
        ));
        let ran = ran.into_inner();
        // Each case once: ran on a bench of its model, kept by a last bench, or unrun.
        let mut seen: Vec<usize> = ran.iter().map(|(c, _)| *c).collect();
        seen.extend(&outcome.kept);
        seen.extend(outcome.unrun.iter().map(|d| d.case.id));
        seen.sort_unstable();
        let mut expected: Vec<usize> = all.iter().map(|c| c.id).collect();
        expected.sort_unstable();
        prop_assert_eq!(seen, expected);
        for (case, bench) in &ran {
            prop_assert_eq!(bench_model[*bench], all.iter().find(|c| c.id == *case).unwrap().model);
            prop_assert!(Some(*bench) != bad);
        }
        // A case comes back unrun only when its model's every bench left service.
        for dispatch in &outcome.unrun {
            let pool: Vec<usize> = (0..bench_model.len())
                .filter(|b| bench_model[*b] == dispatch.case.model)
                .collect();
            prop_assert!(pool.iter().all(|b| Some(*b) == bad), "{:?}", dispatch);
        }
    }
}
