//! What the phone keeps in flash across power cycles, and how provisioning parameters
//! change it. Only a factory reset clears it.

use super::config::ConfigFile;
use super::firmware::Firmware;

/// The factory admin password (public fact).
pub const FACTORY_ADMIN_PASSWORD: &str = "admin";
const DEFAULT_SIP_PORT: u16 = 5060;
const DEFAULT_EXPIRES_S: u32 = 3600;
const DEFAULT_SYSLOG_PORT: u16 = 514;

/// The SIP account 1, as provisioned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Account {
    /// `account.1.enable = 1`.
    pub enabled: bool,
    /// `account.1.user_name`.
    pub user: String,
    /// `account.1.sip_server.1.address`; empty when none.
    pub registrar_host: String,
    /// `account.1.sip_server.1.port`.
    pub registrar_port: u16,
    /// `account.1.expires`, asked for in REGISTER.
    pub expires_s: u32,
}

impl Account {
    /// Whether the phone should try to register at all.
    pub fn is_configured(&self) -> bool {
        self.enabled && !self.registrar_host.is_empty()
    }
}

/// Where syslog lines go, as provisioned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyslogTarget {
    /// `syslog.enable = 1`.
    pub enabled: bool,
    /// `syslog.server`; empty when none.
    pub server: String,
    /// `syslog.server_port`.
    pub port: u16,
}

/// The persistent state of one phone.
#[derive(Debug, Clone)]
pub struct Flash {
    /// The running firmware (its declaration decides Auto-P and Long Press).
    pub firmware: Firmware,
    /// The web UI's admin password.
    pub admin_password: String,
    /// `auto_provision.server.url`: the URL in flash, used when no DHCP option names one
    /// (P1); `None` in the factory state.
    pub provisioning_url: Option<String>,
    /// `auto_provision.dhcp_option.enable` (factory `1`): whether DHCP options may name the
    /// provisioning URL, ahead of the one in flash (P1).
    pub dhcp_option_enabled: bool,
    /// `firmware.url`, the last value provisioning applied; checked after every provisioning.
    pub firmware_url: Option<String>,
    /// Account 1.
    pub account: Account,
    /// Syslog destination.
    pub syslog: SyslogTarget,
    /// Whether the firmware area holds a whole image. A write cut off by a power loss
    /// leaves it half-written (S5): the bootloader then has nothing to start and offers only
    /// the recovery menu until a recovery writes a whole image again.
    pub firmware_intact: bool,
}

impl Flash {
    /// A phone fresh from the factory running `firmware`.
    pub fn factory(firmware: Firmware) -> Flash {
        Flash {
            firmware,
            admin_password: FACTORY_ADMIN_PASSWORD.to_owned(),
            provisioning_url: None,
            dhcp_option_enabled: true,
            firmware_url: None,
            account: Account::default(),
            syslog: SyslogTarget::default(),
            firmware_intact: true,
        }
    }

    /// A firmware write starts: until [`Flash::finish_firmware_write`], the old image is
    /// partly overwritten and the new one not whole (S5).
    pub fn begin_firmware_write(&mut self) {
        self.firmware_intact = false;
    }

    /// A firmware write ended: `firmware` is whole in flash and runs from the next boot.
    pub fn finish_firmware_write(&mut self, firmware: Firmware) {
        self.firmware = firmware;
        self.firmware_intact = true;
    }

    /// Clears every setting but keeps the running firmware (a factory reset does not flash).
    pub fn factory_reset(&mut self) {
        *self = Flash::factory(self.firmware.clone());
    }

    /// Applies one provisioning file's known parameters in file order; unknown keys are
    /// ignored as a real phone ignores parameters of other features.
    pub fn apply(&mut self, file: &ConfigFile) {
        for (key, value) in &file.entries {
            self.apply_one(key, value);
        }
    }

    fn apply_one(&mut self, key: &str, value: &str) {
        match key {
            "security.user_password" => {
                // Only the admin user's password is modelled: the web UI logs in as admin.
                if let Some(("admin", password)) = value.split_once(':') {
                    self.admin_password = password.to_owned();
                }
            }
            "auto_provision.server.url" => self.provisioning_url = non_empty(value),
            "auto_provision.dhcp_option.enable" => self.dhcp_option_enabled = value != "0",
            "firmware.url" => self.firmware_url = non_empty(value),
            "syslog.enable" => self.syslog.enabled = value == "1",
            "syslog.server" => self.syslog.server = value.to_owned(),
            "syslog.server_port" => {
                self.syslog.port = value.parse().unwrap_or(DEFAULT_SYSLOG_PORT);
            }
            "account.1.enable" => self.account.enabled = value == "1",
            "account.1.user_name" => self.account.user = value.to_owned(),
            "account.1.sip_server.1.address" => self.account.registrar_host = value.to_owned(),
            "account.1.sip_server.1.port" => {
                self.account.registrar_port = value.parse().unwrap_or(DEFAULT_SIP_PORT);
            }
            "account.1.expires" => {
                self.account.expires_s = value.parse().unwrap_or(DEFAULT_EXPIRES_S);
            }
            _ => {}
        }
    }

    /// The registrar port, with the SIP default when provisioning gave none.
    pub fn registrar_port(&self) -> u16 {
        match self.account.registrar_port {
            0 => DEFAULT_SIP_PORT,
            port => port,
        }
    }

    /// The Expires the phone asks for, with the default when provisioning gave none.
    pub fn expires_s(&self) -> u32 {
        match self.account.expires_s {
            0 => DEFAULT_EXPIRES_S,
            expires => expires,
        }
    }

    /// The syslog port, with the default when provisioning gave none.
    pub fn syslog_port(&self) -> u16 {
        match self.syslog.port {
            0 => DEFAULT_SYSLOG_PORT,
            port => port,
        }
    }
}

fn non_empty(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::super::firmware::Declaration;
    use super::*;

    fn flash() -> Flash {
        Flash::factory(Firmware {
            version: "28.83.0.120".to_owned(),
            oem: "Intermedia".to_owned(),
            declaration: Declaration {
                build_date: "2021-01-01".to_owned(),
                intermedia: true,
                features: vec![],
                part: None,
            },
        })
    }

    #[test]
    fn provisioning_sets_the_admin_password_only_for_admin() {
        let mut flash = flash();
        let file = ConfigFile::parse(
            "#!version:1.0.0.1\nstatic.security.user_password = user:x\nsecurity.user_password = admin:s3cret:with:colons\n",
        )
        .unwrap();
        flash.apply(&file);
        assert_eq!(flash.admin_password, "s3cret:with:colons");
    }

    #[test]
    fn later_files_override_earlier_ones_and_reset_clears_all_but_firmware() {
        let mut flash = flash();
        flash.apply(
            &ConfigFile::parse(
                "#!version:1.0.0.1\naccount.1.enable = 1\naccount.1.sip_server.1.address = 127.0.0.1\naccount.1.user_name = 100\n",
            )
            .unwrap(),
        );
        flash.apply(
            &ConfigFile::parse(
                "#!version:1.0.0.1\naccount.1.user_name = 200\nstatic.syslog.enable = 1\n",
            )
            .unwrap(),
        );
        assert!(flash.account.is_configured());
        assert_eq!(flash.account.user, "200");
        assert_eq!(flash.registrar_port(), 5060);
        assert_eq!(flash.expires_s(), 3600);
        assert_eq!(flash.syslog_port(), 514);
        flash.factory_reset();
        assert!(!flash.account.is_configured());
        assert!(!flash.syslog.enabled);
        assert_eq!(flash.admin_password, "admin");
        assert_eq!(flash.firmware.version, "28.83.0.120");
    }
}
