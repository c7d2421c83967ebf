//! The single writer: one thread owns the write connection and commits jobs
//! in groups.
//!
//! Callers send jobs over a channel. The thread takes every job waiting
//! (up to [`MAX_GROUP`]), opens one `BEGIN IMMEDIATE` transaction, runs each
//! job inside its own `SAVEPOINT` (a job that fails rolls back only itself),
//! commits once, and only then answers each job through its oneshot. So:
//!
//! - a job's `Ok` means its writes are committed (durable);
//! - many concurrent telemetry events or `start-session`s share one commit;
//! - writes are serialized, so two devices racing for the last seat cannot
//!   both win. `BEGIN IMMEDIATE` takes SQLite's write lock before the first
//!   read, which extends that guarantee to other processes (the `skyline`
//!   CLI) writing the same file.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Mutex};
use std::thread::{self, JoinHandle};

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::backend_error;
use crate::store::StoreError;

/// Most jobs committed together; bounds the latency of one group.
pub(super) const MAX_GROUP: usize = 4096;

/// One unit of work for the writer.
trait Job: Send {
    /// Runs the job inside a savepoint of the open transaction and keeps its
    /// result. An `Err` means the transaction itself is unusable.
    fn run(&mut self, conn: &Connection) -> Result<(), StoreError>;
    /// Answers the caller once the group's fate is known.
    fn finish(self: Box<Self>, commit: Result<(), StoreError>);
}

struct Pending<T, F> {
    work: Option<F>,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for Pending<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, conn: &Connection) -> Result<(), StoreError> {
        let Some(work) = self.work.take() else {
            return Ok(());
        };
        // From the statement cache: no parse of SAVEPOINT / RELEASE per job.
        run_cached(conn, "SAVEPOINT job")?;
        let result = catch_unwind(AssertUnwindSafe(|| work(conn)))
            .unwrap_or_else(|_| Err(crate::store::error::stopped("a storage job panicked")));
        if conn.is_autocommit() {
            // SQLite rolled the whole transaction back (e.g. disk full).
            self.result = Some(result);
            return Err(crate::store::error::stopped(
                "the transaction was rolled back by the database",
            ));
        }
        let failed = result.is_err();
        self.result = Some(result);
        if failed {
            conn.execute_batch("ROLLBACK TO job; RELEASE job")
                .map_err(backend_error)
        } else {
            run_cached(conn, "RELEASE job")
        }
    }

    fn finish(self: Box<Self>, commit: Result<(), StoreError>) {
        let answer = match (self.result, commit) {
            // The job's own error explains more than the group's.
            (Some(Err(own)), _) => Err(own),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (_, Err(group)) => Err(group),
            (None, Ok(())) => Err(crate::store::error::stopped("a storage job did not run")),
        };
        // The caller may have given up waiting; nothing to do then.
        let _ = self.reply.send(answer);
    }
}

/// Runs one statement without parameters from the connection's statement cache.
fn run_cached(conn: &Connection, sql: &str) -> Result<(), StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut statement| statement.execute([]))
        .map(drop)
        .map_err(backend_error)
}

/// What the writer thread receives.
enum Message {
    /// Work to run in the next group.
    Job(Box<dyn Job>),
    /// Finish the group in hand and stop; jobs sent later are answered
    /// "stopped".
    Stop,
}

/// The writer thread's handle. Dropping it (or [`Writer::close`]) lets the
/// thread finish the jobs it holds, then waits for it to close the connection.
pub(super) struct Writer {
    jobs: mpsc::Sender<Message>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    /// Starts the thread that owns `conn`.
    pub(super) fn start(conn: Connection) -> Result<Writer, StoreError> {
        let (jobs, queue) = mpsc::channel::<Message>();
        let thread = thread::Builder::new()
            .name("skyline-store-writer".into())
            .spawn(move || writer_loop(conn, queue))
            .map_err(|e| {
                crate::store::error::stopped(format!("cannot start the writer thread: {e}"))
            })?;
        Ok(Writer {
            jobs,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Runs `work` in the next group transaction; returns after the commit.
    pub(super) async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Pending {
            work: Some(work),
            result: None,
            reply,
        });
        self.jobs.send(Message::Job(job)).map_err(|_| stopped())?;
        // A job still queued when the thread stops is dropped unanswered.
        answer.await.map_err(|_| stopped())?
    }

    /// Stops the thread after the jobs already queued and waits for it to
    /// close the connection. Later jobs fail with "stopped".
    pub(super) async fn close(&self) {
        let _ = self.jobs.send(Message::Stop);
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            let joined = tokio::task::spawn_blocking(move || thread.join()).await;
            if !matches!(joined, Ok(Ok(()))) {
                tracing::error!("the storage writer thread panicked");
            }
        }
    }
}

fn stopped() -> StoreError {
    crate::store::error::stopped("the storage writer has stopped")
}

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.jobs.send(Message::Stop);
        let thread = self.thread.get_mut().ok().and_then(Option::take);
        if let Some(thread) = thread {
            if thread.join().is_err() {
                tracing::error!("the storage writer thread panicked");
            }
        }
    }
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let running = self.thread.lock().map(|t| t.is_some()).unwrap_or(false);
        f.debug_struct("Writer").field("running", &running).finish()
    }
}

fn writer_loop(conn: Connection, queue: mpsc::Receiver<Message>) {
    let mut stopping = false;
    while !stopping {
        let Ok(Message::Job(first)) = queue.recv() else {
            break;
        };
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(Message::Job(job)) => group.push(job),
                Ok(Message::Stop) => {
                    stopping = true;
                    break;
                }
                Err(_) => break,
            }
        }
        run_group(&conn, group);
    }
    // Dropping the queue now answers every job still in it with "stopped".
    drop(queue);
    if let Err(e) = conn.close() {
        tracing::warn!(error = %e.1, "closing the write connection failed");
    }
}

fn run_group(conn: &Connection, mut group: Vec<Box<dyn Job>>) {
    let outcome = conn
        .execute_batch("BEGIN IMMEDIATE")
        .map_err(backend_error)
        .and_then(|()| {
            group.iter_mut().try_for_each(|job| job.run(conn))?;
            conn.execute_batch("COMMIT").map_err(backend_error)
        });
    if let Err(e) = &outcome {
        tracing::error!(error = %e, jobs = group.len(), "a storage group commit failed");
        if !conn.is_autocommit() {
            if let Err(e) = conn.execute_batch("ROLLBACK") {
                tracing::error!(error = %e, "rolling back a failed group failed");
            }
        }
    }
    for job in group {
        job.finish(outcome.clone());
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn writer() -> (tempfile::TempDir, Writer) {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("w.db")).unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER UNIQUE)")
            .unwrap();
        (dir, Writer::start(conn).unwrap())
    }

    fn count(w: &Writer) -> impl std::future::Future<Output = Result<i64, StoreError>> + '_ {
        w.run(|c| {
            c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
                .map_err(backend_error)
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_job_rolls_back_only_itself() {
        let (_dir, w) = writer();
        // Hold the writer so the next jobs queue up and share one group.
        let (started_tx, started) = std::sync::mpsc::channel();
        let hold = w.run(move |_| {
            started_tx.send(()).unwrap();
            thread::sleep(Duration::from_millis(200));
            Ok(())
        });
        let insert = |v: i64| {
            w.run(move |c| {
                c.execute("INSERT INTO t (v) VALUES (?1)", [v])
                    .map_err(backend_error)?;
                Ok(v)
            })
        };
        let failing = w.run(|c| {
            c.execute("INSERT INTO t (v) VALUES (100)", [])
                .map_err(backend_error)?;
            // Duplicate: this job fails after writing a row.
            c.execute("INSERT INTO t (v) VALUES (1)", [])
                .map_err(backend_error)?;
            Ok(0)
        });
        let panicking = w.run(|c| -> Result<(), StoreError> {
            c.execute("INSERT INTO t (v) VALUES (200)", [])
                .map_err(backend_error)?;
            panic!("job bug")
        });
        let queued = async {
            started.recv().unwrap();
            tokio::join!(insert(1), failing, panicking, insert(2))
        };
        let (held, (one, failed, panicked, two)) = tokio::join!(hold, queued);
        held.unwrap();
        assert_eq!((one.unwrap(), two.unwrap()), (1, 2));
        assert!(failed.is_err());
        assert!(panicked.is_err());
        assert_eq!(count(&w).await.unwrap(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_jobs_share_commits() {
        let (_dir, w) = writer();
        let w = std::sync::Arc::new(w);
        let tasks: Vec<_> = (0..2000)
            .map(|v| {
                let w = w.clone();
                tokio::spawn(async move {
                    w.run(move |c| {
                        c.execute("INSERT INTO t (v) VALUES (?1)", [v])
                            .map_err(backend_error)
                            .map(drop)
                    })
                    .await
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(count(&w).await.unwrap(), 2000);
    }
}
