//! A short-lived cache of each license's feature toggles, already encoded as
//! MessagePack, so `get-feature-toggles` costs no database read and no
//! encoding while an entry is fresh. Operator changes reach open sessions
//! within the configured time to live (0 switches the cache off).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Most licenses cached at once; past it the cache starts over.
const MAX_ENTRIES: usize = 100_000;

/// When a license's toggles were fetched, and their MessagePack encoding.
type Entry = (Instant, Arc<[u8]>);

/// License id → its cached toggles.
#[derive(Debug)]
pub struct ToggleCache {
    ttl: Duration,
    entries: Mutex<HashMap<i64, Entry>>,
}

impl ToggleCache {
    /// A cache whose entries live for `ttl`; zero disables caching.
    pub fn new(ttl: Duration) -> Self {
        ToggleCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The cached toggles of `license_id`, if fetched less than the time to
    /// live before `now`.
    pub fn get(&self, license_id: i64, now: Instant) -> Option<Arc<[u8]>> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(&license_id)
            .filter(|(at, _)| now.saturating_duration_since(*at) < self.ttl)
            .map(|(_, encoded)| encoded.clone())
    }

    /// Remembers the toggles of `license_id` fetched at `at`.
    pub fn put(&self, license_id: i64, at: Instant, encoded: Arc<[u8]>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(license_id, (at, encoded));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_after_the_ttl() {
        let cache = ToggleCache::new(Duration::from_secs(1));
        let t0 = Instant::now();
        cache.put(7, t0, Arc::from(&b"\x80"[..]));
        assert!(cache.get(7, t0 + Duration::from_millis(999)).is_some());
        assert!(cache.get(7, t0 + Duration::from_secs(1)).is_none());
        assert!(cache.get(8, t0).is_none());
    }

    #[test]
    fn zero_ttl_disables_the_cache() {
        let cache = ToggleCache::new(Duration::ZERO);
        let t0 = Instant::now();
        cache.put(7, t0, Arc::from(&b"\x80"[..]));
        assert!(cache.get(7, t0).is_none());
    }
}
