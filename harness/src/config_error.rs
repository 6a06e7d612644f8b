//! The error of a bad lab or scenario file, and the bookkeeping that makes every problem
//! point at a file, a line, a column and a key path.
//!
//! A bad file stops the run before anything is switched: the operator gets every problem of
//! every file at once, one per line, each in the form
//! `lab/rack.toml:57:11: bench[2].power.channel: channel 9 does not exist on ...`, so a
//! whole wiring mistake is fixed in one edit instead of one error per run. Array indices in
//! key paths count from 0, as TOML arrays do; the line number makes the entry unambiguous.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

/// A place in a text file, as editors count: both from 1, the column in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// Line number, from 1.
    pub line: usize,
    /// Column in characters (not bytes), from 1.
    pub column: usize,
}

impl Position {
    /// Turns a byte offset (what toml spans hold) into the line and column an editor shows.
    pub fn at_offset(text: &str, offset: usize) -> Position {
        let offset = char_boundary(text, offset);
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Position {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

/// `offset` within `text`, moved back to the start of the character it falls in.
fn char_boundary(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// The byte offset where each line of a text starts, built once per file, so that finding
/// the line of a problem is a binary search and not a count from the top: a file with
/// 100,000 mistakes is reported in n·log n, not n².
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> LineIndex {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex { starts }
    }

    /// The line of `offset`, from 1.
    fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|start| *start <= offset)
    }
}

/// The positions of many offsets in one pass over the text: the offsets in increasing
/// order, each column counted from the previous offset of its line (never again from the
/// line's start), so that many problems on one long line cost one walk of that line.
fn positions(text: &str, offsets: &[usize]) -> Vec<Position> {
    let index = LineIndex::new(text);
    let mut order: Vec<usize> = (0..offsets.len()).collect();
    order.sort_by_key(|i| offsets[*i]);
    let mut found = vec![Position { line: 1, column: 1 }; offsets.len()];
    // The last offset placed: its byte offset, line and column.
    let mut last = (0, 1, 1);
    for i in order {
        let offset = char_boundary(text, offsets[i]);
        let line = index.line(offset);
        let line_start = index.starts[line - 1];
        let (from, column) = if last.1 == line && last.0 >= line_start {
            (last.0, last.2)
        } else {
            (line_start, 1)
        };
        let column = column + text[from..offset].chars().count();
        last = (offset, line, column);
        found[i] = Position { line, column };
    }
    found
}

/// One thing wrong in one file: where, under which key, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The file as the operator named it (so the message can be pasted into an editor).
    pub file: PathBuf,
    /// `None` when the problem concerns the whole file (it cannot be read, it is empty).
    pub position: Option<Position>,
    /// E.g. `bench[2].power.channel` or `step[3].wait`; empty when no key is concerned.
    pub key_path: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(position) = self.position {
            write!(f, ":{}:{}", position.line, position.column)?;
        }
        if !self.key_path.is_empty() {
            write!(f, ": {}", self.key_path)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found in one or more lab or scenario files. While one exists nothing runs:
/// the outcome is `config-error`. Display gives one problem per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", display_lines(.problems))]
pub struct ConfigError {
    problems: Vec<ConfigProblem>,
}

fn display_lines(problems: &[ConfigProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl ConfigError {
    /// Wraps the problems of one or more files; callers never build an empty error.
    pub fn new(problems: Vec<ConfigProblem>) -> ConfigError {
        debug_assert!(!problems.is_empty(), "a ConfigError always holds a problem");
        ConfigError { problems }
    }

    /// A file that could not be read at all (missing, unreadable, not UTF-8).
    pub fn unreadable(file: &Path, error: &std::io::Error) -> ConfigError {
        ConfigError::new(vec![ConfigProblem {
            file: file.to_path_buf(),
            position: None,
            key_path: String::new(),
            message: format!("cannot read the file: {error} (check the path and its permissions)"),
        }])
    }

    /// Each problem, in file order then line order.
    pub fn problems(&self) -> &[ConfigProblem] {
        &self.problems
    }

    /// Joins the problems of several files, so a directory of scenarios reports all at once.
    pub fn merge(errors: impl IntoIterator<Item = ConfigError>) -> Option<ConfigError> {
        let problems: Vec<ConfigProblem> = errors.into_iter().flat_map(|e| e.problems).collect();
        (!problems.is_empty()).then_some(ConfigError { problems })
    }
}

/// Collects the problems of one file while it is read and checked, so that checking goes on
/// after the first mistake and the operator sees them all.
///
/// Problems keep their byte offset until `finish`, which turns every offset into a line and
/// column in one pass: counting lines per problem would make a file with many mistakes cost
/// the square of its size.
pub(crate) struct FileProblems<'t> {
    file: PathBuf,
    text: &'t str,
    problems: Vec<PendingProblem>,
    lines: std::cell::OnceCell<LineIndex>,
}

/// A problem whose place is still a byte offset (`None`: the whole file).
struct PendingProblem {
    offset: Option<usize>,
    key_path: String,
    message: String,
}

impl<'t> FileProblems<'t> {
    /// Starts an empty collection for `text`, read from `file`.
    pub(crate) fn new(file: &Path, text: &'t str) -> FileProblems<'t> {
        FileProblems {
            file: file.to_path_buf(),
            text,
            problems: Vec::new(),
            lines: std::cell::OnceCell::new(),
        }
    }

    /// Records a problem at the start of `span` (a byte range of the file's text).
    pub(crate) fn at(
        &mut self,
        span: &Range<usize>,
        key_path: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.problems.push(PendingProblem {
            offset: Some(span.start),
            key_path: key_path.into(),
            message: message.into(),
        });
    }

    /// Records a problem of the file as a whole (no line to point at).
    pub(crate) fn whole_file(&mut self, message: impl Into<String>) {
        self.problems.push(PendingProblem {
            offset: None,
            key_path: String::new(),
            message: message.into(),
        });
    }

    /// The line of a span, for messages that point back at an earlier definition.
    pub(crate) fn line_of(&self, span: &Range<usize>) -> usize {
        let offset = char_boundary(self.text, span.start);
        self.lines
            .get_or_init(|| LineIndex::new(self.text))
            .line(offset)
    }

    /// True while nothing is wrong: only then may a checked value be produced.
    pub(crate) fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    /// Ends the collection: the checked value when nothing was wrong, else every problem in
    /// line order. A value never comes with problems: a file with any problem yields none.
    pub(crate) fn finish<T>(mut self, value: Option<T>) -> Result<T, ConfigError> {
        if self.problems.is_empty() {
            match value {
                Some(value) => return Ok(value),
                // Every check that drops a value records why; this keeps a missed one from
                // passing silently.
                None => self.whole_file(
                    "the file was rejected without a recorded reason (please report this)",
                ),
            }
        }
        let offsets: Vec<usize> = self.problems.iter().filter_map(|p| p.offset).collect();
        let mut placed = positions(self.text, &offsets).into_iter();
        let mut problems: Vec<ConfigProblem> = self
            .problems
            .into_iter()
            .map(|pending| ConfigProblem {
                file: self.file.clone(),
                position: pending.offset.and_then(|_| placed.next()),
                key_path: pending.key_path,
                message: pending.message,
            })
            .collect();
        // Sorted by position so the list reads top to bottom like the file; whole-file
        // problems come first. The sort is stable: problems at one place keep their order.
        problems.sort_by_key(|p| p.position);
        Err(ConfigError::new(problems))
    }

    /// Parses the TOML text into a spanned document. `None` on a syntax error: a half-parsed
    /// file is never used.
    ///
    /// Only the first syntax error (in file order) is reported. The parser recovers and goes
    /// on, but after a broken table header or array its later errors are often echoes of the
    /// first (a "duplicate key" on a line that is fine), which would send the operator to
    /// lines with nothing wrong. Mistakes past the syntax error show on the next check.
    pub(crate) fn parse_document(&mut self) -> Option<Spanned<DeValue<'t>>> {
        let (document, errors) = DeTable::parse_recoverable(self.text);
        let first = errors
            .iter()
            .min_by_key(|error| error.span().map_or(0, |span| span.start));
        let Some(error) = first else {
            let span = document.span();
            return Some(Spanned::new(span, DeValue::Table(document.into_inner())));
        };
        let span = error.span().unwrap_or(0..0);
        self.at(
            &span,
            "",
            format!("TOML syntax error: {}", error.message().trim()),
        );
        None
    }

    /// Deserializes one part of the document into a raw type. On failure the serde error is
    /// recorded with the key path of the offending key (found from the error's span), so that
    /// the other parts can still be read and checked. The key is looked for inside `value`
    /// only (whose own key path is `path`): searching the whole document for each error
    /// would cost the square of the file's size when every entry has one.
    pub(crate) fn deserialize<T: DeserializeOwned>(
        &mut self,
        path: &str,
        value: &Spanned<DeValue<'_>>,
    ) -> Option<T> {
        match T::deserialize(ValueDeserializer::from(value.clone())) {
            Ok(parsed) => Some(parsed),
            Err(error) => {
                let span = error.span().unwrap_or_else(|| value.span());
                let key_path = locate(path, value, &span).unwrap_or_else(|| path.to_string());
                self.at(&span, key_path, error.message().trim().to_string());
                None
            }
        }
    }
}

/// Appends a key to a key path, quoting it as TOML would when it is not a bare key.
pub(crate) fn join_key(path: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let key = if bare {
        key.to_string()
    } else {
        format!("{key:?}")
    };
    if path.is_empty() {
        key
    } else {
        format!("{path}.{key}")
    }
}

/// The key path of the deepest key or value under `value` (itself at `path`) whose span
/// holds the start of `span`.
///
/// Every child is searched, not only those whose parent's span holds the offset: the span of
/// an `[[array]]` element or a `[table]` covers its header only, not its body.
fn locate(path: &str, value: &Spanned<DeValue<'_>>, span: &Range<usize>) -> Option<String> {
    fn holds(outer: &Range<usize>, offset: usize) -> bool {
        outer.start <= offset && offset < outer.end.max(outer.start + 1)
    }
    fn walk(path: &str, value: &Spanned<DeValue<'_>>, offset: usize) -> Option<String> {
        match value.get_ref() {
            DeValue::Table(table) => {
                for (key, child) in table.iter() {
                    let child_path = join_key(path, key.get_ref());
                    if let Some(found) = walk(&child_path, child, offset) {
                        return Some(found);
                    }
                    if holds(&key.span(), offset) || holds(&child.span(), offset) {
                        return Some(child_path);
                    }
                }
                None
            }
            DeValue::Array(array) => {
                for (index, child) in array.iter().enumerate() {
                    let child_path = format!("{path}[{index}]");
                    if let Some(found) = walk(&child_path, child, offset) {
                        return Some(found);
                    }
                    if holds(&child.span(), offset) {
                        return Some(child_path);
                    }
                }
                None
            }
            _ => None,
        }
    }
    walk(path, value, span.start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_counts_lines_and_characters_from_one() {
        let text = "a = 1\nbé = \"x\"\n";
        assert_eq!(
            Position::at_offset(text, 0),
            Position { line: 1, column: 1 }
        );
        // `=` on line 2 comes after a two-byte character: the column counts characters.
        let eq = text.rfind('=').unwrap();
        assert_eq!(
            Position::at_offset(text, eq),
            Position { line: 2, column: 4 }
        );
    }

    #[test]
    fn positions_placed_together_match_each_placed_alone() {
        // Several offsets on one line (after multi-byte characters), in a middle byte of a
        // character, on an empty line, at and past the end, given out of order and twice.
        let text = "a = 1\nbé = \"x\", ü = [1, 2]\n\n😀 = 3\nlast";
        let offsets = [
            text.len() + 5,
            text.find('ü').unwrap(),
            0,
            text.find('é').unwrap() + 1,
            text.find("[1").unwrap(),
            text.find("\n\n").unwrap() + 1,
            text.find('3').unwrap(),
            text.find('ü').unwrap(),
            text.len(),
            text.find("last").unwrap(),
        ];
        let together = positions(text, &offsets);
        for (offset, placed) in offsets.iter().zip(together) {
            assert_eq!(
                placed,
                Position::at_offset(text, *offset),
                "offset {offset}"
            );
        }
        let index = LineIndex::new(text);
        for offset in offsets {
            let offset = char_boundary(text, offset);
            assert_eq!(index.line(offset), Position::at_offset(text, offset).line);
        }
    }

    #[test]
    fn keys_that_are_not_bare_are_quoted_in_paths() {
        assert_eq!(join_key("keymap.t4x", "1"), "keymap.t4x.1");
        assert_eq!(join_key("keymap", "my map"), "keymap.\"my map\"");
        assert_eq!(join_key("", "bench"), "bench");
    }

    #[test]
    fn locate_finds_keys_inside_array_of_tables_bodies() {
        let text = "[[bench]]\nname = 1\n[[bench]]\nname = \"b\"\npower = { board = \"x\", channel = 2 }\n";
        let mut problems = FileProblems::new(Path::new("t.toml"), text);
        let root = problems.parse_document().unwrap();
        let at = |needle: &str| {
            let start = text.rfind(needle).unwrap();
            locate("", &root, &(start..start + 1))
        };
        assert_eq!(at("1\n").as_deref(), Some("bench[0].name"));
        assert_eq!(at("2 }").as_deref(), Some("bench[1].power.channel"));
        assert_eq!(at("[[bench]]\nname = \"b").as_deref(), Some("bench[1]"));
    }

    #[test]
    fn only_the_first_syntax_error_is_reported() {
        // The unclosed header makes the parser also flag a "duplicate key" on line 9, which
        // is fine: that echo must not reach the operator.
        let text = "summary = \"s\"\n[given\nfirmware = \"c\"\n\n[[step]]\npower = \"on\"\n\n[[step]]\ndial = \"1\"\n";
        let mut problems = FileProblems::new(Path::new("s.toml"), text);
        assert!(problems.parse_document().is_none());
        let error = problems.finish::<()>(None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "s.toml:2:7: TOML syntax error: unclosed table, expected `]`"
        );
    }
}
