//! `harness lab check | ports | dnsmasq`: the commands that bring a rack up. `check` opens
//! every device of every bench and reads what it can, switching and pressing nothing, so a
//! wiring or permission problem shows before a run; `ports` lists what is plugged in, to
//! fill in the lab file; `dnsmasq` prints the DHCP configuration the lab VLAN needs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
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

/// Why a `--range` is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RangeError {
    /// Not two addresses.
    #[error(
        "--range `{0}`: expected `START,END`, two IPv4 addresses such as `192.168.50.100,192.168.50.199`"
    )]
    Shape(String),
    /// The end comes first.
    #[error("--range `{0}`: the start address is above the end address")]
    Reversed(String),
}

/// Parses `START,END`.
pub fn parse_range(text: &str) -> Result<(Ipv4Addr, Ipv4Addr), RangeError> {
    let shape = || RangeError::Shape(text.to_string());
    let (start, end) = text.split_once(',').ok_or_else(shape)?;
    let start: Ipv4Addr = start.trim().parse().map_err(|_| shape())?;
    let end: Ipv4Addr = end.trim().parse().map_err(|_| shape())?;
    if start > end {
        return Err(RangeError::Reversed(text.to_string()));
    }
    Ok((start, end))
}

/// The dnsmasq configuration for the lab VLAN: the DHCP range, one fixed address per bench,
/// option 66 (the provisioning URL the phones call home to), the TFTP server as next-server
/// and option 150 for the recovery bootloader.
pub fn dnsmasq_snippet(lab: &Lab, interface: &str, start: Ipv4Addr, end: Ipv4Addr) -> String {
    let provisioning = lab.endpoints.provisioning;
    let tftp = lab.endpoints.tftp.ip();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# dnsmasq configuration for the Yealink lab `{}`",
        lab.name
    );
    let _ = writeln!(
        out,
        "# from {} by `harness lab dnsmasq`; put it in",
        lab.source.display()
    );
    let _ = writeln!(
        out,
        "# /etc/dnsmasq.d/yealink-lab.conf and restart dnsmasq."
    );
    let _ = writeln!(
        out,
        "# DHCP is served on {interface} only: the lab VLAN, never the office network."
    );
    let unroutable = |ip: std::net::IpAddr| ip.is_loopback() || ip.is_unspecified();
    if unroutable(provisioning.ip()) || unroutable(tftp) {
        let _ = writeln!(
            out,
            "# WARNING: [endpoints] binds to a loopback or unspecified address, which the phones\n\
             # cannot reach: set the lab host's own address on the VLAN in the lab file."
        );
    }
    let _ = writeln!(out, "interface={interface}");
    let _ = writeln!(out, "bind-interfaces");
    let _ = writeln!(out, "dhcp-range=set:yealink-lab,{start},{end},12h");
    for bench in &lab.benches {
        let _ = writeln!(out, "# {} ({})", bench.name, bench.model);
        let _ = writeln!(
            out,
            "dhcp-host={},{},{}",
            bench.mac.colons(),
            bench.ip,
            bench.name
        );
    }
    let _ = writeln!(
        out,
        "# Option 66: the provisioning server the phones call home to."
    );
    let _ = writeln!(
        out,
        "dhcp-option=tag:yealink-lab,66,\"http://{}:{}\"",
        provisioning.ip(),
        provisioning.port()
    );
    let _ = writeln!(
        out,
        "# The recovery TFTP server: next-server (the file name is not used by the phones)\n\
         # and option 150. The recovery bootloader asks on port {} only.",
        lab.endpoints.tftp.port()
    );
    let _ = writeln!(out, "dhcp-boot=tag:yealink-lab,yealink-recovery,,{tftp}");
    let _ = writeln!(out, "dhcp-option=tag:yealink-lab,150,{tftp}");
    out
}

/// `harness lab dnsmasq`: prints the snippet; runs nothing.
pub fn dnsmasq(lab_path: &Path, interface: &str, range: &str) -> i32 {
    let lab = match crate::lab::load(lab_path) {
        Ok(lab) => lab,
        Err(e) => {
            eprintln!("{e}");
            return exit_code::CONFIG_ERROR;
        }
    };
    let (start, end) = match parse_range(range) {
        Ok(range) => range,
        Err(e) => {
            eprintln!("harness: {e}");
            return exit_code::CONFIG_ERROR;
        }
    };
    if interface.trim().is_empty() {
        eprintln!("harness: --interface must name the lab VLAN's interface, such as `enp3s0.50`");
        return exit_code::CONFIG_ERROR;
    }
    print!("{}", dnsmasq_snippet(&lab, interface, start, end));
    exit_code::PASS
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAB: &str = r#"[lab]
name = "rack-1"
time_scale = 1.0

[endpoints]
provisioning = "192.168.50.1:8080"
foreign_provisioning = "192.168.50.1:8081"
tftp = "192.168.50.1:69"
sip = "192.168.50.1:5060"
syslog = "192.168.50.1:514"

[[relay_board]]
name = "power"
kind = "ykush"

[[actuator]]
name = "keys"
port = "/dev/serial/by-id/usb-yealink-lab_actuator_A1-if00"
channels = 24

[[relay_board]]
name = "hid"
kind = "usb-hid-relay"
channels = 8

[keymap.t4x]
speaker = 1
ok = 2
cancel = 3
f1 = 4
f2 = 5
f3 = 6
f4 = 7
"0" = 8
"1" = 9
"2" = 10
"3" = 11
"4" = 12
"5" = 13
"6" = 14
"7" = 15
"8" = 16
"9" = 17
star = 18
pound = 19

[[bench]]
name = "desk-1"
model = "T41P"
mac = "00:15:65:3A:10:01"
ip = "192.168.50.41"
power = { board = "power", channel = 1 }
actuator = "keys"
keymap = "t4x"
"#;

    #[test]
    fn the_dnsmasq_snippet_names_every_bench_and_the_endpoints() {
        let lab = crate::lab::parse(LAB, Path::new("rack.toml")).unwrap_or_else(|e| panic!("{e}"));
        let (start, end) = parse_range("192.168.50.100,192.168.50.199").unwrap();
        let snippet = dnsmasq_snippet(&lab, "enp3s0.50", start, end);
        let lines: Vec<&str> = snippet.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines,
            [
                "interface=enp3s0.50",
                "bind-interfaces",
                "dhcp-range=set:yealink-lab,192.168.50.100,192.168.50.199,12h",
                "dhcp-host=00:15:65:3a:10:01,192.168.50.41,desk-1",
                "dhcp-option=tag:yealink-lab,66,\"http://192.168.50.1:8080\"",
                "dhcp-boot=tag:yealink-lab,yealink-recovery,,192.168.50.1",
                "dhcp-option=tag:yealink-lab,150,192.168.50.1",
            ]
        );
        assert!(snippet.starts_with("# dnsmasq configuration for the Yealink lab `rack-1`\n"));
        assert!(!snippet.contains("WARNING"), "{snippet}");
    }

    #[test]
    fn a_loopback_endpoint_is_flagged_in_the_snippet() {
        let text = LAB.replace("192.168.50.1:8080", "127.0.0.1:8080");
        let lab =
            crate::lab::parse(&text, Path::new("rack.toml")).unwrap_or_else(|e| panic!("{e}"));
        let snippet = dnsmasq_snippet(
            &lab,
            "lab0",
            Ipv4Addr::new(10, 0, 0, 10),
            Ipv4Addr::new(10, 0, 0, 20),
        );
        assert!(
            snippet.contains("# WARNING: [endpoints] binds to a loopback"),
            "{snippet}"
        );
    }

    #[test]
    fn ranges_are_two_ordered_addresses() {
        assert_eq!(
            parse_range("10.0.0.10, 10.0.0.20"),
            Ok((Ipv4Addr::new(10, 0, 0, 10), Ipv4Addr::new(10, 0, 0, 20)))
        );
        assert_eq!(
            parse_range("10.0.0.10"),
            Err(RangeError::Shape("10.0.0.10".into()))
        );
        assert_eq!(
            parse_range("10.0.0.20,10.0.0.10"),
            Err(RangeError::Reversed("10.0.0.20,10.0.0.10".into()))
        );
    }

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
