//! `harness lab check | ports | dnsmasq`: the commands that bring a rack up. `check` reads
//! every device of every free bench, switching and pressing nothing (`lab_check.rs`);
//! `ports` lists what is plugged in, to fill in the lab file; `dnsmasq` prints the DHCP
//! configuration the lab VLAN needs.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::lab::Lab;
use crate::outcome::exit_code;

/// `harness lab check`: reads every device of every free bench, switching nothing.
pub async fn check(lab_path: &Path, lock_dir: Option<&Path>) -> i32 {
    let lab = match crate::lab::load(lab_path) {
        Ok(lab) => lab,
        Err(e) => {
            eprintln!("{e}");
            return exit_code::CONFIG_ERROR;
        }
    };
    let dir = crate::safety::resolve_lock_dir(lock_dir, lab.lock_dir.as_deref());
    let rows = crate::lab_check::check_lab(&lab, &dir).await;
    print!("{}", crate::lab_check::render_check(&rows));
    crate::lab_check::check_exit_code(&rows)
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
