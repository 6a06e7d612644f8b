//! Numato USB relay modules: ASCII commands over CDC serial (`relay on <id>\r`,
//! `relay off <id>\r`, `relay read <id>\r`). The module echoes every byte it receives, puts
//! each output line after `\n\r`, and ends every answer with the prompt `>`. Channels are
//! numbered from 0 as printed on the module.
//!
//! Opening resynchronises without switching: input pending from an earlier program (echoes
//! and prompts it never read) is dropped, then an empty line brings a fresh prompt. After a
//! failed exchange the same resync runs before the next command. Dropping the driver sends
//! nothing.

use std::time::Duration;

use crate::drivers::transport::{FramedLink, SerialLink, TtyLink, printable};
use crate::drivers::{DeviceRef, DriverError, PowerSwitch, serial_port};
use crate::lab::relay_entry::OwnKeys;
use crate::lab::{RelayBoard, RelayKind};

use super::check_channel;
use super::registry::{Reach, RelayBoardKind};

/// Numato modules number their relays from 0, as printed on the module.
pub const FIRST_CHANNEL: u16 = 0;

/// CDC serial ignores the rate, but the port must be opened with one: Numato's own tools
/// use 19200.
pub const NUMATO_BAUD: u32 = 19200;

/// The prompt that ends every answer.
const PROMPT: u8 = b'>';

/// How the module ends every answer: the prompt at the start of a new line.
const FRESH_PROMPT: &[u8] = b"\n\r>";

/// A module answers within milliseconds; past this it is gone or not a Numato module.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(1);

/// After the resync prompt, how long the module must stay silent before its answers are
/// trusted to line up with the commands again.
const RESYNC_QUIET: Duration = Duration::from_millis(50);

/// The id the module uses for `channel`: one hex digit up to 16 channels, `0`-`9` then
/// `A`-`V` up to 32. `None` for a channel the module cannot have.
pub fn relay_id(channel: u16, channels: u16) -> Option<char> {
    let radix = match channels {
        0..=16 => 16,
        17..=32 => 32,
        _ => return None,
    };
    if channel >= channels {
        return None;
    }
    char::from_digit(u32::from(channel), radix).map(|c| c.to_ascii_uppercase())
}

/// The command that switches relay `id`.
pub fn encode_set(id: char, on: bool) -> String {
    format!("relay {} {id}\r", if on { "on" } else { "off" })
}

/// The command that reads relay `id` back.
pub fn encode_read(id: char) -> String {
    format!("relay read {id}\r")
}

/// Split an answer (everything up to and including the prompt) into the module's output
/// lines, after checking it starts with the echo of `command`.
pub fn parse_answer(command: &str, answer: &[u8]) -> Result<Vec<String>, String> {
    let echo = command.trim_end_matches('\r').as_bytes();
    let Some(body) = answer.strip_prefix(echo) else {
        return Err(format!("expected the echo `{}` first", printable(echo)));
    };
    let Some(body) = body.strip_suffix(&[PROMPT]) else {
        return Err("expected the answer to end with the `>` prompt".into());
    };
    let text = std::str::from_utf8(body).map_err(|_| "expected ASCII text".to_string())?;
    Ok(text
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_string)
        .collect())
}

/// The relay state in the output of `relay read`.
pub fn parse_state(lines: &[String]) -> Option<bool> {
    match lines {
        [line] if line.eq_ignore_ascii_case("on") => Some(true),
        [line] if line.eq_ignore_ascii_case("off") => Some(false),
        _ => None,
    }
}

/// Bring the module to a fresh prompt: an earlier program may have left unread output and
/// a half-typed line, so pending input is dropped, an empty line is sent, and everything up
/// to the prompt and after it is dropped too.
fn resync(link: &mut FramedLink, device: &DeviceRef) -> Result<(), DriverError> {
    let command = "\\r (resync)";
    let io_error = |e| DriverError::from_io(device, command, ANSWER_TIMEOUT, e);
    let pending = link.drain(RESYNC_QUIET).map_err(io_error)?;
    link.write_all(b"\r").map_err(io_error)?;
    let answer = link.read_until(PROMPT, ANSWER_TIMEOUT).map_err(io_error)?;
    // A module puts its prompt on a fresh line: a `>` without it is not a prompt.
    if !answer.ends_with(FRESH_PROMPT) {
        return Err(DriverError::Protocol {
            device: Box::new(device.clone()),
            command: command.into(),
            answer: printable(&answer),
            expected: format!("expected a fresh prompt `{}`", printable(FRESH_PROMPT)),
        });
    }
    let late = link.drain(RESYNC_QUIET).map_err(io_error)?;
    tracing::debug!(
        device = %device,
        dropped = %printable(&[pending, answer, late].concat()),
        "Numato prompt resynchronised"
    );
    Ok(())
}

/// Send `command` to a module in step and return its output lines.
fn exchange_in_step(
    link: &mut FramedLink,
    device: &DeviceRef,
    command: &str,
) -> Result<Vec<String>, DriverError> {
    let shown = printable(command.as_bytes());
    link.write_all(command.as_bytes())
        .map_err(|e| DriverError::from_io(device, &shown, ANSWER_TIMEOUT, e))?;
    let answer = link
        .read_until(PROMPT, ANSWER_TIMEOUT)
        .map_err(|e| DriverError::from_io(device, &shown, ANSWER_TIMEOUT, e))?;
    tracing::debug!(device = %device, command = %shown, answer = %printable(&answer), "Numato");
    parse_answer(command, &answer).map_err(|expected| DriverError::Protocol {
        device: Box::new(device.clone()),
        command: shown,
        answer: printable(&answer),
        expected,
    })
}

/// An open Numato module, in step with its prompt.
pub struct NumatoSwitch {
    link: FramedLink,
    device: DeviceRef,
    channels: u16,
    /// An answer went missing or came garbled: resync before the next command.
    desynced: bool,
}

impl NumatoSwitch {
    /// Open the module's serial port and bring it to a fresh prompt.
    pub fn open(board: &RelayBoard) -> Result<Self, DriverError> {
        let device = DeviceRef::relay_board(board);
        let link = TtyLink::open(serial_port(&device, board.port.as_deref())?, NUMATO_BAUD)
            .map_err(|source| DriverError::Open {
                device: Box::new(device.clone()),
                source,
            })?;
        Self::connect(Box::new(link), device, board.channels)
    }

    /// Drive a module over `link`. An earlier program may have left unread output and a
    /// half-typed line, so pending input is dropped, an empty line is sent, and everything
    /// up to the prompt and after it is dropped too.
    pub fn connect(
        link: Box<dyn SerialLink>,
        device: DeviceRef,
        channels: u16,
    ) -> Result<Self, DriverError> {
        if channels > 32 {
            return Err(DriverError::Unsupported {
                device: Box::new(device),
                request: format!("drive {channels} channels"),
                reason: "only Numato modules of up to 32 channels are supported".into(),
            });
        }
        let mut switch = NumatoSwitch {
            link: FramedLink::new(link),
            device,
            channels,
            desynced: false,
        };
        let device = switch.device.clone();
        switch
            .link
            .exchange(&device, |link, _| resync(link, &device))?;
        Ok(switch)
    }

    fn id(&self, channel: u16) -> Result<char, DriverError> {
        let last = FIRST_CHANNEL + self.channels.saturating_sub(1);
        check_channel(&self.device, channel, FIRST_CHANNEL, last)?;
        relay_id(channel, self.channels).ok_or_else(|| DriverError::NoSuchChannel {
            device: Box::new(self.device.clone()),
            channel,
            first: FIRST_CHANNEL,
            last,
        })
    }

    /// Send `command` and return the module's output lines. The module is brought back to
    /// a fresh prompt first when this process or another one lost track of it.
    fn exchange(&mut self, command: &str) -> Result<Vec<String>, DriverError> {
        let (device, desynced) = (&self.device, self.desynced);
        let result = self.link.exchange(device, |link, predecessor| {
            if desynced || predecessor.interrupted() {
                resync(link, device)?;
            }
            exchange_in_step(link, device, command)
        });
        self.desynced = result.is_err();
        result
    }
}

impl PowerSwitch for NumatoSwitch {
    fn set(&mut self, channel: u16, on: bool) -> Result<(), DriverError> {
        let command = encode_set(self.id(channel)?, on);
        let lines = self.exchange(&command)?;
        if lines.is_empty() {
            Ok(())
        } else {
            Err(DriverError::Protocol {
                device: Box::new(self.device.clone()),
                command: printable(command.as_bytes()),
                answer: printable(lines.join(" / ").as_bytes()),
                expected: "expected no output, only the prompt".into(),
            })
        }
    }

    fn get(&mut self, channel: u16) -> Result<Option<bool>, DriverError> {
        let command = encode_read(self.id(channel)?);
        let lines = self.exchange(&command)?;
        match parse_state(&lines) {
            Some(on) => Ok(Some(on)),
            None => Err(DriverError::Protocol {
                device: Box::new(self.device.clone()),
                command: printable(command.as_bytes()),
                answer: printable(lines.join(" / ").as_bytes()),
                expected: "expected one line, `on` or `off`".into(),
            }),
        }
    }

    fn describe(&self) -> String {
        format!(
            "Numato {}-channel USB relay module, {}",
            self.channels, self.device
        )
    }
}

/// `kind = "numato"`: a serial module whose channels count from 0.
pub struct NumatoKind;

/// The registry's entry for Numato modules.
pub static NUMATO: NumatoKind = NumatoKind;

impl RelayBoardKind for NumatoKind {
    fn name(&self) -> &'static str {
        "numato"
    }

    fn first_channel(&self) -> u16 {
        FIRST_CHANNEL
    }

    fn reach(&self) -> Reach {
        Reach::SerialPort
    }

    /// A Numato module has no keys of its own: its settings are empty.
    fn settings(&self, _keys: &mut OwnKeys<'_, '_, '_, '_>) -> Option<RelayKind> {
        Some(RelayKind::new(&NUMATO, ()))
    }

    fn open(&self, board: &RelayBoard) -> Result<Box<dyn PowerSwitch>, DriverError> {
        Ok(Box::new(NumatoSwitch::open(board)?))
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
            table: "relay_board",
            name: "relay-net".into(),
            port: PathBuf::from("/dev/serial/by-id/numato"),
        }
    }

    /// The module's side of the resync: echo of `\r`, then a fresh prompt.
    fn resynced() -> ScriptedLink {
        ScriptedLink::new().expect("\r").reply("\r\n\r>")
    }

    #[test]
    fn ids_are_hex_up_to_16_channels() {
        assert_eq!(relay_id(0, 8), Some('0'));
        assert_eq!(relay_id(7, 8), Some('7'));
        assert_eq!(relay_id(8, 8), None);
        assert_eq!(relay_id(10, 16), Some('A'));
        assert_eq!(relay_id(15, 16), Some('F'));
    }

    #[test]
    fn ids_run_to_v_on_32_channels() {
        assert_eq!(relay_id(9, 32), Some('9'));
        assert_eq!(relay_id(10, 32), Some('A'));
        assert_eq!(relay_id(16, 32), Some('G'));
        assert_eq!(relay_id(31, 32), Some('V'));
        assert_eq!(relay_id(0, 64), None);
    }

    #[test]
    fn encodes_commands() {
        assert_eq!(encode_set('0', true), "relay on 0\r");
        assert_eq!(encode_set('F', false), "relay off F\r");
        assert_eq!(encode_read('V'), "relay read V\r");
    }

    #[test]
    fn parses_answers() {
        assert_eq!(
            parse_answer("relay on 0\r", b"relay on 0\r\n\r>").unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(
            parse_answer("relay read 3\r", b"relay read 3\r\n\ron\n\r>").unwrap(),
            ["on"]
        );
        assert!(parse_answer("relay read 3\r", b"relay read 4\r\n\ron\n\r>").is_err());
        assert!(parse_answer("relay read 3\r", b"relay read 3\r\n\ron\n\r").is_err());
    }

    #[test]
    fn parses_states() {
        assert_eq!(parse_state(&["on".into()]), Some(true));
        assert_eq!(parse_state(&["off".into()]), Some(false));
        assert_eq!(parse_state(&[]), None);
        assert_eq!(parse_state(&["maybe".into()]), None);
    }

    #[test]
    fn resyncs_then_switches_and_reads_back() {
        let link = ScriptedLink::new()
            // A stale half line and an extra prompt are dropped by the resync.
            .expect("\r")
            .reply("rel\r\n\r>\n\r>")
            .expect("relay on 2\r")
            .reply("relay on 2\r\n\r>")
            .expect("relay read 2\r")
            .reply("relay read 2\r\n\ron\n\r>")
            .expect("relay off 2\r")
            .reply("relay off 2\r\n\r>")
            .expect("relay read 2\r")
            .reply("relay read 2\r\n\roff\n\r>");
        let mut switch = NumatoSwitch::connect(link.boxed(), device(), 8).unwrap();
        switch.set(2, true).unwrap();
        assert_eq!(switch.get(2).unwrap(), Some(true));
        switch.set(2, false).unwrap();
        assert_eq!(switch.get(2).unwrap(), Some(false));
    }

    #[test]
    fn a_silent_module_is_a_lab_fault_at_open() {
        let link = ScriptedLink::new().expect("\r");
        let err = NumatoSwitch::connect(link.boxed(), device(), 8)
            .err()
            .unwrap();
        assert!(matches!(err, DriverError::Timeout { .. }), "{err}");
        assert!(err.is_lab_fault());
    }

    #[test]
    fn a_garbled_read_is_a_protocol_fault() {
        let link = resynced()
            .expect("relay read 1\r")
            .reply("relay read 1\r\n\rmaybe\n\r>");
        let mut switch = NumatoSwitch::connect(link.boxed(), device(), 8).unwrap();
        let err = switch.get(1).unwrap_err();
        assert!(matches!(err, DriverError::Protocol { .. }), "{err}");
        assert!(err.is_lab_fault());
    }

    #[test]
    fn a_hang_up_mid_answer_is_a_lab_fault() {
        let link = resynced()
            .expect("relay on 1\r")
            .reply("relay o")
            .fail_read(io::ErrorKind::BrokenPipe);
        let mut switch = NumatoSwitch::connect(link.boxed(), device(), 8).unwrap();
        let err = switch.set(1, true).unwrap_err();
        assert!(matches!(err, DriverError::Io { .. }), "{err}");
        assert!(err.is_lab_fault());
    }

    #[test]
    fn bad_channels_are_refused_before_anything_is_written() {
        let mut switch = NumatoSwitch::connect(resynced().boxed(), device(), 8).unwrap();
        let err = switch.set(8, true).unwrap_err();
        assert!(
            matches!(
                err,
                DriverError::NoSuchChannel {
                    first: 0,
                    last: 7,
                    ..
                }
            ),
            "{err}"
        );
        assert!(!err.is_lab_fault());
    }

    #[test]
    fn large_modules_are_unsupported() {
        let err = NumatoSwitch::connect(ScriptedLink::new().boxed(), device(), 64)
            .err()
            .unwrap();
        assert!(matches!(err, DriverError::Unsupported { .. }), "{err}");
    }

    #[test]
    fn a_module_answering_garbage_is_refused_at_open() {
        let link = ScriptedLink::new()
            .expect("\r")
            .reply(b"\xFE\x13\x80#%\xC3\x28\xFF\r\n>".as_slice());
        let err = NumatoSwitch::connect(link.boxed(), device(), 8)
            .err()
            .unwrap();
        assert!(matches!(err, DriverError::Protocol { .. }), "{err}");
        assert!(err.is_lab_fault());
    }

    #[test]
    fn leftovers_of_an_earlier_program_are_dropped_before_the_resync_line() {
        let link = ScriptedLink::new()
            .reply("relay on 1\r\n\r>relay re")
            .expect("\r")
            .reply("\r\n\r>")
            .expect("relay read 1\r")
            .reply("relay read 1\r\n\ron\n\r>");
        let mut switch = NumatoSwitch::connect(link.boxed(), device(), 8).unwrap();
        assert_eq!(switch.get(1).unwrap(), Some(true));
    }

    #[test]
    fn after_a_garbled_answer_the_next_command_resyncs_first() {
        let link = resynced()
            .expect("relay on 1\r")
            .reply("#?\n\r>")
            .expect("\r")
            .reply("\r\n\r>")
            .expect("relay on 1\r")
            .reply("relay on 1\r\n\r>");
        let mut switch = NumatoSwitch::connect(link.boxed(), device(), 8).unwrap();
        let err = switch.set(1, true).unwrap_err();
        assert!(matches!(err, DriverError::Protocol { .. }), "{err}");
        switch.set(1, true).unwrap();
    }
}
