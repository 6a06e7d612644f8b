//! The twin phone's web UI: the servlet login of T4x firmware, as public phone-management
//! clients (and the harness's web driver) perform it.
//!
//! 1. `GET /servlet?m=mod_listener&p=login&q=loginForm&jumpto=status` answers the login page
//!    with the model and the RSA public key in its script, and opens a session
//!    (`JSESSIONID` cookie).
//! 2. `POST /servlet?m=mod_listener&p=login&q=login&Rajax=<rand>` takes `username`, `pwd`,
//!    `rsakey`, `rsaiv` (see [`crypto`]) and answers `{"authstatus":"done"}` or a refusal in
//!    the `_RES_INFO_` div, always with status 200: malformed input is a refusal, never a
//!    server error.
//! 3. `GET /servlet?m=mod_data&p=status&q=load` answers the status page with its token to a
//!    logged-in session and redirects anybody else to the login form.
//!
//! Everything else is a 404. The admin password is read from a watch channel at each login,
//! so a provisioned password or a factory reset takes effect at once.

pub mod crypto;
pub mod pages;
pub mod session;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Form, FromRequest, Query, Request, State};
use axum::http::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use rand::RngCore;
use rsa::{BigUint, RsaPrivateKey};
use thiserror::Error;
use tokio::sync::watch;

use self::crypto::{LoginCryptoError, RSA_KEY_BITS, RSA_PUBLIC_EXPONENT};
use self::session::{LOCKOUT_S, LockState, LoginGuard, Sessions};

/// The one account the web UI knows.
pub const ADMIN_USERNAME: &str = "admin";

/// The session cookie's name, as servlet containers call it.
pub const SESSION_COOKIE: &str = "JSESSIONID";

/// Where the firmware sends a browser that is not logged in.
pub const LOGIN_FORM_PATH: &str = "/servlet?m=mod_listener&p=login&q=loginForm&jumpto=status";

/// Bytes of randomness in a session id or a token (hex-encoded on the wire).
const RANDOM_ID_BYTES: usize = 16;

/// Why a login was refused. The client only ever sees `"authstatus":"fail"`; the twin's log
/// carries this message so an operator can tell a wrong password from a broken client.
#[derive(Debug, Error)]
pub enum LoginError {
    /// The body was not an `application/x-www-form-urlencoded` form.
    #[error(
        "login POST body is not a urlencoded form: check the client's Content-Type and encoding"
    )]
    NotAForm,
    /// A form field the login needs was absent.
    #[error(
        "login form lacks the field `{0}`: the client must send username, pwd, rsakey and rsaiv"
    )]
    MissingField(&'static str),
    /// No `JSESSIONID` cookie came with the POST.
    #[error(
        "login POST carries no JSESSIONID cookie: the client must keep the cookie set by the login form"
    )]
    NoSessionCookie,
    /// The cookie names a session this boot never opened (or forgot).
    #[error(
        "login POST names session `{0}`, which this boot of the phone never opened: fetch the login form again after a reboot"
    )]
    UnknownSession(String),
    /// The encrypted fields could not be opened.
    #[error(transparent)]
    Crypto(#[from] LoginCryptoError),
    /// The session id inside `pwd` is not the cookie's.
    #[error(
        "the session id encrypted in pwd (`{encrypted}`) is not the cookie's (`{cookie}`): check that the client encrypts the JSESSIONID it was given"
    )]
    SessionMismatch {
        /// The id found in the decrypted `pwd`.
        encrypted: String,
        /// The id of the `JSESSIONID` cookie.
        cookie: String,
    },
    /// The user is not the admin account.
    #[error("login for user `{0}` refused: the phone's web UI only knows `admin`")]
    WrongUsername(String),
    /// The password is not the current admin password.
    #[error("wrong admin password")]
    WrongPassword,
    /// Too many refusals: the account refuses everything for a while.
    #[error(
        "the admin account is locked for another {remaining_s:.1} s after repeated refused logins: wait, or power-cycle the phone"
    )]
    Locked {
        /// Seconds of wall time left on the lock.
        remaining_s: f64,
    },
}

/// One per phone, created once: the RSA key persists across boots like the phone's own.
pub struct WebUi {
    key: Arc<RsaPrivateKey>,
    page_identity: Arc<PageIdentity>,
    admin_password: watch::Receiver<String>,
    lockout: Duration,
}

/// What every page of the phone shows the same way.
struct PageIdentity {
    model: String,
    rsa_n_hex: String,
    rsa_e_hex: String,
}

impl WebUi {
    /// Generates the phone's RSA key (1024 bits, e = 65537). `admin_password` is read at each
    /// login; `time_scale` shortens the lockout like every other delay of the virtual lab.
    pub fn new(model: &str, admin_password: watch::Receiver<String>, time_scale: f64) -> WebUi {
        let key = RsaPrivateKey::new_with_exp(
            &mut rand::thread_rng(),
            RSA_KEY_BITS,
            &BigUint::from(RSA_PUBLIC_EXPONENT),
        )
        // 1024 bits with e = 65537 is within every bound the rsa crate checks.
        .expect("RSA key generation with fixed, supported parameters");
        let lockout = Duration::try_from_secs_f64(LOCKOUT_S * time_scale).unwrap_or_else(|_| {
            tracing::warn!(
                time_scale,
                "web UI: time_scale is not a positive number; the login lockout stays unscaled"
            );
            Duration::from_secs_f64(LOCKOUT_S)
        });
        WebUi {
            page_identity: Arc::new(PageIdentity {
                model: model.to_owned(),
                rsa_n_hex: crypto::modulus_hex(&key),
                rsa_e_hex: crypto::exponent_hex(&key),
            }),
            key: Arc::new(key),
            admin_password,
            lockout,
        }
    }

    /// A fresh router per boot: sessions live in RAM and die at power-off.
    pub fn router(&self) -> Router {
        let state = WebState {
            key: Arc::clone(&self.key),
            page_identity: Arc::clone(&self.page_identity),
            admin_password: self.admin_password.clone(),
            boot: Arc::new(Mutex::new(BootState {
                sessions: Sessions::default(),
                guard: LoginGuard::new(self.lockout),
            })),
        };
        Router::new()
            .route("/servlet", any(servlet))
            .fallback(not_found)
            .with_state(state)
    }
}

/// What the handlers share for one boot.
#[derive(Clone)]
struct WebState {
    key: Arc<RsaPrivateKey>,
    page_identity: Arc<PageIdentity>,
    admin_password: watch::Receiver<String>,
    boot: Arc<Mutex<BootState>>,
}

/// The RAM of one boot.
struct BootState {
    sessions: Sessions,
    guard: LoginGuard,
}

impl WebState {
    fn boot(&self) -> MutexGuard<'_, BootState> {
        // A panic elsewhere while holding the lock leaves plain data behind; keep serving.
        self.boot
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Every servlet page hangs off one path; `m`, `p` and `q` select it.
async fn servlet(State(state): State<WebState>, request: Request) -> Response {
    let Ok(Query(query)) = Query::<HashMap<String, String>>::try_from_uri(request.uri()) else {
        return not_found().await;
    };
    let page = |name: &str| query.get(name).map(String::as_str);
    let selector = (page("m"), page("p"), page("q"));
    match (request.method().clone(), selector) {
        (Method::GET, (Some("mod_listener"), Some("login"), Some("loginForm"))) => {
            login_form(&state)
        }
        (Method::POST, (Some("mod_listener"), Some("login"), Some("login"))) => {
            let cookie = session_cookie(request.headers());
            let form = Form::<HashMap<String, String>>::from_request(request, &()).await;
            login(&state, cookie, form.ok().map(|Form(fields)| fields))
        }
        (Method::GET, (Some("mod_data"), Some("status"), Some("load"))) => {
            status(&state, session_cookie(request.headers()).as_deref())
        }
        _ => not_found().await,
    }
}

/// Opens a session and shows the login page with the public key.
fn login_form(state: &WebState) -> Response {
    let session_id = random_hex();
    state.boot().sessions.open(session_id.clone());
    let identity = &state.page_identity;
    let mut response = html(
        StatusCode::OK,
        pages::login_page(&identity.model, &identity.rsa_n_hex, &identity.rsa_e_hex),
    );
    // Not HttpOnly: the login script reads the id from document.cookie to encrypt it.
    if let Ok(cookie) = HeaderValue::from_str(&format!("{SESSION_COOKIE}={session_id}; Path=/")) {
        response.headers_mut().insert(SET_COOKIE, cookie);
    }
    response
}

/// Checks a login POST and answers its verdict.
fn login(
    state: &WebState,
    cookie: Option<String>,
    fields: Option<HashMap<String, String>>,
) -> Response {
    let now = Instant::now();
    if let LockState::Locked { remaining } = state.boot().guard.state(now) {
        return locked_refusal(remaining);
    }
    // The RSA work runs without the lock held: other requests need not wait for it.
    let verdict = check_login(state, cookie.as_deref(), fields.as_ref());
    let mut boot = state.boot();
    // Another request may have locked the account while this one was being decrypted.
    if let (Ok(_), LockState::Locked { remaining }) = (&verdict, boot.guard.state(now)) {
        return locked_refusal(remaining);
    }
    match verdict {
        Ok(session_id) => {
            boot.guard.record_success();
            boot.sessions.log_in(&session_id, random_hex());
            tracing::info!(session = %session_id, "web UI: admin logged in");
            html(StatusCode::OK, pages::login_done_page())
        }
        Err(refusal) => {
            let left_times = boot.guard.record_failure(now);
            tracing::info!(error = %refusal, left_times, "web UI: login refused");
            html(StatusCode::OK, pages::login_fail_page(left_times))
        }
    }
}

/// The answer while the account is locked: a refusal whatever the credentials.
fn locked_refusal(remaining: Duration) -> Response {
    let refusal = LoginError::Locked {
        remaining_s: remaining.as_secs_f64(),
    };
    tracing::info!(error = %refusal, "web UI: login refused");
    html(StatusCode::OK, pages::login_fail_page(0))
}

/// Opens the login and checks it against the session and the admin password; returns the
/// session to mark logged in.
fn check_login(
    state: &WebState,
    cookie: Option<&str>,
    fields: Option<&HashMap<String, String>>,
) -> Result<String, LoginError> {
    let fields = fields.ok_or(LoginError::NotAForm)?;
    let field = |name: &'static str| {
        fields
            .get(name)
            .map(String::as_str)
            .ok_or(LoginError::MissingField(name))
    };
    let (username, pwd, rsakey, rsaiv) = (
        field("username")?,
        field("pwd")?,
        field("rsakey")?,
        field("rsaiv")?,
    );
    let cookie = cookie.ok_or(LoginError::NoSessionCookie)?;
    if !state.boot().sessions.exists(cookie) {
        return Err(LoginError::UnknownSession(cookie.to_owned()));
    }
    let plaintext = crypto::open_login(&state.key, rsakey, rsaiv, pwd)?;
    if plaintext.session_id != cookie {
        return Err(LoginError::SessionMismatch {
            encrypted: plaintext.session_id,
            cookie: cookie.to_owned(),
        });
    }
    if username != ADMIN_USERNAME {
        return Err(LoginError::WrongUsername(username.to_owned()));
    }
    if *state.admin_password.borrow() != plaintext.password {
        return Err(LoginError::WrongPassword);
    }
    Ok(cookie.to_owned())
}

/// The status page for a logged-in session; a redirect to the login form otherwise.
fn status(state: &WebState, cookie: Option<&str>) -> Response {
    let token = cookie.and_then(|id| state.boot().sessions.token(id).map(str::to_owned));
    match token {
        Some(token) => html(
            StatusCode::OK,
            pages::status_page(&state.page_identity.model, &token),
        ),
        None => Response::builder()
            .status(StatusCode::FOUND)
            .header(LOCATION, LOGIN_FORM_PATH)
            .body(Body::empty())
            .unwrap_or_else(|_| StatusCode::FOUND.into_response()),
    }
}

/// What the phone answers for any page it does not have.
async fn not_found() -> Response {
    html(StatusCode::NOT_FOUND, pages::not_found_page())
}

/// Every page is HTML; the firmware serves no other type on these paths.
fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

/// The `JSESSIONID` value among the request's cookies, if any.
fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim().to_owned())
}

/// A fresh random id, hex-encoded: session ids and tokens.
fn random_hex() -> String {
    let mut bytes = [0u8; RANDOM_ID_BYTES];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(
            COOKIE,
            HeaderValue::from_static("a=1; JSESSIONID=abc ; b=2"),
        );
        assert_eq!(session_cookie(&headers).as_deref(), Some("abc"));
        let mut split = HeaderMap::new();
        split.append(COOKIE, HeaderValue::from_static("a=1"));
        split.append(COOKIE, HeaderValue::from_static("JSESSIONID=def"));
        assert_eq!(session_cookie(&split).as_deref(), Some("def"));
        assert_eq!(session_cookie(&HeaderMap::new()), None);
    }

    #[test]
    fn random_ids_are_hex_and_distinct() {
        let (a, b) = (random_hex(), random_hex());
        assert_eq!(a.len(), 2 * RANDOM_ID_BYTES);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
