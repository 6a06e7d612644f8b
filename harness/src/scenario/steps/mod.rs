//! The step vocabulary: one module per kind of `[[step]]`, and `KINDS`, the one table that
//! names them. A kind knows how it is written in a scenario file and checked, how it runs on
//! a bench and reads in the transcript, how the repro prompt types it and how a saved session
//! writes it back; the loader, the engine, the prompt and `--save` only look kinds up here.
//! Adding a kind is its module (with the type of what it keeps of a step) and its line in
//! the `step_kinds!` list below; `harness/tests/step_registry.rs` then asks for its row in
//! `scenarios/README.md`.

use futures::future::BoxFuture;

use crate::config_error::FileProblems;
use crate::scenario::engine::{Abort, Case};
use crate::scenario::model::Step;

pub mod fields;
pub mod prompt;

pub use fields::StepFields;
pub use prompt::CommandError;

/// Declares each kind's module and lists its registry entry in `KINDS`, so that a kind is
/// one line here.
macro_rules! step_kinds {
    ($($module:ident :: $kind:ident),* $(,)?) => {
        $(pub mod $module;)*

        /// Every kind of step, in the order messages, the README and the prompt's help list
        /// them.
        pub(crate) static KINDS: &[&dyn StepKind] = &[$(&$module::$kind),*];
    };
}

step_kinds! {
    power::Power,
    hold::Hold,
    release::Release,
    tap::Tap,
    dial::Dial,
    network::Network,
    wait::Wait,
    login::Login,
    pause::Pause,
    offer_firmware::OfferFirmware,
    package::Package,
    account::Account,
    provisioning_server::ProvisioningServer,
}

/// What running a step returns: done, or why the case stops.
pub(crate) type StepFuture<'a> = BoxFuture<'a, Result<(), Abort>>;

/// A key that may accompany an action in a `[[step]]` (`hold_ms` with `tap`): which actions
/// take it, so that one written with another action is refused by name.
#[derive(Debug, Clone, Copy)]
pub struct StepOption {
    /// The key as written.
    pub key: &'static str,
    /// The action keys it applies to, in the order the refusal names them.
    pub actions: &'static [&'static str],
}

/// One kind of step. Each method serves one consumer (the loader, the engine, `--save`, the
/// prompt). A `Step` carries the kind that made it and is only ever handed to that kind; if
/// one were handed another's, `toml` answers `None` and `run` a config error, never a panic.
pub(crate) trait StepKind: Sync {
    /// The action keys that write this kind in a `[[step]]` (exactly one per step).
    fn actions(&self) -> &'static [&'static str];

    /// The keys that may accompany one of [`Self::actions`].
    fn options(&self) -> &'static [StepOption] {
        &[]
    }

    /// Checks a step written with `action` (one of [`Self::actions`]); every problem is
    /// recorded with its line and key path, and `None` returned.
    fn check(
        &self,
        action: &'static str,
        fields: &StepFields<'_>,
        problems: &mut FileProblems<'_>,
    ) -> Option<Step>;

    /// Runs `step`, the `number`th of its case, on the case's bench and writes its
    /// transcript line(s).
    fn run<'a>(
        &'a self,
        case: &'a mut Case<'_, '_>,
        number: usize,
        step: &'a Step,
    ) -> StepFuture<'a>;

    /// Whether `step` puts a recovery stick in the phone, so that a model without a USB
    /// port cannot have it done (`scenario::applicability`).
    fn needs_usb_port(&self, _step: &Step) -> bool {
        false
    }

    /// The `key = value` lines of `step` in a saved scenario file, values as TOML.
    fn toml(&self, step: &Step) -> Option<Vec<(&'static str, String)>>;

    /// The repro prompt's word for this kind (`press` for a `tap`).
    fn command(&self) -> &'static str;

    /// The prompt command's arguments, for the help text (`press KEY [hold_ms]`).
    fn usage(&self) -> &'static str;

    /// What the prompt command does, for the help text; continuation lines after `\n`.
    fn about(&self) -> String;

    /// Reads the prompt command's arguments (the words after [`Self::command`]) into the
    /// step a scenario file would hold, with the limits a file has.
    fn parse(&self, args: &[&str]) -> Result<Step, CommandError>;
}

/// The kind written with action key `action`.
pub(crate) fn kind_of_action(action: &str) -> Option<(&'static str, &'static dyn StepKind)> {
    KINDS.iter().copied().find_map(|kind| {
        kind.actions()
            .iter()
            .find(|a| **a == action)
            .map(|a| (*a, kind))
    })
}

/// The kind the prompt word `command` types.
pub(crate) fn kind_of_command(command: &str) -> Option<&'static dyn StepKind> {
    KINDS.iter().copied().find(|kind| kind.command() == command)
}

/// Every action key, in [`KINDS`] order: the "a step needs one action" message lists them.
pub fn action_keys() -> Vec<&'static str> {
    KINDS
        .iter()
        .flat_map(|kind| kind.actions().iter().copied())
        .collect()
}

/// Every key a `[[step]]` may hold: each kind's actions followed by its options.
pub fn step_keys() -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = Vec::new();
    for kind in KINDS {
        for key in kind
            .actions()
            .iter()
            .copied()
            .chain(kind.options().iter().map(|o| o.key))
        {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    keys
}

/// The options that may accompany action key `action` (empty for an unknown action).
pub fn options_of(action: &str) -> Vec<&'static str> {
    KINDS
        .iter()
        .flat_map(|kind| kind.options().iter())
        .filter(|option| option.actions.contains(&action))
        .map(|option| option.key)
        .collect()
}

/// The option written as `key`, if a kind declares one.
pub fn option(key: &str) -> Option<StepOption> {
    KINDS
        .iter()
        .flat_map(|kind| kind.options().iter().copied())
        .find(|option| option.key == key)
}

/// Serde's way of listing what was expected (`` `a` or `b` ``, `` one of `a`, `b`, `c` ``),
/// so that a value refused by a kind reads like one refused by a derived type.
pub fn expected_one_of(names: &[&str]) -> String {
    match names {
        [] => "nothing".to_string(),
        [one] => format!("`{one}`"),
        [one, two] => format!("`{one}` or `{two}`"),
        many => format!(
            "one of {}",
            many.iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The word a scenario file writes `value` by, from a kind's table of words and values;
/// every value of a kind's table has its word, so a miss is empty text.
pub(crate) fn word_of<T: PartialEq>(table: &[(&'static str, T)], value: &T) -> &'static str {
    table
        .iter()
        .find(|(_, v)| v == value)
        .map_or("", |(word, _)| *word)
}

/// A TOML basic string, escaped by the TOML writer itself: how `--save` writes a text value.
pub(crate) fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// Whole seconds as an integer (as the hand-written files have them), others as a float.
pub(crate) fn toml_number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::Key;
    use crate::scenario::model::{
        AccountState, LinkState, LoginPassword, Medium, PackagePart, PackageStep, PowerAction,
        ServerReach, WaitFor,
    };

    /// One step of every kind (and every package medium).
    fn one_of_each() -> Vec<Step> {
        vec![
            Step::new(&power::Power, PowerAction::Off),
            Step::new(&hold::Hold, Key("speaker".into())),
            Step::new(&release::Release, Key("speaker".into())),
            Step::new(
                &tap::Tap,
                tap::TapStep {
                    key: Key("ok".into()),
                    hold_ms: 2500,
                },
            ),
            Step::new(&dial::Dial, "*#12".to_string()),
            Step::new(&network::Network, LinkState::Up),
            Step::new(
                &wait::Wait,
                wait::WaitStep {
                    what: WaitFor::Tftp,
                    timeout_s: 12.5,
                },
            ),
            Step::new(
                &login::Login,
                login::LoginStep {
                    password: LoginPassword::Given,
                },
            ),
            Step::new(&pause::Pause, pause::PauseStep { seconds: 3.0 }),
            Step::new(&offer_firmware::OfferFirmware, "legacy".to_string()),
            Step::new(
                &package::Package,
                PackageStep {
                    medium: Medium::UsbNtfs,
                    generation: "min".into(),
                    omit: Some(PackagePart::Bin),
                    corrupt: None,
                    layout: Default::default(),
                    package_model: None,
                },
            ),
            Step::new(&account::Account, AccountState::V2),
            Step::new(
                &provisioning_server::ProvisioningServer,
                ServerReach::Unreachable,
            ),
        ]
    }

    #[test]
    fn every_kind_has_an_example() {
        let steps = one_of_each();
        for kind in KINDS {
            assert!(
                steps.iter().any(|s| s.kind().command() == kind.command()),
                "{:?} has no example",
                kind.actions()
            );
        }
    }

    #[test]
    fn keys_and_commands_are_not_shared_between_kinds() {
        for kind in KINDS {
            for option in kind.options() {
                assert!(
                    !action_keys().contains(&option.key),
                    "`{}` is both an option and an action",
                    option.key
                );
            }
        }
        let mut actions = action_keys();
        actions.sort_unstable();
        actions.dedup();
        assert_eq!(actions.len(), action_keys().len(), "an action key twice");
        let mut commands: Vec<&str> = KINDS.iter().map(|k| k.command()).collect();
        commands.sort_unstable();
        commands.dedup();
        assert_eq!(commands.len(), KINDS.len(), "a prompt command twice");
        for kind in KINDS {
            for option in kind.options() {
                for action in option.actions {
                    assert!(
                        kind.actions().contains(action),
                        "`{}` names `{action}`, not an action of its kind",
                        option.key
                    );
                }
            }
        }
    }

    #[test]
    fn every_kind_writes_what_it_reads() {
        for step in one_of_each() {
            let entries = step.kind().toml(&step).unwrap();
            let mut text = String::from("[[step]]\n");
            for (key, value) in &entries {
                text.push_str(&format!("{key} = {value}\n"));
            }
            let document = format!(
                "summary = \"s\"\nsource = \"s\"\nmodels = \"all\"\n[given]\nfirmware = \"current\"\n\
                 account = \"active\"\nadmin_password = \"random\"\n{text}"
            );
            let loaded = crate::scenario::load::parse(&document, std::path::Path::new("x.toml"))
                .unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(loaded.steps, std::slice::from_ref(&step), "{text}");
        }
    }
}
