//! Rate limits: token buckets keyed by client address (the RPC endpoint, by
//! [`address_key`](crate::limits::address_key): an IPv6 /64 is one client)
//! or by any other key, such as an admin token's id or a license. Time comes
//! in as an argument, so tests never sleep.
//!
//! The table is split into shards, each behind its own lock, and each shard
//! keeps two generations of buckets: when the current one is full, it
//! becomes the old one and the old one is dropped. So the table is bounded
//! (at most twice [`MAX_TRACKED`] buckets) and no lookup ever sweeps it; a
//! bucket forgotten that way was idle for a whole generation and starts full
//! again, which is what an idle bucket refills to anyway.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::limits::{shard_of, SHARDS};

/// Most keys tracked in the current generation, over all shards.
const MAX_TRACKED: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

#[derive(Debug)]
struct Shard<K> {
    current: HashMap<K, Bucket>,
    old: HashMap<K, Bucket>,
}

/// A token bucket per key (by default a client address): `capacity` tokens,
/// refilled at `capacity` per `period`. A capacity of 0 disables the limit.
#[derive(Debug)]
pub struct RateLimiter<K = IpAddr> {
    capacity: f64,
    per_second: f64,
    per_shard: usize,
    hasher: RandomState,
    shards: Vec<Mutex<Shard<K>>>,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// `capacity` events per `period` per key; 0 = unlimited.
    pub fn new(capacity: u32, period: Duration) -> Self {
        Self::with_capacity(u64::from(capacity), period)
    }

    /// [`new`](Self::new) with a capacity past `u32` (bytes, say).
    pub fn with_capacity(capacity: u64, period: Duration) -> Self {
        RateLimiter {
            capacity: capacity as f64,
            per_second: capacity as f64 / period.as_secs_f64().max(f64::MIN_POSITIVE),
            per_shard: MAX_TRACKED.div_ceil(SHARDS),
            hasher: RandomState::new(),
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        current: HashMap::new(),
                        old: HashMap::new(),
                    })
                })
                .collect(),
        }
    }

    /// Whether this limiter is switched off.
    pub fn is_off(&self) -> bool {
        self.capacity == 0.0
    }

    fn with_bucket<R>(&self, key: K, now: Instant, f: impl FnOnce(&mut Bucket) -> R) -> R {
        let mut shard = self.shards[shard_of(&key, &self.hasher)]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let shard = &mut *shard;
        if !shard.current.contains_key(&key) {
            let bucket = shard.old.remove(&key).unwrap_or(Bucket {
                tokens: self.capacity,
                updated: now,
            });
            if shard.current.len() >= self.per_shard {
                shard.old = std::mem::take(&mut shard.current);
            }
            shard.current.insert(key.clone(), bucket);
        }
        let bucket = shard.current.get_mut(&key).expect("inserted above");
        bucket.tokens = refilled(*bucket, now, self.capacity, self.per_second);
        bucket.updated = now;
        f(bucket)
    }

    /// Takes one token for `key`; false when the key is over its limit.
    pub fn try_acquire(&self, key: K, now: Instant) -> bool {
        self.try_take(key, 1, now)
    }

    /// Takes `amount` tokens for `key` at once, or none; false when it does
    /// not have that many. An amount over the capacity is never granted.
    pub fn try_take(&self, key: K, amount: u64, now: Instant) -> bool {
        if self.is_off() {
            return true;
        }
        let amount = amount as f64;
        self.with_bucket(key, now, |b| {
            if b.tokens >= amount {
                b.tokens -= amount;
                true
            } else {
                false
            }
        })
    }

    /// Gives back one token taken by [`try_acquire`](Self::try_acquire)
    /// for an event that turned out not to count.
    pub fn refund(&self, key: K, now: Instant) {
        if !self.is_off() {
            let capacity = self.capacity;
            self.with_bucket(key, now, |b| b.tokens = (b.tokens + 1.0).min(capacity));
        }
    }

    /// Whether `key` has a token left, without taking it.
    pub fn has_capacity(&self, key: K, now: Instant) -> bool {
        self.is_off() || self.with_bucket(key, now, |b| b.tokens >= 1.0)
    }

    /// Takes one token if there is one (records an event such as a failed key).
    pub fn record(&self, key: K, now: Instant) {
        if !self.is_off() {
            self.with_bucket(key, now, |b| b.tokens = (b.tokens - 1.0).max(0.0));
        }
    }

    /// Keys tracked now, both generations (for tests).
    pub fn tracked(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let s = s.lock().unwrap_or_else(|e| e.into_inner());
                s.current.len() + s.old.len()
            })
            .sum()
    }
}

fn refilled(b: Bucket, now: Instant, capacity: f64, per_second: f64) -> f64 {
    let elapsed = now.saturating_duration_since(b.updated).as_secs_f64();
    (b.tokens + elapsed * per_second).min(capacity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_each_address_separately_and_refills() {
        let limiter = RateLimiter::new(2, Duration::from_secs(1));
        let t0 = Instant::now();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(limiter.try_acquire(a, t0));
        assert!(limiter.try_acquire(a, t0));
        assert!(!limiter.try_acquire(a, t0));
        assert!(
            limiter.try_acquire(b, t0),
            "another address is still served"
        );
        assert!(limiter.try_acquire(a, t0 + Duration::from_millis(500)));
        assert!(!limiter.try_acquire(a, t0 + Duration::from_millis(500)));
    }

    #[test]
    fn any_key_type_works() {
        let limiter: RateLimiter<String> = RateLimiter::new(1, Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(limiter.try_acquire("token-a".to_owned(), t0));
        assert!(!limiter.try_acquire("token-a".to_owned(), t0));
        assert!(limiter.try_acquire("token-b".to_owned(), t0));
    }

    #[test]
    fn zero_means_off() {
        let limiter = RateLimiter::new(0, Duration::from_secs(1));
        let a: IpAddr = "::1".parse().unwrap();
        assert!((0..1000).all(|_| limiter.try_acquire(a, Instant::now())));
    }

    #[test]
    fn failures_are_recorded_then_checked() {
        let limiter = RateLimiter::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert!(limiter.has_capacity(a, t0));
            limiter.record(a, t0);
        }
        assert!(!limiter.has_capacity(a, t0));
        assert!(limiter.has_capacity(a, t0 + Duration::from_secs(20)));
    }

    #[test]
    fn the_table_stays_bounded_without_sweeping() {
        let limiter = RateLimiter::new(1, Duration::from_secs(3600));
        let t0 = Instant::now();
        for n in 0..(3 * MAX_TRACKED as u32) {
            limiter.try_acquire(IpAddr::from(n.to_be_bytes()), t0);
        }
        assert!(limiter.tracked() <= 2 * MAX_TRACKED + SHARDS);
        // A key used recently is still limited.
        let recent = IpAddr::from((3 * MAX_TRACKED as u32 - 1).to_be_bytes());
        assert!(!limiter.try_acquire(recent, t0));
    }

    #[test]
    fn amounts_are_taken_whole_and_tokens_refunded() {
        let limiter: RateLimiter<i64> = RateLimiter::with_capacity(100, Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(limiter.try_take(7, 60, t0));
        assert!(!limiter.try_take(7, 60, t0), "only 40 left");
        assert!(limiter.try_take(7, 40, t0));
        assert!(
            !limiter.try_take(8, 101, t0),
            "never more than the capacity"
        );
        let keys = RateLimiter::new(1, Duration::from_secs(60));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(keys.try_acquire(a, t0));
        assert!(!keys.try_acquire(a, t0));
        keys.refund(a, t0);
        assert!(keys.try_acquire(a, t0));
    }
}
