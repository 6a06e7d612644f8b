//! The twin's web UI driven over HTTP by an independent client that performs the T4x servlet
//! login the way public phone-management clients do: scrape the RSA key from the login page,
//! wrap a fresh AES key and IV with it, AES-encrypt `<random>;<session id>;<password>`.

use std::net::SocketAddr;
use std::time::Duration;

use aes::Aes128;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockEncryptMut, KeyIvInit};
use rand::{Rng, RngCore};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Pkcs1v15Encrypt, RsaPublicKey};
use tokio::sync::watch;
use yealink_twin::phone::web::WebUi;

const LOGIN_FORM: &str = "/servlet?m=mod_listener&p=login&q=loginForm&jumpto=status";
const STATUS: &str = "/servlet?m=mod_data&p=status&q=load";
/// The client's random number has a fixed width, so a test can size a block-aligned text.
const NONCE_DIGITS: usize = 9;

/// A phone's web UI under test: the `WebUi` (one per phone) and the password channel.
struct Phone {
    web: WebUi,
    password: watch::Sender<String>,
}

impl Phone {
    fn new(password: &str, time_scale: f64) -> Phone {
        let (sender, receiver) = watch::channel(password.to_owned());
        Phone {
            web: WebUi::new("T46G", receiver, time_scale),
            password: sender,
        }
    }

    /// Serves a fresh router, as the phone does at each boot.
    async fn boot(&self) -> Client {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free loopback port");
        let addr = listener.local_addr().expect("bound address");
        let router = self.web.router();
        tokio::spawn(async move {
            axum::serve(listener, router).await.expect("web UI serves");
        });
        Client::new(addr)
    }
}

/// What the login page gave the client.
struct LoginForm {
    session_id: String,
    public_key: RsaPublicKey,
    modulus_hex: String,
    phonetype: String,
}

/// The fields a login POST sends.
struct LoginFields {
    username: String,
    pwd: String,
    rsakey: String,
    rsaiv: String,
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    fn new(addr: SocketAddr) -> Client {
        Client {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("HTTP client"),
            base: format!("http://{addr}"),
        }
    }

    async fn login_form(&self) -> LoginForm {
        let response = self
            .http
            .get(format!("{}{LOGIN_FORM}", self.base))
            .send()
            .await
            .expect("GET login form");
        assert_eq!(response.status(), StatusCode::OK);
        let set_cookie = response
            .headers()
            .get(SET_COOKIE)
            .expect("login form sets a cookie")
            .to_str()
            .expect("ASCII cookie")
            .to_owned();
        let session_id = set_cookie
            .split(';')
            .next()
            .and_then(|pair| pair.trim().strip_prefix("JSESSIONID="))
            .expect("JSESSIONID cookie")
            .to_owned();
        let page = response.text().await.expect("login page body");
        let modulus_hex = script_var(&page, "g_rsa_n");
        let exponent_hex = script_var(&page, "g_rsa_e");
        let public_key = RsaPublicKey::new(
            BigUint::parse_bytes(modulus_hex.as_bytes(), 16).expect("hex modulus"),
            BigUint::parse_bytes(exponent_hex.as_bytes(), 16).expect("hex exponent"),
        )
        .expect("a valid RSA public key");
        LoginForm {
            session_id,
            public_key,
            modulus_hex,
            phonetype: script_var(&page, "g_phonetype"),
        }
    }

    /// POSTs a login and returns the JSON in `_RES_INFO_`.
    async fn post_login(&self, cookie: Option<&str>, fields: &[(&str, &str)]) -> serde_json::Value {
        let mut request = self
            .http
            .post(format!(
                "{}/servlet?m=mod_listener&p=login&q=login&Rajax={}",
                self.base,
                rand::thread_rng().r#gen::<f64>()
            ))
            .form(fields);
        if let Some(session_id) = cookie {
            request = request.header(COOKIE, format!("JSESSIONID={session_id}"));
        }
        let response = request.send().await.expect("POST login");
        assert_eq!(response.status(), StatusCode::OK);
        result_info(&response.text().await.expect("login answer body"))
    }

    async fn send_login(&self, cookie: &str, fields: &LoginFields) -> serde_json::Value {
        self.post_login(
            Some(cookie),
            &[
                ("username", fields.username.as_str()),
                ("pwd", fields.pwd.as_str()),
                ("rsakey", fields.rsakey.as_str()),
                ("rsaiv", fields.rsaiv.as_str()),
            ],
        )
        .await
    }

    /// The whole login, as a browser does it; returns the session and the verdict.
    async fn login(&self, username: &str, password: &str) -> (String, serde_json::Value) {
        let form = self.login_form().await;
        let fields = encrypt_login(&form, &form.session_id, username, password);
        let verdict = self.send_login(&form.session_id, &fields).await;
        (form.session_id, verdict)
    }

    async fn status(&self, cookie: Option<&str>) -> reqwest::Response {
        let mut request = self.http.get(format!("{}{STATUS}", self.base));
        if let Some(session_id) = cookie {
            request = request.header(COOKIE, format!("JSESSIONID={session_id}"));
        }
        request.send().await.expect("GET status")
    }
}

/// The value of `var <name> = "<value>"` in a page's script.
fn script_var(page: &str, name: &str) -> String {
    let marker = format!("var {name} = \"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("page has {name}"))
        + marker.len();
    let len = page[start..].find('"').expect("closing quote");
    page[start..start + len].to_owned()
}

/// The JSON inside `<div id="_RES_INFO_">`.
fn result_info(page: &str) -> serde_json::Value {
    let marker = "<div id=\"_RES_INFO_\">";
    let start = page.find(marker).expect("_RES_INFO_ div") + marker.len();
    let len = page[start..].find("</div>").expect("closing div");
    serde_json::from_str(&page[start..start + len]).expect("JSON verdict")
}

/// The client side of the login cryptography, written from the protocol description.
fn encrypt_login(
    form: &LoginForm,
    encrypted_session_id: &str,
    username: &str,
    password: &str,
) -> LoginFields {
    let mut rng = rand::thread_rng();
    let (mut aes_key, mut aes_iv) = ([0u8; 16], [0u8; 16]);
    rng.fill_bytes(&mut aes_key);
    rng.fill_bytes(&mut aes_iv);
    let modulus_bytes = form.public_key.size();
    let mut wrap = |parameter: &[u8; 16]| {
        let ciphertext = form
            .public_key
            .encrypt(&mut rng, Pkcs1v15Encrypt, hex::encode(parameter).as_bytes())
            .expect("RSA encryption");
        // Left-padded with zeros to the modulus length, as the firmware's script sends it.
        format!(
            "{:0>width$}",
            hex::encode(ciphertext),
            width = 2 * modulus_bytes
        )
    };
    let (rsakey, rsaiv) = (wrap(&aes_key), wrap(&aes_iv));
    let nonce: u32 = rand::thread_rng().gen_range(100_000_000..1_000_000_000);
    let mut plaintext = format!("{nonce};{encrypted_session_id};{password}").into_bytes();
    // Zero padding up to the block; none when already aligned.
    while plaintext.len() % 16 != 0 {
        plaintext.push(0);
    }
    let len = plaintext.len();
    cbc::Encryptor::<Aes128>::new(&aes_key.into(), &aes_iv.into())
        .encrypt_padded_mut::<NoPadding>(&mut plaintext, len)
        .expect("aligned plaintext");
    LoginFields {
        username: username.to_owned(),
        pwd: BASE64.encode(&plaintext),
        rsakey,
        rsaiv,
    }
}

fn authstatus(verdict: &serde_json::Value) -> &str {
    verdict["authstatus"].as_str().expect("authstatus string")
}

#[tokio::test]
async fn right_password_is_accepted_and_the_page_shows_the_key() {
    let phone = Phone::new("s3cret", 1.0);
    let client = phone.boot().await;
    let form = client.login_form().await;
    assert_eq!(form.phonetype, "T46G");
    assert_eq!(form.modulus_hex.len(), 256, "a 1024-bit modulus");
    assert_eq!(form.public_key.e(), &BigUint::from(65_537u32));
    let (_, verdict) = client.login("admin", "s3cret").await;
    assert_eq!(verdict, serde_json::json!({ "authstatus": "done" }));
}

#[tokio::test]
async fn wrong_password_and_wrong_user_are_refused() {
    let phone = Phone::new("s3cret", 1.0);
    let client = phone.boot().await;
    let (_, verdict) = client.login("admin", "admin").await;
    assert_eq!(
        verdict,
        serde_json::json!({ "authstatus": "fail", "leftTimes": 4 })
    );
    let (_, verdict) = client.login("root", "s3cret").await;
    assert_eq!(authstatus(&verdict), "fail");
}

#[tokio::test]
async fn a_password_change_takes_effect_at_once() {
    let phone = Phone::new("old-pw", 1.0);
    let client = phone.boot().await;
    assert_eq!(authstatus(&client.login("admin", "old-pw").await.1), "done");
    phone.password.send_replace("admin".to_owned());
    assert_eq!(authstatus(&client.login("admin", "admin").await.1), "done");
    assert_eq!(authstatus(&client.login("admin", "old-pw").await.1), "fail");
}

#[tokio::test]
async fn passwords_with_semicolons_and_block_aligned_texts_work() {
    let phone = Phone::new("pa;ss;w0rd", 1.0);
    let client = phone.boot().await;
    assert_eq!(
        authstatus(&client.login("admin", "pa;ss;w0rd").await.1),
        "done"
    );

    // A password whose text fills whole AES blocks: no padding is added at all.
    let form = client.login_form().await;
    let unpadded_len = NONCE_DIGITS + 1 + form.session_id.len() + 1;
    let password: String = ";x".chars().cycle().take(16 - unpadded_len % 16).collect();
    assert_eq!((unpadded_len + password.len()) % 16, 0);
    phone.password.send_replace(password.clone());
    let fields = encrypt_login(&form, &form.session_id, "admin", &password);
    assert_eq!(
        BASE64.decode(&fields.pwd).map(|bytes| bytes.len()),
        Ok(unpadded_len + password.len())
    );
    assert_eq!(
        authstatus(&client.send_login(&form.session_id, &fields).await),
        "done"
    );
}

#[tokio::test]
async fn a_session_id_that_is_not_the_cookie_is_refused() {
    let phone = Phone::new("s3cret", 1.0);
    let client = phone.boot().await;
    let form = client.login_form().await;
    let other = client.login_form().await;
    // Both sessions exist; the text names one while the cookie names the other.
    let fields = encrypt_login(&form, &other.session_id, "admin", "s3cret");
    let verdict = client.send_login(&form.session_id, &fields).await;
    assert_eq!(authstatus(&verdict), "fail");
    // A cookie the phone never handed out is refused too.
    let stranger = "0123456789abcdef0123456789abcdef";
    let fields = encrypt_login(&form, stranger, "admin", "s3cret");
    assert_eq!(
        authstatus(&client.send_login(stranger, &fields).await),
        "fail"
    );
}

/// The four login fields of `valid`, with `name` set to `value`.
fn with_field(valid: &LoginFields, name: &str, value: &str) -> Vec<(String, String)> {
    let mut fields = all_fields(valid);
    for (existing, old) in &mut fields {
        if existing == name {
            *old = value.to_owned();
        }
    }
    fields
}

fn all_fields(valid: &LoginFields) -> Vec<(String, String)> {
    [
        ("username", &valid.username),
        ("pwd", &valid.pwd),
        ("rsakey", &valid.rsakey),
        ("rsaiv", &valid.rsaiv),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.clone()))
    .collect()
}

/// Malformed variants of a valid login, each named for the assertion message.
fn garbage_cases(valid: &LoginFields) -> Vec<(&'static str, Vec<(String, String)>)> {
    let mut missing_rsaiv = all_fields(valid);
    missing_rsaiv.retain(|(name, _)| name != "rsaiv");
    vec![
        ("no fields", Vec::new()),
        ("missing rsaiv", missing_rsaiv),
        ("bad hex", with_field(valid, "rsakey", "zz")),
        ("odd-length hex", with_field(valid, "rsaiv", "abc")),
        (
            "longer than the modulus",
            with_field(valid, "rsakey", &"ab".repeat(129)),
        ),
        (
            "not an RSA ciphertext",
            with_field(valid, "rsakey", &"01".repeat(128)),
        ),
        ("key and IV swapped", {
            let mut fields = with_field(valid, "rsakey", &valid.rsaiv);
            fields[3].1 = valid.rsakey.clone();
            fields
        }),
        ("bad base64", with_field(valid, "pwd", "***")),
        (
            "unaligned pwd",
            with_field(valid, "pwd", &BASE64.encode([1u8; 15])),
        ),
        ("empty pwd", with_field(valid, "pwd", "")),
    ]
}

#[tokio::test]
async fn garbage_is_refused_and_the_server_keeps_serving() {
    let phone = Phone::new("s3cret", 1.0);
    let case_count = garbage_cases(&encrypt_login(
        &phone.boot().await.login_form().await,
        "x",
        "admin",
        "s3cret",
    ))
    .len();
    for index in 0..case_count {
        // Each case on a fresh boot, so the lockout never hides a later check.
        let client = phone.boot().await;
        let form = client.login_form().await;
        let valid = encrypt_login(&form, &form.session_id, "admin", "s3cret");
        let (what, fields) = garbage_cases(&valid).swap_remove(index);
        let fields: Vec<(&str, &str)> = fields
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let verdict = client.post_login(Some(&form.session_id), &fields).await;
        assert_eq!(authstatus(&verdict), "fail", "{what}");
        // The garbage neither crashed the server nor spoiled the session.
        let verdict = client.send_login(&form.session_id, &valid).await;
        assert_eq!(authstatus(&verdict), "done", "after {what}");
    }

    // No cookie, and a body that is not a form, are refusals as well.
    let client = phone.boot().await;
    let form = client.login_form().await;
    let valid = encrypt_login(&form, &form.session_id, "admin", "s3cret");
    let fields = all_fields(&valid);
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    assert_eq!(authstatus(&client.post_login(None, &fields).await), "fail");
    let response = client
        .http
        .post(format!(
            "{}/servlet?m=mod_listener&p=login&q=login",
            client.base
        ))
        .header(COOKIE, format!("JSESSIONID={}", form.session_id))
        .header("content-type", "application/json")
        .body("{\"pwd\":1}")
        .send()
        .await
        .expect("POST JSON");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        authstatus(&result_info(&response.text().await.expect("body"))),
        "fail"
    );
    // The same session still logs in afterwards.
    assert_eq!(
        authstatus(&client.send_login(&form.session_id, &valid).await),
        "done"
    );
}

#[tokio::test]
async fn status_page_requires_a_logged_in_session() {
    let phone = Phone::new("s3cret", 1.0);
    let client = phone.boot().await;
    let response = client.status(None).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(
        response.headers().get(LOCATION).map(|v| v.to_str().ok()),
        Some(Some(LOGIN_FORM))
    );
    let anonymous = client.login_form().await;
    let response = client.status(Some(&anonymous.session_id)).await;
    assert_eq!(response.status(), StatusCode::FOUND);

    let (session_id, verdict) = client.login("admin", "s3cret").await;
    assert_eq!(authstatus(&verdict), "done");
    let response = client.status(Some(&session_id)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let token = script_var(&response.text().await.expect("status body"), "g_strToken");
    assert!(!token.is_empty());
    // The anonymous session of the same client is still not logged in.
    let response = client.status(Some(&anonymous.session_id)).await;
    assert_eq!(response.status(), StatusCode::FOUND);
}

#[tokio::test]
async fn a_reboot_forgets_sessions_but_keeps_the_key() {
    let phone = Phone::new("s3cret", 1.0);
    let before = phone.boot().await;
    let modulus_before = before.login_form().await.modulus_hex;
    let (session_id, verdict) = before.login("admin", "s3cret").await;
    assert_eq!(authstatus(&verdict), "done");

    let after = phone.boot().await;
    assert_eq!(
        after.status(Some(&session_id)).await.status(),
        StatusCode::FOUND
    );
    assert_eq!(after.login_form().await.modulus_hex, modulus_before);
}

#[tokio::test]
async fn five_failures_lock_the_account() {
    let phone = Phone::new("s3cret", 1.0);
    let client = phone.boot().await;
    for left_times in (0..5).rev() {
        let (_, verdict) = client.login("admin", "guess").await;
        assert_eq!(
            verdict,
            serde_json::json!({ "authstatus": "fail", "leftTimes": left_times })
        );
    }
    // Locked: even the right password is refused.
    let (_, verdict) = client.login("admin", "s3cret").await;
    assert_eq!(
        verdict,
        serde_json::json!({ "authstatus": "fail", "leftTimes": 0 })
    );
    // A power cycle clears the lock with the rest of the RAM.
    let rebooted = phone.boot().await;
    assert_eq!(
        authstatus(&rebooted.login("admin", "s3cret").await.1),
        "done"
    );
}

#[tokio::test]
async fn a_success_restarts_the_failure_count() {
    let phone = Phone::new("s3cret", 1.0);
    let client = phone.boot().await;
    for _ in 0..4 {
        client.login("admin", "guess").await;
    }
    assert_eq!(authstatus(&client.login("admin", "s3cret").await.1), "done");
    let (_, verdict) = client.login("admin", "guess").await;
    assert_eq!(verdict["leftTimes"], 4);
}

#[tokio::test]
async fn the_lock_runs_out_on_the_scaled_clock() {
    // 180 s scaled by 1e-6 is 180 µs: a short sleep outlasts it.
    let phone = Phone::new("s3cret", 1e-6);
    let client = phone.boot().await;
    for _ in 0..5 {
        client.login("admin", "guess").await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(authstatus(&client.login("admin", "s3cret").await.1), "done");
}

#[tokio::test]
async fn other_pages_are_not_found() {
    let phone = Phone::new("s3cret", 1.0);
    let client = phone.boot().await;
    for path in [
        "/",
        "/index.html",
        "/servlet",
        "/servlet?m=mod_data&p=settings&q=load",
        "/servlet?m=mod_listener&p=login&q=login",
    ] {
        let response = client
            .http
            .get(format!("{}{path}", client.base))
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let response = client
        .http
        .put(format!("{}{LOGIN_FORM}", client.base))
        .send()
        .await
        .expect("PUT");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}
