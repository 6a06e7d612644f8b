//! A `[[relay_board]]` entry as its kind reads it: [`OwnKeys`] while the file is read (the
//! kind's own keys, into its settings), [`RelayEntry`] while the lab is checked (its
//! channels). Each records a problem at the file, line and key it is about, like every other
//! lab-file check.

use std::ops::Range;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::DeValue;

use super::raw::{Indexed, RawRelayBoard};
use crate::config_error::{FileProblems, join_key};

/// Relay and actuator boards sold for labs have at most 64 outputs; more is a typo.
pub const MAX_CHANNELS: u16 = 64;

/// One `[[relay_board]]` entry being checked, and where its problems go.
pub struct RelayEntry<'e, 'p, 't> {
    entry: &'e Indexed<RawRelayBoard>,
    /// `relay_board[<index>]`.
    path: String,
    kind_name: &'static str,
    problems: &'p mut FileProblems<'t>,
}

impl<'e, 'p, 't> RelayEntry<'e, 'p, 't> {
    pub(crate) fn new(
        entry: &'e Indexed<RawRelayBoard>,
        kind_name: &'static str,
        problems: &'p mut FileProblems<'t>,
    ) -> Self {
        RelayEntry {
            entry,
            path: format!("relay_board[{}]", entry.index),
            kind_name,
            problems,
        }
    }

    /// The entry as written.
    pub fn raw(&self) -> &'e RawRelayBoard {
        &self.entry.item
    }

    /// The entry's `kind`, as written.
    pub fn kind_name(&self) -> &'static str {
        self.kind_name
    }

    /// Records a problem with `key` of this entry at `span`.
    pub fn at(&mut self, span: &Range<usize>, key: &str, message: impl Into<String>) {
        self.problems
            .at(span, format!("{}.{key}", self.path), message);
    }

    /// Records that the required `key` is absent, at the entry's header.
    pub fn missing(&mut self, key: &str, message: impl Into<String>) {
        let span = self.entry.span.clone();
        self.at(&span, key, message);
    }

    /// Records a `key` this entry's kind does not use, when present; true when absent.
    pub fn refused(&mut self, key: &str, span: Option<Range<usize>>, message: &str) -> bool {
        let Some(span) = span else {
            return true;
        };
        self.at(&span, key, message);
        false
    }

    /// `channels`, required, 1 to [`MAX_CHANNELS`].
    pub fn required_channels(&mut self) -> Option<u16> {
        let Some(channels) = &self.raw().channels else {
            self.missing(
                "channels",
                "missing `channels`: how many relays the board has",
            );
            return None;
        };
        self.channel_count(channels)
    }

    /// A channel count of 1 to [`MAX_CHANNELS`].
    pub fn channel_count(&mut self, channels: &Spanned<u16>) -> Option<u16> {
        let count = *channels.get_ref();
        if (1..=MAX_CHANNELS).contains(&count) {
            return Some(count);
        }
        self.at(
            &channels.span(),
            "channels",
            format!("channels must be 1 to {MAX_CHANNELS}, found {count}"),
        );
        None
    }
}

/// The kind's own keys of one `[[relay_board]]` entry, as its kind reads them: each value
/// keeps its place in the file, so a mistake deep inside one (an LCUS frame's byte) is
/// reported at its own line, column and key path.
pub struct OwnKeys<'v, 'i, 'p, 't> {
    /// `relay_board[<index>]`.
    path: String,
    /// The entry's header, where a missing key is reported.
    entry_span: Range<usize>,
    keys: Vec<(&'v str, &'v Spanned<DeValue<'i>>)>,
    problems: &'p mut FileProblems<'t>,
}

impl<'v, 'i, 'p, 't> OwnKeys<'v, 'i, 'p, 't> {
    pub(crate) fn new(
        path: String,
        entry_span: Range<usize>,
        keys: Vec<(&'v str, &'v Spanned<DeValue<'i>>)>,
        problems: &'p mut FileProblems<'t>,
    ) -> Self {
        OwnKeys {
            path,
            entry_span,
            keys,
            problems,
        }
    }

    /// `key` read as a `T`: `Ok(None)` when absent, `Err(())` once its problem (a wrong
    /// type, an unknown inner key) is recorded.
    #[expect(
        clippy::result_unit_err,
        reason = "the problem is recorded, nothing to carry"
    )]
    pub fn get<T: DeserializeOwned>(&mut self, key: &str) -> Result<Option<Spanned<T>>, ()> {
        let Some((_, value)) = self.keys.iter().find(|(name, _)| *name == key) else {
            return Ok(None);
        };
        let path = join_key(&self.path, key);
        match self.problems.deserialize::<Spanned<T>>(&path, value) {
            Some(read) => Ok(Some(read)),
            None => Err(()),
        }
    }

    /// A required, non-empty text `key`, trimmed; `missing` says what it is for.
    pub fn required_text(&mut self, key: &str, missing: &str) -> Option<String> {
        let Some(text) = self.get::<String>(key).ok()? else {
            self.missing(key, missing);
            return None;
        };
        let trimmed = text.get_ref().trim();
        if trimmed.is_empty() {
            self.at(&text.span(), key, format!("`{key}` must not be empty"));
            return None;
        }
        Some(trimmed.to_string())
    }

    /// Records a problem with `key` of this entry at `span`.
    pub fn at(&mut self, span: &Range<usize>, key: &str, message: impl Into<String>) {
        self.problems.at(span, join_key(&self.path, key), message);
    }

    /// Records that the required `key` is absent, at the entry's header.
    pub fn missing(&mut self, key: &str, message: impl Into<String>) {
        let span = self.entry_span.clone();
        self.at(&span, key, message);
    }
}
