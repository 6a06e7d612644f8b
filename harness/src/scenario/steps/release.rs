//! `release = "<key>"`: a held key let go through the actuator.

use super::prompt::{exactly, key_name};
use super::{CommandError, StepFields, StepFuture, StepKind, toml_string};
use crate::config_error::FileProblems;
use crate::lab::Key;
use crate::scenario::engine::Case;
use crate::scenario::model::Step;

/// A held key let go.
pub struct Release;

impl StepKind for Release {
    fn actions(&self) -> &'static [&'static str] {
        &["release"]
    }

    fn check(
        &self,
        action: &'static str,
        fields: &StepFields<'_>,
        problems: &mut FileProblems<'_>,
    ) -> Option<Step> {
        fields.key(problems, action).map(|x| Step::new(&Release, x))
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
            case.rig().release(key).await?;
            case.action(format!("{number}. release {key}"));
            Ok(())
        })
    }

    fn toml(&self, step: &Step) -> Option<Vec<(&'static str, String)>> {
        let key = step.what::<Key>()?;
        Some(vec![("release", toml_string(&key.0))])
    }

    fn command(&self) -> &'static str {
        "release"
    }

    fn usage(&self) -> &'static str {
        "release KEY"
    }

    fn about(&self) -> String {
        "release a held key".into()
    }

    fn parse(&self, args: &[&str]) -> Result<Step, CommandError> {
        let [key] = exactly("release", args, "a key name")?;
        key_name("release", key).map(|x| Step::new(&Release, x))
    }
}
