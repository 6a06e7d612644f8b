//! `power = "on" | "off" | "cycle"`: the bench's power relay.

use super::prompt::{choice, exactly};
use super::{CommandError, StepFields, StepFuture, StepKind, toml_string, word_of};
use crate::config_error::FileProblems;
use crate::scenario::engine::Case;
use crate::scenario::model::{PowerAction, Step};

/// The power relay switched on, off, or off and on again.
pub struct Power;

/// Each action with the word a scenario and the prompt write it by.
const ACTIONS: [(&str, PowerAction); 3] = [
    ("on", PowerAction::On),
    ("off", PowerAction::Off),
    ("cycle", PowerAction::Cycle),
];

impl StepKind for Power {
    fn actions(&self) -> &'static [&'static str] {
        &["power"]
    }

    fn check(
        &self,
        action: &'static str,
        fields: &StepFields<'_>,
        problems: &mut FileProblems<'_>,
    ) -> Option<Step> {
        let power = fields.choice(problems, action, &ACTIONS)??;
        Some(Step::new(&Power, *power.get_ref()))
    }

    fn run<'a>(
        &'a self,
        case: &'a mut Case<'_, '_>,
        number: usize,
        step: &'a Step,
    ) -> StepFuture<'a> {
        Box::pin(async move {
            let Some(action) = step.what::<PowerAction>() else {
                return Err(case.not_this_kind(self, step));
            };
            match action {
                PowerAction::On => {
                    case.rig().power(true).await?;
                    case.action(format!("{number}. power: on"));
                }
                PowerAction::Off => {
                    case.rig().power(false).await?;
                    case.action(format!("{number}. power: off"));
                }
                PowerAction::Cycle => {
                    case.action(format!("{number}. power: cycle"));
                    case.power_cycle().await?;
                }
            }
            Ok(())
        })
    }

    fn toml(&self, step: &Step) -> Option<Vec<(&'static str, String)>> {
        let action = step.what::<PowerAction>()?;
        Some(vec![("power", toml_string(word_of(&ACTIONS, action)))])
    }

    fn command(&self) -> &'static str {
        "power"
    }

    fn usage(&self) -> &'static str {
        "power on|off|cycle"
    }

    fn about(&self) -> String {
        "the bench's power relay".into()
    }

    fn parse(&self, args: &[&str]) -> Result<Step, CommandError> {
        let [action] = exactly("power", args, "on, off or cycle")?;
        choice("power", action, &ACTIONS).map(|x| Step::new(&Power, x))
    }
}
