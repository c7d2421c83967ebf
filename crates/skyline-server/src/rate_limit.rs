//! Rate limits: token buckets keyed by client address (the RPC endpoint) or
//! by any other key, such as an admin token's id, with a bounded table. Time
//! comes in as an argument, so tests never sleep.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most addresses tracked at once; past it, full (idle) buckets are dropped.
const MAX_TRACKED: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// A token bucket per key (by default a client address): `capacity` tokens,
/// refilled at `capacity` per `period`. A capacity of 0 disables the limit.
#[derive(Debug)]
pub struct RateLimiter<K = IpAddr> {
    capacity: f64,
    per_second: f64,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// `capacity` events per `period` per key; 0 = unlimited.
    pub fn new(capacity: u32, period: Duration) -> Self {
        RateLimiter {
            capacity: f64::from(capacity),
            per_second: f64::from(capacity) / period.as_secs_f64().max(f64::MIN_POSITIVE),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Whether this limiter is switched off.
    pub fn is_off(&self) -> bool {
        self.capacity == 0.0
    }

    fn with_bucket<R>(&self, addr: K, now: Instant, f: impl FnOnce(&mut Bucket) -> R) -> R {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(&addr) {
            let (capacity, per_second) = (self.capacity, self.per_second);
            buckets.retain(|_, b| refilled(*b, now, capacity, per_second) < capacity);
        }
        let capacity = self.capacity;
        let bucket = buckets.entry(addr).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        bucket.tokens = refilled(*bucket, now, self.capacity, self.per_second);
        bucket.updated = now;
        f(bucket)
    }

    /// Takes one token for `addr`; false when the key is over its limit.
    pub fn try_acquire(&self, addr: K, now: Instant) -> bool {
        if self.is_off() {
            return true;
        }
        self.with_bucket(addr, now, |b| {
            if b.tokens >= 1.0 {
                b.tokens -= 1.0;
                true
            } else {
                false
            }
        })
    }

    /// Whether `addr` has a token left, without taking it.
    pub fn has_capacity(&self, addr: K, now: Instant) -> bool {
        self.is_off() || self.with_bucket(addr, now, |b| b.tokens >= 1.0)
    }

    /// Takes one token if there is one (records an event such as a failed key).
    pub fn record(&self, addr: K, now: Instant) {
        if !self.is_off() {
            self.with_bucket(addr, now, |b| b.tokens = (b.tokens - 1.0).max(0.0));
        }
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
}
