//! The one event loop of every ferrolb binary: watches wake a [`Notify`] (see
//! [`crate::reflect`]), and each wake-up runs one debounced, level-based pass over the cached
//! snapshot — pure logic, then writes started without waiting. A pass also runs at least every
//! `resync`, so a failed write is retried without an event. Used by the controller's Service
//! pass, its configuration-status pass and the speaker's plan.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// How passes are paced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    /// The wait between a wake-up and the pass it triggers, so a burst of events is one pass.
    pub debounce: Duration,
    /// A pass runs at least this often.
    pub resync: Duration,
}

impl Pacing {
    /// The wait before the next pass: the debounce, stretched to twice the last pass's
    /// duration so that on a huge cluster in a long burst passes take at most a third of a core.
    pub fn pause_after(&self, last_pass: Duration) -> Duration {
        self.debounce.max(last_pass.saturating_mul(2))
    }
}

/// Runs `pass` now and then after every wake-up of `notify` (or every `resync`), forever.
pub async fn run_passes<F, Fut>(notify: Arc<Notify>, pacing: Pacing, mut pass: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        let started = Instant::now();
        pass().await;
        let pause = pacing.pause_after(started.elapsed());
        tokio::select! {
            _ = notify.notified() => {}
            _ = tokio::time::sleep(pacing.resync) => {}
        }
        tokio::time::sleep(pause).await;
        // Events that came during the pause are seen by the pass that follows: drop their
        // wake-up so that a burst is one pass, not two.
        let _ = futures::FutureExt::now_or_never(notify.notified());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn the_pause_stretches_with_slow_passes_only() {
        let p = Pacing {
            debounce: Duration::from_millis(5),
            resync: Duration::from_secs(30),
        };
        assert_eq!(p.pause_after(Duration::from_micros(300)), p.debounce);
        assert_eq!(
            p.pause_after(Duration::from_millis(12)),
            Duration::from_millis(24)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn one_pass_at_start_one_per_burst_and_one_per_resync() {
        let notify = Arc::new(Notify::new());
        let count = Arc::new(AtomicUsize::new(0));
        let pacing = Pacing {
            debounce: Duration::from_millis(10),
            resync: Duration::from_secs(30),
        };
        let c = count.clone();
        let task = tokio::spawn(run_passes(notify.clone(), pacing, move || {
            let c = c.clone();
            async move {
                c.fetch_add(1, Ordering::SeqCst);
            }
        }));
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(count.load(Ordering::SeqCst), 1, "a pass at start");
        for _ in 0..5 {
            notify.notify_one();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(count.load(Ordering::SeqCst), 2, "a burst is one pass");
        tokio::time::sleep(Duration::from_secs(31)).await;
        assert_eq!(count.load(Ordering::SeqCst), 3, "resync");
        task.abort();
    }
}
