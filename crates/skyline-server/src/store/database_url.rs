//! [`DatabaseUrl`]: which backend a database URL names, and its options.

use super::{sqlite, StoreError};

/// Which backend a database URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite://PATH`, `sqlite:PATH` or a plain path, with options.
    Sqlite {
        /// The database file.
        path: String,
        /// `?synchronous=full` and similar.
        options: sqlite::SqliteOptions,
    },
    /// `postgres://…` or `postgresql://…`.
    Postgres(String),
}

impl DatabaseUrl {
    /// Reads a database URL; an unknown scheme is named in the error.
    pub fn parse(url: &str) -> Result<DatabaseUrl, StoreError> {
        let url = url.trim();
        let lower = url.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(url.to_owned()));
        }
        let sqlite_rest = ["sqlite://", "sqlite:"]
            .iter()
            .find(|prefix| lower.starts_with(*prefix))
            .map(|prefix| &url[prefix.len()..]);
        let (path, query) = match sqlite_rest {
            Some(rest) => match rest.split_once('?') {
                Some((path, query)) => (path, Some(query)),
                None => (rest, None),
            },
            None => {
                if let Some((scheme, _)) = url.split_once("://") {
                    return Err(StoreError::Config(format!(
                        "unsupported database URL scheme `{scheme}`: use sqlite://PATH or postgres://…"
                    )));
                }
                (url, None)
            }
        };
        if path.is_empty() || path == ":memory:" {
            return Err(StoreError::Config(
                "the SQLite database URL needs a file path, e.g. sqlite://data/skyline.db".into(),
            ));
        }
        Ok(DatabaseUrl::Sqlite {
            path: path.to_owned(),
            options: sqlite::SqliteOptions::from_query(query.unwrap_or(""))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite_path(url: &str) -> String {
        match DatabaseUrl::parse(url).unwrap() {
            DatabaseUrl::Sqlite { path, .. } => path,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn urls_pick_the_backend() {
        assert_eq!(
            sqlite_path("sqlite:///var/lib/skyline.db"),
            "/var/lib/skyline.db"
        );
        assert_eq!(sqlite_path("sqlite://data/skyline.db"), "data/skyline.db");
        assert_eq!(sqlite_path("sqlite:data/skyline.db"), "data/skyline.db");
        assert_eq!(sqlite_path("skyline.db"), "skyline.db");
        assert!(matches!(
            DatabaseUrl::parse("postgresql://u@h/db"),
            Ok(DatabaseUrl::Postgres(_))
        ));
        let err = DatabaseUrl::parse("mysql://h/db").unwrap_err();
        assert!(err.to_string().contains("`mysql`"), "{err}");
        assert!(DatabaseUrl::parse("sqlite://").is_err());
        assert!(DatabaseUrl::parse("sqlite::memory:").is_err());
    }

    #[test]
    fn sqlite_options_come_from_the_query() {
        let DatabaseUrl::Sqlite { options, .. } =
            DatabaseUrl::parse("sqlite://x.db?synchronous=full").unwrap()
        else {
            panic!()
        };
        assert!(options.synchronous_full);
        assert!(DatabaseUrl::parse("sqlite://x.db?journal=off").is_err());
    }
}
