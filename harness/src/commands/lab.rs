//! `harness lab check | ports | dnsmasq`: the commands that bring a rack up. `check` opens
//! every device of every bench and reads what it can, switching and pressing nothing, so a
//! wiring or permission problem shows before a run; `ports` lists what is plugged in, to
//! fill in the lab file; `dnsmasq` prints the DHCP configuration the lab VLAN needs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::drivers::media::BlockDevice;
use crate::drivers::{ButtonActuator, PowerSwitch, open_actuator, open_power_switch};
use crate::lab::{Actuator, ActuatorKind, Lab, RelayBoard, RelayChannel, UsbConfig};
use crate::outcome::exit_code;

/// One line of `lab check`: one device of one bench.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCheck {
    /// The bench the device belongs to.
    pub bench: String,
    /// Its role and lab-file name (`power relay-power/1`, `actuator keys-t40p`, `usb`).
    pub device: String,
    /// Where it is looked for: serial port, USB ids, URL or file.
    pub address: String,
    /// `Ok` when the device answered; else why not, as the driver explains it.
    pub found: Result<(), String>,
    /// What could be read: relay on/off, held keys, the stick.
    pub state: String,
}

/// A device opened once for every bench that uses it, or why it could not be.
type Opened<T> = Result<T, String>;

/// Opens every device of every bench and reads its state; switches and presses nothing.
/// Blocking (serial and USB I/O): call it from a blocking thread.
pub fn check_lab(lab: &Lab) -> Vec<DeviceCheck> {
    let mut boards: BTreeMap<String, Opened<Box<dyn PowerSwitch>>> = BTreeMap::new();
    let mut actuators: BTreeMap<String, Opened<Box<dyn ButtonActuator>>> = BTreeMap::new();
    let mut rows = Vec::new();
    for bench in &lab.benches {
        let links = std::iter::once(("power", &bench.power))
            .chain(bench.network.as_ref().map(|n| ("network", n)));
        for (role, link) in links {
            let spec = board_spec(lab, &link.board);
            rows.push(relay_row(&bench.name, role, link, spec, &mut boards));
        }
        let spec = lab.actuators.iter().find(|a| a.name == bench.actuator);
        rows.push(actuator_row(
            &bench.name,
            &bench.actuator,
            spec,
            &mut boards,
            &mut actuators,
        ));
        if let Some(usb) = &bench.usb {
            rows.push(usb_row(&bench.name, usb));
        }
    }
    rows
}

fn board_spec<'l>(lab: &'l Lab, name: &str) -> Option<&'l RelayBoard> {
    lab.relay_boards.iter().find(|b| b.name == name)
}

fn open_board<'m>(
    spec: &RelayBoard,
    boards: &'m mut BTreeMap<String, Opened<Box<dyn PowerSwitch>>>,
) -> &'m mut Opened<Box<dyn PowerSwitch>> {
    boards
        .entry(spec.name.clone())
        .or_insert_with(|| open_power_switch(spec).map_err(|e| e.to_string()))
}

fn relay_row(
    bench: &str,
    role: &str,
    link: &RelayChannel,
    spec: Option<&RelayBoard>,
    boards: &mut BTreeMap<String, Opened<Box<dyn PowerSwitch>>>,
) -> DeviceCheck {
    let device = format!("{role} {}/{}", link.board, link.channel);
    let Some(spec) = spec else {
        return missing(bench, device, String::new(), "not in the lab file".into());
    };
    let address = spec.address();
    match open_board(spec, boards) {
        Err(e) => missing(bench, device, address, e.clone()),
        Ok(switch) => {
            let state = match switch.get(link.channel) {
                Ok(Some(true)) => "relay on".to_string(),
                Ok(Some(false)) => "relay off".to_string(),
                Ok(None) => "not readable".to_string(),
                Err(e) => return missing(bench, device, address, e.to_string()),
            };
            found(bench, device, address, state)
        }
    }
}

fn actuator_row(
    bench: &str,
    name: &str,
    spec: Option<&Actuator>,
    boards: &mut BTreeMap<String, Opened<Box<dyn PowerSwitch>>>,
    actuators: &mut BTreeMap<String, Opened<Box<dyn ButtonActuator>>>,
) -> DeviceCheck {
    let device = format!("actuator {name}");
    let Some(spec) = spec else {
        return missing(bench, device, String::new(), "not in the lab file".into());
    };
    let address = spec.address();
    let held = match &spec.kind {
        // Keys on relays are read from the board: opening them as an actuator would open
        // every mapped relay again when dropped, and `check` switches nothing.
        ActuatorKind::Relay { board, relays } => match open_board(board, boards) {
            Err(e) => return missing(bench, device, address, e.clone()),
            Ok(switch) => {
                let mut held = Vec::new();
                let mut readable = true;
                for (index, relay) in relays.iter().enumerate() {
                    match switch.get(*relay) {
                        Ok(Some(true)) => held.push(index as u16 + 1),
                        Ok(Some(false)) => {}
                        Ok(None) => readable = false,
                        Err(e) => return missing(bench, device, address, e.to_string()),
                    }
                }
                if !readable {
                    return found(bench, device, address, "not readable".into());
                }
                held
            }
        },
        ActuatorKind::Serial => {
            let opened = actuators
                .entry(spec.name.clone())
                .or_insert_with(|| open_actuator(spec).map_err(|e| e.to_string()));
            match opened {
                Err(e) => return missing(bench, device, address, e.clone()),
                Ok(actuator) => match actuator.held() {
                    Ok(held) => held,
                    Err(e) => return missing(bench, device, address, e.to_string()),
                },
            }
        }
    };
    let state = if held.is_empty() {
        "no key held".to_string()
    } else {
        let list: Vec<String> = held.iter().map(u16::to_string).collect();
        format!("held: {}", list.join(", "))
    };
    found(bench, device, address, state)
}

fn usb_row(bench: &str, usb: &UsbConfig) -> DeviceCheck {
    match usb {
        UsbConfig::ImageFile { path } => {
            let address = path.display().to_string();
            // The virtual stick: no file is no stick inserted, which is a state, not a fault.
            let state = match std::fs::metadata(path) {
                Ok(meta) => format!("image file present ({} bytes)", meta.len()),
                Err(_) => "no image file (no stick inserted)".to_string(),
            };
            found(bench, "usb".into(), address, state)
        }
        UsbConfig::BlockDevice { path, size_mb } => {
            let address = path.display().to_string();
            match BlockDevice::new(path.clone(), *size_mb).check(0) {
                Ok(disk) => found(
                    bench,
                    "usb".into(),
                    address,
                    format!(
                        "block device {} ({} MiB)",
                        disk.resolved.display(),
                        disk.bytes / 1_048_576
                    ),
                ),
                Err(e) => missing(bench, "usb".into(), address, e.to_string()),
            }
        }
    }
}

fn found(bench: &str, device: String, address: String, state: String) -> DeviceCheck {
    DeviceCheck {
        bench: bench.to_string(),
        device,
        address,
        found: Ok(()),
        state,
    }
}

fn missing(bench: &str, device: String, address: String, error: String) -> DeviceCheck {
    DeviceCheck {
        bench: bench.to_string(),
        device,
        address,
        found: Err(error),
        state: "-".to_string(),
    }
}

/// The `lab check` table, one device a line, errors spelled out under it.
pub fn render_check(rows: &[DeviceCheck]) -> String {
    let headers = ["bench", "device", "port/address", "found", "state"];
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            [
                r.bench.clone(),
                r.device.clone(),
                r.address.clone(),
                if r.found.is_ok() { "found" } else { "MISSING" }.to_string(),
                r.state.clone(),
            ]
        })
        .collect();
    let mut widths = headers.map(str::len);
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, row: [&str; 5]| {
        let mut text = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                text.push_str(cell);
            } else {
                let _ = write!(text, "{cell:<width$}  ", width = widths[i]);
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut out, headers);
    for row in &cells {
        line(&mut out, [&row[0], &row[1], &row[2], &row[3], &row[4]]);
    }
    let failures: Vec<&DeviceCheck> = rows.iter().filter(|r| r.found.is_err()).collect();
    if !failures.is_empty() {
        out.push('\n');
        for row in failures {
            if let Err(e) = &row.found {
                let _ = writeln!(out, "{} {}: {e}", row.bench, row.device);
            }
        }
    }
    out
}

/// 0 when every device was found, 3 (lab fault) otherwise.
pub fn check_exit_code(rows: &[DeviceCheck]) -> i32 {
    if rows.iter().all(|r| r.found.is_ok()) {
        exit_code::PASS
    } else {
        exit_code::LAB_FAULT
    }
}

/// `harness lab check`.
pub async fn check(lab_path: &Path) -> i32 {
    let lab = match crate::lab::load(lab_path) {
        Ok(lab) => lab,
        Err(e) => {
            eprintln!("{e}");
            return exit_code::CONFIG_ERROR;
        }
    };
    let rows = match tokio::task::spawn_blocking(move || check_lab(&lab)).await {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("harness: the device check stopped: {e}");
            return exit_code::LAB_FAULT;
        }
    };
    print!("{}", render_check(&rows));
    check_exit_code(&rows)
}

/// `harness lab ports`: serial ports and USB devices, to fill in a lab file.
pub fn ports() -> i32 {
    let by_id = by_id_links(Path::new("/dev/serial/by-id"));
    println!("serial ports:");
    match serialport::available_ports() {
        Ok(ports) if ports.is_empty() => println!("  (none)"),
        Ok(mut ports) => {
            ports.sort_by(|a, b| a.port_name.cmp(&b.port_name));
            for port in ports {
                let ids = match &port.port_type {
                    serialport::SerialPortType::UsbPort(usb) => format!(
                        "usb {:04x}:{:04x} serial {} product {}",
                        usb.vid,
                        usb.pid,
                        usb.serial_number.as_deref().unwrap_or("-"),
                        usb.product.as_deref().unwrap_or("-")
                    ),
                    serialport::SerialPortType::PciPort => "pci".to_string(),
                    serialport::SerialPortType::BluetoothPort => "bluetooth".to_string(),
                    serialport::SerialPortType::Unknown => "unknown".to_string(),
                };
                println!("  {}  {ids}", port.port_name);
                for link in links_to(&by_id, Path::new(&port.port_name)) {
                    println!("    {}", link.display());
                }
            }
        }
        Err(e) => println!("  cannot list serial ports: {e}"),
    }
    println!("usb devices:");
    match crate::drivers::usb::list_usb_devices() {
        Ok(devices) if devices.is_empty() => println!("  (none, or no USB bus on this machine)"),
        Ok(devices) => {
            for d in devices {
                println!(
                    "  bus {:03} address {:03}  {:04x}:{:04x}  serial {}  product {}",
                    d.bus,
                    d.address,
                    d.vid,
                    d.pid,
                    d.serial.as_deref().unwrap_or("-"),
                    d.product.as_deref().unwrap_or("-")
                );
            }
        }
        Err(e) => println!("  cannot list USB devices: {e}"),
    }
    exit_code::PASS
}

/// Every link of `dir` with the device it resolves to; empty when the folder is absent (no
/// USB serial device plugged in, or no udev).
pub fn by_id_links(dir: &Path) -> Vec<(PathBuf, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut links: Vec<(PathBuf, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let link = e.path();
            std::fs::canonicalize(&link)
                .ok()
                .map(|target| (link, target))
        })
        .collect();
    links.sort();
    links
}

/// The links of `links` that resolve to `port`.
pub fn links_to(links: &[(PathBuf, PathBuf)], port: &Path) -> Vec<PathBuf> {
    let port = std::fs::canonicalize(port).unwrap_or_else(|_| port.to_path_buf());
    links
        .iter()
        .filter(|(_, target)| *target == port)
        .map(|(link, _)| link.clone())
        .collect()
}

/// `harness lab dnsmasq`: prints the configuration (`crate::lab_dnsmasq`); runs nothing.
pub fn dnsmasq(lab_path: &Path, interface: &str, range: &str) -> i32 {
    let lab = match crate::lab::load(lab_path) {
        Ok(lab) => lab,
        Err(e) => {
            eprintln!("{e}");
            return exit_code::CONFIG_ERROR;
        }
    };
    let config = crate::lab_dnsmasq::parse_range(range)
        .map_err(|e| e.to_string())
        .and_then(|range| {
            crate::lab_dnsmasq::config(&lab, interface, range).map_err(|e| e.to_string())
        });
    match config {
        Ok(config) => {
            print!("{config}");
            exit_code::PASS
        }
        Err(e) => {
            eprintln!("harness: {e}");
            exit_code::CONFIG_ERROR
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_usb_device_is_reported_and_makes_a_lab_fault() {
        let dir = tempfile::tempdir().unwrap();
        let row = usb_row(
            "desk-1",
            &UsbConfig::BlockDevice {
                path: dir.path().join("no-such-disk"),
                size_mb: 7580,
            },
        );
        assert!(row.found.is_err(), "{row:?}");
        let table = render_check(std::slice::from_ref(&row));
        assert!(table.contains("MISSING"), "{table}");
        assert_eq!(check_exit_code(&[row]), exit_code::LAB_FAULT);
    }

    #[test]
    fn by_id_links_resolve_to_their_tty() {
        let dir = tempfile::tempdir().unwrap();
        let tty = dir.path().join("ttyUSB7");
        std::fs::write(&tty, b"").unwrap();
        let by_id = dir.path().join("by-id");
        std::fs::create_dir(&by_id).unwrap();
        let link = by_id.join("usb-1a86_USB_Serial-if00-port0");
        std::os::unix::fs::symlink(&tty, &link).unwrap();
        let links = by_id_links(&by_id);
        assert_eq!(links_to(&links, &tty), [link]);
        assert!(links_to(&links, &dir.path().join("ttyUSB8")).is_empty());
        assert!(by_id_links(&dir.path().join("absent")).is_empty());
    }
}
