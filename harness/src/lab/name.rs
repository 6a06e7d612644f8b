//! The one alphabet for names that become file names.
//!
//! Bench and scenario names end up in paths: a bench's lease and crash journal
//! (`<lock_dir>/<bench>.lock`), its TFTP folder, the run folder's
//! `<scenario>@<MODEL>@<bench>` files, a scenario's snapshots. Relay board and actuator
//! names are held to the same rule, so that a lease or a log per device can be named after
//! them without a second check.
//!
//! A name is therefore one plain path component that every file system and every shell
//! takes as it is: 1 to 64 characters of `A-Z a-z 0-9 . _ -`, starting with a letter or
//! digit. That rules out `/` and `..` (a name that climbs out of its folder), an absolute
//! path, a leading `.` (a hidden file), `@` (the run folder's separator), spaces and control
//! characters (a name that breaks a listing or a log line), and names longer than anyone
//! types (64 keeps `<scenario>@<MODEL>@<bench>.raw.txt` far below the usual 255-byte
//! file-name limit).

/// The longest name, in characters (all ASCII, so also in bytes).
pub const NAME_MAX_LEN: usize = 64;

/// The alphabet as messages and the README state it.
pub const NAME_RULE: &str =
    "1 to 64 characters of A-Z, a-z, 0-9, `.`, `_` and `-`, starting with a letter or digit";

/// True when `name` may become a file name as it is.
pub fn is_safe_name(name: &str) -> bool {
    unsafe_name_reason(name).is_none()
}

/// Why `name` may not become a file name, or `None` when it may. The reason names the first
/// offending character, shown escaped so that a newline or a control character is visible.
pub fn unsafe_name_reason(name: &str) -> Option<String> {
    let length = name.chars().count();
    if length == 0 {
        return Some("it is empty".to_string());
    }
    if length > NAME_MAX_LEN {
        return Some(format!("it has {length} characters"));
    }
    let (position, bad) = name
        .chars()
        .enumerate()
        .find(|(position, c)| !allowed(*position, *c))?;
    let shown = bad.escape_debug();
    Some(if position == 0 && allowed(1, bad) {
        format!("it starts with `{shown}`")
    } else {
        format!("`{shown}` (character {}) is not allowed", position + 1)
    })
}

/// The full message for a name under `what` (e.g. "a bench's name"), naming the value.
pub fn unsafe_name_message(what: &str, name: &str) -> Option<String> {
    let reason = unsafe_name_reason(name)?;
    Some(format!(
        "{what} `{}` cannot become a file name: {reason}; a name is {NAME_RULE}",
        shown_name(name)
    ))
}

fn allowed(position: usize, c: char) -> bool {
    c.is_ascii_alphanumeric() || (position > 0 && matches!(c, '.' | '_' | '-'))
}

/// The name escaped and cut short, so that a message about a 100,000-character name stays
/// one readable line.
fn shown_name(name: &str) -> String {
    const SHOWN: usize = 40;
    let mut shown: String = name
        .chars()
        .take(SHOWN)
        .flat_map(char::escape_debug)
        .collect();
    if name.chars().nth(SHOWN).is_some() {
        shown.push_str("...");
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_pass_and_path_tricks_do_not() {
        for good in [
            "t40p",
            "desk-1",
            "relay_power",
            "rack.1",
            "A",
            &"a".repeat(64),
        ] {
            assert!(is_safe_name(good), "{good:?} should be safe");
        }
        for bad in [
            "",
            "x/../../../../tmp/PWNED",
            "/tmp/lease",
            "..",
            ".hidden",
            "-flag",
            "a b",
            "a\nb",
            "case@T46G",
            "é",
            &"a".repeat(65),
        ] {
            assert!(!is_safe_name(bad), "{bad:?} should be refused");
        }
    }

    #[test]
    fn the_reason_names_the_first_offending_character_escaped() {
        assert_eq!(
            unsafe_name_reason("a\nb").as_deref(),
            Some("`\\n` (character 2) is not allowed")
        );
        assert_eq!(
            unsafe_name_reason(".x").as_deref(),
            Some("it starts with `.`")
        );
        assert_eq!(
            unsafe_name_reason("/x").as_deref(),
            Some("`/` (character 1) is not allowed")
        );
        assert_eq!(
            unsafe_name_reason(&"a".repeat(300)).as_deref(),
            Some("it has 300 characters")
        );
    }

    #[test]
    fn a_long_name_is_shown_cut_short() {
        let message = unsafe_name_message("a bench's name", &"x".repeat(300)).unwrap();
        assert!(
            message.contains(&format!("`{}...`", "x".repeat(40))),
            "{message}"
        );
    }
}
