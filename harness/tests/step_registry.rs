//! `scenarios/README.md` describes the step vocabulary by hand; the step registry
//! (`harness::scenario::steps`) is what the loader accepts. These tests keep the two the
//! same: every action and option of the registry is in the README's step table, in the row
//! of its action, the table holds nothing else, and the README's list of `wait` events is
//! the registry's.

use std::collections::BTreeSet;
use std::path::Path;

use harness::scenario::WaitFor;
use harness::scenario::steps::{action_keys, options_of, step_keys};

fn readme() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/README.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The cells of a Markdown table row, split on the `|` not escaped as `\|`; an empty cell
/// keeps its column (the "extra keys" of a step without options).
fn cells(row: &str) -> Vec<String> {
    let inner = row.trim().trim_start_matches('|');
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    let mut cells = vec![String::new()];
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cells.last_mut().unwrap().push('|');
                chars.next();
            }
            '|' => cells.push(String::new()),
            c => cells.last_mut().unwrap().push(c),
        }
    }
    cells
}

/// The `` `code` `` spans of `text` that are not inside parentheses: names, not the values
/// described in brackets (`` `omit` (`bin`, `rfs`) `` names `omit` only).
fn names_outside_parentheses(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut depth = 0usize;
    let mut code: Option<String> = None;
    for c in text.chars() {
        match (&mut code, c) {
            (Some(name), '`') => {
                if depth == 0 {
                    names.push(std::mem::take(name));
                }
                code = None;
            }
            (Some(name), c) => name.push(c),
            (None, '`') => code = Some(String::new()),
            (None, '(') => depth += 1,
            (None, ')') => depth = depth.saturating_sub(1),
            (None, _) => {}
        }
    }
    names
}

/// The action keys a first cell writes (`` `hold = "<key>"`, `release = "<key>"` ``).
fn actions_of(cell: &str) -> Vec<String> {
    names_outside_parentheses(cell)
        .iter()
        .filter_map(|code| {
            code.split_once(" = ")
                .map(|(key, _)| key.trim().to_string())
        })
        .collect()
}

/// The rows of the step table: (actions, extra keys).
fn step_table(readme: &str) -> Vec<(Vec<String>, Vec<String>)> {
    let mut lines = readme
        .lines()
        .skip_while(|line| !(line.starts_with("| action |") && line.contains("extra keys")));
    assert!(lines.next().is_some(), "no step table in the README");
    lines
        .skip(1) // the `| --- |` line
        .take_while(|line| line.starts_with('|'))
        .map(|row| {
            let cells = cells(row);
            assert!(cells.len() >= 2, "a row without its extra keys: {row}");
            (actions_of(&cells[0]), names_outside_parentheses(&cells[1]))
        })
        .collect()
}

#[test]
fn the_readme_step_table_lists_every_action_of_the_registry_and_nothing_else() {
    let readme = readme();
    let table = step_table(&readme);
    let written: Vec<String> = table
        .iter()
        .flat_map(|(actions, _)| actions.clone())
        .collect();
    let unique: BTreeSet<&String> = written.iter().collect();
    assert_eq!(unique.len(), written.len(), "an action twice: {written:?}");
    let registry: BTreeSet<String> = action_keys().iter().map(|a| a.to_string()).collect();
    assert_eq!(
        written.iter().cloned().collect::<BTreeSet<_>>(),
        registry,
        "the README's step table and the registry's actions differ"
    );
}

#[test]
fn each_readme_row_lists_exactly_the_options_of_its_actions() {
    let readme = readme();
    for (actions, extra) in step_table(&readme) {
        let written: BTreeSet<&str> = extra.iter().map(String::as_str).collect();
        for action in &actions {
            let registry: BTreeSet<&str> = options_of(action).into_iter().collect();
            assert_eq!(
                written, registry,
                "the options of `{action}` in the README and in the registry differ"
            );
        }
    }
    // Every key a step may hold is an action or an option of one.
    let described: BTreeSet<String> = step_table(&readme)
        .into_iter()
        .flat_map(|(actions, extra)| actions.into_iter().chain(extra))
        .collect();
    let keys: BTreeSet<String> = step_keys().iter().map(|k| k.to_string()).collect();
    assert_eq!(described, keys);
}

#[test]
fn the_readme_lists_the_wait_events_of_the_registry_in_its_order() {
    let readme = readme();
    let (_, after) = readme
        .split_once("Events for `wait`:")
        .expect("the README lists the events for `wait`");
    let paragraph = after.split("\n\n").next().unwrap_or_default();
    let written = names_outside_parentheses(paragraph);
    let registry: Vec<String> = WaitFor::names().map(str::to_string).collect();
    assert_eq!(written, registry);
}

#[test]
fn the_table_reader_sees_a_drifted_row() {
    // A row that forgot an option, and one for an action the registry does not know: the
    // checks above would refuse both.
    let drifted = "| action | extra keys | what |\n| --- | --- | --- |\n\
                   | `tap = \"<key>\"` | | press |\n| `reboot = true` | `delay_s` | reboot |\n";
    let table = step_table(drifted);
    assert_eq!(table[0], (vec!["tap".to_string()], vec![]));
    assert_ne!(
        table[0].1.iter().map(String::as_str).collect::<Vec<_>>(),
        options_of("tap")
    );
    assert_eq!(
        table[1],
        (vec!["reboot".to_string()], vec!["delay_s".to_string()])
    );
    assert!(!action_keys().contains(&"reboot"));
}
