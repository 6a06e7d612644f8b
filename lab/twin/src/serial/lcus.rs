//! The virtual LCUS relay board (CH340 "LCUS-N" modules, 9600 8N1).
//!
//! Frames are `A0 <ch> <01 on | 00 off> <(A0 + ch + state) & 0xFF>`, channels from 1. Real
//! boards never answer, so neither does this one: a refused frame is only logged. The decoder
//! resynchronises on the header byte, so a good frame that follows junk is never lost.

use std::time::Instant;

use std::sync::atomic::Ordering;

use super::{ChangeSink, ChannelChange, FrameCount, SerialProtocol};

/// The frame header byte.
pub const HEADER: u8 = 0xA0;
/// The state byte that closes a relay.
pub const STATE_ON: u8 = 0x01;
/// The state byte that opens a relay.
pub const STATE_OFF: u8 = 0x00;
const FRAME_LEN: usize = 4;

/// What the decoder made of one 4-byte window that starts with the header byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// A frame the board executes.
    Set {
        /// 1..=channels.
        channel: u16,
        /// Relay closed.
        on: bool,
    },
    /// A frame with a valid checksum that the board refuses (channel or state out of range).
    Refused {
        /// The raw channel byte.
        channel: u8,
        /// The raw state byte.
        state: u8,
    },
}

/// Splits a byte stream into LCUS frames, keeping partial frames across reads.
#[derive(Debug)]
pub struct FrameDecoder {
    channels: u16,
    pending: Vec<u8>,
}

impl FrameDecoder {
    /// A decoder for a board with `channels` relays.
    pub fn new(channels: u16) -> FrameDecoder {
        FrameDecoder {
            channels,
            pending: Vec::with_capacity(2 * FRAME_LEN),
        }
    }

    /// Feeds received bytes and returns every complete frame in order.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Frame> {
        self.pending.extend_from_slice(bytes);
        let mut frames = Vec::new();
        loop {
            let junk = self
                .pending
                .iter()
                .position(|&b| b == HEADER)
                .unwrap_or(self.pending.len());
            if junk > 0 {
                tracing::warn!(
                    bytes = junk,
                    "LCUS board: skipped bytes that do not start a frame"
                );
                self.pending.drain(..junk);
            }
            if self.pending.len() < FRAME_LEN {
                return frames;
            }
            let [header, channel, state, sum] = [
                self.pending[0],
                self.pending[1],
                self.pending[2],
                self.pending[3],
            ];
            if header.wrapping_add(channel).wrapping_add(state) != sum {
                // The header byte may itself be junk and a real frame start inside this window:
                // drop only that byte and scan again.
                tracing::warn!(
                    channel,
                    state,
                    sum,
                    "LCUS board: bad checksum, frame ignored"
                );
                self.pending.drain(..1);
                continue;
            }
            self.pending.drain(..FRAME_LEN);
            let on = match state {
                STATE_ON => Some(true),
                STATE_OFF => Some(false),
                _ => None,
            };
            match on {
                Some(on) if channel >= 1 && u16::from(channel) <= self.channels => {
                    frames.push(Frame::Set {
                        channel: u16::from(channel),
                        on,
                    });
                }
                _ => {
                    tracing::warn!(
                        channel,
                        state,
                        channels = self.channels,
                        "LCUS board: channel or state out of range, frame ignored"
                    );
                    frames.push(Frame::Refused { channel, state });
                }
            }
        }
    }
}

/// Encodes the frame that sets `channel` (1-based): what a host sends.
pub fn encode(channel: u8, on: bool) -> [u8; 4] {
    let state = if on { STATE_ON } else { STATE_OFF };
    [
        HEADER,
        channel,
        state,
        HEADER.wrapping_add(channel).wrapping_add(state),
    ]
}

/// An LCUS board: its relays and the sink their changes go to.
pub struct LcusBoard {
    decoder: FrameDecoder,
    closed: Vec<bool>,
    sink: ChangeSink,
    frames: FrameCount,
}

impl LcusBoard {
    /// A board with `channels` relays, all open.
    pub fn new(channels: u16, sink: ChangeSink) -> LcusBoard {
        LcusBoard {
            decoder: FrameDecoder::new(channels),
            closed: vec![false; usize::from(channels)],
            sink,
            frames: FrameCount::default(),
        }
    }

    /// Counts every frame received (executed or refused) into `frames`.
    pub fn counting_frames(mut self, frames: FrameCount) -> LcusBoard {
        self.frames = frames;
        self
    }

    fn set(&mut self, channel: u16, on: bool) {
        let slot = &mut self.closed[usize::from(channel - 1)];
        // Every accepted frame is reported, even a repeat: the relay coil is driven again.
        *slot = on;
        (self.sink)(ChannelChange {
            channel,
            active: on,
        });
    }
}

impl SerialProtocol for LcusBoard {
    fn plugged_in(&mut self, _now: Instant) -> Vec<u8> {
        Vec::new()
    }

    fn receive(&mut self, bytes: &[u8], _now: Instant) -> Vec<u8> {
        for frame in self.decoder.feed(bytes) {
            self.frames.fetch_add(1, Ordering::SeqCst);
            if let Frame::Set { channel, on } = frame {
                self.set(channel, on);
            }
        }
        Vec::new()
    }

    fn next_deadline(&self) -> Option<Instant> {
        None
    }

    fn tick(&mut self, _now: Instant) -> Vec<u8> {
        Vec::new()
    }

    fn unplugged(&mut self) {
        // The coils are powered from USB: every closed relay drops open.
        self.decoder = FrameDecoder::new(self.decoder.channels);
        for index in 0..self.closed.len() {
            if self.closed[index] {
                self.closed[index] = false;
                let channel = u16::try_from(index + 1).expect("channel count fits u16");
                (self.sink)(ChannelChange {
                    channel,
                    active: false,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn set(channel: u16, on: bool) -> Frame {
        Frame::Set { channel, on }
    }

    #[test]
    fn decodes_on_and_off() {
        let mut d = FrameDecoder::new(8);
        assert_eq!(
            d.feed(&[0xA0, 0x03, 0x01, 0xA4, 0xA0, 0x03, 0x00, 0xA3]),
            [set(3, true), set(3, false)]
        );
    }

    #[test]
    fn reassembles_split_frames() {
        let mut d = FrameDecoder::new(8);
        assert_eq!(d.feed(&[0xA0]), []);
        assert_eq!(d.feed(&[0x01, 0x01]), []);
        assert_eq!(d.feed(&[0xA2, 0xA0, 0x08]), [set(1, true)]);
        assert_eq!(d.feed(&[0x01, 0xA9]), [set(8, true)]);
    }

    #[test]
    fn skips_junk_before_a_frame() {
        let mut d = FrameDecoder::new(8);
        assert_eq!(
            d.feed(&[0x00, 0xFF, 0x13, 0xA0, 0x02, 0x01, 0xA3]),
            [set(2, true)]
        );
    }

    #[test]
    fn a_stray_header_byte_does_not_swallow_the_next_frame() {
        let mut d = FrameDecoder::new(8);
        // `A0 05` is a truncated frame; the real one starts at the second A0.
        assert_eq!(
            d.feed(&[0xA0, 0x05, 0xA0, 0x01, 0x01, 0xA2]),
            [set(1, true)]
        );
        let mut d = FrameDecoder::new(8);
        assert_eq!(d.feed(&[0xA0, 0xA0, 0x04, 0x00, 0xA4]), [set(4, false)]);
    }

    #[test]
    fn ignores_a_bad_checksum() {
        let mut d = FrameDecoder::new(8);
        assert_eq!(d.feed(&[0xA0, 0x03, 0x01, 0xA5]), []);
        assert_eq!(d.feed(&encode(3, true)), [set(3, true)]);
    }

    #[test]
    fn refuses_channel_zero_too_high_and_unknown_state() {
        let mut d = FrameDecoder::new(4);
        assert_eq!(
            d.feed(&encode(0, true)),
            [Frame::Refused {
                channel: 0,
                state: 1
            }]
        );
        assert_eq!(
            d.feed(&encode(5, true)),
            [Frame::Refused {
                channel: 5,
                state: 1
            }]
        );
        assert_eq!(
            d.feed(&[0xA0, 0x02, 0x02, 0xA4]),
            [Frame::Refused {
                channel: 2,
                state: 2
            }]
        );
        assert_eq!(d.feed(&encode(4, true)), [set(4, true)]);
    }

    #[test]
    fn board_reports_changes_answers_nothing_and_drops_relays_when_unplugged() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink_seen = Arc::clone(&seen);
        let mut board = LcusBoard::new(8, Arc::new(move |c| sink_seen.lock().unwrap().push(c)));
        let now = Instant::now();
        assert!(board.plugged_in(now).is_empty());
        let mut script = encode(3, true).to_vec();
        script.extend([0x42, 0xA0]);
        script.extend(encode(5, true));
        assert!(board.receive(&script, now).is_empty());
        assert!(board.receive(&encode(3, false), now).is_empty());
        board.unplugged();
        let c = |channel, active| ChannelChange { channel, active };
        assert_eq!(
            *seen.lock().unwrap(),
            [c(3, true), c(5, true), c(3, false), c(5, false)]
        );
    }
}
