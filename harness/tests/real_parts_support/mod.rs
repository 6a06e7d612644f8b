//! What the real-parts tests share: the Debian packages they need (a missing one fails the
//! test and names the package; it never skips), builds into the cargo target folder, and the
//! emulated actuator board (lab/actuator/sim) with its log of key pins.

#![allow(dead_code)] // each test binary uses its own part of this module

pub mod lab_vlan;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The workspace root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("the workspace root exists")
}

/// Where real-parts builds go: under the cargo target folder, never the source tree.
pub fn build_root() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("real-parts")
}

/// A file a test needs, and the Debian package that installs it.
pub struct Needed {
    /// An absolute path (a tool in /usr/sbin is not on every user's PATH).
    pub path: &'static str,
    /// The Debian package.
    pub package: &'static str,
}

/// Fails the test, naming every missing Debian package, unless all of `needed` is installed.
pub fn require(needed: &[Needed]) {
    let mut missing: Vec<&str> = needed
        .iter()
        .filter(|n| !Path::new(n.path).exists())
        .map(|n| n.package)
        .collect();
    missing.dedup();
    if !missing.is_empty() {
        let files: Vec<&str> = needed
            .iter()
            .filter(|n| !Path::new(n.path).exists())
            .map(|n| n.path)
            .collect();
        panic!(
            "the real-parts tests need Debian packages that are not installed: {}\n\
             (missing {})\n\
             install them with: sudo apt-get install -y {}",
            missing.join(", "),
            files.join(", "),
            missing.join(" ")
        );
    }
}

/// The toolchain and emulator of the actuator tests.
pub const ACTUATOR_PACKAGES: &[Needed] = &[
    Needed {
        path: "/usr/bin/make",
        package: "make",
    },
    Needed {
        path: "/usr/bin/avr-gcc",
        package: "gcc-avr",
    },
    Needed {
        path: "/usr/lib/avr/include/avr/io.h",
        package: "avr-libc",
    },
    Needed {
        path: "/usr/share/arduino/hardware/arduino/avr/cores/arduino/Arduino.h",
        package: "arduino-core-avr",
    },
    Needed {
        path: "/usr/bin/cc",
        package: "gcc",
    },
    Needed {
        path: "/usr/include/simavr/sim_avr.h",
        package: "libsimavr-dev",
    },
];

/// Runs `make` in `dir` with `args`; a failure fails the test with make's output.
pub fn make(dir: &Path, args: &[String]) {
    let output = Command::new("make")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run make: {e}"));
    assert!(
        output.status.success(),
        "make -C {} {} failed:\n{}{}",
        dir.display(),
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The firmware's ELF and the emulator, built once per test binary.
pub struct Built {
    pub elf: PathBuf,
    pub sim: PathBuf,
}

/// Builds lab/actuator/firmware and lab/actuator/sim into the target folder.
pub fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        require(ACTUATOR_PACKAGES);
        let root = repo_root();
        let out = build_root();
        let firmware_dir = out.join("firmware");
        let sim_dir = out.join("sim");
        make(
            &root.join("lab/actuator/firmware"),
            &[format!("BUILD_DIR={}", firmware_dir.display())],
        );
        make(
            &root.join("lab/actuator/sim"),
            &[format!("BUILD_DIR={}", sim_dir.display())],
        );
        Built {
            elf: firmware_dir.join("yealink_actuator.elf"),
            sim: sim_dir.join("actuator-sim"),
        }
    })
}

/// How the emulated board's time runs.
#[derive(Debug, Clone, Copy)]
pub enum Speed {
    /// Never ahead of the wall clock: a host's timeouts mean what they mean on a rack.
    Realtime,
    /// As fast as the machine allows: minutes of board time in seconds.
    Fast,
}

/// One line of the emulator's pin log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinEvent {
    /// A Mega pin started (`high`) or stopped driving its key, at a simulated time in µs.
    Pin { at_us: u64, pin: u8, high: bool },
    /// The board was reset.
    Reset { at_us: u64 },
}

impl PinEvent {
    pub fn at_us(&self) -> u64 {
        match *self {
            PinEvent::Pin { at_us, .. } | PinEvent::Reset { at_us } => at_us,
        }
    }
}

/// One press of a key, read from the pin log: when its pin went high and low again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Press {
    pub pin: u8,
    pub from_us: u64,
    /// `None` while the pin is still high.
    pub to_us: Option<u64>,
}

impl Press {
    pub fn width_us(&self) -> Option<u64> {
        self.to_us.map(|to| to - self.from_us)
    }
}

/// Every press of `pin` in `events`, in order.
pub fn presses(events: &[PinEvent], pin: u8) -> Vec<Press> {
    let mut out: Vec<Press> = Vec::new();
    for event in events {
        match *event {
            PinEvent::Pin {
                at_us,
                pin: p,
                high: true,
            } if p == pin => out.push(Press {
                pin,
                from_us: at_us,
                to_us: None,
            }),
            PinEvent::Pin {
                at_us,
                pin: p,
                high: false,
            } if p == pin => {
                let open = out
                    .last_mut()
                    .filter(|press| press.to_us.is_none())
                    .unwrap_or_else(|| panic!("pin {pin} fell at {at_us} us without rising"));
                open.to_us = Some(at_us);
            }
            _ => {}
        }
    }
    out
}

/// The pins high after the last event.
pub fn pins_high_at_end(events: &[PinEvent]) -> Vec<u8> {
    let mut high = BTreeMap::new();
    for event in events {
        if let PinEvent::Pin { pin, high: h, .. } = *event {
            high.insert(pin, h);
        }
    }
    high.into_iter()
        .filter(|(_, h)| *h)
        .map(|(p, _)| p)
        .collect()
}

/// lab/actuator/WIRING.md's table: which Mega pin each channel drives.
pub fn wiring() -> BTreeMap<u16, u8> {
    let text = std::fs::read_to_string(repo_root().join("lab/actuator/WIRING.md")).unwrap();
    let range = |cell: &str| -> Option<(u32, u32)> {
        let (a, b) = cell.split_once('-').unwrap_or((cell, cell));
        Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
    };
    let mut map = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        for pair in [cells.get(1..3), cells.get(5..7)].into_iter().flatten() {
            if let (Some((c0, c1)), Some((p0, _))) = (range(pair[0]), range(pair[1])) {
                for (i, channel) in (c0..=c1).enumerate() {
                    map.insert(channel as u16, (p0 + i as u32) as u8);
                }
            }
        }
    }
    map
}

/// The emulated actuator board: the firmware under simavr, its serial port a
/// pseudo-terminal. Dropping it stops the emulator (SIGTERM) and waits for it.
pub struct EmulatedBoard {
    child: Child,
    dir: tempfile::TempDir,
    /// The board's serial port, as the lab file's `port` names it.
    pub port: PathBuf,
    pins: PathBuf,
    stderr: PathBuf,
}

impl EmulatedBoard {
    /// Starts the board and waits for its serial port.
    pub fn start(speed: Speed) -> EmulatedBoard {
        let built = built();
        let dir = tempfile::tempdir().unwrap();
        let port = dir.path().join("actuator");
        let pins = dir.path().join("pins.log");
        let stderr = dir.path().join("sim.stderr");
        let child = Command::new(&built.sim)
            .arg("--speed")
            .arg(match speed {
                Speed::Realtime => "realtime",
                Speed::Fast => "fast",
            })
            .arg(&built.elf)
            .arg(&port)
            .arg(&pins)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&stderr).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", built.sim.display()));
        let mut board = EmulatedBoard {
            child,
            dir,
            port,
            pins,
            stderr,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::fs::symlink_metadata(&board.port).is_err() {
            if let Ok(Some(status)) = board.child.try_wait() {
                panic!("the emulator exited ({status}): {}", board.stderr_text());
            }
            assert!(
                Instant::now() < deadline,
                "the emulator published no serial port in 20 s: {}",
                board.stderr_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        board
    }

    fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// What to show when the board does not answer: whether the emulator still runs, what
    /// it said, and the last pin changes.
    pub fn diagnostics(&mut self) -> String {
        let running = match self.child.try_wait() {
            Ok(None) => "the emulator runs".to_string(),
            Ok(Some(status)) => format!("the emulator exited ({status})"),
            Err(e) => format!("the emulator's state is unknown: {e}"),
        };
        let events = self.events();
        let last = &events[events.len().saturating_sub(10)..];
        format!(
            "{running}; it said: {:?}; last pin changes: {last:?}",
            self.stderr_text()
        )
    }

    /// Resets the board, as its reset button would.
    pub fn reset(&self) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: signalling our own live child (it is reaped only in drop).
        assert_eq!(unsafe { libc::kill(pid, libc::SIGUSR1) }, 0);
    }

    /// The pin log so far.
    pub fn events(&self) -> Vec<PinEvent> {
        let text = std::fs::read_to_string(&self.pins).unwrap_or_default();
        // Only whole lines: the emulator may be writing the last one.
        let whole = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
        whole
            .lines()
            .map(|line| {
                let words: Vec<&str> = line.split(' ').collect();
                let number = |i: usize| -> u64 {
                    words
                        .get(i)
                        .and_then(|w| w.parse().ok())
                        .unwrap_or_else(|| panic!("bad pin log line {line:?}"))
                };
                match words.get(1) {
                    Some(&"pin") => PinEvent::Pin {
                        at_us: number(0),
                        pin: number(2) as u8,
                        high: number(3) == 1,
                    },
                    Some(&"reset") => PinEvent::Reset { at_us: number(0) },
                    _ => panic!("bad pin log line {line:?}"),
                }
            })
            .collect()
    }

    /// Waits until the pin log satisfies `done`, and returns it; fails after `timeout`.
    pub fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&[PinEvent]) -> bool,
    ) -> Vec<PinEvent> {
        let deadline = Instant::now() + timeout;
        loop {
            let events = self.events();
            if done(&events) {
                return events;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the emulator exited ({status}) before {what}: {}",
                    self.stderr_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no {what} in the pin log after {} s (the machine may be too loaded for the \
                 emulator): {events:?}",
                timeout.as_secs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The folder the board's files live in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for EmulatedBoard {
    fn drop(&mut self) {
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            if self.child.try_wait().ok().flatten().is_none() {
                // SAFETY: signalling our own child, not reaped yet.
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// The conformance script as (command, reply) pairs.
pub fn conformance_script() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo_root().join("lab/actuator/conformance.txt")).unwrap();
    let mut pairs = Vec::new();
    let mut sent = None;
    for line in text.lines() {
        if let Some(command) = line.strip_prefix("> ") {
            sent = Some(command.to_string());
        } else if let Some(reply) = line.strip_prefix("< ") {
            pairs.push((
                sent.take().expect("a reply follows a command"),
                reply.to_string(),
            ));
        }
    }
    pairs
}
