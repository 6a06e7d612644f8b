//! The step engine: runs one scenario on one bench and records its transcript.
//!
//! Endpoint events of the bench's phone are collected continuously, but written into the
//! transcript only under the `wait` that consumes them (everything since the previous wait,
//! up to and including the event waited for). A phone does its network work in a causal
//! chain, so this placement does not depend on timing: an event that races a key tap still
//! lands under the same wait in every run.

use std::time::Duration;

use rand::Rng;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use crate::endpoints::events::{EndpointEvent, HttpServer, TaggedEvent};
use crate::endpoints::{BenchAccount, Endpoints, FirmwareOffer};
use crate::expect::Redactor;
use crate::firmware::{ImageEntry, Manifest};
use crate::lab::{Key, Model};
use crate::outcome::FaultClass;
use crate::rack::{BenchRig, RigError};
use crate::scenario::model::*;
use crate::scenario::steps::StepKind;
use crate::scenario::transcript::Transcript;

/// A wait never gives up sooner than this on the wall clock, however small the time scale:
/// a loaded build machine must not turn a slow phone into a finding. A `wait` step may end
/// sooner only with the phone's own evidence that it ran past the timeout
/// ([`Case::wait_or_prove_absence`]).
pub const MIN_TIMEOUT: Duration = Duration::from_secs(3);
/// The least phone time a `wait` step covers before its event may be called absent, however
/// short its `timeout_s` (real seconds, scaled like every timeout).
const MIN_ABSENCE_WINDOW_S: f64 = 30.0;
/// How long a phone stays unpowered in a power cycle (real seconds, scaled).
const POWER_OFF_DWELL_S: f64 = 5.0;
/// Boot, provisioning, a possible firmware flash and its reboot, then REGISTER.
const SETTLE_TIMEOUT_S: f64 = 900.0;

/// How a case ended before its snapshot comparison.
#[derive(Debug)]
pub enum CaseEnd {
    /// Every step ran; the transcript is complete.
    Completed,
    /// The lab broke (a device vanished, a relay did not answer): not a finding.
    LabFault(String),
    /// The fixtures or the scenario cannot be used on this bench.
    ConfigError(String),
    /// The operator interrupted the run.
    Interrupted,
}

/// What running a case produced.
#[derive(Debug)]
pub struct CaseRun {
    /// How the case ended.
    pub end: CaseEnd,
    /// Everything the case saw, unredacted.
    pub transcript: Transcript,
    /// The redactions the case learnt, applied before the snapshot comparison.
    pub redactor: Redactor,
    /// How much of the case was spent waiting on the phone: for events, in pauses and
    /// dwells, on its answers. The rest of the case's wall time is the harness's own.
    pub phone_time: Duration,
}

/// Everything the engine needs that outlives a case.
pub struct EngineContext<'a> {
    /// The endpoints whose events the scenario's expectations wait for.
    pub endpoints: &'a Endpoints,
    /// The firmware fixtures or drop the steps flash and offer.
    pub fixtures_dir: &'a std::path::Path,
    /// The lab's time scale: every timeout and pause is multiplied by it.
    pub time_scale: f64,
    /// Becomes `true` on Ctrl-C: the engine stops at the next step or wait.
    pub cancel: watch::Receiver<bool>,
}

impl EngineContext<'_> {
    fn scaled(&self, real_s: f64) -> Duration {
        Duration::from_secs_f64((real_s * self.time_scale).max(0.0))
    }

    fn timeout(&self, real_s: f64) -> Duration {
        self.scaled(real_s).max(MIN_TIMEOUT)
    }
}

/// Why a case stops before its last step; each becomes a [`CaseEnd`].
pub(crate) enum Abort {
    /// The lab broke.
    Lab(String),
    /// The fixtures or the scenario cannot be used on this bench.
    Config(String),
    /// Ctrl-C or SIGTERM.
    Interrupted,
}

impl From<RigError> for Abort {
    fn from(e: RigError) -> Self {
        match e.class() {
            FaultClass::ConfigError => Abort::Config(e.to_string()),
            FaultClass::LabFault => Abort::Lab(e.to_string()),
        }
    }
}

/// Whether `event` is the lab's provisioning server serving the phone of `mac` its own
/// config (at boot, or under `/autop/` on a call-home).
fn is_config_served(event: &EndpointEvent, mac: &str) -> bool {
    let own = format!("{mac}.cfg");
    matches!(event, EndpointEvent::Http { server: HttpServer::Provisioning, status: 200, path, .. }
        if path.rsplit('/').next() == Some(own.as_str()))
}

/// Resolves once the run is cancelled; never, if the canceller went away without cancelling.
pub async fn cancelled(cancel: &mut watch::Receiver<bool>) {
    if cancel.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// A case being run: what a step kind's `run` works through (the bench's rig, the
/// endpoints, the transcript, the clock that ends at once on Ctrl-C).
pub(crate) struct Case<'a, 'c> {
    ctx: &'a EngineContext<'c>,
    rig: &'a BenchRig,
    events: broadcast::Receiver<TaggedEvent>,
    transcript: Transcript,
    redactor: Redactor,
    given_password: String,
    /// The bench model's fixtures, once loaded.
    manifest: Option<Manifest>,
    /// Whether the last `wait` step found its event.
    last_wait_found: Option<bool>,
    /// When the lab's provisioning server last served this phone a config (its MAC config,
    /// at boot or on a call-home) that the phone has not shown to have applied yet: it
    /// applies a config after the server has answered, so a check of its effect right away
    /// can beat it. A REGISTER afterwards shows it has (ASSUMED: a phone registers once its
    /// provisioning is done, lab/twin/BEHAVIOUR.md).
    config_unsettled_since: Option<Instant>,
    /// Time spent waiting on the phone so far ([`CaseRun::phone_time`]).
    phone_time: Duration,
}

/// The lines that open a transcript: which scenario this is and where it comes from.
#[derive(Debug, Clone, Copy)]
pub struct CaseTitle<'s> {
    /// The scenario's name (its file stem).
    pub name: &'s str,
    /// The scenario's summary line.
    pub summary: &'s str,
    /// Where the behaviour comes from.
    pub source_note: &'s str,
}

impl<'s> From<&'s Scenario> for CaseTitle<'s> {
    fn from(scenario: &'s Scenario) -> Self {
        CaseTitle {
            name: &scenario.name,
            summary: &scenario.summary,
            source_note: &scenario.source_note,
        }
    }
}

/// What one step added to the transcript.
#[derive(Debug, Clone, PartialEq)]
pub struct StepReport {
    /// The new transcript lines (unredacted), the step's own and the events it waited for;
    /// on an abort, the line that says why.
    pub lines: Vec<String>,
    /// For a `wait` step that ran to its end: whether the event came before the timeout.
    pub wait_found: Option<bool>,
}

/// A case driven one step at a time: the given state is arranged by [`CaseSession::start`],
/// each [`CaseSession::step`] runs one step exactly as a scenario file's step, and
/// [`CaseSession::finish`] closes the transcript. `run_case` is a loop over it, so a session
/// typed by hand records the transcript its saved scenario will produce.
pub struct CaseSession<'a, 'c> {
    case: Case<'a, 'c>,
    /// The scenario's name, for the step log.
    name: String,
    steps_run: usize,
    /// Set once the case was aborted: no further step runs.
    ended: Option<CaseEnd>,
}

impl<'a, 'c> CaseSession<'a, 'c> {
    /// Writes the transcript header, loads the bench model's fixtures and puts the phone
    /// into the `given` state. An abort here ends the session at once ([`Self::ended`]).
    pub async fn start(
        ctx: &'a EngineContext<'c>,
        rig: &'a BenchRig,
        title: CaseTitle<'_>,
        given: &Given,
    ) -> CaseSession<'a, 'c> {
        let bench = &rig.bench;
        let mut redactor = Redactor::new();
        redactor
            .replace(bench.mac.plain(), "[MAC]")
            .replace(bench.mac.colons(), "[MAC]")
            .replace(bench.mac.plain().to_uppercase(), "[MAC]")
            .replace(bench.ip.to_string(), "[PHONE-IP]");
        let mut session = CaseSession {
            case: Case {
                ctx,
                rig,
                // Subscribe before anything happens, so no event of this case is missed.
                events: ctx.endpoints.bus.subscribe(),
                transcript: Transcript::new(),
                redactor,
                given_password: String::new(),
                manifest: None,
                last_wait_found: None,
                config_unsettled_since: None,
                phone_time: Duration::ZERO,
            },
            name: title.name.to_string(),
            steps_run: 0,
            ended: None,
        };
        let result = session.case.start(title, given).await;
        session.settle_result(result);
        session
    }

    /// Runs the next step. Refused (no line added) once the session has ended.
    pub async fn step(&mut self, step: &Step) -> StepReport {
        let before = self.case.transcript.lines().len();
        self.case.last_wait_found = None;
        if self.ended.is_some() {
            return StepReport {
                lines: Vec::new(),
                wait_found: None,
            };
        }
        let number = self.steps_run + 1;
        let result = match self.case.check_cancel() {
            Ok(()) => {
                tracing::info!(bench = %self.case.rig.bench.name, scenario = %self.name, step = number, "{step:?}");
                self.steps_run = number;
                self.case.step(number, step).await
            }
            Err(abort) => Err(abort),
        };
        let completed = result.is_ok();
        self.settle_result(result);
        StepReport {
            lines: self.case.transcript.lines()[before..].to_vec(),
            wait_found: self.case.last_wait_found.filter(|_| completed),
        }
    }

    /// How the session ended early, if it did.
    pub fn ended(&self) -> Option<&CaseEnd> {
        self.ended.as_ref()
    }

    /// The transcript so far (unredacted).
    pub fn transcript(&self) -> &Transcript {
        &self.case.transcript
    }

    /// The redactions this case has learnt so far (the MAC, the given password, ...).
    pub fn redactor(&self) -> &Redactor {
        &self.case.redactor
    }

    /// The password `given` provisioned (what `login = "given"` tries).
    pub fn given_password(&self) -> &str {
        &self.case.given_password
    }

    /// Closes the transcript: a case that was not aborted gets its `== end` section and the
    /// events that arrived after its last wait.
    pub fn finish(mut self) -> CaseRun {
        let end = match self.ended.take() {
            Some(end) => end,
            None => {
                self.case.transcript.section("end");
                match self.case.drain_pending() {
                    Some(fault) => CaseEnd::LabFault(fault),
                    None => CaseEnd::Completed,
                }
            }
        };
        CaseRun {
            end,
            transcript: self.case.transcript,
            redactor: self.case.redactor,
            phone_time: self.case.phone_time,
        }
    }

    /// Records an abort in the transcript and ends the session.
    fn settle_result(&mut self, result: Result<(), Abort>) {
        let end = match result {
            Ok(()) => return,
            Err(Abort::Lab(m)) => {
                self.case.transcript.action(format!("LAB FAULT: {m}"));
                CaseEnd::LabFault(m)
            }
            Err(Abort::Config(m)) => {
                self.case.transcript.action(format!("CONFIG ERROR: {m}"));
                CaseEnd::ConfigError(m)
            }
            Err(Abort::Interrupted) => {
                self.case.transcript.action("INTERRUPTED");
                CaseEnd::Interrupted
            }
        };
        self.ended = Some(end);
    }
}

/// Runs `scenario` on the bench of `rig`.
pub async fn run_case(ctx: &EngineContext<'_>, rig: &BenchRig, scenario: &Scenario) -> CaseRun {
    let mut session = CaseSession::start(ctx, rig, scenario.into(), &scenario.given).await;
    for step in &scenario.steps {
        if session.ended().is_some() {
            break;
        }
        session.step(step).await;
    }
    session.finish()
}

impl<'a, 'c> Case<'a, 'c> {
    /// The bench's relays and actuator.
    pub(crate) fn rig(&self) -> &'a BenchRig {
        self.rig
    }

    /// The lab's endpoints (accounts, the TFTP folder).
    pub(crate) fn endpoints(&self) -> &'c Endpoints {
        self.ctx.endpoints
    }

    /// `real_s` real seconds on the lab's time scale.
    pub(crate) fn scaled(&self, real_s: f64) -> Duration {
        self.ctx.scaled(real_s)
    }

    /// A timeout of `real_s` real seconds on the lab's time scale, never below
    /// [`MIN_TIMEOUT`].
    pub(crate) fn timeout(&self, real_s: f64) -> Duration {
        self.ctx.timeout(real_s)
    }

    /// Adds a line to the transcript: what the harness did or concluded.
    pub(crate) fn action(&mut self, text: impl AsRef<str>) {
        self.transcript.action(text);
    }

    /// The redactions of this case, for a step that learns a run-dependent value.
    pub(crate) fn redactor_mut(&mut self) -> &mut Redactor {
        &mut self.redactor
    }

    /// The password `given` provisioned.
    /// When the phone was served a config it has not yet shown to have applied.
    pub(crate) fn config_unsettled_since(&self) -> Option<Instant> {
        self.config_unsettled_since
    }

    pub(crate) fn given_password(&self) -> &str {
        &self.given_password
    }

    /// Records whether the `wait` being run found its event (the repro prompt notes a
    /// timeout in the saved scenario).
    pub(crate) fn note_wait_found(&mut self, found: bool) {
        self.last_wait_found = Some(found);
    }

    /// The refusal of a step handed to a kind it is not of: the registry's dispatch never
    /// does this, so it is a bug in the harness, reported as a config error of the case.
    pub(crate) fn not_this_kind(&self, kind: &dyn StepKind, step: &Step) -> Abort {
        Abort::Config(format!(
            "a `{}` step cannot run {step:?}",
            kind.actions().join("`/`")
        ))
    }

    async fn start(&mut self, title: CaseTitle<'_>, given: &Given) -> Result<(), Abort> {
        let model = self.rig.bench.model;
        self.transcript.header("scenario", title.name);
        self.transcript.header("model", model.name());
        self.transcript.header("summary", title.summary);
        self.transcript.header("source", title.source_note);

        let manifest = Manifest::load(self.ctx.fixtures_dir, model)
            .map_err(|e| Abort::Config(e.to_string()))?;
        for image in &manifest.images {
            self.redactor
                .replace(image.version.clone(), format!("[FW:{}]", image.generation));
        }
        self.arrange(given, &manifest, model).await?;
        self.manifest = Some(manifest);

        self.transcript.section("steps");
        Ok(())
    }

    /// Sleeps for `duration`, ending at once on Ctrl-C or SIGTERM: a pause at real speed
    /// can be minutes, with a key held.
    pub(crate) async fn sleep(&mut self, duration: Duration) -> Result<(), Abort> {
        self.check_cancel()?;
        let mut cancel = self.ctx.cancel.clone();
        let started = Instant::now();
        let slept = tokio::select! {
            () = tokio::time::sleep(duration) => Ok(()),
            () = cancelled(&mut cancel) => Err(Abort::Interrupted),
        };
        self.phone_time += started.elapsed();
        slept
    }

    /// Runs `work` unless Ctrl-C or SIGTERM comes first: a step that waits on the phone
    /// ends at once on cancel, as every wait and pause does.
    pub(crate) async fn until_cancelled<F: std::future::Future>(
        &mut self,
        work: F,
    ) -> Result<F::Output, Abort> {
        self.check_cancel()?;
        let mut cancel = self.ctx.cancel.clone();
        let started = Instant::now();
        let output = tokio::select! {
            output = work => Ok(output),
            () = cancelled(&mut cancel) => Err(Abort::Interrupted),
        };
        self.phone_time += started.elapsed();
        output
    }

    fn check_cancel(&self) -> Result<(), Abort> {
        if *self.ctx.cancel.borrow() {
            Err(Abort::Interrupted)
        } else {
            Ok(())
        }
    }

    /// Puts the phone into the given state through real means: the provisioning server's
    /// answers, the registrar's account state, power and the network-link relay.
    async fn arrange(
        &mut self,
        given: &Given,
        manifest: &Manifest,
        model: Model,
    ) -> Result<(), Abort> {
        let image = manifest.generation(&given.firmware).ok_or_else(|| {
            Abort::Config(format!(
                "no `{}` firmware for {model} in its manifest (generations: {})",
                given.firmware,
                manifest
                    .images
                    .iter()
                    .map(|i| i.generation.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        let password = match &given.admin_password {
            AdminPassword::Random => random_password(),
            AdminPassword::Literal(p) => p.clone(),
        };
        if given.admin_password == AdminPassword::Random {
            self.redactor.replace(password.clone(), "[PASSWORD]");
        }
        self.given_password = password.clone();
        let file_name = file_name(&image.rom);
        let mut account = BenchAccount {
            account: AccountState::Active,
            admin_password: password,
            provisioning_url: self.ctx.endpoints.provisioning_url(),
            firmware: Some(FirmwareOffer {
                file_name: file_name.clone(),
                path: image.rom.clone(),
            }),
            syslog: false,
        };

        self.baseline(&account).await?;

        self.transcript.section("given");
        if given.provisioning == ProvisioningUrl::Foreign {
            account.provisioning_url = self.ctx.endpoints.foreign_provisioning_url();
        }
        self.transcript.action(format!(
            "server: account active, admin password {}, firmware {} ({file_name}), provisioning URL {}",
            self.given_password,
            image.version,
            match given.provisioning {
                ProvisioningUrl::Intermedia => "Intermedia",
                ProvisioningUrl::Foreign => "foreign",
            }
        ));
        self.ctx
            .endpoints
            .accounts
            .set(&self.rig.bench.name, account.clone());
        self.power_cycle().await?;
        self.settle("registered with the account active").await?;

        if given.account != AccountState::Active {
            account.account = given.account;
            self.ctx
                .endpoints
                .accounts
                .set(&self.rig.bench.name, account);
            self.transcript
                .action(format!("server: account {}", account_words(given.account)));
            self.power_cycle().await?;
            self.settle("booted with the account changed").await?;
        }
        if given.network == LinkState::Down {
            self.rig.network(false).await?;
            self.transcript.action("network: cable pulled");
        }
        Ok(())
    }

    /// Brings the phone, whatever an earlier case left in its flash, to a known state: it
    /// holds the lab's provisioning URL, the given password and firmware, and registers.
    /// Not recorded: how many boots it takes depends on the past, not on the behaviour
    /// under test. A phone left on the foreign server is handed back by that server.
    async fn baseline(&mut self, account: &BenchAccount) -> Result<(), Abort> {
        let bench = self.rig.bench.name.clone();
        let accounts = &self.ctx.endpoints.accounts;
        accounts.set(&bench, account.clone());
        // An earlier case may have left the server unreachable for this phone.
        accounts.set_reachable(&bench, true);
        accounts.set_handback(&bench, Some(self.ctx.endpoints.provisioning_url()));
        let result = self.baseline_boots().await;
        accounts.set_handback(&bench, None);
        result
    }

    async fn baseline_boots(&mut self) -> Result<(), Abort> {
        const MAX_BOOTS: usize = 3;
        let mac_cfg = format!("/{}.cfg", self.rig.bench.mac.plain());
        if self.rig.bench.network.is_some() {
            self.rig.network(true).await?;
        }
        for _ in 0..MAX_BOOTS {
            self.rig.power(false).await?;
            self.sleep(self.ctx.scaled(POWER_OFF_DWELL_S)).await?;
            self.rig.power(true).await?;
            let (registered, seen) = self
                .collect_until(WaitFor::Register, self.ctx.timeout(SETTLE_TIMEOUT_S))
                .await?;
            let from_lab = seen.iter().any(|e| {
                matches!(e, EndpointEvent::Http { server: HttpServer::Provisioning, path, status: 200, .. } if *path == mac_cfg)
            });
            if registered && from_lab {
                self.transcript
                    .action("baseline: the phone provisioned by the lab's server and registered");
                return Ok(());
            }
        }
        Err(Abort::Lab(format!(
            "the phone did not reach the lab baseline in {MAX_BOOTS} boots (provisioned by the lab's server, then registered)"
        )))
    }

    /// Power off, the dwell, power on; each recorded.
    pub(crate) async fn power_cycle(&mut self) -> Result<(), Abort> {
        self.rig.power(false).await?;
        self.transcript.action("power: off");
        self.sleep(self.ctx.scaled(POWER_OFF_DWELL_S)).await?;
        self.rig.power(true).await?;
        self.transcript.action("power: on");
        Ok(())
    }

    /// Waits for the REGISTER that ends a boot. A phone that never gets there has not
    /// reached the given state: the case stops, and the transcript says where.
    async fn settle(&mut self, goal: &str) -> Result<(), Abort> {
        let timeout = self.ctx.timeout(SETTLE_TIMEOUT_S);
        self.transcript
            .action(format!("wait: {goal} (REGISTER answered)"));
        if !self.wait_for(WaitFor::Register, timeout).await? {
            self.transcript
                .action("  none: the phone did not reach the given state");
            return Err(Abort::Lab(format!(
                "given state not reached: no REGISTER within {timeout:?}"
            )));
        }
        Ok(())
    }

    async fn step(&mut self, number: usize, step: &Step) -> Result<(), Abort> {
        step.kind().run(self, number, step).await
    }

    /// A generation of the bench model's fixtures.
    pub(crate) fn image(&self, generation: &str) -> Result<ImageEntry, Abort> {
        let manifest = self.manifest.as_ref().expect("loaded before the steps");
        manifest.generation(generation).cloned().ok_or_else(|| {
            Abort::Config(format!(
                "no `{generation}` firmware for {} in its manifest (generations: {})",
                manifest.model,
                manifest
                    .images
                    .iter()
                    .map(|i| i.generation.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    }

    /// A fixture generation of `model`, which may be another model than the bench's: a
    /// recovery package downloaded for the wrong phone.
    pub(crate) fn image_of(&self, model: Model, generation: &str) -> Result<ImageEntry, Abort> {
        if model == self.rig.bench.model {
            return self.image(generation);
        }
        let manifest = Manifest::load(self.ctx.fixtures_dir, model)
            .map_err(|e| Abort::Config(e.to_string()))?;
        manifest.generation(generation).cloned().ok_or_else(|| {
            Abort::Config(format!(
                "no `{generation}` firmware for {model} in its manifest"
            ))
        })
    }

    /// Taps `key` for `real_ms` (scaled).
    pub(crate) async fn tap(&mut self, key: &Key, real_ms: f64) -> Result<(), Abort> {
        // The actuator holds the key for exactly what it is told; at least 1 ms.
        let hold_ms = ((real_ms * self.ctx.time_scale).round() as u64).max(1);
        self.rig.tap(key, hold_ms).await?;
        self.phone_time += Duration::from_millis(hold_ms);
        Ok(())
    }

    /// Writes every pending event of this bench under the current action until one matches
    /// `what`; `Ok(false)` when the timeout passed first.
    pub(crate) async fn wait_for(
        &mut self,
        what: WaitFor,
        timeout: Duration,
    ) -> Result<bool, Abort> {
        let (found, seen) = self.collect_until(what, timeout).await?;
        for event in &seen {
            self.transcript.event(event);
        }
        Ok(found)
    }

    /// A `wait` step: the event within `real_s` phone seconds, or proof that it did not
    /// come. The phone's time is up once the scaled timeout (at least
    /// `MIN_ABSENCE_WINDOW_S` scaled) has passed; the event is then called absent as soon as
    /// the phone has answered, on the wire, requests sent after that time
    /// (`liveness.rs`), or else when the wall-clock floor [`MIN_TIMEOUT`] has passed too.
    /// Events keep being collected while the phone is asked: one that arrives meanwhile is
    /// found, as ever.
    pub(crate) async fn wait_or_prove_absence(
        &mut self,
        what: WaitFor,
        real_s: f64,
    ) -> Result<bool, Abort> {
        let started = Instant::now();
        let floor = self.ctx.timeout(real_s);
        let phone_time = self.ctx.scaled(real_s.max(MIN_ABSENCE_WINDOW_S)).min(floor);
        let (found, mut seen) = self.collect_until(what, phone_time).await?;
        if !found && phone_time < floor {
            let web = std::net::SocketAddr::from((self.rig.bench.ip, self.rig.bench.web_port));
            let left = floor.saturating_sub(started.elapsed());
            let evidence = super::liveness::answers_in_turn(web, left);
            let (found_late, late) = self
                .collect_until_or(what, started + floor, Some(Box::pin(evidence)))
                .await?;
            seen.extend(late);
            for event in &seen {
                self.transcript.event(event);
            }
            return Ok(found_late);
        }
        for event in &seen {
            self.transcript.event(event);
        }
        Ok(found)
    }

    /// Every pending event of this bench until one matches `what` (included), and whether
    /// one did before the timeout.
    async fn collect_until(
        &mut self,
        what: WaitFor,
        timeout: Duration,
    ) -> Result<(bool, Vec<EndpointEvent>), Abort> {
        self.collect_until_or(what, Instant::now() + timeout, None)
            .await
    }

    /// As [`Self::collect_until`], up to `deadline`; `evidence`, when given, ends the wait
    /// as "not found" once it resolves `true` (a `false` only drops it: the deadline holds).
    async fn collect_until_or(
        &mut self,
        what: WaitFor,
        deadline: Instant,
        mut evidence: Option<
            std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + '_>>,
        >,
    ) -> Result<(bool, Vec<EndpointEvent>), Abort> {
        let started = Instant::now();
        let collected = self.collect_events(what, deadline, &mut evidence).await;
        self.phone_time += started.elapsed();
        collected
    }

    /// The loop of [`Self::collect_until_or`].
    async fn collect_events(
        &mut self,
        what: WaitFor,
        deadline: Instant,
        evidence: &mut Option<
            std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + '_>>,
        >,
    ) -> Result<(bool, Vec<EndpointEvent>), Abort> {
        let mut seen = Vec::new();
        let mut cancel = self.ctx.cancel.clone();
        loop {
            let proof = async {
                match evidence.as_mut() {
                    Some(proof) => proof.await,
                    None => std::future::pending().await,
                }
            };
            let next = tokio::select! {
                biased;
                r = self.events.recv() => Next::Event(r),
                () = cancelled(&mut cancel) => return Err(Abort::Interrupted),
                _ = tokio::time::sleep_until(deadline) => return Ok((false, seen)),
                proven = proof => Next::Evidence(proven),
            };
            let received = match next {
                Next::Event(received) => received,
                Next::Evidence(true) => return Ok((false, seen)),
                Next::Evidence(false) => {
                    *evidence = None;
                    continue;
                }
            };
            match received {
                Ok(tagged) => {
                    if tagged.bench.as_deref() != Some(self.rig.bench.name.as_str())
                        || self.is_unchanged_refresh(&tagged.event)
                    {
                        continue;
                    }
                    if let Some(fault) = tagged.event.lab_fault() {
                        return Err(Abort::Lab(fault));
                    }
                    let hit = what.matches(&tagged.event, &self.rig.bench.mac.plain());
                    if is_config_served(&tagged.event, &self.rig.bench.mac.plain()) {
                        self.config_unsettled_since = Some(Instant::now());
                    } else if matches!(tagged.event, EndpointEvent::Register { .. }) {
                        self.config_unsettled_since = None;
                    }
                    seen.push(tagged.event);
                    if hit {
                        return Ok((true, seen));
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    return Err(Abort::Lab(format!(
                        "event bus overflowed: {n} endpoint events lost"
                    )));
                }
                Err(RecvError::Closed) => return Err(Abort::Lab("the endpoints stopped".into())),
            }
        }
    }

    /// Whether `event` is a REGISTER refreshing the registration last seen (same Call-ID)
    /// and answered as it was. When a refresh comes is the phone's timer (half the expiry,
    /// in wall time), not its behaviour: one landing just before a power cut would end the
    /// next boot's wait for its REGISTER, or one after the last wait would add a line, at
    /// random. It neither enters the transcript nor ends a wait. A refresh answered
    /// otherwise (refused once the account was cancelled) is behaviour, and counts.
    fn is_unchanged_refresh(&self, event: &EndpointEvent) -> bool {
        let EndpointEvent::Register {
            call_id: Some(call_id),
            status,
            ..
        } = event
        else {
            return false;
        };
        self.rig.note_registration(call_id, *status)
    }

    /// Events that arrived after the last wait (a scenario that ends on an action); the
    /// first lab fault among them, if any.
    fn drain_pending(&mut self) -> Option<String> {
        let mut fault = None;
        while let Ok(tagged) = self.events.try_recv() {
            if tagged.bench.as_deref() == Some(self.rig.bench.name.as_str())
                && !self.is_unchanged_refresh(&tagged.event)
            {
                self.transcript.event(&tagged.event);
                fault = fault.or_else(|| tagged.event.lab_fault());
            }
        }
        fault
    }
}

/// What ended one turn of [`Case::collect_until_or`]'s wait.
enum Next {
    Event(Result<TaggedEvent, RecvError>),
    Evidence(bool),
}

pub(crate) fn account_words(account: AccountState) -> &'static str {
    match account {
        AccountState::Active => "active",
        AccountState::Cancelled => "cancelled",
        AccountState::V2 => "moved to the 2.0 platform",
    }
}

/// The name a fixture file is served under.
pub(crate) fn file_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A password a person could type on a phone keypad, unlike any default.
fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    (0..14)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}
