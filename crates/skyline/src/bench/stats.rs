//! What a run measures: latencies into HDR histograms, errors by kind, and
//! the final [`Report`] (a table for people, JSON for scripts).
//!
//! Latencies are recorded in nanoseconds into `hdrhistogram` histograms
//! (3 significant digits, 1 ns to 100 s). An HDR histogram keeps every
//! percentile within 0.1 % of the true value in fixed memory whatever the
//! number of samples, and merges cheaply, which sorting raw samples or a
//! fixed-bucket histogram would not. Workers batch their samples locally and
//! flush them under a lock every [`FLUSH_EVERY`] samples, so the lock is not
//! on the per-operation path.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;
use skyline_client::ClientError;

/// Samples a worker keeps before flushing them into the shared histogram.
const FLUSH_EVERY: usize = 256;
/// The largest latency recorded exactly: 100 s in nanoseconds (larger ones
/// are recorded as this).
const MAX_LATENCY_NS: u64 = 100_000_000_000;

/// Why one operation failed, grouped by `kind` in the report.
#[derive(Debug, Clone)]
pub struct Failure {
    /// A short, stable name: a status (`RATE_LIMITED`), `HTTP 429`,
    /// `closed 1008`, `io ConnectionRefused`, `request timeout`, …
    pub kind: String,
    /// The full message of the first such error, as an example.
    pub detail: String,
}

impl Failure {
    pub fn new(kind: impl Into<String>, detail: impl Into<String>) -> Self {
        Failure {
            kind: kind.into(),
            detail: detail.into(),
        }
    }

    /// The same failure, its kind prefixed with where it happened
    /// (`setup`, `close`, …) when that is not the measured operation.
    pub fn during(mut self, stage: &str) -> Self {
        self.kind = format!("{stage}: {}", self.kind);
        self
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        let kind = match &e {
            ClientError::Rpc(rpc) => rpc.status().as_str().to_owned(),
            ClientError::RateLimited => "HTTP 429".to_owned(),
            ClientError::UpgradeRefused { status } => format!("HTTP {status}"),
            ClientError::ConnectTimeout(_) => "connect timeout".to_owned(),
            ClientError::RequestTimeout(_) => "request timeout".to_owned(),
            ClientError::Closed { code, .. } => match code {
                Some(code) => format!("closed {}", code.0),
                None => "closed without a close frame".to_owned(),
            },
            ClientError::Io(io) => format!("io {:?}", io.kind()),
            ClientError::WebSocket(_) => "websocket".to_owned(),
            ClientError::ServerIdentityMismatch => "server identity mismatch".to_owned(),
            ClientError::HandshakeRefused { .. } => "BAD_HANDSHAKE".to_owned(),
            ClientError::Handshake(_) => "handshake".to_owned(),
            ClientError::Frame(_) => "undecryptable frame".to_owned(),
            ClientError::Protocol(_) => "protocol violation".to_owned(),
            ClientError::MessageTooBig { .. } => "message too big".to_owned(),
            ClientError::Unusable(_) => "connection unusable".to_owned(),
            ClientError::InvalidState(_) => "invalid state".to_owned(),
            ClientError::InvalidUrl(_) => "invalid url".to_owned(),
            ClientError::InvalidCertificate(_) | ClientError::Tls(_) => "tls".to_owned(),
            _ => "client error".to_owned(),
        };
        Failure::new(kind, e.to_string())
    }
}

/// Errors of one kind.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorCount {
    pub kind: String,
    pub count: u64,
    /// The first error of this kind, in full.
    pub example: String,
}

/// What every worker of a run adds to.
#[derive(Debug)]
pub struct Tally {
    /// Successful operations, counted as they happen (for the progress bar).
    pub ok: AtomicU64,
    /// Failed operations and failures around them, likewise.
    pub failed: AtomicU64,
    latency: Mutex<Histogram<u64>>,
    /// A second latency, of one step inside the operation (`session`: the
    /// start-session request alone, without connect and handshake).
    step_latency: Mutex<Histogram<u64>>,
    errors: Mutex<BTreeMap<String, ErrorCount>>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("valid histogram bounds")
}

/// A poisoned lock only means another worker panicked; the data is still
/// counts, so keep going.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Tally {
    pub fn new() -> Arc<Tally> {
        Arc::new(Tally {
            ok: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            latency: Mutex::new(histogram()),
            step_latency: Mutex::new(histogram()),
            errors: Mutex::new(BTreeMap::new()),
        })
    }

    /// Counts one failure. Never dropped: every error of a run is in the report.
    pub fn error(&self, failure: Failure) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let mut errors = lock(&self.errors);
        errors
            .entry(failure.kind.clone())
            .or_insert_with(|| ErrorCount {
                kind: failure.kind,
                count: 0,
                example: failure.detail,
            })
            .count += 1;
    }

    /// Errors by kind, most frequent first.
    pub fn errors(&self) -> Vec<ErrorCount> {
        let mut errors: Vec<ErrorCount> = lock(&self.errors).values().cloned().collect();
        errors.sort_by(|a, b| b.count.cmp(&a.count).then(a.kind.cmp(&b.kind)));
        errors
    }

    pub fn latency(&self) -> Histogram<u64> {
        lock(&self.latency).clone()
    }

    pub fn step_latency(&self) -> Histogram<u64> {
        lock(&self.step_latency).clone()
    }
}

/// One worker's samples on their way to the [`Tally`]. Flushes when full
/// and when dropped.
#[derive(Debug)]
pub struct Recorder {
    tally: Arc<Tally>,
    latencies: Vec<u64>,
    step_latencies: Vec<u64>,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos())
        .unwrap_or(u64::MAX)
        .clamp(1, MAX_LATENCY_NS)
}

impl Recorder {
    pub fn new(tally: Arc<Tally>) -> Self {
        Recorder {
            tally,
            latencies: Vec::with_capacity(FLUSH_EVERY),
            step_latencies: Vec::new(),
        }
    }

    /// One successful operation that took `latency`.
    pub fn ok(&mut self, latency: Duration) {
        self.tally.ok.fetch_add(1, Ordering::Relaxed);
        self.latencies.push(nanos(latency));
        if self.latencies.len() >= FLUSH_EVERY {
            self.flush();
        }
    }

    /// The latency of the step inside the last operation (see [`Tally`]).
    pub fn step(&mut self, latency: Duration) {
        self.step_latencies.push(nanos(latency));
        if self.step_latencies.len() >= FLUSH_EVERY {
            self.flush();
        }
    }

    pub fn error(&self, failure: Failure) {
        self.tally.error(failure);
    }

    pub fn flush(&mut self) {
        for (samples, histogram) in [
            (&mut self.latencies, &self.tally.latency),
            (&mut self.step_latencies, &self.tally.step_latency),
        ] {
            if samples.is_empty() {
                continue;
            }
            let mut histogram = lock(histogram);
            for ns in samples.drain(..) {
                histogram.saturating_record(ns);
            }
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Latency percentiles, in microseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Percentiles {
    pub samples: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Option<Percentiles> {
        if h.is_empty() {
            return None;
        }
        let us = |ns: u64| ns as f64 / 1_000.0;
        Some(Percentiles {
            samples: h.len(),
            mean: h.mean() / 1_000.0,
            p50: us(h.value_at_quantile(0.50)),
            p90: us(h.value_at_quantile(0.90)),
            p99: us(h.value_at_quantile(0.99)),
            p999: us(h.value_at_quantile(0.999)),
            max: us(h.max()),
        })
    }
}

/// The server's share of the run, from /proc.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerUsage {
    pub pid: u32,
    /// CPU time (user + system) the server used during the measured window.
    pub cpu_us: f64,
    /// `cpu_us` / successful operations.
    pub cpu_us_per_op: Option<f64>,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
    /// `idle`: (RSS with the sessions held − RSS before) / sessions held.
    pub rss_per_session_bytes: Option<f64>,
}

/// The error section of a report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Errors {
    pub total: u64,
    pub by_kind: Vec<ErrorCount>,
}

/// Everything a run found; printed as a table or, with `--json`, as JSON.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub scenario: &'static str,
    pub url: String,
    pub connections: usize,
    pub pipeline: usize,
    /// The open-loop target rate, if one was set.
    pub target_rate: Option<f64>,
    /// Bytes per echo message (echo scenarios).
    pub message_bytes: Option<usize>,
    /// The measured window: from the moment every connection was set up to
    /// the moment the last in-flight operation ended.
    pub elapsed_secs: f64,
    /// Successful operations in the window.
    pub ops: u64,
    /// `ops / elapsed_secs`.
    pub throughput: f64,
    /// Latency of one operation (µs).
    pub latency_us: Option<Percentiles>,
    /// What `step_latency_us` measures, when the scenario has a step.
    pub step: Option<&'static str>,
    pub step_latency_us: Option<Percentiles>,
    /// `idle`: sessions open when the server's memory was read.
    pub held_sessions: Option<u64>,
    /// `bind`: the rate of the first and the last bindings.
    pub bindings: Option<BindRates>,
    pub errors: Errors,
    pub server: Option<ServerUsage>,
    /// The load tool's own CPU time per successful operation (µs).
    pub client_cpu_us_per_op: Option<f64>,
    /// Notes on the run (e.g. why there were errors).
    pub notes: Vec<String>,
    /// `flood`: what the handshake flood did during the window.
    pub flood: Option<super::flood::FloodReport>,
}

/// How fast a `bind` run bound its first and its last devices.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BindRates {
    /// Bindings per measured span.
    pub span: usize,
    /// Bindings per second over the first `span`.
    pub first_per_sec: f64,
    /// Bindings per second over the last `span`.
    pub last_per_sec: f64,
    /// `last_per_sec / first_per_sec`: 1 when the Nth device costs what
    /// the first did.
    pub last_to_first: f64,
}

/// "123 us", "1.25 ms", "2.10 s".
struct Micros(f64);

impl fmt::Display for Micros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = self.0;
        if us < 1_000.0 {
            write!(f, "{us:.1} us")
        } else if us < 1_000_000.0 {
            write!(f, "{:.2} ms", us / 1_000.0)
        } else {
            write!(f, "{:.2} s", us / 1_000_000.0)
        }
    }
}

fn percentiles_line(p: &Percentiles) -> String {
    format!(
        "p50 {}   p90 {}   p99 {}   p99.9 {}   max {}   (mean {}, {} samples)",
        Micros(p.p50),
        Micros(p.p90),
        Micros(p.p99),
        Micros(p.p999),
        Micros(p.max),
        Micros(p.mean),
        p.samples
    )
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shape = format!("{} connections", self.connections);
        if self.pipeline > 1 {
            shape.push_str(&format!(", pipeline {}", self.pipeline));
        }
        if let Some(rate) = self.target_rate {
            shape.push_str(&format!(", target {rate:.0}/s"));
        }
        if let Some(bytes) = self.message_bytes {
            shape.push_str(&format!(", {bytes}-byte messages"));
        }
        writeln!(f, "{:<14}{} ({shape})", "scenario", self.scenario)?;
        writeln!(f, "{:<14}{}", "server", self.url)?;
        writeln!(f, "{:<14}{:.2} s", "elapsed", self.elapsed_secs)?;
        writeln!(f, "{:<14}{} OK", "operations", self.ops)?;
        writeln!(f, "{:<14}{:.0} ops/s", "throughput", self.throughput)?;
        if let Some(b) = &self.bindings {
            writeln!(
                f,
                "{:<14}first {}: {:.0}/s   last {}: {:.0}/s   (last/first {:.2})",
                "bindings", b.span, b.first_per_sec, b.span, b.last_per_sec, b.last_to_first
            )?;
        }
        match &self.latency_us {
            Some(p) => writeln!(f, "{:<14}{}", "latency", percentiles_line(p))?,
            None => writeln!(f, "{:<14}-", "latency")?,
        }
        if let (Some(step), Some(p)) = (self.step, &self.step_latency_us) {
            writeln!(f, "{:<14}{}", step, percentiles_line(p))?;
        }
        if let Some(held) = self.held_sessions {
            writeln!(f, "{:<14}{held}", "held")?;
        }
        if let Some(flood) = &self.flood {
            writeln!(f, "{:<14}{flood}", "flood")?;
        }
        if let Some(server) = &self.server {
            let per_op = server
                .cpu_us_per_op
                .map_or_else(|| "-".to_owned(), |us| format!("{us:.1} us/op"));
            writeln!(
                f,
                "{:<14}{per_op} ({:.0} ms in all, pid {})",
                "server CPU",
                server.cpu_us / 1_000.0,
                server.pid
            )?;
            write!(
                f,
                "{:<14}{} KiB -> {} KiB",
                "server RSS", server.rss_before_kib, server.rss_after_kib
            )?;
            match server.rss_per_session_bytes {
                Some(bytes) => writeln!(f, " ({bytes:.0} bytes per session)")?,
                None => writeln!(f)?,
            }
        }
        if let Some(us) = self.client_cpu_us_per_op {
            writeln!(f, "{:<14}{us:.1} us/op", "client CPU")?;
        }
        if self.errors.total == 0 {
            writeln!(f, "{:<14}none", "errors")?;
        } else {
            writeln!(f, "{:<14}{}", "errors", self.errors.total)?;
            for e in &self.errors.by_kind {
                writeln!(f, "  {:>8}  {:<28} e.g. {}", e.count, e.kind, e.example)?;
            }
        }
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_reach_the_histogram_and_errors_are_grouped() {
        let tally = Tally::new();
        {
            let mut recorder = Recorder::new(tally.clone());
            for us in 1..=1_000u64 {
                recorder.ok(Duration::from_micros(us));
            }
            recorder.error(Failure::new("HTTP 429", "first"));
            recorder.error(Failure::new("HTTP 429", "second"));
            recorder.error(Failure::new("closed 1008", "x").during("setup"));
        }
        let p = Percentiles::of(&tally.latency()).unwrap();
        assert_eq!(p.samples, 1_000);
        assert!((p.p50 - 500.0).abs() < 1.0, "{p:?}");
        assert!((p.p99 - 990.0).abs() < 1.0, "{p:?}");
        let errors = tally.errors();
        assert_eq!(errors[0].kind, "HTTP 429");
        assert_eq!(errors[0].count, 2);
        assert_eq!(errors[0].example, "first");
        assert_eq!(errors[1].kind, "setup: closed 1008");
        assert_eq!(tally.failed.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn client_errors_get_short_kinds() {
        let kind = |e: ClientError| Failure::from(e).kind;
        assert_eq!(kind(ClientError::RateLimited), "HTTP 429");
        assert_eq!(
            kind(ClientError::Closed {
                code: Some(skyline_client::CloseCode(1008)),
                reason: String::new()
            }),
            "closed 1008"
        );
        assert_eq!(
            kind(ClientError::Rpc(
                skyline_client::RpcError::from_status(skyline_client::Status::RateLimited, None)
                    .unwrap()
            )),
            "RATE_LIMITED"
        );
    }

    #[test]
    fn durations_print_in_a_readable_unit() {
        assert_eq!(Micros(85.25).to_string(), "85.2 us");
        assert_eq!(Micros(1_250.0).to_string(), "1.25 ms");
        assert_eq!(Micros(2_100_000.0).to_string(), "2.10 s");
    }
}
