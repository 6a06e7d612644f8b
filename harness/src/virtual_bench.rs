//! The one place that knows both sides: it starts the embedded virtual bench (`lab/twin`)
//! for a lab file that has a `[twin]` table. Everything else in the harness drives the
//! virtual bench exactly as a real rack, through serial devices and network sockets.
//!
//! The twin reads the same lab file with its own reader; the harness only tells it what the
//! lab's DHCP server would tell phones that do not ask one (benches without
//! `dhcp_interface`): the provisioning URL of option 66, which is known only once the
//! endpoints are bound, and the recovery TFTP server. A Yealink recovery bootloader asks the
//! host option 66 names, on port 69; the virtual lab's endpoint is on that host, seldom on
//! port 69, so the bound address is passed whole. (Option 150 and next-server are Cisco's
//! and BOOTP's, not where a Yealink looks.)

use std::net::SocketAddr;

use crate::lab::Lab;

/// The log target of the virtual bench's crate: its lines go to the run log only, never
/// into the live progress of the person watching.
pub const LOG_TARGET: &str = "yealink_twin";

/// A running virtual bench.
pub struct VirtualLab {
    bench: yealink_twin::VirtualBench,
}

impl VirtualLab {
    /// Creates the lab file's serial devices and twin phones, unpowered.
    /// `tftp_server` is the recovery TFTP endpoint as bound: option 66's host, with the
    /// virtual lab's port.
    pub async fn start(
        lab: &Lab,
        provisioning_url: &str,
        tftp_server: SocketAddr,
    ) -> Result<VirtualLab, String> {
        let twin_lab = yealink_twin::TwinLab::from_file(&lab.source).map_err(|e| e.to_string())?;
        let options = yealink_twin::BenchOptions {
            provisioning_url: Some(provisioning_url.to_string()),
            tftp_server: Some(tftp_server),
            time_scale: None,
        };
        let bench = yealink_twin::VirtualBench::start(twin_lab, options)
            .await
            .map_err(|e| e.to_string())?;
        Ok(VirtualLab { bench })
    }

    /// The bench itself, for tests that stage physical faults (an unplugged board).
    pub fn bench(&self) -> &yealink_twin::VirtualBench {
        &self.bench
    }

    /// Powers every twin phone off and removes the published devices.
    pub async fn shutdown(self) {
        self.bench.shutdown().await;
    }
}
