//! Group-committed durable writes to sled.
//!
//! sled 0.34's `flush()` ends in `sync_file_range`, which neither flushes file metadata nor the
//! device cache (sled issues #1351 and #1452), and values above its blob threshold go to files under
//! `blobs/` that it never syncs at all. A write acknowledged to a caller must survive power loss, so
//! every write that needs that goes through [`GroupCommit`]: one thread applies all queued write
//! batches, calls `flush()`, then `fdatasync`s the `db` file, every blob file it has not synced yet,
//! and the `blobs/` directory, and only then answers every writer of the group. Many concurrent
//! writers thus share one set of syncs, as in the journal.

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::thread;

use super::StoreError;

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
        let mut syncer = Syncer {
            dir: dir.to_owned(),
            synced_blobs: HashSet::new(),
        };
        let handle = thread::Builder::new()
            .name("store-commit".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut group = vec![first];
                    while group.len() < MAX_GROUP {
                        match rx.try_recv() {
                            Ok(job) => group.push(job),
                            Err(_) => break,
                        }
                    }
                    let mut results = Vec::with_capacity(group.len());
                    let mut waiting = Vec::with_capacity(group.len());
                    for job in group {
                        results.push((job.apply)(&db));
                        waiting.push(job.done);
                    }
                    let synced = db
                        .flush()
                        .map_err(StoreError::from)
                        .and_then(|_| syncer.sync());
                    for (done, applied) in waiting.into_iter().zip(results) {
                        let outcome = match (&applied, &synced) {
                            (Ok(()), Ok(())) => Ok(()),
                            (Err(_), _) => applied,
                            (Ok(()), Err(e)) => Err(StoreError::Sync {
                                reason: e.to_string(),
                            }),
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
        let tx = self.sender()?;
        // The queue is bounded: only a full queue blocks, so only then hand the send to the
        // blocking pool (a thread hop per write otherwise costs more than the write).
        match tx.try_send(job) {
            Ok(()) => {}
            Err(mpsc::TrySendError::Full(job)) => {
                tokio::task::spawn_blocking(move || tx.send(job))
                    .await
                    .map_err(|_| StoreError::Closed)?
                    .map_err(|_| StoreError::Closed)?;
            }
            Err(mpsc::TrySendError::Disconnected(_)) => return Err(StoreError::Closed),
        }
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

struct Syncer {
    dir: PathBuf,
    synced_blobs: HashSet<std::ffi::OsString>,
}

impl Syncer {
    fn sync(&mut self) -> Result<(), StoreError> {
        let io = |e: std::io::Error| StoreError::Sync {
            reason: e.to_string(),
        };
        // Blobs first: the log entries in `db` point at them.
        let blobs = self.dir.join("blobs");
        if let Ok(entries) = std::fs::read_dir(&blobs) {
            let mut present = HashSet::new();
            let mut new_blob = false;
            for entry in entries.flatten() {
                let name = entry.file_name();
                if !self.synced_blobs.contains(&name) {
                    File::open(entry.path())
                        .and_then(|f| f.sync_data())
                        .map_err(io)?;
                    new_blob = true;
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
}
