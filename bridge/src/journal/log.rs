//! The running journal: group commit, the incremental tree, checkpoints, proofs and replay.
//!
//! # Threads and tokio
//! One writer thread owns the tree's right edge and the signing key. Appenders hand it encoded
//! entries over a bounded channel; it takes everything queued (up to [`MAX_BATCH`] entries), writes the
//! batch and syncs it once ([`JournalStorage::append_durable`]), stores the new tree nodes, signs
//! a checkpoint when one is due, and only then answers every appender of the batch. So N
//! concurrent appends share one `fdatasync`. [`Journal::append`] blocks the calling thread and
//! must not be called on a tokio worker; [`Journal::append_async`] answers through a
//! `tokio::sync::oneshot` and is the one to use from handlers. [`Journal::append_all_async`]
//! hands several entries over as one request (consecutive indexes, one answer): the relay and
//! the peer service journal a whole batch of messages that way, instead of waking the writer
//! and being woken once per entry. Readers (proofs, replay, latest
//! checkpoint) never wait for the writer: they see the last published head, whose nodes are
//! stored.
//!
//! # Refusing work
//! [`Journal::open`] checks the store against the last checkpoint kept outside it (size and
//! root) and returns [`JournalError::CheckpointAhead`] or [`JournalError::CheckpointMismatch`]
//! when they disagree: the bridge must then refuse new work. A failed write whose bytes the
//! storage cut off (a full disk) refuses only its batch, and a checkpoint that cannot be stored
//! is retried later; after any other storage failure while running (a failed sync above all),
//! every later append gets [`JournalError::Failed`] until restart.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use thiserror::Error;

use super::checkpoint::{JournalKey, NoteError, NoteVerifier};
use super::entry::{EntryError, JournalEntry};
use super::merkle::{self, CompactRange, Hash, NodeSource, ProofError, EMPTY_ROOT};
use super::replay::Replay;
use super::storage::{JournalStorage, StorageError};
use super::writer::{Request, Responder, Writer};
use crate::store::journal::MAX_BATCH;

/// Default appenders that may wait for the writer: with [`MAX_BATCH`] per commit, four commits'
/// worth keeps the writer busy while bounding memory to a few megabytes of entries.
pub const DEFAULT_QUEUE_CAPACITY: usize = 4 * MAX_BATCH;

/// Entries read per storage call during replay and rebuild: large enough to amortise the read,
/// small enough (at most ~10 MB) to bound memory.
pub const REPLAY_CHUNK: u64 = 4096;

/// Journal settings.
#[derive(Debug, Clone)]
pub struct JournalConfig {
    /// Minimum time between checkpoints; zero signs one at every group commit (DESIGN.md:
    /// "written at every group commit or on a configurable interval").
    pub checkpoint_interval: Duration,
    /// Bound of the append queue.
    pub queue_capacity: usize,
}

impl Default for JournalConfig {
    /// One checkpoint per second at most: a second of entries is what an auditor's copy of the
    /// latest checkpoint can lag, and it keeps checkpoint fsyncs off most commits.
    fn default() -> Self {
        Self {
            checkpoint_interval: Duration::from_secs(1),
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
        }
    }
}

/// What an acknowledged append returns: the entry is durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendReceipt {
    /// The entry's leaf index.
    pub index: u64,
    /// The checkpoint signed at this group commit, if one was.
    pub checkpoint: Option<Arc<str>>,
}

/// The published tree head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeHead {
    /// Number of entries.
    pub size: u64,
    /// RFC 9162 root.
    pub root: Hash,
}

/// Errors of the running journal.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum JournalError {
    /// The entry cannot be encoded (entry.rs rules).
    #[error(transparent)]
    Entry(#[from] EntryError),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A proof cannot be produced.
    #[error(transparent)]
    Proof(#[from] ProofError),
    /// Signing a checkpoint failed.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// The kept checkpoint does not verify with the journal key: the bridge refuses work.
    #[error("kept checkpoint is invalid: {0}")]
    CheckpointInvalid(NoteError),
    /// The kept checkpoint covers more entries than the store holds: entries were lost or rolled
    /// back. The bridge refuses work.
    #[error("kept checkpoint covers {checkpoint_size} entries but the store has {store_size}")]
    CheckpointAhead {
        /// Size in the checkpoint.
        checkpoint_size: u64,
        /// Entries in the store.
        store_size: u64,
    },
    /// The store's tree at the checkpoint's size has another root: entries were altered. The
    /// bridge refuses work.
    #[error("store root at size {size} differs from the kept checkpoint")]
    CheckpointMismatch {
        /// The checkpoint size.
        size: u64,
    },
    /// The store holds entries but its checkpoint file is gone (it is written before the first
    /// append, so it was removed): nothing can vouch for the store. The bridge refuses work.
    #[error("the store has {store_size} entries but no kept checkpoint")]
    CheckpointMissing {
        /// Entries in the store.
        store_size: u64,
    },
    /// An earlier storage failure stopped the journal; restart to recover.
    #[error("journal stopped after a storage failure")]
    Failed,
    /// The journal is closed.
    #[error("journal is closed")]
    Closed,
}

/// State shared by the handle, its readers and the writer thread.
pub(super) struct Shared {
    pub(super) storage: Arc<dyn JournalStorage>,
    pub(super) verifier: NoteVerifier,
    /// The published head and the latest checkpoint note.
    pub(super) head: RwLock<(TreeHead, Arc<str>)>,
    /// Set after a storage failure: appends are refused until restart.
    pub(super) failed: AtomicBool,
    /// Counters for operators.
    pub(super) stats: StatCounters,
}

/// Operational counters (for metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JournalStats {
    /// Group commits (one `fdatasync` each).
    pub commits: u64,
    /// Entries made durable since open.
    pub entries: u64,
    /// Checkpoints signed since open.
    pub checkpoints: u64,
}

#[derive(Debug, Default)]
pub(super) struct StatCounters {
    pub(super) commits: AtomicU64,
    pub(super) entries: AtomicU64,
    pub(super) checkpoints: AtomicU64,
}

/// Node lookups against the storage, for proofs.
pub(super) struct StoredNodes<'a>(&'a dyn JournalStorage);

impl NodeSource for StoredNodes<'_> {
    type Error = StorageError;
    fn node(&self, level: u8, index: u64) -> Result<Hash, StorageError> {
        self.0
            .node(level, index)?
            .ok_or(StorageError::Proof(ProofError::NodeUnavailable {
                level,
                index,
            }))
    }
}

/// The journal handle. Dropping it stops the writer after the queue drains and a final
/// checkpoint is written.
pub struct Journal {
    shared: Arc<Shared>,
    tx: Option<SyncSender<Request>>,
    writer: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("head", &self.head())
            .finish_non_exhaustive()
    }
}

impl Journal {
    /// Opens the journal: rebuilds missing tree nodes from the entries, checks the store against
    /// the kept checkpoint, signs a checkpoint for the current size, and starts the writer.
    ///
    /// # Errors
    /// [`JournalError::CheckpointInvalid`], [`JournalError::CheckpointAhead`] and
    /// [`JournalError::CheckpointMismatch`] and [`JournalError::CheckpointMissing`] when the
    /// store and its checkpoint disagree (refuse work); [`JournalError::Storage`] for I/O failures.
    pub fn open(
        storage: Arc<dyn JournalStorage>,
        key: JournalKey,
        config: &JournalConfig,
    ) -> Result<Self, JournalError> {
        let edge = rebuild_nodes(storage.as_ref())?;
        let n = edge.size();
        let verifier = key.verifier().clone();
        let mut kept_size = None;
        if let Some(note) = storage.load_checkpoint()? {
            let cp = verifier
                .verify_checkpoint(&note)
                .map_err(JournalError::CheckpointInvalid)?;
            if cp.size > n {
                return Err(JournalError::CheckpointAhead {
                    checkpoint_size: cp.size,
                    store_size: n,
                });
            }
            let root = if cp.size == 0 {
                EMPTY_ROOT
            } else {
                merkle::subtree_hash(&StoredNodes(storage.as_ref()), 0, cp.size)?
            };
            if root != cp.root {
                return Err(JournalError::CheckpointMismatch { size: cp.size });
            }
            kept_size = Some((cp.size, note));
        } else if n > 0 {
            // Open writes a checkpoint before the first append can happen, so entries without
            // a checkpoint file mean the file was removed: the store cannot be checked.
            return Err(JournalError::CheckpointMissing { store_size: n });
        }
        let root = edge.root();
        let note: Arc<str> = match kept_size {
            Some((size, note)) if size == n => note.into(),
            _ => {
                let note = key.sign(n, root)?;
                storage.save_checkpoint(n, &note)?;
                note.into()
            }
        };
        let shared = Arc::new(Shared {
            storage,
            verifier,
            head: RwLock::new((TreeHead { size: n, root }, note)),
            failed: AtomicBool::new(false),
            stats: StatCounters::default(),
        });
        let (tx, rx) = mpsc::sync_channel(config.queue_capacity.max(1));
        let writer = Writer {
            shared: shared.clone(),
            key,
            edge,
            interval: config.checkpoint_interval,
            pending_nodes: Vec::new(),
        };
        let handle = std::thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| StorageError::io(super::storage::StorageOp::Open, &e))?;
        Ok(Self {
            shared,
            tx: Some(tx),
            writer: Some(handle),
        })
    }

    fn request(&self, entries: &[JournalEntry], reply: Responder) -> Result<Request, JournalError> {
        if self.shared.failed.load(Ordering::Acquire) {
            return Err(JournalError::Failed);
        }
        Ok(Request {
            entries: entries
                .iter()
                .map(JournalEntry::encode)
                .collect::<Result<_, _>>()?,
            reply,
        })
    }

    /// Queues `req` without blocking a tokio worker and waits for its answer.
    async fn send_async(
        &self,
        req: Request,
        rrx: tokio::sync::oneshot::Receiver<super::writer::Reply>,
    ) -> Result<AppendReceipt, JournalError> {
        let tx = self.tx.as_ref().ok_or(JournalError::Closed)?.clone();
        match tx.try_send(req) {
            Ok(()) => {}
            Err(TrySendError::Full(req)) => {
                // The queue is full: wait for room off the async workers.
                tokio::task::spawn_blocking(move || tx.send(req))
                    .await
                    .map_err(|_| JournalError::Closed)?
                    .map_err(|_| JournalError::Closed)?;
            }
            Err(TrySendError::Disconnected(_)) => return Err(JournalError::Closed),
        }
        rrx.await.map_err(|_| JournalError::Closed)?
    }

    /// Appends an entry and blocks until it is durable. Not for tokio worker threads.
    ///
    /// # Errors
    /// [`JournalError::Entry`] for an invalid entry, [`JournalError::Storage`] or
    /// [`JournalError::Failed`] when it could not be made durable, [`JournalError::Closed`].
    pub fn append(&self, entry: &JournalEntry) -> Result<AppendReceipt, JournalError> {
        let (rtx, rrx) = mpsc::sync_channel(1);
        let req = self.request(std::slice::from_ref(entry), Responder::Blocking(rtx))?;
        let tx = self.tx.as_ref().ok_or(JournalError::Closed)?;
        tx.send(req).map_err(|_| JournalError::Closed)?;
        rrx.recv().map_err(|_| JournalError::Closed)?
    }

    /// Appends an entry and resolves when it is durable; for async callers.
    ///
    /// # Errors
    /// As [`Journal::append`].
    pub async fn append_async(&self, entry: &JournalEntry) -> Result<AppendReceipt, JournalError> {
        let (rtx, rrx) = tokio::sync::oneshot::channel();
        let req = self.request(std::slice::from_ref(entry), Responder::Async(rtx))?;
        self.send_async(req, rrx).await
    }

    /// Appends `entries` in order and resolves when all are durable, with one receipt per entry.
    /// Up to [`MAX_BATCH`] entries go as one request and land at consecutive indexes in one
    /// group commit; a longer slice is split into requests of that size, each of which succeeds
    /// or fails whole. On an error, entries of earlier requests may be durable.
    ///
    /// # Errors
    /// As [`Journal::append`].
    pub async fn append_all_async(
        &self,
        entries: &[JournalEntry],
    ) -> Result<Vec<AppendReceipt>, JournalError> {
        let mut receipts = Vec::with_capacity(entries.len());
        for chunk in entries.chunks(MAX_BATCH) {
            let (rtx, rrx) = tokio::sync::oneshot::channel();
            let req = self.request(chunk, Responder::Async(rtx))?;
            let first = self.send_async(req, rrx).await?;
            receipts.extend(
                (first.index..)
                    .take(chunk.len())
                    .map(|index| AppendReceipt {
                        index,
                        checkpoint: first.checkpoint.clone(),
                    }),
            );
        }
        Ok(receipts)
    }

    /// Operational counters since open.
    pub fn stats(&self) -> JournalStats {
        let c = &self.shared.stats;
        JournalStats {
            commits: c.commits.load(Ordering::Relaxed),
            entries: c.entries.load(Ordering::Relaxed),
            checkpoints: c.checkpoints.load(Ordering::Relaxed),
        }
    }

    /// The published tree head.
    pub fn head(&self) -> TreeHead {
        self.shared
            .head
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .clone()
    }

    /// The latest signed checkpoint note.
    pub fn latest_checkpoint(&self) -> Arc<str> {
        self.shared
            .head
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .clone()
    }

    /// The journal's verifier key.
    pub fn verifier(&self) -> &NoteVerifier {
        &self.shared.verifier
    }

    /// The storage, for export and for streaming replays off the journal handle.
    pub fn storage(&self) -> Arc<dyn JournalStorage> {
        self.shared.storage.clone()
    }

    fn check_size(&self, size: u64) -> Result<(), JournalError> {
        let have = self.head().size;
        if size > have {
            return Err(ProofError::BeyondTree { size, have }.into());
        }
        Ok(())
    }

    /// RFC 9162 inclusion proof of entry `index` in the tree of `size` entries.
    ///
    /// # Errors
    /// [`ProofError::BeyondTree`], [`ProofError::IndexOutOfRange`] or storage errors.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, JournalError> {
        self.check_size(size)?;
        Ok(merkle::inclusion_proof(
            &StoredNodes(self.shared.storage.as_ref()),
            index,
            size,
        )?)
    }

    /// RFC 9162 consistency proof from `old` to `new` entries.
    ///
    /// # Errors
    /// [`ProofError::BeyondTree`], [`ProofError::InvalidSizes`] or storage errors.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, JournalError> {
        self.check_size(new)?;
        Ok(merkle::consistency_proof(
            &StoredNodes(self.shared.storage.as_ref()),
            old,
            new,
        )?)
    }

    /// Entries `from..to` (clamped to the published size), decoded, read in bounded chunks.
    /// The iterator owns its storage handle, so it can move into `spawn_blocking` to feed a
    /// gRPC stream; its reads block.
    pub fn replay(&self, from: u64, to: u64) -> Replay {
        Replay::new(self.storage(), from, to.min(self.head().size))
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(h) = self.writer.take() {
            // A panicked writer has nothing left to flush; its error was already reported.
            drop(h.join());
        }
    }
}

/// Brings stored nodes up to the stored entries and returns the right edge.
fn rebuild_nodes(storage: &dyn JournalStorage) -> Result<CompactRange, JournalError> {
    let n = storage.len();
    let mut m = storage.nodes_len();
    let mut edge = if m > n {
        None
    } else {
        CompactRange::load(&StoredNodes(storage), m).ok()
    };
    if edge.is_none() {
        storage.reset_nodes()?;
        m = 0;
    }
    let mut edge = edge.take().unwrap_or_default();
    let mut nodes = Vec::new();
    while m < n {
        let to = (m + REPLAY_CHUNK).min(n);
        nodes.clear();
        for e in storage.read_range(m, to)? {
            edge.push(merkle::leaf_hash(&e), &mut nodes);
        }
        storage.put_nodes(&nodes, to)?;
        m = to;
    }
    Ok(edge)
}

#[cfg(test)]
#[path = "log_tests.rs"]
mod tests;
