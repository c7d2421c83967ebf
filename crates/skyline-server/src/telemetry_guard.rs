//! What keeps telemetry from filling the disk or the writer's queue
//! ([`TelemetryLimits`]): a bound on one event's stored size, per-license
//! quotas on events and stored bytes, a bound on events waiting for their
//! commit, and a low-disk watermark below which telemetry is refused while
//! licensing (which writes little) goes on.
//!
//! Quotas are kept in this process's memory: with several nodes, each node
//! applies them to what it receives.

use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::TelemetryLimits;
use crate::limits::Limit;
use crate::rate_limit::RateLimiter;

/// How long a free-space reading is trusted.
const DISK_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Why an event was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TelemetryRefusal {
    /// Larger than [`TelemetryLimits::max_event_bytes`] once stored
    /// (`BAD_REQUEST` naming `data`).
    TooLarge {
        /// Its size as stored.
        stored: usize,
        /// The bound.
        max: usize,
    },
    /// Over a quota, the queue bound or the disk watermark (`RATE_LIMITED`).
    Limited(Limit),
}

/// The telemetry limits of one server.
#[derive(Debug)]
pub(crate) struct TelemetryGuard {
    max_event_bytes: usize,
    events: RateLimiter<i64>,
    bytes: RateLimiter<i64>,
    queue: Option<Arc<Semaphore>>,
    disk: Option<DiskWatch>,
}

/// What an admitted event holds until its commit: its place in the queue.
#[derive(Debug)]
pub(crate) struct Queued(#[allow(dead_code)] Option<OwnedSemaphorePermit>);

impl TelemetryGuard {
    pub(crate) fn new(limits: &TelemetryLimits) -> Self {
        let hour = Duration::from_secs(3600);
        TelemetryGuard {
            max_event_bytes: limits.max_event_bytes,
            events: RateLimiter::new(limits.events_per_hour, hour),
            bytes: RateLimiter::with_capacity(limits.bytes_per_hour, hour),
            queue: (limits.queue > 0).then(|| Arc::new(Semaphore::new(limits.queue))),
            disk: match (&limits.disk_path, limits.min_free_disk_bytes) {
                (Some(path), min) if min > 0 => Some(DiskWatch::new(path.clone(), min)),
                _ => None,
            },
        }
    }

    /// Whether `license_id` may store an event of `stored` bytes now; on
    /// success, hold the returned value until the event is committed.
    pub(crate) fn admit(
        &self,
        license_id: i64,
        stored: usize,
        now: Instant,
    ) -> Result<Queued, TelemetryRefusal> {
        if self.max_event_bytes > 0 && stored > self.max_event_bytes {
            return Err(TelemetryRefusal::TooLarge {
                stored,
                max: self.max_event_bytes,
            });
        }
        if let Some(disk) = &self.disk {
            if !disk.has_room(now) {
                return Err(TelemetryRefusal::Limited(Limit::TelemetryDisk));
            }
        }
        let permit = match &self.queue {
            None => None,
            Some(queue) => Some(
                queue
                    .clone()
                    .try_acquire_owned()
                    .map_err(|_| TelemetryRefusal::Limited(Limit::TelemetryQueue))?,
            ),
        };
        if !self.events.try_acquire(license_id, now) {
            return Err(TelemetryRefusal::Limited(Limit::TelemetryEvents));
        }
        if !self.bytes.try_take(license_id, stored as u64, now) {
            self.events.refund(license_id, now);
            return Err(TelemetryRefusal::Limited(Limit::TelemetryBytes));
        }
        Ok(Queued(permit))
    }
}

/// Free space of the file system holding `path`, read at most once per
/// [`DISK_CHECK_INTERVAL`].
#[derive(Debug)]
struct DiskWatch {
    path: PathBuf,
    min_free: u64,
    last: Mutex<Option<(Instant, bool)>>,
}

impl DiskWatch {
    fn new(path: PathBuf, min_free: u64) -> Self {
        DiskWatch {
            path,
            min_free,
            last: Mutex::new(None),
        }
    }

    fn has_room(&self, now: Instant) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, room)) = *last {
            if now.saturating_duration_since(at) < DISK_CHECK_INTERVAL {
                return room;
            }
        }
        let room = match free_bytes(&self.path) {
            Ok(free) => {
                if free < self.min_free {
                    tracing::warn!(
                        path = %self.path.display(),
                        free,
                        watermark = self.min_free,
                        "free disk below the telemetry watermark: telemetry is refused"
                    );
                }
                free >= self.min_free
            }
            Err(e) => {
                // Not knowing is no reason to refuse: the database will
                // report a full disk itself.
                tracing::debug!(path = %self.path.display(), error = %e, "cannot read free disk space");
                true
            }
        };
        *last = Some((now, room));
        room
    }
}

/// Bytes available to this (unprivileged) process on `path`'s file system.
pub(crate) fn free_bytes(path: &std::path::Path) -> io::Result<u64> {
    let stat = rustix::fs::statvfs(path).map_err(io::Error::from)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// The size of `value` as JSON text, without building the text.
pub(crate) fn json_len(value: &serde_json::Value) -> usize {
    struct Count(usize);
    impl io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> TelemetryLimits {
        TelemetryLimits {
            events_per_hour: 3,
            bytes_per_hour: 1000,
            max_event_bytes: 600,
            queue: 2,
            min_free_disk_bytes: 0,
            disk_path: None,
        }
    }

    #[test]
    fn quotas_are_per_license_and_refusals_named() {
        let guard = TelemetryGuard::new(&limits());
        let t0 = Instant::now();
        assert_eq!(
            guard.admit(1, 601, t0).unwrap_err(),
            TelemetryRefusal::TooLarge {
                stored: 601,
                max: 600
            }
        );
        let held = guard.admit(1, 500, t0).unwrap();
        drop(held);
        drop(guard.admit(1, 400, t0).unwrap());
        assert_eq!(
            guard.admit(1, 200, t0).unwrap_err(),
            TelemetryRefusal::Limited(Limit::TelemetryBytes)
        );
        drop(guard.admit(1, 100, t0).unwrap());
        assert_eq!(
            guard.admit(1, 1, t0).unwrap_err(),
            TelemetryRefusal::Limited(Limit::TelemetryEvents)
        );
        // Another license has its own quota.
        assert!(guard.admit(2, 100, t0).is_ok());
    }

    #[test]
    fn the_queue_is_bounded_and_frees_on_commit() {
        let guard = TelemetryGuard::new(&TelemetryLimits {
            events_per_hour: 0,
            bytes_per_hour: 0,
            ..limits()
        });
        let t0 = Instant::now();
        let a = guard.admit(1, 10, t0).unwrap();
        let _b = guard.admit(2, 10, t0).unwrap();
        assert_eq!(
            guard.admit(3, 10, t0).unwrap_err(),
            TelemetryRefusal::Limited(Limit::TelemetryQueue)
        );
        drop(a);
        assert!(guard.admit(3, 10, t0).is_ok());
    }

    #[test]
    fn below_the_disk_watermark_telemetry_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let guard = TelemetryGuard::new(&TelemetryLimits {
            min_free_disk_bytes: u64::MAX,
            disk_path: Some(dir.path().to_owned()),
            ..limits()
        });
        assert_eq!(
            guard.admit(1, 10, Instant::now()).unwrap_err(),
            TelemetryRefusal::Limited(Limit::TelemetryDisk)
        );
        assert!(free_bytes(dir.path()).unwrap() > 0);
    }

    #[test]
    fn json_len_is_the_length_of_the_text() {
        let value = serde_json::json!({"a": "\u{0}\u{0}", "b": [1, 2.5, null]});
        assert_eq!(json_len(&value), value.to_string().len());
    }
}
