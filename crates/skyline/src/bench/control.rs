//! The phases of a run and what keeps it bounded.
//!
//! Every worker sets up its connection ([`Phase::Setup`]), then waits; the
//! measured window opens for all at once ([`Phase::Measure`]), so that setup
//! costs (connects, handshakes, `start-session`) stay out of the figures of
//! the steady-state scenarios. Operations are started only with a
//! [`Control::ticket`], which runs out at the deadline or after `--requests`
//! operations. After the window, [`Phase::Teardown`] lets workers close their
//! connections.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::time::Instant;

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Setup,
    Measure,
    Teardown,
}

/// Shared by the run's driver and its workers.
#[derive(Debug)]
pub struct Control {
    phase: watch::Sender<Phase>,
    stop: AtomicBool,
    max_ops: Option<u64>,
    tickets: AtomicU64,
    ready: AtomicUsize,
    measured: AtomicUsize,
    /// Signalled when the last worker is done measuring.
    all_measured: Notify,
    /// When the last worker was done measuring, in nanoseconds after the
    /// window opened.
    last_done_ns: AtomicU64,
    workers: usize,
    window: OnceLock<(Instant, Instant)>,
    /// Open loop: each worker starts one operation per this interval.
    interval: Option<Duration>,
}

impl Control {
    /// `rate`: operations per second in all, shared by `workers`.
    pub fn new(max_ops: Option<u64>, rate: Option<f64>, workers: usize) -> Control {
        Control {
            phase: watch::Sender::new(Phase::Setup),
            stop: AtomicBool::new(false),
            max_ops,
            tickets: AtomicU64::new(0),
            ready: AtomicUsize::new(0),
            measured: AtomicUsize::new(0),
            all_measured: Notify::new(),
            last_done_ns: AtomicU64::new(0),
            workers,
            window: OnceLock::new(),
            interval: rate.map(|r| Duration::from_secs_f64(workers as f64 / r)),
        }
    }

    /// A worker finished its setup.
    pub fn ready(&self) {
        self.ready.fetch_add(1, Ordering::Relaxed);
    }

    pub fn ready_count(&self) -> usize {
        self.ready.load(Ordering::Relaxed)
    }

    /// Waits until the run reaches `phase`.
    pub async fn until(&self, phase: Phase) {
        let mut watching = self.phase.subscribe();
        // The sender lives in `self`, so this cannot fail while we wait.
        let _ = watching.wait_for(|p| *p >= phase).await;
    }

    /// Opens the measured window, to close after `duration`.
    pub fn open_window(&self, duration: Duration) -> Instant {
        let start = Instant::now();
        let _ = self.window.set((start, start + duration));
        self.phase.send_replace(Phase::Measure);
        start
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.window.get().map(|(_, deadline)| *deadline)
    }

    /// No more operations are started from now on.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Whether operations have run out (stopped, past the deadline, or
    /// every `--requests` ticket taken).
    pub fn stopping(&self) -> bool {
        if self.stop.load(Ordering::Relaxed) {
            return true;
        }
        if self.deadline().is_some_and(|d| Instant::now() >= d) {
            self.stop();
            return true;
        }
        false
    }

    /// Permission to start one more operation, and its number (0, 1, …);
    /// `None` once the run is over.
    pub fn ticket(&self) -> Option<u64> {
        if self.stopping() {
            return None;
        }
        let n = self.tickets.fetch_add(1, Ordering::Relaxed);
        match self.max_ops {
            Some(max) if n >= max => {
                self.stop();
                None
            }
            _ => Some(n),
        }
    }

    /// Operations started so far.
    pub fn started(&self) -> u64 {
        let n = self.tickets.load(Ordering::Relaxed);
        self.max_ops.map_or(n, |max| n.min(max))
    }

    /// A worker has no more operations in flight.
    pub fn measured(&self) {
        if let Some((start, _)) = self.window.get() {
            let done = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
            self.last_done_ns.fetch_max(done, Ordering::Relaxed);
        }
        if self.measured.fetch_add(1, Ordering::AcqRel) + 1 == self.workers {
            self.all_measured.notify_one();
        }
    }

    /// Waits at most `limit` for every worker to be done measuring.
    pub async fn wait_measured(&self, limit: Duration) {
        if self.measured_count() < self.workers {
            let _ = tokio::time::timeout(limit, self.all_measured.notified()).await;
        }
    }

    /// The measured window: from its opening to the moment the last worker
    /// was done (or now, if one is still busy).
    pub fn window_length(&self) -> Duration {
        match self.window.get() {
            None => Duration::ZERO,
            Some((start, _)) if self.measured_count() < self.workers => start.elapsed(),
            Some(_) => Duration::from_nanos(self.last_done_ns.load(Ordering::Relaxed)),
        }
    }

    pub fn measured_count(&self) -> usize {
        self.measured.load(Ordering::Acquire)
    }

    /// Lets the workers close their connections.
    pub fn teardown(&self) {
        self.stop();
        self.phase.send_replace(Phase::Teardown);
    }

    /// The schedule of worker `worker` of `workers`.
    pub fn pacer(&self, worker: usize, workers: usize) -> Pacer {
        let next = match (self.interval, self.window.get()) {
            (Some(interval), Some((start, _))) => {
                // Workers are staggered evenly over one interval.
                Some(*start + interval.mul_f64(worker as f64 / workers.max(1) as f64))
            }
            _ => None,
        };
        Pacer {
            next,
            interval: self.interval.unwrap_or_default(),
        }
    }
}

/// When a worker's next operation is due.
#[derive(Debug)]
pub struct Pacer {
    next: Option<Instant>,
    interval: Duration,
}

impl Pacer {
    /// Closed loop: now. Open loop: waits until the next operation is due
    /// and returns when it was due, the start of its latency (an operation
    /// that starts late because the previous one ran long is charged the
    /// delay, so a slow server cannot hide it).
    pub async fn due(&mut self) -> Instant {
        let Some(next) = self.next else {
            return Instant::now();
        };
        tokio::time::sleep_until(next).await;
        self.next = Some(next + self.interval);
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tickets_run_out_after_max_ops() {
        let control = Control::new(Some(3), None, 1);
        control.open_window(Duration::from_secs(60));
        let tickets: Vec<_> = std::iter::from_fn(|| control.ticket()).take(10).collect();
        assert_eq!(tickets, [0, 1, 2]);
        assert!(control.stopping());
        assert_eq!(control.started(), 3);
    }

    #[tokio::test]
    async fn tickets_run_out_at_the_deadline() {
        let open = Control::new(None, None, 1);
        open.open_window(Duration::from_secs(3_600));
        assert!(open.ticket().is_some());
        let over = Control::new(None, None, 1);
        over.open_window(Duration::ZERO);
        assert!(over.ticket().is_none());
        assert!(over.stopping());
    }

    #[tokio::test]
    async fn paced_workers_are_due_at_the_rate() {
        let control = Control::new(None, Some(1_000.0), 2);
        let start = control.open_window(Duration::from_secs(60));
        let mut second = control.pacer(1, 2);
        // 1000/s over 2 workers: each every 2 ms, the second 1 ms later.
        // `due` answers when the operation was due, not when it woke up.
        assert_eq!(second.due().await - start, Duration::from_millis(1));
        assert_eq!(second.due().await - start, Duration::from_millis(3));
        let mut closed = Control::new(None, None, 1).pacer(0, 1);
        let before = Instant::now();
        assert!(closed.due().await >= before);
    }

    #[tokio::test]
    async fn workers_wait_for_the_phase() {
        let control = std::sync::Arc::new(Control::new(None, None, 1));
        let waiting = tokio::spawn({
            let control = control.clone();
            async move { control.until(Phase::Teardown).await }
        });
        control.open_window(Duration::from_secs(1));
        assert!(!waiting.is_finished());
        control.teardown();
        waiting.await.unwrap();
        assert!(control.stopping());
    }
}
