//! `offer_firmware = "<generation>"`: the provisioning server offers another fixture
//! generation from now on; the prompt types it as `offer`.

use super::prompt::exactly;
use super::{CommandError, StepFields, StepFuture, StepKind, toml_string};
use crate::config_error::FileProblems;
use crate::endpoints::FirmwareOffer;
use crate::scenario::engine::{Abort, Case, file_name};
use crate::scenario::load::generation_name;
use crate::scenario::model::Step;

/// The firmware the bench's account offers through provisioning, switched mid-case.
pub struct OfferFirmware;

impl StepKind for OfferFirmware {
    fn actions(&self) -> &'static [&'static str] {
        &["offer_firmware"]
    }

    fn check(
        &self,
        action: &'static str,
        fields: &StepFields<'_>,
        problems: &mut FileProblems<'_>,
    ) -> Option<Step> {
        let generation = fields.required::<String>(problems, action)?;
        generation_name(problems, &fields.key_path(action), &generation)
            .map(|x| Step::new(&OfferFirmware, x))
    }

    fn run<'a>(
        &'a self,
        case: &'a mut Case<'_, '_>,
        number: usize,
        step: &'a Step,
    ) -> StepFuture<'a> {
        Box::pin(async move {
            let Some(generation) = step.what::<String>() else {
                return Err(case.not_this_kind(self, step));
            };
            let image = case.image(generation)?;
            let endpoints = case.endpoints();
            let bench = &case.rig().bench.name;
            let mut account = endpoints.accounts.get(bench).ok_or_else(|| {
                Abort::Config(format!(
                    "bench {bench} has no account to offer firmware through"
                ))
            })?;
            let file_name = file_name(&image.rom);
            account.firmware = Some(FirmwareOffer {
                file_name: file_name.clone(),
                path: image.rom.clone(),
            });
            endpoints.accounts.set(bench, account);
            case.action(format!(
                "{number}. server: firmware {} ({file_name}) offered",
                image.version
            ));
            Ok(())
        })
    }

    fn toml(&self, step: &Step) -> Option<Vec<(&'static str, String)>> {
        let generation = step.what::<String>()?;
        Some(vec![("offer_firmware", toml_string(generation))])
    }

    fn command(&self) -> &'static str {
        "offer"
    }

    fn usage(&self) -> &'static str {
        "offer GENERATION"
    }

    fn about(&self) -> String {
        "provisioning offers this firmware from now on".into()
    }

    fn parse(&self, args: &[&str]) -> Result<Step, CommandError> {
        let [generation] = exactly("offer", args, "a firmware generation (e.g. current)")?;
        Ok(Step::new(&OfferFirmware, generation.to_string()))
    }
}
