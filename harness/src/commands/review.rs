//! `harness review`: the pending snapshots of a folder, one at a time, answered on stdin.
//!
//! Every answer takes effect at once, so a review stopped half-way keeps what was decided.
//! Input that ends before every pending snapshot has its answer is refused: what is left is
//! untouched and listed, never taken as a skip or an accept.

use std::io::{BufRead, Write};
use std::path::Path;

use crate::expect::review::{Answer, PROMPT, PendingSnapshot, pending};
use crate::outcome::exit_code;

/// Reviews the pending snapshots of `dir` from stdin; returns the exit code.
pub fn execute(dir: &Path) -> i32 {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    review(dir, &mut stdin.lock(), &mut stdout.lock())
}

/// Exit codes: 0 when every pending snapshot was answered (or `q` ended the review), 2 when
/// the folder cannot be listed or the input ended early, 3 when a file could not be read,
/// renamed or removed (it is left as it was and the review goes on).
pub fn review(dir: &Path, input: &mut impl BufRead, out: &mut impl Write) -> i32 {
    let items = match pending(dir) {
        Ok(items) => items,
        Err(e) => {
            eprintln!("harness: {e}");
            return exit_code::CONFIG_ERROR;
        }
    };
    if items.is_empty() {
        let _ = writeln!(out, "no pending snapshot in {}", dir.display());
        return exit_code::PASS;
    }
    let mut tally = Tally::default();
    let mut failed = false;
    for (index, item) in items.iter().enumerate() {
        let shown = match item.show() {
            Ok(shown) => shown,
            Err(e) => {
                eprintln!("harness: {e}; left as it is");
                failed = true;
                tally.skipped += 1;
                continue;
            }
        };
        let _ = write!(out, "\n[{}/{}] {shown}", index + 1, items.len());
        let answer = match ask(input, out) {
            Ok(answer) => answer,
            Err(why) => {
                let _ = out.flush();
                eprintln!(
                    "harness: {why} before every pending snapshot was answered; left as they \
                     are:\n{}",
                    list(&items[index..])
                );
                tally.skipped += items.len() - index;
                let _ = writeln!(out, "\n{}", tally.summary());
                return exit_code::CONFIG_ERROR;
            }
        };
        let done = match answer {
            Answer::Accept => item.accept().map(|()| tally.accepted += 1),
            Answer::Reject => item.reject().map(|()| tally.rejected += 1),
            Answer::Skip => {
                tally.skipped += 1;
                Ok(())
            }
            Answer::Quit => {
                tally.skipped += items.len() - index;
                break;
            }
        };
        if let Err(e) = done {
            eprintln!("harness: {e}; left as it is");
            failed = true;
        }
    }
    let _ = writeln!(out, "\n{}", tally.summary());
    if failed {
        exit_code::LAB_FAULT
    } else {
        exit_code::PASS
    }
}

/// Prompts until one answer arrives; `Err` says why none can.
fn ask(input: &mut impl BufRead, out: &mut impl Write) -> Result<Answer, String> {
    loop {
        let _ = write!(out, "{PROMPT}");
        let _ = out.flush();
        let mut line = String::new();
        match input.read_line(&mut line) {
            Ok(0) => return Err("the input ended".into()),
            Ok(_) => match Answer::parse(&line) {
                Some(answer) => return Ok(answer),
                None => {
                    let _ = writeln!(out, "answer a, r, s or q");
                }
            },
            Err(e) => return Err(format!("cannot read the input ({e})")),
        }
    }
}

fn list(items: &[PendingSnapshot]) -> String {
    items
        .iter()
        .map(|item| format!("  {}", item.new_file.display()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[derive(Debug, Default)]
struct Tally {
    accepted: usize,
    rejected: usize,
    skipped: usize,
}

impl Tally {
    fn summary(&self) -> String {
        format!(
            "{} accepted, {} rejected, {} left pending",
            self.accepted, self.rejected, self.skipped
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expect::snapshot;

    fn folder_with(names: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for name in names {
            snapshot::write(dir.path(), name, "why", "old\n").unwrap();
            std::fs::write(
                dir.path().join(format!("{name}.snap.new")),
                crate::expect::snap_file::render("why", "new\n"),
            )
            .unwrap();
        }
        dir
    }

    fn run(dir: &Path, answers: &str) -> (i32, String) {
        let mut out = Vec::new();
        let code = review(dir, &mut answers.as_bytes(), &mut out);
        (code, String::from_utf8(out).unwrap())
    }

    #[test]
    fn an_unknown_answer_is_asked_again() {
        let dir = folder_with(&["a@T46G"]);
        let (code, out) = run(dir.path(), "yes\na\n");
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("answer a, r, s or q"), "{out}");
        assert!(
            out.contains("1 accepted, 0 rejected, 0 left pending"),
            "{out}"
        );
    }

    #[test]
    fn quit_leaves_the_rest_pending() {
        let dir = folder_with(&["a@T46G", "b@T46G", "c@T46G"]);
        let (code, out) = run(dir.path(), "r\nq\n");
        assert_eq!(code, 0, "{out}");
        assert!(
            out.contains("0 accepted, 1 rejected, 2 left pending"),
            "{out}"
        );
        assert_eq!(pending(dir.path()).unwrap().len(), 2);
    }

    #[test]
    fn input_ending_early_is_refused_and_keeps_what_is_left() {
        let dir = folder_with(&["a@T46G", "b@T46G"]);
        let (code, out) = run(dir.path(), "a\n");
        assert_eq!(code, exit_code::CONFIG_ERROR, "{out}");
        assert!(
            out.contains("1 accepted, 0 rejected, 1 left pending"),
            "{out}"
        );
        let left = pending(dir.path()).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].name(), "b@T46G");
    }

    #[test]
    fn an_empty_folder_has_nothing_to_review() {
        let dir = tempfile::tempdir().unwrap();
        let (code, out) = run(dir.path(), "");
        assert_eq!(code, 0);
        assert!(out.contains("no pending snapshot"), "{out}");
        let (code, _) = run(&dir.path().join("missing"), "");
        assert_eq!(code, exit_code::CONFIG_ERROR);
    }
}
