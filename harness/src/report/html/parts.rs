//! Pieces shared by the one-file HTML report and the dashboard: escaping, the outcome
//! badge, the scenario × model matrix, diff colouring and the page shell. One look in
//! both places, so an engineer who reads one reads the other.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::report::html::style::CSS;

/// Escapes text for an HTML text node or a quoted attribute: transcripts and diffs hold
/// `<`, `>`, `&` and quotes, and a scenario name must never become markup.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Escapes one path segment of a link (scenario and model names in `/history/...`).
pub fn url_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The outcome words the colours know (`Outcome::word`, and the history's `outcome`).
const KNOWN_OUTCOMES: [&str; 6] = [
    "pass",
    "fail",
    "lab-fault",
    "skipped",
    "config-error",
    "interrupted",
];

/// The CSS class of an outcome word; a word this build does not know (a newer harness
/// recorded it) gets a neutral class instead of a wrong colour.
pub fn outcome_class(word: &str) -> &'static str {
    match word {
        "pass" => "outcome outcome-pass",
        "fail" => "outcome outcome-fail",
        "lab-fault" => "outcome outcome-lab-fault",
        "skipped" => "outcome outcome-skipped",
        "config-error" => "outcome outcome-config-error",
        "interrupted" => "outcome outcome-interrupted",
        _ => "outcome outcome-unknown",
    }
}

/// The outcome words in display order, for count lines.
pub fn outcome_words() -> &'static [&'static str] {
    &KNOWN_OUTCOMES
}

/// An outcome badge: the word itself inside the colour, a link when `href` is given.
/// `title` is the tooltip (and what a screen reader announces besides the word).
pub fn outcome_badge(word: &str, href: Option<&str>, title: &str) -> String {
    let class = outcome_class(word);
    let (word, title) = (escape(word), escape(title));
    match href {
        Some(href) => format!(
            r#"<a class="{class}" href="{}" title="{title}">{word}</a>"#,
            escape(href)
        ),
        None => format!(r#"<span class="{class}" title="{title}">{word}</span>"#),
    }
}

/// A health state badge (`healthy`, `recovered`, `bad`), word and colour.
pub fn health_badge(state: &str) -> String {
    let class = match state {
        "healthy" => "health health-healthy",
        "recovered" => "health health-recovered",
        "bad" => "health health-bad",
        _ => "health",
    };
    format!(r#"<span class="{class}">{}</span>"#, escape(state))
}

/// One case in the matrix.
#[derive(Debug, Clone)]
pub struct MatrixCell {
    /// The scenario's name (the row).
    pub scenario: String,
    /// The phone model (the column).
    pub model: String,
    /// Several benches of one model give several cells in one square; the bench tells
    /// them apart in the tooltip.
    pub bench: String,
    /// The verdict word, which picks the cell's colour.
    pub outcome: String,
    /// Where the cell leads: the case's section of the report, or its dashboard page.
    pub href: Option<String>,
}

/// The scenario × model matrix: scenarios as rows, models as columns, each square holding
/// the badges of its cases. A square with no case says so in words, not only by being
/// empty.
pub fn matrix_table(cells: &[MatrixCell]) -> String {
    let mut models: Vec<&str> = cells.iter().map(|c| c.model.as_str()).collect();
    models.sort_unstable();
    models.dedup();
    let mut rows: BTreeMap<&str, BTreeMap<&str, Vec<&MatrixCell>>> = BTreeMap::new();
    for cell in cells {
        rows.entry(&cell.scenario)
            .or_default()
            .entry(&cell.model)
            .or_default()
            .push(cell);
    }
    let mut html =
        String::from(r#"<table class="matrix"><thead><tr><th scope="col">scenario</th>"#);
    for model in &models {
        let _ = write!(html, r#"<th scope="col">{}</th>"#, escape(model));
    }
    html.push_str("</tr></thead><tbody>");
    for (scenario, by_model) in &rows {
        let _ = write!(html, r#"<tr><th scope="row">{}</th>"#, escape(scenario));
        for model in &models {
            html.push_str("<td>");
            match by_model.get(model) {
                Some(cases) => {
                    for (i, case) in cases.iter().enumerate() {
                        if i > 0 {
                            html.push_str("<br>");
                        }
                        let bench = if case.bench.is_empty() {
                            "no bench".to_string()
                        } else {
                            format!("bench {}", case.bench)
                        };
                        let title = format!("{scenario} on {model} ({bench}): {}", case.outcome);
                        html.push_str(&outcome_badge(&case.outcome, case.href.as_deref(), &title));
                    }
                }
                None => {
                    html.push_str(r#"<span class="outcome-none" title="not in this run">—</span>"#)
                }
            }
            html.push_str("</td>");
        }
        html.push_str("</tr>");
    }
    html.push_str("</tbody></table>");
    html
}

/// A diff or reason inside `<pre>`, added lines green and removed lines red, the `+`/`-`
/// kept so the colour is never the only signal.
pub fn diff_block(text: &str) -> String {
    let mut html = String::from(r#"<pre class="diff">"#);
    for line in text.lines() {
        let class = if line.starts_with("+++") || line.starts_with("---") || line.starts_with("@@")
        {
            Some("hunk")
        } else if line.starts_with('+') {
            Some("add")
        } else if line.starts_with('-') {
            Some("del")
        } else {
            None
        };
        match class {
            Some(class) => {
                let _ = write!(html, r#"<span class="{class}">{}</span>"#, escape(line));
            }
            None => {
                html.push_str(&escape(line));
                html.push('\n');
            }
        }
    }
    html.push_str("</pre>");
    html
}

/// A transcript inside `<pre>`, escaped.
pub fn text_block(text: &str) -> String {
    format!(r#"<pre class="transcript">{}</pre>"#, escape(text))
}

/// A count line: `3 pass 1 fail ...`, words beside numbers, zero counts left out.
pub fn counts_line<'a>(counts: impl IntoIterator<Item = (&'a str, usize)>) -> String {
    let mut html = String::from(r#"<span class="counts">"#);
    for (word, n) in counts {
        if n > 0 {
            let _ = write!(
                html,
                r#"<span><span class="{}">{}</span> {n}</span>"#,
                outcome_class(word),
                escape(word)
            );
        }
    }
    html.push_str("</span>");
    html
}

/// Seconds for a person: `0.42 s`, `12.3 s`, `4 min 05 s`.
pub fn human_duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "?".into();
    }
    if seconds < 10.0 {
        format!("{seconds:.2} s")
    } else if seconds < 120.0 {
        format!("{seconds:.1} s")
    } else {
        let whole = seconds.round() as u64;
        format!("{} min {:02} s", whole / 60, whole % 60)
    }
}

/// A whole page: doctype, title, the inline stylesheet, an optional navigation bar and the
/// body. No script and no external fetch (not even a favicon): the page works offline and
/// without JavaScript.
pub fn page(title: &str, nav: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <link rel=\"icon\" href=\"data:,\"><title>{}</title><style>{CSS}</style></head><body>{nav}<main>{body}</main></body></html>\n",
        escape(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(url_segment("a b/c@T46U"), "a%20b%2Fc%40T46U");
    }

    #[test]
    fn diff_lines_are_coloured_by_sign_and_escaped() {
        let html = diff_block("@@ -1 +1 @@\n-old <b>\n+new &\n same");
        assert!(html.contains(r#"<span class="del">-old &lt;b&gt;</span>"#));
        assert!(html.contains(r#"<span class="add">+new &amp;</span>"#));
        assert!(html.contains(r#"<span class="hunk">@@ -1 +1 @@</span>"#));
        assert!(html.contains(" same\n"));
    }

    #[test]
    fn an_unknown_outcome_gets_a_neutral_class() {
        assert_eq!(outcome_class("exploded"), "outcome outcome-unknown");
        assert_eq!(outcome_class("lab-fault"), "outcome outcome-lab-fault");
    }

    #[test]
    fn durations_read_as_a_person_says_them() {
        assert_eq!(human_duration(0.5), "0.50 s");
        assert_eq!(human_duration(65.0), "65.0 s");
        assert_eq!(human_duration(245.0), "4 min 05 s");
    }
}
