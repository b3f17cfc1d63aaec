//! Journal storage, all in flat files: an append-only segment for the entries, per-level files
//! for the derived tree nodes (`store::journal_nodes`), an append-only checkpoint history
//! (`store::journal_history`), and the latest checkpoint in a file replaced atomically.
//!
//! # Why not sled
//! sled 0.34's `flush()` ends in `sync_file_range`, which does not flush the drive's volatile
//! write cache and gives no durability on copy-on-write file systems (sled issues #1452 and
//! #1351). An acknowledged exchange must survive power loss, so entries go to a segment file that
//! this module syncs with `fdatasync` (`File::sync_data`) itself: one write and one `fdatasync`
//! per group commit, after which every entry of the batch is acknowledged. The tree nodes are
//! rebuilt from the segment past their synced watermark on open.
//!
//! # Segment records
//! `u32 LE length | u32 LE CRC32C(entry) | entry`. On open the whole segment is scanned (every
//! CRC checked). The start of every [`OFFSET_STRIDE`]-th entry is kept in a flat file rebuilt by
//! that scan (`store::journal_offsets`), not in memory: a read seeks to the sampled start before
//! it and walks the records' length headers, at most `OFFSET_STRIDE - 1` of them. A bad record at the end is a
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

use super::journal_history::{CheckpointHistory, HISTORY_FILE};
use super::journal_nodes::NodeFiles;
use super::journal_offsets::Offsets;
pub use super::journal_offsets::OFFSET_STRIDE;
use super::journal_records::{self, HEADER_LEN};

/// Most entries one group commit writes: bounds the batch buffer and the torn tail.
pub const MAX_BATCH: usize = 1024;

/// The most bytes one unacknowledged group commit can leave at the end of the segment.
pub const MAX_TORN_TAIL: u64 = (MAX_BATCH * (HEADER_LEN + MAX_ENTRY_LEN)) as u64;

/// Segment file name inside the journal directory.
const SEGMENT: &str = "journal.log";
/// Checkpoint file name inside the journal directory.
const CHECKPOINT: &str = "checkpoint";
/// The sampled entry index inside the journal directory (`store::journal_offsets`).
const OFFSETS: &str = "offsets";
/// Records the recovery scan indexes at once: bounds its buffer of lengths.
const SCAN_CHUNK: usize = 65_536;
/// Directory of the node files inside the journal directory.
const NODES_DIR: &str = "nodes";
/// The sled database in which earlier versions kept the checkpoint history (and, before that,
/// the tree nodes): its history is moved to [`HISTORY_FILE`] on open, then it is removed.
const OLD_INDEX_DIR: &str = "index";
/// The tree of [`OLD_INDEX_DIR`] that held the checkpoint history.
const OLD_HISTORY_TREE: &str = "journal.checkpoints";

fn sled_err(op: StorageOp, e: &sled::Error) -> StorageError {
    StorageError::Index {
        op,
        detail: e.to_string(),
    }
}

/// The file-backed [`JournalStorage`].
#[derive(Debug)]
pub struct FileJournalStorage {
    dir: PathBuf,
    /// Appends go through this handle, which cuts off a failed write and refuses appends after a
    /// failed sync (`journal::storage::SegmentAppender`); the mutex serialises writers (there is one).
    writer: Mutex<SegmentAppender<File>>,
    /// Positional reads need no lock.
    reader: File,
    /// Entry count, segment end and the sampled entry starts (in their file).
    offsets: RwLock<Offsets>,
    nodes: NodeFiles,
    history: CheckpointHistory,
}

impl FileJournalStorage {
    /// Opens (or creates) the journal in `dir`, migrating the checkpoint history of an earlier
    /// version out of sled.
    ///
    /// # Errors
    /// [`StorageError`] for I/O failures, segment or history corruption, and a failed migration.
    pub fn open(dir: &Path) -> Result<Self, StorageError> {
        let open = |e: std::io::Error| StorageError::io(StorageOp::Open, &e);
        std::fs::create_dir_all(dir).map_err(open)?;
        let path = dir.join(SEGMENT);
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(open)?;
        lock_segment(&file)?;
        let offsets = recover_segment(&file, &dir.join(OFFSETS))?;
        let reader = File::open(&path).map_err(open)?;
        // The segment's directory entry must be durable too, or a fresh file could vanish.
        sync_dir(dir, StorageOp::Open)?;
        let nodes = NodeFiles::open(&dir.join(NODES_DIR))?;
        migrate_sled_history(dir)?;
        let history = CheckpointHistory::open(&dir.join(HISTORY_FILE))?;
        let end = offsets.end();
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

/// Takes the segment's exclusive lock, waiting up to [`super::LOCK_WAIT`] as the other databases
/// do: the journal's writer thread of a bridge stopping in this process may hold the file a moment
/// longer. One handle at a time: a second one would truncate what it takes for a torn tail and
/// rebuild the offsets under the first. The kernel drops the lock with the process, so a killed
/// bridge never leaves it behind.
fn lock_segment(file: &File) -> Result<(), StorageError> {
    let started = std::time::Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < super::LOCK_WAIT => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(std::fs::TryLockError::WouldBlock) => return Err(StorageError::Locked),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(StorageError::io(StorageOp::Open, &e))
            }
        }
    }
}

/// Moves the checkpoint history out of the sled database of an earlier version, if there is one,
/// then removes that database (its node tree is rebuilt into the node files anyway). The new
/// history is complete before it gets its name, so a crash at any point leaves either the sled
/// database to migrate again or the whole file.
fn migrate_sled_history(dir: &Path) -> Result<(), StorageError> {
    let old = dir.join(OLD_INDEX_DIR);
    if !old.exists() {
        return Ok(());
    }
    let history = dir.join(HISTORY_FILE);
    if !history.exists() {
        let db = super::open_sled(&old).map_err(|e| StorageError::Index {
            op: StorageOp::Open,
            detail: e.to_string(),
        })?;
        let tree = db
            .open_tree(OLD_HISTORY_TREE)
            .map_err(|e| sled_err(StorageOp::Open, &e))?;
        let mut notes = Vec::new();
        for kv in tree.iter() {
            let (k, v) = kv.map_err(|e| sled_err(StorageOp::Open, &e))?;
            let (Ok(size), Ok(note)) = (<[u8; 8]>::try_from(&k[..]), String::from_utf8(v.to_vec()))
            else {
                // Never written by the bridge; an auditor's export would drop it anyway.
                tracing::warn!(key = ?&k[..], "skipping an unreadable checkpoint of the old history");
                continue;
            };
            notes.push((u64::from_be_bytes(size), note));
        }
        CheckpointHistory::create_with(&history, notes)?;
        tracing::info!(
            journal.dir = %dir.display(),
            "checkpoint history moved out of sled"
        );
    }
    std::fs::remove_dir_all(&old).map_err(|e| StorageError::io(StorageOp::Open, &e))?;
    sync_dir(dir, StorageOp::Open)
}

/// Scans the segment, truncates a torn tail, and rebuilds the index of where the entries are in
/// `offsets_path`.
fn recover_segment(file: &File, offsets_path: &Path) -> Result<Offsets, StorageError> {
    let scan_err = |e: std::io::Error| StorageError::io(StorageOp::Scan, &e);
    let len = file.metadata().map_err(scan_err)?.len();
    let mut offsets = Offsets::create(offsets_path).map_err(scan_err)?;
    let mut record_lens = Vec::with_capacity(SCAN_CHUNK);
    let end = journal_records::scan(file, len, MAX_ENTRY_LEN, |body| {
        record_lens.push((HEADER_LEN + body.len()) as u64);
        if record_lens.len() == SCAN_CHUNK {
            offsets.push_all(record_lens.drain(..)).map_err(scan_err)?;
        }
        Ok(true)
    })?;
    offsets.push_all(record_lens).map_err(scan_err)?;
    journal_records::cut_torn_tail(
        file,
        end,
        len,
        MAX_TORN_TAIL,
        SEGMENT,
        |offset, trailing| StorageError::CorruptSegment { offset, trailing },
    )?;
    Ok(offsets)
}

fn sync_dir(dir: &Path, op: StorageOp) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StorageError::io(op, &e))
}

impl JournalStorage for FileJournalStorage {
    fn len(&self) -> u64 {
        // A poisoned lock means a reader panicked mid-read; the offsets themselves are intact.
        self.offsets.read().unwrap_or_else(|p| p.into_inner()).len()
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
            journal_records::push_record(&mut buf, &[e]);
        }
        let mut file = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        // The writer's lock is held: nothing else changes the offsets until `publish`. Their new
        // samples go to the index file first, so readers never follow a sample not yet written.
        let staged = {
            let offsets = self.offsets.read().unwrap_or_else(|p| p.into_inner());
            let staged = offsets.stage(entries.iter().map(|e| (HEADER_LEN + e.len()) as u64));
            offsets
                .write(&staged)
                .map_err(|e| StorageError::io(StorageOp::Append, &e))?;
            staged
        };
        file.append(&buf)?;
        drop(file);
        self.offsets
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .publish(staged);
        Ok(())
    }

    fn read_range(&self, from: u64, to: u64) -> Result<Vec<Vec<u8>>, StorageError> {
        let (start, end, mut skip) = {
            let offsets = self.offsets.read().unwrap_or_else(|p| p.into_inner());
            if to > offsets.len() || from > to {
                return Err(StorageError::OutOfRange {
                    index: to,
                    len: offsets.len(),
                });
            }
            if from == to {
                return Ok(Vec::new());
            }
            offsets
                .span(from, to)
                .map_err(|e| StorageError::io(StorageOp::Read, &e))?
        };
        let mut raw = vec![0u8; (end - start) as usize];
        self.reader
            .read_exact_at(&mut raw, start)
            .map_err(|e| StorageError::io(StorageOp::Read, &e))?;
        let mut out = Vec::with_capacity((to - from) as usize);
        let mut pos = 0usize;
        while out.len() < (to - from) as usize && pos + HEADER_LEN <= raw.len() {
            let n =
                u32::from_le_bytes([raw[pos], raw[pos + 1], raw[pos + 2], raw[pos + 3]]) as usize;
            let body = raw.get(pos + HEADER_LEN..pos + HEADER_LEN + n).ok_or(
                StorageError::CorruptSegment {
                    offset: start + pos as u64,
                    trailing: 0,
                },
            )?;
            if skip > 0 {
                skip -= 1;
            } else {
                out.push(body.to_vec());
            }
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
        // The history before the latest: a checkpoint anyone can load is in the history.
        self.history.append(size, note)?;
        let tmp = self.dir.join("checkpoint.tmp");
        let mut f = File::create(&tmp).map_err(io)?;
        f.write_all(note.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
        drop(f);
        std::fs::rename(&tmp, self.dir.join(CHECKPOINT)).map_err(io)?;
        sync_dir(&self.dir, op)
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
        self.history.notes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_reopen_and_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = FileJournalStorage::open(dir.path()).unwrap();
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
        let s = FileJournalStorage::open(dir.path()).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(std::fs::metadata(&seg).unwrap().len(), 3 * 8 + 3 + 3 + 5);
        s.append_durable(&[b"four".to_vec()]).unwrap();
        assert_eq!(s.read_range(3, 4).unwrap(), vec![b"four".to_vec()]);
    }

    #[test]
    fn corruption_before_much_data_is_not_truncated() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = FileJournalStorage::open(dir.path()).unwrap();
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
        let err = FileJournalStorage::open(dir.path()).unwrap_err();
        assert!(
            matches!(err, StorageError::CorruptSegment { offset: 0, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn ranges_across_sampled_offsets_read_exactly_their_entries() {
        let dir = tempfile::tempdir().unwrap();
        // Entries of varying length, in batches that straddle the sampling stride.
        let entry = |i: u64| format!("entry-{i}-{}", "x".repeat((i % 7) as usize)).into_bytes();
        let n = 3 * OFFSET_STRIDE + 5;
        {
            let s = FileJournalStorage::open(dir.path()).unwrap();
            let mut i = 0;
            while i < n {
                let batch: Vec<Vec<u8>> = (i..(i + 37).min(n)).map(entry).collect();
                s.append_durable(&batch).unwrap();
                i += batch.len() as u64;
            }
        }
        // After a reopen the index comes from the scan; both must agree with the entries.
        let s = FileJournalStorage::open(dir.path()).unwrap();
        assert_eq!(s.len(), n);
        let edges = [0, 1, 63, 64, 65, 127, 128, 129, 191, 192, 193, n - 1, n];
        for &from in &edges {
            for &to in &edges {
                if from > to {
                    continue;
                }
                let want: Vec<Vec<u8>> = (from..to).map(entry).collect();
                assert_eq!(s.read_range(from, to).unwrap(), want, "[{from}, {to})");
            }
        }
        assert!(matches!(
            s.read_range(0, n + 1),
            Err(StorageError::OutOfRange { .. })
        ));
        assert!(matches!(
            s.read_range(5, 4),
            Err(StorageError::OutOfRange { .. })
        ));
    }

    #[test]
    fn checkpoint_file_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let s = FileJournalStorage::open(dir.path()).unwrap();
        assert_eq!(s.load_checkpoint().unwrap(), None);
        s.save_checkpoint(1, "a\n1\nx\n\n- sig\n").unwrap();
        s.save_checkpoint(2, "a\n2\nx\n\n- sig\n").unwrap();
        assert_eq!(s.load_checkpoint().unwrap().unwrap(), "a\n2\nx\n\n- sig\n");
        assert_eq!(
            s.checkpoints().unwrap(),
            vec!["a\n1\nx\n\n- sig\n", "a\n2\nx\n\n- sig\n"]
        );
        assert!(!dir.path().join("checkpoint.tmp").exists());
    }

    #[test]
    fn a_journal_opens_in_one_place_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let first = FileJournalStorage::open(dir.path()).unwrap();
        first.append_durable(&[b"one".to_vec()]).unwrap();
        assert_eq!(
            FileJournalStorage::open(dir.path()).unwrap_err(),
            StorageError::Locked
        );
        drop(first);
        assert_eq!(FileJournalStorage::open(dir.path()).unwrap().len(), 1);
    }

    #[test]
    fn the_checkpoint_history_of_an_earlier_version_moves_out_of_sled() {
        let dir = tempfile::tempdir().unwrap();
        let notes = ["a\n1\nx\n\n- sig\n", "a\n7\nx\n\n- sig\n"];
        {
            let db = sled::open(dir.path().join(OLD_INDEX_DIR)).unwrap();
            let tree = db.open_tree(OLD_HISTORY_TREE).unwrap();
            tree.insert(7u64.to_be_bytes(), notes[1]).unwrap();
            tree.insert(1u64.to_be_bytes(), notes[0]).unwrap();
            db.open_tree("journal.nodes")
                .unwrap()
                .insert(b"n", b"v")
                .unwrap();
            db.flush().unwrap();
        }
        let s = FileJournalStorage::open(dir.path()).unwrap();
        assert_eq!(s.checkpoints().unwrap(), notes);
        assert!(!dir.path().join(OLD_INDEX_DIR).exists());
        s.save_checkpoint(9, "a\n9\nx\n\n- sig\n").unwrap();
        drop(s);
        let s = FileJournalStorage::open(dir.path()).unwrap();
        assert_eq!(s.checkpoints().unwrap().len(), 3);
    }

    #[test]
    fn a_migration_cut_short_after_the_history_was_written_only_removes_sled() {
        let dir = tempfile::tempdir().unwrap();
        CheckpointHistory::create_with(
            &dir.path().join(HISTORY_FILE),
            [(1, "a\n1\nx\n\n- sig\n".to_owned())],
        )
        .unwrap();
        // The old database is still there, with a history the file already holds.
        let db = sled::open(dir.path().join(OLD_INDEX_DIR)).unwrap();
        db.open_tree(OLD_HISTORY_TREE)
            .unwrap()
            .insert(1u64.to_be_bytes(), "a\n1\nx\n\n- sig\n")
            .unwrap();
        db.flush().unwrap();
        drop(db);
        let s = FileJournalStorage::open(dir.path()).unwrap();
        assert_eq!(s.checkpoints().unwrap(), ["a\n1\nx\n\n- sig\n"]);
        assert!(!dir.path().join(OLD_INDEX_DIR).exists());
    }
}
