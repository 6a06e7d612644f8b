//! Whether a scenario can happen at all on a model: a step that needs a part the phone
//! lacks (a USB stick in a phone without a USB port) makes the case not applicable. Such a
//! case is skipped with the reason in every report, never run: its transcript would be the
//! record of a recovery no customer can attempt, and a snapshot of it a check of nothing.

use crate::lab::{Bench, Model};
use crate::outcome::Outcome;
use crate::report::CaseReport;
use crate::scenario::model::Scenario;

/// Why a scenario does not apply to a model, as the reports say it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotApplicable {
    /// One sentence naming the missing part and who says it is missing.
    pub reason: String,
}

impl NotApplicable {
    /// The skipped cases that say so: one per bench of the model, or one without a bench
    /// when the lab has none of it.
    pub fn reports<'b>(
        &self,
        scenario: &Scenario,
        model: Model,
        benches: impl IntoIterator<Item = &'b Bench>,
    ) -> Vec<CaseReport> {
        let mut reports: Vec<CaseReport> = benches
            .into_iter()
            .map(|bench| CaseReport::new(scenario, bench, Outcome::Skipped, self.reason.clone()))
            .collect();
        if reports.is_empty() {
            let mut report = CaseReport::unbenched(scenario, model);
            report.detail = self.reason.clone();
            reports.push(report);
        }
        reports
    }
}

/// `Ok` when every step of `scenario` can be done to a `model`, else why not. The part a
/// step needs and the model's capabilities both come from the table of models
/// (`lab::models`), with the source of each.
pub fn applicability(scenario: &Scenario, model: Model) -> Result<(), NotApplicable> {
    let puts_in_a_stick = scenario
        .steps
        .iter()
        .any(|step| step.kind().needs_usb_port(step));
    if puts_in_a_stick && !model.has_usb_port() {
        return Err(NotApplicable {
            reason: format!(
                "not applicable: the {model} has no USB port, and this scenario puts a recovery \
                 stick in it (source: {})",
                model.spec().usb_port.source
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::model::{
        AccountState, AdminPassword, Given, LinkState, Medium, PackageStep, ProvisioningUrl, Step,
    };

    fn scenario(medium: Medium) -> Scenario {
        Scenario {
            source: "x.toml".into(),
            name: "x".into(),
            summary: String::new(),
            source_note: String::new(),
            models: Model::ALL.to_vec(),
            destructive: true,
            given: Given {
                firmware: "current".into(),
                account: AccountState::Cancelled,
                admin_password: AdminPassword::Random,
                provisioning: ProvisioningUrl::Intermedia,
                network: LinkState::Up,
            },
            steps: vec![Step::new(
                &crate::scenario::steps::package::Package,
                PackageStep {
                    medium,
                    generation: "min".into(),
                    omit: None,
                    corrupt: None,
                    layout: Default::default(),
                    package_model: None,
                },
            )],
        }
    }

    #[test]
    fn a_stick_needs_a_usb_port_and_tftp_needs_nothing() {
        let usb = scenario(Medium::UsbFat);
        let tftp = scenario(Medium::Tftp);
        for model in Model::ALL {
            assert_eq!(applicability(&tftp, model), Ok(()), "{model}");
            match applicability(&usb, model) {
                Ok(()) => assert!(model.has_usb_port(), "{model}"),
                Err(why) => {
                    assert!(!model.has_usb_port(), "{model}");
                    assert!(why.reason.contains("has no USB port"), "{why:?}");
                    assert!(why.reason.contains(model.spec().usb_port.source));
                }
            }
        }
        assert!(applicability(&usb, Model::T40P).is_err());
        assert_eq!(applicability(&usb, Model::T46G), Ok(()));
    }
}
