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
/// 1-based positions of those whose license does not.
const INSERT_BATCH: &str = "WITH e AS (\
       SELECT * FROM unnest($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::BIGINT[], \
       $6::BIGINT[]) WITH ORDINALITY \
       AS e (license_id, product_id, event, data, client_time, received_at, n)), \
     stored AS (\
       INSERT INTO telemetry (license_id, product_id, event, data, client_time, received_at) \
       SELECT license_id, product_id, event, data, client_time, received_at FROM e \
       WHERE EXISTS (SELECT 1 FROM licenses l WHERE l.id = e.license_id) ORDER BY n \
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
    match insert(pool, &batch).await {
        Ok(unknown) => {
            for (n, pending) in (1..).zip(batch) {
                let answer = if unknown.contains(&n) {
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

/// One multi-row insert in its own transaction, holding [`ID_ORDER_LOCK`].
async fn insert(pool: &Pool, batch: &[Pending]) -> Result<Vec<i64>, StoreError> {
    let mut client = pool.get().await.map_err(super::pool_error)?;
    let license_ids: Vec<i64> = batch.iter().map(|p| p.record.license_id).collect();
    let products: Vec<&str> = batch.iter().map(|p| p.record.product_id.as_str()).collect();
    let events: Vec<&str> = batch.iter().map(|p| p.record.event.as_str()).collect();
    let data: Vec<Option<&str>> = batch.iter().map(|p| p.data.as_deref()).collect();
    let client_times: Vec<i64> = batch.iter().map(|p| p.record.client_time).collect();
    let received: Vec<i64> = batch.iter().map(|p| p.record.received_at).collect();
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
        ],
    )
    .await
    .map_err(pg_error)?;
    tx.commit().await.map_err(pg_error)?;
    unknown.iter().map(|row| row.int(0)).collect()
}
