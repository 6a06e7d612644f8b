//! A bench's TFTP read while the harness has no file descriptor left: the phone gets a
//! TFTP ERROR, and the bench gets a lab-fault event (the engine ends its case as a lab
//! fault), since the phone did nothing wrong.
//!
//! The test lowers this process's own file limit, so it is the only test of its binary.

mod endpoints_support;

use std::net::UdpSocket;
use std::time::Duration;

use endpoints_support::*;
use harness::endpoints::EndpointEvent;
use harness::lab::Model;

/// Only bounds a wait for the answer.
const RECV_GIVE_UP: Duration = Duration::from_secs(5);

/// Sets the soft limit of open files; returns the previous limits.
fn set_soft_file_limit(soft: libc::rlim_t) -> libc::rlimit {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
        0
    );
    let previous = limit;
    limit.rlim_cur = soft;
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
    previous
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_failed_for_want_of_descriptors_is_a_lab_fault_of_the_bench() {
    let subnet = Subnet::random();
    let phone = subnet.ip(46);
    let endpoints = start(&lab(vec![bench(
        "t46g",
        Model::T46G,
        "00:15:65:00:00:46",
        phone,
    )]))
    .await;
    let sources = tempfile::tempdir().unwrap();
    let rom = sources.path().join("image.rom");
    std::fs::write(&rom, vec![1u8; 10_000]).unwrap();
    endpoints
        .stage_recovery("t46g", &[("T46G.rom".into(), rom)])
        .unwrap();
    let mut events = endpoints.bus.subscribe();
    let server = endpoints.addrs.tftp;
    let client = UdpSocket::bind((phone, 0)).unwrap();
    client.set_read_timeout(Some(RECV_GIVE_UP)).unwrap();

    // Descriptors 0-2 are always open: with a limit of 3, no new one can be made, while
    // every socket already open keeps working.
    let previous = set_soft_file_limit(3);
    let sent = client.send_to(b"\x00\x01T46G.rom\x00octet\x00", server);
    let mut buffer = [0u8; 512];
    let answer = client.recv_from(&mut buffer);
    set_soft_file_limit(previous.rlim_cur);
    sent.unwrap();
    let (len, _) = answer.expect("no answer while out of descriptors");
    assert_eq!(
        &buffer[..4],
        &[0, 5, 0, 0],
        "not an ERROR 0: {:?}",
        &buffer[..len]
    );
    assert_eq!(&buffer[4..len - 1], b"Server out of resources");

    let mut fault = None;
    let mut refused = None;
    while fault.is_none() || refused.is_none() {
        let event = next_event(&mut events).await;
        match &event.event {
            EndpointEvent::LabFault { .. } => fault = Some(event),
            EndpointEvent::Tftp { .. } => refused = Some(event),
            _ => {}
        }
    }
    let fault = fault.unwrap();
    assert_eq!(fault.bench.as_deref(), Some("t46g"));
    let reason = fault.event.lab_fault().unwrap();
    assert!(
        reason.starts_with("the lab's TFTP recovery server failed: read of \"T46G.rom\"")
            && reason.contains("out of files"),
        "{reason}"
    );
    match &refused.unwrap().event {
        EndpointEvent::Tftp { error, bytes, .. } => {
            assert_eq!(error.as_deref(), Some("Server out of resources"));
            assert_eq!(*bytes, 0);
        }
        _ => unreachable!(),
    }

    // With descriptors again, the same phone is served.
    client
        .send_to(b"\x00\x01T46G.rom\x00octet\x00", server)
        .unwrap();
    let (_, _) = client.recv_from(&mut buffer).unwrap();
    assert_eq!(
        &buffer[..4],
        &[0, 3, 0, 1],
        "not served after the limit was lifted"
    );
    endpoints.shutdown().await;
}
