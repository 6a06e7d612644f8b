//! Provisioning file text as the phone reads it: `key = value` lines after the
//! `#!version:1.0.0.1` header, and the `include:config` lines of boot files.

/// The first line every provisioning file must carry; a file without it is ignored whole.
pub const VERSION_HEADER: &str = "#!version:1.0.0.1";

/// One provisioning file's parameters, in file order (a later line overrides an earlier one
/// when applied).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigFile {
    /// `(key, value)` with the `static.` prefix removed, so old and new trains' names match.
    pub entries: Vec<(String, String)>,
    /// The targets of `include:config` lines (boot files), in order.
    pub includes: Vec<String>,
}

impl ConfigFile {
    /// Parses a file's text; `None` when the version header is missing (the phone ignores
    /// such a file rather than guess at its syntax).
    pub fn parse(text: &str) -> Option<ConfigFile> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines = text.lines().map(str::trim).skip_while(|l| l.is_empty());
        if lines.next()? != VERSION_HEADER {
            return None;
        }
        let mut file = ConfigFile::default();
        for line in lines {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(rest) = line.strip_prefix("include:config") {
                let target = rest.trim_start().trim_start_matches('=').trim();
                let target = target.trim_matches('"').trim();
                if !target.is_empty() {
                    file.includes.push(target.to_owned());
                }
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let key = key.trim();
            let key = key.strip_prefix("static.").unwrap_or(key);
            file.entries.push((key.to_owned(), value.trim().to_owned()));
        }
        Some(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_lose_their_static_prefix_and_comments_are_skipped() {
        let file = ConfigFile::parse(
            "#!version:1.0.0.1\n# a comment\nstatic.firmware.url = http://x/f.rom\n\naccount.1.enable=1\nnonsense line\n",
        )
        .unwrap();
        assert_eq!(
            file.entries,
            vec![
                ("firmware.url".to_owned(), "http://x/f.rom".to_owned()),
                ("account.1.enable".to_owned(), "1".to_owned()),
            ]
        );
    }

    #[test]
    fn a_file_without_the_version_header_is_ignored() {
        assert_eq!(ConfigFile::parse("firmware.url = x\n"), None);
        assert_eq!(ConfigFile::parse(""), None);
    }

    #[test]
    fn boot_files_list_their_includes_in_order() {
        let file = ConfigFile::parse(
            "#!version:1.0.0.1\ninclude:config \"a.cfg\"\ninclude:config = \"http://h/b.cfg\"\noverwrite_mode = 1\n",
        )
        .unwrap();
        assert_eq!(file.includes, vec!["a.cfg", "http://h/b.cfg"]);
    }
}
