//! The JobManager's artifact store: application binaries by SHA-256, as Flink's blob
//! server keeps JARs. A file's name is its hash, computed here — never a name or path
//! a client gave — so an upload can neither escape the directory nor replace another
//! application, and a second upload of the same binary is a no-op.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Why an artifact was not stored or found.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The name is not a SHA-256 in hex.
    #[error("'{0}' is not a SHA-256 (64 lowercase hex digits)")]
    BadHash(String),
    /// The bytes do not hash to the name they were uploaded under.
    #[error("the upload's SHA-256 is {actual}, not {expected}")]
    Mismatch {
        /// The name given.
        expected: String,
        /// What the bytes hash to.
        actual: String,
    },
    /// The store's directory failed.
    #[error("artifact store {path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The store, a directory.
#[derive(Debug)]
pub struct ArtifactStore {
    dir: PathBuf,
    /// Files found in the directory and checked against their names in this process
    /// (a file is trusted only after that: the directory may hold what another
    /// process put there).
    verified: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Makes temporary names unique when one binary is uploaded twice at once.
    uploads: std::sync::atomic::AtomicU64,
}

/// The SHA-256 of `bytes`, in lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Hashes what is written through it, so that a file is hashed as it streams by.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W> HashingWriter<W> {
    /// Hashes what goes to `inner`.
    pub fn new(inner: W) -> Self {
        HashingWriter { inner, hasher: Sha256::new(), written: 0 }
    }

    /// How many bytes went through.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The SHA-256 of what was written, in lowercase hex, and how many bytes.
    pub fn finish(self) -> (W, String, u64) {
        let hash = self.hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
        (self.inner, hash, self.written)
    }
}

impl<W: std::io::Write> std::io::Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The SHA-256 of the file at `path`, read a piece at a time.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hashing = HashingWriter::new(std::io::sink());
    std::io::copy(&mut file, &mut hashing)?;
    Ok(hashing.finish().1)
}

/// Whether `hash` is a SHA-256 as artifacts are named: 64 lowercase hex digits.
pub fn is_sha256(hash: &str) -> bool {
    hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn check(hash: &str) -> Result<(), ArtifactError> {
    if is_sha256(hash) { Ok(()) } else { Err(ArtifactError::BadHash(hash.chars().take(80).collect())) }
}

impl ArtifactStore {
    /// A store in `dir`, created if needed, readable by this user only. A directory of
    /// another user is refused: whoever owns it could plant a binary under a hash that
    /// TaskManagers would then run.
    pub fn open(dir: &Path) -> Result<Self, ArtifactError> {
        use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
        let io = |source| ArtifactError::Io { path: dir.display().to_string(), source };
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(io)?;
        let meta = std::fs::metadata(dir).map_err(io)?;
        let me = std::fs::metadata("/proc/self").map(|m| m.uid()).map_err(io)?;
        if meta.uid() != me {
            let error = std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!("the directory belongs to uid {}, not to this user (uid {me})", meta.uid()),
            );
            return Err(io(error));
        }
        if meta.permissions().mode() & 0o022 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
        }
        Ok(ArtifactStore { dir: dir.to_path_buf(), verified: Default::default(), uploads: Default::default() })
    }

    /// The file of artifact `hash`, if stored (and its bytes hash to its name).
    pub fn get(&self, hash: &str) -> Result<Option<PathBuf>, ArtifactError> {
        check(hash)?;
        let path = self.dir.join(hash);
        if !path.is_file() {
            return Ok(None);
        }
        let known = self.verified.lock().map(|v| v.contains(hash)).unwrap_or(false);
        if !known {
            let actual =
                sha256_file(&path).map_err(|source| ArtifactError::Io { path: path.display().to_string(), source })?;
            if actual != hash {
                tracing::warn!(path = %path.display(), "a stored artifact does not match its hash: ignored");
                return Ok(None);
            }
            if let Ok(mut v) = self.verified.lock() {
                v.insert(hash.to_string());
            }
        }
        Ok(Some(path))
    }

    /// Stores `bytes` as artifact `hash`, which they must hash to.
    pub fn put(&self, hash: &str, bytes: &[u8]) -> Result<PathBuf, ArtifactError> {
        let tmp = self.temporary(hash)?;
        let written = std::fs::write(&tmp, bytes);
        written.map_err(|source| ArtifactError::Io { path: tmp.display().to_string(), source })?;
        self.commit(hash, &tmp, &sha256_hex(bytes))
    }

    /// A fresh temporary path in the store, for an upload of `hash` to stream into
    /// (then [`commit`](Self::commit) it): a reader never sees half of an artifact.
    pub fn temporary(&self, hash: &str) -> Result<PathBuf, ArtifactError> {
        check(hash)?;
        let n = self.uploads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(self.dir.join(format!(".{hash}.{}.{n}", std::process::id())))
    }

    /// Makes the upload in `tmp`, which hashed to `actual`, artifact `hash`: executable,
    /// durable, renamed into place. A mismatch removes it.
    pub fn commit(&self, hash: &str, tmp: &Path, actual: &str) -> Result<PathBuf, ArtifactError> {
        use std::os::unix::fs::PermissionsExt as _;
        check(hash)?;
        let io = |p: &Path| {
            let p = p.display().to_string();
            move |source| ArtifactError::Io { path: p, source }
        };
        if actual != hash {
            let _ = std::fs::remove_file(tmp);
            return Err(ArtifactError::Mismatch { expected: hash.to_string(), actual: actual.to_string() });
        }
        if let Some(path) = self.get(hash)? {
            let _ = std::fs::remove_file(tmp);
            return Ok(path);
        }
        let path = self.dir.join(hash);
        let file = std::fs::File::open(tmp).map_err(io(tmp))?;
        file.sync_all().map_err(io(tmp))?;
        let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
        std::fs::set_permissions(tmp, std::fs::Permissions::from_mode(0o755)).map_err(io(tmp))?;
        std::fs::rename(tmp, &path).map_err(io(&path))?;
        if let Ok(mut v) = self.verified.lock() {
            v.insert(hash.to_string());
        }
        tracing::info!(artifact = %hash, bytes, "stored an application");
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifacts_are_named_by_their_hash_and_checked() {
        let dir = std::env::temp_dir().join(format!("spate-artifacts-test-{}", std::process::id()));
        let store = ArtifactStore::open(&dir).unwrap();
        let bytes = b"#!/bin/sh\necho hi\n";
        let hash = sha256_hex(bytes);
        assert_eq!(store.get(&hash).unwrap(), None);
        let path = store.put(&hash, bytes).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        assert_eq!(store.get(&hash).unwrap(), Some(path));
        let other = sha256_hex(b"other");
        assert!(matches!(store.put(&other, bytes), Err(ArtifactError::Mismatch { .. })));
        assert!(matches!(store.get("../../etc/passwd"), Err(ArtifactError::BadHash(_))));
        assert!(matches!(store.put(&hash.to_uppercase(), bytes), Err(ArtifactError::BadHash(_))));
        // A file planted under a hash it does not have is not served, by a new store
        // either.
        let planted = sha256_hex(b"what the name says");
        std::fs::write(dir.join(&planted), b"something else").unwrap();
        assert_eq!(ArtifactStore::open(&dir).unwrap().get(&planted).unwrap(), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
