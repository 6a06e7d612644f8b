//! The customer's state as typed on the command line: `key=value` words separated by
//! spaces, with exactly the keys and values of a scenario's `[given]` table, so a saved
//! session's `[given]` is what was typed.
//!
//! ```text
//! firmware=below-min account=cancelled admin_password=random provisioning=foreign network=up
//! ```
//!
//! `password` is accepted for `admin_password`. `firmware`, `account` and `admin_password`
//! are required, as in a scenario file; `provisioning` defaults to `intermedia` and
//! `network` to `up`. The stick format is not part of the state: it is the medium of a
//! later `package usb-fat|usb-ntfs` command, as in a scenario's `usb_stick` step.

use crate::scenario::{AccountState, AdminPassword, Given, LinkState, ProvisioningUrl};

/// The keys of the given state, in the order a scenario file writes them.
pub const KEYS: [&str; 5] = [
    "firmware",
    "account",
    "admin_password",
    "provisioning",
    "network",
];

/// A mistake in `--given`, naming the key and what it allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[allow(missing_docs)] // Each variant's `#[error]` text says what it means, fields included.
pub enum GivenError {
    #[error("--given: `{word}` is not `key=value` (keys: {})", KEYS.join(", "))]
    NotKeyValue { word: String },
    #[error("--given: unknown key `{key}`, expected one of {}", KEYS.join(", "))]
    UnknownKey { key: String },
    #[error("--given: `{key}` is given twice")]
    Repeated { key: &'static str },
    #[error("--given: {key}=`{value}` is not allowed, expected {allowed}")]
    BadValue {
        key: &'static str,
        value: String,
        allowed: &'static str,
    },
    #[error("--given: missing {}: a scenario's [given] needs firmware, account and admin_password", .keys.join(", "))]
    Missing { keys: Vec<&'static str> },
}

/// Reads the given state from its command-line form.
pub fn parse(text: &str) -> Result<Given, GivenError> {
    let mut values: [Option<String>; 5] = Default::default();
    for word in text.split_whitespace() {
        let Some((key, value)) = word.split_once('=') else {
            return Err(GivenError::NotKeyValue { word: word.into() });
        };
        let key = if key == "password" {
            "admin_password"
        } else {
            key
        };
        let Some(index) = KEYS.iter().position(|k| *k == key) else {
            return Err(GivenError::UnknownKey { key: key.into() });
        };
        if values[index].is_some() {
            return Err(GivenError::Repeated { key: KEYS[index] });
        }
        values[index] = Some(value.to_string());
    }
    let missing: Vec<&'static str> = KEYS[..3]
        .iter()
        .zip(&values)
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| *k)
        .collect();
    if !missing.is_empty() {
        return Err(GivenError::Missing { keys: missing });
    }
    let [firmware, account, admin_password, provisioning, network] = values;
    let bad = |key: &'static str, value: &str, allowed: &'static str| GivenError::BadValue {
        key,
        value: value.to_string(),
        allowed,
    };
    let firmware = firmware.unwrap_or_default();
    if firmware.is_empty() {
        return Err(bad(
            "firmware",
            &firmware,
            "a generation of the model's manifest (legacy, below-min, min, current)",
        ));
    }
    let account = match account.as_deref().unwrap_or_default() {
        "active" => AccountState::Active,
        "cancelled" => AccountState::Cancelled,
        "v2" => AccountState::V2,
        other => return Err(bad("account", other, "active, cancelled or v2")),
    };
    let admin_password = match admin_password.as_deref().unwrap_or_default() {
        "random" => AdminPassword::Random,
        "" => {
            return Err(bad(
                "admin_password",
                "",
                "random or the password to provision",
            ));
        }
        literal => AdminPassword::Literal(literal.to_string()),
    };
    let provisioning = match provisioning.as_deref().unwrap_or("intermedia") {
        "intermedia" => ProvisioningUrl::Intermedia,
        "foreign" => ProvisioningUrl::Foreign,
        other => return Err(bad("provisioning", other, "intermedia or foreign")),
    };
    let network = match network.as_deref().unwrap_or("up") {
        "up" => LinkState::Up,
        "down" => LinkState::Down,
        other => return Err(bad("network", other, "up or down")),
    };
    Ok(Given {
        firmware,
        account,
        admin_password,
        provisioning,
        network,
    })
}

/// Each key of a given state with its value as a scenario file writes it, in file order.
pub fn entries(given: &Given) -> [(&'static str, String); 5] {
    [
        ("firmware", given.firmware.clone()),
        (
            "account",
            match given.account {
                AccountState::Active => "active",
                AccountState::Cancelled => "cancelled",
                AccountState::V2 => "v2",
            }
            .into(),
        ),
        (
            "admin_password",
            match &given.admin_password {
                AdminPassword::Random => "random".into(),
                AdminPassword::Literal(p) => p.clone(),
            },
        ),
        (
            "provisioning",
            match given.provisioning {
                ProvisioningUrl::Intermedia => "intermedia",
                ProvisioningUrl::Foreign => "foreign",
            }
            .into(),
        ),
        (
            "network",
            match given.network {
                LinkState::Up => "up",
                LinkState::Down => "down",
            }
            .into(),
        ),
    ]
}

/// The command-line form of a given state: `parse(&format(g)) == g`.
pub fn format(given: &Given) -> String {
    entries(given)
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_maps_onto_the_given_table() {
        let given = parse(
            "firmware=below-min account=cancelled password=random provisioning=foreign network=down",
        )
        .unwrap();
        assert_eq!(
            given,
            Given {
                firmware: "below-min".into(),
                account: AccountState::Cancelled,
                admin_password: AdminPassword::Random,
                provisioning: ProvisioningUrl::Foreign,
                network: LinkState::Down,
            }
        );
        assert_eq!(parse(&format(&given)).unwrap(), given);
    }

    #[test]
    fn provisioning_and_network_default_as_in_a_scenario_file() {
        let given = parse("account=v2 firmware=current admin_password=s3cret").unwrap();
        assert_eq!(given.account, AccountState::V2);
        assert_eq!(
            given.admin_password,
            AdminPassword::Literal("s3cret".into())
        );
        assert_eq!(given.provisioning, ProvisioningUrl::Intermedia);
        assert_eq!(given.network, LinkState::Up);
    }

    #[test]
    fn mistakes_name_the_key_and_what_it_allows() {
        let base = "firmware=current admin_password=random";
        let e = parse(&format!("{base} account=closed")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--given: account=`closed` is not allowed, expected active, cancelled or v2"
        );
        let e = parse(&format!("{base} account=active network=sideways")).unwrap_err();
        assert!(e.to_string().contains("network=`sideways`"), "{e}");
        assert!(e.to_string().contains("up or down"), "{e}");
        let e = parse(&format!("{base} account=active provisioning=x")).unwrap_err();
        assert!(e.to_string().contains("intermedia or foreign"), "{e}");
        assert_eq!(
            parse(&format!("{base} account=active colour=red")).unwrap_err(),
            GivenError::UnknownKey {
                key: "colour".into()
            }
        );
        assert_eq!(
            parse(&format!("{base} account=active account=v2")).unwrap_err(),
            GivenError::Repeated { key: "account" }
        );
        assert_eq!(
            parse(&format!("{base} cancelled")).unwrap_err(),
            GivenError::NotKeyValue {
                word: "cancelled".into()
            }
        );
        assert_eq!(
            parse("firmware=current").unwrap_err(),
            GivenError::Missing {
                keys: vec!["account", "admin_password"]
            }
        );
        assert!(matches!(
            parse("firmware= account=active admin_password=random").unwrap_err(),
            GivenError::BadValue {
                key: "firmware",
                ..
            }
        ));
    }
}
