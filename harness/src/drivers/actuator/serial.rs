//! The button actuator's serial line protocol, exactly as lab/actuator/PROTOCOL.md defines
//! its version 1: 115200 8N1, one command line in, one `OK`/`ERR` line out, with unsolicited
//! `READY`/`EVT` lines logged and skipped.
//!
//! Opening resynchronises as PROTOCOL.md's "Resynchronising" section says: a host killed
//! mid-`TAP` leaves its answer in flight, and it must not pass for the answer to `HELLO`.
//! Dropping the driver sends nothing: releasing keys is the caller's explicit job.

use std::time::{Duration, Instant};

use crate::drivers::transport::{FramedLink, SerialLink, TtyLink, printable};
use crate::drivers::{ButtonActuator, DeviceRef, DriverError, serial_port};
use crate::lab::Actuator;

/// The actuator's baud rate.
pub const ACTUATOR_BAUD: u32 = 115_200;

/// `ERR 5`: `TAP` on a channel held by `HOLD`.
pub const ERR_CHANNEL_BUSY: u16 = 5;

/// The longest `TAP` the protocol accepts, in milliseconds.
pub const MAX_TAP_MS: u64 = 60_000;

/// The board's name and protocol version in its `HELLO` answer.
const BOARD_NAME: &str = "yealink-actuator";
const PROTOCOL_VERSION: &str = "1";

/// A board answers in milliseconds; this leaves room for a loaded USB hub.
const DEFAULT_REPLY_TIMEOUT: Duration = Duration::from_secs(1);

/// Opening the port resets boards whose DTR drives their reset line; a bootloader may keep
/// such a board deaf for a couple of seconds, so `HELLO` is given longer and sent twice.
const HELLO_TIMEOUT: Duration = Duration::from_millis(2500);
const HELLO_ATTEMPTS: usize = 2;

/// How long the board must stay silent before answers are trusted to line up with
/// commands again after a timeout.
const RESYNC_QUIET: Duration = Duration::from_millis(20);

/// At open, what the board sent before (a banner, answers an earlier host never read) is
/// thrown away until it has been silent this long.
const OPEN_QUIET: Duration = Duration::from_millis(50);

/// Answers to an earlier host's commands skipped while waiting for the `HELLO` answer; a
/// board that sends more is not answering this host at all.
const MAX_STALE_LINES: usize = 32;

/// One command of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Identify the board and its channel count.
    Hello,
    /// Press a channel and keep it pressed (the board's default watchdog applies).
    Hold(u16),
    /// Release a channel.
    Release(u16),
    /// Press a channel for some milliseconds; the reply comes after the release.
    Tap(u16, u64),
    /// Release every channel.
    ReleaseAll,
    /// List the held channels.
    Query,
}

impl Command {
    /// The canonical form: what is sent (before `\n`) and what an `OK` reply echoes.
    pub fn canonical(&self) -> String {
        match self {
            Command::Hello => "HELLO".into(),
            Command::Hold(ch) => format!("HOLD {ch}"),
            Command::Release(ch) => format!("RELEASE {ch}"),
            Command::Tap(ch, ms) => format!("TAP {ch} {ms}"),
            Command::ReleaseAll => "RELEASEALL".into(),
            Command::Query => "QUERY".into(),
        }
    }

    /// The bytes on the wire.
    pub fn encode(&self) -> Vec<u8> {
        format!("{}\n", self.canonical()).into_bytes()
    }

    /// Whether the `OK` reply carries a result after the echo.
    fn has_result(&self) -> bool {
        matches!(self, Command::Hello | Command::Query)
    }
}

/// One line from the board, without its terminator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// `OK <echo> [result]`: the text after `OK `.
    Ok(String),
    /// `ERR <code> <text>`.
    Err {
        /// The error code.
        code: u16,
        /// The board's text for it.
        text: String,
    },
    /// `READY ...`: the board has just reset and released every channel.
    Ready(String),
    /// `EVT ...`: something happened on the board (`EVT AUTORELEASE <ch>`).
    Event(String),
    /// Nothing (an empty line); ignored.
    Empty,
    /// Anything else: not this protocol.
    Unknown(String),
}

/// Classify one received line (terminators are stripped here).
pub fn parse_line(raw: &str) -> Line {
    let line = raw.trim_end_matches(['\r', '\n']);
    if line.is_empty() {
        return Line::Empty;
    }
    if line == "OK" {
        return Line::Unknown(line.to_string());
    }
    if let Some(rest) = line.strip_prefix("OK ") {
        return Line::Ok(rest.to_string());
    }
    if let Some(rest) = line.strip_prefix("ERR ") {
        let (code, text) = rest.split_once(' ').unwrap_or((rest, ""));
        return match code.parse() {
            Ok(code) => Line::Err {
                code,
                text: text.to_string(),
            },
            Err(_) => Line::Unknown(line.to_string()),
        };
    }
    if line == "READY" || line.starts_with("READY ") {
        return Line::Ready(line.to_string());
    }
    if line == "EVT" || line.starts_with("EVT ") {
        return Line::Event(line.to_string());
    }
    Line::Unknown(line.to_string())
}

/// The channel count in a `HELLO` reply (`HELLO yealink-actuator 1 channels=<n>`), after
/// checking the board name and protocol version.
pub fn parse_hello(ok_text: &str) -> Result<u16, String> {
    let expected =
        format!("expected `HELLO {BOARD_NAME} {PROTOCOL_VERSION} channels=<n>` (protocol 1)");
    let words: Vec<&str> = ok_text.split(' ').collect();
    match words.as_slice() {
        ["HELLO", name, version, channels]
            if *name == BOARD_NAME && *version == PROTOCOL_VERSION =>
        {
            channels
                .strip_prefix("channels=")
                .and_then(|n| n.parse().ok())
                .ok_or(expected)
        }
        _ => Err(expected),
    }
}

/// The held channels in a `QUERY` reply (`QUERY HELD 1,3` or `QUERY HELD -`), ascending.
pub fn parse_held(ok_text: &str) -> Result<Vec<u16>, String> {
    let expected = "expected `QUERY HELD <ch>,<ch>,...` or `QUERY HELD -`".to_string();
    let list = ok_text
        .strip_prefix("QUERY HELD ")
        .ok_or_else(|| expected.clone())?;
    if list == "-" {
        return Ok(Vec::new());
    }
    let mut held = list
        .split(',')
        .map(|ch| ch.parse::<u16>().map_err(|_| expected.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    held.sort_unstable();
    Ok(held)
}

/// An open button actuator whose channel count matches the lab file.
///
/// Dropping it sends nothing and leaves every key as it is: the bench lifecycle releases
/// keys explicitly (`release_all`) on every exit path, and `harness lab check` must be able
/// to open and close an actuator without pressing or releasing anything.
pub struct SerialActuator {
    link: FramedLink,
    device: DeviceRef,
    channels: u16,
    reply_timeout: Duration,
    /// A reply went missing or came garbled: a late one may still arrive and must not
    /// answer the next command.
    desynced: bool,
}

impl SerialActuator {
    /// Open the actuator's port and check the board with `HELLO`.
    pub fn open(actuator: &Actuator) -> Result<Self, DriverError> {
        let device = DeviceRef::actuator(actuator);
        let link = TtyLink::open(
            serial_port(&device, actuator.port.as_deref())?,
            ACTUATOR_BAUD,
        )
        .map_err(|source| DriverError::Open {
            device: Box::new(device.clone()),
            source,
        })?;
        Self::connect(Box::new(link), device, actuator.channels)
    }

    /// Drive an actuator over `link`: resynchronise (pending input dropped, then `HELLO`
    /// until its answer), and the board must report the `channels` of the lab file.
    pub fn connect(
        link: Box<dyn SerialLink>,
        device: DeviceRef,
        channels: u16,
    ) -> Result<Self, DriverError> {
        let mut actuator = SerialActuator {
            link: FramedLink::new(link),
            device,
            channels,
            reply_timeout: DEFAULT_REPLY_TIMEOUT,
            desynced: false,
        };
        let device = actuator.device.clone();
        actuator.link.begin(&device)?;
        let hello = actuator.handshake();
        actuator.link.end(hello.is_ok());
        let hello = hello?;
        let reported = parse_hello(&hello).map_err(|expected| DriverError::Protocol {
            device: Box::new(actuator.device.clone()),
            command: Command::Hello.canonical(),
            answer: format!("OK {hello}"),
            expected,
        })?;
        if reported != channels {
            return Err(DriverError::ChannelCount {
                device: Box::new(actuator.device.clone()),
                configured: channels,
                reported,
            });
        }
        Ok(actuator)
    }

    /// Wait at most `timeout` for each ordinary reply (a `TAP` gets its hold time on top).
    pub fn with_reply_timeout(mut self, timeout: Duration) -> Self {
        self.reply_timeout = timeout;
        self
    }

    /// Bring a board in an unknown state into step: drop what it sent before, then send
    /// `HELLO` until it answers, skipping answers to an earlier host's commands.
    fn handshake(&mut self) -> Result<String, DriverError> {
        let hello = Command::Hello.canonical();
        let stale = self
            .link
            .drain(OPEN_QUIET)
            .map_err(|e| DriverError::from_io(&self.device, &hello, OPEN_QUIET, e))?;
        if !stale.is_empty() {
            tracing::info!(device = %self.device, dropped = %printable(&stale), "input pending at open dropped");
        }
        let mut attempt = 1;
        loop {
            self.link
                .write_all(&Command::Hello.encode())
                .map_err(|e| DriverError::from_io(&self.device, &hello, HELLO_TIMEOUT, e))?;
            match self.await_hello() {
                Err(DriverError::Timeout { .. }) if attempt < HELLO_ATTEMPTS => {
                    tracing::info!(device = %self.device, "no answer to HELLO, the board may be resetting or finishing an earlier TAP; asking again");
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Read lines until the `HELLO` answer; `OK`/`ERR` lines before it answer commands an
    /// earlier host sent (a `TAP` still running when it was killed).
    fn await_hello(&mut self) -> Result<String, DriverError> {
        let hello = Command::Hello.canonical();
        let deadline = Instant::now() + HELLO_TIMEOUT;
        let mut stale_lines = 0;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let raw = self
                .link
                .read_until(b'\n', remaining)
                .map_err(|e| DriverError::from_io(&self.device, &hello, HELLO_TIMEOUT, e))?;
            let text = String::from_utf8_lossy(&raw);
            match parse_line(&text) {
                Line::Ok(rest) if rest.starts_with("HELLO ") => return Ok(rest),
                Line::Ok(_) | Line::Err { .. } if stale_lines < MAX_STALE_LINES => {
                    stale_lines += 1;
                    tracing::info!(device = %self.device, line = %printable(&raw), "answer to an earlier host's command dropped");
                }
                Line::Ok(_) | Line::Err { .. } => {
                    return Err(self.protocol(
                        &hello,
                        &raw,
                        "expected the HELLO answer; the board keeps answering commands this host never sent",
                    ));
                }
                Line::Empty => {}
                Line::Ready(line) | Line::Event(line) => {
                    tracing::info!(device = %self.device, line = %line, "actuator line while opening");
                }
                Line::Unknown(_) => {
                    return Err(self.protocol(
                        &hello,
                        &raw,
                        "expected an `OK`, `ERR`, `READY` or `EVT` line",
                    ));
                }
            }
        }
    }

    fn check_channel(&self, channel: u16) -> Result<(), DriverError> {
        crate::drivers::power::check_channel(&self.device, channel, 1, self.channels)
    }

    /// Send `command` and return the text of its `OK` reply, skipping unsolicited lines.
    /// After any failure but a clean `ERR` line, the next command first drops late input.
    /// The board is held for the whole exchange (a `TAP` until its reply), and late input is
    /// dropped first too when another process's exchange on it did not finish.
    fn exchange(&mut self, command: Command, timeout: Duration) -> Result<String, DriverError> {
        let device = self.device.clone();
        if self.link.begin(&device)?.interrupted() {
            self.desynced = true;
        }
        let result = self.exchange_in_step(command, timeout);
        let in_step = match &result {
            Ok(_) | Err(DriverError::Refused { .. }) => true,
            Err(_) => false,
        };
        self.link.end(in_step);
        if !in_step {
            self.desynced = true;
        }
        result
    }

    fn exchange_in_step(
        &mut self,
        command: Command,
        timeout: Duration,
    ) -> Result<String, DriverError> {
        let canonical = command.canonical();
        let io_error = |device: &DeviceRef, e| DriverError::from_io(device, &canonical, timeout, e);
        if self.desynced {
            let late = self
                .link
                .drain(RESYNC_QUIET)
                .map_err(|e| io_error(&self.device, e))?;
            tracing::debug!(device = %self.device, dropped = %printable(&late), "late replies dropped");
            self.desynced = false;
        }
        self.link
            .write_all(&command.encode())
            .map_err(|e| io_error(&self.device, e))?;
        let deadline = Instant::now() + timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let raw = self
                .link
                .read_until(b'\n', remaining)
                .map_err(|e| io_error(&self.device, e))?;
            let text = String::from_utf8_lossy(&raw);
            match parse_line(&text) {
                Line::Empty => {}
                Line::Ready(line) => tracing::warn!(
                    device = %self.device,
                    line = %line,
                    "the actuator reset: every key it held is released"
                ),
                Line::Event(line) => {
                    tracing::warn!(device = %self.device, line = %line, "actuator event")
                }
                // HELLO has no effect and is sent twice when a board is slow to boot: the
                // answer to the first one may turn up late.
                Line::Ok(rest) if command != Command::Hello && rest.starts_with("HELLO ") => {
                    tracing::debug!(device = %self.device, line = %rest, "late HELLO answer dropped");
                }
                Line::Ok(rest) => {
                    let echoes = if command.has_result() {
                        rest.starts_with(&format!("{canonical} "))
                            || (command == Command::Query && rest.starts_with("QUERY HELD "))
                    } else {
                        rest == canonical
                    };
                    if echoes {
                        tracing::debug!(device = %self.device, command = %canonical, reply = %rest, "actuator");
                        return Ok(rest);
                    }
                    return Err(self.protocol(&canonical, &raw, "expected `OK` echoing it"));
                }
                Line::Err { code, text } => {
                    return Err(DriverError::Refused {
                        device: Box::new(self.device.clone()),
                        command: canonical,
                        code,
                        text,
                    });
                }
                Line::Unknown(_) => {
                    return Err(self.protocol(
                        &canonical,
                        &raw,
                        "expected an `OK`, `ERR`, `READY` or `EVT` line",
                    ));
                }
            }
        }
    }

    /// A protocol fault over `answer`, the bytes as received (shown escaped, never as
    /// lossy text).
    fn protocol(&self, command: &str, answer: &[u8], expected: &str) -> DriverError {
        DriverError::Protocol {
            device: Box::new(self.device.clone()),
            command: command.to_string(),
            answer: printable(answer),
            expected: expected.to_string(),
        }
    }
}

impl ButtonActuator for SerialActuator {
    fn hold(&mut self, channel: u16) -> Result<(), DriverError> {
        self.check_channel(channel)?;
        self.exchange(Command::Hold(channel), self.reply_timeout)
            .map(drop)
    }

    fn release(&mut self, channel: u16) -> Result<(), DriverError> {
        self.check_channel(channel)?;
        self.exchange(Command::Release(channel), self.reply_timeout)
            .map(drop)
    }

    fn tap(&mut self, channel: u16, hold_ms: u64) -> Result<(), DriverError> {
        self.check_channel(channel)?;
        if !(1..=MAX_TAP_MS).contains(&hold_ms) {
            return Err(DriverError::Unsupported {
                device: Box::new(self.device.clone()),
                request: format!("tap channel {channel} for {hold_ms} ms"),
                reason: format!("a tap lasts 1 to {MAX_TAP_MS} ms; use hold and release beyond"),
            });
        }
        // The reply comes only after the key is released again.
        let timeout = Duration::from_millis(hold_ms) + self.reply_timeout;
        self.exchange(Command::Tap(channel, hold_ms), timeout)
            .map(drop)
    }

    fn release_all(&mut self) -> Result<(), DriverError> {
        self.exchange(Command::ReleaseAll, self.reply_timeout)
            .map(drop)
    }

    fn held(&mut self) -> Result<Vec<u16>, DriverError> {
        let rest = self.exchange(Command::Query, self.reply_timeout)?;
        parse_held(&rest).map_err(|expected| {
            self.protocol(
                &Command::Query.canonical(),
                format!("OK {rest}").as_bytes(),
                &expected,
            )
        })
    }

    fn describe(&self) -> String {
        format!("{}-channel button actuator, {}", self.channels, self.device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::transport::ScriptedLink;
    use std::io;
    use std::path::PathBuf;

    fn device() -> DeviceRef {
        DeviceRef {
            table: "actuator",
            name: "keys-t46g".into(),
            port: PathBuf::from("/dev/serial/by-id/actuator"),
        }
    }

    fn greeted(channels: u16) -> ScriptedLink {
        ScriptedLink::new().expect("HELLO\n").reply(format!(
            "OK HELLO yealink-actuator 1 channels={channels}\r\n"
        ))
    }

    #[test]
    fn encodes_canonical_commands() {
        assert_eq!(Command::Hello.encode(), b"HELLO\n");
        assert_eq!(Command::Hold(1).encode(), b"HOLD 1\n");
        assert_eq!(Command::Release(12).encode(), b"RELEASE 12\n");
        assert_eq!(Command::Tap(5, 80).encode(), b"TAP 5 80\n");
        assert_eq!(Command::ReleaseAll.encode(), b"RELEASEALL\n");
        assert_eq!(Command::Query.encode(), b"QUERY\n");
    }

    #[test]
    fn parses_reply_lines() {
        assert_eq!(parse_line("OK HOLD 1\r\n"), Line::Ok("HOLD 1".into()));
        assert_eq!(
            parse_line("ERR 2 bad channel\r\n"),
            Line::Err {
                code: 2,
                text: "bad channel".into()
            }
        );
        assert_eq!(
            parse_line("READY yealink-actuator 1 channels=24\r\n"),
            Line::Ready("READY yealink-actuator 1 channels=24".into())
        );
        assert_eq!(
            parse_line("EVT AUTORELEASE 3\r\n"),
            Line::Event("EVT AUTORELEASE 3".into())
        );
        assert_eq!(parse_line("\r\n"), Line::Empty);
        assert_eq!(parse_line("ERR x\r\n"), Line::Unknown("ERR x".into()));
        assert_eq!(parse_line("OKAY\r\n"), Line::Unknown("OKAY".into()));
    }

    #[test]
    fn parses_hello() {
        assert_eq!(parse_hello("HELLO yealink-actuator 1 channels=18"), Ok(18));
        assert!(parse_hello("HELLO yealink-actuator 2 channels=18").is_err());
        assert!(parse_hello("HELLO other-board 1 channels=18").is_err());
        assert!(parse_hello("HELLO yealink-actuator 1 channels=x").is_err());
    }

    #[test]
    fn parses_held_lists() {
        assert_eq!(parse_held("QUERY HELD -"), Ok(vec![]));
        assert_eq!(parse_held("QUERY HELD 7,1,3"), Ok(vec![1, 3, 7]));
        assert!(parse_held("QUERY HELD 1,,3").is_err());
        assert!(parse_held("QUERY 1 HELD").is_err());
    }

    #[test]
    fn a_whole_session() {
        let link = ScriptedLink::new()
                // A reset on open: the banner comes before the answer to HELLO.
                .expect("HELLO\n")
                .reply("READY yealink-actuator 1 channels=24\r\nOK HELLO yealink-actuator 1 channels=24\r\n")
                .expect("HOLD 1\n")
                .reply("OK HOLD 1\r\n")
                .expect("QUERY\n")
                .reply("OK QUERY HELD 1\r\n")
                .expect("TAP 5 80\n")
                .reply("OK TAP 5 80\r\n")
                .expect("RELEASE 1\n")
                .reply("EVT AUTORELEASE 1\r\nOK RELEASE 1\r\n")
                .expect("QUERY\n")
                .reply("OK QUERY HELD -\r\n")
                .expect("RELEASEALL\n")
                .reply("OK RELEASEALL\r\n");
        let mut actuator = SerialActuator::connect(link.boxed(), device(), 24).unwrap();
        actuator.hold(1).unwrap();
        assert_eq!(actuator.held().unwrap(), vec![1]);
        actuator.tap(5, 80).unwrap();
        actuator.release(1).unwrap();
        assert_eq!(actuator.held().unwrap(), Vec::<u16>::new());
        actuator.release_all().unwrap();
    }

    #[test]
    fn hello_is_repeated_while_the_board_boots() {
        let link = ScriptedLink::new()
            .expect("HELLO\n")
            .expect("HELLO\n")
            .reply("OK HELLO yealink-actuator 1 channels=8\r\n");
        SerialActuator::connect(link.boxed(), device(), 8).unwrap();
    }

    #[test]
    fn a_late_hello_answer_does_not_answer_the_next_command() {
        let link = greeted(8)
            .expect("HOLD 2\n")
            .reply("OK HELLO yealink-actuator 1 channels=8\r\nOK HOLD 2\r\n");
        let mut actuator = SerialActuator::connect(link.boxed(), device(), 8).unwrap();
        actuator.hold(2).unwrap();
    }

    #[test]
    fn a_board_with_other_channels_is_refused() {
        let link = greeted(18);
        let err = SerialActuator::connect(link.boxed(), device(), 24)
            .err()
            .unwrap();
        assert!(
            matches!(
                err,
                DriverError::ChannelCount {
                    configured: 24,
                    reported: 18,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.is_lab_fault());
    }

    #[test]
    fn a_board_of_another_protocol_is_refused() {
        let link = ScriptedLink::new()
            .expect("HELLO\n")
            .reply("OK HELLO yealink-actuator 2 channels=24\r\n");
        let err = SerialActuator::connect(link.boxed(), device(), 24)
            .err()
            .unwrap();
        assert!(matches!(err, DriverError::Protocol { .. }), "{err}");
    }

    #[test]
    fn errors_name_their_code() {
        let link = greeted(24)
            .expect("TAP 3 100\n")
            .reply("ERR 5 channel busy\r\n");
        let mut actuator = SerialActuator::connect(link.boxed(), device(), 24).unwrap();
        let err = actuator.tap(3, 100).unwrap_err();
        assert!(
            matches!(
                err,
                DriverError::Refused {
                    code: ERR_CHANNEL_BUSY,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("ERR 5 channel busy"), "{err}");
        assert!(!err.is_lab_fault());
    }

    #[test]
    fn a_mismatched_echo_is_a_protocol_fault() {
        let link = greeted(24).expect("HOLD 3\n").reply("OK HOLD 4\r\n");
        let mut actuator = SerialActuator::connect(link.boxed(), device(), 24).unwrap();
        let err = actuator.hold(3).unwrap_err();
        assert!(matches!(err, DriverError::Protocol { .. }), "{err}");
        assert!(err.is_lab_fault());
    }

    #[test]
    fn bad_requests_send_nothing() {
        let mut actuator = SerialActuator::connect(greeted(24).boxed(), device(), 24).unwrap();
        for err in [
            actuator.hold(0).unwrap_err(),
            actuator.release(25).unwrap_err(),
            actuator.tap(1, 0).unwrap_err(),
            actuator.tap(1, MAX_TAP_MS + 1).unwrap_err(),
        ] {
            assert!(!err.is_lab_fault(), "{err}");
        }
    }

    #[test]
    fn a_silent_board_times_out_and_late_replies_are_dropped() {
        let link = greeted(24)
            .expect("HOLD 1\n")
            .expect("RELEASE 1\n")
            .reply("OK RELEASE 1\r\n");
        let mut actuator = SerialActuator::connect(link.boxed(), device(), 24).unwrap();
        let err = actuator.hold(1).unwrap_err();
        assert!(matches!(err, DriverError::Timeout { .. }), "{err}");
        assert!(err.is_lab_fault());
        actuator.release(1).unwrap();
    }

    #[test]
    fn a_vanished_port_is_a_lab_fault() {
        let link = greeted(24)
            .expect("HOLD 1\n")
            .fail_read(io::ErrorKind::BrokenPipe);
        let mut actuator = SerialActuator::connect(link.boxed(), device(), 24).unwrap();
        let err = actuator.hold(1).unwrap_err();
        assert!(matches!(err, DriverError::Io { .. }), "{err}");
        assert!(err.is_lab_fault());
        assert!(err.to_string().contains("actuator `keys-t46g`"), "{err}");
    }

    #[test]
    fn input_pending_at_open_is_dropped_before_hello() {
        // A banner and a half line an earlier host left unread, before anything is sent.
        let link = ScriptedLink::new()
            .reply("READY yealink-actuator 1 channels=8\r\nOK TA")
            .expect("HELLO\n")
            .reply("OK HELLO yealink-actuator 1 channels=8\r\n");
        SerialActuator::connect(link.boxed(), device(), 8).unwrap();
    }

    #[test]
    fn answers_to_an_earlier_hosts_commands_do_not_answer_hello() {
        // A host killed during `TAP 1 2000`: the board answers it only when the tap ends,
        // after this host's HELLO went out.
        let link = ScriptedLink::new()
            .expect("HELLO\n")
            .reply(
                "OK TAP 1 2000\r\nERR 2 bad channel\r\nOK HELLO yealink-actuator 1 channels=8\r\n",
            )
            .expect("HOLD 2\n")
            .reply("OK HOLD 2\r\n");
        let mut actuator = SerialActuator::connect(link.boxed(), device(), 8).unwrap();
        actuator.hold(2).unwrap();
    }

    #[test]
    fn a_board_that_never_answers_hello_itself_is_refused() {
        let stale: String = (0..=MAX_STALE_LINES).map(|_| "OK HOLD 1\r\n").collect();
        let link = ScriptedLink::new().expect("HELLO\n").reply(stale);
        let err = SerialActuator::connect(link.boxed(), device(), 8)
            .err()
            .unwrap();
        assert!(matches!(err, DriverError::Protocol { .. }), "{err}");
        assert!(err.is_lab_fault());
    }

    #[test]
    fn garbage_at_open_is_a_protocol_fault() {
        let link = ScriptedLink::new()
            .expect("HELLO\n")
            .reply(b"\xFF\x00\xA5?\r\n".as_slice());
        let err = SerialActuator::connect(link.boxed(), device(), 8)
            .err()
            .unwrap();
        assert!(matches!(err, DriverError::Protocol { .. }), "{err}");
        assert!(err.is_lab_fault());
    }

    #[test]
    fn after_a_garbled_answer_late_input_is_dropped_before_the_next_command() {
        let link = greeted(8)
            .expect("HOLD 1\n")
            .reply("#!garbage\r\n>>")
            .expect("RELEASE 1\n")
            .reply("OK RELEASE 1\r\n");
        let mut actuator = SerialActuator::connect(link.boxed(), device(), 8).unwrap();
        let err = actuator.hold(1).unwrap_err();
        assert!(matches!(err, DriverError::Protocol { .. }), "{err}");
        actuator.release(1).unwrap();
    }

    #[test]
    fn an_answer_without_end_is_capped_and_a_protocol_fault() {
        let link = greeted(8)
            .expect("QUERY\n")
            .reply(vec![b'O'; 5000])
            .expect("RELEASEALL\n")
            .reply("OK RELEASEALL\r\n");
        let mut actuator = SerialActuator::connect(link.boxed(), device(), 8).unwrap();
        let err = actuator.held().unwrap_err();
        assert!(matches!(err, DriverError::Protocol { .. }), "{err}");
        // The rest of the flood is dropped before the next command.
        actuator.release_all().unwrap();
    }

    #[test]
    fn dropping_the_driver_sends_nothing() {
        // The script ends after HELLO: any byte written on drop would fail the test.
        let actuator = SerialActuator::connect(greeted(8).boxed(), device(), 8).unwrap();
        assert_eq!(
            actuator.describe(),
            "8-channel button actuator, actuator `keys-t46g` (/dev/serial/by-id/actuator)"
        );
        drop(actuator);
    }
}
