//! [`StoreError`]: what can go wrong in the store, grouped by cause, and
//! [`BackendError`], a database failure that keeps its source and knows
//! whether running the transaction again may succeed.
//!
//! Messages name the kind of thing involved ("license key", "product
//! `telepower`") and never a raw license key, a digest or a secret. A
//! [`BackendError`]'s message is written from the driver's error without the
//! parts that may quote row values (PostgreSQL's `DETAIL`); the driver's
//! error itself stays reachable as [`std::error::Error::source`] for code
//! that inspects it, and is never logged.

use std::fmt;
use std::sync::Arc;

use crate::domain::DomainError;

/// A store operation failed. Refusals of `start-session` are not errors: they
/// are [`Refusal`](crate::domain::start_session::Refusal)s.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A business rule refused the command; nothing was written.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The database URL, its options, or the database itself cannot be used
    /// as asked (a newer schema, an index that needs the identity key, a
    /// backend this build does not have).
    #[error("{0}")]
    Config(String),
    /// A dump cannot be imported (or exported) as it is; nothing was written.
    #[error("the dump is not usable: {0}")]
    Dump(String),
    /// The database failed (I/O, corruption, a lost connection, a busy
    /// timeout). Nothing the failed operation would have written was
    /// committed.
    #[error("storage backend failed: {0}")]
    Backend(#[from] BackendError),
}

impl StoreError {
    /// A [`DomainError::NotFound`].
    pub fn not_found(what: impl Into<String>) -> Self {
        StoreError::Domain(DomainError::not_found(what))
    }

    /// Whether the failed transaction may succeed if run again (a
    /// serialization failure or a deadlock, decided by the error's code).
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Backend(e) if e.retryable)
    }
}

/// What kind of backend failure it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendErrorKind {
    /// The database answered with an error.
    Database,
    /// The connection could not be made or was lost.
    Connection,
    /// A stored value is not what this build writes (a damaged or foreign
    /// database).
    Corrupt,
    /// The store is closed or its worker stopped.
    Stopped,
}

/// A database failure, with its source.
#[derive(Clone, thiserror::Error)]
#[error("{message}")]
pub struct BackendError {
    kind: BackendErrorKind,
    message: String,
    /// The driver's error code: PostgreSQL's SQLSTATE, SQLite's extended
    /// result code.
    code: Option<String>,
    retryable: bool,
    #[source]
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl BackendError {
    /// A failure described by `message`, caused by `source`.
    pub fn new(
        kind: BackendErrorKind,
        message: impl Into<String>,
        source: Option<Arc<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        BackendError {
            kind,
            message: message.into(),
            code: None,
            retryable: false,
            source,
        }
    }

    /// The same failure with the driver's error code, and whether that code
    /// means "run the transaction again".
    pub fn with_code(mut self, code: impl Into<String>, retryable: bool) -> Self {
        self.code = Some(code.into());
        self.retryable = retryable;
        self
    }

    /// A stored value this build cannot read.
    pub fn corrupt(message: impl Into<String>) -> Self {
        Self::new(BackendErrorKind::Corrupt, message, None)
    }

    /// The store (or its writer) has stopped.
    pub fn stopped(message: impl Into<String>) -> Self {
        Self::new(BackendErrorKind::Stopped, message, None)
    }

    /// What kind of failure.
    pub fn kind(&self) -> BackendErrorKind {
        self.kind
    }

    /// The driver's error code, if it gave one.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// Whether running the transaction again may succeed.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }
}

impl fmt::Debug for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The source is left out: a driver's text may quote row values.
        f.debug_struct("BackendError")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("code", &self.code)
            .field("retryable", &self.retryable)
            .finish_non_exhaustive()
    }
}

/// A [`StoreError::Backend`] for a stored value this build cannot read.
pub(crate) fn corrupt(message: impl Into<String>) -> StoreError {
    StoreError::Backend(BackendError::corrupt(message))
}

/// A [`StoreError::Backend`] for a store that has stopped.
pub(crate) fn stopped(message: impl Into<String>) -> StoreError {
    StoreError::Backend(BackendError::stopped(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_comes_from_the_code_and_debug_hides_the_source() {
        let source: Arc<dyn std::error::Error + Send + Sync> =
            Arc::new(std::io::Error::other("DETAIL: Key (key_digest)=(\\xabcd)"));
        let e = BackendError::new(
            BackendErrorKind::Database,
            "PostgreSQL: conflict",
            Some(source),
        )
        .with_code("40001", true);
        let store = StoreError::from(e.clone());
        assert!(store.is_retryable());
        assert!(!format!("{e:?}").contains("abcd"));
        assert!(!store.to_string().contains("abcd"));
        assert!(std::error::Error::source(&e).is_some());
        assert!(!StoreError::Config("x".into()).is_retryable());
    }
}
