//! The workers of each scenario. One worker drives one connection at a time
//! (for `idle`, it opens sessions one after the other and holds them all).
//!
//! Two shapes:
//! - one-shot operations, each on a new connection: `handshake`, `session`,
//!   `idle` (here) and `echo-connect` ([`super::echo`]);
//! - a window of `--pipeline` requests in flight on a held connection,
//!   reconnecting after a fatal error: `toggles`, `telemetry` (here, through
//!   [`RpcOpener`]) and `echo-baseline`, `echo-sealed` ([`super::echo`]), all
//!   through [`windowed`].
//!
//! Every failure is counted, by kind: failed operations; requests lost in
//! flight when their connection died (`abandoned`); failed setups,
//! reconnects and closes, each under its own prefix.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use skyline_client::{Client, TelemetryEvent, Value};
use skyline_protocol::methods::{GET_FEATURE_TOGGLES, SEND_TELEMETRY_EVENT};
use tokio::time::Instant;

use super::control::{Control, Phase};
use super::keys::Keys;
use super::stats::{Failure, Recorder, Tally};
use super::target::Target;

/// Pause after a failed connection attempt, so that a dead server is not
/// hammered in a tight loop.
const BACKOFF: Duration = Duration::from_millis(20);

/// What every worker of a run shares.
#[derive(Debug)]
pub struct Ctx {
    pub control: Arc<Control>,
    pub tally: Arc<Tally>,
    pub target: Target,
    /// The run's keys, for the scenarios that hold license sessions.
    pub keys: Option<Keys>,
    /// Workers in the run.
    pub workers: usize,
    pub pipeline: usize,
    /// The bytes of each echo message.
    pub message: Vec<u8>,
    /// `bind`: the next device number, and when each binding was answered.
    pub bindings: Bindings,
}

/// Devices bound by a `bind` run and when each was answered.
#[derive(Debug, Default)]
pub struct Bindings {
    next_device: std::sync::atomic::AtomicU64,
    answered: std::sync::Mutex<Vec<Instant>>,
}

impl Bindings {
    /// A device number no operation of this run used before.
    fn device(&self) -> u64 {
        self.next_device
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    fn answered(&self, at: Instant) {
        if let Ok(mut answered) = self.answered.lock() {
            answered.push(at);
        }
    }

    /// Bindings per second over the first and the last `span` answers, in
    /// the order they came: `None` with fewer than `2 * span` answers.
    pub fn first_and_last_rates(&self, span: usize) -> Option<(f64, f64)> {
        let mut answered = self.answered.lock().ok()?.clone();
        answered.sort();
        let n = answered.len();
        if span < 2 || n < 2 * span {
            return None;
        }
        let rate = |from: Instant, to: Instant| {
            (span - 1) as f64 / to.duration_since(from).as_secs_f64().max(1e-9)
        };
        Some((
            rate(answered[0], answered[span - 1]),
            rate(answered[n - span], answered[n - 1]),
        ))
    }
}

impl Ctx {
    fn keys(&self) -> Result<&Keys, Failure> {
        self.keys
            .as_ref()
            .ok_or_else(|| Failure::new("no keys", "the run has no license keys"))
    }

    /// Connects, handshakes and starts a session for key `key` on device
    /// `device`; on success, `last_login` is what to report next time.
    async fn session(
        &self,
        key: usize,
        device: u64,
        last_login: &mut Option<i64>,
    ) -> Result<Client, Failure> {
        let request = self.keys()?.request(key, device, *last_login);
        let mut client = self.target.client().await?;
        let started = client.start_session(request).await?;
        *last_login = Some(started.last_login_to_persist);
        Ok(client)
    }
}

/// Closes a client after its operation; a failed close is counted apart.
async fn close_client(client: Client, recorder: &Recorder) {
    if let Err(e) = client.close().await {
        recorder.error(Failure::from(e).during("close"));
    }
}

/// Setup done; waits for the measured window.
async fn start(ctx: &Ctx) {
    ctx.control.ready();
    ctx.control.until(Phase::Measure).await;
}

/// Measuring done; waits for the teardown.
async fn finish(ctx: &Ctx, recorder: &mut Recorder) {
    recorder.flush();
    ctx.control.measured();
    ctx.control.until(Phase::Teardown).await;
}

/// `handshake`: connect, handshake, close.
pub async fn handshake(ctx: Arc<Ctx>, worker: usize) {
    let mut recorder = Recorder::new(ctx.tally.clone());
    start(&ctx).await;
    let mut pacer = ctx.control.pacer(worker, ctx.workers);
    while ctx.control.ticket().is_some() {
        let due = pacer.due().await;
        match ctx.target.client().await {
            Ok(client) => {
                recorder.ok(due.elapsed());
                close_client(client, &recorder).await;
            }
            Err(failure) => {
                recorder.error(failure);
                tokio::time::sleep(BACKOFF).await;
            }
        }
    }
    finish(&ctx, &mut recorder).await;
}

/// `session`: connect, handshake, start-session, close. Worker `w` of `C`
/// uses keys `w, w + C, w + 2C, …` in turn (or key `w mod keys` when there
/// are fewer keys than workers), always as device `w`, and reports each
/// key's last login from its previous start.
pub async fn session(ctx: Arc<Ctx>, worker: usize) {
    let mut recorder = Recorder::new(ctx.tally.clone());
    let key_count = ctx.keys.as_ref().map_or(1, Keys::len).max(1);
    let mine: Vec<usize> = if key_count >= ctx.workers {
        (worker..key_count).step_by(ctx.workers).collect()
    } else {
        vec![worker % key_count]
    };
    let mut last_logins: Vec<Option<i64>> = vec![None; mine.len()];
    start(&ctx).await;
    let mut pacer = ctx.control.pacer(worker, ctx.workers);
    let mut turn = 0;
    while ctx.control.ticket().is_some() {
        let slot = turn % mine.len();
        turn += 1;
        let due = pacer.due().await;
        let attempt = async {
            let request = ctx
                .keys()?
                .request(mine[slot], worker as u64, last_logins[slot]);
            let mut client = ctx.target.client().await?;
            let sent = Instant::now();
            let started = client.start_session(request).await?;
            Ok::<_, Failure>((client, sent.elapsed(), started.last_login_to_persist))
        };
        match attempt.await {
            Ok((client, rpc, last_login)) => {
                last_logins[slot] = Some(last_login);
                recorder.ok(due.elapsed());
                recorder.step(rpc);
                close_client(client, &recorder).await;
            }
            Err(failure) => {
                recorder.error(failure);
                tokio::time::sleep(BACKOFF).await;
            }
        }
    }
    finish(&ctx, &mut recorder).await;
}

/// `bind`: connect, handshake, start-session of a new device on key 0,
/// close. Every operation binds one more device to the one key.
pub async fn bind(ctx: Arc<Ctx>, worker: usize) {
    let mut recorder = Recorder::new(ctx.tally.clone());
    start(&ctx).await;
    let mut pacer = ctx.control.pacer(worker, ctx.workers);
    while ctx.control.ticket().is_some() {
        let due = pacer.due().await;
        let device = ctx.bindings.device();
        match ctx.session(0, device, &mut None).await {
            Ok(client) => {
                ctx.bindings.answered(Instant::now());
                recorder.ok(due.elapsed());
                close_client(client, &recorder).await;
            }
            Err(failure) => {
                recorder.error(failure);
                tokio::time::sleep(BACKOFF).await;
            }
        }
    }
    finish(&ctx, &mut recorder).await;
}

/// `idle`: opens sessions (session number `n` on key `n mod keys`, as device
/// `n`) and holds every one until the teardown.
pub async fn idle(ctx: Arc<Ctx>, worker: usize) {
    let mut recorder = Recorder::new(ctx.tally.clone());
    let mut held = Vec::new();
    start(&ctx).await;
    let mut pacer = ctx.control.pacer(worker, ctx.workers);
    while let Some(n) = ctx.control.ticket() {
        let due = pacer.due().await;
        let key = usize::try_from(n).unwrap_or(usize::MAX);
        match ctx.session(key, n, &mut None).await {
            Ok(client) => {
                recorder.ok(due.elapsed());
                held.push(client);
            }
            Err(failure) => {
                recorder.error(failure);
                tokio::time::sleep(BACKOFF).await;
            }
        }
    }
    finish(&ctx, &mut recorder).await;
    for client in held {
        close_client(client, &recorder).await;
    }
}

/// A held connection that answers requests in order.
pub trait Channel: Send {
    /// Sends one request (or message).
    fn send(&mut self) -> impl Future<Output = Result<(), Failure>> + Send;
    /// Reads the answer to the oldest request in flight.
    fn recv(&mut self) -> impl Future<Output = Result<(), Failure>> + Send;
    /// Whether the connection died with the last failure.
    fn broken(&self) -> bool;
    /// Closes the connection at the end of the run.
    fn close(self) -> impl Future<Output = Result<(), Failure>> + Send;
}

/// Opens a worker's [`Channel`], at setup and again after a fatal error.
pub trait Opener: Send {
    type Channel: Channel;
    fn open(&mut self) -> impl Future<Output = Result<Self::Channel, Failure>> + Send;
}

/// Keeps `--pipeline` requests in flight on one held connection: fills the
/// window, reads the oldest answer, refills. A request's latency runs from
/// its send (or, paced, from when it was due) to its answer.
pub async fn windowed<O: Opener>(ctx: Arc<Ctx>, worker: usize, mut opener: O) {
    let mut recorder = Recorder::new(ctx.tally.clone());
    let mut channel = match opener.open().await {
        Ok(channel) => Some(channel),
        Err(failure) => {
            recorder.error(failure.during("setup"));
            None
        }
    };
    start(&ctx).await;
    let mut pacer = ctx.control.pacer(worker, ctx.workers);
    let mut in_flight: VecDeque<Instant> = VecDeque::with_capacity(ctx.pipeline);
    loop {
        let Some(open) = channel.as_mut() else {
            if ctx.control.stopping() {
                break;
            }
            match opener.open().await {
                Ok(reopened) => channel = Some(reopened),
                Err(failure) => {
                    recorder.error(failure.during("reconnect"));
                    tokio::time::sleep(BACKOFF).await;
                }
            }
            continue;
        };
        let mut broken = false;
        while in_flight.len() < ctx.pipeline && ctx.control.ticket().is_some() {
            let due = pacer.due().await;
            match open.send().await {
                Ok(()) => in_flight.push_back(due),
                Err(failure) => {
                    recorder.error(failure);
                    broken = true;
                    break;
                }
            }
        }
        if !broken {
            let Some(sent) = in_flight.pop_front() else {
                break; // nothing in flight, and no ticket left
            };
            match open.recv().await {
                Ok(()) => recorder.ok(sent.elapsed()),
                Err(failure) => {
                    recorder.error(failure);
                    broken = open.broken();
                }
            }
        }
        if broken {
            for _ in in_flight.drain(..) {
                recorder.error(Failure::new(
                    "abandoned",
                    "a request in flight when its connection failed",
                ));
            }
            channel = None;
        }
    }
    finish(&ctx, &mut recorder).await;
    if let Some(channel) = channel {
        if let Err(failure) = channel.close().await {
            recorder.error(failure.during("close"));
        }
    }
}

/// `toggles` and `telemetry`: one method, called again and again on a
/// session held by worker `w`, on key `w mod keys` as device `w`.
#[derive(Debug)]
pub struct RpcOpener {
    ctx: Arc<Ctx>,
    device: u64,
    last_login: Option<i64>,
    method: &'static str,
    payload: Value,
    /// `telemetry --event-ids`: each event gets a new `eventId` with this
    /// prefix (unique per run and worker).
    event_ids: Option<String>,
}

impl RpcOpener {
    pub fn toggles(ctx: Arc<Ctx>, worker: usize) -> Self {
        Self::new(ctx, worker, GET_FEATURE_TOGGLES, Value::Nil)
    }

    pub fn telemetry(ctx: Arc<Ctx>, worker: usize, event_ids: bool) -> Self {
        let event = TelemetryEvent {
            event: "bench.event".into(),
            data: Some(skyline_protocol::msgpack::map([
                ("worker", Value::from(worker as u64)),
                ("screen", Value::from("/account-manager")),
            ])),
            event_id: None,
        };
        let mut opener = Self::new(ctx, worker, SEND_TELEMETRY_EVENT, event.to_value());
        if event_ids {
            let salt = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            opener.event_ids = Some(format!("{:x}{salt:x}-{worker}", std::process::id()));
        }
        opener
    }

    fn new(ctx: Arc<Ctx>, worker: usize, method: &'static str, payload: Value) -> Self {
        RpcOpener {
            ctx,
            device: worker as u64,
            last_login: None,
            method,
            payload,
            event_ids: None,
        }
    }
}

impl Opener for RpcOpener {
    type Channel = RpcChannel;

    async fn open(&mut self) -> Result<RpcChannel, Failure> {
        let key = usize::try_from(self.device).unwrap_or(usize::MAX);
        let client = self
            .ctx
            .session(key, self.device, &mut self.last_login)
            .await?;
        Ok(RpcChannel {
            client,
            method: self.method,
            payload: self.payload.clone(),
            event_ids: self.event_ids.clone().map(|prefix| {
                // A reconnect continues with ids no earlier channel used.
                let prefix = format!("{prefix}-{:x}", self.ctx.bindings.device());
                (prefix, 0)
            }),
        })
    }
}

/// A session on which one method is called.
#[derive(Debug)]
pub struct RpcChannel {
    client: Client,
    method: &'static str,
    payload: Value,
    /// The `eventId` prefix and how many ids it has given.
    event_ids: Option<(String, u64)>,
}

impl Channel for RpcChannel {
    async fn send(&mut self) -> Result<(), Failure> {
        let mut payload = self.payload.clone();
        if let (Some((prefix, n)), Value::Map(fields)) = (&mut self.event_ids, &mut payload) {
            *n += 1;
            fields.push((Value::from("eventId"), Value::from(format!("{prefix}-{n}"))));
        }
        self.client.send_request(self.method, payload).await?;
        Ok(())
    }

    async fn recv(&mut self) -> Result<(), Failure> {
        self.client.read_response().await?;
        Ok(())
    }

    fn broken(&self) -> bool {
        self.client.unusable_reason().is_some()
    }

    async fn close(self) -> Result<(), Failure> {
        Ok(self.client.close().await?)
    }
}
