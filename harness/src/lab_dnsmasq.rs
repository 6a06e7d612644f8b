//! The dnsmasq configuration of a rack's lab VLAN (`harness lab dnsmasq`): the DHCP range, a
//! fixed address per bench MAC, and option 66.
//!
//! Yealink phones take two things from option 66: the firmware's provisioning URL (a URL with
//! `http://` is fetched over HTTP; a bare host means TFTP, their default protocol) and the
//! recovery bootloader's TFTP server. So option 66 carries the harness's provisioning URL, and
//! the recovery TFTP endpoint must live on the same host, on port 69. Option 150 is Cisco's,
//! not Yealink's, and next-server is not where the recovery bootloader looks: neither is
//! written.
//!
//! A lab file that would give a configuration dnsmasq refuses, or one the phones cannot use, is
//! refused here with the key to fix; what only a virtual lab does (loopback endpoints and bench
//! addresses, a TFTP port other than 69) is printed as a warning in the configuration.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};

use crate::lab::Lab;

/// The only port the recovery bootloader asks for TFTP on.
pub const RECOVERY_TFTP_PORT: u16 = 69;

/// The longest Linux interface name (IFNAMSIZ less the terminating NUL).
const MAX_INTERFACE_NAME: usize = 15;

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
    /// An address no DHCP client can be given.
    #[error(
        "--range `{0}`: `{1}` is not an address a phone can be given (unspecified, loopback, \
         multicast or broadcast)"
    )]
    Unusable(String, Ipv4Addr),
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
    for address in [start, end] {
        if !assignable(address) {
            return Err(RangeError::Unusable(text.to_string(), address));
        }
    }
    Ok((start, end))
}

/// Why no configuration is printed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DnsmasqError {
    /// `--interface` is not an interface name.
    #[error(
        "--interface `{0}`: expected the lab VLAN's interface name, such as `enp3s0.50` (1 to 15 \
         characters, no spaces, commas, slashes or `#`)"
    )]
    Interface(String),
    /// No bench: no phone would get its fixed address.
    #[error(
        "{source_file}: the lab has no [[bench]]: a configuration would give no phone its fixed \
         address. Add the benches (with `mac` and `ip`) first"
    )]
    NoBench {
        /// The lab file.
        source_file: String,
    },
    /// Option 66 would name no host, or no port.
    #[error(
        "{source_file}: [endpoints] provisioning = \"{address}\": option 66 must give the phones a \
         fixed URL on the lab host, {why}"
    )]
    Provisioning {
        /// The lab file.
        source_file: String,
        /// The configured address.
        address: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The recovery TFTP endpoint is not where option 66 points.
    #[error(
        "{source_file}: [endpoints] tftp = \"{tftp}\" is not on the provisioning host {host}: the \
         recovery bootloader takes its TFTP server from option 66, which names that host. Put \
         the TFTP endpoint on {host} (port 69)"
    )]
    TftpElsewhere {
        /// The lab file.
        source_file: String,
        /// The configured TFTP address.
        tftp: String,
        /// The provisioning host.
        host: IpAddr,
    },
    /// On a VLAN (benches off loopback), the recovery TFTP endpoint is not on port 69.
    #[error(
        "{source_file}: [endpoints] tftp = \"{tftp}\": the recovery bootloader asks option 66's \
         host on port {RECOVERY_TFTP_PORT} only, so its TFTP recovery would find no server. Put \
         the TFTP endpoint on port {RECOVERY_TFTP_PORT} (only a virtual lab on loopback may use \
         another)"
    )]
    TftpPort {
        /// The lab file.
        source_file: String,
        /// The configured TFTP address.
        tftp: String,
    },
    /// A bench would be given the lab host's own address.
    #[error(
        "{source_file}: bench `{bench}` has ip = \"{ip}\", the lab host's own address \
         (option 66 names it): give the phone an address of its own"
    )]
    BenchOnHost {
        /// The lab file.
        source_file: String,
        /// The bench.
        bench: String,
        /// Its address.
        ip: Ipv4Addr,
    },
    /// A bench's fixed address cannot be handed out.
    #[error(
        "{source_file}: bench `{bench}` has ip = \"{ip}\", which no phone can be given \
         (unspecified, multicast or broadcast)"
    )]
    BenchAddress {
        /// The lab file.
        source_file: String,
        /// The bench.
        bench: String,
        /// Its address.
        ip: Ipv4Addr,
    },
    /// Two benches share a MAC or an address: only one of them would get it.
    #[error(
        "{source_file}: benches `{first}` and `{second}` have the same {what} {value}: each \
         phone needs its own"
    )]
    Shared {
        /// The lab file.
        source_file: String,
        /// The first bench.
        first: String,
        /// The second bench.
        second: String,
        /// `mac` or `ip`.
        what: &'static str,
        /// The shared value.
        value: String,
    },
}

/// Whether a DHCP server may hand `address` to a phone.
fn assignable(address: Ipv4Addr) -> bool {
    !(address.is_unspecified()
        || address.is_loopback()
        || address.is_multicast()
        || address.is_broadcast())
}

/// Whether dnsmasq takes `name` as a DHCP host name.
fn host_name(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn interface_name(name: &str) -> bool {
    (1..=MAX_INTERFACE_NAME).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '/' | ',' | '#' | '"' | '\''))
}

/// Text from the lab file, made safe for a comment line.
fn comment_text(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Checks the lab file and `interface` for what would break the configuration.
fn check(lab: &Lab, interface: &str) -> Result<(), DnsmasqError> {
    let source_file = lab.source.display().to_string();
    if !interface_name(interface) {
        return Err(DnsmasqError::Interface(interface.to_string()));
    }
    if lab.benches.is_empty() {
        return Err(DnsmasqError::NoBench { source_file });
    }
    let provisioning = lab.endpoints.provisioning;
    let why = if provisioning.ip().is_unspecified() {
        Some("and an unspecified address names none: write the lab host's address on the VLAN")
    } else if provisioning.ip().is_multicast() {
        Some("and a multicast address is no host")
    } else if provisioning.port() == 0 {
        Some("and port 0 is a port picked at start: give a fixed port")
    } else {
        None
    };
    if let Some(why) = why {
        return Err(DnsmasqError::Provisioning {
            source_file,
            address: provisioning.to_string(),
            why,
        });
    }
    let tftp = lab.endpoints.tftp;
    if !tftp.ip().is_unspecified() && tftp.ip() != provisioning.ip() {
        return Err(DnsmasqError::TftpElsewhere {
            source_file,
            tftp: tftp.to_string(),
            host: provisioning.ip(),
        });
    }
    // A virtual lab keeps its phones on loopback, where the warnings of `config` apply; a
    // lab with a phone on the VLAN must have its recovery TFTP where the phones ask.
    if lab.benches.iter().any(|b| !b.ip.is_loopback()) && tftp.port() != RECOVERY_TFTP_PORT {
        return Err(DnsmasqError::TftpPort {
            source_file,
            tftp: tftp.to_string(),
        });
    }
    if let Some(bench) = lab
        .benches
        .iter()
        .find(|b| IpAddr::V4(b.ip) == provisioning.ip())
    {
        return Err(DnsmasqError::BenchOnHost {
            source_file,
            bench: bench.name.clone(),
            ip: bench.ip,
        });
    }
    let mut macs: BTreeMap<String, &str> = BTreeMap::new();
    let mut ips: BTreeMap<Ipv4Addr, &str> = BTreeMap::new();
    for bench in &lab.benches {
        if !assignable(bench.ip) && !bench.ip.is_loopback() {
            return Err(DnsmasqError::BenchAddress {
                source_file,
                bench: bench.name.clone(),
                ip: bench.ip,
            });
        }
        let shared = |first: &str, what, value: String| DnsmasqError::Shared {
            source_file: source_file.clone(),
            first: first.to_string(),
            second: bench.name.clone(),
            what,
            value,
        };
        if let Some(first) = macs.insert(bench.mac.colons(), &bench.name) {
            return Err(shared(first, "mac", bench.mac.colons()));
        }
        if let Some(first) = ips.insert(bench.ip, &bench.name) {
            return Err(shared(first, "ip", bench.ip.to_string()));
        }
    }
    Ok(())
}

/// The dnsmasq configuration for the lab VLAN on `interface`, handing out `start..=end`.
pub fn config(
    lab: &Lab,
    interface: &str,
    (start, end): (Ipv4Addr, Ipv4Addr),
) -> Result<String, DnsmasqError> {
    check(lab, interface)?;
    let provisioning = lab.endpoints.provisioning;
    let tftp = lab.endpoints.tftp;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# dnsmasq configuration for the Yealink lab `{}`",
        comment_text(&lab.name)
    );
    let _ = writeln!(
        out,
        "# from {} by `harness lab dnsmasq`; put it in",
        comment_text(&lab.source.display().to_string())
    );
    let _ = writeln!(
        out,
        "# /etc/dnsmasq.d/yealink-lab.conf and restart dnsmasq (check it first with\n\
         # `dnsmasq --test --conf-file=/etc/dnsmasq.d/yealink-lab.conf`)."
    );
    let _ = writeln!(
        out,
        "# DHCP is served on {interface} only: the lab VLAN, never the office network."
    );
    if provisioning.ip().is_loopback() || tftp.ip().is_loopback() {
        let _ = writeln!(
            out,
            "# WARNING: [endpoints] binds to a loopback address, which the phones cannot reach:\n\
             # set the lab host's own address on the VLAN in the lab file."
        );
    }
    for bench in lab.benches.iter().filter(|b| b.ip.is_loopback()) {
        let _ = writeln!(
            out,
            "# WARNING: bench `{}` has the loopback address {} (a virtual lab's twin phone): no\n\
             # phone on the VLAN can use it.",
            comment_text(&bench.name),
            bench.ip
        );
    }
    if tftp.port() != RECOVERY_TFTP_PORT {
        let _ = writeln!(
            out,
            "# WARNING: [endpoints] tftp listens on port {}, but the recovery bootloader asks on\n\
             # port {RECOVERY_TFTP_PORT} only: TFTP recovery cannot work on this lab.",
            tftp.port()
        );
    }
    let _ = writeln!(out, "interface={interface}");
    let _ = writeln!(out, "bind-interfaces");
    let _ = writeln!(out, "dhcp-range=set:yealink-lab,{start},{end},12h");
    for bench in &lab.benches {
        let _ = writeln!(out, "# {} ({})", comment_text(&bench.name), bench.model);
        if host_name(&bench.name) {
            let _ = writeln!(
                out,
                "dhcp-host={},{},{}",
                bench.mac.colons(),
                bench.ip,
                bench.name
            );
        } else {
            let _ = writeln!(
                out,
                "# (the bench name is not a host name dnsmasq accepts: the phone gets no name)"
            );
            let _ = writeln!(out, "dhcp-host={},{}", bench.mac.colons(), bench.ip);
        }
    }
    let _ = writeln!(
        out,
        "# Option 66: the provisioning URL the phones call home to (http://, so not TFTP, the\n\
         # phones' protocol for a bare host); the recovery bootloader takes its TFTP server's\n\
         # host from it too (the TFTP endpoint is {tftp}). Sent even when a client does not\n\
         # ask for it. Option 150 is Cisco's, not Yealink's, and next-server is not where the\n\
         # recovery bootloader looks: neither is written."
    );
    let _ = writeln!(
        out,
        "dhcp-option-force=tag:yealink-lab,66,\"http://{}:{}\"",
        provisioning.ip(),
        provisioning.port()
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

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

[[actuator]]
name = "keys-2"
port = "/dev/serial/by-id/usb-yealink-lab_actuator_A2-if00"
channels = 24

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

    const SECOND_BENCH: &str = r#"
[[bench]]
name = "desk-2"
model = "T46G"
mac = "00:15:65:3A:10:02"
ip = "192.168.50.42"
power = { board = "power", channel = 2 }
actuator = "keys-2"
keymap = "t4x"
"#;

    fn lab(text: &str) -> Lab {
        crate::lab::parse(text, Path::new("rack.toml")).unwrap_or_else(|e| panic!("{e}"))
    }

    fn range() -> (Ipv4Addr, Ipv4Addr) {
        parse_range("192.168.50.100,192.168.50.199").unwrap()
    }

    #[test]
    fn the_configuration_names_every_bench_and_option_66() {
        let text = format!("{LAB}{SECOND_BENCH}");
        let config = config(&lab(&text), "enp3s0.50", range()).unwrap();
        let lines: Vec<&str> = config.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines,
            [
                "interface=enp3s0.50",
                "bind-interfaces",
                "dhcp-range=set:yealink-lab,192.168.50.100,192.168.50.199,12h",
                "dhcp-host=00:15:65:3a:10:01,192.168.50.41,desk-1",
                "dhcp-host=00:15:65:3a:10:02,192.168.50.42,desk-2",
                "dhcp-option-force=tag:yealink-lab,66,\"http://192.168.50.1:8080\"",
            ]
        );
        assert!(config.starts_with("# dnsmasq configuration for the Yealink lab `rack-1`\n"));
        assert!(!config.contains("WARNING"), "{config}");
        assert!(!config.contains(",150,"), "{config}");
    }

    #[test]
    fn what_only_a_virtual_lab_does_is_a_warning() {
        let text = LAB
            .replace("192.168.50.1:8080", "127.0.0.1:8080")
            .replace("192.168.50.1:69", "127.0.0.1:10069")
            .replace("192.168.50.41", "127.0.0.41");
        let config = config(&lab(&text), "lab0", range()).unwrap();
        assert!(
            config.contains("# WARNING: [endpoints] binds to a loopback"),
            "{config}"
        );
        assert!(config.contains("port 10069"), "{config}");
        assert!(
            config.contains("# WARNING: bench `desk-1` has the loopback address 127.0.0.41"),
            "{config}"
        );
    }

    #[test]
    fn a_bench_name_that_is_no_host_name_is_left_out_and_cannot_inject_lines() {
        // The lab reader refuses such a name; the generator must not rely on that.
        let mut hostile = lab(LAB);
        hostile.benches[0].name = "desk 1\ndhcp-range=evil".into();
        let config = config(&hostile, "lab0", range()).unwrap();
        assert!(
            config.contains("\ndhcp-host=00:15:65:3a:10:01,192.168.50.41\n"),
            "{config}"
        );
        assert!(
            !config.lines().any(|l| l.starts_with("dhcp-range=evil")),
            "{config}"
        );
    }

    /// A broken lab, made from a good one by one change.
    type Breakage = fn(&mut Lab);

    /// Each refused lab or argument, and the words its error must contain. The labs are
    /// changed after reading: the lab file reader already refuses some of them (no bench, a
    /// shared MAC or address), and the configuration must not rely on that.
    #[test]
    fn broken_configurations_are_refused_with_the_key_to_fix() {
        let cases: Vec<(&str, Breakage, &str, Vec<&str>)> = vec![
            (
                "no bench",
                |lab| lab.benches.clear(),
                "lab0",
                vec!["no [[bench]]", "rack.toml"],
            ),
            (
                "provisioning on every address",
                |lab| lab.endpoints.provisioning = "0.0.0.0:8080".parse().unwrap(),
                "lab0",
                vec!["[endpoints] provisioning = \"0.0.0.0:8080\"", "option 66"],
            ),
            (
                "provisioning on a port picked at start",
                |lab| lab.endpoints.provisioning = "192.168.50.1:0".parse().unwrap(),
                "lab0",
                vec!["provisioning", "port 0"],
            ),
            (
                "TFTP on another host than option 66",
                |lab| lab.endpoints.tftp = "192.168.50.2:69".parse().unwrap(),
                "lab0",
                vec!["[endpoints] tftp = \"192.168.50.2:69\"", "option 66"],
            ),
            (
                "TFTP off port 69 on a VLAN",
                |lab| lab.endpoints.tftp = "192.168.50.1:6969".parse().unwrap(),
                "lab0",
                vec!["[endpoints] tftp = \"192.168.50.1:6969\"", "port 69"],
            ),
            (
                "a bench on the lab host's address",
                |lab| lab.benches[1].ip = "192.168.50.1".parse().unwrap(),
                "lab0",
                vec!["bench `desk-2`", "lab host's own address"],
            ),
            (
                "bench on no address",
                |lab| lab.benches[0].ip = Ipv4Addr::UNSPECIFIED,
                "lab0",
                vec!["bench `desk-1`", "0.0.0.0"],
            ),
            (
                "bench on the broadcast address",
                |lab| lab.benches[1].ip = Ipv4Addr::BROADCAST,
                "lab0",
                vec!["bench `desk-2`", "255.255.255.255"],
            ),
            (
                "two benches with one MAC",
                |lab| lab.benches[1].mac = lab.benches[0].mac,
                "lab0",
                vec!["`desk-1` and `desk-2`", "mac 00:15:65:3a:10:01"],
            ),
            (
                "two benches with one address",
                |lab| lab.benches[1].ip = lab.benches[0].ip,
                "lab0",
                vec!["`desk-1` and `desk-2`", "ip 192.168.50.41"],
            ),
            ("empty interface", |_| {}, "", vec!["--interface"]),
            (
                "interface with a newline",
                |_| {},
                "lab0\nport=53",
                vec!["--interface `lab0\nport=53`"],
            ),
            (
                "interface with a comma",
                |_| {},
                "lab0,eth0",
                vec!["--interface"],
            ),
            (
                "interface name too long",
                |_| {},
                "enp3s0f1.1234567",
                vec!["--interface"],
            ),
        ];
        let good = lab(&format!("{LAB}{SECOND_BENCH}"));
        assert!(config(&good, "lab0", range()).is_ok());
        for (case, breakage, interface, words) in cases {
            let mut lab = good.clone();
            breakage(&mut lab);
            let err = config(&lab, interface, range())
                .err()
                .unwrap_or_else(|| panic!("{case}: accepted"));
            let message = err.to_string();
            for word in words {
                assert!(message.contains(word), "{case}: {message}");
            }
        }
    }

    /// Whatever a lab file names a bench, and whatever `--interface` says, the output is
    /// refused or holds only the lines the generator means to write: no name becomes a line.
    mod any_text {
        use super::*;
        use proptest::prelude::*;

        fn lines_are_ours(config: &str, interface: &str) -> Result<(), String> {
            let mut hosts = 0;
            for line in config.lines().filter(|l| !l.starts_with('#')) {
                let ours = line == format!("interface={interface}")
                    || line == "bind-interfaces"
                    || line.starts_with("dhcp-range=set:yealink-lab,192.168.50.100,")
                    || line.starts_with("dhcp-option-force=tag:yealink-lab,66,\"http://");
                if line.starts_with("dhcp-host=") {
                    hosts += 1;
                } else if !ours {
                    return Err(format!("a line not written by the generator: {line:?}"));
                }
            }
            if hosts != 2 {
                return Err(format!("{hosts} dhcp-host lines for two benches"));
            }
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

            #[test]
            fn bench_names_never_become_lines(name in "\\PC{0,40}|[a-z0-9\\n,#= -]{0,40}") {
                let mut lab = lab(&format!("{LAB}{SECOND_BENCH}"));
                lab.benches[0].name = name;
                let config = config(&lab, "lab0", range()).unwrap();
                prop_assert_eq!(lines_are_ours(&config, "lab0"), Ok(()));
            }

            #[test]
            fn interfaces_are_one_word_or_refused(interface in "\\PC{0,20}|[a-z0-9.\\n,#= ]{0,20}") {
                let lab = lab(&format!("{LAB}{SECOND_BENCH}"));
                match config(&lab, &interface, range()) {
                    Ok(config) => {
                        prop_assert!(interface_name(&interface));
                        prop_assert_eq!(lines_are_ours(&config, &interface), Ok(()));
                    }
                    Err(e) => prop_assert!(matches!(e, DnsmasqError::Interface(_)), "{}", e),
                }
            }
        }
    }

    #[test]
    fn ranges_are_two_ordered_usable_addresses() {
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
        assert_eq!(
            parse_range("0.0.0.0,10.0.0.10"),
            Err(RangeError::Unusable(
                "0.0.0.0,10.0.0.10".into(),
                Ipv4Addr::UNSPECIFIED
            ))
        );
        assert!(matches!(
            parse_range("127.0.0.10,127.0.0.20"),
            Err(RangeError::Unusable(..))
        ));
    }
}
