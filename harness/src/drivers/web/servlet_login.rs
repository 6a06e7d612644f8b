//! The client side of the T4x servlet web login, as public phone-management clients perform
//! it: fetch the login form (an RSA public key and a session cookie), encrypt the password
//! with a fresh AES key, send that key RSA-encrypted, and read the verdict.
//!
//! This is how the harness checks whether a phone accepts a password (`admin`/`admin` after
//! a reset, or the provisioned one): the same requests a browser sends.

use std::time::{Duration, Instant};

use aes::Aes128;
use base64::Engine as _;
use cbc::cipher::block_padding::ZeroPadding;
use cbc::cipher::{BlockEncryptMut, KeyIvInit};
use rand::{Rng, RngCore};
use rsa::{BigUint, Pkcs1v15Encrypt, RsaPublicKey};

/// The page that carries the RSA key and starts a session.
pub const LOGIN_FORM_PATH: &str = "/servlet?m=mod_listener&p=login&q=loginForm&jumpto=status";

/// The login request, before its `Rajax=<random>` cache buster.
pub const LOGIN_PATH: &str = "/servlet?m=mod_listener&p=login&q=login&Rajax=";

/// Between two connection attempts to a phone that is still booting.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// What the phone said to the credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome {
    /// `authstatus` was `done`: the phone accepts this password.
    Accepted,
    /// Anything else: wrong password, locked out, or no verdict at all.
    Refused,
}

/// Why the login could not be tried to a verdict.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The base URL is not `http://<ip>:<port>`.
    #[error("`{base_url}` is not a phone web address like http://192.0.2.10:80: {reason}")]
    BadUrl {
        /// The URL given.
        base_url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No HTTP answer before the time ran out: the phone is off, booting, without network,
    /// or at another address. `failure` says how the last attempt failed.
    #[error(
        "the phone's web UI at {base_url} gave no answer in {} ms of trying: {failure} (last \
         error: {last_error})",
        waited.as_millis()
    )]
    Unreachable {
        /// The phone's base URL.
        base_url: String,
        /// How long the probe kept trying.
        waited: Duration,
        /// How the last attempt failed.
        failure: ConnectFailure,
        /// The last failure, with its causes.
        last_error: String,
    },
    /// The phone answered with an HTTP error status.
    #[error("{url} answered HTTP {status}: is this a Yealink T4x web UI with servlet login?")]
    Status {
        /// The request.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The login form lacks what the login needs.
    #[error(
        "{url} is not a servlet login form: {missing}. Is this a Yealink T4x web UI, and is \
         the bench's `web_port` right?"
    )]
    NotALoginForm {
        /// The request.
        url: String,
        /// What was missing or malformed.
        missing: String,
    },
}

/// How an attempt to reach the web UI failed, told from the error's type and kind (never
/// from its text), so a refused port is not reported as a silent phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectFailure {
    /// The address answered with a reset to the connection: the phone is up but nothing
    /// listens on that port (web server not started yet, or the wrong `web_port`).
    Refused,
    /// The connection was reset or closed before the answer was complete.
    Reset,
    /// Nothing answered in time: the phone is off, has no network, or the address leads
    /// nowhere.
    TimedOut,
    /// The host name could not be resolved.
    Dns,
    /// No route to the address: host or network unreachable from this machine.
    NoRoute,
    /// Any other failure (see the error text).
    Other,
}

impl std::fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ConnectFailure::Refused => {
                "connection refused: the address is up but nothing listens on the port; is \
                 the phone still booting, and is the bench's `web_port` right?"
            }
            ConnectFailure::Reset => {
                "the connection was reset or closed before an answer: is something other than \
                 the phone's web UI on this address and port?"
            }
            ConnectFailure::TimedOut => {
                "no answer in time: is the phone powered and on the network, and is the \
                 bench's `ip` right?"
            }
            ConnectFailure::Dns => "the host name does not resolve: check the web address",
            ConnectFailure::NoRoute => {
                "no route to the address: is this machine on the lab network, and is the \
                 bench's `ip` right?"
            }
            ConnectFailure::Other => "the connection failed",
        })
    }
}

/// Classify a failed request by the types in its source chain.
fn classify(err: &reqwest::Error) -> ConnectFailure {
    if err.is_timeout() {
        return ConnectFailure::TimedOut;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            match classify_io(io.kind()) {
                ConnectFailure::Other => {}
                known => return known,
            }
        }
        source = cause.source();
    }
    if !err.is_connect() && (err.is_request() || err.is_body()) {
        // Connected, then the exchange ended without an answer and without an I/O error:
        // the server closed the connection.
        return ConnectFailure::Reset;
    }
    ConnectFailure::Other
}

fn classify_io(kind: std::io::ErrorKind) -> ConnectFailure {
    use std::io::ErrorKind;
    match kind {
        ErrorKind::ConnectionRefused => ConnectFailure::Refused,
        ErrorKind::ConnectionReset
        | ErrorKind::ConnectionAborted
        | ErrorKind::BrokenPipe
        | ErrorKind::UnexpectedEof => ConnectFailure::Reset,
        ErrorKind::TimedOut => ConnectFailure::TimedOut,
        ErrorKind::HostUnreachable
        | ErrorKind::NetworkUnreachable
        | ErrorKind::NetworkDown
        | ErrorKind::AddrNotAvailable => ConnectFailure::NoRoute,
        _ => ConnectFailure::Other,
    }
}

/// What the login form gives the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginForm {
    /// The session the login belongs to.
    pub session_id: String,
    /// The RSA modulus, as hex.
    pub rsa_n: String,
    /// The RSA public exponent, as hex.
    pub rsa_e: String,
}

/// The form fields of the login request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginFields {
    /// The user name, in clear.
    pub username: String,
    /// base64 of AES-128-CBC (zero padding) over `<random>;<session id>;<password>`.
    pub pwd: String,
    /// The AES key as 32 lowercase hex characters, RSA-encrypted, as hex.
    pub rsakey: String,
    /// The AES IV as 32 lowercase hex characters, RSA-encrypted, as hex.
    pub rsaiv: String,
}

/// The value of `var <name> = "<value>"` in the form page's script.
pub fn script_var(page: &str, name: &str) -> Option<String> {
    let mut rest = page;
    while let Some(at) = rest.find(name) {
        let after = &rest[at + name.len()..];
        rest = after;
        let after = after.trim_start();
        let Some(after) = after.strip_prefix('=') else {
            continue;
        };
        let after = after.trim_start();
        let Some(quote) = after.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            continue;
        };
        let value = &after[1..];
        if let Some(end) = value.find(quote) {
            return Some(value[..end].to_string());
        }
    }
    None
}

/// The `JSESSIONID` among `Set-Cookie` header values.
pub fn session_cookie<'a>(set_cookies: impl IntoIterator<Item = &'a str>) -> Option<String> {
    set_cookies.into_iter().find_map(|cookie| {
        let pair = cookie.split(';').next()?.trim();
        let (name, value) = pair.split_once('=')?;
        (name.trim() == "JSESSIONID" && !value.is_empty()).then(|| value.trim().to_string())
    })
}

/// Read the session and the RSA key out of the form response.
pub fn parse_login_form<'a>(
    set_cookies: impl IntoIterator<Item = &'a str>,
    page: &str,
) -> Result<LoginForm, String> {
    let session_id = session_cookie(set_cookies).ok_or("no JSESSIONID cookie was set")?;
    let rsa_n = script_var(page, "g_rsa_n").ok_or("the page has no `g_rsa_n`")?;
    let rsa_e = script_var(page, "g_rsa_e").ok_or("the page has no `g_rsa_e`")?;
    Ok(LoginForm {
        session_id,
        rsa_n,
        rsa_e,
    })
}

/// The verdict in a login answer: `done` in the `_RES_INFO_` JSON is the only success.
pub fn parse_verdict(page: &str) -> LoginOutcome {
    const OPEN: &str = "<div id=\"_RES_INFO_\">";
    let verdict = page.find(OPEN).and_then(|at| {
        let body = &page[at + OPEN.len()..];
        let json = &body[..body.find("</div>")?];
        let value: serde_json::Value = serde_json::from_str(json.trim()).ok()?;
        value.get("authstatus")?.as_str().map(str::to_string)
    });
    match verdict.as_deref() {
        Some("done") => LoginOutcome::Accepted,
        _ => LoginOutcome::Refused,
    }
}

/// Build the login form fields for `password` with fresh random key, IV and nonce.
pub fn build_fields(
    form: &LoginForm,
    username: &str,
    password: &str,
    rng: &mut (impl RngCore + rand::CryptoRng),
) -> Result<LoginFields, String> {
    let n = BigUint::parse_bytes(form.rsa_n.trim().as_bytes(), 16)
        .ok_or("`g_rsa_n` is not a hex number")?;
    let e = BigUint::parse_bytes(form.rsa_e.trim().as_bytes(), 16)
        .ok_or("`g_rsa_e` is not a hex number")?;
    let public_key = RsaPublicKey::new(n, e).map_err(|err| format!("unusable RSA key: {err}"))?;

    let mut key = [0u8; 16];
    let mut iv = [0u8; 16];
    rng.fill_bytes(&mut key);
    rng.fill_bytes(&mut iv);
    // The phone's script hands the key and IV to the RSA step as hex text, not bytes.
    let key_hex = hex::encode(key);
    let iv_hex = hex::encode(iv);
    let encrypt = |text: &str, rng: &mut _| {
        public_key
            .encrypt(rng, Pkcs1v15Encrypt, text.as_bytes())
            .map(hex::encode)
            .map_err(|err| format!("RSA encryption failed: {err}"))
    };
    let rsakey = encrypt(&key_hex, &mut *rng)?;
    let rsaiv = encrypt(&iv_hex, &mut *rng)?;

    let nonce: f64 = rng.r#gen();
    let plain = format!("{nonce};{};{password}", form.session_id);
    let cipher = cbc::Encryptor::<Aes128>::new(&key.into(), &iv.into())
        .encrypt_padded_vec_mut::<ZeroPadding>(plain.as_bytes());
    let pwd = base64::engine::general_purpose::STANDARD.encode(cipher);
    Ok(LoginFields {
        username: username.to_string(),
        pwd,
        rsakey,
        rsaiv,
    })
}

/// Try `username`/`password` on the phone at `base_url` (`http://ip:port`).
///
/// Connection failures are retried until `timeout` has passed, since the phone may still be
/// booting; then the result is [`WebError::Unreachable`].
pub async fn try_login(
    base_url: &str,
    username: &str,
    password: &str,
    timeout: Duration,
) -> Result<LoginOutcome, WebError> {
    let base = normalise_base(base_url)?;
    let client = reqwest::Client::builder()
        // Phones sit on the lab network: a proxy from the environment would hide them.
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|err| WebError::BadUrl {
            base_url: base_url.into(),
            reason: err.to_string(),
        })?;
    let started = Instant::now();
    let deadline = started + timeout;
    // The failure to report: the last one, except that an attempt cut short by the probe's
    // own deadline says nothing about the phone and does not hide an earlier refusal.
    let mut reported: Option<(ConnectFailure, String)> = None;
    loop {
        let (failure, why) = match attempt(&client, &base, username, password, deadline).await {
            Ok(outcome) => return Ok(outcome),
            Err(Attempt::Fatal(err)) => return Err(err),
            Err(Attempt::Unreachable(failure, why)) => (failure, why),
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        let cut_short = failure == ConnectFailure::TimedOut && remaining.is_zero();
        if !(cut_short && reported.is_some()) {
            reported = Some((failure, why));
        }
        if remaining.is_zero() {
            let (failure, last_error) = reported.expect("set by the attempt just made");
            return Err(WebError::Unreachable {
                base_url: base,
                waited: started.elapsed(),
                failure,
                last_error,
            });
        }
        if let Some((_, why)) = &reported {
            tracing::debug!(base_url = %base, error = %why, "web UI not reachable yet");
        }
        tokio::time::sleep(RETRY_PAUSE.min(remaining)).await;
    }
}

/// How one attempt ended when it found no verdict.
enum Attempt {
    /// No HTTP exchange completed; worth trying again.
    Unreachable(ConnectFailure, String),
    /// The phone answered, but not as a servlet login does.
    Fatal(WebError),
}

fn normalise_base(base_url: &str) -> Result<String, WebError> {
    let bad = |reason: &str| WebError::BadUrl {
        base_url: base_url.into(),
        reason: reason.into(),
    };
    let url = reqwest::Url::parse(base_url).map_err(|err| bad(&err.to_string()))?;
    if url.scheme() != "http" {
        return Err(bad("only http:// is supported"));
    }
    if url.host_str().is_none() {
        return Err(bad("no host"));
    }
    Ok(base_url.trim_end_matches('/').to_string())
}

async fn attempt(
    client: &reqwest::Client,
    base: &str,
    username: &str,
    password: &str,
    deadline: Instant,
) -> Result<LoginOutcome, Attempt> {
    let remaining = || deadline.saturating_duration_since(Instant::now());
    let unreachable = |err: reqwest::Error| Attempt::Unreachable(classify(&err), error_chain(&err));

    resolve(base, remaining()).await?;
    let form_url = format!("{base}{LOGIN_FORM_PATH}");
    let response = client
        .get(&form_url)
        .timeout(remaining())
        .send()
        .await
        .map_err(unreachable)?;
    let status = response.status();
    if !status.is_success() {
        return Err(Attempt::Fatal(WebError::Status {
            url: form_url,
            status: status.as_u16(),
        }));
    }
    let cookies: Vec<String> = response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok().map(str::to_string))
        .collect();
    let page = response.text().await.map_err(unreachable)?;
    let form = parse_login_form(cookies.iter().map(String::as_str), &page).map_err(|missing| {
        Attempt::Fatal(WebError::NotALoginForm {
            url: form_url.clone(),
            missing,
        })
    })?;
    let fields =
        build_fields(&form, username, password, &mut rand::thread_rng()).map_err(|missing| {
            Attempt::Fatal(WebError::NotALoginForm {
                url: form_url,
                missing,
            })
        })?;

    let login_url = format!("{base}{LOGIN_PATH}{}", rand::thread_rng().r#gen::<f64>());
    let response = client
        .post(&login_url)
        .timeout(remaining())
        .header(
            reqwest::header::COOKIE,
            format!("JSESSIONID={}", form.session_id),
        )
        .form(&[
            ("username", fields.username.as_str()),
            ("pwd", fields.pwd.as_str()),
            ("rsakey", fields.rsakey.as_str()),
            ("rsaiv", fields.rsaiv.as_str()),
        ])
        .send()
        .await
        .map_err(unreachable)?;
    let status = response.status();
    if !status.is_success() {
        return Err(Attempt::Fatal(WebError::Status {
            url: login_url,
            status: status.as_u16(),
        }));
    }
    let page = response.text().await.map_err(unreachable)?;
    let outcome = parse_verdict(&page);
    tracing::debug!(base_url = %base, username, ?outcome, "web login");
    Ok(outcome)
}

/// Resolve a base URL's host name, if it has one, so that a name that does not resolve is
/// reported as such (an address needs no lookup).
async fn resolve(base: &str, within: Duration) -> Result<(), Attempt> {
    let url = reqwest::Url::parse(base).map_err(|err| {
        Attempt::Fatal(WebError::BadUrl {
            base_url: base.into(),
            reason: err.to_string(),
        })
    })?;
    let Some(name) = url.domain() else {
        return Ok(());
    };
    let port = url.port_or_known_default().unwrap_or(80);
    let lookup = tokio::time::timeout(within, tokio::net::lookup_host((name, port))).await;
    let why = match lookup {
        Ok(Ok(mut addresses)) => match addresses.next() {
            Some(_) => return Ok(()),
            None => format!("`{name}` resolves to no address"),
        },
        Ok(Err(err)) => format!("cannot resolve `{name}`: {err}"),
        Err(_) => format!("`{name}` did not resolve within {} ms", within.as_millis()),
    };
    Err(Attempt::Unreachable(ConnectFailure::Dns, why))
}

/// The error and its causes on one line: reqwest's own message hides the interesting part
/// ("connection refused") in its source chain.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes::cipher::BlockDecryptMut;
    use rsa::RsaPrivateKey;
    use rsa::traits::PublicKeyParts;

    #[test]
    fn finds_script_variables() {
        let page = r#"<script>var g_phonetype = "T46G";
            var g_rsa_n = "c0ffee";var g_rsa_e='10001';</script>"#;
        assert_eq!(script_var(page, "g_rsa_n").as_deref(), Some("c0ffee"));
        assert_eq!(script_var(page, "g_rsa_e").as_deref(), Some("10001"));
        assert_eq!(script_var(page, "g_phonetype").as_deref(), Some("T46G"));
        assert_eq!(script_var(page, "g_strToken"), None);
    }

    #[test]
    fn finds_the_session_cookie() {
        let cookies = ["lang=en; Path=/", "JSESSIONID=abc123; Path=/; HttpOnly"];
        assert_eq!(session_cookie(cookies).as_deref(), Some("abc123"));
        assert_eq!(session_cookie(["JSESSIONID=; Path=/"]), None);
    }

    #[test]
    fn a_page_without_key_is_not_a_login_form() {
        let err = parse_login_form(["JSESSIONID=a"], "<html></html>").unwrap_err();
        assert!(err.contains("g_rsa_n"), "{err}");
        let err = parse_login_form([], r#"var g_rsa_n = "ab"; var g_rsa_e = "3";"#).unwrap_err();
        assert!(err.contains("JSESSIONID"), "{err}");
    }

    #[test]
    fn only_done_is_accepted() {
        let page = |json: &str| format!("<html><div id=\"_RES_INFO_\">{json}</div></html>");
        assert_eq!(
            parse_verdict(&page(r#"{"authstatus":"done"}"#)),
            LoginOutcome::Accepted
        );
        assert_eq!(
            parse_verdict(&page(r#" {"authstatus": "done", "x": 1} "#)),
            LoginOutcome::Accepted
        );
        assert_eq!(
            parse_verdict(&page(r#"{"authstatus":"error"}"#)),
            LoginOutcome::Refused
        );
        assert_eq!(parse_verdict(&page("not json")), LoginOutcome::Refused);
        assert_eq!(
            parse_verdict(r#"{"authstatus":"done"}"#),
            LoginOutcome::Refused
        );
    }

    #[test]
    fn fields_decrypt_to_the_password() {
        let mut rng = rand::thread_rng();
        let private_key = RsaPrivateKey::new(&mut rng, 512).unwrap();
        let form = LoginForm {
            session_id: "SID42".into(),
            rsa_n: private_key.n().to_str_radix(16),
            rsa_e: private_key.e().to_str_radix(16),
        };
        let fields = build_fields(&form, "admin", "s3cret;x", &mut rng).unwrap();
        assert_eq!(fields.username, "admin");

        let decrypt_hex = |field: &str| {
            let text = private_key
                .decrypt(Pkcs1v15Encrypt, &hex::decode(field).unwrap())
                .unwrap();
            let text = String::from_utf8(text).unwrap();
            assert_eq!(text.len(), 32);
            assert!(
                text.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')),
                "{text}"
            );
            <[u8; 16]>::try_from(hex::decode(text).unwrap()).unwrap()
        };
        let key = decrypt_hex(&fields.rsakey);
        let iv = decrypt_hex(&fields.rsaiv);
        let cipher = base64::engine::general_purpose::STANDARD
            .decode(&fields.pwd)
            .unwrap();
        assert_eq!(cipher.len() % 16, 0);
        let plain = cbc::Decryptor::<Aes128>::new(&key.into(), &iv.into())
            .decrypt_padded_vec_mut::<ZeroPadding>(&cipher)
            .unwrap();
        let plain = String::from_utf8(plain).unwrap();
        let mut parts = plain.splitn(3, ';');
        assert!(parts.next().unwrap().parse::<f64>().is_ok(), "{plain}");
        assert_eq!(parts.next(), Some("SID42"));
        assert_eq!(parts.next(), Some("s3cret;x"));
    }

    #[test]
    fn rejects_a_bad_key() {
        let form = LoginForm {
            session_id: "a".into(),
            rsa_n: "zz".into(),
            rsa_e: "3".into(),
        };
        assert!(build_fields(&form, "admin", "admin", &mut rand::thread_rng()).is_err());
    }

    #[test]
    fn rejects_bad_base_urls() {
        assert!(normalise_base("https://127.0.0.1:443").is_err());
        assert!(normalise_base("127.0.0.1:80").is_err());
        assert_eq!(
            normalise_base("http://127.0.0.1:80/").unwrap(),
            "http://127.0.0.1:80"
        );
    }
}
