//! `provisioning_server = "reachable" | "unreachable"`: the lab's provisioning server
//! answers the bench's phone, or closes its connections unread (KB condition 3 asks for an
//! IP address *and* an Internet connection: this takes the second away and keeps the
//! first). Every case starts with the server reachable.

use super::prompt::{choice, exactly};
use super::{CommandError, StepFields, StepFuture, StepKind, toml_string, word_of};
use crate::config_error::FileProblems;
use crate::scenario::engine::Case;
use crate::scenario::model::{ServerReach, Step};

/// The provisioning server reachable or not for this bench's phone.
pub struct ProvisioningServer;

/// Each state with the word a scenario and the prompt write it by.
const STATES: [(&str, ServerReach); 2] = [
    ("reachable", ServerReach::Reachable),
    ("unreachable", ServerReach::Unreachable),
];

impl StepKind for ProvisioningServer {
    fn actions(&self) -> &'static [&'static str] {
        &["provisioning_server"]
    }

    fn check(
        &self,
        action: &'static str,
        fields: &StepFields<'_>,
        problems: &mut FileProblems<'_>,
    ) -> Option<Step> {
        let state = fields.choice(problems, action, &STATES)??;
        Some(Step::new(&ProvisioningServer, *state.get_ref()))
    }

    fn run<'a>(
        &'a self,
        case: &'a mut Case<'_, '_>,
        number: usize,
        step: &'a Step,
    ) -> StepFuture<'a> {
        Box::pin(async move {
            let Some(state) = step.what::<ServerReach>() else {
                return Err(case.not_this_kind(self, step));
            };
            let reachable = *state == ServerReach::Reachable;
            let bench = &case.rig().bench.name;
            case.endpoints().accounts.set_reachable(bench, reachable);
            let words = if reachable {
                "reachable for the phone again"
            } else {
                "unreachable for the phone (its connections are closed unread)"
            };
            case.action(format!("{number}. provisioning server: {words}"));
            Ok(())
        })
    }

    fn toml(&self, step: &Step) -> Option<Vec<(&'static str, String)>> {
        let state = step.what::<ServerReach>()?;
        let word = word_of(&STATES, state);
        Some(vec![("provisioning_server", toml_string(word))])
    }

    fn command(&self) -> &'static str {
        "server"
    }

    fn usage(&self) -> &'static str {
        "server reachable|unreachable"
    }

    fn about(&self) -> String {
        "the provisioning server answers the phone, or shuts it out".into()
    }

    fn parse(&self, args: &[&str]) -> Result<Step, CommandError> {
        let [state] = exactly("server", args, "reachable or unreachable")?;
        choice("server", state, &STATES).map(|x| Step::new(&ProvisioningServer, x))
    }
}
