//! `pause_s = <seconds>`: nothing, for a while; a key held through a boot.

use super::prompt::{exactly, seconds};
use super::{CommandError, StepFields, StepFuture, StepKind, toml_number};
use crate::config_error::FileProblems;
use crate::scenario::engine::Case;
use crate::scenario::model::Step;

/// The longest pause: a real boot with a key held takes well under this.
pub const PAUSE_S_MAX: f64 = 600.0;

/// A `pause_s` step.
#[derive(Debug, Clone, PartialEq)]
pub struct PauseStep {
    /// Real seconds, scaled by the lab's time scale.
    pub seconds: f64,
}

/// Real seconds (scaled) in which the harness does nothing; Ctrl-C ends it at once.
pub struct Pause;

impl StepKind for Pause {
    fn actions(&self) -> &'static [&'static str] {
        &["pause_s"]
    }

    fn check(
        &self,
        action: &'static str,
        fields: &StepFields<'_>,
        problems: &mut FileProblems<'_>,
    ) -> Option<Step> {
        let seconds = fields.required::<f64>(problems, action)?;
        let value = *seconds.get_ref();
        if value > 0.0 && value <= PAUSE_S_MAX {
            return Some(Step::new(&Pause, PauseStep { seconds: value }));
        }
        problems.at(
            &seconds.span(),
            fields.key_path(action),
            format!("pause_s must be above 0 and at most {PAUSE_S_MAX}, found {value}"),
        );
        None
    }

    fn run<'a>(
        &'a self,
        case: &'a mut Case<'_, '_>,
        number: usize,
        step: &'a Step,
    ) -> StepFuture<'a> {
        Box::pin(async move {
            let Some(PauseStep { seconds }) = step.what::<PauseStep>() else {
                return Err(case.not_this_kind(self, step));
            };
            case.sleep(case.scaled(*seconds)).await?;
            case.action(format!("{number}. pause {seconds} s"));
            Ok(())
        })
    }

    fn toml(&self, step: &Step) -> Option<Vec<(&'static str, String)>> {
        let PauseStep { seconds } = step.what::<PauseStep>()?;
        Some(vec![("pause_s", toml_number(*seconds))])
    }

    fn command(&self) -> &'static str {
        "pause"
    }

    fn usage(&self) -> &'static str {
        "pause SECONDS"
    }

    fn about(&self) -> String {
        "do nothing (a key held through a boot)".into()
    }

    fn parse(&self, args: &[&str]) -> Result<Step, CommandError> {
        let [s] = exactly("pause", args, "a number of seconds")?;
        Ok(Step::new(
            &Pause,
            PauseStep {
                seconds: seconds("pause", s, PAUSE_S_MAX)?,
            },
        ))
    }
}
