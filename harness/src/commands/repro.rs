//! `harness repro BENCH --given STATE`: the bench's phone put into a customer's state as a
//! scenario's given phase would, then driven by hand from a prompt, and with `--save` kept
//! as a scenario and its snapshot.

use std::path::PathBuf;

use futures::FutureExt;
use tokio::sync::watch;

use crate::commands::Paths;
use crate::lab::{Approval, Bench, Lab};
use crate::lab_services::LabServices;
use crate::outcome::exit_code;
use crate::rack::{BenchRig, Rack};
use crate::repro::command::{self, Command};
use crate::repro::prompt::{PROMPT, Prompt};
use crate::repro::save::{SaveTarget, SavedScenario};
use crate::repro::session::{Reply, ReproSession};
use crate::safety::lock::LockWait;
use crate::safety::owned::{Claim, claim};
use crate::scenario::Given;
use crate::scenario::engine::{CaseEnd, CaseTitle, EngineContext};

/// What the command line asks of `harness repro`, before the project's folders fill in
/// what it leaves out.
#[derive(Debug, Clone)]
pub struct ReproRequest {
    /// The bench whose phone plays the customer's.
    pub bench: String,
    /// The customer's state, `key=value` words (see `repro::given`).
    pub given: String,
    /// The lab file; the project's virtual lab when `None`.
    pub lab: Option<PathBuf>,
    /// Where to keep the session as a scenario.
    pub save: Option<PathBuf>,
    /// The saved scenario's summary; asked at the prompt when missing.
    pub summary: Option<String>,
    /// Replace an existing scenario of that name.
    pub force: bool,
    /// A firmware drop to take the firmware from instead of the project's fixtures.
    pub drop: Option<PathBuf>,
    /// Whether the in-process virtual bench starts (not when the twin runs on its own).
    pub start_virtual_bench: bool,
    /// Ticket or approver, required on benches marked `approval = "required"`.
    pub approval: Option<String>,
    /// Where bench leases and crash journals live, when not the lab's or the default.
    pub lock_dir: Option<PathBuf>,
}

impl ReproRequest {
    /// The options, with the project's folders as defaults.
    pub fn options(self, paths: &Paths) -> ReproOptions {
        ReproOptions {
            lab: self.lab.unwrap_or_else(|| paths.default_lab()),
            bench: self.bench,
            given: self.given,
            save: self.save,
            summary: self.summary,
            force: self.force,
            fixtures_dir: self.drop.unwrap_or_else(|| paths.fixtures()),
            start_virtual_bench: self.start_virtual_bench,
            lock_dir: self.lock_dir,
            approval: self.approval,
        }
    }
}

/// What `harness repro` was asked to do.
#[derive(Debug, Clone)]
pub struct ReproOptions {
    /// The lab file the bench is taken from.
    pub lab: PathBuf,
    /// The bench whose phone plays the customer's.
    pub bench: String,
    /// The customer's state, `key=value` words (see `repro::given`).
    pub given: String,
    /// Where to keep the session as a scenario.
    pub save: Option<PathBuf>,
    /// The saved scenario's summary; asked at the prompt when missing.
    pub summary: Option<String>,
    /// Replace an existing scenario of that name.
    pub force: bool,
    /// The firmware fixtures or drop the given firmware comes from.
    pub fixtures_dir: PathBuf,
    /// Start the in-process virtual bench for a lab with a `[twin]` table.
    pub start_virtual_bench: bool,
    /// Where bench leases and crash journals live, when not the lab's or the default.
    pub lock_dir: Option<PathBuf>,
    /// Required on benches marked `approval = "required"`: the given phase reflashes.
    pub approval: Option<String>,
}

/// Everything checked before the bench is touched.
struct Plan {
    lab: Lab,
    bench: Bench,
    given: Given,
    save: Option<SaveTarget>,
    summary: String,
    source: String,
}

/// Runs the session; returns the exit code: 0 when it ended by `quit` or end of input (and
/// was saved if asked), 2 for bad input, 3 for a lab fault, 130 for Ctrl-C.
pub async fn execute(options: ReproOptions) -> i32 {
    let mut prompt = Prompt::stdin();
    let plan = match plan(&options, &mut prompt).await {
        Ok(plan) => plan,
        Err(message) => {
            eprintln!("harness repro: {message}");
            return exit_code::CONFIG_ERROR;
        }
    };
    let bench = &plan.bench;
    let lock_dir =
        crate::safety::resolve_lock_dir(options.lock_dir.as_deref(), plan.lab.lock_dir.as_deref());
    // The bench is ours before anything is bound or opened, as in a run; a hand session
    // never waits for another process.
    // A bench a person disabled is refused, as by the hand commands; a bad one is used,
    // with the health check's finding shown.
    match crate::safety::service::read_mark(&lock_dir, &bench.name) {
        Ok(Some(mark)) if mark.state == crate::safety::service::OutOfService::Disabled => {
            eprintln!(
                "harness repro: refused: {}. `harness lab enable {}` puts it back first",
                mark.skip_reason(&bench.name),
                bench.name
            );
            return exit_code::LAB_FAULT;
        }
        Ok(Some(mark)) => eprintln!("harness repro: note: {}", mark.skip_reason(&bench.name)),
        Ok(None) => {}
        Err(e) => {
            eprintln!("harness repro: {e}");
            return exit_code::LAB_FAULT;
        }
    }
    let purpose = format!("repro {}", crate::repro::given::format(&plan.given));
    let claimed = match claim(&lock_dir, bench, &purpose, LockWait::NoWait, |_| {}).await {
        Ok(claimed) => claimed,
        Err(e) => {
            eprintln!("harness repro: {e}");
            return exit_code::LAB_FAULT;
        }
    };
    with_services(&options, &plan, claimed, &mut prompt).await
}

/// Reads and checks the options, and the summary when it must be asked.
async fn plan(options: &ReproOptions, prompt: &mut Prompt) -> Result<Plan, String> {
    let given = crate::repro::given::parse(&options.given).map_err(|e| e.to_string())?;
    let lab = crate::lab::load(&options.lab).map_err(|e| e.to_string())?;
    let Some(bench) = lab
        .benches
        .iter()
        .find(|b| b.name == options.bench)
        .cloned()
    else {
        let known: Vec<&str> = lab.benches.iter().map(|b| b.name.as_str()).collect();
        return Err(format!(
            "no bench `{}` in {} (benches: {})",
            options.bench,
            options.lab.display(),
            known.join(", ")
        ));
    };
    if bench.approval == Approval::Required && options.approval.is_none() {
        return Err(format!(
            "bench {} requires --approval: the given state reflashes its phone",
            bench.name
        ));
    }
    let save = options
        .save
        .as_deref()
        .map(|path| SaveTarget::new(path, options.force))
        .transpose()
        .map_err(|e| e.to_string())?;
    let summary = match (&options.summary, &save) {
        (Some(summary), _) => summary.trim().to_string(),
        (None, None) => "reproduced by hand".to_string(),
        (None, Some(_)) if prompt.interactive() => {
            println!("One line on what this reproduces (the saved scenario's summary):");
            prompt
                .next_line("summary> ")
                .await
                .map_err(|e| format!("cannot read the summary: {e}"))?
                .unwrap_or_default()
                .trim()
                .to_string()
        }
        (None, Some(_)) => {
            return Err(
                "--save needs --summary when the commands are not typed at a terminal".into(),
            );
        }
    };
    if summary.is_empty() {
        return Err("the summary must not be empty: it says what the scenario shows".into());
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let stamp = crate::report::rfc3339(now.as_secs());
    let date = &stamp[..10];
    Ok(Plan {
        source: format!("repro {date} {}", bench.name),
        lab,
        bench,
        given,
        save,
        summary,
    })
}

/// Starts the lab's servers, takes the bench over, runs the session, gives the bench up
/// safe, and stops the servers.
async fn with_services(
    options: &ReproOptions,
    plan: &Plan,
    claimed: Claim,
    prompt: &mut Prompt,
) -> i32 {
    let services = match LabServices::start(&plan.lab, options.start_virtual_bench).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("harness repro: {e}");
            claimed.give_up();
            return exit_code::LAB_FAULT;
        }
    };
    let rack = Rack::open(&plan.lab, &[&plan.bench]);
    let owned = claimed.take_over(&rack).await;
    if let Some(note) = owned.takeover.note() {
        println!("{note}");
    }
    let unusable = if owned.takeover.left_unsafe() {
        owned.takeover.note()
    } else {
        owned
            .rig()
            .unavailable()
            .map(|e| format!("bench {}: {e}", plan.bench.name))
    };
    let code = match unusable {
        Some(message) => {
            eprintln!("harness repro: {message}");
            exit_code::LAB_FAULT
        }
        // A panic must not skip making the bench safe.
        None => std::panic::AssertUnwindSafe(drive(options, plan, &services, owned.rig(), prompt))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| {
                eprintln!("harness repro: the harness panicked; making the bench safe");
                exit_code::LAB_FAULT
            }),
    };
    let safe = owned.close().await;
    let code = if safe.is_safe() {
        code
    } else {
        eprintln!(
            "harness repro: could not make bench {} safe: {safe}",
            plan.bench.name
        );
        exit_code::LAB_FAULT.max(code)
    };
    drop(rack);
    services.shutdown().await;
    code
}

/// The given phase, the prompt loop, and the save.
async fn drive(
    options: &ReproOptions,
    plan: &Plan,
    services: &LabServices,
    rig: &BenchRig,
    prompt: &mut Prompt,
) -> i32 {
    let (cancel_tx, cancel) = watch::channel(false);
    let ctrl_c = tokio::spawn(async move {
        crate::safety::stop::stop_requested().await;
        let _ = cancel_tx.send(true);
        // The sender stays alive: a closed channel would read as a Ctrl-C.
        std::future::pending::<()>().await;
    });
    let ctx = EngineContext {
        endpoints: &services.endpoints,
        fixtures_dir: &options.fixtures_dir,
        time_scale: plan.lab.time_scale,
        cancel: cancel.clone(),
    };
    let name = plan.save.as_ref().map_or("repro", |s| s.name.as_str());
    let title = CaseTitle {
        name,
        summary: &plan.summary,
        source_note: &plan.source,
    };
    println!(
        "bench {} ({}): arranging {}",
        plan.bench.name,
        plan.bench.model,
        crate::repro::given::format(&plan.given)
    );
    let mut session = ReproSession::start(&ctx, rig, title, &plan.given).await;
    print_lines(session.transcript_lines());
    if session.ended().is_none() {
        println!("The phone is in the given state. Type `help` for the commands.");
        prompt_loop(&mut session, prompt, cancel.clone()).await;
    }
    ctrl_c.abort();
    let (run, recorded) = session.finish();
    // A Ctrl-C at the prompt ends the loop without aborting a step.
    let interrupted = *cancel.borrow();
    match run.end {
        CaseEnd::Completed if !interrupted => {}
        CaseEnd::LabFault(m) => {
            eprintln!("harness repro: lab fault, session not saved: {m}");
            return exit_code::LAB_FAULT;
        }
        CaseEnd::ConfigError(m) => {
            eprintln!("harness repro: {m}; session not saved");
            return exit_code::CONFIG_ERROR;
        }
        CaseEnd::Completed | CaseEnd::Interrupted => {
            eprintln!("harness repro: interrupted; keys released, bench made safe; not saved");
            return exit_code::INTERRUPTED;
        }
    }
    let Some(target) = &plan.save else {
        return exit_code::PASS;
    };
    let transcript = run.redactor.apply(&run.transcript.text());
    let saved = SavedScenario {
        summary: &plan.summary,
        source: &plan.source,
        model: plan.bench.model,
        given: &plan.given,
        steps: &recorded,
    };
    match target.write(&saved, &transcript) {
        Ok(files) => {
            println!("saved {}", files.scenario.display());
            println!("saved {}", files.snapshot.display());
            exit_code::PASS
        }
        Err(e) => {
            eprintln!("harness repro: {e}");
            exit_code::CONFIG_ERROR
        }
    }
}

/// Reads commands until `quit`, the end of input, Ctrl-C, or an abort of the case.
async fn prompt_loop(
    session: &mut ReproSession<'_, '_>,
    prompt: &mut Prompt,
    mut cancel: watch::Receiver<bool>,
) {
    loop {
        let line = tokio::select! {
            line = prompt.next_line(PROMPT) => line,
            () = crate::scenario::engine::cancelled(&mut cancel) => return,
        };
        let line = match line {
            Ok(Some(line)) => line,
            Ok(None) => return,
            Err(e) => {
                eprintln!("harness repro: cannot read the next command: {e}");
                return;
            }
        };
        let command = match command::parse(&line) {
            Ok(command) => command,
            Err(e) => {
                println!("{e}");
                continue;
            }
        };
        if !prompt.interactive() && matches!(command, Command::Step(_)) {
            // Piped commands are echoed, so the output reads as a session.
            println!("{PROMPT}{}", line.trim());
        }
        match session.execute(command).await {
            Reply::Quit => return,
            Reply::Print(lines) => print_lines(&lines),
        }
        if session.ended().is_some() {
            return;
        }
    }
}

fn print_lines(lines: &[String]) {
    for line in lines {
        println!("{line}");
    }
}
