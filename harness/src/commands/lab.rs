//! `harness lab check | ports | dnsmasq | status | disable | enable`: the commands that
//! bring a rack up and share it. `check` reads every device of every free bench, switching
//! and pressing nothing (`lab_check.rs`); `ports` lists what is plugged in, to fill in the
//! lab file; `dnsmasq` prints the DHCP configuration the lab VLAN needs; `status` says who
//! holds, waits for or took out each bench (`lab_status.rs`); `disable` and `enable` take a
//! bench out of service and back (`safety/service.rs`).

use std::path::{Path, PathBuf};

use crate::lab::Lab;
use crate::outcome::exit_code;
use crate::safety::service::{self, OutOfService};

/// The lab file and its lock folder, or the exit code of a lab file that cannot be read.
fn load(lab_path: &Path, lock_dir: Option<&Path>) -> Result<(Lab, PathBuf), i32> {
    let lab = crate::lab::load(lab_path).map_err(|e| {
        eprintln!("{e}");
        exit_code::CONFIG_ERROR
    })?;
    let dir = crate::safety::resolve_lock_dir(lock_dir, lab.lock_dir.as_deref());
    Ok((lab, dir))
}

/// `bench` when the lab file has it; otherwise the error naming the benches it has.
fn known_bench(lab: &Lab, lab_path: &Path, bench: &str) -> Result<(), i32> {
    if lab.benches.iter().any(|b| b.name == bench) {
        return Ok(());
    }
    let known: Vec<&str> = lab.benches.iter().map(|b| b.name.as_str()).collect();
    eprintln!(
        "no bench `{bench}` in {} (benches: {})",
        lab_path.display(),
        known.join(", ")
    );
    Err(exit_code::CONFIG_ERROR)
}

/// `harness lab check [--bench BENCH]`: reads every device of every free bench (or of one),
/// switching nothing. A bench marked bad by a health check that passes a check of its own
/// (`--bench`) is back in service: a check of the whole lab puts nothing back, so a bad
/// bench returns only when someone looked at it.
pub async fn check(lab_path: &Path, lock_dir: Option<&Path>, bench: Option<&str>) -> i32 {
    let (mut lab, dir) = match load(lab_path, lock_dir) {
        Ok(x) => x,
        Err(code) => return code,
    };
    if let Some(bench) = bench {
        if let Err(code) = known_bench(&lab, lab_path, bench) {
            return code;
        }
        lab.benches.retain(|b| b.name == bench);
    }
    let rows = crate::lab_check::check_lab(&lab, &dir).await;
    print!("{}", crate::lab_check::render_check(&rows));
    let code = crate::lab_check::check_exit_code(&rows);
    let Some(bench) = bench else {
        return code;
    };
    let all_found = rows
        .iter()
        .all(|r| r.presence == crate::lab_check::Presence::Found);
    match service::read_mark(&dir, bench) {
        Ok(Some(mark))
            if mark.state == OutOfService::Bad && all_found && code == exit_code::PASS =>
        {
            match service::clear_bad(&dir, bench) {
                Ok(_) => println!(
                    "bench {bench} passed its check: back in service (it was bad: {})",
                    mark.reason
                ),
                Err(e) => {
                    eprintln!("{e}");
                    return exit_code::LAB_FAULT;
                }
            }
        }
        Ok(Some(mark)) if mark.state == OutOfService::Bad => {
            println!("bench {bench} stays bad: its check did not pass")
        }
        Ok(Some(mark)) => println!(
            "bench {bench} stays disabled ({}): only `harness lab enable {bench}` puts it back",
            mark.reason
        ),
        Ok(None) => {}
        Err(e) => {
            eprintln!("{e}");
            return exit_code::LAB_FAULT;
        }
    }
    code
}

/// `harness lab status [--json]`: one line per bench, from the lock folder alone.
pub fn status(lab_path: &Path, lock_dir: Option<&Path>, json: bool) -> i32 {
    let (lab, dir) = match load(lab_path, lock_dir) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let rows = crate::lab_status::statuses(&lab, &dir);
    if json {
        println!("{}", crate::lab_status::render_json(&rows));
    } else {
        print!("{}", crate::lab_status::render(&rows));
    }
    exit_code::PASS
}

/// `harness lab disable BENCH --reason TEXT`: runs skip the bench, naming the reason, and
/// hand commands refuse it without `--force`, until `harness lab enable BENCH`.
pub fn disable(lab_path: &Path, lock_dir: Option<&Path>, bench: &str, reason: &str) -> i32 {
    let (lab, dir) = match load(lab_path, lock_dir) {
        Ok(x) => x,
        Err(code) => return code,
    };
    if let Err(code) = known_bench(&lab, lab_path, bench) {
        return code;
    }
    if reason.trim().is_empty() {
        eprintln!("say why with --reason: whoever finds the bench disabled needs to know");
        return exit_code::CONFIG_ERROR;
    }
    match service::mark(
        &dir,
        bench,
        OutOfService::Disabled,
        reason,
        &service::user_name(),
    ) {
        Ok(mark) => {
            println!("bench {bench} disabled by {}: {}", mark.by, mark.reason);
            if let Ok(Some(lease)) = crate::safety::lock::read_lease(&dir, bench) {
                println!(
                    "it is still leased to {}: that process finishes what it started",
                    crate::lab_status::describe_lease(&lease)
                );
            }
            exit_code::PASS
        }
        Err(e) => {
            eprintln!("{e}");
            exit_code::LAB_FAULT
        }
    }
}

/// `harness lab enable BENCH`: back in service, whether a person disabled it or a health
/// check marked it bad.
pub fn enable(lab_path: &Path, lock_dir: Option<&Path>, bench: &str) -> i32 {
    let (lab, dir) = match load(lab_path, lock_dir) {
        Ok(x) => x,
        Err(code) => return code,
    };
    if let Err(code) = known_bench(&lab, lab_path, bench) {
        return code;
    }
    match service::clear(&dir, bench) {
        Ok(Some(mark)) => {
            println!(
                "bench {bench} enabled (it was {}: {})",
                match mark.state {
                    OutOfService::Disabled => "disabled",
                    OutOfService::Bad => "bad",
                },
                mark.reason
            );
            exit_code::PASS
        }
        Ok(None) => {
            println!("bench {bench} was already in service");
            exit_code::PASS
        }
        Err(e) => {
            eprintln!("{e}");
            exit_code::LAB_FAULT
        }
    }
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
