//! `harness lab check | ports | dnsmasq`: the commands that bring a rack up. `check` reads
//! every device of every free bench, switching and pressing nothing (`lab_check.rs`);
//! `ports` lists what is plugged in, to fill in the lab file; `dnsmasq` prints the DHCP
//! configuration the lab VLAN needs.

use std::path::{Path, PathBuf};

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
