//! What the lab's HTTP endpoints know of a request beyond axum's extractors: both ends of
//! the TCP connection (the phone's address tags the event; the local address is what the
//! phone reached, for URLs in configs when the server listens on every interface) and the
//! event every request produces.

use std::net::{Ipv4Addr, SocketAddr};

use axum::extract::connect_info::Connected;
use axum::http::{HeaderMap, Method, Uri, header};
use axum::serve::IncomingStream;
use tokio::net::TcpListener;

use super::directory::canonical_client;
use super::events::{EndpointEvent, HttpServer};

/// Both ends of the connection a request came on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Connection {
    /// The phone's address.
    pub remote: SocketAddr,
    /// The server address the phone connected to.
    pub local: SocketAddr,
}

impl Connected<IncomingStream<'_, TcpListener>> for Connection {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Self {
        // The local address of an accepted socket only fails to read if the socket is
        // already gone; the request will fail anyway, so any placeholder does.
        let local = stream
            .io()
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)));
        Connection {
            remote: canonical_client(*stream.remote_addr()),
            local,
        }
    }
}

/// The address a phone must use to reach a server bound at `bound`: the bound address,
/// unless that is a wildcard, then the interface address this phone reached us on.
pub fn reachable_addr(bound: SocketAddr, via: &Connection) -> SocketAddr {
    if bound.ip().is_unspecified() {
        SocketAddr::new(via.local.ip(), bound.port())
    } else {
        bound
    }
}

/// The part of an HTTP event known before the answer is decided.
#[derive(Clone, Debug)]
pub struct RequestSeen {
    /// Which of the lab's HTTP servers saw it.
    pub server: HttpServer,
    /// The phone's address.
    pub client: SocketAddr,
    /// `GET`, `POST`, ...
    pub method: String,
    /// Without the query string: configs are identified by path alone.
    pub path: String,
    /// Names the phone's model, firmware version and MAC.
    pub user_agent: Option<String>,
}

impl RequestSeen {
    /// Captures what the transcript needs of a request.
    pub fn new(
        server: HttpServer,
        connection: &Connection,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> RequestSeen {
        RequestSeen {
            server,
            client: connection.remote,
            method: method.as_str().to_owned(),
            path: uri.path().to_owned(),
            user_agent: headers
                .get(header::USER_AGENT)
                .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned()),
        }
    }

    /// The event for this request once its answer is decided.
    pub fn answered(self, status: u16, bytes: u64, note: Option<String>) -> EndpointEvent {
        EndpointEvent::Http {
            server: self.server,
            client: self.client,
            method: self.method,
            path: self.path,
            user_agent: self.user_agent,
            status,
            bytes,
            note,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_binds_advertise_the_interface_the_phone_reached() {
        let via = Connection {
            remote: "192.0.2.9:40000".parse().unwrap(),
            local: "192.0.2.1:8080".parse().unwrap(),
        };
        let wildcard: SocketAddr = "0.0.0.0:5060".parse().unwrap();
        assert_eq!(
            reachable_addr(wildcard, &via),
            "192.0.2.1:5060".parse().unwrap()
        );
        let fixed: SocketAddr = "127.0.0.1:5060".parse().unwrap();
        assert_eq!(reachable_addr(fixed, &via), fixed);
    }
}
