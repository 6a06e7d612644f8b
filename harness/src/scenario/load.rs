//! Reading and checking scenario files into `Scenario`s. A scenario with a mistake must not
//! run half-way on a phone (a `wait` without timeout, a key the actuator cannot press), so
//! every file is checked whole before a run, and a directory reports all of its files'
//! problems at once.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::model::{
    AccountState, AdminPassword, Given, LinkState, LoginPassword, Medium, PackagePart, PackageStep,
    PowerAction, ProvisioningUrl, Scenario, Step, WaitFor,
};
use super::raw::{
    RawAccount, RawFilesystem, RawGiven, RawLink, RawModels, RawPart, RawPower, RawProvisioning,
    RawScenario, RawStep, RawWait, STEP_ACTIONS,
};
use crate::config_error::{ConfigError, ConfigProblem, FileProblems};
use crate::lab::name::unsafe_name_message;
use crate::lab::raw::{Indexed, quoted_list};
use crate::lab::{Key, Model};

/// `hold_ms` of a `tap` when omitted: a short, deliberate press.
pub const DEFAULT_TAP_HOLD_MS: u64 = 100;

/// The actuator's `TAP` range (PROTOCOL.md).
pub const TAP_HOLD_MS_MAX: i64 = 60_000;

/// The longest `wait`: an hour covers a firmware download and flash on a slow real phone.
pub const WAIT_TIMEOUT_S_MAX: f64 = 3600.0;

/// The longest `dial` string: the idle screen keeps 32 characters and drops the digits
/// after them (the twin's BEHAVIOUR.md, K2), so a longer string cannot show anything more,
/// and each digit costs a third of a second of key presses on a real rack.
pub const DIAL_MAX_DIGITS: usize = 32;

/// The longest password a scenario provisions or tries, in characters. The password is one
/// value of one line of the phone's config file; longer than this it is a paste mistake,
/// not something a person types on a phone's web page.
pub const PASSWORD_MAX_CHARS: usize = 64;

/// The longest firmware generation name (`current`, `below-min`, a drop's version): it is
/// written into transcript lines and looked up in the model's manifest.
pub const GENERATION_MAX_CHARS: usize = 64;

/// Reads and checks the scenario file at `path`; its name is the file stem.
pub fn load_file(path: &Path) -> Result<Scenario, ConfigError> {
    let text =
        std::fs::read_to_string(path).map_err(|error| ConfigError::unreadable(path, &error))?;
    parse(&text, path)
}

/// Reads and checks every `*.toml` file of `dir` (not its subdirectories, so `snapshots/`
/// is left alone), sorted by scenario name. The problems of all files are reported together.
pub fn load_dir(dir: &Path) -> Result<Vec<Scenario>, ConfigError> {
    let listing = std::fs::read_dir(dir).map_err(|error| {
        ConfigError::new(vec![ConfigProblem {
            file: dir.to_path_buf(),
            position: None,
            key_path: String::new(),
            message: format!(
                "cannot list the scenario directory: {error} (check the path and its permissions)"
            ),
        }])
    })?;
    let mut files: Vec<PathBuf> = Vec::new();
    let mut errors: Vec<ConfigError> = Vec::new();
    for entry in listing {
        match entry {
            Ok(entry) => {
                let path = entry.path();
                if path.is_file() && path.extension().is_some_and(|ext| ext == "toml") {
                    files.push(path);
                }
            }
            Err(error) => errors.push(ConfigError::unreadable(dir, &error)),
        }
    }
    files.sort();
    if files.is_empty() && errors.is_empty() {
        let mut problems = FileProblems::new(dir, "");
        problems.whole_file("no scenario files (`*.toml`) in this directory");
        return problems.finish(None);
    }
    let mut scenarios = Vec::new();
    for file in files {
        match load_file(&file) {
            Ok(scenario) => scenarios.push(scenario),
            Err(error) => errors.push(error),
        }
    }
    if let Some(error) = ConfigError::merge(errors) {
        return Err(error);
    }
    scenarios.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(scenarios)
}

/// Checks scenario-file `text`; `source` names it in messages, and its file stem is the
/// scenario's name.
pub fn parse(text: &str, source: &Path) -> Result<Scenario, ConfigError> {
    let mut problems = FileProblems::new(source, text);
    let name = source
        .file_stem()
        .and_then(|stem| stem.to_str())
        .map(str::to_string);
    if name.is_none() {
        problems.whole_file("the file name must be UTF-8 text: it becomes the scenario's name");
    }
    // The name becomes the snapshots' and the run folder's file names: checked before any
    // of them is built.
    let name = name.filter(|name| {
        match unsafe_name_message("the scenario's name (its file name)", name) {
            Some(message) => {
                problems.whole_file(message);
                false
            }
            None => true,
        }
    });
    let scenario = problems.parse_document().and_then(|document| {
        let raw = RawScenario::read(&document, &mut problems);
        check(raw, source, name, &mut problems)
    });
    problems.finish(scenario)
}

/// Turns a read scenario into the checked model, recording every problem.
fn check(
    raw: RawScenario,
    source: &Path,
    name: Option<String>,
    problems: &mut FileProblems<'_>,
) -> Option<Scenario> {
    let start = 0..0;
    for (key, what) in [
        (
            "summary",
            "a one-line description of what the scenario shows",
        ),
        (
            "source",
            "where the behaviour comes from, e.g. the KB section",
        ),
        ("models", "\"all\" or a list of model names"),
        (
            "given",
            "the table `[given]` with `firmware`, `account` and `admin_password`",
        ),
        ("step", "at least one `[[step]]`"),
    ] {
        if !raw.present.contains(key) {
            problems.at(&start, key, format!("missing `{key}`: expected {what}"));
        }
    }

    let summary = raw
        .summary
        .and_then(|text| non_empty(problems, "summary", text));
    let source_note = raw
        .source
        .and_then(|text| non_empty(problems, "source", text));
    let models = raw.models.and_then(|models| check_models(problems, models));
    let given = raw.given.and_then(|given| check_given(problems, given));
    let steps: Vec<Option<Step>> = raw
        .steps
        .iter()
        .map(|step| check_step(problems, step))
        .collect();

    if !problems.is_empty() {
        return None;
    }
    Some(Scenario {
        source: source.to_path_buf(),
        name: name?,
        summary: summary?,
        source_note: source_note?,
        models: models?,
        destructive: raw.destructive.unwrap_or(false),
        given: given?,
        steps: steps.into_iter().collect::<Option<Vec<Step>>>()?,
    })
}

fn non_empty(problems: &mut FileProblems<'_>, path: &str, text: Spanned<String>) -> Option<String> {
    if text.get_ref().trim().is_empty() {
        problems.at(&text.span(), path, "must not be empty");
        return None;
    }
    Some(text.into_inner())
}

fn check_models(problems: &mut FileProblems<'_>, models: Spanned<RawModels>) -> Option<Vec<Model>> {
    let span = models.span();
    match models.into_inner() {
        RawModels::Text(text) if text == "all" => Some(Model::ALL.to_vec()),
        RawModels::Text(text) => {
            problems.at(
                &span,
                "models",
                format!("expected \"all\" or a list such as [\"{text}\"], found \"{text}\""),
            );
            None
        }
        RawModels::List(names) if names.is_empty() => {
            problems.at(&span, "models", "the list is empty: the scenario would run on no phone (write \"all\" or model names)");
            None
        }
        RawModels::List(names) => {
            let mut models = Vec::new();
            let mut ok = true;
            for (index, name) in names.iter().enumerate() {
                let path = format!("models[{index}]");
                match Model::parse(name.get_ref().trim()) {
                    None => {
                        let valid: Vec<&str> = Model::ALL.iter().map(|m| m.name()).collect();
                        problems.at(
                            &name.span(),
                            path,
                            format!(
                                "unknown model `{}`, expected one of {}",
                                name.get_ref(),
                                valid.join(", ")
                            ),
                        );
                        ok = false;
                    }
                    Some(model) if models.contains(&model) => {
                        problems.at(&name.span(), path, format!("model {model} is listed twice"));
                        ok = false;
                    }
                    Some(model) => models.push(model),
                }
            }
            ok.then_some(models)
        }
    }
}

fn check_given(problems: &mut FileProblems<'_>, given: RawGiven) -> Option<Given> {
    let firmware = generation_name(problems, "given.firmware", &given.firmware);
    let admin_password = if given.admin_password.get_ref() == "random" {
        Some(AdminPassword::Random)
    } else if given.admin_password.get_ref().is_empty() {
        problems.at(
            &given.admin_password.span(),
            "given.admin_password",
            "expected \"random\" or the password to provision, found an empty password",
        );
        None
    } else if password_fits(problems, "given.admin_password", &given.admin_password) {
        Some(AdminPassword::Literal(given.admin_password.into_inner()))
    } else {
        None
    };
    Some(Given {
        firmware: firmware?,
        account: match given.account {
            RawAccount::Active => AccountState::Active,
            RawAccount::Cancelled => AccountState::Cancelled,
            RawAccount::V2 => AccountState::V2,
        },
        admin_password: admin_password?,
        provisioning: match given.provisioning {
            RawProvisioning::Intermedia => ProvisioningUrl::Intermedia,
            RawProvisioning::Foreign => ProvisioningUrl::Foreign,
        },
        network: link(given.network),
    })
}

fn link(raw: RawLink) -> LinkState {
    match raw {
        RawLink::Up => LinkState::Up,
        RawLink::Down => LinkState::Down,
    }
}

fn check_step(problems: &mut FileProblems<'_>, entry: &Indexed<RawStep>) -> Option<Step> {
    let path = format!("step[{}]", entry.index);
    let step = &entry.item;
    let actions = step.actions();
    let action = match actions.as_slice() {
        [] => {
            problems.at(
                &entry.span,
                path,
                format!(
                    "a step needs one action: one of {}",
                    quoted_list(&STEP_ACTIONS)
                ),
            );
            return None;
        }
        [(action, _)] => *action,
        [(first, _), (second, second_span), ..] => {
            problems.at(
                second_span,
                format!("{path}.{second}"),
                format!("a step takes exactly one action, found `{first}` and `{second}` (write one `[[step]]` each)"),
            );
            return None;
        }
    };

    let mut ok = true;
    if let Some(hold_ms) = &step.hold_ms
        && action != "tap"
    {
        problems.at(
            &hold_ms.span(),
            format!("{path}.hold_ms"),
            format!("`hold_ms` applies to `tap` only, not to `{action}`"),
        );
        ok = false;
    }
    if let Some(timeout_s) = &step.timeout_s
        && action != "wait"
    {
        problems.at(
            &timeout_s.span(),
            format!("{path}.timeout_s"),
            format!("`timeout_s` applies to `wait` only, not to `{action}`"),
        );
        ok = false;
    }

    for (modifier, span, allowed) in [
        (
            "filesystem",
            step.filesystem.as_ref().map(Spanned::span),
            action == "usb_stick",
        ),
        (
            "omit",
            step.omit.as_ref().map(Spanned::span),
            matches!(action, "usb_stick" | "tftp_package"),
        ),
        (
            "corrupt",
            step.corrupt.as_ref().map(Spanned::span),
            matches!(action, "usb_stick" | "tftp_package"),
        ),
    ] {
        if let Some(span) = span
            && !allowed
        {
            let owners = if modifier == "filesystem" {
                "`usb_stick`"
            } else {
                "`usb_stick` and `tftp_package`"
            };
            problems.at(
                &span,
                format!("{path}.{modifier}"),
                format!("`{modifier}` applies to {owners} only, not to `{action}`"),
            );
            ok = false;
        }
    }

    let checked = if let Some(power) = &step.power {
        Some(Step::Power(match power.get_ref() {
            RawPower::On => PowerAction::On,
            RawPower::Off => PowerAction::Off,
            RawPower::Cycle => PowerAction::Cycle,
        }))
    } else if let Some(key) = &step.hold {
        key_name(problems, &format!("{path}.hold"), key).map(Step::Hold)
    } else if let Some(key) = &step.release {
        key_name(problems, &format!("{path}.release"), key).map(Step::Release)
    } else if let Some(key) = &step.tap {
        let key = key_name(problems, &format!("{path}.tap"), key);
        let hold_ms = tap_hold_ms(problems, &path, step.hold_ms.as_ref());
        key.zip(hold_ms)
            .map(|(key, hold_ms)| Step::Tap { key, hold_ms })
    } else if let Some(digits) = &step.dial {
        dial(problems, &format!("{path}.dial"), digits).map(Step::Dial)
    } else if let Some(state) = &step.network {
        Some(Step::Network(link(*state.get_ref())))
    } else if let Some(what) = &step.wait {
        wait(problems, &path, what, step.timeout_s.as_ref())
    } else if let Some(password) = &step.login {
        login(problems, &format!("{path}.login"), password)
    } else if let Some(seconds) = &step.pause_s {
        pause(problems, &format!("{path}.pause_s"), seconds)
    } else if let Some(generation) = &step.offer_firmware {
        generation_name(problems, &format!("{path}.offer_firmware"), generation)
            .map(Step::OfferFirmware)
    } else if let Some(generation) = &step.tftp_package {
        package(
            problems,
            &format!("{path}.tftp_package"),
            generation,
            Medium::Tftp,
            step,
        )
    } else if let Some(generation) = &step.usb_stick {
        let medium = match step.filesystem.as_ref().map(|f| *f.get_ref()) {
            None | Some(RawFilesystem::Fat) => Medium::UsbFat,
            Some(RawFilesystem::Ntfs) => Medium::UsbNtfs,
        };
        package(
            problems,
            &format!("{path}.usb_stick"),
            generation,
            medium,
            step,
        )
    } else {
        None
    };
    checked.filter(|_| ok)
}

fn key_name(problems: &mut FileProblems<'_>, path: &str, key: &Spanned<String>) -> Option<Key> {
    if Key::NAMES.contains(&key.get_ref().as_str()) {
        return Some(Key(key.get_ref().clone()));
    }
    problems.at(
        &key.span(),
        path,
        format!(
            "unknown key `{}`, expected one of {}",
            key.get_ref(),
            quoted_list(&Key::NAMES)
        ),
    );
    None
}

fn tap_hold_ms(
    problems: &mut FileProblems<'_>,
    path: &str,
    hold_ms: Option<&Spanned<i64>>,
) -> Option<u64> {
    let Some(hold_ms) = hold_ms else {
        return Some(DEFAULT_TAP_HOLD_MS);
    };
    let value = *hold_ms.get_ref();
    if (1..=TAP_HOLD_MS_MAX).contains(&value) {
        return u64::try_from(value).ok();
    }
    problems.at(
        &hold_ms.span(),
        format!("{path}.hold_ms"),
        format!("hold_ms must be 1 to {TAP_HOLD_MS_MAX} (the actuator's TAP range), found {value}"),
    );
    None
}

fn dial(problems: &mut FileProblems<'_>, path: &str, digits: &Spanned<String>) -> Option<String> {
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
    let bad: BTreeSet<char> = text
        .chars()
        .filter(|c| Key::for_digit(*c).is_none())
        .collect();
    if bad.is_empty() {
        return Some(text.clone());
    }
    let bad: Vec<String> = bad.iter().map(|c| format!("`{c}`")).collect();
    problems.at(
        &digits.span(),
        path,
        format!(
            "`{text}` holds {}, which no key dials: expected digits 0-9, `*` and `#`",
            bad.join(", ")
        ),
    );
    None
}

fn wait(
    problems: &mut FileProblems<'_>,
    path: &str,
    what: &Spanned<RawWait>,
    timeout_s: Option<&Spanned<f64>>,
) -> Option<Step> {
    let Some(timeout_s) = timeout_s else {
        problems.at(
            &what.span(),
            format!("{path}.wait"),
            format!("`wait` needs `timeout_s` (seconds, above 0 and at most {WAIT_TIMEOUT_S_MAX})"),
        );
        return None;
    };
    let seconds = *timeout_s.get_ref();
    if !(seconds > 0.0 && seconds <= WAIT_TIMEOUT_S_MAX) {
        problems.at(
            &timeout_s.span(),
            format!("{path}.timeout_s"),
            format!("timeout_s must be above 0 and at most {WAIT_TIMEOUT_S_MAX}, found {seconds}"),
        );
        return None;
    }
    let what = match what.get_ref() {
        RawWait::Register => WaitFor::Register,
        RawWait::Config => WaitFor::Config,
        RawWait::CallHome => WaitFor::CallHome,
        RawWait::FirmwareDownload => WaitFor::FirmwareDownload,
        RawWait::ForeignProvisioning => WaitFor::ForeignProvisioning,
        RawWait::Syslog => WaitFor::Syslog,
        RawWait::Tftp => WaitFor::Tftp,
    };
    Some(Step::Wait {
        what,
        timeout_s: seconds,
    })
}

fn login(problems: &mut FileProblems<'_>, path: &str, password: &Spanned<String>) -> Option<Step> {
    let password = match password.get_ref().as_str() {
        "given" => LoginPassword::Given,
        "" => {
            problems.at(
                &password.span(),
                path,
                "expected \"given\" or the password to try, found an empty password",
            );
            return None;
        }
        literal if password_fits(problems, path, password) => {
            LoginPassword::Literal(literal.to_string())
        }
        _ => return None,
    };
    Some(Step::Login { password })
}

/// A literal password fits one value of one config line: no control character (a newline
/// would add lines of its own to the phone's config file) and at most `PASSWORD_MAX_CHARS`.
fn password_fits(problems: &mut FileProblems<'_>, path: &str, password: &Spanned<String>) -> bool {
    let text = password.get_ref();
    let length = text.chars().count();
    let problem = if let Some(c) = text.chars().find(|c| c.is_control()) {
        format!(
            "the password holds the control character `{}`: it is provisioned as one line of the phone's config file",
            c.escape_debug()
        )
    } else if length > PASSWORD_MAX_CHARS {
        format!(
            "the password has {length} characters, at most {PASSWORD_MAX_CHARS} (one value of one line of the phone's config file)"
        )
    } else {
        return true;
    };
    problems.at(&password.span(), path, problem);
    false
}

/// The longest pause: a real boot with a key held takes well under this.
pub const PAUSE_S_MAX: f64 = 600.0;

fn pause(problems: &mut FileProblems<'_>, path: &str, seconds: &Spanned<f64>) -> Option<Step> {
    let value = *seconds.get_ref();
    if value > 0.0 && value <= PAUSE_S_MAX {
        return Some(Step::Pause { seconds: value });
    }
    problems.at(
        &seconds.span(),
        path,
        format!("pause_s must be above 0 and at most {PAUSE_S_MAX}, found {value}"),
    );
    None
}

fn generation_name(
    problems: &mut FileProblems<'_>,
    path: &str,
    name: &Spanned<String>,
) -> Option<String> {
    let text = name.get_ref().trim();
    let length = text.chars().count();
    let problem = if text.is_empty() {
        "a firmware generation name (e.g. `current`), found an empty string".to_string()
    } else if let Some(c) = text.chars().find(|c| c.is_control()) {
        format!(
            "a firmware generation name holds the control character `{}`: it is written into transcript lines",
            c.escape_debug()
        )
    } else if length > GENERATION_MAX_CHARS {
        format!(
            "a firmware generation name has {length} characters, at most {GENERATION_MAX_CHARS} (`current`, `below-min`, a drop's version)"
        )
    } else {
        return Some(text.to_string());
    };
    problems.at(&name.span(), path, problem);
    None
}

fn part(raw: RawPart) -> PackagePart {
    match raw {
        RawPart::Bin => PackagePart::Bin,
        RawPart::Rfs => PackagePart::Rfs,
        RawPart::Rom => PackagePart::Rom,
    }
}

fn package(
    problems: &mut FileProblems<'_>,
    path: &str,
    generation: &Spanned<String>,
    medium: Medium,
    step: &RawStep,
) -> Option<Step> {
    let generation = generation_name(problems, path, generation)?;
    Some(Step::Package(PackageStep {
        medium,
        generation,
        omit: step.omit.as_ref().map(|p| part(*p.get_ref())),
        corrupt: step.corrupt.as_ref().map(|p| part(*p.get_ref())),
    }))
}
