//! Files that hold secrets or customer data (the data directory, the SQLite
//! database, export dumps, the identity key) are made private to their
//! owner: directories 0700, files 0600. On systems without Unix modes these
//! are plain creations.

use std::fs;
use std::io;
use std::path::Path;

/// Creates `dir` and its missing parents, each new one with mode 0700.
/// Directories that already exist are left as they are.
pub fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Options that create a new file (never an existing one) with mode 0600.
pub fn private_new_file() -> fs::OpenOptions {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

/// Creates an empty file at `path` with mode 0600 unless something is
/// there already, so that a database opened next inherits that mode (SQLite
/// gives its journal and WAL files the database file's mode).
pub fn create_private_file_if_missing(path: &Path) -> io::Result<()> {
    match private_new_file().open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// The permission bits of `path` that let others than its owner (group or
/// world) read or write it; `None` when there are none (or on systems
/// without Unix modes).
pub fn exposed_mode(path: &Path) -> io::Result<Option<u32>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path)?.permissions().mode() & 0o777;
        Ok((mode & 0o066 != 0).then_some(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(None)
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_directories_and_files_are_private() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        create_private_dir_all(&dir).unwrap();
        assert_eq!(mode(&root.path().join("a")), 0o700);
        assert_eq!(mode(&dir), 0o700);
        let file = dir.join("db");
        create_private_file_if_missing(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
        fs::write(&file, b"kept").unwrap();
        create_private_file_if_missing(&file).unwrap();
        assert_eq!(fs::read(&file).unwrap(), b"kept");
        assert_eq!(exposed_mode(&file).unwrap(), None);
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(exposed_mode(&file).unwrap(), Some(0o644));
    }
}
