//! The byte pipe under every serial driver.
//!
//! Drivers speak their protocol to a [`SerialLink`], never to a port directly, so the same
//! protocol code drives a real USB serial adapter, a pseudo-terminal of the virtual bench,
//! and a [`ScriptedLink`] that checks every byte in unit tests.
//!
//! A port is shared: several processes may keep it open at once, and each exchange (a
//! frame and its answer) runs inside [`FramedLink::exchange`], under the device's lock
//! (see [`super::device_lock`]), so exchanges of different processes never interleave.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{self, Read as _, Write as _};
use std::path::Path;
use std::time::{Duration, Instant};

use serialport::{DataBits, FlowControl, Parity, SerialPort as _, StopBits, TTYPort};

use super::device_lock::{DeviceLock, DeviceLockError, Predecessor};
use super::{DeviceRef, DriverError};

/// A bidirectional byte link to one device.
///
/// `read` waits at most `timeout` for data: it returns `Err` of kind `TimedOut` when nothing
/// arrived, so a silent device is told apart from a vanished one (`BrokenPipe`, EIO, or
/// `Ok(0)` for a hang-up).
pub trait SerialLink: Send {
    /// Send every byte of `bytes`.
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Read what is available into `buf`, waiting at most `timeout` for the first byte.
    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize>;
    /// Take the device for one exchange, waiting for another process's exchange to end,
    /// and say how the previous holder left it. A link nobody else can reach (a script)
    /// has nothing to take.
    fn begin_exchange(&mut self) -> Result<Predecessor, DeviceLockError> {
        Ok(Predecessor::Finished)
    }
    /// Give the device back; `in_step` is false when the answer was not read in full.
    fn end_exchange(&mut self, _in_step: bool) {}
}

/// Serial settings every supported device uses: 8 data bits, no parity, 1 stop bit, no
/// flow control. Only the baud rate differs between device families.
pub struct TtyLink {
    port: TTYPort,
    lock: DeviceLock,
}

impl TtyLink {
    /// Open the device at `path`, shared: other processes driving other benches of the same
    /// board open it too, and the device's lock (taken here for the open itself) keeps
    /// their exchanges apart. The port stays open for the driver's life: reopening it for
    /// each exchange would toggle DTR, which resets boards whose reset line it drives.
    pub fn open(path: &Path, baud: u32) -> Result<Self, serialport::Error> {
        let mut lock = DeviceLock::for_port(path).map_err(|e| {
            serialport::Error::new(
                serialport::ErrorKind::Io(io::ErrorKind::Other),
                e.to_string(),
            )
        })?;
        let predecessor = lock.begin().map_err(|e| {
            serialport::Error::new(
                serialport::ErrorKind::Io(io::ErrorKind::Other),
                e.to_string(),
            )
        })?;
        let opened = Self::open_shared(path, baud);
        // Opening sends nothing, so the device is as in step as it was: a predecessor's
        // unfinished exchange is left for the driver's first exchange to see.
        lock.end_as_found(predecessor);
        Ok(TtyLink {
            port: opened?,
            lock,
        })
    }

    fn open_shared(path: &Path, baud: u32) -> Result<TTYPort, serialport::Error> {
        let path_text = path.to_str().ok_or_else(|| {
            serialport::Error::new(
                serialport::ErrorKind::InvalidInput,
                format!("the port path {} is not valid UTF-8", path.display()),
            )
        })?;
        serialport::new(path_text, baud)
            .data_bits(DataBits::Eight)
            .parity(Parity::None)
            .stop_bits(StopBits::One)
            .flow_control(FlowControl::None)
            .timeout(Duration::from_millis(100))
            .exclusive(false)
            .open_native()
    }
}

impl SerialLink for TtyLink {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        io::Write::write_all(&mut self.port, bytes)?;
        self.port.flush()
    }

    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        self.port.set_timeout(timeout).map_err(io::Error::from)?;
        self.port.read(buf)
    }

    fn begin_exchange(&mut self) -> Result<Predecessor, DeviceLockError> {
        self.lock.begin()
    }

    fn end_exchange(&mut self, in_step: bool) {
        self.lock.end(in_step);
    }
}

/// The most a device may send without the delimiter a driver waits for. Past this the
/// device is not speaking the expected protocol (wrong board on the port, wrong baud rate).
pub const MAX_PENDING_BYTES: usize = 4096;

/// A link plus the bytes received but not consumed yet, for protocols framed by a
/// delimiter byte (a line feed, a prompt).
pub struct FramedLink {
    link: Box<dyn SerialLink>,
    pending: Vec<u8>,
}

impl FramedLink {
    /// Wrap `link`; nothing is read or written.
    pub fn new(link: Box<dyn SerialLink>) -> Self {
        FramedLink {
            link,
            pending: Vec::new(),
        }
    }

    /// Send `bytes` as they are.
    pub fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.link.write_all(bytes)
    }

    /// Runs one exchange with `device` (`step` writes and reads through this link) while
    /// holding the device, so no other process's bytes come in between. `step` learns how
    /// the previous holder left the device. An exchange that fails, or panics, leaves the
    /// device marked out of step for whoever comes next.
    pub fn exchange<T>(
        &mut self,
        device: &DeviceRef,
        step: impl FnOnce(&mut Self, Predecessor) -> Result<T, DriverError>,
    ) -> Result<T, DriverError> {
        let predecessor = self.begin(device)?;
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| step(self, predecessor)));
        match outcome {
            Ok(result) => {
                self.end(result.is_ok());
                result
            }
            Err(panic) => {
                self.end(false);
                std::panic::resume_unwind(panic)
            }
        }
    }

    /// Takes `device` for an exchange, for drivers whose exchange spans several of their own
    /// methods; [`FramedLink::end`] must follow on every path ([`FramedLink::exchange`] does
    /// both).
    pub fn begin(&mut self, device: &DeviceRef) -> Result<Predecessor, DriverError> {
        let predecessor = self
            .link
            .begin_exchange()
            .map_err(|source| DriverError::Shared {
                device: Box::new(device.clone()),
                source,
            })?;
        if let Predecessor::Interrupted { pid } = predecessor {
            tracing::info!(device = %device, pid, "the previous exchange on this device did not finish; resynchronising");
            // Whatever this process kept of an earlier answer is stale now.
            self.pending.clear();
        }
        Ok(predecessor)
    }

    /// Gives the device back after [`FramedLink::begin`]; `in_step` is false when the
    /// answer was not read in full.
    pub fn end(&mut self, in_step: bool) {
        self.link.end_exchange(in_step);
    }

    /// Receive up to and including the next `delimiter`, waiting at most `timeout` in all.
    /// Bytes after the delimiter stay pending for the next call.
    pub fn read_until(&mut self, delimiter: u8, timeout: Duration) -> io::Result<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let mut chunk = [0u8; 256];
        loop {
            if let Some(at) = self.pending.iter().position(|b| *b == delimiter) {
                return Ok(self.pending.drain(..=at).collect());
            }
            if self.pending.len() > MAX_PENDING_BYTES {
                // Nonsense, not a slow answer: dropped, so the cap holds for the next call.
                let dropped = std::mem::take(&mut self.pending);
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "received {} bytes without the expected delimiter {}; starting with {}",
                        dropped.len(),
                        printable(&[delimiter]),
                        printable(&dropped[..dropped.len().min(32)])
                    ),
                ));
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "no complete answer in time; partial: {}",
                        printable(&self.pending)
                    ),
                ));
            }
            match self.link.read(&mut chunk, remaining) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the port hung up (device unplugged or reset)",
                    ));
                }
                Ok(n) => self.pending.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Throw away everything received so far and whatever arrives until the device has
    /// been silent for `quiet`. Used to resynchronise after a reset or a stale answer.
    pub fn drain(&mut self, quiet: Duration) -> io::Result<Vec<u8>> {
        let mut drained = std::mem::take(&mut self.pending);
        let mut chunk = [0u8; 256];
        loop {
            match self.link.read(&mut chunk, quiet) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the port hung up (device unplugged or reset)",
                    ));
                }
                Ok(n) => {
                    drained.extend_from_slice(&chunk[..n]);
                    // Bounded: a device that never falls silent is not drained forever.
                    if drained.len() > MAX_PENDING_BYTES {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "the device never stops sending",
                        ));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::TimedOut => return Ok(drained),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Bytes as an operator can read them in a message: printable ASCII as is, the rest as
/// escapes (`\r`, `\n`, `\xA0`).
pub fn printable(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len());
    for b in bytes {
        match b {
            b'\r' => text.push_str("\\r"),
            b'\n' => text.push_str("\\n"),
            b'\\' => text.push_str("\\\\"),
            0x20..=0x7e => text.push(*b as char),
            _ => {
                let _ = write!(text, "\\x{b:02X}");
            }
        }
    }
    text
}

/// One step of a [`ScriptedLink`] script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptStep {
    /// The driver must write exactly these bytes next (in one write or several).
    Expect(Vec<u8>),
    /// The device sends these bytes; the driver's reads return them.
    Reply(Vec<u8>),
    /// The driver's next read fails with this error kind (a vanished port: `BrokenPipe`).
    ReadError(io::ErrorKind),
    /// The driver's next write fails with this error kind.
    WriteError(io::ErrorKind),
}

/// A scripted device for unit tests: checks every byte the driver writes against the
/// script and hands it the canned answers.
///
/// Any deviation panics and so fails the test: a write that differs from the next expected
/// bytes, a write while the script wants the device to answer first, and (when dropped
/// outside a panic) a script that was not played to its end. A read while the script
/// expects a write times out at once, as a silent device would.
#[derive(Debug, Default)]
pub struct ScriptedLink {
    steps: VecDeque<ScriptStep>,
}

impl ScriptedLink {
    /// An empty script: the device expects nothing and says nothing.
    pub fn new() -> Self {
        ScriptedLink::default()
    }

    /// The driver must write `bytes` next.
    pub fn expect(mut self, bytes: impl AsRef<[u8]>) -> Self {
        self.steps
            .push_back(ScriptStep::Expect(bytes.as_ref().to_vec()));
        self
    }

    /// The device answers `bytes`.
    pub fn reply(mut self, bytes: impl AsRef<[u8]>) -> Self {
        self.steps
            .push_back(ScriptStep::Reply(bytes.as_ref().to_vec()));
        self
    }

    /// The next read fails with `kind`.
    pub fn fail_read(mut self, kind: io::ErrorKind) -> Self {
        self.steps.push_back(ScriptStep::ReadError(kind));
        self
    }

    /// The next write fails with `kind`.
    pub fn fail_write(mut self, kind: io::ErrorKind) -> Self {
        self.steps.push_back(ScriptStep::WriteError(kind));
        self
    }

    /// Box it for a driver constructor.
    pub fn boxed(self) -> Box<dyn SerialLink> {
        Box::new(self)
    }
}

impl SerialLink for ScriptedLink {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut rest = bytes;
        while !rest.is_empty() {
            match self.steps.front_mut() {
                Some(ScriptStep::Expect(expected)) => {
                    let n = expected.len().min(rest.len());
                    assert_eq!(
                        printable(&rest[..n]),
                        printable(&expected[..n]),
                        "the driver wrote {} but the script expected {}",
                        printable(bytes),
                        printable(expected)
                    );
                    rest = &rest[n..];
                    expected.drain(..n);
                    if expected.is_empty() {
                        self.steps.pop_front();
                    }
                }
                Some(ScriptStep::WriteError(kind)) => {
                    let kind = *kind;
                    self.steps.pop_front();
                    return Err(io::Error::new(kind, "scripted write failure"));
                }
                Some(step) => panic!(
                    "the driver wrote {} while the script expected {step:?} first",
                    printable(bytes)
                ),
                None => panic!(
                    "the driver wrote {} after the script ended",
                    printable(bytes)
                ),
            }
        }
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8], _timeout: Duration) -> io::Result<usize> {
        match self.steps.front_mut() {
            Some(ScriptStep::Reply(reply)) => {
                let n = reply.len().min(buf.len());
                buf[..n].copy_from_slice(&reply[..n]);
                reply.drain(..n);
                if reply.is_empty() {
                    self.steps.pop_front();
                }
                Ok(n)
            }
            Some(ScriptStep::ReadError(kind)) => {
                let kind = *kind;
                self.steps.pop_front();
                Err(io::Error::new(kind, "scripted read failure"))
            }
            Some(ScriptStep::Expect(_) | ScriptStep::WriteError(_)) | None => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the scripted device says nothing until it is written to",
            )),
        }
    }
}

impl Drop for ScriptedLink {
    fn drop(&mut self) {
        if !std::thread::panicking() && !self.steps.is_empty() {
            panic!(
                "the driver stopped before the end of the script; left: {:?}",
                self.steps
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_until_keeps_bytes_after_the_delimiter() {
        let link = ScriptedLink::new().reply("OK A\r\nOK B\r\n");
        let mut framed = FramedLink::new(link.boxed());
        let timeout = Duration::from_secs(1);
        assert_eq!(framed.read_until(b'\n', timeout).unwrap(), b"OK A\r\n");
        assert_eq!(framed.read_until(b'\n', timeout).unwrap(), b"OK B\r\n");
    }

    #[test]
    fn read_until_joins_fragments() {
        let link = ScriptedLink::new().reply("re").reply("lay").reply(">");
        let mut framed = FramedLink::new(link.boxed());
        assert_eq!(
            framed.read_until(b'>', Duration::from_secs(1)).unwrap(),
            b"relay>"
        );
    }

    #[test]
    fn silence_is_a_timeout_and_a_hang_up_is_not() {
        let mut framed = FramedLink::new(ScriptedLink::new().boxed());
        let err = framed
            .read_until(b'\n', Duration::from_secs(1))
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);

        let link = ScriptedLink::new().fail_read(io::ErrorKind::BrokenPipe);
        let mut framed = FramedLink::new(link.boxed());
        let err = framed
            .read_until(b'\n', Duration::from_secs(1))
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }

    #[test]
    fn drain_returns_everything_until_silence() {
        let link = ScriptedLink::new().reply("junk>").reply("more");
        let mut framed = FramedLink::new(link.boxed());
        assert_eq!(
            framed.drain(Duration::from_millis(10)).unwrap(),
            b"junk>more"
        );
    }

    #[test]
    fn scripted_writes_may_be_split() {
        let mut link = ScriptedLink::new().expect("HELLO\n");
        link.write_all(b"HEL").unwrap();
        link.write_all(b"LO\n").unwrap();
    }

    #[test]
    #[should_panic(expected = "script expected")]
    fn scripted_link_rejects_a_wrong_write() {
        let mut link = ScriptedLink::new().expect("HOLD 1\n");
        let _ = link.write_all(b"HOLD 2\n");
    }

    #[test]
    #[should_panic(expected = "before the end of the script")]
    fn scripted_link_rejects_an_unfinished_script() {
        let _link = ScriptedLink::new().expect("RELEASEALL\n");
    }

    #[test]
    fn printable_escapes_control_bytes() {
        assert_eq!(
            printable(&[0xA0, 0x01, b'\r', b'\n', b'a']),
            "\\xA0\\x01\\r\\na"
        );
    }
}
