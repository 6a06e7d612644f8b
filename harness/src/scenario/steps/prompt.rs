//! How the repro prompt's words are read: the mistakes a typed command can make and the
//! argument helpers every kind's `parse` shares, so each command refuses a word the same way.

use crate::lab::Key;

/// A line the prompt cannot run; nothing is recorded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CommandError {
    /// The first word names no command.
    #[error("unknown command `{0}` (type `help` for the list)")]
    Unknown(String),
    /// An argument is missing.
    #[error("`{command}` needs {what}")]
    Missing {
        /// The command typed.
        command: &'static str,
        /// What it needs, in words.
        what: &'static str,
    },
    /// An argument outside what the scenario format allows.
    #[error("`{command}`: `{value}` is not allowed, expected {allowed}")]
    BadValue {
        /// The command typed.
        command: &'static str,
        /// The word refused.
        value: String,
        /// What is allowed, in words.
        allowed: String,
    },
    /// More words than the command takes.
    #[error("`{command}` takes {expected}; `{extra}` is one word too many")]
    TooMany {
        /// The command typed.
        command: &'static str,
        /// What it takes, in words.
        expected: &'static str,
        /// The first word too many.
        extra: String,
    },
}

/// No argument at all (`show`, `quit`).
pub fn no_args(command: &'static str, args: &[&str]) -> Result<(), CommandError> {
    match args.first() {
        None => Ok(()),
        Some(extra) => Err(too_many(command, "no argument", extra)),
    }
}

/// Exactly `N` arguments.
pub fn exactly<'a, const N: usize>(
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

/// The first argument, which must be there, and the rest.
pub fn first<'a, 'b>(
    command: &'static str,
    args: &'b [&'a str],
    what: &'static str,
) -> Result<(&'a str, &'b [&'a str]), CommandError> {
    args.split_first()
        .map(|(f, rest)| (*f, rest))
        .ok_or(CommandError::Missing { command, what })
}

/// A word refused, with what is allowed.
pub fn bad(command: &'static str, value: &str, allowed: &str) -> CommandError {
    CommandError::BadValue {
        command,
        value: value.to_string(),
        allowed: allowed.to_string(),
    }
}

/// One word too many.
pub fn too_many(command: &'static str, expected: &'static str, extra: &str) -> CommandError {
    CommandError::TooMany {
        command,
        expected,
        extra: extra.to_string(),
    }
}

/// One of `choices` (`(word, value)`), or a refusal that lists them.
pub fn choice<T: Copy>(
    command: &'static str,
    word: &str,
    choices: &[(&str, T)],
) -> Result<T, CommandError> {
    choices
        .iter()
        .find(|(name, _)| *name == word)
        .map(|(_, value)| *value)
        .ok_or_else(|| bad(command, word, &or_list(choices.iter().map(|(n, _)| *n))))
}

/// `a, b or c`: choices in words.
pub fn or_list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.into_iter().collect();
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// A key the actuator can press.
pub fn key_name(command: &'static str, key: &str) -> Result<Key, CommandError> {
    if Key::NAMES.contains(&key) {
        Ok(Key(key.to_string()))
    } else {
        Err(bad(command, key, &Key::NAMES.join(", ")))
    }
}

/// Seconds above 0 and at most `max`.
pub fn seconds(command: &'static str, text: &str, max: f64) -> Result<f64, CommandError> {
    match text.parse::<f64>() {
        Ok(s) if s > 0.0 && s <= max => Ok(s),
        _ => Err(bad(
            command,
            text,
            &format!("seconds above 0 and at most {max}"),
        )),
    }
}
