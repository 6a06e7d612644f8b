//! The phone's SIP registration: RFC 3261 REGISTER over UDP from `ip:5060`, retransmitted
//! with the non-INVITE client timers until a final answer or the give-up time.

use std::net::SocketAddr;
use std::time::Duration;

use rand::Rng;
use tokio::net::UdpSocket;

use super::model::Model;
use super::net::{Net, NetError};

/// The phone's SIP port (every phone has its own address, so they never collide).
pub const SIP_PORT: u16 = 5060;

/// The REGISTER's `User-Agent`: `Yealink SIP-<MODEL> <version>` (R1). Yealink's own SIP
/// traces show it without the MAC the HTTP User-Agent ends with (P4), so a registrar that
/// keyed on the MAC there would never see one.
pub fn user_agent(model: Model, version: &str) -> String {
    format!("Yealink SIP-{model} {version}")
}

/// Retransmission timers of one REGISTER transaction (RFC 3261 17.1.2.2, scaled).
#[derive(Debug, Clone, Copy)]
pub struct Timers {
    /// First retransmission interval (T1).
    pub t1: Duration,
    /// Interval cap (T2).
    pub t2: Duration,
    /// How many times the request is sent before the phone gives up.
    pub transmissions: u32,
}

impl Timers {
    /// The intervals after each transmission: T1 doubling up to T2; the last one is the
    /// wait for an answer to the final transmission.
    pub fn intervals(&self) -> Vec<Duration> {
        (0..self.transmissions)
            .map(|i| (self.t1 * 2u32.saturating_pow(i)).min(self.t2))
            .collect()
    }
}

/// How a REGISTER transaction ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx: registered for the granted time.
    Registered {
        /// Expires the registrar granted.
        expires_s: u32,
    },
    /// A final non-2xx answer (403, 404, ...).
    Refused {
        /// Status code.
        status: u16,
        /// Reason phrase.
        reason: String,
    },
    /// No final answer to any transmission.
    NoAnswer,
}

/// The dialog-like state of the phone's registration: one Call-ID for the whole boot, the
/// CSeq counting up with each refresh (RFC 3261 10.2.4).
pub struct Registration {
    socket: UdpSocket,
    registrar: SocketAddr,
    registrar_host: String,
    registrar_port: u16,
    user: String,
    user_agent: String,
    expires_s: u32,
    call_id: String,
    from_tag: String,
    cseq: u32,
}

/// What the phone reads from a SIP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipResponse {
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// The top Via's branch.
    pub branch: Option<String>,
    /// Call-ID header.
    pub call_id: Option<String>,
    /// CSeq number.
    pub cseq: Option<u32>,
    /// Expires header.
    pub expires: Option<u32>,
    /// The `expires` parameter of the first Contact.
    pub contact_expires: Option<u32>,
}

impl Registration {
    /// Opens the phone's SIP socket for a registration of `user` at the registrar.
    pub async fn open(
        net: &Net,
        registrar_host: &str,
        registrar_port: u16,
        user: &str,
        user_agent: &str,
        expires_s: u32,
    ) -> Result<Registration, NetError> {
        let registrar = net.resolve(registrar_host, registrar_port).await?;
        let socket = net.udp(SIP_PORT).await?;
        let mut rng = rand::thread_rng();
        Ok(Registration {
            socket,
            registrar,
            registrar_host: registrar_host.to_owned(),
            registrar_port,
            user: user.to_owned(),
            user_agent: user_agent.to_owned(),
            expires_s,
            call_id: format!("{:016x}@{}", rng.r#gen::<u64>(), net.ip()),
            from_tag: format!("{:08x}", rng.r#gen::<u32>()),
            cseq: 0,
        })
    }

    /// The REGISTER text for the current CSeq and `branch`.
    pub fn request(&self, local_ip: std::net::Ipv4Addr, branch: &str) -> String {
        let domain = if self.registrar_port == SIP_PORT {
            self.registrar_host.clone()
        } else {
            format!("{}:{}", self.registrar_host, self.registrar_port)
        };
        let user = &self.user;
        format!(
            "REGISTER sip:{domain} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local_ip}:{SIP_PORT};branch={branch};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{user}@{domain}>;tag={tag}\r\n\
             To: <sip:{user}@{domain}>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} REGISTER\r\n\
             Contact: <sip:{user}@{local_ip}:{SIP_PORT}>\r\n\
             Expires: {expires}\r\n\
             User-Agent: {ua}\r\n\
             Content-Length: 0\r\n\r\n",
            tag = self.from_tag,
            call_id = self.call_id,
            cseq = self.cseq,
            expires = self.expires_s,
            ua = self.user_agent,
        )
    }

    /// Runs one REGISTER transaction: sends, retransmits, and waits for its final answer.
    pub async fn register(&mut self, net: &Net, timers: Timers) -> Result<Outcome, NetError> {
        self.cseq += 1;
        let branch = format!("z9hG4bK{:016x}", rand::thread_rng().r#gen::<u64>());
        let request = self.request(net.ip(), &branch);
        let mut buf = vec![0u8; 8192];
        for interval in timers.intervals() {
            net.send_to(&self.socket, request.as_bytes(), self.registrar)
                .await?;
            let deadline = tokio::time::Instant::now() + interval;
            loop {
                let received = tokio::select! {
                    received = tokio::time::timeout_at(deadline, self.socket.recv_from(&mut buf)) => received,
                    () = net.until_offline() => return Err(NetError::Offline),
                };
                let Ok(received) = received else {
                    break; // this interval is over: retransmit
                };
                let Ok((len, _from)) = received else {
                    continue; // ICMP unreachable surfaces here; keep waiting as a phone does
                };
                let Some(response) = parse_response(&buf[..len]) else {
                    continue;
                };
                if response.branch.as_deref() != Some(branch.as_str())
                    || response.call_id.as_deref() != Some(self.call_id.as_str())
                    || response.cseq != Some(self.cseq)
                    || response.status < 200
                {
                    continue;
                }
                if response.status < 300 {
                    let expires_s = response
                        .contact_expires
                        .or(response.expires)
                        .unwrap_or(self.expires_s);
                    return Ok(Outcome::Registered { expires_s });
                }
                return Ok(Outcome::Refused {
                    status: response.status,
                    reason: response.reason,
                });
            }
        }
        Ok(Outcome::NoAnswer)
    }
}

/// Parses a SIP response's status line and the headers the phone uses.
pub fn parse_response(bytes: &[u8]) -> Option<SipResponse> {
    let text = std::str::from_utf8(bytes).ok()?;
    let head = text.split("\r\n\r\n").next()?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let rest = status_line.strip_prefix("SIP/2.0 ")?;
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    let status = code.parse().ok()?;
    let mut response = SipResponse {
        status,
        reason: reason.to_owned(),
        branch: None,
        call_id: None,
        cseq: None,
        expires: None,
        contact_expires: None,
    };
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "via" | "v" if response.branch.is_none() => {
                response.branch = param(value, "branch");
            }
            "call-id" | "i" => response.call_id = Some(value.to_owned()),
            "cseq" => {
                response.cseq = value.split_whitespace().next().and_then(|n| n.parse().ok());
            }
            "expires" => response.expires = value.parse().ok(),
            "contact" | "m" if response.contact_expires.is_none() => {
                response.contact_expires = param(value, "expires").and_then(|e| e.parse().ok());
            }
            _ => {}
        }
    }
    Some(response)
}

/// A `;name=value` parameter of a header value (outside any `<...>` URI).
fn param(value: &str, name: &str) -> Option<String> {
    let after_uri = value.rsplit_once('>').map_or(value, |(_, rest)| rest);
    after_uri.split(';').skip(1).find_map(|p| {
        let (key, val) = p.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| val.trim().split(',').next().unwrap_or("").to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sip_user_agent_names_model_and_version_but_no_mac() {
        assert_eq!(
            user_agent(Model::T46G, "28.82.0.20"),
            "Yealink SIP-T46G 28.82.0.20"
        );
    }

    #[test]
    fn intervals_double_from_t1_up_to_t2() {
        let timers = Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            transmissions: 7,
        };
        let ms: Vec<u128> = timers.intervals().iter().map(Duration::as_millis).collect();
        assert_eq!(ms, vec![500, 1000, 2000, 4000, 4000, 4000, 4000]);
    }

    #[test]
    fn a_200_with_contact_expires_is_read() {
        let text = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.40:5060;branch=z9hG4bKabc;rport=5060\r\nCall-ID: x@y\r\nCSeq: 2 REGISTER\r\nContact: <sip:100@127.0.0.40:5060>;expires=1800\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n";
        let r = parse_response(text.as_bytes()).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.reason, "OK");
        assert_eq!(r.branch.as_deref(), Some("z9hG4bKabc"));
        assert_eq!(r.call_id.as_deref(), Some("x@y"));
        assert_eq!(r.cseq, Some(2));
        assert_eq!(r.expires, Some(3600));
        assert_eq!(r.contact_expires, Some(1800));
    }

    #[test]
    fn requests_are_not_responses() {
        assert_eq!(parse_response(b"REGISTER sip:x SIP/2.0\r\n\r\n"), None);
        let r = parse_response(b"SIP/2.0 403 Forbidden\r\n\r\n").unwrap();
        assert_eq!((r.status, r.reason.as_str()), (403, "Forbidden"));
    }
}
