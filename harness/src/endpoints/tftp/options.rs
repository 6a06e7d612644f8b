//! Option negotiation (RFC 2347): what the server grants of what a read request asks, and
//! the OACK that says so. Every granted value is bounded, so one request cannot make the
//! server hold a transfer (its file and socket) longer than `MAX_CLIENT_TIMEOUT_S` per
//! retransmission, or hold more than `WINDOW_SIZE_LIMIT` blocks in memory.

use std::time::Duration;

use super::packet::{self, RequestOptions};
use super::refusal::Refusal;

/// Retransmission timeout for clients that send no `timeout` option (RFC 1350 lock-step
/// bootloaders). A LAN answers in well under a millisecond; a duplicate block after a slow
/// ACK is harmless (the client acknowledges it again).
pub const RETRANSMIT_TIMEOUT_S: u64 = 1;

/// The largest `timeout` granted. RFC 2349 lets a client ask up to 255 s and requires the
/// OACK to echo the value asked, so a larger one is refused (TFTP error 8) rather than
/// lowered: the client may ask again without it.
pub const MAX_CLIENT_TIMEOUT_S: u64 = 5;

/// Largest block granted: U-Boot's 1468 fills a 1500-byte Ethernet frame, and a bootloader
/// without IP reassembly never receives a larger one.
pub const BLOCK_SIZE_LIMIT: u16 = 1468;

/// Largest window granted (RFC 7440): bounds the blocks held in memory per transfer.
pub const WINDOW_SIZE_LIMIT: u16 = 64;

/// The block size of RFC 1350, when no `blksize` is granted.
pub const DEFAULT_BLOCK_SIZE: u16 = 512;

/// What the server grants one read request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Granted {
    /// Bytes per DATA block.
    pub block_size: u16,
    /// Blocks sent before waiting for an ACK.
    pub window_size: u16,
    /// Wait for an ACK before sending the window again.
    pub timeout: Duration,
    /// Which options the OACK carries (none granted: the server answers with DATA).
    acknowledged: Acknowledged,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Acknowledged {
    block_size: bool,
    timeout: bool,
    transfer_size: bool,
    window_size: bool,
}

/// Grants what `options` ask within the server's bounds. Values outside an option's valid
/// range are not acknowledged (RFC 2347); a `timeout` above `MAX_CLIENT_TIMEOUT_S` is
/// refused.
pub fn negotiate(options: &RequestOptions) -> Result<Granted, Refusal> {
    let mut granted = Granted {
        block_size: DEFAULT_BLOCK_SIZE,
        window_size: 1,
        timeout: Duration::from_secs(RETRANSMIT_TIMEOUT_S),
        acknowledged: Acknowledged::default(),
    };
    if let Some(asked) = options.block_size
        && (8..=65464).contains(&asked)
    {
        granted.block_size = asked.min(u64::from(BLOCK_SIZE_LIMIT)) as u16;
        granted.acknowledged.block_size = true;
    }
    match options.timeout_s {
        Some(asked @ 1..=MAX_CLIENT_TIMEOUT_S) => {
            granted.timeout = Duration::from_secs(asked);
            granted.acknowledged.timeout = true;
        }
        Some(asked) if asked > MAX_CLIENT_TIMEOUT_S => {
            return Err(Refusal::Option(format!(
                "timeout {asked} s is above the {MAX_CLIENT_TIMEOUT_S} s this server grants"
            )));
        }
        _ => {}
    }
    granted.acknowledged.transfer_size = options.transfer_size == Some(0);
    if let Some(asked) = options.window_size
        && (1..=65535).contains(&asked)
    {
        granted.window_size = asked.min(u64::from(WINDOW_SIZE_LIMIT)) as u16;
        granted.acknowledged.window_size = true;
    }
    Ok(granted)
}

impl Granted {
    /// The OACK for a file of `size_bytes`, or `None` when no option was granted (the
    /// server then answers with the first DATA block, as RFC 1350 servers do).
    pub fn oack(&self, size_bytes: u64) -> Option<Vec<u8>> {
        let mut options = Vec::new();
        if self.acknowledged.block_size {
            options.push(("blksize", u64::from(self.block_size)));
        }
        if self.acknowledged.timeout {
            options.push(("timeout", self.timeout.as_secs()));
        }
        if self.acknowledged.transfer_size {
            options.push(("tsize", size_bytes));
        }
        if self.acknowledged.window_size {
            options.push(("windowsize", u64::from(self.window_size)));
        }
        (!options.is_empty()).then(|| packet::oack(&options))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asking(
        block_size: Option<u64>,
        timeout_s: Option<u64>,
        window_size: Option<u64>,
    ) -> RequestOptions {
        RequestOptions {
            block_size,
            transfer_size: Some(0),
            timeout_s,
            window_size,
        }
    }

    #[test]
    fn values_are_bounded_and_the_oack_says_what_was_granted() {
        let granted = negotiate(&asking(Some(65464), Some(1), Some(1000))).unwrap();
        assert_eq!(granted.block_size, BLOCK_SIZE_LIMIT);
        assert_eq!(granted.window_size, WINDOW_SIZE_LIMIT);
        assert_eq!(granted.timeout, Duration::from_secs(1));
        assert_eq!(
            granted.oack(9).unwrap(),
            packet::oack(&[
                ("blksize", 1468),
                ("timeout", 1),
                ("tsize", 9),
                ("windowsize", 64)
            ])
        );
        // Out of range: not acknowledged, defaults used.
        let granted = negotiate(&asking(Some(7), Some(0), Some(0))).unwrap();
        assert_eq!(granted.block_size, DEFAULT_BLOCK_SIZE);
        assert_eq!(granted.oack(9).unwrap(), packet::oack(&[("tsize", 9)]));
        assert_eq!(negotiate(&RequestOptions::default()).unwrap().oack(9), None);
    }

    #[test]
    fn a_timeout_above_the_maximum_is_refused() {
        for asked in [MAX_CLIENT_TIMEOUT_S + 1, 255, 256, u64::MAX] {
            assert!(matches!(
                negotiate(&asking(None, Some(asked), None)),
                Err(Refusal::Option(_))
            ));
        }
        let granted = negotiate(&asking(None, Some(MAX_CLIENT_TIMEOUT_S), None)).unwrap();
        assert_eq!(granted.timeout, Duration::from_secs(MAX_CLIENT_TIMEOUT_S));
    }
}
