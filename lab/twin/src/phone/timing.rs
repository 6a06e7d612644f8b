//! The phone's delays (unscaled seconds, the timing table of BEHAVIOUR.md) and their
//! scaling by the lab's `time_scale`.

use std::time::Duration;

use super::sip::Timers;

/// Bootloader, from power to the point where it starts the firmware or a special path.
pub const BOOTLOADER_S: f64 = 3.0;
/// Firmware start, from the bootloader to the idle screen.
pub const FIRMWARE_START_S: f64 = 40.0;
/// DHCP, from link-up to an IP address.
pub const DHCP_S: f64 = 2.0;
/// Writing a downloaded firmware to flash, before the reboot.
pub const FLASH_S: f64 = 90.0;
/// Writing a recovery package to flash, after its check.
pub const RECOVERY_FLASH_S: f64 = 90.0;
/// Each of the reboots that follow a recovery flash.
pub const RECOVERY_REBOOT_S: f64 = 30.0;
/// How many reboots follow a recovery flash (KB: "several reboots").
pub const RECOVERY_REBOOTS: u8 = 3;
/// How long `Update failed` shows before the phone boots the firmware it has.
pub const UPDATE_FAILED_S: f64 = 5.0;
/// SIP T1 (RFC 3261).
pub const SIP_T1_S: f64 = 0.5;
/// SIP T2 (RFC 3261): the retransmission interval cap.
pub const SIP_T2_S: f64 = 4.0;
/// REGISTER transmissions before the phone gives up.
pub const SIP_TRANSMISSIONS: u32 = 7;
/// HTTP request timeout of the provisioning client.
pub const HTTP_TIMEOUT_S: f64 = 10.0;
/// The shortest a registration refresh interval gets, unscaled.
pub const MIN_REFRESH_S: f64 = 1.0;

/// Floor of the scaled SIP T1: loopback peers in a busy test process answer in milliseconds,
/// not microseconds, and a retransmission they did not deserve would change a transcript.
const SIP_T1_FLOOR: Duration = Duration::from_millis(50);
/// Floor of the scaled HTTP timeout, for the same reason.
const HTTP_TIMEOUT_FLOOR: Duration = Duration::from_secs(2);
/// Floor of the scaled TFTP retransmission wait: a retransmission is harmless, but five in a
/// row abort a recovery the server did not fail.
const TFTP_WAIT_FLOOR: Duration = Duration::from_millis(500);

/// The delays of one phone at its lab's `time_scale`.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    time_scale: f64,
}

impl Clock {
    /// A clock for a positive, finite `time_scale`.
    pub fn new(time_scale: f64) -> Clock {
        Clock { time_scale }
    }

    /// `seconds` of phone time as wall time.
    pub fn scaled(&self, seconds: f64) -> Duration {
        Duration::from_secs_f64((seconds * self.time_scale).max(0.0))
    }

    /// Sleeps `seconds` of phone time.
    pub async fn sleep(&self, seconds: f64) {
        tokio::time::sleep(self.scaled(seconds)).await;
    }

    /// REGISTER retransmission timers, with the T1 floor.
    pub fn sip_timers(&self) -> Timers {
        let t1 = self.scaled(SIP_T1_S).max(SIP_T1_FLOOR);
        Timers {
            t1,
            t2: t1.mul_f64(SIP_T2_S / SIP_T1_S),
            transmissions: SIP_TRANSMISSIONS,
        }
    }

    /// The provisioning client's HTTP timeout, with its floor.
    pub fn http_timeout(&self) -> Duration {
        self.scaled(HTTP_TIMEOUT_S).max(HTTP_TIMEOUT_FLOOR)
    }

    /// How long the TFTP client waits for an answer before a retransmission: the `timeout`
    /// option it asks for, scaled, with its floor.
    pub fn tftp_wait(&self) -> Duration {
        self.scaled(f64::from(super::recovery::tftp_client::ASKED_TIMEOUT_S))
            .max(TFTP_WAIT_FLOOR)
    }

    /// When to refresh a registration granted for `expires_s`: half of it (RFC 3261 leaves
    /// the choice to the client; ASSUMED in BEHAVIOUR.md).
    pub fn refresh_after(&self, expires_s: u32) -> Duration {
        self.scaled((f64::from(expires_s) / 2.0).max(MIN_REFRESH_S))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_time_keeps_rfc_timers_and_fast_labs_keep_the_floor() {
        let real = Clock::new(1.0).sip_timers();
        assert_eq!(real.t1, Duration::from_millis(500));
        assert_eq!(real.t2, Duration::from_secs(4));
        let fast = Clock::new(0.001).sip_timers();
        assert_eq!(fast.t1, Duration::from_millis(50));
        assert_eq!(fast.t2, Duration::from_millis(400));
        assert_eq!(
            Clock::new(0.01).scaled(BOOTLOADER_S),
            Duration::from_millis(30)
        );
        assert_eq!(Clock::new(1.0).tftp_wait(), Duration::from_secs(1));
        assert_eq!(Clock::new(0.01).tftp_wait(), Duration::from_millis(500));
        assert_eq!(
            Clock::new(1.0).refresh_after(3600),
            Duration::from_secs(1800)
        );
    }
}
