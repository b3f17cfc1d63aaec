//! The exchange's working state (outbox and inbox, module `outbox` and `inbox`) in redb, with a
//! group committer.
//!
//! Why redb and not sled: every message inserts about five keys and removes its payload once
//! done, and the retention task purges the rest. `bench soak` showed sled 0.34 never giving that
//! churn's space back (about 10 KiB per message, purges or not: spacejam/sled#1333) and its
//! resident memory growing with it (spacejam/sled#1093). redb is a copy-on-write B-tree that
//! reuses the pages a commit frees, with a bounded page cache ([`EXCHANGE_DB_CACHE_BYTES`]) and
//! commits that end in `fsync`.
//!
//! # Group commit
//! One thread, as in `durable`, takes every queued write job (up to [`MAX_GROUP`]), runs them all
//! in one write transaction and commits it once: with [`redb::Durability::Immediate`] when any
//! job of the group asked to be durable ([`WriteMode::Durable`]), else with
//! [`redb::Durability::None`]. redb documents that a `None` commit "will not be persisted to disk
//! unless followed by a commit with `Immediate`": so the next durable group makes every earlier
//! deferred one durable too, in commit order, which is what `OutboxStore::stage` relies on.
//! Readers see every commit, deferred or not, through [`ExchangeDb::read`].
//!
//! A job whose closure fails must not take the other jobs of its group down with it. redb has no
//! nested transactions (an ephemeral savepoint can only be taken before any table is opened), so
//! the transaction is aborted, the failing job is answered with its error, and the rest of the
//! group runs again in a fresh transaction. Closures are therefore `FnMut` and may run more than
//! once, each time against the same state: they must only record their outcome, never act on it.
//!
//! # Failures latch
//! As in `durable` (fsyncgate): a commit that fails, or a job that fails with an I/O error,
//! stops the committer: that group and every later write are answered [`StoreError::Failed`]
//! until the store is reopened. redb itself refuses write transactions after a failed commit
//! until it is reopened, and reopening repairs it.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::thread;

use redb::{Database, ReadTransaction, ReadableDatabase, TableDefinition, WriteTransaction};

use super::payload_log::{self, PayloadLog};
use super::{StoreError, LOCK_WAIT};

/// The file of the exchange database, inside the store directory.
pub const EXCHANGE_DB_FILE: &str = "exchange.redb";

/// Page cache of the exchange database, in bytes (redb's default is 1 GiB). The database holds
/// working state that is read back once or twice (the relay's next attempt, a status lookup),
/// so a small cache costs no throughput: `bench submit` ran at the same 2,840–2,990 msg/s with
/// 4 MiB as with 16. The cache is long-lived memory churned page by page, and under `bench
/// soak` 16 MiB made about 24 MB of the resident set (two databases) and a share of its slow
/// rise: 68–73 MB and 226–706 KiB/min with 16 MiB, 42–52 MB and 39–235 KiB/min with 4 MiB
/// (deploy/OPERATIONS.md).
pub const EXCHANGE_DB_CACHE_BYTES: usize = 4 * 1024 * 1024;

/// How many write jobs may wait for the committer before writers block: back-pressure from a
/// stalled disk instead of growing memory (as `durable`).
const QUEUE_CAPACITY: usize = 4096;

/// Most jobs folded into one transaction, so a flood of writers cannot starve acknowledgement
/// (as `durable`).
pub const MAX_GROUP: usize = 1024;

/// A table of the exchange database: byte keys to byte values.
pub(crate) type Table = TableDefinition<'static, &'static [u8], &'static [u8]>;

/// Small values of the modules sharing the database (the inbox's next arrival sequence, the
/// mark of the migration from sled), each under its own key; created by [`ExchangeDb::open`].
pub(crate) const META: Table = TableDefinition::new("meta");

/// Whether a write must be on disk before it is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Committed with `fsync` (its group commits with [`redb::Durability::Immediate`]).
    Durable,
    /// Committed and visible to readers, made durable by the next durable commit; a crash
    /// before that loses it.
    Deferred,
}

/// A write job: runs inside the group's transaction, possibly more than once (module doc).
type Apply = Box<dyn FnMut(&WriteTransaction) -> Result<(), StoreError> + Send>;

/// Called once with the job's outcome (a oneshot for async writers, a std channel otherwise).
type Done = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

struct Job {
    apply: Apply,
    mode: WriteMode,
    done: Done,
}

/// The exchange database and its committer. Clones share both; dropping the last clone lets the
/// committer finish what is queued, joins it, then closes the database (so a reopen in the same
/// process finds redb's file lock released).
#[derive(Debug, Clone)]
pub struct ExchangeDb {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    tx: Option<mpsc::SyncSender<Job>>,
    thread: Option<thread::JoinHandle<()>>,
    db: Arc<Database>,
    payloads: Arc<PayloadLog>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(handle) = self.thread.take() {
            let _ = handle.join();
        }
    }
}

impl ExchangeDb {
    /// Opens (creating if needed) the database at `path` and its payload segments in
    /// [`payload_log::PAYLOAD_DIR`] beside it, creates `tables`, the `meta` table and the
    /// segment counts, deletes segments nothing refers to, and starts the committer. Waits up
    /// to `LOCK_WAIT` for a previous owner in this process to let go.
    ///
    /// # Errors
    /// [`StoreError::OpenDb`] when redb cannot open the file; a failure to create the tables.
    pub fn open(path: &Path, tables: &[Table]) -> Result<ExchangeDb, StoreError> {
        let db = Arc::new(open_redb(path)?);
        let mut txn = db.begin_write().map_err(redb::Error::from)?;
        txn.set_durability(redb::Durability::Immediate)
            .map_err(redb::Error::from)?;
        for table in tables.iter().chain([&META, &payload_log::SEGMENTS]) {
            txn.open_table(*table).map_err(redb::Error::from)?;
        }
        txn.commit().map_err(redb::Error::from)?;
        let dir = path
            .parent()
            .unwrap_or(Path::new("."))
            .join(payload_log::PAYLOAD_DIR);
        let payloads = Arc::new(PayloadLog::open(&dir)?);
        payloads.collect(&db, true)?;
        let (tx, rx) = mpsc::sync_channel::<Job>(QUEUE_CAPACITY);
        let (committer, log) = (db.clone(), payloads.clone());
        let handle = thread::Builder::new()
            .name("exchange-commit".into())
            .spawn(move || run(&committer, &log, &rx))
            .map_err(|e| StoreError::Sync {
                reason: format!("cannot start the exchange commit thread: {e}"),
            })?;
        Ok(ExchangeDb {
            inner: Arc::new(Inner {
                tx: Some(tx),
                thread: Some(handle),
                db,
                payloads,
            }),
        })
    }

    /// A read transaction: a consistent snapshot of every commit so far, deferred ones included.
    ///
    /// # Errors
    /// Storage failures.
    pub fn read(&self) -> Result<ReadTransaction, StoreError> {
        Ok(self.inner.db.begin_read().map_err(redb::Error::from)?)
    }

    /// The payload segments, for write jobs (`payload_log::put`) and readers.
    pub fn payloads(&self) -> &Arc<PayloadLog> {
        &self.inner.payloads
    }

    /// Deletes the closed payload segments nothing refers to, now (the committer does it at
    /// most every second). Returns how many.
    ///
    /// # Errors
    /// As [`PayloadLog::collect`].
    #[cfg(test)]
    pub(super) fn collect_payloads(&self) -> Result<usize, StoreError> {
        self.inner.payloads.collect(&self.inner.db, true)
    }

    fn sender(&self) -> Result<mpsc::SyncSender<Job>, StoreError> {
        self.inner.tx.clone().ok_or(StoreError::Closed)
    }

    /// Runs `apply` in the next group transaction and resolves, with what `apply` returned, once
    /// that transaction is committed (and, for [`WriteMode::Durable`], on disk). `apply` should
    /// be a quick batch of reads and writes: it runs on the committer thread, and may run more
    /// than once (module doc): only the value of its last run is returned.
    ///
    /// # Errors
    /// What `apply` returned, or a commit failure.
    pub async fn write<T: Send + 'static>(
        &self,
        mode: WriteMode,
        apply: impl FnMut(&WriteTransaction) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (apply, found) = keep_outcome(apply);
        let (done, wait) = tokio::sync::oneshot::channel();
        let job = Job {
            apply,
            mode,
            done: Box::new(move |outcome| {
                let _ = done.send(outcome);
            }),
        };
        super::durable::enqueue(self.sender()?, job).await?;
        wait.await.map_err(|_| StoreError::Closed)??;
        take(&found)
    }

    /// Blocking variant of [`ExchangeDb::write`], for code outside tokio (or in its blocking
    /// pool).
    ///
    /// # Errors
    /// As [`ExchangeDb::write`].
    pub fn write_blocking<T: Send + 'static>(
        &self,
        mode: WriteMode,
        apply: impl FnMut(&WriteTransaction) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (apply, found) = keep_outcome(apply);
        let (done, wait) = mpsc::sync_channel(1);
        self.sender()?
            .send(Job {
                apply,
                mode,
                done: Box::new(move |outcome| {
                    let _ = done.send(outcome);
                }),
            })
            .map_err(|_| StoreError::Closed)?;
        wait.recv().map_err(|_| StoreError::Closed)??;
        take(&found)
    }
}

/// Where a job leaves the value of its last run for its writer.
type Found<T> = Arc<std::sync::Mutex<Option<T>>>;

/// Wraps `apply` into a job that keeps its value in the returned slot (each run overwrites it).
fn keep_outcome<T: Send + 'static>(
    mut apply: impl FnMut(&WriteTransaction) -> Result<T, StoreError> + Send + 'static,
) -> (Apply, Found<T>) {
    let found: Found<T> = Arc::default();
    let slot = found.clone();
    let job = move |txn: &WriteTransaction| {
        let value = apply(txn)?;
        // A poisoned lock only means a writer panicked while reading it; the slot is whole.
        *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(value);
        Ok(())
    };
    (Box::new(job), found)
}

/// The value a committed job left.
fn take<T>(found: &Found<T>) -> Result<T, StoreError> {
    found
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
        // A job is answered `Ok` only after a run that returned a value, which it keeps.
        .ok_or_else(|| StoreError::Corrupt {
            tree: "exchange",
            detail: "a write committed without its outcome".into(),
        })
}

macro_rules! via_redb_error {
    ($($from:ty),*) => {$(
        impl From<$from> for StoreError {
            fn from(e: $from) -> StoreError {
                StoreError::Db(redb::Error::from(e))
            }
        }
    )*};
}

// redb's per-operation error types, all carried as `redb::Error` (so `io_kind` sees I/O errors).
via_redb_error!(
    redb::StorageError,
    redb::TableError,
    redb::TransactionError,
    redb::CommitError,
    redb::SetDurabilityError
);

/// Opens the database, retrying while another handle of this process still holds its lock.
fn open_redb(path: &Path) -> Result<Database, StoreError> {
    let started = std::time::Instant::now();
    loop {
        match redb::Builder::new()
            .set_cache_size(EXCHANGE_DB_CACHE_BYTES)
            .create(path)
        {
            Ok(db) => return Ok(db),
            Err(redb::DatabaseError::DatabaseAlreadyOpen) if started.elapsed() < LOCK_WAIT => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => {
                return Err(StoreError::OpenDb {
                    path: PathBuf::from(path),
                    source: e.into(),
                })
            }
        }
    }
}

/// The committer loop: one transaction per group until every sender is gone.
fn run(db: &Database, log: &PayloadLog, rx: &mpsc::Receiver<Job>) {
    let mut latched: Option<io::ErrorKind> = None;
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        if let Some(kind) = latched {
            refuse(group, kind);
            continue;
        }
        if let Err(kind) = commit_group(db, log, group) {
            tracing::error!(error.kind = %kind, "exchange store write failed; refusing writes until restart");
            latched = Some(kind);
        } else if let Err(e) = log.collect(db, false) {
            // Only disk space is at stake; the next collection tries again.
            tracing::warn!(error = %e, "payload segments not collected");
        }
    }
}

/// Answers every job of `group` with [`StoreError::Failed`].
fn refuse(group: Vec<Job>, kind: io::ErrorKind) {
    for job in group {
        (job.done)(Err(StoreError::Failed { kind }));
    }
}

/// The I/O error kind of a redb failure; `Other` for one that is not an I/O error.
fn kind_of(e: impl Into<redb::Error>) -> io::ErrorKind {
    StoreError::from(e.into())
        .io_kind()
        .unwrap_or(io::ErrorKind::Other)
}

/// Runs `group` in one transaction and commits it; a failing job is answered alone and the rest
/// run again without it (module doc). Every job is answered. `Err` when the committer must latch.
fn commit_group(db: &Database, log: &PayloadLog, mut group: Vec<Job>) -> Result<(), io::ErrorKind> {
    while !group.is_empty() {
        log.begin();
        let mut txn = match db.begin_write() {
            Ok(txn) => txn,
            Err(e) => {
                let kind = kind_of(e);
                refuse(group, kind);
                return Err(kind);
            }
        };
        let failed = group
            .iter_mut()
            .enumerate()
            .find_map(|(i, job)| (job.apply)(&txn).err().map(|e| (i, e)));
        if let Some((i, error)) = failed {
            // A failed abort leaves redb refusing the next `begin_write`, which latches.
            let _ = txn.abort();
            let job = group.remove(i);
            let io = error.io_kind();
            (job.done)(Err(error));
            if let Some(kind) = io {
                refuse(group, kind);
                return Err(kind);
            }
            continue;
        }
        let durable = group.iter().any(|job| job.mode == WriteMode::Durable);
        let durability = if durable {
            redb::Durability::Immediate
        } else {
            redb::Durability::None
        };
        // The payloads the transaction refers to are on disk before it commits (module
        // `payload_log`).
        if let Err(e) = log.write_staged(durable) {
            let _ = txn.abort();
            refuse(group, e.kind());
            return Err(e.kind());
        }
        let committed = txn
            .set_durability(durability)
            .map_err(redb::Error::from)
            .and_then(|()| txn.commit().map_err(redb::Error::from));
        return match committed {
            Ok(()) => {
                for job in group {
                    (job.done)(Ok(()));
                }
                Ok(())
            }
            Err(e) => {
                let kind = kind_of(e);
                refuse(group, kind);
                Err(kind)
            }
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Table = TableDefinition::new("t");

    fn get(db: &ExchangeDb, key: &str) -> Option<Vec<u8>> {
        let read = db.read().unwrap();
        let table = read.open_table(T).unwrap();
        table
            .get(key.as_bytes())
            .unwrap()
            .map(|v| v.value().to_vec())
    }

    fn put(key: &'static str) -> impl FnMut(&WriteTransaction) -> Result<(), StoreError> {
        move |txn| {
            let mut t = txn.open_table(T).map_err(redb::Error::from)?;
            t.insert(key.as_bytes(), &b"v"[..])
                .map_err(redb::Error::from)?;
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_durable_write_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(EXCHANGE_DB_FILE);
        {
            let db = ExchangeDb::open(&path, &[T]).unwrap();
            db.write(WriteMode::Durable, put("k")).await.unwrap();
            assert_eq!(get(&db, "k").as_deref(), Some(&b"v"[..]));
        }
        let db = ExchangeDb::open(&path, &[T]).unwrap();
        assert_eq!(get(&db, "k").as_deref(), Some(&b"v"[..]));
    }

    #[tokio::test]
    async fn a_deferred_write_is_made_durable_by_the_next_durable_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(EXCHANGE_DB_FILE);
        {
            let db = ExchangeDb::open(&path, &[T]).unwrap();
            db.write(WriteMode::Deferred, put("staged")).await.unwrap();
            // Visible at once, before anything is synced.
            assert!(get(&db, "staged").is_some());
            db.write(WriteMode::Durable, put("updated")).await.unwrap();
        }
        let db = ExchangeDb::open(&path, &[T]).unwrap();
        assert!(get(&db, "staged").is_some());
        assert!(get(&db, "updated").is_some());
    }

    #[tokio::test]
    async fn a_failing_job_does_not_lose_the_others_of_its_group() {
        let dir = tempfile::tempdir().unwrap();
        let db = ExchangeDb::open(&dir.path().join(EXCHANGE_DB_FILE), &[T]).unwrap();
        // Many concurrent writers so that the failing job shares a group with others; it writes
        // before failing, and that write must not survive.
        let mut tasks = Vec::new();
        for i in 0..64usize {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                if i == 20 {
                    let mut fail = put("bad");
                    db.write(WriteMode::Durable, move |txn| {
                        fail(txn)?;
                        Err(StoreError::Closed)
                    })
                    .await
                } else {
                    let key: &'static str = Box::leak(format!("k{i}").into_boxed_str());
                    db.write(WriteMode::Durable, put(key)).await
                }
            }));
        }
        for (i, t) in tasks.into_iter().enumerate() {
            let outcome = t.await.unwrap();
            if i == 20 {
                assert!(matches!(outcome, Err(StoreError::Closed)), "{outcome:?}");
            } else {
                outcome.unwrap();
                assert!(get(&db, &format!("k{i}")).is_some());
            }
        }
        assert_eq!(get(&db, "bad"), None);
    }

    #[test]
    fn a_failing_job_in_one_group_is_answered_alone() {
        // The same, deterministic: the jobs are queued before the committer sees any of them.
        let dir = tempfile::tempdir().unwrap();
        let raw = Database::create(dir.path().join(EXCHANGE_DB_FILE)).unwrap();
        let (tx, rx) = mpsc::sync_channel::<Job>(8);
        let (answers, outcomes) = mpsc::channel();
        for (n, key) in ["a", "bad", "c"].into_iter().enumerate() {
            let answers = answers.clone();
            let mut write = put(key);
            tx.send(Job {
                apply: Box::new(move |txn| {
                    write(txn)?;
                    if key == "bad" {
                        return Err(StoreError::Closed);
                    }
                    Ok(())
                }),
                mode: WriteMode::Deferred,
                done: Box::new(move |r| answers.send((n, r.is_ok())).unwrap()),
            })
            .unwrap();
        }
        drop(tx);
        let log = PayloadLog::open(&dir.path().join(payload_log::PAYLOAD_DIR)).unwrap();
        run(&raw, &log, &rx);
        let mut got: Vec<_> = outcomes.try_iter().collect();
        got.sort();
        assert_eq!(got, vec![(0, true), (1, false), (2, true)]);
        let read = raw.begin_read().unwrap();
        let t = read.open_table(T).unwrap();
        assert!(t.get(&b"a"[..]).unwrap().is_some());
        assert!(t.get(&b"bad"[..]).unwrap().is_none());
        assert!(t.get(&b"c"[..]).unwrap().is_some());
    }

    #[tokio::test]
    async fn an_io_failure_latches_and_no_later_write_is_applied() {
        let dir = tempfile::tempdir().unwrap();
        let db = ExchangeDb::open(&dir.path().join(EXCHANGE_DB_FILE), &[T]).unwrap();
        db.write(WriteMode::Durable, put("before")).await.unwrap();
        let full = db
            .write(WriteMode::Durable, |_| -> Result<(), StoreError> {
                Err(StoreError::Db(redb::Error::Io(
                    io::ErrorKind::StorageFull.into(),
                )))
            })
            .await
            .unwrap_err();
        assert!(full.is_storage_full(), "{full:?}");
        let later = db.write(WriteMode::Durable, put("after")).await;
        assert!(
            matches!(
                later,
                Err(StoreError::Failed {
                    kind: io::ErrorKind::StorageFull
                })
            ),
            "{later:?}"
        );
        assert_eq!(get(&db, "after"), None);
        assert!(get(&db, "before").is_some());
    }
}
