//! Where a round's provisioning URL comes from (P1, P9), in Yealink's order: PnP, the DHCP
//! custom option, option 66, option 43, then the URL in flash. The lab's network answers no
//! PnP and sends neither a custom option nor option 43, so the twin asks for neither: what
//! is left to decide is option 66 against the URL in flash.
//!
//! Option 66 is what DHCP says, so its text is taken as the phones take it: `http://...` is
//! fetched over HTTP; a bare host (or `tftp://...`) means TFTP, the phones' default
//! protocol, which the twin does not speak; any other scheme is another protocol it does not
//! speak either. A URL in flash was written by a provisioning file, which the twin reads as
//! HTTP when it has no scheme (P5).

use std::net::Ipv4Addr;

use super::flash::Flash;

/// The only port the recovery bootloader asks for TFTP on.
pub const RECOVERY_TFTP_PORT: u16 = 69;

/// Where the URL in force came from; its words go in the phone's syslog line (P9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// DHCP option 66 of the current lease.
    DhcpOption66,
    /// `auto_provision.server.url` in flash.
    Flash,
}

impl Source {
    /// How the syslog line names it.
    pub fn words(self) -> &'static str {
        match self {
            Source::DhcpOption66 => "DHCP option 66",
            Source::Flash => "phone flash",
        }
    }
}

/// The provisioning URL a round uses, or why it has none it can fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlInForce {
    /// An HTTP base URL.
    Http {
        /// Where it came from.
        source: Source,
        /// The base URL.
        base: String,
    },
    /// A URL for a protocol the twin does not speak (TFTP for a bare host, FTP, HTTPS).
    Unsupported {
        /// Where it came from.
        source: Source,
        /// The protocol, as the syslog line names it (`TFTP`, `HTTPS`, ...).
        protocol: String,
        /// The text as given.
        url: String,
    },
    /// No source names a URL.
    None,
}

/// Decides the URL in force from the lease's option 66 and flash (P1).
pub fn url_in_force(option_66: Option<&str>, flash: &Flash) -> UrlInForce {
    let from_dhcp = option_66
        .map(str::trim)
        .filter(|text| !text.is_empty() && flash.dhcp_option_enabled);
    if let Some(text) = from_dhcp {
        return from_option_66(text);
    }
    match &flash.provisioning_url {
        Some(url) => match scheme(url) {
            Some(s) if !s.eq_ignore_ascii_case("http") => UrlInForce::Unsupported {
                source: Source::Flash,
                protocol: s.to_ascii_uppercase(),
                url: url.clone(),
            },
            _ => UrlInForce::Http {
                source: Source::Flash,
                base: url.clone(),
            },
        },
        None => UrlInForce::None,
    }
}

fn from_option_66(text: &str) -> UrlInForce {
    let source = Source::DhcpOption66;
    match scheme(text) {
        Some(s) if s.eq_ignore_ascii_case("http") => UrlInForce::Http {
            source,
            base: text.to_owned(),
        },
        Some(s) => UrlInForce::Unsupported {
            source,
            protocol: s.to_ascii_uppercase(),
            url: text.to_owned(),
        },
        // A bare host: TFTP, the phones' default protocol.
        None => UrlInForce::Unsupported {
            source,
            protocol: "TFTP".to_owned(),
            url: text.to_owned(),
        },
    }
}

fn scheme(url: &str) -> Option<&str> {
    url.split_once("://").map(|(scheme, _)| scheme)
}

/// The host option 66 names, as an IPv4 address: the recovery bootloader's TFTP server
/// (V2). A name is not resolved (the bootloader has no resolver in the twin): `None`.
pub fn option_66_host(text: &str) -> Option<Ipv4Addr> {
    let text = text.trim();
    let rest = text.split_once("://").map_or(text, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or_default();
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = host.split_once(':').map_or(host, |(host, _)| host);
    host.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::super::firmware::{Declaration, Firmware};
    use super::*;

    fn flash(url: Option<&str>, dhcp_option_enabled: bool) -> Flash {
        let mut flash = Flash::factory(Firmware {
            version: "28.83.0.120".to_owned(),
            oem: "Intermedia".to_owned(),
            declaration: Declaration {
                build_date: "2021-01-01".to_owned(),
                intermedia: true,
                features: vec![],
                part: None,
            },
        });
        flash.provisioning_url = url.map(str::to_owned);
        flash.dhcp_option_enabled = dhcp_option_enabled;
        flash
    }

    #[test]
    fn option_66_comes_before_the_url_in_flash_unless_dhcp_options_are_off() {
        let http = |source, base: &str| UrlInForce::Http {
            source,
            base: base.to_owned(),
        };
        let dhcp = Some("http://10.0.0.1:8080/");
        let stored = Some("http://foreign.example/");
        assert_eq!(
            url_in_force(dhcp, &flash(stored, true)),
            http(Source::DhcpOption66, "http://10.0.0.1:8080/")
        );
        assert_eq!(
            url_in_force(dhcp, &flash(stored, false)),
            http(Source::Flash, "http://foreign.example/")
        );
        assert_eq!(
            url_in_force(None, &flash(stored, true)),
            http(Source::Flash, "http://foreign.example/")
        );
        assert_eq!(
            url_in_force(Some("  "), &flash(None, true)),
            UrlInForce::None
        );
        assert_eq!(url_in_force(dhcp, &flash(None, false)), UrlInForce::None);
    }

    #[test]
    fn a_bare_host_in_option_66_means_tftp_and_other_schemes_are_named() {
        for (text, protocol) in [
            ("10.0.0.1", "TFTP"),
            ("tftp://10.0.0.1/cfg", "TFTP"),
            ("https://10.0.0.1/", "HTTPS"),
            ("ftp://10.0.0.1/", "FTP"),
        ] {
            assert_eq!(
                url_in_force(Some(text), &flash(Some("http://x/"), true)),
                UrlInForce::Unsupported {
                    source: Source::DhcpOption66,
                    protocol: protocol.to_owned(),
                    url: text.to_owned(),
                },
                "{text}"
            );
        }
        // A URL in flash without a scheme stays HTTP (P5).
        assert_eq!(
            url_in_force(None, &flash(Some("10.0.0.1:8080"), true)),
            UrlInForce::Http {
                source: Source::Flash,
                base: "10.0.0.1:8080".to_owned(),
            }
        );
    }

    #[test]
    fn the_recovery_server_is_the_host_option_66_names() {
        let ip = Some(Ipv4Addr::new(10, 50, 0, 1));
        assert_eq!(option_66_host("http://10.50.0.1:8080/prov/"), ip);
        assert_eq!(option_66_host("10.50.0.1"), ip);
        assert_eq!(option_66_host("tftp://user@10.50.0.1/"), ip);
        assert_eq!(option_66_host("http://provisioning.example/"), None);
        assert_eq!(option_66_host(""), None);
    }
}
