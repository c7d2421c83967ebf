//! `flood`: the measured operations are `get-feature-toggles` on sessions
//! already open (as `toggles`), while other tasks flood the server with
//! handshakes from many source addresses (127.0.0.2 and up) for the whole
//! measured window. Comparing the toggles latency with a plain `toggles`
//! run shows whether a handshake flood starves sessions in progress; the
//! server's handshake budget and per-address limits are meant to keep it
//! from doing so. The flood's own outcome (handshakes completed, refused by
//! the server with HTTP 503 or 429, failed) is reported beside.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::target::Target;

/// Pause after a failed or refused attempt, so that one flooder does not
/// spin on a refusal.
const BACKOFF: Duration = Duration::from_millis(5);

/// What the flood did during the window.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FloodReport {
    /// Concurrent flooding tasks.
    pub connections: usize,
    /// Source addresses the flood came from.
    pub source_addrs: u32,
    /// Handshakes completed.
    pub handshakes: u64,
    /// Upgrades the server refused (HTTP 503 or 429).
    pub refused: u64,
    /// Other failures (timeouts, resets).
    pub failed: u64,
    /// Attempts per second, all outcomes.
    pub attempts_per_sec: f64,
    /// Handshakes completed per second.
    pub handshakes_per_sec: f64,
}

impl std::fmt::Display for FloodReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} tasks from {} addresses: {} handshakes ({:.0}/s), {} refused, {} failed \
             ({:.0} attempts/s)",
            self.connections,
            self.source_addrs,
            self.handshakes,
            self.handshakes_per_sec,
            self.refused,
            self.failed,
            self.attempts_per_sec
        )
    }
}

#[derive(Debug, Default)]
struct Counts {
    handshakes: AtomicU64,
    refused: AtomicU64,
    failed: AtomicU64,
}

/// A running flood; [`Flood::stop`] ends it and reports.
#[derive(Debug)]
pub struct Flood {
    stop: Arc<AtomicBool>,
    counts: Arc<Counts>,
    thread: Option<std::thread::JoinHandle<()>>,
    started: Instant,
    connections: usize,
    source_addrs: u32,
}

impl Flood {
    /// Starts `connections` tasks that connect, handshake and close in a
    /// loop through `target` (whose connections take its source addresses
    /// in turn).
    pub fn start(target: Arc<Target>, connections: usize, source_addrs: u32) -> Flood {
        let stop = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(Counts::default());
        let (flag, tally) = (stop.clone(), counts.clone());
        // Its own thread and runtime: the flood's client-side handshakes must
        // not delay the measured workers' scheduling in this process.
        let thread = std::thread::Builder::new()
            .name("bench-flood".into())
            .spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                runtime.block_on(flood(target, connections, flag, tally));
            })
            .ok();
        Flood {
            stop,
            counts,
            thread,
            started: Instant::now(),
            connections,
            source_addrs,
        }
    }

    /// Stops the flood (waiting up to `limit` for attempts in flight) and
    /// reports what it did.
    pub async fn stop(self, limit: Duration) -> FloodReport {
        let elapsed = self.started.elapsed().as_secs_f64().max(1e-9);
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread {
            // Attempts in flight end within their timeout; past `limit` the
            // thread is left to finish on its own.
            let joined = tokio::task::spawn_blocking(move || thread.join());
            let _ = tokio::time::timeout(limit, joined).await;
        }
        let handshakes = self.counts.handshakes.load(Ordering::Relaxed);
        let refused = self.counts.refused.load(Ordering::Relaxed);
        let failed = self.counts.failed.load(Ordering::Relaxed);
        FloodReport {
            connections: self.connections,
            source_addrs: self.source_addrs,
            handshakes,
            refused,
            failed,
            attempts_per_sec: (handshakes + refused + failed) as f64 / elapsed,
            handshakes_per_sec: handshakes as f64 / elapsed,
        }
    }
}

/// `connections` tasks that connect, handshake and close until `stop`.
async fn flood(
    target: Arc<Target>,
    connections: usize,
    stop: Arc<AtomicBool>,
    counts: Arc<Counts>,
) {
    let mut tasks = JoinSet::new();
    for _ in 0..connections {
        let (target, stop, counts) = (target.clone(), stop.clone(), counts.clone());
        tasks.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match target.client().await {
                    Ok(client) => {
                        counts.handshakes.fetch_add(1, Ordering::Relaxed);
                        drop(client);
                    }
                    Err(failure) => {
                        let refused = matches!(failure.kind.as_str(), "HTTP 503" | "HTTP 429");
                        let count = if refused {
                            &counts.refused
                        } else {
                            &counts.failed
                        };
                        count.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(BACKOFF).await;
                    }
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}
