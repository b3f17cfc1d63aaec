//! Journal storage: an append-only segment file for the entries, flat per-level files for the
//! derived tree nodes (`store::journal_nodes`), sled for the checkpoint history, and a checkpoint
//! file replaced atomically.
//!
//! # Why not sled alone
//! sled 0.34's `flush()` ends in `sync_file_range`, which does not flush the drive's volatile
//! write cache and gives no durability on copy-on-write file systems (sled issues #1452 and
//! #1351). An acknowledged exchange must survive power loss, so entries go to a segment file that
//! this module syncs with `fdatasync` (`File::sync_data`) itself: one write and one `fdatasync`
//! per group commit, after which every entry of the batch is acknowledged. The tree nodes are
//! rebuilt from the segment past their synced watermark on open.
//!
//! # Segment records
//! `u32 LE length | u32 LE CRC32C(entry) | entry`. On open the whole segment is scanned (every
//! CRC checked) and offsets are kept in memory (8 bytes per entry). A bad record at the end is a
//! torn, never-acknowledged group commit and is truncated; a bad record followed by more bytes
//! than one group commit can write ([`MAX_TORN_TAIL`]) is corruption and open fails.
//!
//! # Checkpoint file
//! `checkpoint` holds the latest signed note. It is replaced by writing `checkpoint.tmp`,
//! `fsync`, `rename`, then `fsync` of the directory, so it is always a whole note.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

use crate::journal::checkpoint::MAX_NOTE_LEN;
use crate::journal::entry::MAX_ENTRY_LEN;
use crate::journal::merkle::Hash;
use crate::journal::storage::{JournalStorage, SegmentAppender, StorageError, StorageOp};

use super::journal_nodes::NodeFiles;

/// Most entries one group commit writes: bounds the batch buffer and the torn tail.
pub const MAX_BATCH: usize = 1024;

/// Record header: length and CRC32C.
const HEADER_LEN: usize = 8;

/// The most bytes one unacknowledged group commit can leave at the end of the segment.
pub const MAX_TORN_TAIL: u64 = (MAX_BATCH * (HEADER_LEN + MAX_ENTRY_LEN)) as u64;

/// Segment file name inside the journal directory.
const SEGMENT: &str = "journal.log";
/// Checkpoint file name inside the journal directory.
const CHECKPOINT: &str = "checkpoint";
/// Directory of the node files inside the journal directory.
const NODES_DIR: &str = "nodes";
/// The sled tree that held the nodes before they moved to files; dropped on open.
const OLD_NODES_TREE: &str = "journal.nodes";

fn sled_err(op: StorageOp, e: &sled::Error) -> StorageError {
    StorageError::Index {
        op,
        detail: e.to_string(),
    }
}

/// The sled-and-segment [`JournalStorage`].
#[derive(Debug)]
pub struct SledJournalStorage {
    dir: PathBuf,
    /// Appends go through this handle, which cuts off a failed write and refuses appends after a
    /// failed sync (`journal::storage::SegmentAppender`); the mutex serialises writers (there is one).
    writer: Mutex<SegmentAppender<File>>,
    /// Positional reads need no lock.
    reader: File,
    /// Start offset of every entry, plus the end offset as the last element.
    offsets: RwLock<Vec<u64>>,
    nodes: NodeFiles,
    history: sled::Tree,
}

impl SledJournalStorage {
    /// Opens (or creates) the journal in `dir`, with its own sled database in `dir/index`.
    ///
    /// # Errors
    /// [`StorageError`] for I/O failures and segment corruption.
    pub fn open(dir: &Path) -> Result<Self, StorageError> {
        std::fs::create_dir_all(dir).map_err(|e| StorageError::io(StorageOp::Open, &e))?;
        let db = super::open_sled(&dir.join("index")).map_err(|e| StorageError::Index {
            op: StorageOp::Open,
            detail: e.to_string(),
        })?;
        Self::open_with_db(dir, &db)
    }

    /// Opens the journal in `dir` using trees of an existing sled database.
    ///
    /// # Errors
    /// As [`SledJournalStorage::open`].
    pub fn open_with_db(dir: &Path, db: &sled::Db) -> Result<Self, StorageError> {
        let open = |e: std::io::Error| StorageError::io(StorageOp::Open, &e);
        std::fs::create_dir_all(dir).map_err(open)?;
        let path = dir.join(SEGMENT);
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(open)?;
        let offsets = recover_segment(&file)?;
        let reader = File::open(&path).map_err(open)?;
        // The segment's directory entry must be durable too, or a fresh file could vanish.
        sync_dir(dir, StorageOp::Open)?;
        let nodes = NodeFiles::open(&dir.join(NODES_DIR))?;
        // Nodes written by an earlier version: rebuilt into the files, so their tree can go.
        db.drop_tree(OLD_NODES_TREE)
            .map_err(|e| sled_err(StorageOp::Open, &e))?;
        let history = db
            .open_tree("journal.checkpoints")
            .map_err(|e| sled_err(StorageOp::Open, &e))?;
        let end = offsets.last().copied().unwrap_or(0);
        Ok(Self {
            dir: dir.to_owned(),
            writer: Mutex::new(SegmentAppender::new(file, end)),
            reader,
            offsets: RwLock::new(offsets),
            nodes,
            history,
        })
    }
}

/// Scans the segment, truncates a torn tail, and returns entry offsets plus the end offset.
fn recover_segment(file: &File) -> Result<Vec<u64>, StorageError> {
    let scan = |e: std::io::Error| StorageError::io(StorageOp::Scan, &e);
    let len = file.metadata().map_err(scan)?.len();
    let mut offsets = Vec::new();
    let mut pos = 0u64;
    let mut header = [0u8; HEADER_LEN];
    let mut buf = vec![0u8; MAX_ENTRY_LEN];
    while pos < len {
        if len - pos < HEADER_LEN as u64 {
            break;
        }
        file.read_exact_at(&mut header, pos).map_err(scan)?;
        let rec_len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if rec_len == 0
            || rec_len > MAX_ENTRY_LEN
            || len - pos - (HEADER_LEN as u64) < rec_len as u64
        {
            break;
        }
        let body = &mut buf[..rec_len];
        file.read_exact_at(body, pos + HEADER_LEN as u64)
            .map_err(scan)?;
        if crc32c::crc32c(body) != crc {
            break;
        }
        offsets.push(pos);
        pos += (HEADER_LEN + rec_len) as u64;
    }
    if pos < len {
        let trailing = len - pos;
        if trailing > MAX_TORN_TAIL {
            return Err(StorageError::CorruptSegment {
                offset: pos,
                trailing,
            });
        }
        tracing::debug!(
            journal.truncated_bytes = trailing,
            "truncating torn journal tail"
        );
        file.set_len(pos).map_err(scan)?;
        file.sync_all().map_err(scan)?;
    }
    offsets.push(pos);
    Ok(offsets)
}

fn sync_dir(dir: &Path, op: StorageOp) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StorageError::io(op, &e))
}

impl JournalStorage for SledJournalStorage {
    fn len(&self) -> u64 {
        // `offsets` always ends with the end offset, so it is never empty.
        // A poisoned lock means a reader panicked mid-read; the offsets themselves are intact.
        let offsets = self.offsets.read().unwrap_or_else(|p| p.into_inner());
        (offsets.len() - 1) as u64
    }

    fn append_durable(&self, entries: &[Vec<u8>]) -> Result<(), StorageError> {
        let total: usize = entries.iter().map(|e| HEADER_LEN + e.len()).sum();
        let mut buf = Vec::with_capacity(total);
        for e in entries {
            // Recovery treats a longer record as torn: refuse to write one.
            if e.is_empty() || e.len() > MAX_ENTRY_LEN {
                return Err(StorageError::EntrySize {
                    len: e.len(),
                    max: MAX_ENTRY_LEN,
                });
            }
            // Invariant: MAX_ENTRY_LEN < u32::MAX, checked just above.
            let n = e.len() as u32;
            buf.extend_from_slice(&n.to_le_bytes());
            buf.extend_from_slice(&crc32c::crc32c(e).to_le_bytes());
            buf.extend_from_slice(e);
        }
        let mut file = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        file.append(&buf)?;
        drop(file);
        let mut offsets = self.offsets.write().unwrap_or_else(|p| p.into_inner());
        let mut end = offsets.last().copied().unwrap_or(0);
        offsets.pop();
        for e in entries {
            offsets.push(end);
            end += (HEADER_LEN + e.len()) as u64;
        }
        offsets.push(end);
        Ok(())
    }

    fn read_range(&self, from: u64, to: u64) -> Result<Vec<Vec<u8>>, StorageError> {
        let (start, end) = {
            let offsets = self.offsets.read().unwrap_or_else(|p| p.into_inner());
            let len = (offsets.len() - 1) as u64;
            if to > len || from > to {
                return Err(StorageError::OutOfRange { index: to, len });
            }
            // Indices are below len, which fits in memory as a Vec index.
            (offsets[from as usize], offsets[to as usize])
        };
        let mut raw = vec![0u8; (end - start) as usize];
        self.reader
            .read_exact_at(&mut raw, start)
            .map_err(|e| StorageError::io(StorageOp::Read, &e))?;
        let mut out = Vec::with_capacity((to - from) as usize);
        let mut pos = 0usize;
        while pos + HEADER_LEN <= raw.len() {
            let n =
                u32::from_le_bytes([raw[pos], raw[pos + 1], raw[pos + 2], raw[pos + 3]]) as usize;
            let body = raw.get(pos + HEADER_LEN..pos + HEADER_LEN + n).ok_or(
                StorageError::CorruptSegment {
                    offset: start + pos as u64,
                    trailing: 0,
                },
            )?;
            out.push(body.to_vec());
            pos += HEADER_LEN + n;
        }
        Ok(out)
    }

    fn nodes_len(&self) -> u64 {
        self.nodes.len()
    }

    fn put_nodes(&self, nodes: &[(u8, u64, Hash)], size: u64) -> Result<(), StorageError> {
        self.nodes.put(nodes, size)
    }

    fn reset_nodes(&self) -> Result<(), StorageError> {
        self.nodes.reset()
    }

    fn node(&self, level: u8, index: u64) -> Result<Option<Hash>, StorageError> {
        self.nodes.get(level, index)
    }

    fn save_checkpoint(&self, size: u64, note: &str) -> Result<(), StorageError> {
        let op = StorageOp::WriteCheckpoint;
        let io = |e: std::io::Error| StorageError::io(op, &e);
        // The nodes a checkpoint vouches for become durable first: a restart rebuilds only what
        // was appended after the last checkpoint.
        self.nodes.sync()?;
        let tmp = self.dir.join("checkpoint.tmp");
        let mut f = File::create(&tmp).map_err(io)?;
        f.write_all(note.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
        drop(f);
        std::fs::rename(&tmp, self.dir.join(CHECKPOINT)).map_err(io)?;
        sync_dir(&self.dir, op)?;
        self.history
            .insert(size.to_be_bytes(), note.as_bytes())
            .map_err(|e| sled_err(op, &e))?;
        Ok(())
    }

    fn load_checkpoint(&self) -> Result<Option<String>, StorageError> {
        let path = self.dir.join(CHECKPOINT);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StorageError::io(StorageOp::ReadCheckpoint, &e)),
        };
        if bytes.len() > MAX_NOTE_LEN {
            return Err(StorageError::BadCheckpointFile);
        }
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| StorageError::BadCheckpointFile)
    }

    fn checkpoints(&self) -> Result<Vec<String>, StorageError> {
        let mut out = Vec::new();
        for kv in self.history.iter() {
            let (_, v) = kv.map_err(|e| sled_err(StorageOp::Index, &e))?;
            if let Ok(s) = std::str::from_utf8(&v) {
                out.push(s.to_owned());
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_reopen_and_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = SledJournalStorage::open(dir.path()).unwrap();
            s.append_durable(&[b"one".to_vec(), b"two".to_vec()])
                .unwrap();
            s.append_durable(&[b"three".to_vec()]).unwrap();
            assert_eq!(
                s.read_range(1, 3).unwrap(),
                vec![b"two".to_vec(), b"three".to_vec()]
            );
        }
        // A torn group commit: a header promising more bytes than were written.
        let seg = dir.path().join(SEGMENT);
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&[50, 0, 0, 0, 1, 2, 3, 4, b'x']).unwrap();
        drop(f);
        let s = SledJournalStorage::open(dir.path()).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(std::fs::metadata(&seg).unwrap().len(), 3 * 8 + 3 + 3 + 5);
        s.append_durable(&[b"four".to_vec()]).unwrap();
        assert_eq!(s.read_range(3, 4).unwrap(), vec![b"four".to_vec()]);
    }

    #[test]
    fn corruption_before_much_data_is_not_truncated() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = SledJournalStorage::open(dir.path()).unwrap();
            let big = vec![vec![b'a'; MAX_ENTRY_LEN]; MAX_BATCH];
            s.append_durable(&[b"first".to_vec()]).unwrap();
            assert_eq!(
                s.append_durable(&[vec![0; MAX_ENTRY_LEN + 1]]),
                Err(StorageError::EntrySize {
                    len: MAX_ENTRY_LEN + 1,
                    max: MAX_ENTRY_LEN
                })
            );
            s.append_durable(&big).unwrap();
            s.append_durable(&big).unwrap();
        }
        let seg = dir.path().join(SEGMENT);
        let f = OpenOptions::new().write(true).open(&seg).unwrap();
        f.write_all_at(b"X", 9).unwrap(); // inside "first"
        drop(f);
        let err = SledJournalStorage::open(dir.path()).unwrap_err();
        assert!(
            matches!(err, StorageError::CorruptSegment { offset: 0, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn checkpoint_file_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let s = SledJournalStorage::open(dir.path()).unwrap();
        assert_eq!(s.load_checkpoint().unwrap(), None);
        s.save_checkpoint(1, "a\n1\nx\n\n- sig\n").unwrap();
        s.save_checkpoint(2, "a\n2\nx\n\n- sig\n").unwrap();
        assert_eq!(s.load_checkpoint().unwrap().unwrap(), "a\n2\nx\n\n- sig\n");
        assert_eq!(s.checkpoints().unwrap().len(), 2);
        assert!(!dir.path().join("checkpoint.tmp").exists());
    }
}
