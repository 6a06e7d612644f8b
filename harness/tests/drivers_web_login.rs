//! The web login probe against a small servlet login server written here from the public
//! description of the protocol: it decrypts what the probe sends and checks every part.

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aes::Aes128;
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, KeyIvInit};
use harness::drivers::web::{ConnectFailure, LoginOutcome, WebError, try_login};
use rand::Rng;
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Encrypt, RsaPrivateKey};

const TIMEOUT: Duration = Duration::from_secs(10);

struct Phone {
    key: RsaPrivateKey,
    password: String,
    sessions: Mutex<HashSet<String>>,
    /// Every login request's verdict, with the reason for a refusal.
    verdicts: Mutex<Vec<Result<(), String>>>,
}

/// A loopback address of its own for each test.
fn random_loopback() -> Ipv4Addr {
    let mut rng = rand::thread_rng();
    Ipv4Addr::new(
        127,
        rng.gen_range(1..=254),
        rng.gen_range(0..=255),
        rng.gen_range(1..=254),
    )
}

async fn start_phone(addr: SocketAddr, password: &str) -> (SocketAddr, Arc<Phone>) {
    let phone = Arc::new(Phone {
        // Small keys keep the test fast; the protocol is the same as with a phone's own.
        key: RsaPrivateKey::new(&mut rand::thread_rng(), 1024).unwrap(),
        password: password.to_string(),
        sessions: Mutex::new(HashSet::new()),
        verdicts: Mutex::new(Vec::new()),
    });
    let app = Router::new()
        .route("/servlet", get(form).post(login))
        .with_state(phone.clone());
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let bound = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (bound, phone)
}

async fn form(
    State(phone): State<Arc<Phone>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let wanted = [
        ("m", "mod_listener"),
        ("p", "login"),
        ("q", "loginForm"),
        ("jumpto", "status"),
    ];
    if wanted
        .iter()
        .any(|(k, v)| query.get(*k).map(String::as_str) != Some(*v))
    {
        return StatusCode::NOT_FOUND.into_response();
    }
    let session: String = hex::encode(rand::thread_rng().r#gen::<[u8; 12]>());
    phone.sessions.lock().unwrap().insert(session.clone());
    let page = format!(
        "<html><head><script>\nvar g_phonetype = \"T46G\";\nvar g_rsa_n = \"{}\";\n\
         var g_rsa_e = \"{}\";\n</script></head><body>login</body></html>",
        phone.key.n().to_str_radix(16),
        phone.key.e().to_str_radix(16)
    );
    (
        [(header::SET_COOKIE, format!("JSESSIONID={session}; Path=/"))],
        Html(page),
    )
        .into_response()
}

async fn login(
    State(phone): State<Arc<Phone>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    Form(fields): Form<HashMap<String, String>>,
) -> Response {
    let wanted = [("m", "mod_listener"), ("p", "login"), ("q", "login")];
    if wanted
        .iter()
        .any(|(k, v)| query.get(*k).map(String::as_str) != Some(*v))
        || !query.contains_key("Rajax")
    {
        return StatusCode::NOT_FOUND.into_response();
    }
    let verdict = check(&phone, &headers, &fields);
    let status = if verdict.is_ok() { "done" } else { "error" };
    phone.verdicts.lock().unwrap().push(verdict);
    Html(format!(
        "<html><div id=\"_RES_INFO_\">{{\"authstatus\":\"{status}\"}}</div></html>"
    ))
    .into_response()
}

fn check(
    phone: &Phone,
    headers: &HeaderMap,
    fields: &HashMap<String, String>,
) -> Result<(), String> {
    let cookie = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .ok_or("no cookie")?;
    let session = cookie
        .split(';')
        .find_map(|c| c.trim().strip_prefix("JSESSIONID="))
        .ok_or("no JSESSIONID")?;
    if !phone.sessions.lock().unwrap().contains(session) {
        return Err(format!("unknown session {session}"));
    }
    let field = |name: &str| fields.get(name).ok_or(format!("no field {name}"));
    let rsa_field = |name: &str| -> Result<[u8; 16], String> {
        let cipher = hex::decode(field(name)?).map_err(|e| format!("{name} not hex: {e}"))?;
        let text = phone
            .key
            .decrypt(Pkcs1v15Encrypt, &cipher)
            .map_err(|e| format!("{name} does not decrypt: {e}"))?;
        let text = String::from_utf8(text).map_err(|_| format!("{name} is not text"))?;
        if text.len() != 32 || !text.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')) {
            return Err(format!("{name} is not 32 lowercase hex characters: {text}"));
        }
        Ok(hex::decode(text).unwrap().try_into().unwrap())
    };
    let key = rsa_field("rsakey")?;
    let iv = rsa_field("rsaiv")?;
    let cipher = base64::engine::general_purpose::STANDARD
        .decode(field("pwd")?)
        .map_err(|e| format!("pwd not base64: {e}"))?;
    let mut plain = cbc::Decryptor::<Aes128>::new(&key.into(), &iv.into())
        .decrypt_padded_vec_mut::<NoPadding>(&cipher)
        .map_err(|e| format!("pwd not whole AES blocks: {e}"))?;
    while plain.last() == Some(&0) {
        plain.pop();
    }
    let plain = String::from_utf8(plain).map_err(|_| "pwd is not text".to_string())?;
    let mut parts = plain.splitn(3, ';');
    let (nonce, sid, password) = (parts.next(), parts.next(), parts.next());
    if nonce.is_none_or(str::is_empty) {
        return Err(format!("no random number in {plain:?}"));
    }
    if sid != Some(session) {
        return Err(format!(
            "session in pwd {sid:?} is not the cookie's {session}"
        ));
    }
    if field("username")? != "admin" {
        return Err("wrong user".into());
    }
    if password != Some(phone.password.as_str()) {
        return Err("wrong password".into());
    }
    Ok(())
}

fn base_url(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

#[tokio::test]
async fn accepts_the_right_password() {
    let (addr, phone) = start_phone(SocketAddr::from((random_loopback(), 0)), "admin").await;
    let outcome = try_login(&base_url(addr), "admin", "admin", TIMEOUT)
        .await
        .unwrap();
    assert_eq!(outcome, LoginOutcome::Accepted);
    assert_eq!(*phone.verdicts.lock().unwrap(), vec![Ok(())]);
}

#[tokio::test]
async fn refuses_a_wrong_password() {
    let (addr, phone) = start_phone(SocketAddr::from((random_loopback(), 0)), "Xk9;p=w").await;
    let outcome = try_login(&base_url(addr), "admin", "admin", TIMEOUT)
        .await
        .unwrap();
    assert_eq!(outcome, LoginOutcome::Refused);
    // Refused for the password alone: everything else decrypted and matched.
    assert_eq!(
        *phone.verdicts.lock().unwrap(),
        vec![Err("wrong password".to_string())]
    );

    let outcome = try_login(&base_url(addr), "admin", "Xk9;p=w", TIMEOUT)
        .await
        .unwrap();
    assert_eq!(outcome, LoginOutcome::Accepted);
}

/// An address with nothing listening: bind a port, then let it go.
fn silent_address() -> SocketAddr {
    let listener = std::net::TcpListener::bind((random_loopback(), 0)).unwrap();
    listener.local_addr().unwrap()
}

#[tokio::test]
async fn unreachable_when_nothing_listens() {
    let addr = silent_address();
    let err = try_login(
        &base_url(addr),
        "admin",
        "admin",
        Duration::from_millis(300),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            WebError::Unreachable {
                failure: ConnectFailure::Refused,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
    assert!(err.to_string().contains("connection refused"), "{err}");
}

#[tokio::test]
async fn a_port_that_accepts_and_never_answers_is_a_timeout() {
    let listener = tokio::net::TcpListener::bind((random_loopback(), 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    // Connections complete in the kernel's backlog; nobody ever answers them.
    let err = try_login(
        &base_url(addr),
        "admin",
        "admin",
        Duration::from_millis(300),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            WebError::Unreachable {
                failure: ConnectFailure::TimedOut,
                ..
            }
        ),
        "{err:?}"
    );
    drop(listener);
}

#[tokio::test]
async fn a_connection_dropped_mid_request_is_a_reset() {
    let listener = tokio::net::TcpListener::bind((random_loopback(), 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt as _;
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            // Read part of the request and close: unread bytes make the close a reset.
            let mut byte = [0u8; 1];
            let _ = stream.read(&mut byte).await;
            drop(stream);
        }
    });
    let err = try_login(
        &base_url(addr),
        "admin",
        "admin",
        Duration::from_millis(300),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            WebError::Unreachable {
                failure: ConnectFailure::Reset,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn waits_for_a_phone_that_is_still_booting() {
    let addr = silent_address();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        // Let the probe find nobody a few times first.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (_, phone) = start_phone(addr, "admin").await;
        let _ = started_tx.send(phone);
    });
    let outcome = try_login(&base_url(addr), "admin", "admin", TIMEOUT)
        .await
        .unwrap();
    assert_eq!(outcome, LoginOutcome::Accepted);
    let phone = started_rx.await.unwrap();
    assert_eq!(*phone.verdicts.lock().unwrap(), vec![Ok(())]);
}

#[tokio::test]
async fn a_web_server_without_servlet_login_is_not_taken_for_a_refusal() {
    let listener = tokio::net::TcpListener::bind((random_loopback(), 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route("/servlet", get(|| async { Html("<html>hello</html>") }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let err = try_login(&base_url(addr), "admin", "admin", TIMEOUT)
        .await
        .unwrap_err();
    assert!(matches!(err, WebError::NotALoginForm { .. }), "{err}");

    let listener = tokio::net::TcpListener::bind((random_loopback(), 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, Router::new()).await.unwrap() });
    let err = try_login(&base_url(addr), "admin", "admin", TIMEOUT)
        .await
        .unwrap_err();
    assert!(matches!(err, WebError::Status { status: 404, .. }), "{err}");
}
