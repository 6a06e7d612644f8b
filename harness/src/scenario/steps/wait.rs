//! `wait = "<event>"` with `timeout_s`: an endpoint event of the bench's phone waited for.
//! The events' names, words and matching rules are here and nowhere else.

use super::prompt::{bad, first, or_list, seconds, too_many};
use super::{CommandError, StepFields, StepFuture, StepKind, StepOption, toml_number, toml_string};
use crate::config_error::FileProblems;
use crate::endpoints::events::{EndpointEvent, HttpServer};
use crate::scenario::engine::Case;
use crate::scenario::model::{Step, WaitFor};

/// The longest `wait`: an hour covers a firmware download and flash on a slow real phone.
pub const WAIT_TIMEOUT_S_MAX: f64 = 3600.0;

/// The timeout of a `wait` typed at the prompt without one when the event ends a boot:
/// long enough for a boot with a flash on a real phone.
const BOOT_TIMEOUT_S: f64 = 900.0;

/// The timeout of any other `wait` typed without one.
const SHORT_TIMEOUT_S: f64 = 60.0;

/// One event a `wait` can look for.
struct Event {
    what: WaitFor,
    /// How a scenario and the prompt write it.
    name: &'static str,
    /// How the transcript says it.
    words: &'static str,
    /// Whether it ends a boot (the prompt's default timeout is then a boot's).
    ends_a_boot: bool,
}

/// Every event, in the order messages and the help list them.
const EVENTS: [Event; 7] = [
    Event {
        what: WaitFor::Register,
        name: "register",
        words: "REGISTER answered",
        ends_a_boot: true,
    },
    Event {
        what: WaitFor::Config,
        name: "config",
        words: "provisioning fetch of the MAC config",
        ends_a_boot: false,
    },
    Event {
        what: WaitFor::CallHome,
        name: "call-home",
        words: "Auto-P call-home (MAC config under /autop/)",
        ends_a_boot: false,
    },
    Event {
        what: WaitFor::FirmwareDownload,
        name: "firmware-download",
        words: "firmware download",
        ends_a_boot: true,
    },
    Event {
        what: WaitFor::ForeignProvisioning,
        name: "foreign-provisioning",
        words: "MAC config asked of the foreign provisioning server",
        ends_a_boot: false,
    },
    Event {
        what: WaitFor::Syslog,
        name: "syslog",
        words: "a syslog line",
        ends_a_boot: false,
    },
    Event {
        what: WaitFor::Tftp,
        name: "tftp",
        words: "a TFTP read",
        ends_a_boot: false,
    },
];

fn event(what: WaitFor) -> &'static Event {
    EVENTS.iter().find(|e| e.what == what).unwrap_or(&EVENTS[0])
}

impl WaitFor {
    /// Every event's name, as a scenario's `wait` and the prompt write it.
    pub fn names() -> impl Iterator<Item = &'static str> {
        EVENTS.iter().map(|e| e.name)
    }

    /// The name a scenario and the prompt write this event by.
    pub fn name(self) -> &'static str {
        event(self).name
    }

    /// The event written as `name`.
    pub fn from_name(name: &str) -> Option<WaitFor> {
        EVENTS.iter().find(|e| e.name == name).map(|e| e.what)
    }

    /// How a transcript says what is waited for.
    pub fn words(self) -> &'static str {
        event(self).words
    }

    /// The timeout of a `wait` typed without one.
    pub fn default_timeout_s(self) -> f64 {
        if event(self).ends_a_boot {
            BOOT_TIMEOUT_S
        } else {
            SHORT_TIMEOUT_S
        }
    }

    /// Whether `event` of the phone with MAC `mac` (plain hex) is what is waited for.
    pub fn matches(self, event: &EndpointEvent, mac: &str) -> bool {
        match (self, event) {
            (WaitFor::Register, EndpointEvent::Register { .. }) => true,
            (
                WaitFor::Config,
                EndpointEvent::Http {
                    server: HttpServer::Provisioning,
                    path,
                    ..
                },
            ) => *path == format!("/{mac}.cfg"),
            (
                WaitFor::CallHome,
                EndpointEvent::Http {
                    server: HttpServer::Provisioning,
                    path,
                    ..
                },
            ) => *path == format!("/autop/{mac}.cfg"),
            (
                WaitFor::FirmwareDownload,
                EndpointEvent::Http {
                    server: HttpServer::Provisioning,
                    path,
                    ..
                },
            ) => path.starts_with("/firmware/"),
            (
                WaitFor::ForeignProvisioning,
                EndpointEvent::Http {
                    server: HttpServer::Foreign,
                    path,
                    ..
                },
            ) => path.ends_with(&format!("{mac}.cfg")),
            (WaitFor::Syslog, EndpointEvent::Syslog { .. }) => true,
            (WaitFor::Tftp, EndpointEvent::Tftp { .. }) => true,
            _ => false,
        }
    }
}

/// A `wait` step; a timeout is recorded, not an error: the snapshot decides.
#[derive(Debug, Clone, PartialEq)]
pub struct WaitStep {
    /// The event.
    pub what: WaitFor,
    /// How long to wait, in real seconds (scaled by the lab's time scale).
    pub timeout_s: f64,
}

/// An endpoint event waited for; a timeout is recorded, not an error: the snapshot decides.
pub struct Wait;

impl StepKind for Wait {
    fn actions(&self) -> &'static [&'static str] {
        &["wait"]
    }

    fn options(&self) -> &'static [StepOption] {
        &[StepOption {
            key: "timeout_s",
            actions: &["wait"],
        }]
    }

    fn check(
        &self,
        action: &'static str,
        fields: &StepFields<'_>,
        problems: &mut FileProblems<'_>,
    ) -> Option<Step> {
        let events: Vec<(&str, WaitFor)> = EVENTS.iter().map(|e| (e.name, e.what)).collect();
        let what = fields.choice(problems, action, &events)??;
        let Some(timeout_s) = fields.optional::<f64>(problems, "timeout_s")? else {
            problems.at(
                &what.span(),
                fields.key_path(action),
                format!(
                    "`wait` needs `timeout_s` (seconds, above 0 and at most {WAIT_TIMEOUT_S_MAX})"
                ),
            );
            return None;
        };
        let seconds = *timeout_s.get_ref();
        if !(seconds > 0.0 && seconds <= WAIT_TIMEOUT_S_MAX) {
            problems.at(
                &timeout_s.span(),
                fields.key_path("timeout_s"),
                format!(
                    "timeout_s must be above 0 and at most {WAIT_TIMEOUT_S_MAX}, found {seconds}"
                ),
            );
            return None;
        }
        Some(Step::new(
            &Wait,
            WaitStep {
                what: *what.get_ref(),
                timeout_s: seconds,
            },
        ))
    }

    fn run<'a>(
        &'a self,
        case: &'a mut Case<'_, '_>,
        number: usize,
        step: &'a Step,
    ) -> StepFuture<'a> {
        Box::pin(async move {
            let Some(WaitStep { what, timeout_s }) = step.what::<WaitStep>() else {
                return Err(case.not_this_kind(self, step));
            };
            case.action(format!(
                "{number}. wait: {} (up to {timeout_s} s)",
                what.words()
            ));
            let found = case.wait_or_prove_absence(*what, *timeout_s).await?;
            case.note_wait_found(found);
            if !found {
                case.action("  none within the timeout");
            }
            Ok(())
        })
    }

    fn toml(&self, step: &Step) -> Option<Vec<(&'static str, String)>> {
        let WaitStep { what, timeout_s } = step.what::<WaitStep>()?;
        Some(vec![
            ("wait", toml_string(what.name())),
            ("timeout_s", toml_number(*timeout_s)),
        ])
    }

    fn command(&self) -> &'static str {
        "wait"
    }

    fn usage(&self) -> &'static str {
        "wait EVENT [timeout_s]"
    }

    fn about(&self) -> String {
        let boot: Vec<&str> = EVENTS
            .iter()
            .filter(|e| e.ends_a_boot)
            .map(|e| e.name)
            .collect();
        let boot = match boot.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
            _ => boot.join(""),
        };
        format!(
            "{} (default {SHORT_TIMEOUT_S} s; {BOOT_TIMEOUT_S} s for {boot})",
            WaitFor::names().collect::<Vec<_>>().join(", ")
        )
    }

    fn parse(&self, args: &[&str]) -> Result<Step, CommandError> {
        let events = or_list(WaitFor::names());
        let (name, rest) = first("wait", args, "an event (type `help` for the list)")?;
        let what = WaitFor::from_name(name).ok_or_else(|| bad("wait", name, &events))?;
        let timeout_s = match rest {
            [] => what.default_timeout_s(),
            [t] => seconds("wait", t, WAIT_TIMEOUT_S_MAX)?,
            [_, extra, ..] => return Err(too_many("wait", "EVENT [timeout_s]", extra)),
        };
        Ok(Step::new(&Wait, WaitStep { what, timeout_s }))
    }
}
