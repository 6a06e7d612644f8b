//! Keeping a repro session: the scenario file, in the layout of `scenarios/*.toml`, and
//! its snapshot in the scenarios folder's `snapshots/`, so `harness run` replays it every
//! night and compares the transcript with what was seen by hand.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::expect::snapshot;
use crate::lab::Model;
use crate::repro::given;
use crate::repro::session::RecordedStep;
use crate::scenario::steps::toml_string as quoted;
use crate::scenario::{Given, Step};

/// Why a session could not be kept.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // Each variant's `#[error]` text says what it means, fields included.
pub enum SaveError {
    #[error("--save {0}: a scenario file name ends in `.toml` (e.g. scenarios/my-case.toml)")]
    NotToml(PathBuf),
    #[error("--save {0}: the scenario exists; choose another name, or add --force to replace it")]
    Exists(PathBuf),
    #[error("nothing to save: no step ran (a scenario needs at least one step)")]
    NoSteps,
    #[error("cannot write {path}: {source} (check the folder exists and is writable)")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the saved scenario {path} does not read back as the session's steps: {detail}")]
    ReadBack { path: PathBuf, detail: String },
}

/// Where a session will be kept, checked before the bench is touched.
#[derive(Debug, Clone)]
pub struct SaveTarget {
    /// The scenario file.
    pub file: PathBuf,
    /// The scenario's name: the file stem.
    pub name: String,
}

/// The scenario a session becomes.
#[derive(Debug, Clone)]
pub struct SavedScenario<'s> {
    /// The scenario's summary line.
    pub summary: &'s str,
    /// `repro <date> <bench>`.
    pub source: &'s str,
    /// The model of the bench the session ran on.
    pub model: Model,
    /// The customer's state the session started from.
    pub given: &'s Given,
    /// The steps, in the order they ran.
    pub steps: &'s [RecordedStep],
}

/// What was written.
#[derive(Debug, Clone)]
pub struct SavedFiles {
    /// The scenario file.
    pub scenario: PathBuf,
    /// Its snapshot, so the saved scenario passes on the next run.
    pub snapshot: PathBuf,
}

impl SaveTarget {
    /// Checks `--save PATH`: a `.toml` file with a UTF-8 name, not there yet unless `force`.
    pub fn new(file: &Path, force: bool) -> Result<SaveTarget, SaveError> {
        let name = file
            .file_stem()
            .and_then(|s| s.to_str())
            .filter(|_| file.extension().is_some_and(|e| e == "toml"))
            .filter(|s| !s.is_empty())
            .ok_or_else(|| SaveError::NotToml(file.to_path_buf()))?;
        if file.exists() && !force {
            return Err(SaveError::Exists(file.to_path_buf()));
        }
        Ok(SaveTarget {
            file: file.to_path_buf(),
            name: name.to_string(),
        })
    }

    /// The folder of the scenario's snapshots: `snapshots/` beside the scenario file.
    pub fn snapshots_dir(&self) -> PathBuf {
        self.file
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .join("snapshots")
    }

    /// Writes the scenario file, checks that the loader reads it back to the same given
    /// state and steps, then writes `transcript` (redacted) as its snapshot on `model`.
    pub fn write(
        &self,
        scenario: &SavedScenario<'_>,
        transcript: &str,
    ) -> Result<SavedFiles, SaveError> {
        if scenario.steps.is_empty() {
            return Err(SaveError::NoSteps);
        }
        let write_error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| SaveError::Write { path, source }
        };
        std::fs::write(&self.file, scenario_toml(scenario)).map_err(write_error(&self.file))?;
        let loaded =
            crate::scenario::load::load_file(&self.file).map_err(|e| SaveError::ReadBack {
                path: self.file.clone(),
                detail: e.to_string(),
            })?;
        let steps: Vec<&Step> = scenario.steps.iter().map(|r| &r.step).collect();
        if loaded.steps.iter().collect::<Vec<_>>() != steps || loaded.given != *scenario.given {
            return Err(SaveError::ReadBack {
                path: self.file.clone(),
                detail: "the given state or a step differs".into(),
            });
        }
        let dir = self.snapshots_dir();
        let name = format!("{}@{}", self.name, scenario.model);
        let snapshot = snapshot::write(&dir, &name, scenario.summary, transcript)
            .map_err(write_error(&snapshot::snapshot_file(&dir, &name)))?;
        Ok(SavedFiles {
            scenario: self.file.clone(),
            snapshot,
        })
    }
}

/// The scenario file's text, laid out as the hand-written ones: the header keys, the
/// `[given]` table, then one `[[step]]` per step with its note as a comment.
pub fn scenario_toml(scenario: &SavedScenario<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "summary = {}", quoted(scenario.summary));
    let _ = writeln!(out, "source = {}", quoted(scenario.source));
    let _ = writeln!(out, "models = [{}]", quoted(scenario.model.name()));
    // Whether a hand session reset or reflashed the phone cannot be told from its steps:
    // the given phase alone flashes firmware, so benches that ask for approval get asked.
    out.push_str("destructive = true\n\n[given]\n");
    for (key, value) in given::entries(scenario.given) {
        let _ = writeln!(out, "{key} = {}", quoted(&value));
    }
    for recorded in scenario.steps {
        out.push_str("\n[[step]]\n");
        if let Some(note) = &recorded.note {
            for line in note.lines() {
                let _ = writeln!(out, "# {line}");
            }
        }
        let entries = recorded.step.kind().toml(&recorded.step);
        for (key, value) in entries.unwrap_or_default() {
            let _ = writeln!(out, "{key} = {value}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::Key;
    use crate::scenario::steps::tap::DEFAULT_TAP_HOLD_MS;
    use crate::scenario::steps::{
        dial, hold, login, network, offer_firmware, package, pause, power, release, tap, wait,
    };
    use crate::scenario::{
        AccountState, AdminPassword, LinkState, LoginPassword, Medium, PackagePart, PackageStep,
        PowerAction, ProvisioningUrl, WaitFor,
    };

    fn every_step() -> Vec<RecordedStep> {
        let step = |step| RecordedStep { step, note: None };
        let package = |medium, omit, corrupt| {
            Step::new(
                &package::Package,
                PackageStep {
                    medium,
                    generation: "min".into(),
                    omit,
                    corrupt,
                    layout: Default::default(),
                    package_model: None,
                },
            )
        };
        vec![
            step(Step::new(&power::Power, PowerAction::Cycle)),
            step(Step::new(&hold::Hold, Key("speaker".into()))),
            step(Step::new(&release::Release, Key("speaker".into()))),
            step(Step::new(
                &tap::Tap,
                tap::TapStep {
                    key: Key("f4".into()),
                    hold_ms: DEFAULT_TAP_HOLD_MS,
                },
            )),
            step(Step::new(
                &tap::Tap,
                tap::TapStep {
                    key: Key("ok".into()),
                    hold_ms: 2500,
                },
            )),
            step(Step::new(&dial::Dial, "**7283#".to_string())),
            step(Step::new(&network::Network, LinkState::Down)),
            RecordedStep {
                step: Step::new(
                    &wait::Wait,
                    wait::WaitStep {
                        what: WaitFor::CallHome,
                        timeout_s: 60.0,
                    },
                ),
                note: Some("Nothing came within the timeout when this was recorded.".into()),
            },
            step(Step::new(
                &wait::Wait,
                wait::WaitStep {
                    what: WaitFor::ForeignProvisioning,
                    timeout_s: 12.5,
                },
            )),
            step(Step::new(
                &login::Login,
                login::LoginStep {
                    password: LoginPassword::Given,
                },
            )),
            step(Step::new(
                &login::Login,
                login::LoginStep {
                    password: LoginPassword::Literal("a \"quoted\" pw".into()),
                },
            )),
            step(Step::new(&pause::Pause, pause::PauseStep { seconds: 10.0 })),
            step(Step::new(
                &offer_firmware::OfferFirmware,
                "legacy".to_string(),
            )),
            step(package(Medium::Tftp, None, Some(PackagePart::Rom))),
            step(package(Medium::UsbFat, Some(PackagePart::Rfs), None)),
            step(package(Medium::UsbNtfs, None, None)),
        ]
    }

    #[test]
    fn the_written_scenario_loads_back_to_the_same_steps() {
        let given = Given {
            firmware: "below-min".into(),
            account: AccountState::V2,
            admin_password: AdminPassword::Literal("pa=ss".into()),
            provisioning: ProvisioningUrl::Foreign,
            network: LinkState::Down,
        };
        let steps = every_step();
        let saved = SavedScenario {
            summary: "**7283 on a \"customer\" phone: no call-home",
            source: "repro 2026-01-02 t46g",
            model: Model::T46G,
            given: &given,
            steps: &steps,
        };
        let text = scenario_toml(&saved);
        assert!(
            text.contains("[[step]]\n# Nothing came within the timeout"),
            "{text}"
        );
        let loaded = crate::scenario::load::parse(&text, Path::new("scenarios/x.toml")).unwrap();
        assert_eq!(loaded.name, "x");
        assert_eq!(loaded.summary, saved.summary);
        assert_eq!(loaded.source_note, saved.source);
        assert_eq!(loaded.models, vec![Model::T46G]);
        assert!(loaded.destructive);
        assert_eq!(loaded.given, given);
        let expected: Vec<Step> = steps.into_iter().map(|r| r.step).collect();
        assert_eq!(loaded.steps, expected);
    }

    #[test]
    fn an_existing_scenario_is_kept_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.toml");
        assert!(SaveTarget::new(&file, false).is_ok());
        std::fs::write(&file, "kept").unwrap();
        assert!(matches!(
            SaveTarget::new(&file, false),
            Err(SaveError::Exists(_))
        ));
        let target = SaveTarget::new(&file, true).unwrap();
        assert_eq!(target.name, "x");
        assert_eq!(target.snapshots_dir(), dir.path().join("snapshots"));
        assert!(matches!(
            SaveTarget::new(&dir.path().join("x.txt"), false),
            Err(SaveError::NotToml(_))
        ));
    }

    #[test]
    fn a_session_is_written_with_its_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let target = SaveTarget::new(&dir.path().join("x.toml"), false).unwrap();
        let given =
            crate::repro::given::parse("firmware=current account=cancelled admin_password=random")
                .unwrap();
        let steps = every_step();
        let saved = SavedScenario {
            summary: "a summary",
            source: "repro 2026-01-02 t46g",
            model: Model::T46G,
            given: &given,
            steps: &steps[..1],
        };
        let files = target.write(&saved, "scenario: x\n\n== end\n").unwrap();
        assert_eq!(files.snapshot, dir.path().join("snapshots/x@T46G.snap"));
        assert_eq!(
            snapshot::check(
                &dir.path().join("snapshots"),
                "x@T46G",
                "a summary",
                "scenario: x\n\n== end\n"
            ),
            snapshot::SnapshotCheck::Matches
        );
        let empty = SavedScenario {
            steps: &[],
            ..saved
        };
        assert!(matches!(target.write(&empty, ""), Err(SaveError::NoSteps)));
    }
}
