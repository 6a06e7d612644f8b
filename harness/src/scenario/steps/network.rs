//! `network = "up" | "down"`: the network-cable relay.

use super::prompt::{choice, exactly};
use super::{CommandError, StepFields, StepFuture, StepKind, toml_string, word_of};
use crate::config_error::FileProblems;
use crate::scenario::engine::Case;
use crate::scenario::model::{LinkState, Step};

/// The network cable plugged in (`up`) or pulled (`down`).
pub struct Network;

/// Each link state with the word a scenario and the prompt write it by.
const STATES: [(&str, LinkState); 2] = [("up", LinkState::Up), ("down", LinkState::Down)];

impl StepKind for Network {
    fn actions(&self) -> &'static [&'static str] {
        &["network"]
    }

    fn check(
        &self,
        action: &'static str,
        fields: &StepFields<'_>,
        problems: &mut FileProblems<'_>,
    ) -> Option<Step> {
        let state = fields.choice(problems, action, &STATES)??;
        Some(Step::new(&Network, *state.get_ref()))
    }

    fn run<'a>(
        &'a self,
        case: &'a mut Case<'_, '_>,
        number: usize,
        step: &'a Step,
    ) -> StepFuture<'a> {
        Box::pin(async move {
            let Some(state) = step.what::<LinkState>() else {
                return Err(case.not_this_kind(self, step));
            };
            let connected = *state == LinkState::Up;
            case.rig().network(connected).await?;
            let words = if connected {
                "cable connected"
            } else {
                "cable pulled"
            };
            case.action(format!("{number}. network: {words}"));
            Ok(())
        })
    }

    fn toml(&self, step: &Step) -> Option<Vec<(&'static str, String)>> {
        let state = step.what::<LinkState>()?;
        let word = word_of(&STATES, state);
        Some(vec![("network", toml_string(word))])
    }

    fn command(&self) -> &'static str {
        "network"
    }

    fn usage(&self) -> &'static str {
        "network up|down"
    }

    fn about(&self) -> String {
        "the network-cable relay".into()
    }

    fn parse(&self, args: &[&str]) -> Result<Step, CommandError> {
        let [state] = exactly("network", args, "up or down")?;
        choice("network", state, &STATES).map(|x| Step::new(&Network, x))
    }
}
