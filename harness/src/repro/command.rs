//! The prompt's commands: each hand action is read into the engine's own `Step`, with the
//! limits a scenario file has, so every recorded step can be saved and loaded back.

use crate::lab::Key;
use crate::scenario::load::{
    DEFAULT_TAP_HOLD_MS, PAUSE_S_MAX, TAP_HOLD_MS_MAX, WAIT_TIMEOUT_S_MAX,
};
use crate::scenario::{
    LinkState, LoginPassword, Medium, PackagePart, PackageStep, PowerAction, Step, WaitFor,
};

/// One line of the prompt.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// A step run on the bench and recorded.
    Step(Step),
    /// Print the transcript so far, as its snapshot will hold it.
    Show,
    Help,
    /// End the session (and save it when `--save` was given).
    Quit,
    /// A blank line or a `#` comment.
    Nothing,
}

/// A line the prompt cannot run; nothing is recorded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CommandError {
    #[error("unknown command `{0}` (type `help` for the list)")]
    Unknown(String),
    #[error("`{command}` needs {what}")]
    Missing {
        command: &'static str,
        what: &'static str,
    },
    #[error("`{command}`: `{value}` is not allowed, expected {allowed}")]
    BadValue {
        command: &'static str,
        value: String,
        allowed: String,
    },
    #[error("`{command}` takes {expected}; `{extra}` is one word too many")]
    TooMany {
        command: &'static str,
        expected: &'static str,
        extra: String,
    },
}

/// The prompt's help text.
pub const HELP: &str = "\
power on|off|cycle              the bench's power relay
press KEY [hold_ms]             press and release a key (default 100 ms)
hold KEY / release KEY          press and keep pressed / release
dial DIGITS                     tap 0-9, * and # in turn
network up|down                 the network-cable relay
wait EVENT [timeout_s]          register, config, call-home, firmware-download,
                                foreign-provisioning, syslog, tftp (default 60 s;
                                900 s for register and firmware-download)
pause SECONDS                   do nothing (a key held through a boot)
package tftp|usb-fat|usb-ntfs GENERATION [omit=bin|rfs|rom] [corrupt=bin|rfs|rom]
                                a recovery package on the TFTP folder or the USB stick
offer GENERATION                provisioning offers this firmware from now on
check login admin|given|PASSWORD  the web UI login as admin
show                            the transcript so far, redacted as its snapshot
help                            this list
quit                            end (saving the session with --save); so does end of input
Endpoint events are printed under the `wait` that consumes them, as in a scenario run.";

const WAIT_EVENTS: &str =
    "register, config, call-home, firmware-download, foreign-provisioning, syslog or tftp";

/// Reads one prompt line.
pub fn parse(line: &str) -> Result<Command, CommandError> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(Command::Nothing);
    }
    let words: Vec<&str> = line.split_whitespace().collect();
    let (name, args) = (words[0], &words[1..]);
    let step = match name {
        "show" => return no_args("show", args).map(|()| Command::Show),
        "help" | "?" => return Ok(Command::Help),
        "quit" | "exit" => return no_args("quit", args).map(|()| Command::Quit),
        "power" => {
            let [action] = exactly("power", args, "on, off or cycle")?;
            Step::Power(match action {
                "on" => PowerAction::On,
                "off" => PowerAction::Off,
                "cycle" => PowerAction::Cycle,
                other => return Err(bad("power", other, "on, off or cycle")),
            })
        }
        "press" => {
            let (key, rest) = first("press", args, "a key name")?;
            let hold_ms = match rest {
                [] => DEFAULT_TAP_HOLD_MS,
                [ms] => hold_ms(ms)?,
                [_, extra, ..] => return Err(too_many("press", "KEY [hold_ms]", extra)),
            };
            Step::Tap {
                key: key_name("press", key)?,
                hold_ms,
            }
        }
        "hold" => {
            let [key] = exactly("hold", args, "a key name")?;
            Step::Hold(key_name("hold", key)?)
        }
        "release" => {
            let [key] = exactly("release", args, "a key name")?;
            Step::Release(key_name("release", key)?)
        }
        "dial" => {
            let [digits] = exactly("dial", args, "digits (0-9, * and #)")?;
            if digits.chars().any(|c| Key::for_digit(c).is_none()) {
                return Err(bad("dial", digits, "digits 0-9, `*` and `#`"));
            }
            Step::Dial(digits.to_string())
        }
        "network" => {
            let [state] = exactly("network", args, "up or down")?;
            Step::Network(match state {
                "up" => LinkState::Up,
                "down" => LinkState::Down,
                other => return Err(bad("network", other, "up or down")),
            })
        }
        "wait" => {
            let (what, rest) = first("wait", args, WAIT_EVENTS)?;
            let what = wait_for(what)?;
            let timeout_s = match rest {
                [] => default_timeout_s(what),
                [t] => seconds("wait", t, WAIT_TIMEOUT_S_MAX)?,
                [_, extra, ..] => return Err(too_many("wait", "EVENT [timeout_s]", extra)),
            };
            Step::Wait { what, timeout_s }
        }
        "pause" => {
            let [s] = exactly("pause", args, "a number of seconds")?;
            Step::Pause {
                seconds: seconds("pause", s, PAUSE_S_MAX)?,
            }
        }
        "package" => package(args)?,
        "offer" => {
            let [generation] = exactly("offer", args, "a firmware generation (e.g. current)")?;
            Step::OfferFirmware(generation.to_string())
        }
        "check" => {
            let ("login", rest) = first("check", args, "`login` and a password")? else {
                return Err(bad("check", args[0], "login"));
            };
            let [password] = exactly("check login", rest, "admin, given or a password")?;
            Step::Login {
                password: match password {
                    "given" => LoginPassword::Given,
                    literal => LoginPassword::Literal(literal.to_string()),
                },
            }
        }
        other => return Err(CommandError::Unknown(other.to_string())),
    };
    Ok(Command::Step(step))
}

/// The timeout of a `wait` typed without one: long enough for a boot with a flash on a
/// real phone where the event ends a boot, a minute otherwise.
pub fn default_timeout_s(what: WaitFor) -> f64 {
    match what {
        WaitFor::Register | WaitFor::FirmwareDownload => 900.0,
        _ => 60.0,
    }
}

fn no_args(command: &'static str, args: &[&str]) -> Result<(), CommandError> {
    match args.first() {
        None => Ok(()),
        Some(extra) => Err(too_many(command, "no argument", extra)),
    }
}

fn exactly<'a, const N: usize>(
    command: &'static str,
    args: &[&'a str],
    what: &'static str,
) -> Result<[&'a str; N], CommandError> {
    if args.len() > N {
        return Err(too_many(command, what, args[N]));
    }
    args.try_into()
        .map_err(|_| CommandError::Missing { command, what })
}

fn first<'a, 'b>(
    command: &'static str,
    args: &'b [&'a str],
    what: &'static str,
) -> Result<(&'a str, &'b [&'a str]), CommandError> {
    args.split_first()
        .map(|(f, rest)| (*f, rest))
        .ok_or(CommandError::Missing { command, what })
}

fn bad(command: &'static str, value: &str, allowed: &str) -> CommandError {
    CommandError::BadValue {
        command,
        value: value.to_string(),
        allowed: allowed.to_string(),
    }
}

fn too_many(command: &'static str, expected: &'static str, extra: &str) -> CommandError {
    CommandError::TooMany {
        command,
        expected,
        extra: extra.to_string(),
    }
}

fn key_name(command: &'static str, key: &str) -> Result<Key, CommandError> {
    if Key::NAMES.contains(&key) {
        Ok(Key(key.to_string()))
    } else {
        Err(bad(command, key, &Key::NAMES.join(", ")))
    }
}

fn hold_ms(text: &str) -> Result<u64, CommandError> {
    match text.parse::<i64>() {
        Ok(ms) if (1..=TAP_HOLD_MS_MAX).contains(&ms) => Ok(ms as u64),
        _ => Err(bad(
            "press",
            text,
            &format!("a hold of 1 to {TAP_HOLD_MS_MAX} ms"),
        )),
    }
}

fn seconds(command: &'static str, text: &str, max: f64) -> Result<f64, CommandError> {
    match text.parse::<f64>() {
        Ok(s) if s > 0.0 && s <= max => Ok(s),
        _ => Err(bad(
            command,
            text,
            &format!("seconds above 0 and at most {max}"),
        )),
    }
}

fn wait_for(text: &str) -> Result<WaitFor, CommandError> {
    Ok(match text {
        "register" => WaitFor::Register,
        "config" => WaitFor::Config,
        "call-home" => WaitFor::CallHome,
        "firmware-download" => WaitFor::FirmwareDownload,
        "foreign-provisioning" => WaitFor::ForeignProvisioning,
        "syslog" => WaitFor::Syslog,
        "tftp" => WaitFor::Tftp,
        other => return Err(bad("wait", other, WAIT_EVENTS)),
    })
}

fn part(command_value: &str, text: &str) -> Result<PackagePart, CommandError> {
    match text {
        "bin" => Ok(PackagePart::Bin),
        "rfs" => Ok(PackagePart::Rfs),
        "rom" => Ok(PackagePart::Rom),
        other => Err(bad(
            "package",
            &format!("{command_value}={other}"),
            "bin, rfs or rom",
        )),
    }
}

fn package(args: &[&str]) -> Result<Step, CommandError> {
    const WHAT: &str = "tftp, usb-fat or usb-ntfs, then a firmware generation";
    let (medium, rest) = first("package", args, WHAT)?;
    let medium = match medium {
        "tftp" => Medium::Tftp,
        "usb-fat" => Medium::UsbFat,
        "usb-ntfs" => Medium::UsbNtfs,
        other => return Err(bad("package", other, "tftp, usb-fat or usb-ntfs")),
    };
    let (generation, options) = first("package", rest, WHAT)?;
    let mut step = PackageStep {
        medium,
        generation: generation.to_string(),
        omit: None,
        corrupt: None,
    };
    for option in options {
        match option.split_once('=') {
            Some(("omit", p)) if step.omit.is_none() => step.omit = Some(part("omit", p)?),
            Some(("corrupt", p)) if step.corrupt.is_none() => {
                step.corrupt = Some(part("corrupt", p)?);
            }
            _ => {
                return Err(bad(
                    "package",
                    option,
                    "omit=PART or corrupt=PART, each once",
                ));
            }
        }
    }
    Ok(Step::Package(step))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(line: &str) -> Step {
        match parse(line) {
            Ok(Command::Step(step)) => step,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn every_action_reads_into_the_engine_step() {
        assert_eq!(step("power cycle"), Step::Power(PowerAction::Cycle));
        assert_eq!(
            step("press f4"),
            Step::Tap {
                key: Key("f4".into()),
                hold_ms: DEFAULT_TAP_HOLD_MS
            }
        );
        assert_eq!(
            step("  press speaker 2500 "),
            Step::Tap {
                key: Key("speaker".into()),
                hold_ms: 2500
            }
        );
        assert_eq!(step("hold speaker"), Step::Hold(Key("speaker".into())));
        assert_eq!(
            step("release speaker"),
            Step::Release(Key("speaker".into()))
        );
        assert_eq!(step("dial **7283"), Step::Dial("**7283".into()));
        assert_eq!(step("network down"), Step::Network(LinkState::Down));
        assert_eq!(
            step("wait call-home"),
            Step::Wait {
                what: WaitFor::CallHome,
                timeout_s: 60.0
            }
        );
        assert_eq!(
            step("wait register"),
            Step::Wait {
                what: WaitFor::Register,
                timeout_s: 900.0
            }
        );
        assert_eq!(
            step("wait tftp 12.5"),
            Step::Wait {
                what: WaitFor::Tftp,
                timeout_s: 12.5
            }
        );
        assert_eq!(step("pause 10"), Step::Pause { seconds: 10.0 });
        assert_eq!(
            step("package usb-ntfs min corrupt=rom"),
            Step::Package(PackageStep {
                medium: Medium::UsbNtfs,
                generation: "min".into(),
                omit: None,
                corrupt: Some(PackagePart::Rom),
            })
        );
        assert_eq!(step("offer legacy"), Step::OfferFirmware("legacy".into()));
        assert_eq!(
            step("check login given"),
            Step::Login {
                password: LoginPassword::Given
            }
        );
        assert_eq!(
            step("check login admin"),
            Step::Login {
                password: LoginPassword::Literal("admin".into())
            }
        );
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
