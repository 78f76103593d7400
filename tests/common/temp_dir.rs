//! A temporary directory for one test, shared by the test binaries (each includes this
//! file with `#[path]`).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// A fresh directory for one test, removed when the test ends, also when it fails
/// (the guard is dropped while the panic unwinds).
pub struct TempDir(PathBuf);

impl TempDir {
    /// A fresh directory `spate-{name}-{pid}` under the system's temporary directory.
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("spate-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl std::ops::Deref for TempDir {
    type Target = PathBuf;
    fn deref(&self) -> &PathBuf {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<OsStr> for TempDir {
    fn as_ref(&self) -> &OsStr {
        self.0.as_os_str()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
