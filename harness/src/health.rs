//! The health check a bench must pass after a lab fault before it runs another case: its
//! devices answer (reopened when they were replugged), and a power cycle brings its phone
//! to fetch its config from the lab's provisioning server. That proves the relay, the
//! phone's boot, its network and the lab's server in one go, as a real boot does.

use std::time::Duration;

use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::Instant;

use crate::endpoints::{BenchAccount, EndpointEvent, HttpServer, TaggedEvent};
use crate::lab::FaultPolicy;
use crate::outcome::FaultClass;
use crate::rack::{BenchRig, Rack, RigError};
use crate::scenario::AccountState;
use crate::scenario::engine::{EngineContext, MIN_TIMEOUT};

/// How many power cycles the check tries: a phone may miss one boot's provisioning (a DHCP
/// answer lost, a relay that bounced) without being broken.
pub const HEALTH_CHECK_BOOTS: u32 = 2;

/// How long the phone stays unpowered in a power cycle (real seconds, scaled), as the
/// scenarios' power cycles: long enough for its supply to drain.
const POWER_OFF_DWELL_S: f64 = 5.0;

/// The admin password provisioned when the bench has no account yet: the factory one, so
/// the check leaves nothing a person would not expect on the phone.
const FALLBACK_ADMIN_PASSWORD: &str = "admin";

/// Why a bench is not healthy; the message is what the run reports for it.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    /// A device of the bench does not answer (a lost port was opened again once).
    #[error("its devices do not answer (a lost port is opened again once): {0}")]
    Devices(RigError),
    /// Power cycles did not bring the phone to the lab's provisioning server.
    #[error(
        "the phone did not fetch its config {path} from the lab's provisioning server within \
         {timeout_s:.1} s of any of {boots} power cycles: is it hung in boot, is its power \
         supply or network cable (or switch port) down?"
    )]
    NoProvisioning {
        /// The MAC config path waited for.
        path: String,
        /// The wait per power cycle, scaled.
        timeout_s: f64,
        /// How many power cycles were tried.
        boots: u32,
    },
    /// The event bus dropped events: the fetch may have been among them.
    #[error("{0} endpoint events were lost during the health check (the host is overloaded)")]
    EventsLost(u64),
    /// The endpoints went away mid-check.
    #[error("the endpoints stopped during the health check")]
    EndpointsStopped,
    /// Ctrl-C.
    #[error("interrupted")]
    Interrupted,
}

/// Checks the bench of `rig` after a lab fault. On return its power is on (the phone ran
/// the check's boot) or whatever the failing step left; the caller makes it safe at the end.
///
/// A bench that fails is marked bad beside its lease (an interrupted check proves nothing):
/// later runs skip it until someone enables it or it passes `harness lab check --bench`.
pub async fn check(
    ctx: &EngineContext<'_>,
    rack: &Rack,
    rig: &BenchRig,
    policy: &FaultPolicy,
) -> Result<(), HealthError> {
    let result = check_bench(ctx, rack, rig, policy).await;
    if let Err(failure) = &result
        && !matches!(failure, HealthError::Interrupted)
        && let Some(dir) = rig.lock_dir()
    {
        let by = format!("health check of pid {}", std::process::id());
        let reason = format!("failed its health check: {failure}");
        if let Err(e) = crate::safety::service::mark(
            dir,
            &rig.bench.name,
            crate::safety::service::OutOfService::Bad,
            &reason,
            &by,
        ) {
            tracing::error!(bench = %rig.bench.name, "cannot mark the bench bad: {e}");
        }
    }
    result
}

async fn check_bench(
    ctx: &EngineContext<'_>,
    rack: &Rack,
    rig: &BenchRig,
    policy: &FaultPolicy,
) -> Result<(), HealthError> {
    if *ctx.cancel.borrow() {
        return Err(HealthError::Interrupted);
    }
    restore_devices(rack, rig).await?;
    let bench = rig.bench.name.as_str();
    let accounts = &ctx.endpoints.accounts;
    let before = accounts.get(bench);
    let lab_url = ctx.endpoints.provisioning_url();
    // A plain active account without firmware: the phone provisions and keeps its image,
    // whatever the failed case had arranged. A phone left on the foreign server is handed
    // back, as the engine's baseline does.
    accounts.set(
        bench,
        BenchAccount {
            account: AccountState::Active,
            admin_password: before.as_ref().map_or_else(
                || FALLBACK_ADMIN_PASSWORD.to_string(),
                |a| a.admin_password.clone(),
            ),
            provisioning_url: lab_url.clone(),
            firmware: None,
            syslog: false,
        },
    );
    accounts.set_handback(bench, Some(lab_url));
    // A case that made the server unreachable for this phone ended early: the check needs it.
    accounts.set_reachable(bench, true);
    let result = power_cycles(ctx, rig, policy).await;
    accounts.set_handback(bench, None);
    match before {
        Some(account) => accounts.set(bench, account),
        None => {
            accounts.remove(bench);
        }
    }
    result
}

/// Puts every device of the bench in the check's start state (power off, cable connected,
/// no key pressed). A device whose port died is opened again once: a replugged board is a
/// new device on the same stable path. A bench sharing the device may have reopened it
/// already, so the action is tried again whatever the reopening said.
async fn restore_devices(rack: &Rack, rig: &BenchRig) -> Result<(), HealthError> {
    let bench = &rig.bench;
    if let Err(lost) = rig.power(false).await
        && lost.class() == FaultClass::LabFault
    {
        tracing::warn!(bench = %bench.name, board = %bench.power.board,
            "reopening the power relay board: {lost}");
        let reopened = rack.reopen_board(&bench.power.board).await;
        after_reopen(rig.power(false).await, reopened)?;
    }
    if let Some(network) = &bench.network
        && let Err(lost) = rig.network(true).await
        && lost.class() == FaultClass::LabFault
    {
        tracing::warn!(bench = %bench.name, board = %network.board,
            "reopening the network relay board: {lost}");
        let reopened = rack.reopen_board(&network.board).await;
        after_reopen(rig.network(true).await, reopened)?;
    }
    if let Err(lost) = rig.release_keys().await
        && lost.class() == FaultClass::LabFault
    {
        tracing::warn!(bench = %bench.name, actuator = %bench.actuator,
            "reopening the actuator: {lost}");
        let reopened = rack.reopen_actuator(&bench.actuator).await;
        after_reopen(rig.release_keys().await, reopened)?;
    }
    // Whatever failed for another reason than a lost device fails here.
    rig.power(false).await.map_err(HealthError::Devices)?;
    if bench.network.is_some() {
        rig.network(true).await.map_err(HealthError::Devices)?;
    }
    rig.release_keys().await.map_err(HealthError::Devices)?;
    Ok(())
}

/// The outcome of an action tried again after reopening its device: when it still fails,
/// the reopening's error says more (the device is missing) than the action's.
fn after_reopen(
    action: Result<(), RigError>,
    reopened: Result<(), RigError>,
) -> Result<(), HealthError> {
    match (action, reopened) {
        (Ok(()), _) => Ok(()),
        (Err(_), Err(reopen)) => Err(HealthError::Devices(reopen)),
        (Err(action), Ok(())) => Err(HealthError::Devices(action)),
    }
}

async fn power_cycles(
    ctx: &EngineContext<'_>,
    rig: &BenchRig,
    policy: &FaultPolicy,
) -> Result<(), HealthError> {
    let bench = rig.bench.name.as_str();
    let path = format!("/{}.cfg", rig.bench.mac.plain());
    let timeout = scaled(ctx.time_scale, policy.health_check_timeout_s as f64).max(MIN_TIMEOUT);
    for boot in 1..=HEALTH_CHECK_BOOTS {
        tracing::warn!(bench = %bench,
            "health check: power cycle {boot} of {HEALTH_CHECK_BOOTS}, waiting up to {timeout:?} for {path}");
        rig.power(false).await.map_err(HealthError::Devices)?;
        // Subscribed with the phone off: nothing of its earlier boot can count.
        let mut events = ctx.endpoints.bus.subscribe();
        tokio::time::sleep(scaled(ctx.time_scale, POWER_OFF_DWELL_S)).await;
        rig.power(true).await.map_err(HealthError::Devices)?;
        if config_fetched(ctx, &mut events, bench, &path, timeout).await? {
            tracing::info!(bench = %bench, "health check passed: the phone fetched {path}");
            return Ok(());
        }
    }
    Err(HealthError::NoProvisioning {
        path,
        timeout_s: timeout.as_secs_f64(),
        boots: HEALTH_CHECK_BOOTS,
    })
}

/// Whether `bench`'s phone asked the lab's provisioning server for `path` within `timeout`.
async fn config_fetched(
    ctx: &EngineContext<'_>,
    events: &mut broadcast::Receiver<TaggedEvent>,
    bench: &str,
    path: &str,
    timeout: Duration,
) -> Result<bool, HealthError> {
    let deadline = Instant::now() + timeout;
    let mut cancel = ctx.cancel.clone();
    loop {
        let received = tokio::select! {
            r = events.recv() => r,
            _ = tokio::time::sleep_until(deadline) => return Ok(false),
            () = crate::scenario::engine::cancelled(&mut cancel) => return Err(HealthError::Interrupted),
        };
        match received {
            Ok(tagged) if tagged.bench.as_deref() == Some(bench) => {
                if is_config_fetch(&tagged.event, path) {
                    return Ok(true);
                }
            }
            Ok(_) => {}
            Err(RecvError::Lagged(n)) => return Err(HealthError::EventsLost(n)),
            Err(RecvError::Closed) => return Err(HealthError::EndpointsStopped),
        }
    }
}

/// The phone's request for its MAC config on the lab's own provisioning server. Any
/// answer counts: the request alone proves the phone booted and reached the lab.
fn is_config_fetch(event: &EndpointEvent, mac_cfg: &str) -> bool {
    matches!(
        event,
        EndpointEvent::Http { server: HttpServer::Provisioning, path, .. } if path == mac_cfg
    )
}

fn scaled(time_scale: f64, real_s: f64) -> Duration {
    Duration::from_secs_f64((real_s * time_scale).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(server: HttpServer, path: &str) -> EndpointEvent {
        EndpointEvent::Http {
            server,
            client: "127.0.0.46:5060".parse().unwrap(),
            method: "GET".into(),
            path: path.into(),
            user_agent: None,
            status: 404,
            bytes: 0,
            note: None,
        }
    }

    #[test]
    fn only_the_mac_config_on_the_lab_server_counts() {
        let path = "/0015654aa937.cfg";
        assert!(is_config_fetch(&http(HttpServer::Provisioning, path), path));
        assert!(!is_config_fetch(&http(HttpServer::Foreign, path), path));
        assert!(!is_config_fetch(
            &http(HttpServer::Provisioning, "/y000000000028.cfg"),
            path
        ));
        assert!(!is_config_fetch(
            &http(HttpServer::Provisioning, "/autop/0015654aa937.cfg"),
            path
        ));
    }

    #[test]
    fn the_reason_tells_an_operator_where_to_look() {
        let error = HealthError::NoProvisioning {
            path: "/0015654aa937.cfg".into(),
            timeout_s: 3.0,
            boots: 2,
        };
        assert_eq!(
            error.to_string(),
            "the phone did not fetch its config /0015654aa937.cfg from the lab's provisioning \
             server within 3.0 s of any of 2 power cycles: is it hung in boot, is its power \
             supply or network cable (or switch port) down?"
        );
    }
}
