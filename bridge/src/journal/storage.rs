//! The storage seam of the journal: what a durable engine must provide. The sled-backed
//! implementation lives in `store::journal`; another embedded engine can replace it by
//! implementing [`JournalStorage`].
//!
//! Contract: [`JournalStorage::append_durable`] returns only once the entries survive power loss
//! (that is the acknowledgement point of the whole bridge). Tree nodes and the checkpoint history
//! are derived data: the journal rebuilds them from the entries, so they need not be durable, only
//! crash-consistent (a prefix of what was written). The latest checkpoint is stored atomically
//! and durably, apart from the entries, so a rolled-back or truncated store is noticed on open.

use thiserror::Error;

use super::merkle::{Hash, ProofError};

/// What the storage was doing when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StorageOp {
    /// Opening or creating files.
    Open,
    /// Scanning the entry segment on recovery.
    Scan,
    /// Appending and syncing entries.
    Append,
    /// Reading entries.
    Read,
    /// Writing the checkpoint file.
    WriteCheckpoint,
    /// Reading the checkpoint file.
    ReadCheckpoint,
    /// Reading or writing the node index.
    Index,
}

/// Why the storage failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum StorageError {
    /// An operating-system I/O failure; after a failed sync nothing in flight is acknowledged.
    #[error("journal i/o error during {op:?}: {kind}")]
    Io {
        /// Operation.
        op: StorageOp,
        /// The OS error kind.
        kind: std::io::ErrorKind,
    },
    /// The index engine (sled) failed; its errors are opaque, so the message is carried.
    #[error("journal index error during {op:?}: {detail}")]
    Index {
        /// Operation.
        op: StorageOp,
        /// The engine's message.
        detail: String,
    },
    /// The segment has a damaged record followed by more data than one unacknowledged group
    /// commit could leave behind: this is corruption, not a torn tail, and is never truncated.
    #[error("journal segment corrupt at byte {offset} with {trailing} bytes after it")]
    CorruptSegment {
        /// Offset of the first bad record.
        offset: u64,
        /// Bytes from there to the end of the file.
        trailing: u64,
    },
    /// An entry index beyond the stored entries was asked for.
    #[error("entry {index} is beyond the {len} stored entries")]
    OutOfRange {
        /// Index asked for.
        index: u64,
        /// Entries stored.
        len: u64,
    },
    /// An entry to append is empty or longer than `MAX_ENTRY_LEN`; recovery would read such a
    /// record as torn, so it is never written.
    #[error("entry of {len} bytes cannot be stored (limit {max})")]
    EntrySize {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The checkpoint file is not UTF-8 or exceeds the note size limit.
    #[error("checkpoint file is unreadable")]
    BadCheckpointFile,
    /// A tree node is missing from the index.
    #[error(transparent)]
    Proof(#[from] ProofError),
}

impl StorageError {
    /// Wraps an I/O error, keeping its kind.
    pub fn io(op: StorageOp, e: &std::io::Error) -> Self {
        Self::Io { op, kind: e.kind() }
    }
}

/// A durable home for journal entries, tree nodes and checkpoints. Methods take `&self`: one
/// writer thread appends while readers serve proofs and replays concurrently.
pub trait JournalStorage: Send + Sync + 'static {
    /// Number of durable entries (after recovery on open).
    fn len(&self) -> u64;

    /// Whether no entry is stored.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends encoded entries and returns only when they are on stable storage.
    ///
    /// # Errors
    /// [`StorageError::Io`]; the caller must then treat the journal as failed.
    fn append_durable(&self, entries: &[Vec<u8>]) -> Result<(), StorageError>;

    /// Reads entries `from..to` (bounded by the caller).
    ///
    /// # Errors
    /// [`StorageError::OutOfRange`] or an I/O error.
    fn read_range(&self, from: u64, to: u64) -> Result<Vec<Vec<u8>>, StorageError>;

    /// Number of leaves whose tree nodes are all stored.
    fn nodes_len(&self) -> u64;

    /// Stores nodes completed by leaves up to `size` and records `size` atomically with them.
    ///
    /// # Errors
    /// [`StorageError::Index`].
    fn put_nodes(&self, nodes: &[(u8, u64, Hash)], size: u64) -> Result<(), StorageError>;

    /// Drops every stored node (before a rebuild from the entries).
    ///
    /// # Errors
    /// [`StorageError::Index`].
    fn reset_nodes(&self) -> Result<(), StorageError>;

    /// One stored node, if present.
    ///
    /// # Errors
    /// [`StorageError::Index`].
    fn node(&self, level: u8, index: u64) -> Result<Option<Hash>, StorageError>;

    /// Durably and atomically replaces the latest checkpoint and adds it to the history.
    ///
    /// # Errors
    /// [`StorageError::Io`] or [`StorageError::Index`].
    fn save_checkpoint(&self, size: u64, note: &str) -> Result<(), StorageError>;

    /// The latest checkpoint note, if one was ever saved.
    ///
    /// # Errors
    /// [`StorageError::Io`] or [`StorageError::BadCheckpointFile`].
    fn load_checkpoint(&self) -> Result<Option<String>, StorageError>;

    /// Every checkpoint note kept in the history, by increasing tree size.
    ///
    /// # Errors
    /// [`StorageError::Index`].
    fn checkpoints(&self) -> Result<Vec<String>, StorageError>;
}

/// Lets types holding a storage handle derive `Debug`; shows only the entry count.
impl std::fmt::Debug for dyn JournalStorage + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JournalStorage(len={})", self.len())
    }
}
