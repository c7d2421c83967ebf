//! Telemetry group commit: callers queue events and wait; one task takes
//! every event waiting (up to [`MAX_BATCH`]) and stores them with one
//! multi-row `INSERT`, a transaction of its own, then answers each caller.
//! While [`MAX_IN_FLIGHT`] batches are being committed the queue fills, so
//! the busier the node, the larger its batches and the fewer its commits.
//!
//! Batches from every node commit one at a time, in id order (see
//! [`ID_ORDER_LOCK`]), so telemetry pages read by id never skip an event.
//! An `Ok` is sent only after the commit returned, and the connection asks
//! for `synchronous_commit = on`: an acknowledged event is on disk. An event
//! of an unknown license is refused alone (`NotFound`), and a batch that
//! fails for another reason is retried one event at a time, so one bad event
//! never fails its neighbours.

use std::sync::{Arc, Mutex};

use deadpool_postgres::Pool;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::{JoinHandle, JoinSet};

use super::{pg_error, rows};
use crate::domain::TelemetryRecord;
use crate::store::rows::Columns as _;
use crate::store::StoreError;

/// Most events in one batch.
const MAX_BATCH: usize = 2_000;

/// Batches being committed at once (each on its own pooled connection).
const MAX_IN_FLIGHT: usize = 4;

/// The advisory lock every telemetry insert holds until it commits, on
/// every node: ids are then handed out in commit order, so a reader paging
/// by id (`after_id`) never passes an id whose event commits later, as with
/// SQLite's single writer. Batches grow while they wait for it.
const ID_ORDER_LOCK: i64 = 0x0073_6b79_7465_6c65;

/// Events queued before callers wait to queue more.
const QUEUE: usize = 32_768;

/// Inserts the batch's events whose license exists, in order; returns the
/// 1-based positions of those whose license does not. An event with an id
/// is stored only if this statement claims the id (`ON CONFLICT DO NOTHING`
/// waits for a concurrent claim of the same id, on any node, to commit or
/// roll back, so exactly one claim wins); a batch never holds one id twice.
const INSERT_BATCH: &str = "WITH e AS (\
       SELECT * FROM unnest($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::BIGINT[], \
       $6::BIGINT[], $7::TEXT[]) WITH ORDINALITY \
       AS e (license_id, product_id, event, data, client_time, received_at, event_id, n)), \
     known AS (SELECT * FROM e WHERE EXISTS (SELECT 1 FROM licenses l WHERE l.id = e.license_id)), \
     claimed AS (\
       INSERT INTO telemetry_event_ids (license_id, event_id, seen_at) \
       SELECT license_id, event_id, received_at FROM known WHERE event_id IS NOT NULL \
       ON CONFLICT (license_id, event_id) DO NOTHING RETURNING license_id, event_id), \
     stored AS (\
       INSERT INTO telemetry (license_id, product_id, event, data, client_time, received_at, \
       event_id) \
       SELECT license_id, product_id, event, data, client_time, received_at, event_id \
       FROM known k WHERE k.event_id IS NULL OR EXISTS (SELECT 1 FROM claimed c \
         WHERE c.license_id = k.license_id AND c.event_id = k.event_id) ORDER BY n \
       RETURNING 1) \
     SELECT n FROM e WHERE NOT EXISTS (SELECT 1 FROM licenses l WHERE l.id = e.license_id)";

/// One queued event and its caller.
struct Pending {
    record: TelemetryRecord,
    /// `data` as JSON text, encoded on the caller's task.
    data: Option<String>,
    reply: oneshot::Sender<Result<(), StoreError>>,
}

/// The queue and the task that commits it.
pub(super) struct TelemetryWriter {
    queue: Mutex<Option<mpsc::Sender<Pending>>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl TelemetryWriter {
    /// Starts the committing task on the current runtime.
    pub(super) fn start(pool: Pool) -> TelemetryWriter {
        let (queue, events) = mpsc::channel(QUEUE);
        let task = tokio::spawn(commit_loop(pool, events));
        TelemetryWriter {
            queue: Mutex::new(Some(queue)),
            task: Mutex::new(Some(task)),
        }
    }

    /// Queues one event; returns once it is committed.
    pub(super) async fn record(&self, record: TelemetryRecord) -> Result<(), StoreError> {
        let data = record.data.as_ref().map(|d| d.to_string());
        let queue = self
            .queue
            .lock()
            .ok()
            .and_then(|q| q.clone())
            .ok_or_else(stopped)?;
        let (reply, answer) = oneshot::channel();
        queue
            .send(Pending {
                record,
                data,
                reply,
            })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Refuses new events, commits those queued, and waits for the task.
    pub(super) async fn close(&self) {
        drop(self.queue.lock().ok().and_then(|mut q| q.take()));
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            if task.await.is_err() {
                tracing::error!("the telemetry writer task failed");
            }
        }
    }
}

impl std::fmt::Debug for TelemetryWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let open = self.queue.lock().map(|q| q.is_some()).unwrap_or(false);
        f.debug_struct("TelemetryWriter")
            .field("open", &open)
            .finish()
    }
}

fn stopped() -> StoreError {
    crate::store::error::stopped("the telemetry writer has stopped")
}

async fn commit_loop(pool: Pool, mut events: mpsc::Receiver<Pending>) {
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut batches = JoinSet::new();
    loop {
        // Wait for a free slot first: meanwhile the queue fills up.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let Some(first) = events.recv().await else {
            break;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match events.try_recv() {
                Ok(event) => batch.push(event),
                Err(_) => break,
            }
        }
        let pool = pool.clone();
        batches.spawn(async move {
            commit(&pool, batch).await;
            drop(slot);
        });
        while batches.try_join_next().is_some() {}
    }
    while batches.join_next().await.is_some() {}
}

/// Commits one batch and answers its callers.
async fn commit(pool: &Pool, batch: Vec<Pending>) {
    // An id sent twice in one batch is stored once: the first event goes to
    // the database, a repeat shares its answer.
    let mut first_of: std::collections::HashMap<(i64, &str), usize> = Default::default();
    let mut sent = Vec::with_capacity(batch.len());
    let mut answer_of = Vec::with_capacity(batch.len());
    for (i, pending) in batch.iter().enumerate() {
        let key = pending
            .record
            .event_id
            .as_deref()
            .map(|id| (pending.record.license_id, id));
        match key.and_then(|k| first_of.get(&k).copied()) {
            Some(first) => answer_of.push(first),
            None => {
                if let Some(k) = key {
                    first_of.insert(k, sent.len());
                }
                answer_of.push(sent.len());
                sent.push(i);
            }
        }
    }
    match insert(pool, &batch, &sent).await {
        Ok(unknown) => {
            for (pending, sent_at) in batch.into_iter().zip(answer_of) {
                let answer = if unknown.contains(&(sent_at as i64 + 1)) {
                    Err(StoreError::not_found("license"))
                } else {
                    Ok(())
                };
                let _ = pending.reply.send(answer);
            }
        }
        Err(e) if batch.len() == 1 => {
            tracing::error!(error = %e, "storing a telemetry event failed");
            for pending in batch {
                let _ = pending.reply.send(Err(e.clone()));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, events = batch.len(), "a telemetry batch failed; retrying one by one");
            for pending in batch {
                Box::pin(commit(pool, vec![pending])).await;
            }
        }
    }
}

/// One multi-row insert of the events at positions `sent` of `batch`, in its
/// own transaction, holding [`ID_ORDER_LOCK`]; the 1-based positions (in
/// `sent`) of the events whose license does not exist.
async fn insert(pool: &Pool, batch: &[Pending], sent: &[usize]) -> Result<Vec<i64>, StoreError> {
    let mut client = pool.get().await.map_err(super::pool_error)?;
    let rows: Vec<&Pending> = sent.iter().map(|&i| &batch[i]).collect();
    let license_ids: Vec<i64> = rows.iter().map(|p| p.record.license_id).collect();
    let products: Vec<&str> = rows.iter().map(|p| p.record.product_id.as_str()).collect();
    let events: Vec<&str> = rows.iter().map(|p| p.record.event.as_str()).collect();
    let data: Vec<Option<&str>> = rows.iter().map(|p| p.data.as_deref()).collect();
    let client_times: Vec<i64> = rows.iter().map(|p| p.record.client_time).collect();
    let received: Vec<i64> = rows.iter().map(|p| p.record.received_at).collect();
    let event_ids: Vec<Option<&str>> = rows.iter().map(|p| p.record.event_id.as_deref()).collect();
    let tx = client.transaction().await.map_err(pg_error)?;
    rows::execute(&tx, "SELECT pg_advisory_xact_lock($1)", &[&ID_ORDER_LOCK])
        .await
        .map_err(pg_error)?;
    let unknown = rows::query(
        &tx,
        INSERT_BATCH,
        &[
            &license_ids,
            &products,
            &events,
            &data,
            &client_times,
            &received,
            &event_ids,
        ],
    )
    .await
    .map_err(pg_error)?;
    tx.commit().await.map_err(pg_error)?;
    unknown.iter().map(|row| row.int(0)).collect()
}
