//! The HTML the twin's web UI answers with. Only what clients read off a T4x page is
//! reproduced faithfully (the script variables and the `_RES_INFO_` div); the rest is a
//! plain page a person can read in a browser.

use serde_json::json;

/// The login form: its script carries the model and the RSA public key, which clients
/// scrape with a regular expression on `var <name> = "<value>"`.
pub fn login_page(model: &str, rsa_n_hex: &str, rsa_e_hex: &str) -> String {
    format!(
        r#"<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>Yealink {title}</title>
<script type="text/javascript">
var g_phonetype = "{model}";
var g_rsa_n = "{rsa_n_hex}";
var g_rsa_e = "{rsa_e_hex}";
</script>
</head>
<body>
<form id="loginForm" method="post" action="/servlet?m=mod_listener&amp;p=login&amp;q=login">
<input type="text" id="idUsername" name="username">
<input type="password" id="idPassword" name="pwd">
<input type="hidden" name="rsakey">
<input type="hidden" name="rsaiv">
<input type="submit" value="Login">
</form>
</body>
</html>
"#,
        title = html_text(model),
        model = js_string(model),
    )
}

/// The answer to a login POST: the firmware puts its verdict as JSON in this div.
fn result_page(result: &serde_json::Value) -> String {
    format!(
        "<!DOCTYPE html>\n<html>\n<body>\n<div id=\"_RES_INFO_\">{result}</div>\n</body>\n</html>\n"
    )
}

/// A login that was accepted.
pub fn login_done_page() -> String {
    result_page(&json!({ "authstatus": "done" }))
}

/// A login that was refused. ASSUMED wording: clients only test for `"done"`, and no public
/// source quotes the refusal; `leftTimes` counts the attempts before the account locks (0
/// while it is locked).
pub fn login_fail_page(left_times: u32) -> String {
    result_page(&json!({ "authstatus": "fail", "leftTimes": left_times }))
}

/// The status page after login: its script carries the token write requests must send.
pub fn status_page(model: &str, token: &str) -> String {
    format!(
        r#"<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>Yealink {title} Status</title>
<script type="text/javascript">
var g_phonetype = "{model}";
var g_strToken = "{token}";
</script>
</head>
<body>
<h1>Status</h1>
</body>
</html>
"#,
        title = html_text(model),
        model = js_string(model),
        token = js_string(token),
    )
}

/// Anything the twin does not serve.
pub fn not_found_page() -> String {
    "<!DOCTYPE html>\n<html>\n<body>\n<h1>404 Not Found</h1>\n</body>\n</html>\n".to_owned()
}

/// Text safe inside a double-quoted JavaScript string in a `<script>` block.
fn js_string(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => escaped.push_str("\\\""),
            '\\' => escaped.push_str("\\\\"),
            '<' => escaped.push_str("\\x3c"),
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            _ => escaped.push(c),
        }
    }
    escaped
}

/// Text safe as HTML element content.
fn html_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_page_carries_the_script_variables() {
        let page = login_page("T46G", "c0ffee", "10001");
        assert!(page.contains(r#"var g_phonetype = "T46G";"#));
        assert!(page.contains(r#"var g_rsa_n = "c0ffee";"#));
        assert!(page.contains(r#"var g_rsa_e = "10001";"#));
    }

    #[test]
    fn result_pages_hold_the_json_verdict_in_the_div() {
        assert!(login_done_page().contains(r#"<div id="_RES_INFO_">{"authstatus":"done"}</div>"#));
        assert!(
            login_fail_page(3)
                .contains(r#"<div id="_RES_INFO_">{"authstatus":"fail","leftTimes":3}</div>"#)
        );
    }

    #[test]
    fn script_strings_cannot_break_out() {
        assert_eq!(js_string(r#"a"b\</script>"#), r#"a\"b\\\x3c/script>"#);
        assert_eq!(html_text("<T&>"), "&lt;T&amp;&gt;");
    }
}
