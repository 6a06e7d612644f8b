//! The virtual bench's serial devices: relay boards and the button actuator, each on a
//! pseudo-terminal published at the path the lab file names.
//!
//! Each board is a pure protocol state machine (`SerialProtocol`, unit-tested on byte
//! scripts with a fake clock) served by `SerialDevice`, which owns the pseudo-terminal and one
//! dedicated thread. The thread sleeps in `poll(2)` until the host writes, a protocol timer is
//! due, or the device is unplugged: no busy loop.
//!
//! Besides the cable (`unplug`/`replug`), a device can be given a [`DeviceFault`]: broken
//! firmware that stays on the wire but goes silent or answers garbage. Faults live outside
//! the protocols, so every board fails the same way.

pub mod actuator;
pub mod lcus;
pub mod numato;
pub mod pty;

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

pub use pty::{Pty, PtyError};

/// A physical output of a board changed: a relay closed or opened, an actuator channel
/// pressed or released. Channels are numbered as printed on the board (the lab file's numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelChange {
    /// The channel as the lab file numbers it.
    pub channel: u16,
    /// Relay closed, or key pressed.
    pub active: bool,
}

/// Where a board reports its output changes: the bench wires them to phones, tests collect them.
pub type ChangeSink = Arc<dyn Fn(ChannelChange) + Send + Sync>;

/// How many whole frames (an LCUS frame with a valid checksum, a Numato command line) a
/// relay board has received since it was created: what a bus analyser on the board's
/// cable counts, for checking that every frame several hosts sent arrived.
pub type FrameCount = Arc<std::sync::atomic::AtomicU64>;

/// The byte-level behaviour of one board, independent of any terminal.
///
/// `now` is passed in so the protocol can be tested against a fake clock.
pub trait SerialProtocol: Send + 'static {
    /// The board got USB power (bench start, replug): what it sends first.
    fn plugged_in(&mut self, now: Instant) -> Vec<u8>;
    /// The host sent `bytes`; returns the answer bytes.
    fn receive(&mut self, bytes: &[u8], now: Instant) -> Vec<u8>;
    /// When `tick` must run next, if a timer is pending.
    fn next_deadline(&self) -> Option<Instant>;
    /// A timer is due; returns bytes to send (unsolicited lines, delayed replies).
    fn tick(&mut self, now: Instant) -> Vec<u8>;
    /// The board lost USB power: every output drops to its rest state.
    fn unplugged(&mut self);
}

/// Why a serial device could not be started or replugged.
#[derive(Debug, thiserror::Error)]
pub enum SerialError {
    /// The pseudo-terminal could not be created or published.
    #[error(transparent)]
    Pty(#[from] PtyError),
    /// The wake-up pipe or the serving thread could not be created.
    #[error(
        "cannot start the serving thread of the serial device at {path} (check process limits): {source}"
    )]
    Thread {
        /// The published path.
        path: PathBuf,
        /// The failed call.
        #[source]
        source: io::Error,
    },
    /// `unplug` on a device that is already unplugged, or `replug` on one that is plugged.
    #[error("the serial device at {path} is already {state}")]
    AlreadyInState {
        /// The published path.
        path: PathBuf,
        /// `plugged in` or `unplugged`.
        state: &'static str,
    },
}

/// Broken firmware on a board that stays plugged in: the port stays open, the host's bytes
/// are read, and none of them is executed (no relay or key changes because of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceFault {
    /// The board works.
    #[default]
    Healthy,
    /// Hung firmware: every byte the host sends is read and thrown away, and nothing at all
    /// reaches the host (no answers, no banner, no events). The board's own timers still run
    /// silently: a `TAP` in progress ends, a hold watchdog still releases.
    Silent,
    /// Babbling firmware: every chunk the host sends is thrown away unexecuted and answered
    /// with [`GARBAGE`]; nothing else reaches the host.
    Garbage,
}

impl DeviceFault {
    fn to_byte(self) -> u8 {
        match self {
            DeviceFault::Healthy => 0,
            DeviceFault::Silent => 1,
            DeviceFault::Garbage => 2,
        }
    }

    fn from_byte(byte: u8) -> DeviceFault {
        match byte {
            1 => DeviceFault::Silent,
            2 => DeviceFault::Garbage,
            _ => DeviceFault::Healthy,
        }
    }
}

/// What a board in [`DeviceFault::Garbage`] answers: bytes of no protocol (not printable
/// ASCII, not an LCUS frame), then the terminators the line protocols wait for, so a host
/// sees nonsense rather than silence.
pub const GARBAGE: &[u8] = b"\xFE\x13\x80#%\xC3\x28\xFF\r\n>";

/// A board on a pseudo-terminal, served by its own thread, that can be unplugged and
/// replugged, and given a firmware fault.
pub struct SerialDevice {
    link: PathBuf,
    state: Mutex<DeviceState>,
    /// The current [`DeviceFault`], shared with the serving thread; kept across a replug,
    /// since it is the twin's switch and not the board's memory.
    fault: Arc<AtomicU8>,
}

enum DeviceState {
    Plugged(Running),
    Unplugged(Box<dyn SerialProtocol>),
    // Only seen while a transition is in progress under the lock.
    Gone,
}

struct Running {
    pts: PathBuf,
    wake: OwnedFd,
    thread: JoinHandle<Box<dyn SerialProtocol>>,
}

impl SerialDevice {
    /// Publishes a new pseudo-terminal at `link` and starts serving `protocol` on it.
    pub fn start(
        link: &Path,
        protocol: Box<dyn SerialProtocol>,
    ) -> Result<SerialDevice, SerialError> {
        let fault = Arc::new(AtomicU8::new(DeviceFault::Healthy.to_byte()));
        let running = spawn(link, protocol, Arc::clone(&fault)).map_err(|(err, _)| err)?;
        Ok(SerialDevice {
            link: link.to_path_buf(),
            state: Mutex::new(DeviceState::Plugged(running)),
            fault,
        })
    }

    /// Fault hook: give the board broken firmware, or (`DeviceFault::Healthy`) mend it. Takes
    /// effect from the next byte the host sends, plugged in or not.
    pub fn set_fault(&self, fault: DeviceFault) {
        self.fault.store(fault.to_byte(), Ordering::SeqCst);
        tracing::info!(link = %self.link.display(), ?fault, "serial device fault set");
    }

    /// The board's current firmware fault.
    pub fn fault(&self) -> DeviceFault {
        DeviceFault::from_byte(self.fault.load(Ordering::SeqCst))
    }

    /// The stable path hosts open.
    pub fn link_path(&self) -> &Path {
        &self.link
    }

    /// The `/dev/pts/N` node currently behind the link, or `None` while unplugged.
    pub fn pts_path(&self) -> Option<PathBuf> {
        match &*self.lock() {
            DeviceState::Plugged(running) => Some(running.pts.clone()),
            _ => None,
        }
    }

    /// The USB cable pulled: the board loses power (outputs drop), the host's open port fails
    /// with I/O errors and the published path vanishes.
    pub fn unplug(&self) -> Result<(), SerialError> {
        let mut state = self.lock();
        match std::mem::replace(&mut *state, DeviceState::Gone) {
            DeviceState::Plugged(running) => {
                let protocol = stop(running);
                *state = DeviceState::Unplugged(protocol);
                tracing::info!(link = %self.link.display(), "serial device unplugged");
                Ok(())
            }
            other => {
                *state = other;
                Err(SerialError::AlreadyInState {
                    path: self.link.clone(),
                    state: "unplugged",
                })
            }
        }
    }

    /// The USB cable plugged back: a new pseudo-terminal at the same path, the board freshly
    /// powered. Hosts must reopen the path, as with a real adapter.
    pub fn replug(&self) -> Result<(), SerialError> {
        let mut state = self.lock();
        match std::mem::replace(&mut *state, DeviceState::Gone) {
            DeviceState::Unplugged(protocol) => {
                match spawn(&self.link, protocol, Arc::clone(&self.fault)) {
                    Ok(running) => {
                        tracing::info!(link = %self.link.display(), pts = %running.pts.display(), "serial device replugged");
                        *state = DeviceState::Plugged(running);
                        Ok(())
                    }
                    Err((err, protocol)) => {
                        *state = DeviceState::Unplugged(protocol);
                        Err(err)
                    }
                }
            }
            other => {
                *state = other;
                Err(SerialError::AlreadyInState {
                    path: self.link.clone(),
                    state: "plugged in",
                })
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DeviceState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for SerialDevice {
    fn drop(&mut self) {
        if let DeviceState::Plugged(running) =
            std::mem::replace(&mut *self.lock(), DeviceState::Gone)
        {
            stop(running);
        }
    }
}

impl std::fmt::Debug for SerialDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SerialDevice")
            .field("link", &self.link)
            .field("pts", &self.pts_path())
            .finish()
    }
}

/// Stops the serving thread (which closes the pty and removes the link) and returns the
/// protocol, powered down.
fn stop(running: Running) -> Box<dyn SerialProtocol> {
    let Running { wake, thread, .. } = running;
    // Closing the write end wakes the thread's poll with a hang-up on the pipe.
    drop(wake);
    match thread.join() {
        Ok(mut protocol) => {
            protocol.unplugged();
            protocol
        }
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

type SpawnError = (SerialError, Box<dyn SerialProtocol>);

fn spawn(
    link: &Path,
    protocol: Box<dyn SerialProtocol>,
    fault: Arc<AtomicU8>,
) -> Result<Running, SpawnError> {
    let pty = match Pty::open_published(link) {
        Ok(pty) => pty,
        Err(err) => return Err((err.into(), protocol)),
    };
    let thread_error = |source| SerialError::Thread {
        path: link.to_path_buf(),
        source,
    };
    let (wake_read, wake_write) = match pipe() {
        Ok(pair) => pair,
        Err(source) => return Err((thread_error(source), protocol)),
    };
    let pts = pty.pts_path().to_path_buf();
    let name = format!(
        "serial {}",
        link.file_name().unwrap_or_default().to_string_lossy()
    );
    // The protocol moves into the thread and comes back on join; a failed spawn drops it, so
    // hand it over through a slot that survives the failure.
    let slot = Arc::new(Mutex::new(Some(protocol)));
    let thread_slot = Arc::clone(&slot);
    let spawned = std::thread::Builder::new().name(name).spawn(move || {
        let protocol = thread_slot.lock().unwrap_or_else(|p| p.into_inner()).take();
        let protocol = protocol.expect("the protocol is handed over exactly once");
        serve(pty, wake_read, protocol, &fault)
    });
    match spawned {
        Ok(thread) => Ok(Running {
            pts,
            wake: wake_write,
            thread,
        }),
        Err(source) => {
            let protocol = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
            let protocol = protocol.expect("the thread never started, so it took nothing");
            Err((thread_error(source), protocol))
        }
    }
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two descriptors into the array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors are fresh and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// How long a reply may wait for a host that stopped reading before it is dropped.
const HOST_STALLED_MS: i32 = 1000;

/// The serving loop: the board's life from power-up to the cable being pulled.
fn serve(
    pty: Pty,
    wake: OwnedFd,
    mut protocol: Box<dyn SerialProtocol>,
    fault_switch: &AtomicU8,
) -> Box<dyn SerialProtocol> {
    let master = pty.master_fd();
    let fault = || DeviceFault::from_byte(fault_switch.load(Ordering::SeqCst));
    // What the protocol itself sends reaches the host only from healthy firmware.
    let speak = |bytes: &[u8]| {
        if fault() == DeviceFault::Healthy {
            send(master, bytes, pty.link_path());
        }
    };
    let banner = protocol.plugged_in(Instant::now());
    speak(&banner);
    let mut buf = [0u8; 1024];
    loop {
        let timeout_ms = match protocol.next_deadline() {
            None => -1,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                // Rounded up: a timer polled a hair early would spin until it is due.
                i32::try_from(left.as_nanos().div_ceil(1_000_000)).unwrap_or(i32::MAX)
            }
        };
        let mut fds = [
            libc::pollfd {
                fd: master,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: wake.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: fds is a valid array of two pollfd.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout_ms) };
        if rc < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            tracing::error!(link = %pty.link_path().display(), %err, "poll failed; the serial device stops");
            break;
        }
        if fds[1].revents != 0 {
            break;
        }
        if fds[0].revents & libc::POLLIN != 0 {
            // SAFETY: buf is valid for its length; master is open.
            let n = unsafe { libc::read(master, buf.as_mut_ptr().cast(), buf.len()) };
            if n > 0 {
                let bytes = &buf[..n as usize];
                // With its timestamp, the end of a step's dispatch latency
                // (lab/bench/matrix.sh pairs it with the harness's step line).
                tracing::debug!(link = %pty.link_path().display(), bytes = n, "serial bytes received");
                match fault() {
                    DeviceFault::Healthy => {
                        let answer = protocol.receive(bytes, Instant::now());
                        speak(&answer);
                    }
                    DeviceFault::Silent => {
                        tracing::debug!(link = %pty.link_path().display(), bytes = n, "silent device: input ignored");
                    }
                    DeviceFault::Garbage => send(master, GARBAGE, pty.link_path()),
                }
            } else if n < 0 {
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::WouldBlock
                    && err.kind() != io::ErrorKind::Interrupted
                {
                    tracing::error!(link = %pty.link_path().display(), %err, "reading the pseudo-terminal failed; the serial device stops");
                    break;
                }
            }
        }
        if protocol
            .next_deadline()
            .is_some_and(|d| d <= Instant::now())
        {
            let out = protocol.tick(Instant::now());
            speak(&out);
        }
    }
    drop(pty);
    protocol
}

/// Writes `bytes` to the host; drops what a stalled host does not take within a second, as
/// a USB adapter whose host stops reading drops data.
fn send(master: RawFd, mut bytes: &[u8], link: &Path) {
    while !bytes.is_empty() {
        // SAFETY: bytes is valid for its length; master is open.
        let n = unsafe { libc::write(master, bytes.as_ptr().cast(), bytes.len()) };
        if n > 0 {
            bytes = &bytes[n as usize..];
            continue;
        }
        let err = io::Error::last_os_error();
        match err.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => {
                let mut fd = libc::pollfd {
                    fd: master,
                    events: libc::POLLOUT,
                    revents: 0,
                };
                // SAFETY: one valid pollfd.
                if unsafe { libc::poll(&mut fd, 1, HOST_STALLED_MS) } <= 0 {
                    tracing::warn!(link = %link.display(), dropped = bytes.len(), "host is not reading; output dropped");
                    return;
                }
            }
            _ => {
                tracing::warn!(link = %link.display(), %err, "writing to the pseudo-terminal failed");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::time::Duration;

    /// How long to wait before declaring a device mute.
    const TEST_READ_TIMEOUT: Duration = Duration::from_secs(3);

    /// Answers each received byte with its upper-case form, sends `HI` at power-up.
    struct Upper(Arc<Mutex<Vec<&'static str>>>);

    impl SerialProtocol for Upper {
        fn plugged_in(&mut self, _now: Instant) -> Vec<u8> {
            self.0.lock().unwrap().push("plugged");
            b"HI".to_vec()
        }
        fn receive(&mut self, bytes: &[u8], _now: Instant) -> Vec<u8> {
            bytes.to_ascii_uppercase()
        }
        fn next_deadline(&self) -> Option<Instant> {
            None
        }
        fn tick(&mut self, _now: Instant) -> Vec<u8> {
            Vec::new()
        }
        fn unplugged(&mut self) {
            self.0.lock().unwrap().push("unplugged");
        }
    }

    fn read_exact(port: &mut dyn serialport::SerialPort, n: usize) -> Vec<u8> {
        let mut out = vec![0u8; n];
        port.read_exact(&mut out).unwrap();
        out
    }

    #[test]
    fn serves_bytes_and_survives_unplug_replug() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("serial/by-id/usb-upper");
        let log = Arc::new(Mutex::new(Vec::new()));
        let device = SerialDevice::start(&link, Box::new(Upper(Arc::clone(&log)))).unwrap();
        let mut port = serialport::new(link.to_string_lossy(), 9600)
            .timeout(TEST_READ_TIMEOUT)
            .open()
            .unwrap();
        assert_eq!(read_exact(&mut *port, 2), b"HI");
        port.write_all(b"abc").unwrap();
        assert_eq!(read_exact(&mut *port, 3), b"ABC");

        device.unplug().unwrap();
        assert!(std::fs::symlink_metadata(&link).is_err());
        assert!(matches!(
            device.unplug(),
            Err(SerialError::AlreadyInState { .. })
        ));
        let mut byte = [0u8; 1];
        let dead = port.write_all(b"x").and_then(|()| port.read(&mut byte));
        assert!(
            dead.is_err() || dead.is_ok_and(|n| n == 0),
            "I/O on an unplugged port must fail"
        );

        device.replug().unwrap();
        let mut port = serialport::new(link.to_string_lossy(), 9600)
            .timeout(TEST_READ_TIMEOUT)
            .open()
            .unwrap();
        assert_eq!(read_exact(&mut *port, 2), b"HI");
        port.write_all(b"z").unwrap();
        assert_eq!(read_exact(&mut *port, 1), b"Z");
        drop(device);
        assert!(std::fs::symlink_metadata(&link).is_err());
        assert_eq!(
            *log.lock().unwrap(),
            ["plugged", "unplugged", "plugged", "unplugged"]
        );
    }

    /// Hosts open and close the port as they come and go (one hand command after another,
    /// several processes at once): a frame written just before a host closes still reaches
    /// the board, and a port held open by one host is not disturbed by another's close.
    #[test]
    fn frames_written_just_before_a_close_still_arrive() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("serial/by-id/usb-lcus");
        let frames = FrameCount::default();
        let sink: ChangeSink = Arc::new(|_| {});
        let board = lcus::LcusBoard::new(8, sink).counting_frames(Arc::clone(&frames));
        let _device = SerialDevice::start(&link, Box::new(board)).unwrap();
        let open = || {
            serialport::new(link.to_string_lossy(), 9600)
                .exclusive(false)
                .open()
                .unwrap()
        };
        let mut staying = open();
        const HOSTS: u64 = 40;
        for i in 0..HOSTS {
            let mut host = open();
            host.write_all(&lcus::encode(1 + (i % 8) as u8, i % 2 == 0))
                .unwrap();
            // Closed at once, with the frame perhaps still in the terminal's buffer.
            drop(host);
            staying.write_all(&lcus::encode(8, i % 2 == 1)).unwrap();
        }
        let deadline = Instant::now() + TEST_READ_TIMEOUT;
        while frames.load(Ordering::SeqCst) < 2 * HOSTS && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(frames.load(Ordering::SeqCst), 2 * HOSTS);
    }
}
