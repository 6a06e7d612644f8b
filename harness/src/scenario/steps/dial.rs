//! `dial = "<digits>"`: each digit key tapped in turn.

use std::collections::BTreeSet;

use super::prompt::{bad, exactly};
use super::{CommandError, StepFields, StepFuture, StepKind, toml_string};
use crate::config_error::FileProblems;
use crate::lab::Key;
use crate::scenario::engine::{Abort, Case};
use crate::scenario::model::Step;

/// The longest `dial` string: the idle screen keeps 32 characters and drops the digits
/// after them (the twin's BEHAVIOUR.md, K2), so a longer string cannot show anything more,
/// and each digit costs a third of a second of key presses on a real rack.
pub const DIAL_MAX_DIGITS: usize = 32;

/// Digits are tapped this long each (real milliseconds, scaled).
const DIGIT_TAP_MS: f64 = 120.0;

/// Pause between two digits of a dial string (real milliseconds, scaled).
const DIGIT_GAP_MS: f64 = 200.0;

/// Digit keys (`0-9`, `*`, `#`) tapped one after the other, as a person dials.
pub struct Dial;

impl StepKind for Dial {
    fn actions(&self) -> &'static [&'static str] {
        &["dial"]
    }

    fn check(
        &self,
        action: &'static str,
        fields: &StepFields<'_>,
        problems: &mut FileProblems<'_>,
    ) -> Option<Step> {
        let digits = fields.required::<String>(problems, action)?;
        let path = fields.key_path(action);
        let text = digits.get_ref();
        if text.is_empty() {
            problems.at(
                &digits.span(),
                path,
                "nothing to dial: expected digits 0-9, `*` and `#`",
            );
            return None;
        }
        let length = text.chars().count();
        if length > DIAL_MAX_DIGITS {
            problems.at(
                &digits.span(),
                path,
                format!(
                    "{length} characters to dial, at most {DIAL_MAX_DIGITS}: the idle screen keeps {DIAL_MAX_DIGITS} and drops the rest"
                ),
            );
            return None;
        }
        let refused: BTreeSet<char> = text
            .chars()
            .filter(|c| Key::for_digit(*c).is_none())
            .collect();
        if refused.is_empty() {
            return Some(Step::new(&Dial, text.clone()));
        }
        let refused: Vec<String> = refused.iter().map(|c| format!("`{c}`")).collect();
        problems.at(
            &digits.span(),
            path,
            format!(
                "`{text}` holds {}, which no key dials: expected digits 0-9, `*` and `#`",
                refused.join(", ")
            ),
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
            let Some(digits) = step.what::<String>() else {
                return Err(case.not_this_kind(self, step));
            };
            for (i, digit) in digits.chars().enumerate() {
                if i > 0 {
                    case.sleep(case.scaled(DIGIT_GAP_MS / 1000.0)).await?;
                }
                let key = Key::for_digit(digit)
                    .ok_or_else(|| Abort::Config(format!("cannot dial `{digit}`")))?;
                case.tap(&key, DIGIT_TAP_MS).await?;
            }
            case.action(format!("{number}. dial {digits}"));
            Ok(())
        })
    }

    fn toml(&self, step: &Step) -> Option<Vec<(&'static str, String)>> {
        let digits = step.what::<String>()?;
        Some(vec![("dial", toml_string(digits))])
    }

    fn command(&self) -> &'static str {
        "dial"
    }

    fn usage(&self) -> &'static str {
        "dial DIGITS"
    }

    fn about(&self) -> String {
        "tap 0-9, * and # in turn".into()
    }

    fn parse(&self, args: &[&str]) -> Result<Step, CommandError> {
        let [digits] = exactly("dial", args, "digits (0-9, * and #)")?;
        if digits.is_empty()
            || digits.chars().count() > DIAL_MAX_DIGITS
            || digits.chars().any(|c| Key::for_digit(c).is_none())
        {
            return Err(bad(
                "dial",
                digits,
                &format!("at most {DIAL_MAX_DIGITS} digits 0-9, `*` and `#`"),
            ));
        }
        Ok(Step::new(&Dial, digits.to_string()))
    }
}
