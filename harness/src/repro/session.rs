//! A repro session: the engine's case session, driven by the prompt's commands, with the
//! steps that ran recorded for saving. Every step goes through `CaseSession::step`, the
//! code that runs a scenario file's steps, so the saved scenario replays what was seen.

use crate::rack::BenchRig;
use crate::repro::command::{Command, help};
use crate::scenario::engine::{CaseEnd, CaseRun, CaseSession, CaseTitle, EngineContext};
use crate::scenario::{Given, Step};

/// A step that ran, as it will be saved.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedStep {
    /// The step as it will be written into the scenario.
    pub step: Step,
    /// A comment for the saved file: what a reader should know about this step's run.
    pub note: Option<String>,
}

/// What the prompt does after a command.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Print these lines and read the next command.
    Print(Vec<String>),
    /// The operator is done.
    Quit,
}

/// One bench driven by hand from its given state.
pub struct ReproSession<'a, 'c> {
    case: CaseSession<'a, 'c>,
    recorded: Vec<RecordedStep>,
}

impl<'a, 'c> ReproSession<'a, 'c> {
    /// Puts the bench's phone into `given` exactly as a scenario's given phase does.
    pub async fn start(
        ctx: &'a EngineContext<'c>,
        rig: &'a BenchRig,
        title: CaseTitle<'_>,
        given: &Given,
    ) -> ReproSession<'a, 'c> {
        ReproSession {
            case: CaseSession::start(ctx, rig, title, given).await,
            recorded: Vec::new(),
        }
    }

    /// The transcript so far (unredacted): after `start`, the header and the given phase.
    pub fn transcript_lines(&self) -> &[String] {
        self.case.transcript().lines()
    }

    /// Why the session cannot go on (a lab fault, a fixture missing, Ctrl-C), if so.
    pub fn ended(&self) -> Option<&CaseEnd> {
        self.case.ended()
    }

    /// The steps that ran to their end, in order.
    pub fn recorded(&self) -> &[RecordedStep] {
        &self.recorded
    }

    /// Runs one prompt command. A step that aborts the case is not recorded: its
    /// transcript line says why, and [`Self::ended`] is set.
    pub async fn execute(&mut self, command: Command) -> Reply {
        match command {
            Command::Nothing => Reply::Print(Vec::new()),
            Command::Help => Reply::Print(help().lines().map(str::to_string).collect()),
            Command::Quit => Reply::Quit,
            Command::Show => {
                let text = self.case.redactor().apply(&self.case.transcript().text());
                Reply::Print(text.lines().map(str::to_string).collect())
            }
            Command::Step(step) => {
                let report = self.case.step(&step).await;
                if self.case.ended().is_none() {
                    // Only a wait reports whether it found its event.
                    let note = (report.wait_found == Some(false)).then(|| {
                        "Nothing came within the timeout when this was recorded.".to_string()
                    });
                    self.recorded.push(RecordedStep { step, note });
                }
                Reply::Print(report.lines)
            }
        }
    }

    /// Closes the transcript as a scenario run closes it; returns it with the steps.
    pub fn finish(self) -> (CaseRun, Vec<RecordedStep>) {
        (self.case.finish(), self.recorded)
    }
}
