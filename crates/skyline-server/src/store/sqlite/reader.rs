//! Read connections: WAL lets readers run beside the writer, so reads
//! (toggles, lists, exports) never wait for a group commit. Each read runs on
//! a blocking thread inside one read transaction, so it sees one snapshot.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

use super::{backend_error, schema, SqliteOptions};
use crate::store::StoreError;

/// Idle read connections kept for reuse.
const MAX_IDLE: usize = 4;

/// A small pool of read-only connections.
#[derive(Debug)]
pub(super) struct Readers {
    path: PathBuf,
    options: SqliteOptions,
    idle: Arc<Mutex<Vec<Connection>>>,
    closed: AtomicBool,
}

impl Readers {
    /// A pool for the database at `path` (already created and migrated).
    pub(super) fn new(path: PathBuf, options: SqliteOptions) -> Self {
        Readers {
            path,
            options,
            idle: Arc::new(Mutex::new(Vec::new())),
            closed: AtomicBool::new(false),
        }
    }

    /// Runs `read` on a pooled connection inside a read transaction.
    pub(super) async fn run<T, F>(&self, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        if self.closed.load(Ordering::Acquire) {
            return Err(crate::store::error::stopped("the store is closed"));
        }
        let idle = self.idle.clone();
        let path = self.path.clone();
        let options = self.options.clone();
        tokio::task::spawn_blocking(move || {
            let taken = idle.lock().map_err(|_| poisoned())?.pop();
            let mut conn = match taken {
                Some(conn) => conn,
                None => schema::open_reader(&path, &options)?,
            };
            let result = {
                let snapshot = conn.transaction().map_err(backend_error)?;
                read(&snapshot)
                // Dropping the transaction ends it; a read has nothing to commit.
            };
            let mut idle = idle.lock().map_err(|_| poisoned())?;
            if idle.len() < MAX_IDLE {
                idle.push(conn);
            }
            result
        })
        .await
        .map_err(|_| crate::store::error::stopped("a storage read failed unexpectedly"))?
    }
}

impl Readers {
    /// Closes the idle connections; later reads fail.
    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }
}

fn poisoned() -> StoreError {
    crate::store::error::stopped("the read connection pool is unusable")
}
