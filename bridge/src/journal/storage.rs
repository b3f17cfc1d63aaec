//! The storage seam of the journal: what a durable engine must provide. The sled-backed
//! implementation lives in `store::journal`; another embedded engine can replace it by
//! implementing [`JournalStorage`].
//!
//! Contract: [`JournalStorage::append_durable`] returns only once the entries survive power loss
//! (that is the acknowledgement point of the whole bridge). Tree nodes and the checkpoint history
//! are derived data: the journal rebuilds them from the entries, so they need not be durable, only
//! crash-consistent (a prefix of what was written). The latest checkpoint is stored atomically
//! and durably, apart from the entries, so a rolled-back or truncated store is noticed on open.

use std::io;

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
    /// Syncing appended entries failed. They are not acknowledged, and the segment refuses every
    /// later append until it is reopened: after a failed `fdatasync` the kernel may have dropped
    /// the dirty pages and marked them clean, so a later sync that succeeds would prove nothing
    /// (the "fsyncgate" lesson). Reopening rescans the segment and truncates a torn tail.
    #[error("journal sync failed ({kind}); appends refused until reopened")]
    SyncFailed {
        /// The OS error kind.
        kind: std::io::ErrorKind,
    },
    /// An earlier failure left the segment in a state this process cannot vouch for (a failed
    /// sync, or a failed write whose partial bytes could not be cut off): reopen it.
    #[error("journal segment refuses appends after an earlier failure ({kind}); reopen it")]
    Poisoned {
        /// The OS error kind of the first failure.
        kind: std::io::ErrorKind,
    },
    /// sled failed while an earlier version's checkpoint history was read to migrate it
    /// (`store::journal`); its errors are opaque, so the message is carried.
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
    /// The checkpoint history has a damaged record followed by more than one record: this is
    /// corruption, not a torn append, and is never truncated (`store::journal_history`).
    #[error("checkpoint history corrupt at byte {offset} with {trailing} bytes after it")]
    CorruptHistory {
        /// Offset of the first bad record.
        offset: u64,
        /// Bytes from there to the end of the file.
        trailing: u64,
    },
    /// Another open handle (in this process or another) holds the journal's segment lock.
    #[error("journal is in use by another process (its segment is locked)")]
    Locked,
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

/// The operations the append path needs from a segment file opened for appending; a seam so
/// that tests inject `ENOSPC` and `EIO` into writes and syncs.
pub trait SegmentFile {
    /// Appends all of `buf` at the end of the file; on error part of it may have been written.
    ///
    /// # Errors
    /// The OS error.
    fn append_all(&mut self, buf: &[u8]) -> io::Result<()>;
    /// `fdatasync`.
    ///
    /// # Errors
    /// The OS error.
    fn sync_data(&mut self) -> io::Result<()>;
    /// Cuts the file to `len` bytes.
    ///
    /// # Errors
    /// The OS error.
    fn truncate(&mut self, len: u64) -> io::Result<()>;
}

impl SegmentFile for std::fs::File {
    /// The file must be opened with `O_APPEND`, so each write lands at the current end.
    fn append_all(&mut self, buf: &[u8]) -> io::Result<()> {
        io::Write::write_all(self, buf)
    }
    fn sync_data(&mut self) -> io::Result<()> {
        std::fs::File::sync_data(self)
    }
    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.set_len(len)
    }
}

/// The append side of a segment: the end of the acknowledged records, and the failure that
/// stopped it, if any.
///
/// Failure rules (DESIGN.md "Bad input": nothing acknowledged is lost, no hang):
/// - a failed write (`ENOSPC` on a full disk, `EIO`) may leave part of the batch at the end of
///   the file; it is cut back to the acknowledged end at once, so the next append lands right
///   after the last good record and never after garbage. The segment stays usable: when space
///   is freed, appends succeed again. If the cut itself fails the segment is poisoned;
/// - a failed sync poisons the segment ([`StorageError::SyncFailed`], then
///   [`StorageError::Poisoned`]): no retry of the sync is trusted. The unsynced bytes are cut
///   off as well (best effort; recovery on reopen truncates them anyway as a torn tail).
#[derive(Debug)]
pub struct SegmentAppender<F> {
    file: F,
    end: u64,
    poisoned: Option<io::ErrorKind>,
}

impl<F: SegmentFile> SegmentAppender<F> {
    /// Starts appending to `file`, whose recovered records end at `end`.
    pub fn new(file: F, end: u64) -> Self {
        Self {
            file,
            end,
            poisoned: None,
        }
    }

    /// Offset just past the last acknowledged record.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Writes `records` (already framed) and syncs them; returns the new end.
    ///
    /// # Errors
    /// [`StorageError::Io`] for a failed write whose partial bytes were cut off (nothing was
    /// appended; a later append may succeed), [`StorageError::SyncFailed`] and
    /// [`StorageError::Poisoned`] as described on the type.
    pub fn append(&mut self, records: &[u8]) -> Result<u64, StorageError> {
        if let Some(kind) = self.poisoned {
            return Err(StorageError::Poisoned { kind });
        }
        if let Err(e) = self.file.append_all(records) {
            if self.file.truncate(self.end).is_err() {
                self.poisoned = Some(e.kind());
            }
            return Err(StorageError::io(StorageOp::Append, &e));
        }
        if let Err(e) = self.file.sync_data() {
            self.poisoned = Some(e.kind());
            // Best effort: these bytes were never acknowledged.
            let _ = self.file.truncate(self.end);
            return Err(StorageError::SyncFailed { kind: e.kind() });
        }
        self.end += records.len() as u64;
        Ok(self.end)
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
    /// [`StorageError::Io`].
    fn put_nodes(&self, nodes: &[(u8, u64, Hash)], size: u64) -> Result<(), StorageError>;

    /// Drops every stored node (before a rebuild from the entries).
    ///
    /// # Errors
    /// [`StorageError::Io`].
    fn reset_nodes(&self) -> Result<(), StorageError>;

    /// One stored node, if present.
    ///
    /// # Errors
    /// [`StorageError::Io`].
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
    /// [`StorageError::Io`] or [`StorageError::BadCheckpointFile`].
    fn checkpoints(&self) -> Result<Vec<String>, StorageError>;
}

/// Lets types holding a storage handle derive `Debug`; shows only the entry count.
impl std::fmt::Debug for dyn JournalStorage + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JournalStorage(len={})", self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use io::ErrorKind::{Other, StorageFull};

    /// An in-memory segment that fails on command: `write_ok` bytes of the next write succeed,
    /// then the write fails with `write_err`; the next sync fails with `sync_err`.
    #[derive(Default)]
    struct FaultyFile {
        bytes: Vec<u8>,
        write_err: Option<(usize, io::ErrorKind)>,
        sync_err: Option<io::ErrorKind>,
        synced: usize,
    }

    impl SegmentFile for &mut FaultyFile {
        fn append_all(&mut self, buf: &[u8]) -> io::Result<()> {
            if let Some((ok, kind)) = self.write_err.take() {
                self.bytes.extend_from_slice(&buf[..ok.min(buf.len())]);
                return Err(kind.into());
            }
            self.bytes.extend_from_slice(buf);
            Ok(())
        }
        fn sync_data(&mut self) -> io::Result<()> {
            if let Some(kind) = self.sync_err.take() {
                return Err(kind.into());
            }
            self.synced = self.bytes.len();
            Ok(())
        }
        fn truncate(&mut self, len: u64) -> io::Result<()> {
            self.bytes.truncate(len as usize);
            Ok(())
        }
    }

    #[test]
    fn a_failed_write_is_cut_off_and_the_next_append_follows_the_last_good_record() {
        let mut f = FaultyFile::default();
        let mut a = SegmentAppender::new(&mut f, 0);
        assert_eq!(a.append(b"one"), Ok(3));
        a.file.write_err = Some((2, StorageFull));
        assert_eq!(
            a.append(b"partial"),
            Err(StorageError::Io {
                op: StorageOp::Append,
                kind: StorageFull
            })
        );
        assert_eq!(a.file.bytes, b"one");
        // Space is back: appending works again without a reopen.
        assert_eq!(a.append(b"two"), Ok(6));
        assert_eq!(f.bytes, b"onetwo");
        assert_eq!(f.synced, 6);
    }

    #[test]
    fn a_failed_sync_poisons_the_segment() {
        let mut f = FaultyFile::default();
        let mut a = SegmentAppender::new(&mut f, 0);
        a.append(b"one").unwrap();
        a.file.sync_err = Some(Other);
        assert_eq!(
            a.append(b"two"),
            Err(StorageError::SyncFailed { kind: Other })
        );
        // The sync would succeed now, but no later sync is trusted: refused until reopened.
        assert_eq!(
            a.append(b"three"),
            Err(StorageError::Poisoned { kind: Other })
        );
        assert_eq!(a.end(), 3);
        assert_eq!(f.bytes, b"one");
        assert_eq!(f.synced, 3);
    }

    #[test]
    fn a_failed_cut_poisons_the_segment() {
        struct NoTruncate(Vec<u8>);
        impl SegmentFile for NoTruncate {
            fn append_all(&mut self, buf: &[u8]) -> io::Result<()> {
                self.0.extend_from_slice(&buf[..1]);
                Err(io::ErrorKind::Other.into())
            }
            fn sync_data(&mut self) -> io::Result<()> {
                Ok(())
            }
            fn truncate(&mut self, _: u64) -> io::Result<()> {
                Err(io::ErrorKind::Other.into())
            }
        }
        let mut a = SegmentAppender::new(NoTruncate(Vec::new()), 0);
        assert!(matches!(a.append(b"x"), Err(StorageError::Io { .. })));
        assert_eq!(a.append(b"y"), Err(StorageError::Poisoned { kind: Other }));
    }
}
