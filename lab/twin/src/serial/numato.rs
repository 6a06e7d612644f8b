//! The virtual Numato USB relay module (CDC serial, ASCII commands, any baud rate).
//!
//! Like the real module it behaves as a terminal: every received byte is echoed, and `\r`
//! executes the line. Output lines are written as `\n\r<text>` and every command ends with
//! the prompt `\n\r>`. `\n` is echoed and otherwise ignored, so hosts that send `\r\n` work.
//!
//! Commands (words case-insensitive): `ver`, `id get`, `id set <8 chars>`,
//! `relay on <id>`, `relay off <id>`, `relay read <id>` (`on`/`off`), `relay readall`
//! (lower-case hex bitmask: 2 digits up to 8 channels, 4 up to 16, 8 up to 32),
//! `relay writeall <hex>`, `reset` (every relay off).
//!
//! Relay ids: up to 16 channels one hex digit `0`-`F`; 17 to 32 channels `0`-`9` then `A`-`V`;
//! channels from 0; either case. An unknown command, a bad or missing id, or extra words do
//! nothing and get only the prompt, as the real module does.

use std::time::Instant;

use super::{ChangeSink, ChannelChange, FrameCount, SerialProtocol};

/// The answer to `ver`.
pub const VERSION: &str = "00000008";
/// Longest command line kept; the module's line buffer is small and overflow is discarded.
const MAX_LINE: usize = 64;
/// Boards with more channels use two-digit ids this twin does not speak.
pub const MAX_CHANNELS: u16 = 32;

/// Digits of relay ids in order: hex up to 16 channels, base 32 above.
const ID_DIGITS: &[u8; 32] = b"0123456789ABCDEFGHIJKLMNOPQRSTUV";

/// The relay id the module uses for `channel` (0-based) on a board of `channels`.
pub fn relay_id(channel: u16) -> Option<char> {
    ID_DIGITS.get(usize::from(channel)).map(|&b| char::from(b))
}

/// Parses a relay id: one digit of the board's alphabet, below the channel count.
pub fn parse_relay_id(text: &str, channels: u16) -> Option<u16> {
    let [byte] = text.as_bytes() else { return None };
    let upper = byte.to_ascii_uppercase();
    let value = ID_DIGITS.iter().position(|&d| d == upper)?;
    let value = u16::try_from(value).ok()?;
    (value < channels).then_some(value)
}

/// A command line, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `ver`
    Version,
    /// `id get`
    IdGet,
    /// `id set <id>`
    IdSet(String),
    /// `relay on|off <id>`
    RelaySet {
        /// 0-based channel.
        channel: u16,
        /// Closed.
        on: bool,
    },
    /// `relay read <id>`
    RelayRead(u16),
    /// `relay readall`
    RelayReadAll,
    /// `relay writeall <hex>`
    RelayWriteAll(u32),
    /// `reset`
    Reset,
}

/// Parses one line for a board of `channels`; `None` is what the module ignores.
pub fn parse_command(line: &str, channels: u16) -> Option<Command> {
    let words: Vec<String> = line
        .split_ascii_whitespace()
        .map(str::to_ascii_lowercase)
        .collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["ver"] => Some(Command::Version),
        ["id", "get"] => Some(Command::IdGet),
        ["id", "set", id] if id.len() == 8 && id.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            // The id keeps the case the host sent, so take it from the original line.
            let original = line.split_ascii_whitespace().nth(2)?;
            Some(Command::IdSet(original.to_string()))
        }
        ["relay", "on", id] => Some(Command::RelaySet {
            channel: parse_relay_id(id, channels)?,
            on: true,
        }),
        ["relay", "off", id] => Some(Command::RelaySet {
            channel: parse_relay_id(id, channels)?,
            on: false,
        }),
        ["relay", "read", id] => Some(Command::RelayRead(parse_relay_id(id, channels)?)),
        ["relay", "readall"] => Some(Command::RelayReadAll),
        ["relay", "writeall", mask] if mask.len() == mask_digits(channels) => {
            u32::from_str_radix(mask, 16)
                .ok()
                .map(Command::RelayWriteAll)
        }
        ["reset"] => Some(Command::Reset),
        _ => None,
    }
}

/// Hex digits of a `readall` mask for a board of `channels`.
pub fn mask_digits(channels: u16) -> usize {
    match channels {
        0..=8 => 2,
        9..=16 => 4,
        _ => 8,
    }
}

/// A Numato module: its relays, its id, the line being typed.
pub struct NumatoBoard {
    channels: u16,
    closed: Vec<bool>,
    id: String,
    line: Vec<u8>,
    overflowed: bool,
    sink: ChangeSink,
    frames: FrameCount,
}

impl NumatoBoard {
    /// A module with `channels` relays (1 to 32), all open.
    pub fn new(channels: u16, sink: ChangeSink) -> NumatoBoard {
        assert!(
            (1..=MAX_CHANNELS).contains(&channels),
            "the lab reader admits 1 to 32 Numato channels"
        );
        NumatoBoard {
            channels,
            closed: vec![false; usize::from(channels)],
            id: "00000000".to_string(),
            line: Vec::new(),
            overflowed: false,
            sink,
            frames: FrameCount::default(),
        }
    }

    /// Counts every command line received (each `\r`, understood or not) into `frames`.
    pub fn counting_frames(mut self, frames: FrameCount) -> NumatoBoard {
        self.frames = frames;
        self
    }

    fn set(&mut self, channel: u16, on: bool) {
        let slot = &mut self.closed[usize::from(channel)];
        if *slot != on {
            *slot = on;
            (self.sink)(ChannelChange {
                channel,
                active: on,
            });
        }
    }

    fn mask(&self) -> u32 {
        self.closed
            .iter()
            .enumerate()
            .filter(|(_, c)| **c)
            .fold(0, |m, (i, _)| m | (1 << i))
    }

    fn execute(&mut self, line: &str, out: &mut Vec<u8>) {
        let mut say = |text: &str| {
            out.extend_from_slice(b"\n\r");
            out.extend_from_slice(text.as_bytes());
        };
        match parse_command(line, self.channels) {
            Some(Command::Version) => say(VERSION),
            Some(Command::IdGet) => say(&self.id.clone()),
            Some(Command::IdSet(id)) => self.id = id,
            Some(Command::RelaySet { channel, on }) => self.set(channel, on),
            Some(Command::RelayRead(channel)) => {
                say(if self.closed[usize::from(channel)] {
                    "on"
                } else {
                    "off"
                });
            }
            Some(Command::RelayReadAll) => {
                let text = format!(
                    "{:0width$x}",
                    self.mask(),
                    width = mask_digits(self.channels)
                );
                say(&text);
            }
            Some(Command::RelayWriteAll(mask)) => {
                for channel in 0..self.channels {
                    self.set(channel, mask & (1 << channel) != 0);
                }
            }
            Some(Command::Reset) => {
                for channel in 0..self.channels {
                    self.set(channel, false);
                }
            }
            None => {
                if !line.trim().is_empty() {
                    tracing::warn!(line, "Numato board: command not understood, prompt only");
                }
            }
        }
        out.extend_from_slice(b"\n\r>");
    }
}

impl SerialProtocol for NumatoBoard {
    fn plugged_in(&mut self, _now: Instant) -> Vec<u8> {
        // The real module says nothing until spoken to.
        Vec::new()
    }

    fn receive(&mut self, bytes: &[u8], _now: Instant) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len() + 16);
        for &byte in bytes {
            out.push(byte);
            match byte {
                b'\r' => {
                    self.frames
                        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let line = String::from_utf8_lossy(&self.line).into_owned();
                    self.line.clear();
                    if std::mem::take(&mut self.overflowed) {
                        tracing::warn!("Numato board: line too long, discarded");
                        out.extend_from_slice(b"\n\r>");
                    } else {
                        self.execute(&line, &mut out);
                    }
                }
                b'\n' => {}
                _ if self.line.len() >= MAX_LINE => self.overflowed = true,
                _ => self.line.push(byte),
            }
        }
        out
    }

    fn next_deadline(&self) -> Option<Instant> {
        None
    }

    fn tick(&mut self, _now: Instant) -> Vec<u8> {
        Vec::new()
    }

    fn unplugged(&mut self) {
        // The coils are powered from USB: every closed relay drops open. The id is kept in
        // the module's EEPROM.
        self.line.clear();
        self.overflowed = false;
        for channel in 0..self.channels {
            self.set(channel, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn board(channels: u16) -> (NumatoBoard, Arc<Mutex<Vec<ChannelChange>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink_seen = Arc::clone(&seen);
        (
            NumatoBoard::new(
                channels,
                Arc::new(move |c| sink_seen.lock().unwrap().push(c)),
            ),
            seen,
        )
    }

    fn run(board: &mut NumatoBoard, input: &str) -> String {
        String::from_utf8(board.receive(input.as_bytes(), Instant::now())).unwrap()
    }

    #[test]
    fn echoes_and_answers_ver_and_id() {
        let (mut b, _) = board(8);
        assert_eq!(run(&mut b, "ver\r"), "ver\r\n\r00000008\n\r>");
        assert_eq!(run(&mut b, "id get\r"), "id get\r\n\r00000000\n\r>");
        assert_eq!(run(&mut b, "id set Bench001\r"), "id set Bench001\r\n\r>");
        assert_eq!(run(&mut b, "id get\r"), "id get\r\n\rBench001\n\r>");
    }

    #[test]
    fn echoes_every_byte_before_the_line_ends() {
        let (mut b, _) = board(8);
        assert_eq!(run(&mut b, "rel"), "rel");
        assert_eq!(run(&mut b, "ay read 0"), "ay read 0");
        assert_eq!(run(&mut b, "\r"), "\r\n\roff\n\r>");
    }

    #[test]
    fn switches_reads_back_and_reports() {
        let (mut b, seen) = board(8);
        assert_eq!(run(&mut b, "relay on 3\r"), "relay on 3\r\n\r>");
        assert_eq!(run(&mut b, "relay read 3\r"), "relay read 3\r\n\ron\n\r>");
        assert_eq!(run(&mut b, "RELAY ON 7\r\n"), "RELAY ON 7\r\n\r>\n");
        assert_eq!(run(&mut b, "relay readall\r"), "relay readall\r\n\r88\n\r>");
        assert_eq!(run(&mut b, "relay off 3\r"), "relay off 3\r\n\r>");
        assert_eq!(run(&mut b, "relay read 3\r"), "relay read 3\r\n\roff\n\r>");
        assert_eq!(run(&mut b, "reset\r"), "reset\r\n\r>");
        assert_eq!(run(&mut b, "relay readall\r"), "relay readall\r\n\r00\n\r>");
        let c = |channel, active| ChannelChange { channel, active };
        assert_eq!(
            *seen.lock().unwrap(),
            [c(3, true), c(7, true), c(3, false), c(7, false)]
        );
    }

    #[test]
    fn readall_width_and_ids_follow_the_channel_count() {
        let (mut b, _) = board(16);
        run(&mut b, "relay on f\r");
        assert_eq!(
            run(&mut b, "relay readall\r"),
            "relay readall\r\n\r8000\n\r>"
        );
        let (mut b, _) = board(32);
        run(&mut b, "relay on V\r");
        run(&mut b, "relay on a\r");
        assert_eq!(
            run(&mut b, "relay readall\r"),
            "relay readall\r\n\r80000400\n\r>"
        );
        assert_eq!(parse_relay_id("G", 16), None);
        assert_eq!(parse_relay_id("G", 32), Some(16));
        assert_eq!(parse_relay_id("8", 8), None);
        assert_eq!(parse_relay_id("7", 8), Some(7));
        assert_eq!(parse_relay_id("10", 32), None);
        assert_eq!(relay_id(31), Some('V'));
    }

    #[test]
    fn writeall_sets_every_relay() {
        let (mut b, _) = board(8);
        assert_eq!(
            run(&mut b, "relay writeall a5\r"),
            "relay writeall a5\r\n\r>"
        );
        assert_eq!(run(&mut b, "relay readall\r"), "relay readall\r\n\ra5\n\r>");
        assert_eq!(parse_command("relay writeall 1ff", 8), None);
    }

    #[test]
    fn nonsense_gets_only_the_prompt() {
        let (mut b, seen) = board(8);
        for line in [
            "frob",
            "relay on",
            "relay on 8",
            "relay on x",
            "relay on 1 2",
            "relay",
            "",
            "id set 123",
        ] {
            assert_eq!(
                run(&mut b, &format!("{line}\r")),
                format!("{line}\r\n\r>"),
                "{line:?}"
            );
        }
        let long = "x".repeat(200);
        assert_eq!(run(&mut b, &format!("{long}\r")), format!("{long}\r\n\r>"));
        assert_eq!(run(&mut b, "relay read 0\r"), "relay read 0\r\n\roff\n\r>");
        assert!(seen.lock().unwrap().is_empty());
    }

    #[test]
    fn unplug_drops_every_relay() {
        let (mut b, seen) = board(8);
        run(&mut b, "relay on 0\r");
        b.unplugged();
        assert_eq!(run(&mut b, "relay readall\r"), "relay readall\r\n\r00\n\r>");
        assert_eq!(
            seen.lock().unwrap().last(),
            Some(&ChannelChange {
                channel: 0,
                active: false
            })
        );
    }
}
