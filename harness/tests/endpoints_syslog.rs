//! The syslog collector over real UDP, from sockets bound to the benches' addresses.

mod endpoints_support;

use endpoints_support::*;
use harness::endpoints::EndpointEvent;
use harness::lab::Model;

fn syslog_fields(event: &EndpointEvent) -> (u8, u8, &str) {
    match event {
        EndpointEvent::Syslog {
            facility,
            severity,
            message,
            ..
        } => (*facility, *severity, message),
        other => panic!("expected a syslog event, got {other:?}"),
    }
}

#[tokio::test]
async fn both_rfcs_and_junk_are_collected_in_order() {
    let subnet = Subnet::random();
    let phone_ip = subnet.ip(48);
    let lab = lab(vec![bench(
        "t48g",
        Model::T48G,
        "00:15:65:00:00:48",
        phone_ip,
    )]);
    let endpoints = start(&lab).await;
    let mut events = endpoints.bus.subscribe();
    let phone = udp_from(phone_ip).await;
    let collector = endpoints.addrs.syslog;

    let datagrams: [&[u8]; 4] = [
        b"<134>Mar  5 09:01:02 t48g ipvp[42]: Registered account 1\n",
        b"<11>1 2024-03-05T09:01:02.003Z t48g sipd 42 REG [meta seq=\"1\"] register failed",
        b"no priority at all",
        b"<999>out of range\xff",
    ];
    for datagram in datagrams {
        phone.send_to(datagram, collector).await.unwrap();
    }
    let mut seen = Vec::new();
    for _ in 0..datagrams.len() {
        seen.push(next_event(&mut events).await);
    }
    assert!(seen.iter().all(|e| e.bench.as_deref() == Some("t48g")));
    assert!(seen.iter().all(|e| e.event.client().ip() == phone_ip));
    assert_eq!(
        syslog_fields(&seen[0].event),
        (16, 6, "ipvp[42]: Registered account 1")
    );
    assert_eq!(
        syslog_fields(&seen[1].event),
        (1, 3, "sipd: register failed")
    );
    assert_eq!(syslog_fields(&seen[2].event), (1, 5, "no priority at all"));
    assert_eq!(
        syslog_fields(&seen[3].event),
        (1, 5, "<999>out of range\u{fffd}")
    );

    // A sender that is no bench is collected, untagged.
    let stranger = udp_from(subnet.ip(250)).await;
    stranger
        .send_to(b"<13>Jan 10 00:00:00 pc app: hi", collector)
        .await
        .unwrap();
    let event = next_event(&mut events).await;
    assert_eq!(event.bench, None);
    assert_eq!(syslog_fields(&event.event), (1, 5, "app: hi"));
}
