//! The SIP registrar over real UDP, from sockets bound to the benches' addresses.

mod endpoints_support;

use std::net::{Ipv4Addr, SocketAddr};

use endpoints_support::*;
use harness::endpoints::{EndpointEvent, Endpoints};
use harness::lab::Model;
use harness::scenario::AccountState;
use tokio::net::UdpSocket;

const MAC_T42G: &str = "001565000042";
const MAC_T46S: &str = "001565000146";
const UA: &str = "Yealink SIP-T42G 29.83.0.120";

struct Rig {
    endpoints: Endpoints,
    phone: UdpSocket,
    phone_ip: Ipv4Addr,
    registrar: SocketAddr,
}

async fn rig() -> Rig {
    let subnet = Subnet::random();
    let phone_ip = subnet.ip(42);
    let lab = lab(vec![
        bench("t42g", Model::T42G, MAC_T42G, phone_ip),
        bench("t46s", Model::T46S, MAC_T46S, subnet.ip(146)),
    ]);
    let endpoints = start(&lab).await;
    let registrar = endpoints.addrs.sip;
    Rig {
        endpoints,
        phone: udp_from(phone_ip).await,
        phone_ip,
        registrar,
    }
}

impl Rig {
    async fn exchange(&self, request: &str) -> String {
        self.phone
            .send_to(request.as_bytes(), self.registrar)
            .await
            .unwrap();
        recv_text(&self.phone).await
    }

    fn set(&self, bench: &str, state: AccountState) {
        self.endpoints
            .accounts
            .set(bench, account(state, "pw", "http://x/"));
    }
}

/// A REGISTER for `user` with extra header lines (each ending in CRLF).
fn register(user: &str, call_id: &str, extra: &str) -> String {
    format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.42:5060;branch=z9hG4bK{call_id}\r\n\
         From: <sip:{user}@127.0.0.1>;tag=f{call_id}\r\n\
         To: <sip:{user}@127.0.0.1>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 REGISTER\r\n\
         Contact: <sip:{user}@127.0.0.42:5060>\r\n\
         Max-Forwards: 70\r\n\
         User-Agent: {UA}\r\n\
         {extra}\
         Content-Length: 0\r\n\r\n"
    )
}

fn status_line(answer: &str) -> &str {
    answer.split("\r\n").next().unwrap()
}

fn header<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    answer
        .split("\r\n")
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(": "))
}

#[tokio::test]
async fn register_is_answered_per_account_state() {
    let rig = rig().await;
    let mut events = rig.endpoints.bus.subscribe();

    rig.set("t42g", AccountState::Active);
    let ok = rig
        .exchange(&register(MAC_T42G, "a1", "Expires: 600\r\n"))
        .await;
    assert_eq!(status_line(&ok), "SIP/2.0 200 OK");
    assert_eq!(
        header(&ok, "Contact"),
        Some("<sip:001565000042@127.0.0.42:5060>")
    );
    assert_eq!(header(&ok, "Expires"), Some("600"));
    assert_eq!(header(&ok, "Call-ID"), Some("a1"));
    assert_eq!(header(&ok, "CSeq"), Some("1 REGISTER"));
    assert_eq!(header(&ok, "Server"), Some("yealink-lab-registrar"));
    assert_eq!(header(&ok, "Content-Length"), Some("0"));
    let to = header(&ok, "To").unwrap();
    assert!(to.starts_with("<sip:001565000042@127.0.0.1>;tag="), "{to}");

    // Lifetime: capped, defaulted, or taken from the Contact parameter.
    let capped = rig
        .exchange(&register(MAC_T42G, "a2", "Expires: 100000\r\n"))
        .await;
    assert_eq!(header(&capped, "Expires"), Some("86400"));
    let default = rig.exchange(&register(MAC_T42G, "a3", "")).await;
    assert_eq!(header(&default, "Expires"), Some("3600"));
    let contact_param = register(MAC_T42G, "a4", "").replace(
        "Contact: <sip:001565000042@127.0.0.42:5060>",
        "Contact: <sip:001565000042@127.0.0.42:5060>;expires=120",
    );
    assert_eq!(
        header(&rig.exchange(&contact_param).await, "Expires"),
        Some("120")
    );

    rig.set("t42g", AccountState::Cancelled);
    let cancelled = rig
        .exchange(&register(MAC_T42G, "b1", "Expires: 600\r\n"))
        .await;
    assert_eq!(status_line(&cancelled), "SIP/2.0 403 Forbidden");
    assert_eq!(header(&cancelled, "Expires"), None);
    rig.set("t42g", AccountState::V2);
    let v2 = rig.exchange(&register(MAC_T42G, "b2", "")).await;
    assert_eq!(status_line(&v2), "SIP/2.0 403 Forbidden");
    let unknown = rig.exchange(&register("001565ffffff", "b3", "")).await;
    assert_eq!(status_line(&unknown), "SIP/2.0 404 Not Found");
    // A bench of the lab whose account was never set is unknown to the platform too.
    let no_account = rig.exchange(&register(MAC_T46S, "b4", "")).await;
    assert_eq!(status_line(&no_account), "SIP/2.0 404 Not Found");

    let seen = published(&mut events);
    let summary: Vec<_> = seen
        .iter()
        .map(|tagged| match &tagged.event {
            EndpointEvent::Register {
                user,
                status,
                expires,
                user_agent,
                client,
                ..
            } => {
                assert_eq!(client.ip(), rig.phone_ip);
                assert_eq!(user_agent.as_deref(), Some(UA));
                (
                    tagged.bench.clone().unwrap(),
                    user.clone(),
                    *status,
                    *expires,
                )
            }
            other => panic!("{other:?}"),
        })
        .collect();
    let t42g = |status, expires| ("t42g".to_owned(), MAC_T42G.to_owned(), status, expires);
    assert_eq!(
        summary,
        [
            t42g(200, 600),
            t42g(200, 86400),
            t42g(200, 3600),
            t42g(200, 120),
            t42g(403, 0),
            t42g(403, 0),
            ("t42g".to_owned(), "001565ffffff".to_owned(), 404, 0),
            ("t42g".to_owned(), MAC_T46S.to_owned(), 404, 0),
        ]
    );
    let EndpointEvent::Register { reason, .. } = &seen[4].event else {
        unreachable!()
    };
    assert_eq!(reason, "Forbidden");
}

#[tokio::test]
async fn compact_headers_and_via_chains_are_copied() {
    let rig = rig().await;
    rig.set("t42g", AccountState::Active);
    let mut events = rig.endpoints.bus.subscribe();
    let request = "REGISTER sip:127.0.0.1 SIP/2.0\r\n\
                   v: SIP/2.0/UDP 127.0.0.42:5060;branch=z9hG4bKtop\r\n\
                   v: SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bKlow\r\n\
                   f: \"Desk\" <sip:001565000042@127.0.0.1>;tag=77\r\n\
                   t: \"Desk\" <sip:001565000042@127.0.0.1>;tag=already\r\n\
                   i: compact-1\r\n\
                   CSeq: 9 REGISTER\r\n\
                   m: <sip:001565000042@127.0.0.42>\r\n\
                   Expires: 30\r\n\
                   l: 0\r\n\r\n";
    let answer = rig.exchange(request).await;
    let lines: Vec<&str> = answer.split("\r\n").collect();
    assert_eq!(lines[0], "SIP/2.0 200 OK");
    assert_eq!(
        lines[1],
        "Via: SIP/2.0/UDP 127.0.0.42:5060;branch=z9hG4bKtop"
    );
    assert_eq!(lines[2], "Via: SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bKlow");
    assert_eq!(
        lines[3],
        "From: \"Desk\" <sip:001565000042@127.0.0.1>;tag=77"
    );
    // A To that already has a tag keeps it, unchanged.
    assert_eq!(
        lines[4],
        "To: \"Desk\" <sip:001565000042@127.0.0.1>;tag=already"
    );
    assert_eq!(header(&answer, "Call-ID"), Some("compact-1"));
    assert_eq!(header(&answer, "CSeq"), Some("9 REGISTER"));
    assert_eq!(
        header(&answer, "Contact"),
        Some("<sip:001565000042@127.0.0.42>")
    );
    assert_eq!(header(&answer, "Expires"), Some("30"));
    let event = next_event(&mut events).await;
    assert_eq!(event.bench.as_deref(), Some("t42g"));
    assert!(matches!(
        event.event,
        EndpointEvent::Register {
            status: 200,
            expires: 30,
            ..
        }
    ));
}

#[tokio::test]
async fn options_and_other_methods() {
    let rig = rig().await;
    let mut events = rig.endpoints.bus.subscribe();
    let options = register(MAC_T42G, "o1", "")
        .replace("REGISTER sip:127.0.0.1", "OPTIONS sip:127.0.0.1")
        .replace("CSeq: 1 REGISTER", "CSeq: 1 OPTIONS");
    let answer = rig.exchange(&options).await;
    assert_eq!(status_line(&answer), "SIP/2.0 200 OK");
    assert_eq!(header(&answer, "Allow"), Some("REGISTER, OPTIONS"));

    let invite = register(MAC_T42G, "i1", "")
        .replace("REGISTER sip:127.0.0.1", "INVITE sip:100@127.0.0.1")
        .replace("CSeq: 1 REGISTER", "CSeq: 1 INVITE");
    let answer = rig.exchange(&invite).await;
    assert_eq!(status_line(&answer), "SIP/2.0 405 Method Not Allowed");
    assert_eq!(header(&answer, "Allow"), Some("REGISTER, OPTIONS"));
    assert_eq!(header(&answer, "Call-ID"), Some("i1"));
    // Neither is a REGISTER: nothing for the transcript.
    assert!(published(&mut events).is_empty());
}

#[tokio::test]
async fn malformed_datagrams_never_stop_the_registrar() {
    let rig = rig().await;
    rig.set("t42g", AccountState::Active);
    let mut events = rig.endpoints.bus.subscribe();

    // Addressable but incomplete: answered 400 naming what is missing.
    let no_call_id = register(MAC_T42G, "m1", "").replace("Call-ID: m1\r\n", "");
    let answer = rig.exchange(&no_call_id).await;
    assert_eq!(status_line(&answer), "SIP/2.0 400 Bad Request");
    assert_eq!(
        header(&answer, "Warning"),
        Some("399 yealink-lab-registrar \"missing Call-ID header\"")
    );
    assert_eq!(header(&answer, "CSeq"), Some("1 REGISTER"));
    let bad_cseq = register(MAC_T42G, "m2", "").replace("CSeq: 1 REGISTER", "CSeq: 1 INVITE");
    assert_eq!(
        status_line(&rig.exchange(&bad_cseq).await),
        "SIP/2.0 400 Bad Request"
    );

    // Not addressable or not SIP: dropped. Each is followed by nothing but the answer to
    // the next good request, which proves no answer was sent and the server kept going.
    let junk: [&[u8]; 5] = [
        b"\xff\xfe\x00\x01 binary noise",
        b"hello registrar",
        b"\r\n\r\n",
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP x\r\n\r\n",
        b"REGISTER sip:127.0.0.1 SIP/2.0\r\nFrom: <sip:a@b>\r\nCall-ID: 1\r\n\r\n",
    ];
    for (index, datagram) in junk.iter().enumerate() {
        rig.phone.send_to(datagram, rig.registrar).await.unwrap();
        let call_id = format!("after-{index}");
        let answer = rig.exchange(&register(MAC_T42G, &call_id, "")).await;
        assert_eq!(status_line(&answer), "SIP/2.0 200 OK");
        assert_eq!(header(&answer, "Call-ID"), Some(call_id.as_str()));
    }

    let statuses: Vec<u16> = published(&mut events)
        .iter()
        .map(|tagged| match &tagged.event {
            EndpointEvent::Register { status, .. } => *status,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(statuses, [400, 400, 200, 200, 200, 200, 200]);
}
