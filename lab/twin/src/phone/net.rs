//! The phone's network interface: every request leaves from the phone's own address, and
//! nothing leaves while the phone has no IP address (cable pulled, DHCP not done).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use thiserror::Error;
use tokio::net::UdpSocket;
use tokio::sync::watch;

/// Why a network action of the phone did not happen.
#[derive(Debug, Error)]
pub enum NetError {
    /// No IP address: the cable is pulled or DHCP has not finished.
    #[error("no network: the cable is pulled or the phone has no IP address yet")]
    Offline,
    /// The HTTP request failed below HTTP (refused, reset, timed out).
    #[error("HTTP request to {url} failed: {reason} (check the server is up on that address)")]
    Http {
        /// The URL asked for.
        url: String,
        /// The transport error.
        reason: String,
    },
    /// A host name did not resolve to an IPv4 address.
    #[error("cannot resolve {host}: use an IPv4 address or a name the lab host resolves")]
    Resolve {
        /// The name.
        host: String,
    },
    /// A socket could not be bound to the phone's address.
    #[error("cannot use {addr}: {source} (is another process bound to the phone's address?)")]
    Socket {
        /// The local address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The HTTP client could not be built for the phone's address.
    #[error("HTTP client for {ip} cannot be built: {reason}")]
    Client {
        /// The phone's address.
        ip: Ipv4Addr,
        /// Why.
        reason: String,
    },
}

/// An HTTP answer: status and body.
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// The whole body.
    pub body: Vec<u8>,
}

/// The phone's network interface for one boot (the User-Agent carries the running version).
#[derive(Clone)]
pub struct Net {
    ip: Ipv4Addr,
    online: watch::Receiver<bool>,
    http: reqwest::Client,
}

impl Net {
    /// An interface on `ip` that is usable while `online` says so.
    pub fn new(
        ip: Ipv4Addr,
        user_agent: &str,
        http_timeout: Duration,
        online: watch::Receiver<bool>,
    ) -> Result<Net, NetError> {
        let http = reqwest::Client::builder()
            .local_address(IpAddr::V4(ip))
            .user_agent(user_agent)
            .no_proxy()
            .timeout(http_timeout)
            // A fresh connection per file, as the phone's provisioning client does; a pooled
            // connection would also outlive a pulled cable.
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| NetError::Client {
                ip,
                reason: e.to_string(),
            })?;
        Ok(Net { ip, online, http })
    }

    /// The phone's own address.
    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }

    /// Whether the phone has an IP address right now.
    pub fn is_online(&self) -> bool {
        *self.online.borrow()
    }

    /// A GET that fails at once without a network and is cut off when the cable is pulled.
    pub async fn get(&self, url: &str) -> Result<Response, NetError> {
        if !self.is_online() {
            return Err(NetError::Offline);
        }
        let request = async {
            let http_error = |e: reqwest::Error| NetError::Http {
                url: url.to_owned(),
                reason: e.to_string(),
            };
            let response = self.http.get(url).send().await.map_err(http_error)?;
            let status = response.status().as_u16();
            let body = response.bytes().await.map_err(http_error)?;
            Ok(Response {
                status,
                body: body.to_vec(),
            })
        };
        tokio::select! {
            result = request => result,
            () = self.until_offline() => Err(NetError::Offline),
        }
    }

    /// A UDP socket on the phone's address (`port` 0 for any).
    pub async fn udp(&self, port: u16) -> Result<UdpSocket, NetError> {
        let addr = SocketAddr::new(IpAddr::V4(self.ip), port);
        UdpSocket::bind(addr)
            .await
            .map_err(|source| NetError::Socket { addr, source })
    }

    /// Sends a datagram if the phone is online; a phone without a network sends nothing.
    pub async fn send_to(
        &self,
        socket: &UdpSocket,
        bytes: &[u8],
        to: SocketAddr,
    ) -> Result<(), NetError> {
        if !self.is_online() {
            return Err(NetError::Offline);
        }
        socket
            .send_to(bytes, to)
            .await
            .map(drop)
            .map_err(|source| NetError::Socket { addr: to, source })
    }

    /// Resolves `host:port` to an IPv4 address, as the phone's resolver would.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<SocketAddr, NetError> {
        if let Ok(ip) = host.parse::<Ipv4Addr>() {
            return Ok(SocketAddr::new(IpAddr::V4(ip), port));
        }
        if !self.is_online() {
            return Err(NetError::Offline);
        }
        let unresolved = || NetError::Resolve {
            host: host.to_owned(),
        };
        tokio::net::lookup_host((host, port))
            .await
            .map_err(|_| unresolved())?
            .find(SocketAddr::is_ipv4)
            .ok_or_else(unresolved)
    }

    /// Completes when the phone loses its IP address (never, if the bench is torn down).
    pub async fn until_offline(&self) {
        let mut online = self.online.clone();
        while *online.borrow_and_update() {
            if online.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}
