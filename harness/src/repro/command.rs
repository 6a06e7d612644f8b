//! The prompt's commands: each hand action is read by its step kind (`scenario::steps`)
//! into the engine's own `Step`, with the limits a scenario file has, so every recorded step
//! can be saved and loaded back.

use crate::scenario::Step;
use crate::scenario::steps::prompt::no_args;
use crate::scenario::steps::{self, KINDS};

pub use crate::scenario::steps::CommandError;

/// One line of the prompt.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// A step run on the bench and recorded.
    Step(Step),
    /// Print the transcript so far, as its snapshot will hold it.
    Show,
    /// Print the list of commands.
    Help,
    /// End the session (and save it when `--save` was given).
    Quit,
    /// A blank line or a `#` comment.
    Nothing,
}

/// The commands of the session itself, with their help lines; the steps' come from `KINDS`.
const SESSION_COMMANDS: [(&str, &str); 3] = [
    ("show", "the transcript so far, redacted as its snapshot"),
    ("help", "this list"),
    (
        "quit",
        "end (saving the session with --save); so does end of input",
    ),
];

/// Where the help text's descriptions start.
const HELP_COLUMN: usize = 32;

/// The widest help line: the descriptions' column plus what a wide terminal shows beside it.
const HELP_WIDTH: usize = 90;

/// The prompt's help text: one entry per step kind, then the session's own commands.
pub fn help() -> String {
    let mut out = String::new();
    for kind in KINDS {
        help_entry(&mut out, kind.usage(), &kind.about());
    }
    for (usage, about) in SESSION_COMMANDS {
        help_entry(&mut out, usage, about);
    }
    out.push_str(
        "Endpoint events are printed under the `wait` that consumes them, as in a scenario run.",
    );
    out
}

/// `usage` in the first column and `about` wrapped in the second; a usage too wide for its
/// column gets the description on the lines below.
fn help_entry(out: &mut String, usage: &str, about: &str) {
    let indent = " ".repeat(HELP_COLUMN);
    let mut line = usage.to_string();
    if line.len() >= HELP_COLUMN {
        out.push_str(&line);
        out.push('\n');
        line = indent.clone();
    } else {
        line.push_str(&" ".repeat(HELP_COLUMN - line.len()));
    }
    let mut empty = true;
    for word in about.split_whitespace() {
        if !empty && line.len() + 1 + word.len() > HELP_WIDTH {
            out.push_str(line.trim_end());
            out.push('\n');
            line = indent.clone();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push_str(line.trim_end());
    out.push('\n');
}

/// Reads one prompt line.
pub fn parse(line: &str) -> Result<Command, CommandError> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(Command::Nothing);
    }
    let words: Vec<&str> = line.split_whitespace().collect();
    let (name, args) = (words[0], &words[1..]);
    match name {
        "show" => no_args("show", args).map(|()| Command::Show),
        "help" | "?" => Ok(Command::Help),
        "quit" | "exit" => no_args("quit", args).map(|()| Command::Quit),
        command => match steps::kind_of_command(command) {
            Some(kind) => kind.parse(args).map(Command::Step),
            None => Err(CommandError::Unknown(command.to_string())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::Key;
    use crate::scenario::steps::tap::DEFAULT_TAP_HOLD_MS;
    use crate::scenario::steps::{
        dial, hold, login, network, offer_firmware, package, pause, power, release, tap, wait,
    };
    use crate::scenario::{
        LinkState, LoginPassword, Medium, PackagePart, PackageStep, PowerAction, WaitFor,
    };

    fn step(line: &str) -> Step {
        match parse(line) {
            Ok(Command::Step(step)) => step,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn every_action_reads_into_the_engine_step() {
        assert_eq!(
            step("power cycle"),
            Step::new(&power::Power, PowerAction::Cycle)
        );
        assert_eq!(
            step("press f4"),
            Step::new(
                &tap::Tap,
                tap::TapStep {
                    key: Key("f4".into()),
                    hold_ms: DEFAULT_TAP_HOLD_MS
                }
            )
        );
        assert_eq!(
            step("  press speaker 2500 "),
            Step::new(
                &tap::Tap,
                tap::TapStep {
                    key: Key("speaker".into()),
                    hold_ms: 2500
                }
            )
        );
        assert_eq!(
            step("hold speaker"),
            Step::new(&hold::Hold, Key("speaker".into()))
        );
        assert_eq!(
            step("release speaker"),
            Step::new(&release::Release, Key("speaker".into()))
        );
        assert_eq!(
            step("dial **7283"),
            Step::new(&dial::Dial, "**7283".to_string())
        );
        assert_eq!(
            step("network down"),
            Step::new(&network::Network, LinkState::Down)
        );
        assert_eq!(
            step("wait call-home"),
            Step::new(
                &wait::Wait,
                wait::WaitStep {
                    what: WaitFor::CallHome,
                    timeout_s: 60.0
                }
            )
        );
        assert_eq!(
            step("wait register"),
            Step::new(
                &wait::Wait,
                wait::WaitStep {
                    what: WaitFor::Register,
                    timeout_s: 900.0
                }
            )
        );
        assert_eq!(
            step("wait tftp 12.5"),
            Step::new(
                &wait::Wait,
                wait::WaitStep {
                    what: WaitFor::Tftp,
                    timeout_s: 12.5
                }
            )
        );
        assert_eq!(
            step("pause 10"),
            Step::new(&pause::Pause, pause::PauseStep { seconds: 10.0 })
        );
        assert_eq!(
            step("package usb-ntfs min corrupt=rom"),
            Step::new(
                &package::Package,
                PackageStep {
                    medium: Medium::UsbNtfs,
                    generation: "min".into(),
                    omit: None,
                    corrupt: Some(PackagePart::Rom),
                    layout: Default::default(),
                    package_model: None,
                }
            )
        );
        assert_eq!(
            step("offer legacy"),
            Step::new(&offer_firmware::OfferFirmware, "legacy".to_string())
        );
        assert_eq!(
            step("check login given"),
            Step::new(
                &login::Login,
                login::LoginStep {
                    password: LoginPassword::Given
                }
            )
        );
        assert_eq!(
            step("check login admin"),
            Step::new(
                &login::Login,
                login::LoginStep {
                    password: LoginPassword::Literal("admin".into())
                }
            )
        );
    }

    #[test]
    fn the_help_lists_every_step_kind_and_session_command() {
        let help = help();
        for kind in KINDS {
            let line = help
                .lines()
                .find(|line| line.starts_with(kind.usage()))
                .unwrap_or_else(|| panic!("no `{}` in:\n{help}", kind.usage()));
            assert!(
                line.split_whitespace().next() == Some(kind.command()),
                "{line}"
            );
        }
        for (command, _) in SESSION_COMMANDS {
            assert!(help.lines().any(|l| l.starts_with(command)), "{help}");
        }
        for event in WaitFor::names() {
            assert!(help.contains(event), "`{event}` missing:\n{help}");
        }
        assert!(help.lines().all(|l| l.len() <= HELP_WIDTH), "{help}");
    }

    #[test]
    fn session_commands_and_blank_lines() {
        assert_eq!(parse("show"), Ok(Command::Show));
        assert_eq!(parse("help"), Ok(Command::Help));
        assert_eq!(parse("quit"), Ok(Command::Quit));
        assert_eq!(parse("   "), Ok(Command::Nothing));
        assert_eq!(parse("# a note"), Ok(Command::Nothing));
    }

    #[test]
    fn mistakes_say_what_is_allowed() {
        assert_eq!(parse("reboot"), Err(CommandError::Unknown("reboot".into())));
        let e = parse("power sideways").unwrap_err().to_string();
        assert!(e.contains("on, off or cycle"), "{e}");
        let e = parse("press nosuchkey").unwrap_err().to_string();
        assert!(e.contains("speaker"), "{e}");
        let e = parse("press f4 0").unwrap_err().to_string();
        assert!(e.contains("1 to 60000 ms"), "{e}");
        let e = parse("dial 12a").unwrap_err().to_string();
        assert!(e.contains("`12a`"), "{e}");
        let e = parse("wait coffee").unwrap_err().to_string();
        assert!(e.contains("call-home"), "{e}");
        let e = parse("wait register 4000").unwrap_err().to_string();
        assert!(e.contains("at most 3600"), "{e}");
        let e = parse("pause -1").unwrap_err().to_string();
        assert!(e.contains("above 0"), "{e}");
        assert_eq!(
            parse("hold"),
            Err(CommandError::Missing {
                command: "hold",
                what: "a key name"
            })
        );
        assert!(matches!(
            parse("network up now"),
            Err(CommandError::TooMany { .. })
        ));
        assert!(parse("package floppy current").is_err());
        assert!(parse("package tftp").is_err());
        assert!(parse("package tftp current omit=exe").is_err());
        assert!(parse("check logout admin").is_err());
        assert!(parse("show me").is_err());
    }
}
