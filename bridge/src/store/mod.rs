//! The only module that opens databases; nothing else imports sled or redb. Two engines, chosen by
//! churn:
//! - sled (`data_dir/store/`) for the low-churn data: the participant directory, the trust
//!   snapshot cache, the evidence archive. These grow slowly and are bounded by what they
//!   describe. (The journal is flat files, module `journal`.)
//! - redb (`data_dir/store/exchange.redb`, module `exchange_db`) for the exchange's outbox and
//!   inbox, with their payloads in append-only segments beside it (`data_dir/store/payloads/`,
//!   module `payload_log`): every message inserts about five keys, drops its payload once done, and the
//!   retention task purges the rest. Under that churn sled 0.34 neither reclaims the space of
//!   deleted items (spacejam/sled#1333) nor bounds the memory of paged-out pages
//!   (spacejam/sled#1093): `bench soak` measured its store growing by about 10 KiB per message
//!   for good (7 GB in 7 minutes, purges included) and its resident set growing from 100 to
//!   500 MB in 4 minutes once purges started. redb's copy-on-write B-tree reuses freed pages and
//!   its page cache is bounded.
//!
//! Outbox and inbox records expire through their own indexes (module `expiry`).

pub mod directory;
mod durable;
pub mod evidence;
pub mod exchange_db;
mod expiry;
pub mod inbox;
pub mod journal;
mod journal_history;
mod journal_nodes;
mod journal_offsets;
mod journal_records;
mod migrate;
pub mod outbox;
pub mod payload_log;
mod receipt_chains;
pub mod space;
pub mod trust;

pub use durable::GroupCommit;
pub use exchange_db::{ExchangeDb, WriteMode};

use std::path::{Path, PathBuf};

/// Why the store could not be opened or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// sled refused to open the database (another process holds it, or it is corrupt).
    #[error("cannot open the store at {path}: {source}")]
    Open {
        /// The sled directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: sled::Error,
    },
    /// A read or write failed.
    #[error("store i/o: {0}")]
    Io(#[from] sled::Error),
    /// redb refused to open the exchange database (another process holds it, or it is corrupt).
    #[error("cannot open the exchange database at {path}: {source}")]
    OpenDb {
        /// The database file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: redb::Error,
    },
    /// A read or write of the exchange database (module `exchange_db`) failed.
    #[error("exchange database: {0}")]
    Db(#[from] redb::Error),
    /// Making a write durable failed: the write must be treated as not acknowledged.
    #[error("store sync failed: {reason}")]
    Sync {
        /// The I/O error, as text (the cause is not `Clone`).
        reason: String,
    },
    /// A write could not be made durable (an I/O error while applying it, or while flushing and
    /// syncing its group): it is not acknowledged, and the committer refuses every later write
    /// until the store is reopened (`durable`: a failed sync is never retried).
    #[error("store writes stopped after an i/o failure ({kind}); restart to recover")]
    Failed {
        /// The OS error kind of the failure (`StorageFull` for a full disk).
        kind: std::io::ErrorKind,
    },
    /// New work was refused: the file system under the store is down to its reserve
    /// (`space`), so what is already accepted can still finish.
    #[error("storage nearly full: {available} bytes free, {reserve} kept in reserve")]
    NoSpace {
        /// Bytes available.
        available: u64,
        /// Bytes kept free.
        reserve: u64,
    },
    /// The committer thread has stopped (shutdown).
    #[error("the store is closed")]
    Closed,
    /// A stored record does not decode: the store was edited or is corrupt.
    #[error("corrupt record in {tree}: {detail}")]
    Corrupt {
        /// The tree.
        tree: &'static str,
        /// What did not decode.
        detail: String,
    },
}

impl StoreError {
    /// The OS error kind behind an I/O failure, if this is one.
    pub fn io_kind(&self) -> Option<std::io::ErrorKind> {
        match self {
            StoreError::Io(sled::Error::Io(e))
            | StoreError::Open {
                source: sled::Error::Io(e),
                ..
            } => Some(e.kind()),
            StoreError::Db(redb::Error::Io(e))
            | StoreError::OpenDb {
                source: redb::Error::Io(e),
                ..
            } => Some(e.kind()),
            StoreError::Failed { kind } => Some(*kind),
            StoreError::NoSpace { .. } => Some(std::io::ErrorKind::StorageFull),
            _ => None,
        }
    }

    /// True when the failure is a full disk or an exhausted quota (`ENOSPC`, `EDQUOT`).
    pub fn is_storage_full(&self) -> bool {
        self.io_kind().is_some_and(is_full)
    }
}

/// True for the I/O error kinds of a full disk or an exhausted quota.
pub fn is_full(kind: std::io::ErrorKind) -> bool {
    matches!(
        kind,
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

/// The embedded database.
#[derive(Debug, Clone)]
pub struct Store {
    db: sled::Db,
    path: PathBuf,
    commit: GroupCommit,
    exchange: ExchangeDb,
}

impl Store {
    /// Opens (creating if needed) the store under `data_dir/store`: sled's files and, among
    /// them, the exchange database `exchange.redb`; moves an outbox and inbox left in sled by an
    /// older bridge into it (module `migrate`).
    ///
    /// # Errors
    /// When sled or redb cannot open its database.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        let path = data_dir.join("store");
        let db = open_sled(&path)?;
        let commit = GroupCommit::start(db.clone(), &path)?;
        let tables = [
            &outbox::TABLES[..],
            &inbox::TABLES[..],
            &[receipt_chains::CHAINS],
        ]
        .concat();
        let exchange = ExchangeDb::open(&path.join(exchange_db::EXCHANGE_DB_FILE), &tables)?;
        // A store from before the exchange database keeps its outbox and inbox in sled.
        migrate::from_sled(&db, &commit, &exchange)?;
        Ok(Store {
            db,
            path,
            commit,
            exchange,
        })
    }

    /// Where the database lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes sled's dirty pages. Not a durability barrier (sled 0.34 uses sync_file_range): modules
    /// that acknowledge writes make them durable themselves.
    ///
    /// # Errors
    /// On I/O failure.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// The free-space guard of the file system holding the store (`space`).
    pub fn space(&self) -> space::SpaceGuard {
        space::SpaceGuard::new(&self.path)
    }

    /// The group committer of sled writes that must be durable before they are acknowledged
    /// (directory, trust snapshots, evidence; the exchange has its own, [`ExchangeDb`]).
    pub fn commit(&self) -> &GroupCommit {
        &self.commit
    }

    /// The participant directory's trees.
    ///
    /// # Errors
    /// When its trees cannot be opened.
    pub fn directory(&self) -> Result<directory::DirectoryStore, directory::DirectoryStoreError> {
        directory::DirectoryStore::open(self.db.clone())
    }

    /// The trust snapshot trees (`trust.snapshots`, `trust.meta`).
    ///
    /// # Errors
    /// When its trees cannot be opened.
    pub fn trust(&self) -> Result<trust::TrustSnapshotStore, StoreError> {
        trust::TrustSnapshotStore::open(self)
    }

    /// The exchange outbox's tables (in the exchange database, created by [`Store::open`]).
    ///
    /// # Errors
    /// None today; kept fallible like the other stores.
    pub fn outbox(&self) -> Result<outbox::OutboxStore, StoreError> {
        Ok(outbox::OutboxStore::open(
            self.exchange.clone(),
            self.space(),
        ))
    }

    /// The exchange inbox's tables (in the exchange database, created by [`Store::open`]).
    ///
    /// # Errors
    /// None today; kept fallible like the other stores.
    pub fn inbox(&self) -> Result<inbox::InboxStore, StoreError> {
        Ok(inbox::InboxStore::open(self.exchange.clone(), self.space()))
    }

    /// The evidence archive (tree `evidence.chains`): certificate chains of journaled trust
    /// decisions, by digest.
    ///
    /// # Errors
    /// When its tree cannot be opened.
    pub fn evidence(&self) -> Result<evidence::EvidenceStore, StoreError> {
        evidence::EvidenceStore::open(self)
    }

    /// The raw handle, for the typed tree modules of this directory only.
    #[allow(dead_code)]
    pub(crate) fn db(&self) -> &sled::Db {
        &self.db
    }
}

/// How long `open` keeps trying when sled's file lock is still held. Dropping a sled database
/// does not wait for its background I/O threads, which hold the file (and its lock) a little
/// longer; a restart in the same process, or right after a stop, would otherwise fail spuriously.
/// Another live process holding the store still fails, after this delay. The exchange database's
/// open (`exchange_db`) waits as long for the redb file lock, and the journal's (`journal`) for
/// its segment lock.
pub(crate) const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Page cache of each sled database, in bytes. sled's default is 1 GiB per database and a bridge
/// opens two (the store and the journal index), so without a bound the resident set grows with
/// the data towards 2 GiB. 16 MiB holds the hot working set (outbox and inbox records in flight,
/// the journal's recent tree nodes) many times over at the rates of `bench submit`, and lets
/// `bench soak` reach its memory plateau within its warm-up.
pub const SLED_CACHE_BYTES: u64 = 16 * 1024 * 1024;

pub(crate) fn open_sled(path: &Path) -> Result<sled::Db, StoreError> {
    let started = std::time::Instant::now();
    loop {
        match sled::Config::new()
            .path(path)
            .cache_capacity(SLED_CACHE_BYTES)
            .open()
        {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(e))
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.to_string().contains("could not acquire lock") =>
            {
                if started.elapsed() >= LOCK_WAIT {
                    return Err(StoreError::Open {
                        path: path.to_owned(),
                        source: sled::Error::Io(e),
                    });
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(source) => {
                return Err(StoreError::Open {
                    path: path.to_owned(),
                    source,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.db().insert(b"k", b"v").unwrap();
        store.db().flush().unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.db().get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
    }
}
