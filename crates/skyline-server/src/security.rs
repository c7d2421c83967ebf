//! [`SecurityLog`]: security events that can come in floods (malformed
//! handshakes, rate-limited upgrades, wrong license keys, admin requests with
//! a bad token) are counted per client address and written to the audit log
//! once per minute, one entry per address and kind, so that an attack leaves
//! a readable trail instead of a million rows.
//!
//! Counting is a mutex and a map lookup; only the flusher task writes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::domain::tokens::AppendAudit;
use crate::domain::{Actor, AuditAction, AuditEntry};
use crate::store::Store;

/// How often the counts are written.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(60);

/// Most addresses counted per interval; the rest are counted together.
const MAX_ADDRESSES: usize = 10_000;

#[derive(Debug, Default)]
struct Counts {
    /// When the current interval started, UNIX seconds.
    since: Option<i64>,
    by_address: HashMap<(AuditAction, IpAddr), u64>,
    /// Events from addresses past [`MAX_ADDRESSES`], per kind.
    others: HashMap<AuditAction, u64>,
}

/// Per-address counters of security events, flushed to the audit log.
pub struct SecurityLog {
    store: Store,
    clock: Arc<dyn Clock>,
    counts: Mutex<Counts>,
}

impl std::fmt::Debug for SecurityLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecurityLog")
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl SecurityLog {
    /// A log that writes to `store`, stamped by `clock`.
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        SecurityLog {
            store,
            clock,
            counts: Mutex::new(Counts::default()),
        }
    }

    /// Counts one event of `kind` (such as [`AuditAction::BadHandshakes`])
    /// from `client`.
    pub fn record(&self, kind: AuditAction, client: IpAddr) {
        let now = self.clock.now_unix();
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.since.get_or_insert(now);
        let key = (kind, client);
        if counts.by_address.len() >= MAX_ADDRESSES && !counts.by_address.contains_key(&key) {
            *counts.others.entry(kind).or_default() += 1;
        } else {
            *counts.by_address.entry(key).or_default() += 1;
        }
    }

    /// Writes the counts gathered so far as audit entries and starts over.
    pub async fn flush(&self) {
        let taken = {
            let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::take(&mut *counts)
        };
        let Some(since) = taken.since else {
            return;
        };
        let at = self.clock.now_unix();
        let span = chrono::DateTime::from_timestamp(since, 0)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_default();
        let mut entries: Vec<(String, AuditAction, u64)> = taken
            .by_address
            .into_iter()
            .map(|((kind, ip), n)| (ip.to_string(), kind, n))
            .collect();
        entries.extend(
            taken
                .others
                .into_iter()
                .map(|(kind, n)| ("other addresses".to_owned(), kind, n)),
        );
        entries.sort_by(|a, b| (&a.0, a.1.as_str()).cmp(&(&b.0, b.1.as_str())));
        for (who, kind, count) in entries {
            let entry = AuditEntry {
                actor: Actor { name: who, at },
                action: kind,
                product_id: None,
                license: None,
                detail: format!("{count} since {span}"),
            };
            let by = entry.actor.clone();
            if let Err(e) = self.store.execute(AppendAudit(entry), &by).await {
                tracing::warn!(error = %e, %kind, "writing a security event to the audit log failed");
            }
        }
    }

    /// Flushes every [`FLUSH_INTERVAL`] until `stop` is cancelled, then once
    /// more; the returned task ends after that last flush.
    pub fn spawn_flusher(self: &Arc<Self>, stop: CancellationToken) -> JoinHandle<()> {
        let log = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FLUSH_INTERVAL);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tick.tick() => log.flush().await,
                }
            }
            log.flush().await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::domain::AuditFilter;

    #[tokio::test]
    async fn events_are_counted_per_address_and_kind() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let store = crate::store::open(&url, None).await.unwrap();
        let clock = ManualClock::new(1_700_000_000);
        let log = SecurityLog::new(store.clone(), Arc::new(clock.clone()));
        let a: IpAddr = "203.0.113.7".parse().unwrap();
        let b: IpAddr = "198.51.100.1".parse().unwrap();
        for _ in 0..500 {
            log.record(AuditAction::BadHandshakes, a);
        }
        log.record(AuditAction::BadHandshakes, b);
        log.record(AuditAction::InvalidLicenseKeys, a);
        clock.advance(60);
        log.flush().await;
        log.flush().await; // nothing new: no entries
        let audit = store.list_audit(AuditFilter::default()).await.unwrap();
        let rows: Vec<(String, String, String)> = audit
            .iter()
            .map(|r| {
                (
                    r.actor.clone(),
                    r.action.as_str().to_owned(),
                    r.detail.clone(),
                )
            })
            .collect();
        assert_eq!(rows.len(), 3, "{rows:?}");
        assert!(rows.contains(&(
            "203.0.113.7".into(),
            "bad-handshakes".into(),
            "500 since 2023-11-14 22:13:20 UTC".into()
        )));
        assert!(rows
            .iter()
            .any(|r| r.0 == "198.51.100.1" && r.2.starts_with("1 since")));
        assert!(rows.iter().any(|r| r.1 == "invalid-license-keys"));
        store.close().await;
    }
}
