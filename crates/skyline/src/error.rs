//! [`CliError`]: why a command failed, by cause. `main` prints it on
//! standard error and exits with 1.

use skyline_server::deployment::{DeploymentError, IdentityError};
use skyline_server::releases::PublishError;
use skyline_server::store::StoreError;

/// A command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line or the config file asks for something that cannot be
    /// done (a bad date, a missing option, a file that exists already).
    #[error("{0}")]
    Usage(String),
    /// The deployment (identity key, database) could not be opened.
    #[error(transparent)]
    Deployment(#[from] DeploymentError),
    /// The identity key is needed and missing or unusable.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A release could not be published.
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// Reading or writing a file, or the terminal, failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the file.
        context: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// A server or a run failed in a way its message explains (a refused
    /// session, a benchmark that could not run).
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    /// A [`CliError::Usage`].
    pub fn usage(message: impl Into<String>) -> Self {
        CliError::Usage(message.into())
    }

    /// A [`CliError::Failed`].
    pub fn failed(message: impl Into<String>) -> Self {
        CliError::Failed(message.into())
    }

    /// A [`CliError::Io`] while doing `context`.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        CliError::Io {
            context: context.into(),
            source,
        }
    }
}
