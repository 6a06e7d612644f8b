//! The `.snap` file format, read and written without insta, so that no environment variable
//! of insta's can change what a run compares or writes.
//!
//! The layout is insta's: a YAML metadata header between two `---` lines
//! (`source:`, `description:`, and whatever else insta or `cargo insta` put there), then the
//! body. insta compares bodies with trailing whitespace trimmed and CRLF read as LF; so do we.
//! `cargo insta review` and `cargo insta accept` therefore read what the harness writes, and
//! the harness reads what they leave.

use std::fmt;

/// The module that writes the snapshots, named in their `source:` line as insta would.
pub const SOURCE: &str = "harness/src/expect/snapshot.rs";

/// One parsed `.snap` or `.snap.new` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapFile {
    /// The `description:` of the header, when it has one that reads as a single line.
    pub description: Option<String>,
    /// Everything after the header, as stored.
    pub body: String,
}

/// Why a file is not a snapshot. `line` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedSnapshot {
    /// The line the problem is on, so the reader can go straight to it.
    pub line: usize,
    /// What is wrong there.
    pub reason: String,
}

impl fmt::Display for MalformedSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for MalformedSnapshot {}

impl SnapFile {
    /// Reads the bytes of a snapshot file. A file that is not UTF-8 text, or lacks the
    /// `---` header, is refused: comparing against it would turn a broken file into a diff.
    pub fn parse(bytes: &[u8]) -> Result<SnapFile, MalformedSnapshot> {
        let text = std::str::from_utf8(bytes).map_err(|e| {
            let offset = e.valid_up_to();
            MalformedSnapshot {
                line: 1 + bytes[..offset].iter().filter(|b| **b == b'\n').count(),
                reason: format!("not UTF-8 text (byte {offset})"),
            }
        })?;
        let mut lines = text.split_inclusive('\n');
        let mut consumed = 0;
        match lines.next() {
            Some(first) if first.trim_end() == "---" => consumed += first.len(),
            _ => {
                return Err(MalformedSnapshot {
                    line: 1,
                    reason: "expected `---` opening the metadata header".into(),
                });
            }
        }
        let mut description = None;
        let mut seen_key = false;
        for (index, line) in lines.enumerate() {
            let number = index + 2;
            consumed += line.len();
            let content = line.trim_end();
            if content == "---" {
                return Ok(SnapFile {
                    description,
                    body: text[consumed..].to_string(),
                });
            }
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            if content.starts_with([' ', '\t']) {
                if !seen_key {
                    return Err(MalformedSnapshot {
                        line: number,
                        reason: "an indented line before any key of the metadata header".into(),
                    });
                }
                // The continuation of a multi-line value: not a one-line description.
                continue;
            }
            let Some((key, value)) = content.split_once(':') else {
                return Err(MalformedSnapshot {
                    line: number,
                    reason: format!(
                        "expected `key: value` in the metadata header, found {content:?}"
                    ),
                });
            };
            if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(MalformedSnapshot {
                    line: number,
                    reason: format!("{key:?} is not a metadata key"),
                });
            }
            seen_key = true;
            if key == "description" {
                description = yaml_scalar(value.trim());
            }
        }
        Err(MalformedSnapshot {
            line: 1,
            reason: "the metadata header is never closed by a `---` line".into(),
        })
    }

    /// The body as insta compares it.
    pub fn normalized_body(&self) -> String {
        normalize(&self.body)
    }
}

/// A snapshot file holding `body` under a header naming this module and `description`.
/// The body is stored normalized and newline-terminated, as insta stores it.
pub fn render(description: &str, body: &str) -> String {
    let mut text = format!("---\nsource: {SOURCE}\n");
    if !description.is_empty() {
        // A JSON string is a YAML double-quoted scalar: any summary reads back unchanged.
        let quoted = serde_json::to_string(description).expect("a string serializes");
        text.push_str(&format!("description: {quoted}\n"));
    }
    text.push_str("---\n");
    text.push_str(&normalize(body));
    text.push('\n');
    text
}

/// Trailing whitespace trimmed, CRLF read as LF: insta's equality of snapshot bodies.
pub fn normalize(text: &str) -> String {
    text.trim_end().replace("\r\n", "\n")
}

/// A one-line YAML scalar: double-quoted (JSON escapes), single-quoted, or plain. `None`
/// when empty or in a form this reader does not decode (it is only shown, never compared).
fn yaml_scalar(value: &str) -> Option<String> {
    if value.is_empty() || value.starts_with(['|', '>']) {
        return None;
    }
    if value.starts_with('"') {
        return serde_json::from_str::<String>(value).ok();
    }
    if let Some(inner) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        return Some(inner.replace("''", "'"));
    }
    Some(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_skipped_and_the_description_read() {
        let text = "---\nsource: x\nassertion_line: 52\ndescription: \"a \\\"b\\\"\"\n---\nline 1\nline 2\n";
        let file = SnapFile::parse(text.as_bytes()).unwrap();
        assert_eq!(file.body, "line 1\nline 2\n");
        assert_eq!(file.description.as_deref(), Some("a \"b\""));
        assert_eq!(file.normalized_body(), "line 1\nline 2");
    }

    #[test]
    fn a_body_may_hold_a_line_of_dashes() {
        let file = SnapFile::parse(b"---\nsource: x\n---\na\n---\nb\n").unwrap();
        assert_eq!(file.body, "a\n---\nb\n");
    }

    #[test]
    fn plain_single_quoted_and_block_descriptions() {
        let plain = SnapFile::parse(b"---\ndescription: plain words\n---\n").unwrap();
        assert_eq!(plain.description.as_deref(), Some("plain words"));
        let quoted = SnapFile::parse(b"---\ndescription: 'it''s'\n---\n").unwrap();
        assert_eq!(quoted.description.as_deref(), Some("it's"));
        let block = SnapFile::parse(b"---\ndescription: |-\n  two\n  lines\n---\nx\n").unwrap();
        assert_eq!(block.description, None);
        assert_eq!(block.body, "x\n");
    }

    #[test]
    fn crlf_and_trailing_whitespace_do_not_count() {
        assert_eq!(normalize("a\r\nb \n\n"), "a\nb");
        let file = SnapFile::parse(b"---\r\nsource: x\r\n---\r\na\r\nb\r\n").unwrap();
        assert_eq!(file.normalized_body(), "a\nb");
    }

    #[test]
    fn malformed_files_name_the_line() {
        let cases: [(&[u8], usize, &str); 6] = [
            (b"scenario: x\n", 1, "expected `---`"),
            (b"", 1, "expected `---`"),
            (b"---\nsource: x\nbody\n", 3, "expected `key: value`"),
            (b"---\nsource: x\n", 1, "never closed"),
            (b"---\n  indented: x\n---\n", 2, "indented line"),
            (b"---\nsource: x\n---\nok\n\xff\xfe\n", 5, "not UTF-8"),
        ];
        for (bytes, line, reason) in cases {
            let error = SnapFile::parse(bytes).unwrap_err();
            assert_eq!(error.line, line, "{error} for {bytes:?}");
            assert!(error.reason.contains(reason), "{error} for {bytes:?}");
        }
        let key = SnapFile::parse(b"---\nso urce: x\n---\n").unwrap_err();
        assert!(key.to_string().contains("not a metadata key"), "{key}");
    }

    #[test]
    fn rendered_files_read_back() {
        for description in ["", "plain", "**7283 then \"Yes\"", "tab\there\nand a line"] {
            let text = render(description, "scenario: x\n\n== end\n\n");
            assert!(text.ends_with("== end\n"), "{text}");
            let file = SnapFile::parse(text.as_bytes()).unwrap();
            assert_eq!(file.normalized_body(), "scenario: x\n\n== end");
            let expected = (!description.is_empty()).then(|| description.to_string());
            assert_eq!(file.description, expected);
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Bytes that often look like a snapshot: an opening `---`, header-like lines.
        fn snapshot_like() -> impl Strategy<Value = Vec<u8>> {
            let line = prop_oneof![
                Just(b"---\n".to_vec()),
                Just(b"source: x\n".to_vec()),
                Just(b"description: \"a\\\"b\"\n".to_vec()),
                Just(b"  indented\n".to_vec()),
                proptest::collection::vec(any::<u8>(), 0..12),
            ];
            proptest::collection::vec(line, 0..10).prop_map(|lines| lines.concat())
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

            /// Whatever the bytes, the reader answers with a body or with a line that exists.
            #[test]
            fn any_bytes_read_as_a_body_or_name_a_line(bytes in snapshot_like()) {
                let lines = 1 + bytes.iter().filter(|b| **b == b'\n').count();
                match SnapFile::parse(&bytes) {
                    Ok(file) => prop_assert!(bytes.ends_with(file.body.as_bytes())),
                    Err(e) => prop_assert!((1..=lines).contains(&e.line), "{e} of {lines}"),
                }
            }

            /// What the harness writes, it and insta read back the same.
            #[test]
            fn written_files_read_back_here_and_in_insta(
                description in "\\PC{0,30}",
                body in proptest::collection::vec("\\PC{0,20}", 0..6),
            ) {
                let body = body.join("\n");
                let text = render(&description, &body);
                let file = SnapFile::parse(text.as_bytes()).unwrap();
                prop_assert_eq!(file.normalized_body(), normalize(&body));
                let expected = (!description.is_empty()).then(|| description.clone());
                prop_assert_eq!(&file.description, &expected);
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("x@T46G.snap");
                std::fs::write(&path, &text).unwrap();
                let theirs = insta::Snapshot::from_file(&path).unwrap();
                prop_assert_eq!(
                    theirs.contents().as_text().unwrap().to_string(),
                    file.normalized_body()
                );
                prop_assert_eq!(theirs.metadata().description(), expected.as_deref());
            }
        }
    }
}
