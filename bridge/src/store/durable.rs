//! Group-committed durable writes to sled.
//!
//! sled 0.34's `flush()` ends in `sync_file_range`, which neither flushes file metadata nor the
//! device cache (sled issues #1351 and #1452), and values above its blob threshold go to files under
//! `blobs/` that it never syncs at all. A write acknowledged to a caller must survive power loss, so
//! every write that needs that goes through [`GroupCommit`]: one thread applies all queued write
//! batches, calls `flush()`, then `fdatasync`s the `db` file, every blob file it has not synced yet,
//! and the `blobs/` directory, and only then answers every writer of the group. Many concurrent
//! writers thus share one set of syncs, as in the journal.
//!
//! # Failures latch
//! The first failure of a group to become durable stops the committer for good: that group and
//! every later write are answered [`StoreError::Failed`], and only a reopen (a restart) clears it.
//! Two reasons, one ours and one sled's:
//! - after a failed `fdatasync` the kernel may have dropped the dirty pages and marked them
//!   clean, so a later `fdatasync` that succeeds proves nothing about the earlier data (the
//!   "fsyncgate" lesson: PostgreSQL panics and recovers from its WAL rather than retry);
//! - sled 0.34 cannot always be flushed after it met `ENOSPC`. The first full-disk fault test
//!   hung here: the committer sat in `flush()` (in `make_stable_inner`, waiting on its condvar
//!   with every sled I/O thread idle and no global error set) and every Submit waited on it.
//!   One cause, read in sled's source: when writing a value above its blob threshold fails,
//!   `reserve_inner` returns the error after it has claimed a writer slot in the current log
//!   buffer and before it builds the `Reservation` whose drop would release it, so the buffer
//!   never reaches zero writers, is never written, and its stable LSN never comes. So after an
//!   apply that failed with an I/O error the committer never calls `flush()` again. A second run
//!   wedged the same way with every apply of ours successful (some write inside sled leaks a
//!   slot too), so flushes run on their own thread, and a flush that stalls while the disk is
//!   down to its reserve (`space`) is abandoned and latches the committer: the hang becomes a
//!   refusal within [`FLUSH_STALL`].
//!
//! Normally the disk never gets that full: new work is refused earlier (`space`).

use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use super::space::SpaceGuard;
use super::StoreError;

/// What stopped the committer, kept to answer every later write.
#[derive(Debug, Clone, Copy)]
struct Latched {
    kind: std::io::ErrorKind,
}

/// How many write jobs may wait for the committer before writers block. Bounded so that a stalled
/// disk applies back-pressure instead of growing memory.
const QUEUE_CAPACITY: usize = 4096;
/// Most jobs folded into one group, so a flood of writers cannot starve acknowledgement.
const MAX_GROUP: usize = 1024;

type Apply = Box<dyn FnOnce(&sled::Db) -> Result<(), StoreError> + Send>;

/// Called once with the job's outcome: a tokio oneshot for async writers, a std channel for
/// blocking ones (so a blocking writer never needs a runtime, and never panics inside one).
type Done = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

struct Job {
    apply: Apply,
    done: Done,
}

/// The committer thread's handle. Dropping the last handle lets the thread finish what is queued,
/// then joins it, so the database is closed when the last owner is gone (a reopen in the same
/// process, as tests and restarts do, finds sled's lock released).
#[derive(Debug, Clone)]
pub struct GroupCommit {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    tx: Option<mpsc::SyncSender<Job>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(handle) = self.thread.take() {
            let _ = handle.join();
        }
    }
}

impl GroupCommit {
    /// Starts the committer for `db`, whose files live in `dir`.
    ///
    /// # Errors
    /// When the thread cannot be spawned.
    pub fn start(db: sled::Db, dir: &Path) -> Result<GroupCommit, StoreError> {
        let (tx, rx) = mpsc::sync_channel::<Job>(QUEUE_CAPACITY);
        let syncer = Syncer {
            dir: dir.to_owned(),
            synced_blobs: HashSet::new(),
        };
        let flusher = Flusher::start(sync_store(db.clone(), syncer), FLUSH_STALL)?;
        let space = SpaceGuard::new(dir);
        let handle = thread::Builder::new()
            .name("store-commit".into())
            .spawn(move || {
                let mut latched: Option<Latched> = None;
                while let Ok(first) = rx.recv() {
                    let mut group = vec![first];
                    while group.len() < MAX_GROUP {
                        match rx.try_recv() {
                            Ok(job) => group.push(job),
                            Err(_) => break,
                        }
                    }
                    if let Some(l) = latched {
                        for job in group {
                            (job.done)(Err(StoreError::Failed { kind: l.kind }));
                        }
                        continue;
                    }
                    let mut results = Vec::with_capacity(group.len());
                    let mut waiting = Vec::with_capacity(group.len());
                    for job in group {
                        results.push((job.apply)(&db));
                        waiting.push(job.done);
                    }
                    // An apply that failed with an I/O error may have wedged sled's log buffer
                    // (module doc): flushing now could block forever, so do not.
                    let apply_io = results.iter().find_map(|r| match r {
                        Err(e) => e.io_kind(),
                        Ok(()) => None,
                    });
                    let synced = match apply_io {
                        Some(kind) => Err(kind),
                        None => flusher.flush(|| space.is_low()),
                    };
                    if let Err(kind) = synced {
                        tracing::error!(error.kind = %kind, "store write not durable; refusing writes until restart");
                        latched = Some(Latched { kind });
                    }
                    for (done, applied) in waiting.into_iter().zip(results) {
                        let outcome = match (applied, &synced) {
                            (Ok(()), Ok(())) => Ok(()),
                            (Err(e), _) => Err(e),
                            (Ok(()), Err(kind)) => Err(StoreError::Failed { kind: *kind }),
                        };
                        done(outcome);
                    }
                }
            })
            .map_err(|e| StoreError::Sync {
                reason: format!("cannot start the commit thread: {e}"),
            })?;
        Ok(GroupCommit {
            inner: Arc::new(Inner {
                tx: Some(tx),
                thread: Some(handle),
            }),
        })
    }

    fn sender(&self) -> Result<mpsc::SyncSender<Job>, StoreError> {
        self.inner.tx.clone().ok_or(StoreError::Closed)
    }

    /// Applies `apply` to the database and resolves once it is durable. `apply` should be a quick
    /// batch of inserts and removes: it runs on the committer thread.
    ///
    /// # Errors
    /// What `apply` returned, or a sync failure.
    pub async fn write(
        &self,
        apply: impl FnOnce(&sled::Db) -> Result<(), StoreError> + Send + 'static,
    ) -> Result<(), StoreError> {
        let (done, wait) = tokio::sync::oneshot::channel();
        let job = Job {
            apply: Box::new(apply),
            done: Box::new(move |outcome| {
                let _ = done.send(outcome);
            }),
        };
        enqueue(self.sender()?, job).await?;
        wait.await.map_err(|_| StoreError::Closed)?
    }

    /// Blocking variant of [`GroupCommit::write`], for code outside tokio.
    ///
    /// # Errors
    /// As [`GroupCommit::write`].
    pub fn write_blocking(
        &self,
        apply: impl FnOnce(&sled::Db) -> Result<(), StoreError> + Send + 'static,
    ) -> Result<(), StoreError> {
        let (done, wait) = mpsc::sync_channel(1);
        self.sender()?
            .send(Job {
                apply: Box::new(apply),
                done: Box::new(move |outcome| {
                    let _ = done.send(outcome);
                }),
            })
            .map_err(|_| StoreError::Closed)?;
        wait.recv().map_err(|_| StoreError::Closed)?
    }
}

/// Queues `job` on a committer's bounded queue from async code. The queue is bounded, so only a
/// full queue blocks, and only then is the send handed to the blocking pool (a thread hop per
/// write otherwise costs more than the write). Shared with the exchange database's committer.
pub(super) async fn enqueue<J: Send + 'static>(
    tx: mpsc::SyncSender<J>,
    job: J,
) -> Result<(), StoreError> {
    match tx.try_send(job) {
        Ok(()) => Ok(()),
        Err(mpsc::TrySendError::Full(job)) => tokio::task::spawn_blocking(move || tx.send(job))
            .await
            .map_err(|_| StoreError::Closed)?
            .map_err(|_| StoreError::Closed),
        Err(mpsc::TrySendError::Disconnected(_)) => Err(StoreError::Closed),
    }
}

/// How long the committer waits for one flush before it asks whether the disk is full: far
/// above a healthy flush and sync (milliseconds), so a slow disk is only ever waited for.
const FLUSH_STALL: Duration = Duration::from_secs(5);

/// The thread that flushes sled and syncs its files, apart from the committer so that a flush
/// that never returns (sled wedged by a full disk, module doc) cannot hold writers forever.
struct Flusher {
    request: mpsc::SyncSender<()>,
    done: mpsc::Receiver<Result<(), io::ErrorKind>>,
    stall: Duration,
}

/// The flush the committer needs: sled's `flush()`, then `fdatasync` of its files.
fn sync_store(
    db: sled::Db,
    mut syncer: Syncer,
) -> impl FnMut() -> Result<(), io::ErrorKind> + Send + 'static {
    move || {
        db.flush()
            .map_err(|e| {
                StoreError::from(e)
                    .io_kind()
                    .unwrap_or(io::ErrorKind::Other)
            })
            .and_then(|_| syncer.sync())
    }
}

impl Flusher {
    /// Starts the flush thread running `flush` on request; `stall` is how long one wait lasts
    /// before the disk is looked at ([`FLUSH_STALL`] outside tests).
    fn start(
        mut flush: impl FnMut() -> Result<(), io::ErrorKind> + Send + 'static,
        stall: Duration,
    ) -> Result<Flusher, StoreError> {
        let (request, requests) = mpsc::sync_channel::<()>(1);
        let (done_tx, done) = mpsc::sync_channel(1);
        thread::Builder::new()
            .name("store-flush".into())
            .spawn(move || {
                while requests.recv().is_ok() {
                    if done_tx.send(flush()).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| StoreError::Sync {
                reason: format!("cannot start the flush thread: {e}"),
            })?;
        Ok(Flusher {
            request,
            done,
            stall,
        })
    }

    /// Flushes and syncs; waits as long as it takes unless the disk is down to its reserve
    /// (`disk_low`) while the flush stalls: then the flush is taken as wedged and abandoned (its
    /// thread keeps the database open until the process ends: a restart is needed).
    fn flush(&self, disk_low: impl Fn() -> bool) -> Result<(), io::ErrorKind> {
        self.request.send(()).map_err(|_| io::ErrorKind::Other)?;
        loop {
            match self.done.recv_timeout(self.stall) {
                Ok(synced) => return synced,
                Err(mpsc::RecvTimeoutError::Timeout) if disk_low() => {
                    tracing::error!("store flush stalled on a full disk; abandoning it");
                    return Err(io::ErrorKind::StorageFull);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    tracing::warn!(stall = ?self.stall, "store flush is slow");
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return Err(io::ErrorKind::Other),
            }
        }
    }
}

struct Syncer {
    dir: PathBuf,
    synced_blobs: HashSet<std::ffi::OsString>,
}

impl Syncer {
    /// Syncs new blobs, the blob directory and the `db` file; the error's kind on failure.
    fn sync(&mut self) -> Result<(), io::ErrorKind> {
        let io = |e: io::Error| e.kind();
        // Blobs first: the log entries in `db` point at them.
        let blobs = self.dir.join("blobs");
        if let Ok(entries) = std::fs::read_dir(&blobs) {
            let mut present = HashSet::new();
            let mut new_blob = false;
            for entry in entries.flatten() {
                let name = entry.file_name();
                if !self.synced_blobs.contains(&name) {
                    match File::open(entry.path()).and_then(|f| f.sync_data()) {
                        Ok(()) => new_blob = true,
                        // sled removed the blob between the listing and the open: it garbage
                        // collected it, so no live log entry points at it and there is nothing
                        // to make durable. Latching the store on this would stop it for good.
                        Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(e.kind()),
                    }
                }
                present.insert(name);
            }
            if new_blob {
                File::open(&blobs).and_then(|d| d.sync_all()).map_err(io)?;
            }
            // Forget blobs sled has garbage-collected, so the set stays as small as the directory.
            self.synced_blobs = present;
        }
        File::open(self.dir.join("db"))
            .and_then(|f| f.sync_data())
            .map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_removed_by_sled_after_the_listing_is_skipped_not_latched() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("db"), b"log").unwrap();
        let blobs = dir.path().join("blobs");
        std::fs::create_dir(&blobs).unwrap();
        std::fs::write(blobs.join("1"), b"live blob").unwrap();
        // A listed name whose file cannot be opened with NotFound: what the listing sees when
        // sled garbage-collects a blob between `read_dir` and `open`.
        std::os::unix::fs::symlink(blobs.join("collected"), blobs.join("2")).unwrap();
        let mut syncer = Syncer {
            dir: dir.path().to_owned(),
            synced_blobs: HashSet::new(),
        };
        assert_eq!(syncer.sync(), Ok(()));
        assert!(syncer.synced_blobs.contains(std::ffi::OsStr::new("1")));
        assert!(!syncer.synced_blobs.contains(std::ffi::OsStr::new("2")));
        // The log file itself missing is a real failure.
        std::fs::remove_file(dir.path().join("db")).unwrap();
        assert_eq!(syncer.sync(), Err(io::ErrorKind::NotFound));
    }

    #[tokio::test]
    async fn concurrent_writes_are_applied_and_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let commit = GroupCommit::start(db.clone(), dir.path()).unwrap();
        let mut tasks = Vec::new();
        for i in 0u32..64 {
            let commit = commit.clone();
            tasks.push(tokio::spawn(async move {
                commit
                    .write(move |db| {
                        // A value over sled's blob threshold exercises the blob sync path.
                        let value = vec![i as u8; if i == 0 { 300 * 1024 } else { 64 }];
                        db.insert(i.to_be_bytes(), value)?;
                        Ok(())
                    })
                    .await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(db.len(), 64);
        assert_eq!(
            db.get(0u32.to_be_bytes()).unwrap().unwrap().len(),
            300 * 1024
        );
    }

    #[tokio::test]
    async fn a_failing_job_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let commit = GroupCommit::start(db.clone(), dir.path()).unwrap();
        let bad = commit.write(|_| Err(StoreError::Closed));
        let good = commit.write(|db| {
            db.insert("k", "v")?;
            Ok(())
        });
        let (bad, good) = tokio::join!(bad, good);
        assert!(matches!(bad, Err(StoreError::Closed)));
        good.unwrap();
    }

    #[tokio::test]
    async fn an_io_failure_latches_and_no_later_write_is_applied() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let commit = GroupCommit::start(db.clone(), dir.path()).unwrap();
        commit
            .write(|db| {
                db.insert("before", "v")?;
                Ok(())
            })
            .await
            .unwrap();
        // What sled returns when a blob write hits a full disk; the committer must not flush
        // after it (that flush would wait forever) and must refuse what follows.
        let full = commit
            .write(|_| {
                Err(StoreError::Io(sled::Error::Io(
                    std::io::ErrorKind::StorageFull.into(),
                )))
            })
            .await
            .unwrap_err();
        assert!(full.is_storage_full(), "{full:?}");
        let applied = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen = applied.clone();
        let later = commit
            .write(move |db| {
                seen.store(true, std::sync::atomic::Ordering::SeqCst);
                db.insert("after", "v")?;
                Ok(())
            })
            .await;
        assert!(
            matches!(
                later,
                Err(StoreError::Failed {
                    kind: std::io::ErrorKind::StorageFull
                })
            ),
            "{later:?}"
        );
        assert!(!applied.load(std::sync::atomic::Ordering::SeqCst));
        assert!(commit
            .write_blocking(|_| Ok(()))
            .unwrap_err()
            .is_storage_full());
        assert_eq!(db.get("before").unwrap().as_deref(), Some(&b"v"[..]));
    }

    #[test]
    fn a_stalled_flush_is_abandoned_only_when_the_disk_is_low() {
        // A flush that never returns (sled wedged) on a full disk: abandoned, StorageFull.
        let (_never, wedged) = mpsc::channel::<()>();
        let wedged = std::sync::Mutex::new(wedged);
        let stuck = Flusher::start(
            move || {
                let _ = wedged.lock().map(|rx| rx.recv());
                Ok(())
            },
            Duration::from_millis(10),
        )
        .unwrap();
        assert_eq!(stuck.flush(|| true), Err(io::ErrorKind::StorageFull));
        // A slow flush with space left is waited for, however many stalls it takes.
        let (go, gate) = mpsc::channel::<()>();
        let gate = std::sync::Mutex::new(gate);
        let slow = Flusher::start(
            move || {
                let _ = gate.lock().map(|rx| rx.recv());
                Err(io::ErrorKind::Other)
            },
            Duration::from_millis(10),
        )
        .unwrap();
        let stalls = std::sync::atomic::AtomicU32::new(0);
        let outcome = slow.flush(|| {
            // Release the flush after a few stalls, on the committer's own thread.
            if stalls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 3 {
                go.send(()).unwrap();
            }
            false
        });
        assert_eq!(outcome, Err(io::ErrorKind::Other));
        assert!(stalls.load(std::sync::atomic::Ordering::SeqCst) >= 4);
    }
}
