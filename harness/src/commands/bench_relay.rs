//! `harness bench relay`: how long one relay frame takes to dispatch on a bench's power
//! board, from the driver's call to the board having it, including the turn it waits for
//! when another process drives another bench of the same board. Run it alone and beside a
//! second copy on another bench (lab/bench/shared-board.sh) to see what sharing costs.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::outcome::exit_code;
use crate::safety::lock::LockWait;
use crate::safety::owned::claim;

/// What `harness bench relay` measures.
#[derive(Debug, Clone)]
pub struct RelayBench<'a> {
    /// The lab file.
    pub lab: &'a Path,
    /// `--lock-dir`, if given.
    pub lock_dir: Option<&'a Path>,
    /// The bench whose power relay is switched.
    pub bench: &'a str,
    /// How many frames are timed (the power relay alternates on and off).
    pub count: usize,
}

/// Takes the bench's lease, opens its power board, times `count` switchings of its power
/// relay, leaves the power in the bench's safe state and prints the median and the 90th
/// percentile. Exit code 0, `LAB_FAULT` when the bench or its board cannot be had.
pub async fn relay(bench: &RelayBench<'_>) -> i32 {
    let lab = match crate::lab::load(bench.lab) {
        Ok(lab) => lab,
        Err(e) => {
            eprintln!("{e}");
            return exit_code::CONFIG_ERROR;
        }
    };
    let Some(spec) = lab.benches.iter().find(|b| b.name == bench.bench) else {
        eprintln!("no bench `{}` in {}", bench.bench, bench.lab.display());
        return exit_code::CONFIG_ERROR;
    };
    let dir = crate::safety::resolve_lock_dir(bench.lock_dir, lab.lock_dir.as_deref());
    let claimed = match claim(&dir, spec, "bench relay", LockWait::NoWait, |_| {}).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return exit_code::LAB_FAULT;
        }
    };
    let board = lab
        .relay_boards
        .iter()
        .find(|b| b.name == spec.power.board)
        .expect("checked lab")
        .clone();
    let (channel, count, safe_on) = (
        spec.power.channel,
        bench.count.max(1),
        spec.safe_power == crate::lab::PowerState::On,
    );
    let timed = tokio::task::spawn_blocking(move || {
        let mut switch = crate::drivers::open_power_switch(&board)?;
        let mut times = Vec::with_capacity(count);
        for i in 0..count {
            let started = Instant::now();
            switch.set(channel, i % 2 == 0)?;
            times.push(started.elapsed());
        }
        switch.set(channel, safe_on)?;
        Ok::<_, crate::drivers::DriverError>(times)
    })
    .await;
    claimed.give_up();
    let mut times = match timed {
        Ok(Ok(times)) => times,
        Ok(Err(e)) => {
            eprintln!("{e}");
            return exit_code::LAB_FAULT;
        }
        Err(e) => {
            eprintln!("the timing task failed: {e}");
            return exit_code::LAB_FAULT;
        }
    };
    let median = super::bench::median(&mut times);
    let p90 = times[(times.len() * 9 / 10).min(times.len() - 1)];
    println!(
        "{} frames on {} channel {channel}: median {} us, p90 {} us, max {} us",
        times.len(),
        spec.power.board,
        micros(median),
        micros(p90),
        micros(*times.last().expect("at least one frame"))
    );
    exit_code::PASS
}

fn micros(d: Duration) -> u128 {
    d.as_micros()
}
