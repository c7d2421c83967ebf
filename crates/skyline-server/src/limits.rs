//! What protects the server from hostile peers, besides the per-address
//! token buckets of [`crate::rate_limit`]: the address a limit is keyed by
//! (an IPv6 /64 counts as one client), concurrent connections per address,
//! a server-wide handshake budget, the HTTP limits of both listeners, and
//! [`Refusals`], the one place every refusal by a limit is counted.
//!
//! Nothing here sleeps or reads the wall clock: time comes in as `now`.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The key every per-address limit uses for `ip`: an IPv4 address as is (an
/// IPv4-mapped IPv6 address as its IPv4 address), an IPv6 address reduced to
/// its /64 prefix, since one subscriber is given a whole /64.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

/// Every limit that can refuse a peer, by the name `/metrics` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// Handshakes per second from one address (HTTP 429 at the upgrade).
    HandshakesPerAddress,
    /// The server-wide handshake budget (HTTP 503 at the upgrade).
    HandshakeBudget,
    /// WebSocket sessions at once (HTTP 503 at the upgrade).
    Connections,
    /// WebSocket sessions at once from one address (HTTP 503 at the upgrade).
    ConnectionsPerAddress,
    /// HTTP connections at once on a listener (closed at accept).
    HttpConnections,
    /// Request headers not read in time (connection closed).
    HttpHeaderTimeout,
    /// Failed license keys per minute from one address (`RATE_LIMITED`).
    FailedKeys,
    /// No `start-session` within the handshake deadline (close 1008).
    StartSessionTimeout,
    /// A peer that does not read what it is sent (connection dropped).
    WriteTimeout,
    /// Frames on one connection under one session key (close 1008).
    FramesPerConnection,
    /// Telemetry events per license (`RATE_LIMITED`).
    TelemetryEvents,
    /// Telemetry bytes per license (`RATE_LIMITED`).
    TelemetryBytes,
    /// One telemetry event too large once stored (`BAD_REQUEST`).
    TelemetryEventSize,
    /// Telemetry events waiting for their commit (`RATE_LIMITED`).
    TelemetryQueue,
    /// Free disk below the watermark (`RATE_LIMITED`).
    TelemetryDisk,
}

impl Limit {
    /// Every limit, in a stable order.
    pub const ALL: [Limit; 15] = [
        Limit::HandshakesPerAddress,
        Limit::HandshakeBudget,
        Limit::Connections,
        Limit::ConnectionsPerAddress,
        Limit::HttpConnections,
        Limit::HttpHeaderTimeout,
        Limit::FailedKeys,
        Limit::StartSessionTimeout,
        Limit::WriteTimeout,
        Limit::FramesPerConnection,
        Limit::TelemetryEvents,
        Limit::TelemetryBytes,
        Limit::TelemetryEventSize,
        Limit::TelemetryQueue,
        Limit::TelemetryDisk,
    ];

    /// The stable name (a metric label value), snake case.
    pub fn name(self) -> &'static str {
        match self {
            Limit::HandshakesPerAddress => "handshakes_per_address",
            Limit::HandshakeBudget => "handshake_budget",
            Limit::Connections => "connections",
            Limit::ConnectionsPerAddress => "connections_per_address",
            Limit::HttpConnections => "http_connections",
            Limit::HttpHeaderTimeout => "http_header_timeout",
            Limit::FailedKeys => "failed_keys",
            Limit::StartSessionTimeout => "start_session_timeout",
            Limit::WriteTimeout => "write_timeout",
            Limit::FramesPerConnection => "frames_per_connection",
            Limit::TelemetryEvents => "telemetry_events",
            Limit::TelemetryBytes => "telemetry_bytes",
            Limit::TelemetryEventSize => "telemetry_event_size",
            Limit::TelemetryQueue => "telemetry_queue",
            Limit::TelemetryDisk => "telemetry_disk",
        }
    }

    fn index(self) -> usize {
        Limit::ALL
            .iter()
            .position(|l| *l == self)
            .unwrap_or_default()
    }
}

/// How many times each [`Limit`] refused a peer since the process started.
/// Shared by the RPC and admin listeners (through
/// [`Services`](crate::Services)); lock-free.
#[derive(Debug, Default)]
pub struct Refusals {
    counts: [AtomicU64; Limit::ALL.len()],
}

impl Refusals {
    /// Counts one refusal by `limit`.
    pub fn count(&self, limit: Limit) {
        self.counts[limit.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// The refusals by `limit` so far.
    pub fn get(&self, limit: Limit) -> u64 {
        self.counts[limit.index()].load(Ordering::Relaxed)
    }

    /// Every limit with its count, in [`Limit::ALL`] order.
    pub fn snapshot(&self) -> Vec<(Limit, u64)> {
        Limit::ALL.iter().map(|l| (*l, self.get(*l))).collect()
    }
}

/// Shards of the per-address tables: a lookup locks one of them only.
pub(crate) const SHARDS: usize = 64;

/// The shard of `key`, by a hash fixed for the process.
pub(crate) fn shard_of<K: Hash>(
    key: &K,
    hasher: &std::collections::hash_map::RandomState,
) -> usize {
    (hasher.hash_one(key) as usize) % SHARDS
}

/// Concurrent connections per address (see [`address_key`]); a slot is
/// held by an [`AddressSlot`] and given back when it drops. The table only
/// holds addresses with a connection open, so it is bounded by the
/// connection caps; each shard is locked for one map operation.
#[derive(Debug)]
pub struct AddressSlots {
    max: u32,
    hasher: std::collections::hash_map::RandomState,
    shards: Vec<Mutex<HashMap<IpAddr, u32>>>,
}

/// One connection's place in [`AddressSlots`].
#[derive(Debug)]
pub struct AddressSlot {
    slots: Arc<AddressSlots>,
    key: IpAddr,
}

impl AddressSlots {
    /// At most `max` at once per address; 0 = unlimited.
    pub fn new(max: u32) -> Arc<Self> {
        Arc::new(AddressSlots {
            max,
            hasher: Default::default(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        })
    }

    /// Takes a slot for `ip`; `None` when its address is at the cap.
    pub fn try_take(self: &Arc<Self>, ip: IpAddr) -> Option<AddressSlot> {
        let key = address_key(ip);
        if self.max != 0 {
            let mut shard = self.shards[shard_of(&key, &self.hasher)]
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let count = shard.entry(key).or_insert(0);
            if *count >= self.max {
                return None;
            }
            *count += 1;
        }
        Some(AddressSlot {
            slots: self.clone(),
            key,
        })
    }

    /// Connections open from `ip`'s address.
    pub fn open(&self, ip: IpAddr) -> u32 {
        let key = address_key(ip);
        let shard = self.shards[shard_of(&key, &self.hasher)]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        shard.get(&key).copied().unwrap_or(0)
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        if self.slots.max == 0 {
            return;
        }
        let mut shard = self.slots.shards[shard_of(&self.key, &self.slots.hasher)]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(count) = shard.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                shard.remove(&self.key);
            }
        }
    }
}

/// A server-wide token bucket: `per_second` tokens a second, bursting to
/// one second's worth. A rate of 0 is unlimited.
#[derive(Debug)]
pub struct GlobalBudget {
    per_second: f64,
    state: Mutex<(f64, Option<Instant>)>,
}

impl GlobalBudget {
    /// `per_second` events a second for the whole server; 0 = unlimited.
    pub fn new(per_second: u32) -> Self {
        GlobalBudget {
            per_second: f64::from(per_second),
            state: Mutex::new((f64::from(per_second), None)),
        }
    }

    /// Takes one token; false when the budget is spent for now.
    pub fn try_acquire(&self, now: Instant) -> bool {
        if self.per_second == 0.0 {
            return true;
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (tokens, updated) = &mut *state;
        if let Some(then) = *updated {
            let elapsed = now.saturating_duration_since(then).as_secs_f64();
            *tokens = (*tokens + elapsed * self.per_second).min(self.per_second);
        }
        *updated = Some(now);
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The HTTP limits of a listener (the RPC one and the admin one), applied
/// by [`crate::http`]'s accept loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// Time from accepting a connection to having read its first request's
    /// headers in full; then the connection is closed. Zero = off.
    pub header_timeout: Duration,
    /// Time an idle keep-alive connection waits for its next request's
    /// headers in full; then it is closed. Zero = off.
    pub keep_alive_timeout: Duration,
    /// Largest request head (request line and headers) in bytes; a larger
    /// one is answered 431 and the connection closed.
    pub max_header_bytes: usize,
    /// Most HTTP connections open at once on the listener, not counting
    /// connections already upgraded to WebSocket (those count against
    /// `max_connections`); past it a new connection is closed at once.
    /// 0 = unlimited.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(60),
            max_header_bytes: 16 * 1024,
            max_connections: 10_000,
        }
    }
}

/// The smallest head limit hyper's parser can work with.
pub const MIN_HEADER_BYTES: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_addresses_of_one_64_are_one_client() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        assert_eq!(address_key(a), "2001:db8:1:2::".parse::<IpAddr>().unwrap());
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(address_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(address_key(v4), v4);
    }

    #[test]
    fn address_slots_cap_each_address_and_come_back() {
        let slots = AddressSlots::new(2);
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let a_neighbour: IpAddr = "2001:db8::2".parse().unwrap();
        let b: IpAddr = "192.0.2.1".parse().unwrap();
        let first = slots.try_take(a).unwrap();
        let _second = slots.try_take(a_neighbour).unwrap();
        assert!(slots.try_take(a).is_none(), "the /64 is at its cap");
        assert!(slots.try_take(b).is_some(), "another address is not");
        drop(first);
        assert_eq!(slots.open(a), 1);
        assert!(slots.try_take(a).is_some());
        let unlimited = AddressSlots::new(0);
        let held: Vec<_> = (0..100).map(|_| unlimited.try_take(a).unwrap()).collect();
        assert_eq!(held.len(), 100);
    }

    #[test]
    fn address_slots_forget_addresses_with_nothing_open() {
        let slots = AddressSlots::new(5);
        for n in 0..1000u32 {
            let ip = IpAddr::from(n.to_be_bytes());
            drop(slots.try_take(ip));
        }
        let held: usize = slots.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert_eq!(held, 0);
    }

    #[test]
    fn the_global_budget_refills_by_the_second() {
        let budget = GlobalBudget::new(3);
        let t0 = Instant::now();
        assert!((0..3).all(|_| budget.try_acquire(t0)));
        assert!(!budget.try_acquire(t0));
        assert!(budget.try_acquire(t0 + Duration::from_millis(400)));
        assert!(!budget.try_acquire(t0 + Duration::from_millis(400)));
        let off = GlobalBudget::new(0);
        assert!((0..10_000).all(|_| off.try_acquire(t0)));
    }

    #[test]
    fn refusals_are_counted_per_limit_with_stable_names() {
        let refusals = Refusals::default();
        refusals.count(Limit::TelemetryQueue);
        refusals.count(Limit::TelemetryQueue);
        refusals.count(Limit::FailedKeys);
        assert_eq!(refusals.get(Limit::TelemetryQueue), 2);
        assert_eq!(refusals.get(Limit::FailedKeys), 1);
        assert_eq!(refusals.get(Limit::Connections), 0);
        let names: std::collections::HashSet<_> = Limit::ALL.iter().map(|l| l.name()).collect();
        assert_eq!(names.len(), Limit::ALL.len());
        assert_eq!(refusals.snapshot().len(), Limit::ALL.len());
    }
}
