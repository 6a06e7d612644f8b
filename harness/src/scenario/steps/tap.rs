//! `tap = "<key>"` with `hold_ms`: a key pressed and released through the actuator; the
//! prompt types it as `press`.

use super::prompt::{bad, first, key_name, too_many};
use super::{CommandError, StepFields, StepFuture, StepKind, StepOption, toml_string};
use crate::config_error::FileProblems;
use crate::lab::Key;
use crate::scenario::engine::Case;
use crate::scenario::model::Step;

/// `hold_ms` of a `tap` when omitted: a short, deliberate press.
pub const DEFAULT_TAP_HOLD_MS: u64 = 100;

/// The actuator's `TAP` range (PROTOCOL.md).
pub const TAP_HOLD_MS_MAX: i64 = 60_000;

/// A `tap` step: press and let go after `hold_ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct TapStep {
    /// The key.
    pub key: Key,
    /// How long it stays pressed, in real milliseconds (scaled by the lab's time scale).
    pub hold_ms: u64,
}

/// A key pressed for `hold_ms`, then released.
pub struct Tap;

impl StepKind for Tap {
    fn actions(&self) -> &'static [&'static str] {
        &["tap"]
    }

    fn options(&self) -> &'static [StepOption] {
        &[StepOption {
            key: "hold_ms",
            actions: &["tap"],
        }]
    }

    fn check(
        &self,
        action: &'static str,
        fields: &StepFields<'_>,
        problems: &mut FileProblems<'_>,
    ) -> Option<Step> {
        let key = fields.key(problems, action);
        // Signed, so that a negative value gets the range message.
        let hold_ms = match fields.optional::<i64>(problems, "hold_ms")? {
            None => Some(DEFAULT_TAP_HOLD_MS),
            Some(hold_ms) => {
                let value = *hold_ms.get_ref();
                if (1..=TAP_HOLD_MS_MAX).contains(&value) {
                    u64::try_from(value).ok()
                } else {
                    problems.at(
                        &hold_ms.span(),
                        fields.key_path("hold_ms"),
                        format!(
                            "hold_ms must be 1 to {TAP_HOLD_MS_MAX} (the actuator's TAP range), found {value}"
                        ),
                    );
                    None
                }
            }
        };
        key.zip(hold_ms)
            .map(|(key, hold_ms)| Step::new(&Tap, TapStep { key, hold_ms }))
    }

    fn run<'a>(
        &'a self,
        case: &'a mut Case<'_, '_>,
        number: usize,
        step: &'a Step,
    ) -> StepFuture<'a> {
        Box::pin(async move {
            let Some(TapStep { key, hold_ms }) = step.what::<TapStep>() else {
                return Err(case.not_this_kind(self, step));
            };
            case.tap(key, *hold_ms as f64).await?;
            case.action(format!("{number}. tap {key}"));
            Ok(())
        })
    }

    fn toml(&self, step: &Step) -> Option<Vec<(&'static str, String)>> {
        let TapStep { key, hold_ms } = step.what::<TapStep>()?;
        let mut entries = vec![("tap", toml_string(&key.0))];
        if *hold_ms != DEFAULT_TAP_HOLD_MS {
            entries.push(("hold_ms", hold_ms.to_string()));
        }
        Some(entries)
    }

    fn command(&self) -> &'static str {
        "press"
    }

    fn usage(&self) -> &'static str {
        "press KEY [hold_ms]"
    }

    fn about(&self) -> String {
        format!("press and release a key (default {DEFAULT_TAP_HOLD_MS} ms)")
    }

    fn parse(&self, args: &[&str]) -> Result<Step, CommandError> {
        let (key, rest) = first("press", args, "a key name")?;
        let hold_ms = match rest {
            [] => DEFAULT_TAP_HOLD_MS,
            [ms] => match ms.parse::<i64>() {
                Ok(ms) if (1..=TAP_HOLD_MS_MAX).contains(&ms) => ms as u64,
                _ => {
                    return Err(bad(
                        "press",
                        ms,
                        &format!("a hold of 1 to {TAP_HOLD_MS_MAX} ms"),
                    ));
                }
            },
            [_, extra, ..] => return Err(too_many("press", "KEY [hold_ms]", extra)),
        };
        Ok(Step::new(
            &Tap,
            TapStep {
                key: key_name("press", key)?,
                hold_ms,
            },
        ))
    }
}
