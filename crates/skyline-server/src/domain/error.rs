//! [`DomainError`]: a command refused by a business rule, before anything is
//! written. Messages name the thing involved ("plan `x`", "license key
//! …-HXRB8") and never a raw key, digest or secret.

/// A command that cannot be carried out as asked; nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
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
    /// The request makes no sense for the data: a bad id or version, a plan
    /// without seats, the expiry of a key never activated.
    #[error("{0}")]
    Invalid(String),
}

impl DomainError {
    /// A [`DomainError::NotFound`].
    pub fn not_found(what: impl Into<String>) -> Self {
        DomainError::NotFound { what: what.into() }
    }

    /// A [`DomainError::Conflict`].
    pub fn conflict(what: impl Into<String>) -> Self {
        DomainError::Conflict { what: what.into() }
    }

    /// A [`DomainError::Invalid`].
    pub fn invalid(why: impl Into<String>) -> Self {
        DomainError::Invalid(why.into())
    }
}
