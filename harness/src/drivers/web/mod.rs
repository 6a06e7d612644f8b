//! The phone's own web UI, as a lab observes it from the network.

pub mod servlet_login;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::lab::{Bench, WebLogin};

pub use servlet_login::{ConnectFailure, LoginOutcome, WebError, try_login};

/// A future boxed so [`PhoneWeb`] can be used as a trait object.
pub type WebFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The web UI of one bench's phone: whether it accepts a password is what shows that a
/// reset worked (admin/admin) or did not.
pub trait PhoneWeb: Send + Sync {
    /// Log in with `username`/`password`, retrying the connection until `timeout` passes
    /// (already scaled by the lab's time scale) since the phone may still be booting.
    fn login<'a>(
        &'a self,
        username: &'a str,
        password: &'a str,
        timeout: Duration,
    ) -> WebFuture<'a, Result<LoginOutcome, WebError>>;

    /// Where the web UI is, for transcripts and messages.
    fn base_url(&self) -> &str;
}

/// The servlet login of T4x firmware, spoken over HTTP to the bench's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServletWeb {
    base_url: String,
}

impl ServletWeb {
    /// The web UI at `base_url` (`http://ip:port`).
    pub fn new(base_url: impl Into<String>) -> Self {
        ServletWeb {
            base_url: base_url.into(),
        }
    }

    /// The web UI of a bench's phone: its `ip` and `web_port` from the lab file.
    pub fn for_bench(bench: &Bench) -> Self {
        ServletWeb::new(format!("http://{}:{}", bench.ip, bench.web_port))
    }
}

impl PhoneWeb for ServletWeb {
    fn login<'a>(
        &'a self,
        username: &'a str,
        password: &'a str,
        timeout: Duration,
    ) -> WebFuture<'a, Result<LoginOutcome, WebError>> {
        Box::pin(try_login(&self.base_url, username, password, timeout))
    }

    fn base_url(&self) -> &str {
        &self.base_url
    }
}

/// The web UI of a bench's phone, spoken the way its model logs in (the table of models).
pub fn phone_web(bench: &Bench) -> Box<dyn PhoneWeb> {
    match bench.model.web_login() {
        WebLogin::Servlet => Box::new(ServletWeb::for_bench(bench)),
    }
}
