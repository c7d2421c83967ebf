//! The identity key file: the Ed25519 seed as 64 hex characters, mode 0600.

use std::fs;
use std::io::Write;
use std::path::Path;

use skyline_protocol::IdentityKeyPair;

use crate::CliError;

/// Writes a new identity key to `path`, refusing to overwrite an existing file.
pub fn create(path: &Path) -> Result<IdentityKeyPair, CliError> {
    let pair = IdentityKeyPair::generate()
        .map_err(|e| CliError::new(format!("cannot generate a key: {e}")))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)
            .map_err(|e| CliError::new(format!("cannot create {}: {e}", dir.display())))?;
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            CliError::new(format!(
                "{} already exists; refusing to overwrite an identity key",
                path.display()
            ))
        } else {
            CliError::new(format!("cannot create {}: {e}", path.display()))
        }
    })?;
    let seed = pair.seed_hex();
    file.write_all(seed.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .map_err(|e| CliError::new(format!("cannot write {}: {e}", path.display())))?;
    Ok(pair)
}

/// Reads the identity key at `path`.
pub fn load(path: &Path) -> Result<IdentityKeyPair, CliError> {
    let text = fs::read_to_string(path)
        .map_err(|e| CliError::new(format!("cannot read identity key {}: {e}", path.display())))?;
    IdentityKeyPair::from_seed_hex(&text).map_err(|e| {
        CliError::new(format!(
            "{} is not an identity key ({e}); expected the 64-hex-character seed written by `skyline keygen`",
            path.display()
        ))
    })
}

/// Reads the key at `path`, or creates it when `create_if_missing` and it
/// does not exist. Returns the key and whether it was created.
pub fn load_or_create(
    path: &Path,
    create_if_missing: bool,
) -> Result<(IdentityKeyPair, bool), CliError> {
    if path.exists() || !create_if_missing {
        return load(path).map(|k| (k, false));
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
        assert!(load(&path).is_err());
    }
}
