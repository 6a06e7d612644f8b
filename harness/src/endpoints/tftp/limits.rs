//! How many transfers run at once: a flood of read requests must never hold more files and
//! sockets than the server's budget, nor let one client take every slot. Each running
//! transfer holds a `Slot`; dropping it (the transfer ended, failed, was abandoned or the
//! server stopped) frees the slot.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

use super::refusal::Refusal;

/// Transfers the server runs at once. Each holds one file and one socket, so the server
/// never holds more than twice this in descriptors for transfers; a bench reads its
/// recovery files one after the other, so this covers dozens of benches recovering at once.
pub const MAX_TRANSFERS: usize = 32;

/// Transfers one client address runs at once: a phone reads one file at a time, so more
/// than this is a broken or hostile client, which must not starve the other benches.
pub const MAX_TRANSFERS_PER_CLIENT: usize = 4;

/// The bounds a server applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferLimits {
    /// Transfers at once, over every client.
    pub total: usize,
    /// Transfers at once from one client address.
    pub per_client: usize,
}

impl Default for TransferLimits {
    fn default() -> Self {
        TransferLimits {
            total: MAX_TRANSFERS,
            per_client: MAX_TRANSFERS_PER_CLIENT,
        }
    }
}

#[derive(Debug, Default)]
struct Running {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
    /// Client ports with a transfer: a retransmitted request must not start a second one.
    peers: HashSet<SocketAddr>,
}

/// The running transfers, shared by the server and every transfer's slot.
#[derive(Debug, Clone, Default)]
pub struct Admission {
    limits: TransferLimits,
    running: Arc<Mutex<Running>>,
}

/// Why a request gets no slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoSlot {
    /// A transfer to this very client port runs: the request is a retransmission.
    Duplicate,
    /// Over a limit.
    Busy(Refusal),
}

impl Admission {
    /// Admission under `limits`.
    pub fn new(limits: TransferLimits) -> Admission {
        Admission {
            limits,
            running: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Running> {
        // The counters stay consistent under a panic elsewhere: each update is one step.
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot for a transfer to `peer`, or why not.
    pub fn admit(&self, peer: SocketAddr) -> Result<Slot, NoSlot> {
        let mut running = self.lock();
        if running.peers.contains(&peer) {
            return Err(NoSlot::Duplicate);
        }
        if running.total >= self.limits.total {
            return Err(NoSlot::Busy(Refusal::Busy(format!(
                "{} transfers running, the server's limit",
                running.total
            ))));
        }
        let of_client = running.per_client.get(&peer.ip()).copied().unwrap_or(0);
        if of_client >= self.limits.per_client {
            return Err(NoSlot::Busy(Refusal::Busy(format!(
                "{of_client} transfers running for {}, the limit per client",
                peer.ip()
            ))));
        }
        running.total += 1;
        *running.per_client.entry(peer.ip()).or_default() += 1;
        running.peers.insert(peer);
        Ok(Slot {
            admission: self.clone(),
            peer,
        })
    }

    /// Transfers running now.
    pub fn running(&self) -> usize {
        self.lock().total
    }
}

/// One running transfer's place; freed on drop.
#[derive(Debug)]
pub struct Slot {
    admission: Admission,
    peer: SocketAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut running = self.admission.lock();
        running.total -= 1;
        running.peers.remove(&self.peer);
        let ip = self.peer.ip();
        if let Some(count) = running.per_client.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                running.per_client.remove(&ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_bounded_per_client_and_in_total_and_freed_on_drop() {
        let admission = Admission::new(TransferLimits {
            total: 3,
            per_client: 2,
        });
        let a: SocketAddr = "127.0.0.2:1000".parse().unwrap();
        let a2: SocketAddr = "127.0.0.2:1001".parse().unwrap();
        let a3: SocketAddr = "127.0.0.2:1002".parse().unwrap();
        let b: SocketAddr = "127.0.0.3:1000".parse().unwrap();
        let c: SocketAddr = "127.0.0.4:1000".parse().unwrap();
        let first = admission.admit(a).unwrap();
        assert_eq!(admission.admit(a).unwrap_err(), NoSlot::Duplicate);
        let _second = admission.admit(a2).unwrap();
        assert!(matches!(admission.admit(a3), Err(NoSlot::Busy(_))));
        let _third = admission.admit(b).unwrap();
        assert!(matches!(admission.admit(c), Err(NoSlot::Busy(_))));
        drop(first);
        assert_eq!(admission.running(), 2);
        let _again = admission.admit(a3).unwrap();
        assert_eq!(admission.running(), 3);
    }
}
