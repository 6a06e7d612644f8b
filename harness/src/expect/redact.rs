//! Redaction: what differs between two runs of the same behaviour (MAC and IP of the bench,
//! random passwords, endpoint ports, the exact firmware version of a generation) is replaced
//! by a fixed placeholder, so a snapshot records behaviour and nothing else.

/// Replacements applied in order, longest first, to every line of a transcript.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    rules: Vec<(String, String)>,
}

impl Redactor {
    /// No rules yet: each case adds its bench's volatile values before redacting.
    pub fn new() -> Redactor {
        Redactor::default()
    }

    /// Replaces every occurrence of `secret` (if not empty) by `placeholder`.
    pub fn replace(
        &mut self,
        secret: impl Into<String>,
        placeholder: impl Into<String>,
    ) -> &mut Self {
        let secret = secret.into();
        if !secret.is_empty() {
            self.rules.push((secret, placeholder.into()));
            // Longest first: a MAC's plain form must not be half-replaced by a shorter rule.
            self.rules
                .sort_by_key(|rule| std::cmp::Reverse(rule.0.len()));
        }
        self
    }

    /// Redacts one text.
    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (secret, placeholder) in &self.rules {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), placeholder);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longer_secrets_win_over_their_substrings() {
        let mut r = Redactor::new();
        r.replace("28.83.0.1", "[FW:a]")
            .replace("28.83.0.120", "[FW:current]");
        assert_eq!(
            r.apply("Yealink SIP-T46G 28.83.0.120 x"),
            "Yealink SIP-T46G [FW:current] x"
        );
        assert_eq!(r.apply("v 28.83.0.1;"), "v [FW:a];");
    }

    #[test]
    fn empty_secrets_are_ignored() {
        let mut r = Redactor::new();
        r.replace("", "[X]");
        assert_eq!(r.apply("abc"), "abc");
    }
}
