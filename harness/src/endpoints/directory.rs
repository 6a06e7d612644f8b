//! Which bench a client or a SIP user is: endpoints see only addresses and MACs, while
//! transcripts and accounts are kept per bench.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use crate::lab::{Bench, Lab, Mac, Model};

use super::events::{EndpointEvent, EventBus, TaggedEvent};

/// What an endpoint needs to know about one bench.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchEntry {
    /// The bench name: the key of accounts and of event tags.
    pub name: String,
    /// The phone's model.
    pub model: Model,
    /// The phone's MAC: its SIP user and its config file name.
    pub mac: Mac,
}

/// Bench lookups by client IP and by MAC, built once from the lab.
#[derive(Debug, Clone, Default)]
pub struct BenchDirectory {
    by_ip: HashMap<IpAddr, String>,
    by_mac: HashMap<Mac, BenchEntry>,
}

impl BenchDirectory {
    /// Indexes every bench of the lab.
    pub fn new(lab: &Lab) -> BenchDirectory {
        let mut directory = BenchDirectory::default();
        for bench in &lab.benches {
            directory.insert(bench);
        }
        directory
    }

    fn insert(&mut self, bench: &Bench) {
        self.by_ip.insert(IpAddr::V4(bench.ip), bench.name.clone());
        self.by_mac.insert(
            bench.mac,
            BenchEntry {
                name: bench.name.clone(),
                model: bench.model,
                mac: bench.mac,
            },
        );
    }

    /// The bench whose phone has this address. IPv4-mapped IPv6 clients (a dual-stack
    /// listener) count as their IPv4 address.
    pub fn bench_at(&self, ip: IpAddr) -> Option<&str> {
        self.by_ip.get(&ip.to_canonical()).map(String::as_str)
    }

    /// The bench whose phone has this MAC.
    pub fn bench_with_mac(&self, mac: Mac) -> Option<&BenchEntry> {
        self.by_mac.get(&mac)
    }

    /// The bench whose SIP user (or config file stem) is `user`: the MAC as 12 hex digits.
    /// Phones send it lowercase; either case is accepted since the MAC is the same.
    pub fn bench_with_user(&self, user: &str) -> Option<&BenchEntry> {
        if user.len() != 12 || !user.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        self.bench_with_mac(Mac::parse(user)?)
    }

    /// Tags `event` with the bench at the client's address and publishes it. A bus without
    /// subscribers is not an error: nobody is recording right now.
    pub fn publish(&self, bus: &EventBus, event: EndpointEvent) {
        let bench = self.bench_at(event.client().ip()).map(str::to_owned);
        let _ = bus.send(TaggedEvent {
            bench,
            at: Instant::now(),
            event,
        });
    }
}

/// The client address as endpoints report it: IPv4-mapped addresses unwrapped.
pub fn canonical_client(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}
