//! The I/O side of [`crate::lease`]: reads the Lease every retry period, performs the
//! [`Step`] the [`Elector`] decides (create / replace carrying the resourceVersion read, so two
//! candidates never both win), and publishes the outcome in a [`Leadership`] that writers ask
//! before every write. Leadership is a deadline, not a flag: it lapses by itself when renewals
//! stop succeeding, even if this task is stalled.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Api;
use kube::api::PostParams;
use tokio::sync::Notify;

use super::{Elector, Record, Step};

/// The shared answer to "may I write now?".
#[derive(Debug, Clone, Default)]
pub struct Leadership {
    until: Arc<Mutex<Option<Instant>>>,
    changed: Arc<Notify>,
    /// Set by [`release`]: leadership is never taken again by this process.
    stopped: Arc<AtomicBool>,
    always: bool,
}

impl Leadership {
    /// Leadership without election (`--leader-elect=false`): always the leader.
    pub fn always() -> Self {
        Self {
            always: true,
            ..Self::default()
        }
    }

    /// Whether this process may write now.
    pub fn is_leader(&self) -> bool {
        self.always || self.until().is_some_and(|u| Instant::now() < u)
    }

    fn until(&self) -> Option<Instant> {
        self.until.lock().map(|g| *g).unwrap_or(None)
    }

    fn set(&self, until: Option<Instant>) {
        let until = until.filter(|_| !self.stopped.load(Ordering::SeqCst));
        let was = self.is_leader();
        if let Ok(mut g) = self.until.lock() {
            *g = until;
        }
        if was != self.is_leader() {
            self.changed.notify_waiters();
        }
    }

    /// Waits for the next change of leadership written by [`run`] (a lapse by deadline while
    /// [`run`] is stalled is not announced: ask [`Leadership::is_leader`] before writing).
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Waits until this process leads.
    pub async fn acquired(&self) {
        loop {
            let changed = self.changed.notified();
            if self.is_leader() {
                return;
            }
            changed.await;
        }
    }
}

fn record(lease: &Lease) -> Record {
    let spec = lease.spec.clone().unwrap_or_default();
    Record {
        holder: spec.holder_identity,
        duration_seconds: spec.lease_duration_seconds,
        renew_time: spec.renew_time.map(|t| t.0.to_string()),
        transitions: spec.lease_transitions.unwrap_or(0),
    }
}

/// The Lease after `step` by `elector` (None for [`Step::Follow`]).
fn written(elector: &Elector, name: &str, current: Option<&Lease>, step: &Step) -> Option<Lease> {
    let now = MicroTime(k8s_openapi::jiff::Timestamp::now());
    let duration = i32::try_from(elector.timings().lease_duration.as_secs()).unwrap_or(i32::MAX);
    let mut lease = current.cloned().unwrap_or_else(|| Lease {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        spec: None,
    });
    lease.metadata.managed_fields = None;
    let mut spec = lease.spec.take().unwrap_or_default();
    match step {
        Step::Follow { .. } => return None,
        Step::Renew => {}
        Step::Create | Step::Acquire { .. } => {
            spec = LeaseSpec {
                acquire_time: Some(now.clone()),
                lease_transitions: Some(match step {
                    Step::Acquire { transitions } => *transitions,
                    _ => 0,
                }),
                ..LeaseSpec::default()
            };
        }
    }
    spec.holder_identity = Some(elector.identity().to_owned());
    spec.lease_duration_seconds = Some(duration);
    spec.renew_time = Some(now);
    lease.spec = Some(spec);
    Some(lease)
}

/// One round: read, decide, write; the step taken, or the error of the read or write.
async fn round(api: &Api<Lease>, name: &str, elector: &mut Elector) -> Result<Step, kube::Error> {
    let current = api.get_opt(name).await?;
    let started = Instant::now();
    let step = elector.step(current.as_ref().map(record).as_ref(), started);
    let Some(lease) = written(elector, name, current.as_ref(), &step) else {
        return Ok(step);
    };
    let result = match step {
        Step::Create => api.create(&PostParams::default(), &lease).await,
        _ => api.replace(name, &PostParams::default(), &lease).await,
    };
    match result {
        Ok(_) => {
            elector.succeeded(started);
            Ok(step)
        }
        Err(e) => {
            elector.failed();
            Err(e)
        }
    }
}

/// Gives the Lease up on shutdown (client-go's `ReleaseOnCancel`): stops writing first
/// (`leadership` lapses at once), then, if `identity` still holds Lease `name`, clears its
/// holder so that another candidate takes over at its next look instead of after the lease
/// duration. A lost race (409) means another holds it already.
pub async fn release(
    api: &Api<Lease>,
    name: &str,
    identity: &str,
    leadership: &Leadership,
) -> Result<bool, kube::Error> {
    leadership.stopped.store(true, Ordering::SeqCst);
    leadership.set(None);
    let Some(mut lease) = api.get_opt(name).await? else {
        return Ok(false);
    };
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    if spec.holder_identity.as_deref() != Some(identity) {
        return Ok(false);
    }
    spec.holder_identity = None;
    spec.lease_duration_seconds = Some(1);
    spec.renew_time = Some(MicroTime(k8s_openapi::jiff::Timestamp::now()));
    lease.metadata.managed_fields = None;
    api.replace(name, &PostParams::default(), &lease).await?;
    Ok(true)
}

/// Runs the election for Lease `name` in `api`'s namespace until [`release`], publishing into
/// `leadership`.
pub async fn run(api: Api<Lease>, name: String, mut elector: Elector, leadership: Leadership) {
    let retry = elector.timings().retry_period;
    let mut was_leader = false;
    while !leadership.stopped.load(Ordering::SeqCst) {
        match round(&api, &name, &mut elector).await {
            Ok(Step::Follow { holder }) => tracing::debug!(lease = %name, %holder, "following"),
            Ok(_) => {}
            Err(e) => tracing::warn!(lease = %name, error = %e, "leader election round failed"),
        }
        leadership.set(elector.leader_until());
        let leader = elector.is_leader(Instant::now());
        if leader != was_leader {
            tracing::info!(lease = %name, identity = elector.identity(), leader, "leadership changed");
            was_leader = leader;
        }
        tokio::time::sleep(retry).await;
    }
}
