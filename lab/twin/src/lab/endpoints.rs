//! `[endpoints]`: the servers the phones call. The twin needs the provisioning server (DHCP
//! option 66) and the recovery TFTP server (on option 66's host); the others are checked as
//! the harness checks them.

use std::net::SocketAddr;

use serde::Deserialize;

use super::LabError;
use super::checker::Checker;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEndpoints {
    provisioning: String,
    foreign_provisioning: String,
    tftp: String,
    sip: String,
    syslog: String,
}

/// The two endpoints the twin tells its phones about.
pub(super) struct Endpoints {
    pub(super) provisioning: SocketAddr,
    pub(super) tftp: SocketAddr,
}

pub(super) fn read(check: &Checker, raw: &RawEndpoints) -> Result<Endpoints, LabError> {
    let fields = [
        ("provisioning", &raw.provisioning, "HTTP"),
        ("foreign_provisioning", &raw.foreign_provisioning, "HTTP"),
        ("tftp", &raw.tftp, "UDP"),
        ("sip", &raw.sip, "UDP"),
        ("syslog", &raw.syslog, "UDP"),
    ];
    let mut parsed: Vec<(&str, &str, SocketAddr)> = Vec::new();
    for (field, text, protocol) in fields {
        let key = format!("endpoints.{field}");
        let address: SocketAddr = text.trim().parse().map_err(|_| {
            check.invalid(
                &key,
                format!("expected an address like 127.0.0.1:18080, found `{text}`"),
            )
        })?;
        // The phones are IPv4 hosts: a server on an IPv6 address is never called.
        if address.is_ipv6() {
            return Err(check.invalid(
                key,
                format!(
                    "`{address}` is an IPv6 address; the phones reach the lab's servers over IPv4"
                ),
            ));
        }
        // Two servers of one protocol on one fixed address cannot both bind.
        if let Some((other, ..)) = parsed
            .iter()
            .find(|(_, p, a)| *p == protocol && *a == address && address.port() != 0)
        {
            return Err(check.invalid(
                key,
                format!("`{address}` is already the address of endpoints.{other}"),
            ));
        }
        parsed.push((field, protocol, address));
    }
    Ok(Endpoints {
        provisioning: parsed[0].2,
        tftp: parsed[2].2,
    })
}
