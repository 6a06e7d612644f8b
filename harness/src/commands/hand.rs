//! `harness power | network | press | dial | login`: one action on one bench, by hand. They
//! open the same drivers as a run and nothing else, so they work on a real rack and on a
//! virtual bench started as its own process alike.

use std::path::Path;
use std::time::Duration;

use crate::drivers::web::{LoginOutcome, WebError, phone_web};
use crate::lab::{Key, Lab};
use crate::outcome::{FaultClass, exit_code};
use crate::rack::{Rack, RigError};
use crate::safety::journal::JournalEntry;
use crate::safety::lock::LockWait;
use crate::safety::owned::{OwnedBench, claim};
use crate::safety::service::{self, OutOfService};

/// What a hand command is told besides its bench and action.
#[derive(Debug, Clone, Copy, Default)]
pub struct HandOptions<'a> {
    /// The lock folder from `--lock-dir`, if given.
    pub lock_dir: Option<&'a Path>,
    /// Use a bench that a person disabled (`--force`); recorded in its journal.
    pub force: bool,
}

/// A bench taken for one hand command, through the same lifecycle as a run.
struct Session {
    lab: Lab,
    owned: OwnedBench,
}

/// Takes the bench at once (a hand command never waits: the operator is told who holds
/// it), makes safe what a predecessor left, and opens only this bench's devices. A bench a
/// predecessor left unsafe that cannot be made safe now is refused: its power was still
/// set to its safe state if the power board answers. A bench a person disabled is refused
/// unless forced, and a forced use is recorded in its journal and on its service record; a
/// bench a health check marked bad is used, with the check's finding shown.
async fn open(
    lab_path: &Path,
    options: HandOptions<'_>,
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
    let dir = crate::safety::resolve_lock_dir(options.lock_dir, lab.lock_dir.as_deref());
    let out_of_service = service::read_mark(&dir, bench).map_err(|e| {
        eprintln!("{e}");
        exit_code::LAB_FAULT
    })?;
    // A person's `disabled` is refused unless forced. A `bad` bench is what an engineer
    // comes to diagnose by hand: allowed, with the health check's finding shown.
    let forced = match &out_of_service {
        Some(mark) if mark.state == OutOfService::Disabled && !options.force => {
            eprintln!(
                "refused: {}. Add --force to use it anyway (recorded in its journal)",
                mark.skip_reason(bench)
            );
            return Err(exit_code::LAB_FAULT);
        }
        Some(mark) if mark.state == OutOfService::Disabled => Some(mark),
        Some(mark) => {
            eprintln!("note: {}", mark.skip_reason(bench));
            None
        }
        None => None,
    };
    let claimed = claim(&dir, b, purpose, LockWait::NoWait, |_| {})
        .await
        .map_err(|e| {
            eprintln!("refused: {e}. `harness lab status` shows every bench's holder");
            exit_code::LAB_FAULT
        })?;
    let rack = Rack::open(&lab, &[b]);
    let owned = claimed.take_over(&rack).await;
    if let Some(mark) = forced {
        let by = service::user_name();
        let command = std::env::args().collect::<Vec<_>>().join(" ");
        let entry = JournalEntry::Forced {
            by: by.clone(),
            command: command.clone(),
            overridden: mark.skip_reason(bench),
        };
        if let Err(e) = owned.record(&entry) {
            // Nothing is switched on a bench whose override cannot be recorded.
            eprintln!("{e}");
            owned.close().await;
            return Err(exit_code::LAB_FAULT);
        }
        if let Err(e) = service::note_forced(&dir, bench, &by, &command) {
            tracing::warn!(
                bench,
                "the force is in the journal but not on the service record: {e}"
            );
        }
        eprintln!(
            "warning: {} (used anyway: --force)",
            mark.skip_reason(bench)
        );
    }
    if let Some(note) = owned.takeover.note() {
        eprintln!("{note}");
    }
    if owned.takeover.left_unsafe() {
        owned.close().await;
        return Err(exit_code::LAB_FAULT);
    }
    Ok(Session { lab, owned })
}

/// Prints the outcome and gives the bench up. A confirmed action stays as the operator
/// asked; a failed one leaves its state unknown, so the whole bench is made safe, every
/// device tried.
async fn finish(session: Session, result: Result<(), RigError>, done: String) -> i32 {
    match result {
        Ok(()) => {
            session.owned.close_as_left();
            println!("{done}");
            exit_code::PASS
        }
        Err(e) => {
            eprintln!("{e}");
            let safe = session.owned.close().await;
            if safe.is_safe() {
                eprintln!("bench made safe: {safe}");
            } else {
                eprintln!("bench NOT safe: {safe}; its journal is kept for the next command");
            }
            match e.class() {
                FaultClass::ConfigError => exit_code::CONFIG_ERROR,
                FaultClass::LabFault => exit_code::LAB_FAULT,
            }
        }
    }
}

/// `harness power BENCH on|off|cycle`.
pub async fn power(lab_path: &Path, options: HandOptions<'_>, bench: &str, action: &str) -> i32 {
    let session = match open(lab_path, options, bench, &format!("power {action}")).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    let (lab, rig) = (&session.lab, session.owned.rig());
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
    finish(session, result, format!("{bench}: power {action}")).await
}

/// `harness network BENCH connect|pull`.
pub async fn network(lab_path: &Path, options: HandOptions<'_>, bench: &str, action: &str) -> i32 {
    let session = match open(lab_path, options, bench, &format!("network {action}")).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    let result = session.owned.rig().network(action == "connect").await;
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
    .await
}

/// `harness press BENCH KEY [--hold-ms N]`.
pub async fn press(
    lab_path: &Path,
    options: HandOptions<'_>,
    bench: &str,
    key: &str,
    hold_ms: u64,
) -> i32 {
    let session = match open(lab_path, options, bench, &format!("press {key}")).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    let result = session
        .owned
        .rig()
        .tap(&Key(key.to_string()), hold_ms)
        .await;
    finish(
        session,
        result,
        format!("{bench}: pressed {key} for {hold_ms} ms"),
    )
    .await
}

/// `harness dial BENCH DIGITS`.
pub async fn dial(lab_path: &Path, options: HandOptions<'_>, bench: &str, digits: &str) -> i32 {
    let keys: Option<Vec<Key>> = digits.chars().map(Key::for_digit).collect();
    let Some(keys) = keys else {
        eprintln!("cannot dial `{digits}`: only 0-9, * and # can be dialled");
        return exit_code::CONFIG_ERROR;
    };
    let session = match open(lab_path, options, bench, &format!("dial {digits}")).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    for key in &keys {
        if let Err(e) = session.owned.rig().tap(key, 120).await {
            return finish(session, Err(e), String::new()).await;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    finish(session, Ok(()), format!("{bench}: dialled {digits}")).await
}

/// What `harness login` exits with: the phone's verdict, or why there is none. A refusal
/// is an answer about the phone (exit 1, as a finding); a phone that gives no answer leaves
/// the question open (exit 3, as a lab fault: nothing was learnt about its password).
pub fn login_exit_code(outcome: &Result<LoginOutcome, WebError>) -> i32 {
    match outcome {
        Ok(LoginOutcome::Accepted) => exit_code::PASS,
        Ok(LoginOutcome::Refused) => exit_code::FAIL,
        Err(WebError::Unreachable { .. }) => exit_code::LAB_FAULT,
        // A wrong address or port in the lab file, or not a T4x web UI at all.
        Err(WebError::BadUrl { .. } | WebError::Status { .. } | WebError::NotALoginForm { .. }) => {
            exit_code::CONFIG_ERROR
        }
    }
}

/// `harness login BENCH --password PW [--timeout-s N]`: the web UI's servlet login as
/// `admin`, the probe a scenario's `login` step makes, alone. The bench is taken so no run
/// drives the phone meanwhile; its devices are left as they were (a login switches
/// nothing). `timeout` is how long an unanswering phone is retried (real time, not scaled).
pub async fn login(
    lab_path: &Path,
    options: HandOptions<'_>,
    bench: &str,
    password: &str,
    timeout: Duration,
) -> i32 {
    let session = match open(lab_path, options, bench, "login").await {
        Ok(x) => x,
        Err(code) => return code,
    };
    let web = phone_web(&session.owned.rig().bench);
    let outcome = web.login("admin", password, timeout).await;
    session.owned.close_as_left();
    let code = login_exit_code(&outcome);
    match outcome {
        Ok(LoginOutcome::Accepted) => println!("{bench}: web login as admin: accepted"),
        Ok(LoginOutcome::Refused) => println!("{bench}: web login as admin: refused"),
        Err(e @ WebError::Unreachable { .. }) => {
            println!("{bench}: web login as admin: unreachable");
            eprintln!("{e}");
        }
        Err(e) => eprintln!("{bench}: web login as admin: {e}"),
    }
    code
}
