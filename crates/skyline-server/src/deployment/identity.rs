//! The identity key file: the Ed25519 seed as 64 hex characters, mode 0600.
//! Only `skyline keygen` and `skyline serve` (at the default path) create one.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use skyline_protocol::IdentityKeyPair;

/// The identity key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// No key at the path, and this command may not create one.
    #[error(
        "no identity key at {}: this command signs with the server's identity key; \
         give it with --identity FILE (create one with `skyline keygen --out FILE`)",
        path.display()
    )]
    Missing {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The file exists but could not be read, or is not a key.
    #[error("{} is not a usable identity key: {why}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// Others than the file's owner may read or write the key.
    #[error(
        "the identity key {} is readable or writable by others (mode {mode:03o}): \
         anyone who reads it can impersonate this server and sign releases; \
         run `chmod 600 {}` (or pass --allow-exposed-identity to use it anyway)",
        path.display(),
        path.display()
    )]
    Exposed {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A new key could not be written.
    #[error("cannot write an identity key to {}: {why}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
}

/// Writes a new identity key to `path` (mode 0600, parent directories
/// created), refusing to overwrite an existing file.
pub fn create(path: &Path) -> Result<IdentityKeyPair, IdentityError> {
    let failed = |why: String| IdentityError::Write {
        path: path.to_owned(),
        why,
    };
    let pair = IdentityKeyPair::generate().map_err(|e| failed(e.to_string()))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::files::create_private_dir_all(dir)
            .map_err(|e| failed(format!("cannot create {}: {e}", dir.display())))?;
    }
    let mut file = crate::files::private_new_file().open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            failed("the file already exists; refusing to overwrite an identity key".into())
        } else {
            failed(e.to_string())
        }
    })?;
    let seed = pair.seed_hex();
    file.write_all(seed.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .map_err(|e| failed(e.to_string()))?;
    Ok(pair)
}

/// Reads the identity key at `path`, refusing a file that others than its
/// owner may read or write.
pub fn load(path: &Path) -> Result<IdentityKeyPair, IdentityError> {
    load_checked(path, false)
}

/// [`load`], or, with `allow_exposed`, read an exposed key anyway with a
/// warning in the log.
pub fn load_checked(path: &Path, allow_exposed: bool) -> Result<IdentityKeyPair, IdentityError> {
    match crate::files::exposed_mode(path) {
        Ok(Some(mode)) if allow_exposed => tracing::warn!(
            path = %path.display(),
            mode = format!("{mode:03o}"),
            "the identity key is readable or writable by others; used because \
             --allow-exposed-identity was given: chmod 600 it"
        ),
        Ok(Some(mode)) => {
            return Err(IdentityError::Exposed {
                path: path.to_owned(),
                mode,
            })
        }
        // A missing file is reported below, as before.
        Ok(None) | Err(_) => {}
    }
    read_key(path)
}

fn read_key(path: &Path) -> Result<IdentityKeyPair, IdentityError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(IdentityError::Missing {
                path: path.to_owned(),
            })
        }
        Err(e) => {
            return Err(IdentityError::Unreadable {
                path: path.to_owned(),
                why: e.to_string(),
            })
        }
    };
    IdentityKeyPair::from_seed_hex(&text).map_err(|e| IdentityError::Unreadable {
        path: path.to_owned(),
        why: format!("{e}; expected the 64-hex-character seed written by `skyline keygen`"),
    })
}

/// Reads the key at `path`, or creates it when `create_if_missing` and it
/// does not exist. Returns the key and whether it was created.
pub fn load_or_create(
    path: &Path,
    create_if_missing: bool,
    allow_exposed: bool,
) -> Result<(IdentityKeyPair, bool), IdentityError> {
    if path.exists() || !create_if_missing {
        return load_checked(path, allow_exposed).map(|k| (k, false));
    }
    create(path).map(|k| (k, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_key_is_private_and_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/identity.key");
        let created = create(&path).unwrap();
        assert_eq!(load(&path).unwrap().public(), created.public());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(create(&path).is_err(), "never overwrites");
        fs::write(&path, "nonsense").unwrap();
        assert!(matches!(load(&path), Err(IdentityError::Unreadable { .. })));
        assert!(matches!(
            load(&dir.path().join("none")),
            Err(IdentityError::Missing { .. })
        ));
    }
}
