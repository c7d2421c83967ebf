//! [`StoreError`]: what can go wrong in the store, grouped by cause.
//!
//! Messages name the kind of thing involved ("license key", "product
//! `telepower`") and never a raw license key, a digest or a secret.

/// A store operation failed. Refusals of `start-session` are not errors: they
/// are [`Refusal`](super::Refusal)s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The named thing does not exist, e.g. "license key" or "plan `x`".
    #[error("{what} not found")]
    NotFound {
        /// What was looked for.
        what: String,
    },
    /// The named thing already exists.
    #[error("{what} already exists")]
    Conflict {
        /// What collided.
        what: String,
    },
    /// The request makes no sense for the data, e.g. a bad version string or
    /// setting the expiry of a key that was never activated.
    #[error("{0}")]
    Invalid(String),
    /// The database URL names a backend this build does not have.
    #[error("{0}")]
    Unsupported(String),
    /// The database failed (I/O, corruption, a busy timeout). Nothing the
    /// failed operation would have written was committed.
    #[error("storage backend failed: {0}")]
    Backend(String),
}

impl StoreError {
    /// A [`StoreError::NotFound`].
    pub fn not_found(what: impl Into<String>) -> Self {
        StoreError::NotFound { what: what.into() }
    }

    /// A [`StoreError::Conflict`].
    pub fn conflict(what: impl Into<String>) -> Self {
        StoreError::Conflict { what: what.into() }
    }
}
