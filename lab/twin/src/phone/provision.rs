//! The phone's provisioning client: the public fetch order (MAC boot file, common boot
//! file, common cfg, MAC cfg; no boot files before train 81), one request at a time, each
//! awaited before the next.

use super::config::ConfigFile;
use super::model::Model;
use super::net::Net;

/// The files one provisioning round got, in the order they apply (later overrides earlier).
#[derive(Debug, Default)]
pub struct Round {
    /// `(file name or URL as asked, parsed file)` for every config file that answered 200
    /// with a valid header.
    pub applied: Vec<(String, ConfigFile)>,
    /// Whether any request got an HTTP answer at all; `false` means the server was never
    /// reached (no network, connection refused), which the phone reports as a failed update.
    pub reached_server: bool,
}

/// Joins a provisioning base URL and a file name; the base may end with `/` or not, and a
/// base without a scheme is taken as HTTP (the twin speaks HTTP only).
pub fn join(base: &str, file: &str) -> String {
    if file.contains("://") {
        return file.to_owned();
    }
    let base = base.trim();
    let base = if base.contains("://") {
        base.to_owned()
    } else {
        format!("http://{base}")
    };
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        file.trim_start_matches('/')
    )
}

/// The first release train whose firmware knows boot files (P2: Yealink's T2/T4/T5 admin
/// guide, "boot files exist from firmware version 81 on").
pub const FIRST_BOOT_FILE_TRAIN: u32 = 81;

/// Whether firmware `version` (`A.B.C.D`, B the release train) asks for boot files. A
/// version whose train cannot be read is taken as a current one (ASSUMED: every image the
/// lab builds has a dotted version; a phone without one would be a newer naming scheme).
pub fn asks_for_boot_files(version: &str) -> bool {
    version
        .split('.')
        .nth(1)
        .and_then(|train| train.parse::<u32>().ok())
        .is_none_or(|train| train >= FIRST_BOOT_FILE_TRAIN)
}

/// One provisioning round from `base` by a phone running firmware `version`: from train
/// 81 on the boot files first, the first that answers 200 deciding the config files (its
/// `include:config` lines); otherwise (and always on x.80 or older) the common then the MAC
/// cfg.
pub async fn fetch_round(
    net: &Net,
    base: &str,
    model: Model,
    mac_hex: &str,
    version: &str,
) -> Round {
    let mut round = Round::default();
    let mut config_files = vec![model.common_cfg(), format!("{mac_hex}.cfg")];
    let boot_files = if asks_for_boot_files(version) {
        vec![format!("{mac_hex}.boot"), "y000000000000.boot".to_owned()]
    } else {
        Vec::new()
    };
    for boot in boot_files {
        if let Some(file) = fetch(net, base, &boot, &mut round).await {
            config_files = file.includes;
            break;
        }
    }
    for name in config_files {
        if let Some(file) = fetch(net, base, &name, &mut round).await {
            round.applied.push((name, file));
        }
    }
    round
}

/// One GET; `None` for anything but a 200 carrying a valid provisioning file (404 and
/// transport errors are normal: the phone skips that file).
async fn fetch(net: &Net, base: &str, name: &str, round: &mut Round) -> Option<ConfigFile> {
    let url = join(base, name);
    match net.get(&url).await {
        Ok(response) => {
            round.reached_server = true;
            if response.status != 200 {
                tracing::debug!(ip = %net.ip(), %url, status = response.status, "provisioning file skipped");
                return None;
            }
            let text = String::from_utf8_lossy(&response.body);
            let file = ConfigFile::parse(&text);
            if file.is_none() {
                tracing::debug!(ip = %net.ip(), %url, "provisioning file without a version header ignored");
            }
            file
        }
        Err(error) => {
            tracing::debug!(ip = %net.ip(), %url, %error, "provisioning request failed");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_files_start_with_train_81() {
        assert!(!asks_for_boot_files("28.80.0.70"));
        assert!(!asks_for_boot_files("36.73.0.50"));
        assert!(asks_for_boot_files("28.81.0.10"));
        assert!(asks_for_boot_files("66.86.0.15"));
        assert!(asks_for_boot_files("no version"));
    }

    #[test]
    fn join_accepts_a_base_with_or_without_trailing_slash() {
        assert_eq!(join("http://h:1/p", "a.cfg"), "http://h:1/p/a.cfg");
        assert_eq!(join("http://h:1/p/", "a.cfg"), "http://h:1/p/a.cfg");
        assert_eq!(join("h:1", "a.cfg"), "http://h:1/a.cfg");
        assert_eq!(join("http://h:1/", "http://o/b.cfg"), "http://o/b.cfg");
    }
}
