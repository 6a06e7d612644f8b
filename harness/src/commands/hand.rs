//! `harness power | network | press | dial`: one action on one bench, by hand. They open the same
//! drivers as a run and nothing else, so they work on a real rack and on a virtual bench
//! started as its own process alike.

use std::path::Path;
use std::time::Duration;

use std::sync::Arc;

use crate::lab::{Key, Lab};
use crate::outcome::exit_code;
use crate::rack::{BenchRig, Rack};
use crate::safety::journal::Journal;
use crate::safety::lock::{BenchLock, LockWait, acquire};

/// A bench taken for one hand command: its lease held, a dead owner's journal replayed,
/// every action journaled until [`Session::finish`].
struct Session {
    lab: Lab,
    rig: BenchRig,
    journal: Arc<Journal>,
    lock: BenchLock,
}

impl Session {
    /// The action is done and meant to stay (power on by hand is the operator's choice):
    /// nothing is left for a crash recovery to undo.
    fn finish(self) {
        if let Err(e) = self.journal.clear() {
            eprintln!("{e}");
        }
        if let Err(e) = self.lock.release() {
            eprintln!("{e}");
        }
    }
}

/// Takes the bench at once (a hand command never waits: the operator is told who holds
/// it), replays a crashed run's journal, and opens only this bench's devices.
async fn open(
    lab_path: &Path,
    lock_dir: Option<&Path>,
    bench: &str,
    purpose: &str,
) -> Result<Session, i32> {
    let lab = crate::lab::load(lab_path).map_err(|e| {
        eprintln!("{e}");
        exit_code::CONFIG_ERROR
    })?;
    let Some(b) = lab.benches.iter().find(|b| b.name == bench) else {
        let known: Vec<&str> = lab.benches.iter().map(|b| b.name.as_str()).collect();
        eprintln!(
            "no bench `{bench}` in {} (benches: {})",
            lab_path.display(),
            known.join(", ")
        );
        return Err(exit_code::CONFIG_ERROR);
    };
    let dir = crate::safety::resolve_lock_dir(lock_dir, lab.lock_dir.as_deref());
    let (lock, _) = acquire(&dir, bench, purpose, LockWait::NoWait, |_| {})
        .await
        .map_err(|e| {
            eprintln!("{e}");
            exit_code::LAB_FAULT
        })?;
    let rack = Rack::open(&lab, &[b]);
    let rig = rack.rig(b).map_err(|e| {
        eprintln!("bench {bench}: {e}");
        exit_code::LAB_FAULT
    })?;
    let journal = Journal::open(&dir, bench).map(Arc::new).map_err(|e| {
        eprintln!("{e}");
        exit_code::LAB_FAULT
    })?;
    let rig = rig.with_journal(journal.clone());
    match crate::run::recover(&rig, &journal).await {
        Ok(Some(note)) => println!("{note}"),
        Ok(None) => {}
        Err(reason) => {
            eprintln!("{reason}");
            return Err(exit_code::LAB_FAULT);
        }
    }
    Ok(Session {
        lab,
        rig,
        journal,
        lock,
    })
}

/// Prints the outcome and gives the bench up. A failed action keeps its journal: what it
/// may have left is undone by the next command or run on the bench.
fn finish(session: Session, result: Result<(), crate::rack::RigError>, done: String) -> i32 {
    if result.is_ok() {
        session.finish();
    }
    match result {
        Ok(()) => {
            println!("{done}");
            exit_code::PASS
        }
        Err(e) => {
            eprintln!("{e}");
            exit_code::LAB_FAULT
        }
    }
}

/// `harness power BENCH on|off|cycle`.
pub async fn power(lab_path: &Path, lock_dir: Option<&Path>, bench: &str, action: &str) -> i32 {
    let session = match open(lab_path, lock_dir, bench, &format!("power {action}")).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    let (lab, rig) = (&session.lab, &session.rig);
    let result = match action {
        "on" => rig.power(true).await,
        "off" => rig.power(false).await,
        _ => {
            let off = rig.power(false).await;
            // Five real seconds unpowered, as in a scenario's power cycle.
            tokio::time::sleep(Duration::from_secs_f64(5.0 * lab.time_scale)).await;
            match off {
                Ok(()) => rig.power(true).await,
                Err(e) => Err(e),
            }
        }
    };
    finish(session, result, format!("{bench}: power {action}"))
}

/// `harness network BENCH connect|pull`.
pub async fn network(lab_path: &Path, lock_dir: Option<&Path>, bench: &str, action: &str) -> i32 {
    let session = match open(lab_path, lock_dir, bench, &format!("network {action}")).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    let result = session.rig.network(action == "connect").await;
    finish(
        session,
        result,
        format!(
            "{bench}: network cable {}",
            if action == "connect" {
                "connected"
            } else {
                "pulled"
            }
        ),
    )
}

/// `harness press BENCH KEY [--hold-ms N]`.
pub async fn press(
    lab_path: &Path,
    lock_dir: Option<&Path>,
    bench: &str,
    key: &str,
    hold_ms: u64,
) -> i32 {
    let session = match open(lab_path, lock_dir, bench, &format!("press {key}")).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    let result = session.rig.tap(&Key(key.to_string()), hold_ms).await;
    finish(
        session,
        result,
        format!("{bench}: pressed {key} for {hold_ms} ms"),
    )
}

/// `harness dial BENCH DIGITS`.
pub async fn dial(lab_path: &Path, lock_dir: Option<&Path>, bench: &str, digits: &str) -> i32 {
    let keys: Option<Vec<Key>> = digits.chars().map(Key::for_digit).collect();
    let Some(keys) = keys else {
        eprintln!("cannot dial `{digits}`: only 0-9, * and # can be dialled");
        return exit_code::CONFIG_ERROR;
    };
    let session = match open(lab_path, lock_dir, bench, &format!("dial {digits}")).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    for key in &keys {
        if let Err(e) = session.rig.tap(key, 120).await {
            return finish(session, Err(e), String::new());
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    finish(session, Ok(()), format!("{bench}: dialled {digits}"))
}
