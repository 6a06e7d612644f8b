//! `account = "active" | "cancelled" | "v2"`: what the platform says of the phone's account
//! from now on (a customer reactivating, cancelling or moving to 2.0 mid-case). The phone
//! sees it on its next provisioning fetch or REGISTER, as the `given` account does.

use super::prompt::{choice, exactly};
use super::{CommandError, StepFields, StepFuture, StepKind, toml_string, word_of};
use crate::config_error::FileProblems;
use crate::scenario::AccountState;
use crate::scenario::engine::{Abort, Case, account_words};
use crate::scenario::model::Step;

/// The account state switched on the lab's provisioning server and registrar.
pub struct Account;

/// Each account state with the word a scenario and the prompt write it by (the `given`'s).
const STATES: [(&str, AccountState); 3] = [
    ("active", AccountState::Active),
    ("cancelled", AccountState::Cancelled),
    ("v2", AccountState::V2),
];

impl StepKind for Account {
    fn actions(&self) -> &'static [&'static str] {
        &["account"]
    }

    fn check(
        &self,
        action: &'static str,
        fields: &StepFields<'_>,
        problems: &mut FileProblems<'_>,
    ) -> Option<Step> {
        let state = fields.choice(problems, action, &STATES)??;
        Some(Step::new(&Account, *state.get_ref()))
    }

    fn run<'a>(
        &'a self,
        case: &'a mut Case<'_, '_>,
        number: usize,
        step: &'a Step,
    ) -> StepFuture<'a> {
        Box::pin(async move {
            let Some(state) = step.what::<AccountState>() else {
                return Err(case.not_this_kind(self, step));
            };
            let endpoints = case.endpoints();
            let bench = &case.rig().bench.name;
            let mut account = endpoints
                .accounts
                .get(bench)
                .ok_or_else(|| Abort::Config(format!("bench {bench} has no account to change")))?;
            account.account = *state;
            endpoints.accounts.set(bench, account);
            case.action(format!(
                "{number}. server: account {}",
                account_words(*state)
            ));
            Ok(())
        })
    }

    fn toml(&self, step: &Step) -> Option<Vec<(&'static str, String)>> {
        let state = step.what::<AccountState>()?;
        let word = word_of(&STATES, state);
        Some(vec![("account", toml_string(word))])
    }

    fn command(&self) -> &'static str {
        "account"
    }

    fn usage(&self) -> &'static str {
        "account active|cancelled|v2"
    }

    fn about(&self) -> String {
        "the platform's account state from now on".into()
    }

    fn parse(&self, args: &[&str]) -> Result<Step, CommandError> {
        let [state] = exactly("account", args, "active, cancelled or v2")?;
        choice("account", state, &STATES).map(|x| Step::new(&Account, x))
    }
}
