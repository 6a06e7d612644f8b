//! The virtual bench assembled from a lab file: serial devices on pseudo-terminals, twin
//! phones on loopback, and the wiring between them that a real rack has in copper.
//!
//! Wiring: a relay board channel drives a phone's power (closed = powered) or its network
//! cable (closed = connected); an actuator channel presses one key of one phone through the
//! bench's keymap. A phone's link is up only while its network relay is closed (or it has
//! none) and the cable-pull fault is off. Fault hooks are physical events or a board's
//! firmware failing on the wire (silent, garbage): they never look into a phone.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use crate::lab::{LabError, RelayKind, TwinBench, TwinLab};
use crate::phone::{Key, Model, Phone, PhoneError, PhoneSpec};
use crate::serial::actuator::ActuatorBoard;
use crate::serial::lcus::LcusBoard;
use crate::serial::numato::NumatoBoard;
use crate::serial::{
    ChangeSink, ChannelChange, DeviceFault, FrameCount, SerialDevice, SerialError, SerialProtocol,
};

/// Overrides of the lab file for one bench run.
#[derive(Debug, Clone, Default)]
pub struct BenchOptions {
    /// DHCP option 66 for phones on benches without DHCP (no `dhcp_interface`); the harness
    /// passes the URL of the provisioning endpoint it actually bound. Default: from
    /// `[endpoints] provisioning`.
    pub provisioning_url: Option<String>,
    /// Multiplies every phone delay. Default: `[lab] time_scale`.
    pub time_scale: Option<f64>,
    /// The recovery TFTP server of phones on benches without DHCP: the host option 66 names,
    /// with the port the virtual lab's endpoint listens on; the harness passes the address it
    /// actually bound. Default: from `[endpoints] tftp`. A bench with DHCP asks option 66's
    /// host on port 69.
    pub tftp_server: Option<SocketAddr>,
}

/// Why the virtual bench could not start, or a fault hook could not act.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The lab file or a firmware manifest is wrong.
    #[error(transparent)]
    Lab(#[from] LabError),
    /// The time scale given on the command line is not usable.
    #[error("time scale {0} must be a positive number (check --time-scale)")]
    BadTimeScale(f64),
    /// A phone could not be put on the bench.
    #[error(transparent)]
    Phone(#[from] PhoneError),
    /// The lab file names a model or key the twin phone does not know.
    #[error("bench `{bench}`: {problem}")]
    Wiring {
        /// The bench.
        bench: String,
        /// What the twin phone does not support.
        problem: String,
    },
    /// A serial device could not be published or (re)plugged.
    #[error("serial device `{device}`: {source}")]
    Serial {
        /// The device's name in the lab file.
        device: String,
        /// What failed.
        #[source]
        source: SerialError,
    },
    /// A fault command named a device the lab file does not have.
    #[error("no {kind} is named `{name}` (known: {known})")]
    UnknownDevice {
        /// `relay board` or `actuator`.
        kind: &'static str,
        /// The name asked for.
        name: String,
        /// The names the lab file has.
        known: String,
    },
    /// A fault command named a bench the lab file does not have.
    #[error("no bench is named `{name}` (known: {known})")]
    UnknownBench {
        /// The name asked for.
        name: String,
        /// The names the lab file has.
        known: String,
    },
}

/// A phone's network cable: the relay in it and the fault that pulls it.
struct Cable {
    phone: Phone,
    // (relay closed, cable pulled); under one lock so the phone sees changes in order.
    state: Mutex<(bool, bool)>,
}

impl Cable {
    fn update(&self, change: impl FnOnce(&mut (bool, bool))) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        change(&mut state);
        let (relay_closed, pulled) = *state;
        self.phone.set_link(relay_closed && !pulled);
    }
}

fn record(contacts: &Contacts, device: &str, channel: u16, closed: bool) {
    contacts
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert((device.to_string(), channel), closed);
}

/// Contact positions by (device name, channel): `true` closed (relay) or pressed (key).
type Contacts = Arc<Mutex<BTreeMap<(String, u16), bool>>>;

/// One bench as assembled.
struct Unit {
    bench: TwinBench,
    phone: Phone,
    cable: Arc<Cable>,
}

/// What a relay channel is wired to.
#[derive(Clone)]
enum RelayLoad {
    Power(Phone),
    Network(Arc<Cable>),
}

/// A running virtual bench. Dropping it tears it down as `shutdown` does.
pub struct VirtualBench {
    /// The last position of every relay contact and actuator output, by (device, channel):
    /// what a meter across the rack's contacts reads, for `probe`.
    contacts: Contacts,
    relay_boards: Vec<(String, RelayKind, u16, SerialDevice)>,
    /// Frames each relay board received, by board name, for `frames`.
    frame_counts: BTreeMap<String, FrameCount>,
    actuators: Vec<(String, u16, SerialDevice)>,
    units: Vec<Unit>,
    provisioning_url: Option<String>,
    time_scale: f64,
}

impl VirtualBench {
    /// Builds the bench: phones first (unpowered), then the serial devices that drive them.
    /// Must run inside a tokio runtime. Nothing is left published if it fails.
    pub async fn start(lab: TwinLab, opts: BenchOptions) -> Result<VirtualBench, BenchError> {
        let time_scale = opts.time_scale.unwrap_or(lab.time_scale);
        if !(time_scale.is_finite() && time_scale > 0.0) {
            return Err(BenchError::BadTimeScale(time_scale));
        }
        let provisioning_url = opts.provisioning_url.or_else(|| lab.provisioning_url());
        if provisioning_url.is_none() {
            tracing::warn!(
                "the provisioning endpoint's port is 0 and no URL was given: phones get no DHCP option 66"
            );
        }

        let tftp_server = opts.tftp_server.or_else(|| lab.tftp_server());
        if tftp_server.is_none() {
            tracing::warn!(
                "no recovery TFTP server is known (no [endpoints] tftp with a port, none given): TFTP recovery will fail"
            );
        }

        let mut firmware = Vec::new();
        for bench in &lab.benches {
            firmware.push(lab.initial_firmware_path(&bench.model)?);
        }

        let mut bench = VirtualBench {
            contacts: Contacts::default(),
            relay_boards: Vec::new(),
            frame_counts: BTreeMap::new(),
            actuators: Vec::new(),
            units: Vec::new(),
            provisioning_url: provisioning_url.clone(),
            time_scale,
        };
        // From here on, an early return drops `bench`, which shuts down what was started.
        for (spec, initial_firmware) in lab.benches.iter().zip(firmware) {
            let model = Model::parse(&spec.model).ok_or_else(|| BenchError::Wiring {
                bench: spec.name.clone(),
                problem: format!("the twin phone has no model `{}`", spec.model),
            })?;
            let phone = Phone::spawn(PhoneSpec {
                bench: spec.name.clone(),
                model,
                mac: spec.mac,
                ip: spec.ip,
                web_port: spec.web_port,
                time_scale,
                dhcp_provisioning_url: provisioning_url.clone(),
                initial_firmware,
                tftp_server,
                dhcp_interface: spec.dhcp_interface.clone(),
                usb_image: spec.usb_image.clone(),
            })?;
            // A bench without a network relay has its cable plugged in for good.
            let cable = Arc::new(Cable {
                phone: phone.clone(),
                state: Mutex::new((spec.network.is_none(), false)),
            });
            cable.update(|_| {});
            bench.units.push(Unit {
                bench: spec.clone(),
                phone,
                cable,
            });
        }

        for board in &lab.relay_boards {
            let mut loads: BTreeMap<u16, RelayLoad> = BTreeMap::new();
            for unit in &bench.units {
                if unit.bench.power.board == board.name {
                    loads.insert(
                        unit.bench.power.channel,
                        RelayLoad::Power(unit.phone.clone()),
                    );
                }
                if let Some(network) = unit
                    .bench
                    .network
                    .as_ref()
                    .filter(|n| n.board == board.name)
                {
                    loads.insert(network.channel, RelayLoad::Network(Arc::clone(&unit.cable)));
                }
            }
            let name = board.name.clone();
            let contacts = Arc::clone(&bench.contacts);
            let sink: ChangeSink = Arc::new(move |ChannelChange { channel, active }| {
                record(&contacts, &name, channel, active);
                match loads.get(&channel) {
                    Some(RelayLoad::Power(phone)) => phone.set_power(active),
                    Some(RelayLoad::Network(cable)) => cable.update(|s| s.0 = active),
                    None => {
                        tracing::debug!(board = %name, channel, closed = active, "relay channel wired to nothing")
                    }
                }
            });
            let frames = FrameCount::default();
            bench
                .frame_counts
                .insert(board.name.clone(), Arc::clone(&frames));
            let protocol: Box<dyn SerialProtocol> = match board.kind {
                RelayKind::Lcus => {
                    Box::new(LcusBoard::new(board.channels, sink).counting_frames(frames))
                }
                RelayKind::Numato => {
                    Box::new(NumatoBoard::new(board.channels, sink).counting_frames(frames))
                }
            };
            let device = SerialDevice::start(&board.port, protocol).map_err(|source| {
                BenchError::Serial {
                    device: board.name.clone(),
                    source,
                }
            })?;
            bench
                .relay_boards
                .push((board.name.clone(), board.kind, board.channels, device));
        }

        for actuator in &lab.actuators {
            let mut fingers: BTreeMap<u16, (Phone, Key)> = BTreeMap::new();
            for unit in bench
                .units
                .iter()
                .filter(|u| u.bench.actuator == actuator.name)
            {
                for (&channel, key_name) in &unit.bench.keys {
                    let key = Key::parse(key_name).ok_or_else(|| BenchError::Wiring {
                        bench: unit.bench.name.clone(),
                        problem: format!("the twin phone has no key `{key_name}`"),
                    })?;
                    fingers.insert(channel, (unit.phone.clone(), key));
                }
            }
            let name = actuator.name.clone();
            let contacts = Arc::clone(&bench.contacts);
            let sink: ChangeSink = Arc::new(move |ChannelChange { channel, active }| {
                record(&contacts, &name, channel, active);
                match fingers.get(&channel) {
                    Some((phone, key)) => phone.set_key(*key, active),
                    None => {
                        tracing::debug!(actuator = %name, channel, pressed = active, "actuator channel wired to no key")
                    }
                }
            });
            let device = SerialDevice::start(
                &actuator.port,
                Box::new(ActuatorBoard::new(actuator.channels, sink)),
            )
            .map_err(|source| BenchError::Serial {
                device: actuator.name.clone(),
                source,
            })?;
            bench
                .actuators
                .push((actuator.name.clone(), actuator.channels, device));
        }
        tracing::info!(
            benches = bench.units.len(),
            time_scale,
            "virtual bench started"
        );
        Ok(bench)
    }

    /// What a meter across bench `name`'s contacts reads: its power relay, its network
    /// relay and its pressed keys, as one line (`power=open network=closed keys=-`). A
    /// contact never switched is open. An observation, not a fault: it changes nothing.
    pub fn probe(&self, name: &str) -> Result<String, BenchError> {
        let unit = self.unit(name)?;
        let contacts = self.contacts.lock().unwrap_or_else(|p| p.into_inner());
        let closed = |device: &str, channel: u16| {
            contacts
                .get(&(device.to_string(), channel))
                .copied()
                .unwrap_or(false)
        };
        let position = |closed: bool| if closed { "closed" } else { "open" };
        let bench = &unit.bench;
        let power = position(closed(&bench.power.board, bench.power.channel));
        let network = bench
            .network
            .as_ref()
            .map_or("none", |n| position(closed(&n.board, n.channel)));
        let pressed: Vec<&str> = bench
            .keys
            .iter()
            .filter(|(channel, _)| closed(&bench.actuator, **channel))
            .map(|(_, key)| key.as_str())
            .collect();
        let keys = if pressed.is_empty() {
            "-".to_string()
        } else {
            pressed.join(",")
        };
        Ok(format!("power={power} network={network} keys={keys}"))
    }

    /// A table of what hosts can reach: each serial device's published path and each phone's
    /// web address and MAC.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<12} {:<8} {:>3}  path -> pseudo-terminal",
            "device", "kind", "ch"
        );
        let devices = self
            .relay_boards
            .iter()
            .map(|(name, kind, channels, device)| {
                let kind = match kind {
                    RelayKind::Lcus => "lcus",
                    RelayKind::Numato => "numato",
                };
                (name, kind, *channels, device)
            })
            .chain(
                self.actuators
                    .iter()
                    .map(|(name, channels, device)| (name, "actuator", *channels, device)),
            );
        for (name, kind, channels, device) in devices {
            let pts = device
                .pts_path()
                .map_or_else(|| "(unplugged)".to_string(), |p| p.display().to_string());
            let _ = writeln!(
                out,
                "{name:<12} {kind:<8} {channels:>3}  {} -> {pts}",
                device.link_path().display()
            );
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<12} {:<6} {:<21} {:<17}  wiring",
            "bench", "model", "web", "mac"
        );
        for Unit { bench, .. } in &self.units {
            let web = format!("{}:{}", bench.ip, bench.web_port);
            let network = bench.network.as_ref().map_or_else(
                || "network always on".to_string(),
                |n| format!("network {}#{}", n.board, n.channel),
            );
            let _ = writeln!(
                out,
                "{:<12} {:<6} {web:<21} {}  power {}#{}, {network}, keys {}",
                bench.name,
                bench.model,
                bench.mac_colons(),
                bench.power.board,
                bench.power.channel,
                bench.actuator
            );
        }
        let _ = writeln!(out);
        let url = self.provisioning_url.as_deref().unwrap_or("(none)");
        let _ = writeln!(
            out,
            "DHCP option 66: {url}   time scale: {}",
            self.time_scale
        );
        out
    }

    /// The DHCP option 66 URL the phones were given.
    pub fn provisioning_url(&self) -> Option<&str> {
        self.provisioning_url.as_deref()
    }

    /// Fault hook: the relay board's USB cable pulled. Its relays drop open (they are powered
    /// from USB), so every phone it powers goes dark; hosts' open ports fail.
    pub fn unplug_relay_board(&self, name: &str) -> Result<(), BenchError> {
        let device = self.relay_board(name)?;
        device.unplug().map_err(|source| BenchError::Serial {
            device: name.to_string(),
            source,
        })
    }

    /// Fault hook: the relay board plugged back; it comes up with every relay open.
    pub fn replug_relay_board(&self, name: &str) -> Result<(), BenchError> {
        let device = self.relay_board(name)?;
        device.replug().map_err(|source| BenchError::Serial {
            device: name.to_string(),
            source,
        })
    }

    /// Fault hook: the actuator's USB cable pulled; every key it holds is released.
    pub fn unplug_actuator(&self, name: &str) -> Result<(), BenchError> {
        let device = self.actuator(name)?;
        device.unplug().map_err(|source| BenchError::Serial {
            device: name.to_string(),
            source,
        })
    }

    /// Fault hook: the actuator plugged back; it announces `READY` with every key released.
    pub fn replug_actuator(&self, name: &str) -> Result<(), BenchError> {
        let device = self.actuator(name)?;
        device.replug().map_err(|source| BenchError::Serial {
            device: name.to_string(),
            source,
        })
    }

    /// Fault hook: give a relay board or actuator (by its lab-file name) broken firmware
    /// that goes silent or answers garbage while staying plugged in, or mend it with
    /// `DeviceFault::Healthy`. See [`DeviceFault`] for what each does on the wire.
    pub fn set_device_fault(&self, name: &str, fault: DeviceFault) -> Result<(), BenchError> {
        let device = if self.is_actuator(name) {
            self.actuator(name)?
        } else {
            self.relay_board(name)?
        };
        device.set_fault(fault);
        Ok(())
    }

    /// Fault hook: while set, the bench's phone stops its boots before the network, as a
    /// phone with a corrupt flash does.
    pub fn hang_in_boot(&self, bench: &str, hang: bool) -> Result<(), BenchError> {
        self.unit(bench)?.phone.hang_in_boot(hang);
        Ok(())
    }

    /// Fault hook: the network cable pulled out of (or pushed back into) the phone, whatever
    /// its network relay says.
    pub fn pull_cable(&self, bench: &str, pulled: bool) -> Result<(), BenchError> {
        self.unit(bench)?.cable.update(|s| s.1 = pulled);
        Ok(())
    }

    /// Applies one operator fault command.
    pub fn apply(&self, command: &FaultCommand) -> Result<(), BenchError> {
        match command {
            FaultCommand::Unplug(name) if self.is_actuator(name) => self.unplug_actuator(name),
            FaultCommand::Unplug(name) => self.unplug_relay_board(name),
            FaultCommand::Replug(name) if self.is_actuator(name) => self.replug_actuator(name),
            FaultCommand::Replug(name) => self.replug_relay_board(name),
            FaultCommand::PullCable(bench) => self.pull_cable(bench, true),
            FaultCommand::PlugCable(bench) => self.pull_cable(bench, false),
            FaultCommand::Hang(bench) => self.hang_in_boot(bench, true),
            FaultCommand::Unhang(bench) => self.hang_in_boot(bench, false),
            FaultCommand::Firmware(name, fault) => self.set_device_fault(name, *fault),
        }
    }

    /// Powers every phone off, stops them, and removes every published serial path.
    pub async fn shutdown(mut self) {
        self.teardown();
        // Let the phones' tasks see their shutdown before the runtime may go away.
        tokio::task::yield_now().await;
        tracing::info!("virtual bench shut down");
    }

    fn teardown(&mut self) {
        for unit in &self.units {
            unit.phone.set_power(false);
            unit.phone.shutdown();
        }
        // Dropping a device closes its pty and removes its link.
        self.relay_boards.clear();
        self.actuators.clear();
        self.units.clear();
    }

    fn is_actuator(&self, name: &str) -> bool {
        self.actuators.iter().any(|(n, ..)| n == name)
    }

    /// How many whole frames relay board `name` has received since the bench started (LCUS
    /// frames with a valid checksum, Numato command lines), as a bus analyser would count.
    pub fn frames(&self, name: &str) -> Result<u64, BenchError> {
        self.relay_board(name)?;
        Ok(self
            .frame_counts
            .get(name)
            .map_or(0, |count| count.load(std::sync::atomic::Ordering::SeqCst)))
    }

    fn relay_board(&self, name: &str) -> Result<&SerialDevice, BenchError> {
        self.relay_boards
            .iter()
            .find(|(n, ..)| n == name)
            .map(|(.., d)| d)
            .ok_or_else(|| BenchError::UnknownDevice {
                kind: "relay board or actuator",
                name: name.to_string(),
                known: self.device_names(),
            })
    }

    fn actuator(&self, name: &str) -> Result<&SerialDevice, BenchError> {
        self.actuators
            .iter()
            .find(|(n, ..)| n == name)
            .map(|(.., d)| d)
            .ok_or_else(|| BenchError::UnknownDevice {
                kind: "actuator",
                name: name.to_string(),
                known: self
                    .actuators
                    .iter()
                    .map(|(n, ..)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    fn device_names(&self) -> String {
        let relays = self.relay_boards.iter().map(|(n, ..)| n.as_str());
        relays
            .chain(self.actuators.iter().map(|(n, ..)| n.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn unit(&self, name: &str) -> Result<&Unit, BenchError> {
        self.units
            .iter()
            .find(|u| u.bench.name == name)
            .ok_or_else(|| BenchError::UnknownBench {
                name: name.to_string(),
                known: self
                    .units
                    .iter()
                    .map(|u| u.bench.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

impl Drop for VirtualBench {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// A physical fault an operator types at the standalone bench.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultCommand {
    /// `unplug <device>`: a relay board's or actuator's USB cable pulled.
    Unplug(String),
    /// `replug <device>`
    Replug(String),
    /// `pull-cable <bench>`: the phone's network cable pulled.
    PullCable(String),
    /// `plug-cable <bench>`
    PlugCable(String),
    /// `hang <bench>`: the phone's next boots stop before the network.
    Hang(String),
    /// `unhang <bench>`
    Unhang(String),
    /// `silent <device>`, `garbage <device>`, `heal <device>`: a relay board's or
    /// actuator's firmware goes silent, answers garbage, or works again.
    Firmware(String, DeviceFault),
}

/// The operator's help text for fault commands.
pub const FAULT_HELP: &str = "\
commands (physical events and board firmware faults):
  unplug <device>      pull a relay board's or actuator's USB cable
  replug <device>      plug it back (hosts must reopen the port)
  silent <device>      its firmware hangs: reads every byte, executes and answers nothing
  garbage <device>     its firmware babbles: answers every command with bytes of no protocol
  heal <device>        its firmware works again (after silent or garbage)
  pull-cable <bench>   pull the phone's network cable
  plug-cable <bench>   plug it back
  hang <bench>         the phone's next boots stop before the network
  unhang <bench>       boots complete again
  probe <bench>        read the bench's contacts: power, network relay, pressed keys
  frames <board>       how many whole frames a relay board has received
  describe             show devices and benches
  help                 this text";

impl FaultCommand {
    /// Parses `<verb> <name>`; the error is a message for the operator.
    pub fn parse(line: &str) -> Result<FaultCommand, String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let [verb, name] = words.as_slice() else {
            return Err(format!(
                "expected `<command> <name>`, got `{}` (type `help`)",
                line.trim()
            ));
        };
        let name = (*name).to_string();
        Ok(match verb.to_ascii_lowercase().as_str() {
            "unplug" => FaultCommand::Unplug(name),
            "replug" | "plug" => FaultCommand::Replug(name),
            "pull-cable" => FaultCommand::PullCable(name),
            "plug-cable" => FaultCommand::PlugCable(name),
            "hang" => FaultCommand::Hang(name),
            "unhang" => FaultCommand::Unhang(name),
            "silent" => FaultCommand::Firmware(name, DeviceFault::Silent),
            "garbage" => FaultCommand::Firmware(name, DeviceFault::Garbage),
            "heal" => FaultCommand::Firmware(name, DeviceFault::Healthy),
            other => return Err(format!("unknown command `{other}` (type `help`)")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fault_commands() {
        assert_eq!(
            FaultCommand::parse("unplug relay-power"),
            Ok(FaultCommand::Unplug("relay-power".into()))
        );
        assert_eq!(
            FaultCommand::parse("  replug  keys-t46g \n"),
            Ok(FaultCommand::Replug("keys-t46g".into()))
        );
        assert_eq!(
            FaultCommand::parse("pull-cable t46g"),
            Ok(FaultCommand::PullCable("t46g".into()))
        );
        assert_eq!(
            FaultCommand::parse("PLUG-CABLE t46g"),
            Ok(FaultCommand::PlugCable("t46g".into()))
        );
        assert_eq!(
            FaultCommand::parse("hang t46g"),
            Ok(FaultCommand::Hang("t46g".into()))
        );
        assert_eq!(
            FaultCommand::parse("unhang t46g"),
            Ok(FaultCommand::Unhang("t46g".into()))
        );
        assert_eq!(
            FaultCommand::parse("silent relay-power"),
            Ok(FaultCommand::Firmware(
                "relay-power".into(),
                DeviceFault::Silent
            ))
        );
        assert_eq!(
            FaultCommand::parse("GARBAGE keys-t46g"),
            Ok(FaultCommand::Firmware(
                "keys-t46g".into(),
                DeviceFault::Garbage
            ))
        );
        assert_eq!(
            FaultCommand::parse("heal keys-t46g"),
            Ok(FaultCommand::Firmware(
                "keys-t46g".into(),
                DeviceFault::Healthy
            ))
        );
        assert!(FaultCommand::parse("unplug").unwrap_err().contains("help"));
        assert!(
            FaultCommand::parse("explode t46g")
                .unwrap_err()
                .contains("explode")
        );
    }
}
