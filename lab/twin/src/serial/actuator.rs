//! The virtual button actuator: `lab/actuator/PROTOCOL.md`, version 1, byte for byte.
//!
//! Choices where PROTOCOL.md leaves room (the reference firmware makes the same ones):
//! - A line of spaces only counts as empty: ignored, no reply.
//! - `ERR 4` is sent when the terminator of the overlong line arrives, so replies stay in
//!   the order of the lines.
//! - `HOLD` on a held channel keeps it pressed and restarts its watchdog with the new limit.
//! - Argument checks run left to right: a bad channel is `ERR 2` even if a later argument is
//!   also wrong; a missing or extra argument is `ERR 3`.
//! - While a `TAP` runs, received bytes are queued (up to `MAX_QUEUED_BYTES`, as a UART FIFO
//!   would) and executed in order after its reply. Watchdog events may still be sent.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{ChangeSink, ChannelChange, SerialProtocol};

/// Protocol version announced in `READY` and `HELLO`.
pub const PROTOCOL_VERSION: u32 = 1;
/// Longest command line, terminator excluded.
pub const MAX_LINE: usize = 64;
/// Default hold watchdog limit.
pub const DEFAULT_HOLD_MAX_MS: u64 = 120_000;
/// Largest hold watchdog limit.
pub const MAX_HOLD_MAX_MS: u64 = 3_600_000;
/// Largest `TAP` duration.
pub const MAX_TAP_MS: u64 = 60_000;
/// Bytes kept while a `TAP` runs; more are dropped (and logged).
const MAX_QUEUED_BYTES: usize = 4096;

/// A protocol error, with its code and text from PROTOCOL.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActuatorError {
    /// `ERR 1`: the first word is not a command (or the line holds non-printable bytes).
    UnknownCommand,
    /// `ERR 2`: the channel is not a number from 1 to the channel count.
    BadChannel,
    /// `ERR 3`: a missing, extra or out-of-range argument.
    BadArgument,
    /// `ERR 4`: more than 64 bytes before the terminator.
    LineTooLong,
    /// `ERR 5`: `TAP` on a held channel.
    ChannelBusy,
}

impl ActuatorError {
    /// The reply line, without its terminator.
    pub fn reply(self) -> &'static str {
        match self {
            ActuatorError::UnknownCommand => "ERR 1 unknown command",
            ActuatorError::BadChannel => "ERR 2 bad channel",
            ActuatorError::BadArgument => "ERR 3 bad argument",
            ActuatorError::LineTooLong => "ERR 4 line too long",
            ActuatorError::ChannelBusy => "ERR 5 channel busy",
        }
    }
}

/// A command line, parsed and range-checked (except `ERR 5`, which depends on state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `HELLO`
    Hello,
    /// `HOLD <ch> [<max_ms>]`; `max_ms` is `None` when the host gave none.
    Hold {
        /// 1-based channel.
        channel: u16,
        /// The watchdog limit the host asked for.
        max_ms: Option<u64>,
    },
    /// `RELEASE <ch>`
    Release(u16),
    /// `TAP <ch> <ms>`
    Tap {
        /// 1-based channel.
        channel: u16,
        /// How long the key stays pressed.
        ms: u64,
    },
    /// `RELEASEALL`
    ReleaseAll,
    /// `QUERY`
    QueryAll,
    /// `QUERY <ch>`
    Query(u16),
}

impl Command {
    /// The canonical echo after `OK `: upper case, single spaces, decimal without leading zeros.
    pub fn canonical(self) -> String {
        match self {
            Command::Hello => "HELLO".into(),
            Command::Hold {
                channel,
                max_ms: None,
            } => format!("HOLD {channel}"),
            Command::Hold {
                channel,
                max_ms: Some(ms),
            } => format!("HOLD {channel} {ms}"),
            Command::Release(channel) => format!("RELEASE {channel}"),
            Command::Tap { channel, ms } => format!("TAP {channel} {ms}"),
            Command::ReleaseAll => "RELEASEALL".into(),
            Command::QueryAll => "QUERY".into(),
            Command::Query(channel) => format!("QUERY {channel}"),
        }
    }
}

/// A decimal number; leading zeros are fine, anything else (signs, hex, overflow) is not.
fn parse_decimal(word: &str) -> Option<u64> {
    if word.is_empty() || !word.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    word.parse().ok()
}

fn parse_channel(word: Option<&str>, channels: u16) -> Result<u16, ActuatorError> {
    let word = word.ok_or(ActuatorError::BadArgument)?;
    let value = parse_decimal(word).ok_or(ActuatorError::BadChannel)?;
    match u16::try_from(value) {
        Ok(channel) if (1..=channels).contains(&channel) => Ok(channel),
        _ => Err(ActuatorError::BadChannel),
    }
}

fn parse_ranged(word: Option<&str>, max: u64) -> Result<u64, ActuatorError> {
    let value = word
        .and_then(parse_decimal)
        .ok_or(ActuatorError::BadArgument)?;
    if (1..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ActuatorError::BadArgument)
    }
}

/// Parses one non-empty line (terminator removed) for a board of `channels`.
pub fn parse_line(line: &[u8], channels: u16) -> Result<Command, ActuatorError> {
    if line.len() > MAX_LINE {
        return Err(ActuatorError::LineTooLong);
    }
    if !line.iter().all(|b| (0x20..=0x7E).contains(b)) {
        return Err(ActuatorError::UnknownCommand);
    }
    let text = std::str::from_utf8(line).map_err(|_| ActuatorError::UnknownCommand)?;
    let mut words = text.split(' ').filter(|w| !w.is_empty());
    let name = words
        .next()
        .ok_or(ActuatorError::UnknownCommand)?
        .to_ascii_uppercase();
    let command = match name.as_str() {
        "HELLO" => Command::Hello,
        "HOLD" => {
            let channel = parse_channel(words.next(), channels)?;
            let max_ms = match words.next() {
                None => None,
                some => Some(parse_ranged(some, MAX_HOLD_MAX_MS)?),
            };
            Command::Hold { channel, max_ms }
        }
        "RELEASE" => Command::Release(parse_channel(words.next(), channels)?),
        "TAP" => {
            let channel = parse_channel(words.next(), channels)?;
            Command::Tap {
                channel,
                ms: parse_ranged(words.next(), MAX_TAP_MS)?,
            }
        }
        "RELEASEALL" => Command::ReleaseAll,
        "QUERY" => match words.next() {
            None => Command::QueryAll,
            some => Command::Query(parse_channel(some, channels)?),
        },
        _ => return Err(ActuatorError::UnknownCommand),
    };
    if words.next().is_some() {
        return Err(ActuatorError::BadArgument);
    }
    Ok(command)
}

/// A `TAP` in progress: the key is down until `until`, then the reply goes out.
#[derive(Debug, Clone, Copy)]
struct Tap {
    channel: u16,
    until: Instant,
    reply: Command,
}

/// The actuator board: its channels, its watchdogs and its line assembler.
pub struct ActuatorBoard {
    channels: u16,
    /// Per channel: the watchdog deadline of a `HOLD`, `None` when released.
    held: Vec<Option<Instant>>,
    line: Vec<u8>,
    overlong: bool,
    tap: Option<Tap>,
    queued: VecDeque<u8>,
    sink: ChangeSink,
}

impl ActuatorBoard {
    /// A board with `channels` outputs, all released.
    pub fn new(channels: u16, sink: ChangeSink) -> ActuatorBoard {
        ActuatorBoard {
            channels,
            held: vec![None; usize::from(channels)],
            line: Vec::with_capacity(MAX_LINE),
            overlong: false,
            tap: None,
            queued: VecDeque::new(),
            sink,
        }
    }

    fn banner(&self) -> String {
        format!(
            "yealink-actuator {PROTOCOL_VERSION} channels={}",
            self.channels
        )
    }

    fn press(&self, channel: u16, pressed: bool) {
        (self.sink)(ChannelChange {
            channel,
            active: pressed,
        });
    }

    fn slot(&mut self, channel: u16) -> &mut Option<Instant> {
        &mut self.held[usize::from(channel - 1)]
    }

    fn held_channels(&self) -> impl Iterator<Item = u16> + '_ {
        (1..=self.channels).filter(|&ch| self.held[usize::from(ch - 1)].is_some())
    }

    fn release(&mut self, channel: u16) {
        if self.slot(channel).take().is_some() {
            self.press(channel, false);
        }
    }

    /// Feeds bytes through the line assembler, stopping (and queueing the rest) when a `TAP`
    /// starts.
    fn consume(&mut self, bytes: impl IntoIterator<Item = u8>, now: Instant, out: &mut Vec<u8>) {
        let mut bytes = bytes.into_iter();
        while self.tap.is_none() {
            let Some(byte) = bytes.next() else { return };
            match byte {
                b'\r' | b'\n' => {
                    let line = std::mem::take(&mut self.line);
                    if std::mem::take(&mut self.overlong) {
                        reply(out, ActuatorError::LineTooLong.reply());
                    } else if line.iter().any(|&b| b != b' ') {
                        self.execute(&line, now, out);
                    }
                }
                _ if self.overlong => {}
                _ if self.line.len() == MAX_LINE => {
                    self.overlong = true;
                    self.line.clear();
                }
                _ => self.line.push(byte),
            }
        }
        for byte in bytes {
            if self.queued.len() == MAX_QUEUED_BYTES {
                tracing::warn!(
                    "actuator: input while a TAP runs overflows the buffer; bytes dropped"
                );
                break;
            }
            self.queued.push_back(byte);
        }
    }

    fn execute(&mut self, line: &[u8], now: Instant, out: &mut Vec<u8>) {
        let command = match parse_line(line, self.channels) {
            Ok(command) => command,
            Err(err) => return reply(out, err.reply()),
        };
        let echo = command.canonical();
        match command {
            Command::Hello => reply(out, &format!("OK {echo} {}", self.banner())),
            Command::Hold { channel, max_ms } => {
                let limit = Duration::from_millis(max_ms.unwrap_or(DEFAULT_HOLD_MAX_MS));
                let was_held = self.slot(channel).replace(now + limit).is_some();
                if !was_held {
                    self.press(channel, true);
                }
                reply(out, &format!("OK {echo}"));
            }
            Command::Release(channel) => {
                self.release(channel);
                reply(out, &format!("OK {echo}"));
            }
            Command::Tap { channel, ms } => {
                if self.slot(channel).is_some() {
                    return reply(out, ActuatorError::ChannelBusy.reply());
                }
                self.press(channel, true);
                self.tap = Some(Tap {
                    channel,
                    until: now + Duration::from_millis(ms),
                    reply: command,
                });
            }
            Command::ReleaseAll => {
                for channel in 1..=self.channels {
                    self.release(channel);
                }
                reply(out, &format!("OK {echo}"));
            }
            Command::QueryAll => {
                let held: Vec<String> = self.held_channels().map(|ch| ch.to_string()).collect();
                let list = if held.is_empty() {
                    "-".to_string()
                } else {
                    held.join(",")
                };
                reply(out, &format!("OK {echo} HELD {list}"));
            }
            Command::Query(channel) => {
                let state = if self.slot(channel).is_some() {
                    "HELD"
                } else {
                    "RELEASED"
                };
                reply(out, &format!("OK {echo} {state}"));
            }
        }
    }

    fn fire_watchdogs(&mut self, now: Instant, out: &mut Vec<u8>) {
        for channel in 1..=self.channels {
            if self.slot(channel).is_some_and(|deadline| deadline <= now) {
                self.release(channel);
                tracing::warn!(
                    channel,
                    "actuator: hold watchdog released a channel the host left held"
                );
                reply(out, &format!("EVT AUTORELEASE {channel}"));
            }
        }
    }
}

fn reply(out: &mut Vec<u8>, line: &str) {
    out.extend_from_slice(line.as_bytes());
    out.extend_from_slice(b"\r\n");
}

impl SerialProtocol for ActuatorBoard {
    fn plugged_in(&mut self, _now: Instant) -> Vec<u8> {
        let mut out = Vec::new();
        reply(&mut out, &format!("READY {}", self.banner()));
        out
    }

    fn receive(&mut self, bytes: &[u8], now: Instant) -> Vec<u8> {
        let mut out = Vec::new();
        // Timers that are already due act first: the board's clock ran while the bytes travelled.
        out.extend(self.tick(now));
        self.consume(bytes.iter().copied(), now, &mut out);
        out
    }

    fn next_deadline(&self) -> Option<Instant> {
        let watchdog = self.held.iter().flatten().min().copied();
        let tap = self.tap.map(|t| t.until);
        match (watchdog, tap) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn tick(&mut self, now: Instant) -> Vec<u8> {
        let mut out = Vec::new();
        self.fire_watchdogs(now, &mut out);
        if let Some(tap) = self.tap.filter(|t| t.until <= now) {
            self.tap = None;
            self.press(tap.channel, false);
            reply(&mut out, &format!("OK {}", tap.reply.canonical()));
            // Commands the host sent during the TAP run now, in order; they start at the
            // moment the TAP ended, so a queued TAP's time starts there too.
            let queued: Vec<u8> = self.queued.drain(..).collect();
            self.consume(queued, tap.until, &mut out);
        }
        out
    }

    fn unplugged(&mut self) {
        // Power lost: every output drops, the TAP in progress ends without a reply, and what
        // the UART held is gone. The next power-up announces READY with all released.
        if let Some(tap) = self.tap.take() {
            self.press(tap.channel, false);
        }
        for channel in 1..=self.channels {
            self.release(channel);
        }
        self.queued.clear();
        self.line.clear();
        self.overlong = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    struct Bench {
        board: ActuatorBoard,
        seen: Arc<Mutex<Vec<ChannelChange>>>,
        now: Instant,
    }

    impl Bench {
        fn new(channels: u16) -> Bench {
            let seen = Arc::new(Mutex::new(Vec::new()));
            let sink_seen = Arc::clone(&seen);
            let board = ActuatorBoard::new(
                channels,
                Arc::new(move |c| sink_seen.lock().unwrap().push(c)),
            );
            Bench {
                board,
                seen,
                now: Instant::now(),
            }
        }

        fn send(&mut self, bytes: &[u8]) -> String {
            String::from_utf8(self.board.receive(bytes, self.now)).unwrap()
        }

        fn advance_ms(&mut self, ms: u64) -> String {
            self.now += Duration::from_millis(ms);
            String::from_utf8(self.board.tick(self.now)).unwrap()
        }

        fn changes(&self) -> Vec<(u16, bool)> {
            self.seen
                .lock()
                .unwrap()
                .iter()
                .map(|c| (c.channel, c.active))
                .collect()
        }
    }

    #[test]
    fn announces_ready_at_power_up() {
        let mut b = Bench::new(18);
        let banner = b.board.plugged_in(b.now);
        assert_eq!(banner, b"READY yealink-actuator 1 channels=18\r\n");
    }

    #[test]
    fn every_command_row() {
        let mut b = Bench::new(18);
        assert_eq!(
            b.send(b"HELLO\n"),
            "OK HELLO yealink-actuator 1 channels=18\r\n"
        );
        assert_eq!(b.send(b"hold 1\n"), "OK HOLD 1\r\n");
        assert_eq!(b.send(b"HOLD 2 5000\n"), "OK HOLD 2 5000\r\n");
        assert_eq!(b.send(b"QUERY\n"), "OK QUERY HELD 1,2\r\n");
        assert_eq!(b.send(b"QUERY 2\n"), "OK QUERY 2 HELD\r\n");
        assert_eq!(b.send(b"QUERY 3\n"), "OK QUERY 3 RELEASED\r\n");
        assert_eq!(b.send(b"release 1\n"), "OK RELEASE 1\r\n");
        assert_eq!(
            b.send(b"RELEASE 1\n"),
            "OK RELEASE 1\r\n",
            "releasing a released channel is fine"
        );
        assert_eq!(b.send(b"RELEASEALL\n"), "OK RELEASEALL\r\n");
        assert_eq!(b.send(b"QUERY\n"), "OK QUERY HELD -\r\n");
        assert_eq!(
            b.send(b"TAP 5 80\n"),
            "",
            "the TAP reply comes after the release"
        );
        assert_eq!(b.changes().last(), Some(&(5, true)));
        assert_eq!(
            b.board.next_deadline(),
            Some(b.now + Duration::from_millis(80))
        );
        assert_eq!(b.advance_ms(79), "");
        assert_eq!(b.advance_ms(1), "OK TAP 5 80\r\n");
        assert_eq!(
            b.changes(),
            [
                (1, true),
                (2, true),
                (1, false),
                (2, false),
                (5, true),
                (5, false)
            ]
        );
    }

    #[test]
    fn canonical_echo_upper_case_single_spaces_no_leading_zeros() {
        let mut b = Bench::new(18);
        assert_eq!(b.send(b"  hOlD   007  00500 \r\n"), "OK HOLD 7 500\r\n");
        assert_eq!(b.send(b"Query 07\n"), "OK QUERY 7 HELD\r\n");
        assert_eq!(b.send(b"releaseall\r"), "OK RELEASEALL\r\n");
    }

    #[test]
    fn every_error_row() {
        let mut b = Bench::new(18);
        assert_eq!(b.send(b"FROB\n"), "ERR 1 unknown command\r\n");
        assert_eq!(b.send(b"HOLD 99\n"), "ERR 2 bad channel\r\n");
        assert_eq!(b.send(b"HOLD 0\n"), "ERR 2 bad channel\r\n");
        assert_eq!(b.send(b"HOLD x\n"), "ERR 2 bad channel\r\n");
        assert_eq!(b.send(b"RELEASE -1\n"), "ERR 2 bad channel\r\n");
        assert_eq!(b.send(b"QUERY 19\n"), "ERR 2 bad channel\r\n");
        assert_eq!(
            b.send(b"TAP 99999999999999999999999 5\n"),
            "ERR 2 bad channel\r\n"
        );
        assert_eq!(b.send(b"HOLD\n"), "ERR 3 bad argument\r\n");
        assert_eq!(b.send(b"HOLD 1 0\n"), "ERR 3 bad argument\r\n");
        assert_eq!(b.send(b"HOLD 1 3600001\n"), "ERR 3 bad argument\r\n");
        assert_eq!(b.send(b"HOLD 1 5 6\n"), "ERR 3 bad argument\r\n");
        assert_eq!(b.send(b"TAP 1\n"), "ERR 3 bad argument\r\n");
        assert_eq!(b.send(b"TAP 1 0\n"), "ERR 3 bad argument\r\n");
        assert_eq!(b.send(b"TAP 1 60001\n"), "ERR 3 bad argument\r\n");
        assert_eq!(b.send(b"TAP 1 abc\n"), "ERR 3 bad argument\r\n");
        assert_eq!(b.send(b"HELLO there\n"), "ERR 3 bad argument\r\n");
        assert_eq!(b.send(b"RELEASEALL 1\n"), "ERR 3 bad argument\r\n");
        assert_eq!(b.send(b"QUERY 1 2\n"), "ERR 3 bad argument\r\n");
        assert_eq!(b.send(b"RELEASE\n"), "ERR 3 bad argument\r\n");
        let long = vec![b'A'; 65];
        assert_eq!(
            b.send(&[long.as_slice(), b"\n"].concat()),
            "ERR 4 line too long\r\n"
        );
        assert_eq!(b.send(b"HOLD 3\n"), "OK HOLD 3\r\n");
        assert_eq!(b.send(b"TAP 3 10\n"), "ERR 5 channel busy\r\n");
        assert_eq!(b.changes(), [(3, true)], "a refused command has no effect");
    }

    #[test]
    fn exactly_64_bytes_is_accepted() {
        let mut b = Bench::new(18);
        let mut line = b"HOLD 1".to_vec();
        line.resize(63, b' ');
        line.push(b'9');
        assert_eq!(line.len(), 64);
        assert_eq!(
            b.send(&[line.as_slice(), b"\n"].concat()),
            "OK HOLD 1 9\r\n"
        );
        let mut line = b"QUERY".to_vec();
        line.resize(64, b' ');
        assert_eq!(
            b.send(&[line.as_slice(), b"\r\n"].concat()),
            "OK QUERY HELD 1\r\n"
        );
    }

    #[test]
    fn overlong_line_errs_once_and_discards_up_to_the_terminator() {
        let mut b = Bench::new(18);
        assert_eq!(b.send(&[b'H'; 40]), "");
        assert_eq!(b.send(&[b'H'; 40]), "");
        assert_eq!(b.send(b"OLD 1 and more junk"), "");
        assert_eq!(
            b.send(b"\r\nHELLO\n"),
            "ERR 4 line too long\r\nOK HELLO yealink-actuator 1 channels=18\r\n"
        );
        assert!(b.changes().is_empty());
    }

    #[test]
    fn terminators_empty_lines_and_lone_cr() {
        let mut b = Bench::new(18);
        assert_eq!(b.send(b"\n\r\n\r   \n"), "", "empty lines get no reply");
        assert_eq!(
            b.send(b"HELLO\rQUERY\r"),
            "OK HELLO yealink-actuator 1 channels=18\r\nOK QUERY HELD -\r\n"
        );
        assert_eq!(b.send(b"QUE"), "");
        assert_eq!(b.send(b"RY 1\r\n"), "OK QUERY 1 RELEASED\r\n");
    }

    #[test]
    fn binary_junk_is_unknown_and_the_board_keeps_answering() {
        let mut b = Bench::new(18);
        assert_eq!(b.send(b"\x00\xff\x1b[A\n"), "ERR 1 unknown command\r\n");
        assert_eq!(b.send(b"HOLD\t1\n"), "ERR 1 unknown command\r\n");
        assert_eq!(b.send(b"HOLD 1\xe9\n"), "ERR 1 unknown command\r\n");
        let junk: Vec<u8> = (0u8..=255).filter(|c| *c != b'\r' && *c != b'\n').collect();
        assert_eq!(
            b.send(&[junk.as_slice(), b"\n"].concat()),
            "ERR 4 line too long\r\n"
        );
        assert_eq!(
            b.send(b"HELLO\n"),
            "OK HELLO yealink-actuator 1 channels=18\r\n"
        );
        assert!(b.changes().is_empty());
    }

    #[test]
    fn commands_sent_during_a_tap_run_afterwards_in_order() {
        let mut b = Bench::new(18);
        assert_eq!(b.send(b"TAP 2 100\nQUERY 2\nTAP 3 50\nHELLO\n"), "");
        assert_eq!(
            b.send(b"QUERY\n"),
            "",
            "no command is read while a TAP runs"
        );
        assert_eq!(b.advance_ms(100), "OK TAP 2 100\r\nOK QUERY 2 RELEASED\r\n");
        assert_eq!(b.advance_ms(49), "");
        assert_eq!(
            b.advance_ms(1),
            "OK TAP 3 50\r\nOK HELLO yealink-actuator 1 channels=18\r\nOK QUERY HELD -\r\n"
        );
        assert_eq!(b.changes(), [(2, true), (2, false), (3, true), (3, false)]);
    }

    #[test]
    fn hold_watchdog_releases_and_reports() {
        let mut b = Bench::new(18);
        assert_eq!(b.send(b"HOLD 4 300\n"), "OK HOLD 4 300\r\n");
        assert_eq!(b.send(b"HOLD 6\n"), "OK HOLD 6\r\n");
        assert_eq!(b.advance_ms(299), "");
        assert_eq!(b.advance_ms(1), "EVT AUTORELEASE 4\r\n");
        assert_eq!(b.send(b"QUERY\n"), "OK QUERY HELD 6\r\n");
        assert_eq!(
            b.board.next_deadline(),
            Some(b.now - Duration::from_millis(300) + Duration::from_millis(DEFAULT_HOLD_MAX_MS))
        );
        assert_eq!(b.advance_ms(DEFAULT_HOLD_MAX_MS), "EVT AUTORELEASE 6\r\n");
        assert_eq!(b.board.next_deadline(), None);
        assert_eq!(b.changes(), [(4, true), (6, true), (4, false), (6, false)]);
    }

    #[test]
    fn re_hold_restarts_the_watchdog_and_release_cancels_it() {
        let mut b = Bench::new(18);
        b.send(b"HOLD 1 100\n");
        b.advance_ms(90);
        assert_eq!(b.send(b"HOLD 1 100\n"), "OK HOLD 1 100\r\n");
        assert_eq!(b.advance_ms(90), "");
        assert_eq!(b.advance_ms(10), "EVT AUTORELEASE 1\r\n");
        b.send(b"HOLD 2 100\n");
        b.send(b"RELEASE 2\n");
        assert_eq!(b.advance_ms(1000), "");
        assert_eq!(b.changes(), [(1, true), (1, false), (2, true), (2, false)]);
    }

    #[test]
    fn watchdog_fires_during_a_tap() {
        let mut b = Bench::new(18);
        b.send(b"HOLD 1 50\nTAP 2 100\n");
        assert_eq!(b.advance_ms(50), "EVT AUTORELEASE 1\r\n");
        assert_eq!(b.advance_ms(50), "OK TAP 2 100\r\n");
    }

    #[test]
    fn unplug_releases_everything_and_ends_a_tap_silently() {
        let mut b = Bench::new(18);
        b.send(b"HOLD 1\nTAP 2 100\nHOLD 3\n");
        b.board.unplugged();
        assert_eq!(b.board.next_deadline(), None);
        assert_eq!(b.changes(), [(1, true), (2, true), (2, false), (1, false)]);
        assert_eq!(
            b.send(b"QUERY\n"),
            "OK QUERY HELD -\r\n",
            "queued commands died with the power"
        );
    }
}
