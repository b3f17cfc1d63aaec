//! The journal's on-disk layout under the bridge data directory, and its key files.
//!
//! ```text
//! DATA/journal/journal.log    entries (segment)          DATA/journal/index/   sled (nodes)
//! DATA/journal/checkpoint     latest signed checkpoint   DATA/journal/journal.key  PKCS#8 (0600)
//! DATA/journal/journal.vkey   verifier key (public; give it to auditors)
//! ```
//! The key is generated on first use. Its name is the journal origin and never changes, since
//! every checkpoint ever signed carries it.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::checkpoint::{JournalKey, NoteError, NoteVerifier};
use super::storage::{StorageError, StorageOp};

/// The journal directory inside a bridge data directory.
pub fn journal_dir(data: &Path) -> PathBuf {
    data.join("journal")
}

const KEY_FILE: &str = "journal.key";
const VKEY_FILE: &str = "journal.vkey";

/// Why the key files cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// Reading or writing a key file failed.
    #[error(transparent)]
    Io(#[from] StorageError),
    /// The key file does not hold a usable key, or the verifier file does not parse.
    #[error(transparent)]
    Key(#[from] NoteError),
    /// The stored key's name is not the configured origin: the journal would change identity.
    #[error("journal key is named {found:?}, configured origin is {expected:?}")]
    OriginChanged {
        /// Name in the verifier file.
        found: String,
        /// Configured origin.
        expected: String,
    },
}

/// Loads the journal key from `dir`, generating and storing it (and its verifier key) on first
/// use.
///
/// # Errors
/// [`KeyFileError`].
pub fn load_or_create_key(dir: &Path, origin: &str) -> Result<JournalKey, KeyFileError> {
    let io = |e: std::io::Error| StorageError::io(StorageOp::Open, &e);
    std::fs::create_dir_all(dir).map_err(io)?;
    let key_path = dir.join(KEY_FILE);
    match std::fs::read(&key_path) {
        Ok(pem) => {
            match read_verifier(dir) {
                Ok(v) if v.name() != origin => Err(KeyFileError::OriginChanged {
                    found: v.name().into(),
                    expected: origin.into(),
                }),
                Ok(_) => Ok(JournalKey::from_pkcs8_pem(origin, &pem)?),
                Err(_) => {
                    // The public file is derived: restore it so auditors and exports have it.
                    let key = JournalKey::from_pkcs8_pem(origin, &pem)?;
                    write_verifier(dir, &key)?;
                    Ok(key)
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = JournalKey::generate(origin)?;
            let pem = key.to_pkcs8_pem()?;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(&key_path).map_err(io)?;
            f.write_all(&pem).and_then(|()| f.sync_all()).map_err(io)?;
            write_verifier(dir, &key)?;
            Ok(key)
        }
        Err(e) => Err(io(e).into()),
    }
}

fn write_verifier(dir: &Path, key: &JournalKey) -> Result<(), KeyFileError> {
    std::fs::write(dir.join(VKEY_FILE), key.verifier().to_vkey() + "\n")
        .map_err(|e| StorageError::io(StorageOp::Open, &e).into())
}

/// Reads the verifier key of the journal in `dir`.
///
/// # Errors
/// [`KeyFileError`].
pub fn read_verifier(dir: &Path) -> Result<NoteVerifier, KeyFileError> {
    let text = std::fs::read_to_string(dir.join(VKEY_FILE))
        .map_err(|e| StorageError::io(StorageOp::ReadCheckpoint, &e))?;
    Ok(NoteVerifier::parse(text.trim_end())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_created_once_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let k1 = load_or_create_key(dir.path(), "o").unwrap();
        let k2 = load_or_create_key(dir.path(), "o").unwrap();
        assert_eq!(k1.verifier(), k2.verifier());
        assert_eq!(&read_verifier(dir.path()).unwrap(), k1.verifier());
        std::fs::remove_file(dir.path().join(VKEY_FILE)).unwrap();
        load_or_create_key(dir.path(), "o").unwrap();
        assert_eq!(&read_verifier(dir.path()).unwrap(), k1.verifier());
        assert_eq!(
            load_or_create_key(dir.path(), "p").unwrap_err(),
            KeyFileError::OriginChanged {
                found: "o".into(),
                expected: "p".into()
            }
        );
    }
}
