//! A twin phone: one Yealink T4x desk phone as the wire sees it.
//!
//! The bench drives a phone only with physical events: power relay, network relay and
//! actuator keys ([`Phone::set_power`], [`Phone::set_link`], [`Phone::set_key`]). Everything
//! else is the phone's own doing on the network, from its own address: provisioning over
//! HTTP, firmware download, SIP REGISTER, syslog, and its web UI. The rules it follows, and
//! where each comes from, are in `lab/twin/BEHAVIOUR.md`.
//!
//! One tokio task per phone owns its state (`boot.rs`, the boot state machine); each power
//! session's work ([`session`]: provisioning, firmware check, REGISTER, Auto-P; the
//! [`recovery`]; the web listener) runs in tasks that power-off or a pulled cable abort at
//! once. Flash and RAM live in `shared.rs`, the status line in [`screen`].

mod boot;
pub mod config;
pub mod dhcp;
pub mod firmware;
pub mod flash;
pub mod keypad;
pub mod model;
pub mod net;
pub mod provision;
pub mod provisioning_source;
pub mod recovery;
pub mod screen;
pub mod serve;
pub mod session;
mod shared;
pub mod sip;
pub mod syslog;
pub mod timing;
pub mod web;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use thiserror::Error;
use tokio::sync::mpsc;

pub use self::firmware::{Firmware, ImageError};
pub use self::model::{Key, Model};

/// Everything that identifies one twin phone and its place on the bench.
#[derive(Debug, Clone)]
pub struct PhoneSpec {
    /// Bench name, for logs.
    pub bench: String,
    /// The model: file names, User-Agent, which images it accepts.
    pub model: Model,
    /// The MAC address: provisioning file names and User-Agent.
    pub mac: [u8; 6],
    /// The phone's own address (127.0.0.x): every socket binds it, so endpoints can tell
    /// phones apart by source address as on a real network.
    pub ip: Ipv4Addr,
    /// The web UI's TCP port on `ip`.
    pub web_port: u16,
    /// Multiplies every delay of the phone (1.0 is real time).
    pub time_scale: f64,
    /// DHCP option 66 on a bench without DHCP (`dhcp_interface` is `None`): the URL a
    /// lab's DHCP server would send. Unused when the phone asks a DHCP server.
    pub dhcp_provisioning_url: Option<String>,
    /// The `.rom` the phone runs when the bench starts.
    pub initial_firmware: PathBuf,
    /// On a bench without DHCP, the recovery TFTP server: the host option 66 names, with the
    /// virtual lab's TFTP port (a real bootloader asks on port 69 only); `None`: the TFTP
    /// recovery entry has no server to ask and fails. Unused when the phone asks a DHCP
    /// server, whose option 66 names the host (port 69).
    pub tftp_server: Option<SocketAddr>,
    /// The network interface the phone asks a DHCP server on (a lab VLAN in a network
    /// namespace); `None`: the bench's static address and options, no DHCP on the wire.
    pub dhcp_interface: Option<String>,
    /// The phone's USB slot: the stick image file (no file there = no stick). `None`: the
    /// bench has no stick wired.
    pub usb_image: Option<PathBuf>,
}

impl PhoneSpec {
    /// The MAC as provisioning file names write it: 12 lowercase hex digits.
    pub fn mac_hex(&self) -> String {
        hex::encode(self.mac)
    }

    /// The MAC as the User-Agent writes it: lowercase, colon-separated.
    pub fn mac_colons(&self) -> String {
        self.mac
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    }
}

/// Why a phone could not be put on the bench.
#[derive(Debug, Error)]
pub enum PhoneError {
    /// The initial firmware file could not be read.
    #[error(
        "bench {bench}: cannot read initial firmware {path}: {source} (check [twin] firmware_dir and initial_firmware in the lab file)"
    )]
    FirmwareRead {
        /// Bench name.
        bench: String,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The initial firmware is not an image this phone accepts.
    #[error("bench {bench}: initial firmware {path} is not a valid {model} image: {source}")]
    FirmwareInvalid {
        /// Bench name.
        bench: String,
        /// The file.
        path: PathBuf,
        /// The phone's model.
        model: Model,
        /// What is wrong with the image.
        source: ImageError,
    },
    /// `time_scale` is zero, negative or not a number.
    #[error("bench {bench}: time_scale {time_scale} must be a positive number")]
    BadTimeScale {
        /// Bench name.
        bench: String,
        /// The value given.
        time_scale: f64,
    },
    /// `spawn` was called outside a tokio runtime.
    #[error("bench {bench}: a phone must be started inside a tokio runtime")]
    NoRuntime {
        /// Bench name.
        bench: String,
    },
}

/// A physical event on the bench, as the phone's task receives it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Physical {
    Power(bool),
    Link(bool),
    Key(Key, bool),
    Hang(bool),
    Shutdown,
}

/// A handle on a running twin phone; clones drive the same phone.
#[derive(Clone)]
pub struct Phone {
    events: mpsc::UnboundedSender<Physical>,
    shared: Arc<shared::Shared>,
}

impl Phone {
    /// Puts a phone on the bench, unpowered, with its cable connected, running the initial
    /// firmware with factory settings. Must be called inside a tokio runtime.
    pub fn spawn(spec: PhoneSpec) -> Result<Phone, PhoneError> {
        if !(spec.time_scale.is_finite() && spec.time_scale > 0.0) {
            return Err(PhoneError::BadTimeScale {
                bench: spec.bench.clone(),
                time_scale: spec.time_scale,
            });
        }
        let handle = tokio::runtime::Handle::try_current().map_err(|_| PhoneError::NoRuntime {
            bench: spec.bench.clone(),
        })?;
        let bytes =
            std::fs::read(&spec.initial_firmware).map_err(|source| PhoneError::FirmwareRead {
                bench: spec.bench.clone(),
                path: spec.initial_firmware.clone(),
                source,
            })?;
        let firmware =
            Firmware::parse(&bytes, spec.model).map_err(|source| PhoneError::FirmwareInvalid {
                bench: spec.bench.clone(),
                path: spec.initial_firmware.clone(),
                model: spec.model,
                source,
            })?;
        let (events, receiver) = mpsc::unbounded_channel();
        let shared = shared::Shared::new(spec, firmware);
        handle.spawn(boot::run(Arc::clone(&shared), receiver));
        Ok(Phone { events, shared })
    }

    /// The power relay: closed (`true`) applies power, open cuts it at once.
    pub fn set_power(&self, on: bool) {
        self.send(Physical::Power(on));
    }

    /// The network relay: `true` is the cable connected, `false` pulled.
    pub fn set_link(&self, connected: bool) {
        self.send(Physical::Link(connected));
    }

    /// An actuator finger on `key`: pressed or released. A press acts at once.
    pub fn set_key(&self, key: Key, pressed: bool) {
        self.send(Physical::Key(key, pressed));
    }

    /// Fault hook: while set, boots stop after the bootloader (nothing on the network),
    /// so the harness's boot timeouts and lab-fault paths can be exercised.
    pub fn hang_in_boot(&self, hang: bool) {
        self.send(Physical::Hang(hang));
    }

    /// Bench teardown: stops every task and socket of the phone.
    pub fn shutdown(&self) {
        self.send(Physical::Shutdown);
    }

    /// What the screen shows now (status line, then any popup or notice). For logs and
    /// manual use of the virtual bench; a real rack cannot read it, so transcripts never do.
    pub fn screen(&self) -> String {
        self.shared.screen_text()
    }

    /// The bench this phone sits on.
    pub fn bench(&self) -> &str {
        &self.shared.spec.bench
    }

    fn send(&self, event: Physical) {
        if self.events.send(event).is_err() {
            tracing::debug!(bench = %self.shared.spec.bench, ?event, "event for a phone already shut down");
        }
    }
}
