//! `hold = "<key>"`: a key pressed and kept pressed through the actuator.

use super::prompt::{exactly, key_name};
use super::{CommandError, StepFields, StepFuture, StepKind, toml_string};
use crate::config_error::FileProblems;
use crate::lab::Key;
use crate::scenario::engine::Case;
use crate::scenario::model::Step;

/// A key pressed and kept pressed until a `release` (or the end of the case).
pub struct Hold;

impl StepKind for Hold {
    fn actions(&self) -> &'static [&'static str] {
        &["hold"]
    }

    fn check(
        &self,
        action: &'static str,
        fields: &StepFields<'_>,
        problems: &mut FileProblems<'_>,
    ) -> Option<Step> {
        fields.key(problems, action).map(|x| Step::new(&Hold, x))
    }

    fn run<'a>(
        &'a self,
        case: &'a mut Case<'_, '_>,
        number: usize,
        step: &'a Step,
    ) -> StepFuture<'a> {
        Box::pin(async move {
            let Some(key) = step.what::<Key>() else {
                return Err(case.not_this_kind(self, step));
            };
            case.rig().hold(key).await?;
            case.action(format!("{number}. hold {key}"));
            Ok(())
        })
    }

    fn toml(&self, step: &Step) -> Option<Vec<(&'static str, String)>> {
        let key = step.what::<Key>()?;
        Some(vec![("hold", toml_string(&key.0))])
    }

    fn command(&self) -> &'static str {
        "hold"
    }

    fn usage(&self) -> &'static str {
        "hold KEY"
    }

    fn about(&self) -> String {
        "press and keep pressed".into()
    }

    fn parse(&self, args: &[&str]) -> Result<Step, CommandError> {
        let [key] = exactly("hold", args, "a key name")?;
        key_name("hold", key).map(|x| Step::new(&Hold, x))
    }
}
