//! The journal's writer thread: group commit (see `log` for the threading model).
//!
//! After a commit, the acknowledged appenders need a moment to wake up and submit again; taking
//! the first request alone would alternate between a batch of one and a batch of everyone else,
//! halving throughput. So when the previous batch was larger, the writer waits up to
//! [`GATHER_WINDOW`] for as many requests as it had then, bounded by [`MAX_BATCH`] entries.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::checkpoint::JournalKey;
use super::log::{AppendReceipt, JournalError, Shared, TreeHead};
use super::merkle::{self, CompactRange};
use super::storage::{StorageError, StorageOp};
use crate::store::journal::MAX_BATCH;

/// Longest wait for stragglers before a commit: a tenth of a typical `fdatasync` on SSD-backed
/// cloud disks (3-5 ms measured by the bench's fsync probe), so at worst it adds ~10% latency.
pub(super) const GATHER_WINDOW: Duration = Duration::from_micros(400);

/// Least time between checkpoint attempts after one failed (a full disk, an I/O error): often
/// enough that the checkpoint lags by about a second once the disk recovers, rarely enough that
/// a writer with nothing else to do does not spin on a failing disk.
pub(super) const CHECKPOINT_RETRY: Duration = Duration::from_secs(1);

/// Most tree nodes kept for a later write after their store refused them (a full disk): the
/// nodes of 16 full group commits. Past that the journal stops until reopened, which rebuilds
/// them from the segment.
pub(super) const MAX_PENDING_NODES: usize = 16 * 2 * MAX_BATCH;

/// What a commit did about the checkpoint.
enum Checkpointed {
    /// None was due (or the batch failed).
    NotDue,
    /// One was signed and stored for this size.
    Written(u64),
    /// One was due and could not be stored.
    Failed,
}

/// What an appender receives.
pub(super) type Reply = Result<AppendReceipt, JournalError>;

/// Where to send an appender's answer.
pub(super) enum Responder {
    /// A blocking appender.
    Blocking(SyncSender<Reply>),
    /// An async appender.
    Async(tokio::sync::oneshot::Sender<Reply>),
}

impl Responder {
    fn send(self, r: Reply) {
        // An appender that gave up (dropped its receiver) needs no answer.
        match self {
            Self::Blocking(tx) => drop(tx.send(r)),
            Self::Async(tx) => drop(tx.send(r)),
        }
    }
}

/// One queued append: encoded entries (at most [`MAX_BATCH`]), appended at consecutive indexes
/// in one group commit, and their answer channel. The answer carries the first entry's index.
pub(super) struct Request {
    pub(super) entries: Vec<Vec<u8>>,
    pub(super) reply: Responder,
}

/// The writer thread's state: it alone owns the right edge and the signing key.
pub(super) struct Writer {
    pub(super) shared: Arc<Shared>,
    pub(super) key: JournalKey,
    pub(super) edge: CompactRange,
    pub(super) interval: Duration,
    /// Nodes the store refused (a full disk): written again with the next commit.
    pub(super) pending_nodes: Vec<(u8, u64, merkle::Hash)>,
}

impl Writer {
    pub(super) fn run(mut self, rx: Receiver<Request>) {
        let mut last_cp = Instant::now();
        let mut cp_size = self.edge.size();
        let mut batch: Vec<Request> = Vec::with_capacity(MAX_BATCH);
        let mut prev_len = 0usize;
        // A request that would have taken its batch past MAX_BATCH entries: the next batch
        // starts with it.
        let mut carried: Option<Request> = None;
        // Time between checkpoint attempts: the configured interval, or at least
        // CHECKPOINT_RETRY after a failed one, so a full disk is not retried in a spin.
        let mut period = self.interval;
        loop {
            // A checkpoint is pending only while the journal is healthy: after a failure the
            // writer must not spin retrying it.
            let pending = cp_size < self.edge.size() && !self.shared.failed.load(Ordering::Acquire);
            let first = if carried.is_some() {
                carried.take()
            } else if pending {
                match rx.recv_timeout(period.saturating_sub(last_cp.elapsed())) {
                    Ok(r) => Some(r),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            } else {
                match rx.recv() {
                    Ok(r) => Some(r),
                    Err(_) => break,
                }
            };
            let mut entries = first.as_ref().map_or(0, |r| r.entries.len());
            batch.extend(first);
            let gather_until = Instant::now() + GATHER_WINDOW;
            while entries < MAX_BATCH {
                let next = match rx.try_recv() {
                    Ok(r) => r,
                    Err(_) if batch.len() < prev_len && !batch.is_empty() => {
                        let left = gather_until.saturating_duration_since(Instant::now());
                        match rx.recv_timeout(left) {
                            Ok(r) => r,
                            Err(_) => break,
                        }
                    }
                    Err(_) => break,
                };
                if entries + next.entries.len() > MAX_BATCH {
                    carried = Some(next);
                    break;
                }
                entries += next.entries.len();
                batch.push(next);
            }
            prev_len = batch.len();
            let due = period.is_zero() || last_cp.elapsed() >= period;
            match self.commit(&mut batch, due) {
                Checkpointed::Written(size) => {
                    cp_size = size;
                    last_cp = Instant::now();
                    period = self.interval;
                }
                Checkpointed::Failed => {
                    last_cp = Instant::now();
                    period = self.interval.max(CHECKPOINT_RETRY);
                }
                Checkpointed::NotDue => {}
            }
        }
        if cp_size < self.edge.size() && !self.shared.failed.load(Ordering::Acquire) {
            drop(self.checkpoint());
        }
    }

    fn fail(&self) {
        self.shared.failed.store(true, Ordering::Release);
    }

    fn checkpoint(&self) -> Result<Arc<str>, JournalError> {
        let size = self.edge.size();
        let note = self.key.sign(size, self.edge.root())?;
        self.shared.storage.save_checkpoint(size, &note)?;
        let note: Arc<str> = note.into();
        self.shared
            .stats
            .checkpoints
            .fetch_add(1, Ordering::Relaxed);
        self.shared
            .head
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .1 = note.clone();
        Ok(note)
    }

    /// One group commit, and the checkpoint when due.
    fn commit(&mut self, batch: &mut Vec<Request>, due: bool) -> Checkpointed {
        if batch.is_empty() {
            if !due {
                return Checkpointed::NotDue;
            }
            return match self.checkpoint() {
                Ok(_) => Checkpointed::Written(self.edge.size()),
                Err(e) => {
                    tracing::debug!(error = %e, "journal checkpoint failed; retried later");
                    Checkpointed::Failed
                }
            };
        }
        if self.shared.failed.load(Ordering::Acquire) {
            batch
                .drain(..)
                .for_each(|r| r.reply.send(Err(JournalError::Failed)));
            return Checkpointed::NotDue;
        }
        // Entries per request, to answer each with its first index once they are taken.
        let counts: Vec<u64> = batch.iter().map(|r| r.entries.len() as u64).collect();
        let entries: Vec<Vec<u8>> = batch
            .iter_mut()
            .flat_map(|r| std::mem::take(&mut r.entries))
            .collect();
        // Step 1: durable write, one fdatasync for the whole batch.
        if let Err(e) = self.shared.storage.append_durable(&entries) {
            tracing::debug!(error = %e, "journal append failed");
            // A failed write whose bytes were cut off leaves the segment as it was: this batch
            // is refused and the next may succeed (a full disk that gets space back). Anything
            // else (a failed sync above all) stops the journal until it is reopened.
            if !matches!(
                e,
                StorageError::Io {
                    op: StorageOp::Append,
                    ..
                }
            ) {
                self.fail();
            }
            batch
                .drain(..)
                .for_each(|r| r.reply.send(Err(JournalError::Storage(e.clone()))));
            return Checkpointed::NotDue;
        }
        let stats = &self.shared.stats;
        stats.commits.fetch_add(1, Ordering::Relaxed);
        stats
            .entries
            .fetch_add(entries.len() as u64, Ordering::Relaxed);
        // Step 2: tree nodes (derived data; rebuilt on open if lost). Nodes have fixed places,
        // so nodes the store refused (a full disk) are simply written again with the next
        // commit; the entries are durable and acknowledged either way.
        let first = self.edge.size();
        let mut nodes = std::mem::take(&mut self.pending_nodes);
        for e in &entries {
            self.edge.push(merkle::leaf_hash(e), &mut nodes);
        }
        if let Err(e) = self.shared.storage.put_nodes(&nodes, self.edge.size()) {
            if nodes.len() > MAX_PENDING_NODES {
                // New work stops until a reopen rebuilds the nodes from the segment.
                self.fail();
            } else {
                tracing::debug!(error = %e, "journal nodes not stored; written with the next commit");
                self.pending_nodes = nodes;
            }
        }
        // Step 3: publish the head (its nodes are stored), so readers can prove against it.
        self.shared
            .head
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .0 = TreeHead {
            size: self.edge.size(),
            root: self.edge.root(),
        };
        // Step 4: checkpoint when due. A failed checkpoint does not stop the journal: the
        // entries are durable and acknowledged without it (the checkpoint is derived, and open
        // signs one for the stored size), so it only lags until a retry succeeds.
        let mut written = Checkpointed::NotDue;
        let cp = if due && !self.shared.failed.load(Ordering::Acquire) {
            match self.checkpoint() {
                Ok(n) => {
                    written = Checkpointed::Written(self.edge.size());
                    Some(n)
                }
                Err(e) => {
                    tracing::debug!(error = %e, "journal checkpoint failed; retried later");
                    written = Checkpointed::Failed;
                    None
                }
            }
        } else {
            None
        };
        // Step 5: acknowledge, each request with the index of its first entry.
        let mut index = first;
        for (r, n) in batch.drain(..).zip(counts) {
            r.reply.send(Ok(AppendReceipt {
                index,
                checkpoint: cp.clone(),
            }));
            index += n;
        }
        written
    }
}
