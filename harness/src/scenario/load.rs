//! Reading and checking scenario files into `Scenario`s. A scenario with a mistake must not
//! run half-way on a phone (a `wait` without timeout, a key the actuator cannot press), so
//! every file is checked whole before a run, and a directory reports all of its files'
//! problems at once.

use std::path::{Path, PathBuf};

use toml::Spanned;

use super::model::{
    AccountState, AdminPassword, Given, LinkState, ProvisioningUrl, Scenario, Step,
};
use super::raw::{RawAccount, RawGiven, RawLink, RawModels, RawProvisioning, RawScenario};
use super::steps::{self, StepFields};
use crate::config_error::{ConfigError, ConfigProblem, FileProblems};
use crate::lab::Model;
use crate::lab::name::unsafe_name_message;
use crate::lab::raw::quoted_list;

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
    raw: RawScenario<'_>,
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

/// Checks one step: exactly one action, options only with the actions that take them, then
/// the action's kind checks its values.
fn check_step(problems: &mut FileProblems<'_>, fields: &StepFields<'_>) -> Option<Step> {
    let mut actions: Vec<_> = fields
        .written()
        .filter_map(|(key, span)| steps::kind_of_action(key).map(|(key, kind)| (key, kind, span)))
        .collect();
    actions.sort_by_key(|(_, _, span)| span.start);
    let (action, kind) = match actions.as_slice() {
        [] => {
            problems.at(
                &fields.span,
                fields.path(),
                format!(
                    "a step needs one action: one of {}",
                    quoted_list(&steps::action_keys())
                ),
            );
            return None;
        }
        [(action, kind, _)] => (*action, *kind),
        [(first, ..), (second, _, second_span), ..] => {
            problems.at(
                second_span,
                fields.key_path(second),
                format!("a step takes exactly one action, found `{first}` and `{second}` (write one `[[step]]` each)"),
            );
            return None;
        }
    };

    let mut ok = true;
    for (key, span) in fields.written() {
        let Some(option) = steps::option(key) else {
            continue;
        };
        if !option.actions.contains(&action) {
            problems.at(
                &span,
                fields.key_path(key),
                format!(
                    "`{key}` applies to {} only, not to `{action}`",
                    and_list(option.actions)
                ),
            );
            ok = false;
        }
    }
    kind.check(action, fields, problems).filter(|_| ok)
}

/// `` `a` ``, `` `a` and `b` ``, `` `a`, `b` and `c` ``.
fn and_list(keys: &[&str]) -> String {
    let quoted: Vec<String> = keys.iter().map(|key| format!("`{key}`")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// A literal password fits one value of one config line: no control character (a newline
/// would add lines of its own to the phone's config file) and at most `PASSWORD_MAX_CHARS`.
pub(crate) fn password_fits(
    problems: &mut FileProblems<'_>,
    path: &str,
    password: &Spanned<String>,
) -> bool {
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

/// A fixture generation name (`current`, `below-min`, a drop's version) that fits a
/// transcript line: not empty, one line, at most `GENERATION_MAX_CHARS`.
pub(crate) fn generation_name(
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
