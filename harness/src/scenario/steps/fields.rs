//! One `[[step]]` as written: its keys in file order, each a key some kind declares, with
//! their values still unread. Each kind reads the values it takes, so a value's type is
//! known in one place, and every problem keeps its line and key path.

use std::ops::Range;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::DeValue;

use super::{expected_one_of, step_keys};
use crate::config_error::{FileProblems, join_key};
use crate::lab::Key;
use crate::lab::raw::quoted_list;

/// The keys of one `[[step]]`, all known to the registry.
#[derive(Debug, Clone)]
pub struct StepFields<'t> {
    /// The step's place in the file (`step[index]` in messages).
    pub index: usize,
    /// The whole entry, for problems of the step as a whole.
    pub span: Range<usize>,
    entries: Vec<(&'static str, Spanned<DeValue<'t>>)>,
}

impl<'t> StepFields<'t> {
    /// Reads the keys of `entry`. A step that is not a table, or holds a key no kind
    /// declares, is recorded as a problem and yields `None`, as a step of a derived type
    /// would: the first unknown key in file order is named.
    pub(crate) fn read(
        index: usize,
        entry: &Spanned<DeValue<'t>>,
        problems: &mut FileProblems<'_>,
    ) -> Option<StepFields<'t>> {
        let path = format!("step[{index}]");
        let DeValue::Table(table) = entry.get_ref() else {
            problems.at(
                &entry.span(),
                path,
                format!(
                    "invalid type: {}, expected a table of step keys",
                    entry.get_ref().type_str()
                ),
            );
            return None;
        };
        let mut written: Vec<_> = table.iter().collect();
        written.sort_by_key(|(key, _)| key.span().start);
        let known = step_keys();
        let mut entries = Vec::new();
        for (key, value) in written {
            let name: &str = key.get_ref();
            let Some(known) = known.iter().find(|k| **k == name) else {
                problems.at(
                    &key.span(),
                    join_key(&path, name),
                    format!(
                        "unknown field `{name}`, expected {}",
                        expected_one_of(&known)
                    ),
                );
                return None;
            };
            entries.push((*known, value.clone()));
        }
        Some(StepFields {
            index,
            span: entry.span(),
            entries,
        })
    }

    /// `step[index]`: the key path of the step itself.
    pub fn path(&self) -> String {
        format!("step[{}]", self.index)
    }

    /// `step[index].key`.
    pub fn key_path(&self, key: &str) -> String {
        join_key(&self.path(), key)
    }

    /// The keys written, each with the span of its value, in file order.
    pub fn written(&self) -> impl Iterator<Item = (&'static str, Range<usize>)> + '_ {
        self.entries.iter().map(|(key, value)| (*key, value.span()))
    }

    /// Reads the value of `key` into `T`; `Some(None)` when the key is absent, `None` when
    /// the value is of the wrong shape (the problem is recorded).
    pub(crate) fn optional<T: DeserializeOwned>(
        &self,
        problems: &mut FileProblems<'_>,
        key: &str,
    ) -> Option<Option<Spanned<T>>> {
        match self.entries.iter().find(|(k, _)| *k == key) {
            None => Some(None),
            Some((_, value)) => problems.deserialize(&self.key_path(key), value).map(Some),
        }
    }

    /// Reads the value of `key`, which the step holds (its action); `None` when the value
    /// is of the wrong shape (the problem is recorded).
    pub(crate) fn required<T: DeserializeOwned>(
        &self,
        problems: &mut FileProblems<'_>,
        key: &str,
    ) -> Option<Spanned<T>> {
        match self.optional(problems, key)? {
            Some(value) => Some(value),
            None => {
                problems.at(&self.span, self.key_path(key), format!("missing `{key}`"));
                None
            }
        }
    }

    /// Reads the value of `key` as one of `choices` (`(name, value)`), refusing any other
    /// name as a derived enum would.
    pub(crate) fn choice<T: Copy>(
        &self,
        problems: &mut FileProblems<'_>,
        key: &str,
        choices: &[(&str, T)],
    ) -> Option<Option<Spanned<T>>> {
        let Some(text) = self.optional::<String>(problems, key)? else {
            return Some(None);
        };
        if let Some((_, value)) = choices.iter().find(|(name, _)| *name == text.get_ref()) {
            return Some(Some(Spanned::new(text.span(), *value)));
        }
        let names: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
        problems.at(
            &text.span(),
            self.key_path(key),
            format!(
                "unknown variant `{}`, expected {}",
                text.get_ref(),
                expected_one_of(&names)
            ),
        );
        None
    }

    /// Reads the value of `key` as a key the actuator can press.
    pub(crate) fn key(&self, problems: &mut FileProblems<'_>, key: &str) -> Option<Key> {
        let name = self.required::<String>(problems, key)?;
        if Key::NAMES.contains(&name.get_ref().as_str()) {
            return Some(Key(name.get_ref().clone()));
        }
        problems.at(
            &name.span(),
            self.key_path(key),
            format!(
                "unknown key `{}`, expected one of {}",
                name.get_ref(),
                quoted_list(&Key::NAMES)
            ),
        );
        None
    }
}
