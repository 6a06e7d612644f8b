//! A lab VLAN in a network namespace of its own: a bridge standing for the VLAN, the lab
//! host's address on it, one veth per twin phone carrying the bench's MAC, and a real
//! dnsmasq serving DHCP on the bridge. The namespace's name is unique per test, and it is
//! removed on drop with everything in it; the host's own interfaces are never touched.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::{Needed, require};

pub const IP: &str = "/usr/sbin/ip";
pub const DNSMASQ: &str = "/usr/sbin/dnsmasq";

/// The bridge, as `harness lab dnsmasq --interface` names it.
pub const BRIDGE: &str = "lab-vlan";
/// The lab host's address on the VLAN: every endpoint binds it.
pub const HOST: Ipv4Addr = Ipv4Addr::new(10, 50, 0, 1);
/// The prefix of the VLAN.
pub const PREFIX: u8 = 24;
/// The pool dnsmasq hands out beside the benches' fixed addresses.
pub const RANGE: &str = "10.50.0.100,10.50.0.199";

/// The packages every lab VLAN test needs.
pub fn require_packages() {
    require(&[
        Needed {
            path: IP,
            package: "iproute2",
        },
        Needed {
            path: DNSMASQ,
            package: "dnsmasq-base",
        },
    ]);
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    assert!(
        root || Command::new("sudo")
            .args(["-n", "true"])
            .status()
            .is_ok_and(|s| s.success()),
        "the lab VLAN tests create a network namespace: run them as root (CI does) or with \
         passwordless sudo"
    );
}

/// `program`, as root (through `sudo -n` when the test is not root).
pub fn as_root(program: &str) -> Command {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        Command::new(program)
    } else {
        let mut command = Command::new("sudo");
        command.args(["-n", program]);
        command
    }
}

fn run(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// One twin phone's port on the VLAN.
pub struct PhonePort {
    /// The phone's side of the veth, named in the lab file's `dhcp_interface`.
    pub interface: String,
    /// The bench's MAC, `00:15:65:...`.
    pub mac: String,
}

/// The namespace and what runs in it.
pub struct LabVlan {
    pub name: String,
    dir: tempfile::TempDir,
    dnsmasq: Option<Child>,
}

impl LabVlan {
    /// Creates the namespace, the bridge with the lab host's address, and one veth per phone
    /// (the phone's end carries the bench's MAC and is left without an address: DHCP gives
    /// it one).
    pub fn create(phones: &[PhonePort]) -> LabVlan {
        require_packages();
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "yealink-vlan-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        run(as_root(IP).args(["netns", "add", &name]));
        // From here on, drop removes the namespace whatever fails next.
        let vlan = LabVlan {
            name,
            dir: tempfile::tempdir().unwrap(),
            dnsmasq: None,
        };
        vlan.ip(&["link", "set", "lo", "up"]);
        vlan.ip(&["link", "add", BRIDGE, "type", "bridge"]);
        vlan.ip(&["address", "add", &format!("{HOST}/{PREFIX}"), "dev", BRIDGE]);
        vlan.ip(&["link", "set", BRIDGE, "up"]);
        for (index, phone) in phones.iter().enumerate() {
            let port = format!("vlan-port{index}");
            vlan.ip(&[
                "link",
                "add",
                &phone.interface,
                "address",
                &phone.mac,
                "type",
                "veth",
                "peer",
                "name",
                &port,
            ]);
            vlan.ip(&["link", "set", &port, "master", BRIDGE]);
            vlan.ip(&["link", "set", &port, "up"]);
            vlan.ip(&["link", "set", &phone.interface, "up"]);
            vlan.accept_local(&phone.interface);
        }
        vlan
    }

    /// In one namespace the lab host's address is local to the phones' side as well, so the
    /// kernel would drop the DHCP server's broadcasts (source 10.50.0.1) arriving on a
    /// phone's veth as martians; on a real VLAN the phones are other hosts. This setting of
    /// the namespace's own interface stands in for that.
    fn accept_local(&self, interface: &str) {
        run(self.exec(Path::new("/bin/sh")).arg("-c").arg(format!(
            "echo 1 > /proc/sys/net/ipv4/conf/{interface}/accept_local"
        )));
    }

    /// `ip -n <namespace> <args>`.
    pub fn ip(&self, args: &[&str]) -> String {
        let output = run(as_root(IP).args(["-n", &self.name]).args(args));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `program` in the namespace, as root.
    pub fn exec(&self, program: &Path) -> Command {
        let mut command = as_root(IP);
        command.args(["netns", "exec", &self.name]).arg(program);
        command
    }

    /// A folder of the test's own.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Starts dnsmasq in the namespace on `config` (kept as written, in the test's folder);
    /// the command line only says where its lease file, pid file and log go. Returns once it
    /// serves DHCP.
    pub fn start_dnsmasq(&mut self, config: &str) {
        let conf = self.dir().join("yealink-lab.conf");
        std::fs::write(&conf, config).unwrap();
        let log = self.log_path();
        let child = self
            .exec(Path::new(DNSMASQ))
            .arg("--keep-in-foreground")
            .arg(format!("--conf-file={}", conf.display()))
            .arg(format!("--dhcp-leasefile={}", self.leases_path().display()))
            .arg(format!(
                "--pid-file={}",
                self.dir().join("dnsmasq.pid").display()
            ))
            .arg(format!("--log-facility={}", log.display()))
            .arg("--log-dhcp")
            .arg("--user=root")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir().join("dnsmasq.stderr")).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start dnsmasq: {e}"));
        self.dnsmasq = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let said = std::fs::read_to_string(&log).unwrap_or_default();
            if said.contains("DHCP, IP range") {
                return;
            }
            if let Some(Ok(Some(status))) = self.dnsmasq.as_mut().map(Child::try_wait) {
                panic!(
                    "dnsmasq exited ({status}): {said}{}",
                    std::fs::read_to_string(self.dir().join("dnsmasq.stderr")).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "dnsmasq did not start: {said}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir().join("dnsmasq.log")
    }

    pub fn leases_path(&self) -> PathBuf {
        self.dir().join("dnsmasq.leases")
    }

    /// What dnsmasq logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

impl Drop for LabVlan {
    fn drop(&mut self) {
        if let Some(mut child) = self.dnsmasq.take() {
            if let Ok(pid) = libc::pid_t::try_from(child.id()) {
                if child.try_wait().ok().flatten().is_none() {
                    // SAFETY: signalling our own child (`ip netns exec` execs dnsmasq, so
                    // the pid is dnsmasq's), not reaped yet. Under sudo the signal goes to
                    // sudo, which passes it on.
                    unsafe { libc::kill(pid, libc::SIGTERM) };
                }
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        // Removing the namespace takes the bridge and the veths with it.
        let _ = as_root(IP).args(["netns", "del", &self.name]).status();
    }
}
