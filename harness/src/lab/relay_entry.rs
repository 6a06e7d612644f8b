//! A `[[relay_board]]` entry as its kind reads it. The kind's file reads its own keys and
//! checks them; this gives it the entry and records each problem at the file, line and key
//! it is about, like every other lab-file check.

use std::ops::Range;

use toml::Spanned;

use super::raw::{Indexed, RawRelayBoard};
use crate::config_error::FileProblems;

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

    /// A required, non-empty text `key`, trimmed.
    pub fn required_text(
        &mut self,
        key: &str,
        value: &Option<Spanned<String>>,
        missing: &str,
    ) -> Option<String> {
        let Some(text) = value else {
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
