//! The journal's checkpoint history: every signed checkpoint note the journal has published, in
//! one append-only file (`checkpoints` in the journal directory). `journal export` hands the
//! history to auditors, who check that each checkpoint extends the ones before it.
//!
//! # Why not sled
//! The history used to be a tree of a sled database of its own (`index/`), one insert per
//! checkpoint: one a second under load with the default `journal.checkpoint_interval`. sled 0.34
//! keeps what it has written resident whatever its cache capacity (about 0.5 KiB per insert,
//! measured in isolation), so the resident set of a bridge grew with its age, which `bench soak`
//! showed as a steady rise. A list that is only appended to and read whole needs no B-tree and no
//! background threads.
//!
//! # Records
//! `u32 LE length | u32 LE CRC32C(body) | body`, where body is `u64 BE tree size | note`, the
//! framing of the entry segment (`store::journal_records`). Each append is synced (`fdatasync`) before it returns, through
//! the segment's [`SegmentAppender`]: a failed write is cut off and may be retried, a failed sync
//! refuses later appends until reopened. On open the file is scanned: a bad record at the end is a
//! torn append and is truncated; a bad record followed by more than one record's worth of bytes
//! is corruption, and open fails rather than throw evidence away.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::journal::checkpoint::MAX_NOTE_LEN;
use crate::journal::storage::{SegmentAppender, StorageError, StorageOp};

use super::journal_records::{self, HEADER_LEN};

/// File name of the history inside the journal directory.
pub(super) const HISTORY_FILE: &str = "checkpoints";

/// The tree size at the start of a body.
const SIZE_LEN: usize = 8;
/// Longest body a valid record has.
const MAX_BODY_LEN: usize = SIZE_LEN + MAX_NOTE_LEN;
/// Appends are one record at a time, so a crash leaves at most one partial record.
const MAX_TORN_TAIL: u64 = (HEADER_LEN + MAX_BODY_LEN) as u64;

/// The append-only checkpoint history of one journal.
#[derive(Debug)]
pub(super) struct CheckpointHistory {
    path: PathBuf,
    appender: Mutex<SegmentAppender<File>>,
}

impl CheckpointHistory {
    /// Opens (or creates) the history at `path`, truncating a torn last record.
    ///
    /// # Errors
    /// [`StorageError::Io`], or [`StorageError::CorruptHistory`] for damage before the end.
    pub(super) fn open(path: &Path) -> Result<Self, StorageError> {
        let open = |e: std::io::Error| StorageError::io(StorageOp::Open, &e);
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(open)?;
        let len = file.metadata().map_err(open)?.len();
        let end = scan(&file, len, |_, _| Ok(()))?;
        journal_records::cut_torn_tail(
            &file,
            end,
            len,
            MAX_TORN_TAIL,
            HISTORY_FILE,
            |offset, trailing| StorageError::CorruptHistory { offset, trailing },
        )?;
        Ok(Self {
            path: path.to_owned(),
            appender: Mutex::new(SegmentAppender::new(file, end)),
        })
    }

    /// Appends the note of the checkpoint at `size` and returns once it is on stable storage.
    ///
    /// # Errors
    /// [`StorageError::EntrySize`] for a note over the limit; otherwise as
    /// [`SegmentAppender::append`], with write failures reported as `WriteCheckpoint`.
    pub(super) fn append(&self, size: u64, note: &str) -> Result<(), StorageError> {
        let record = frame(size, note)?;
        let mut appender = self.appender.lock().unwrap_or_else(|p| p.into_inner());
        match appender.append(&record) {
            Ok(_) => Ok(()),
            Err(StorageError::Io { kind, .. }) => Err(StorageError::Io {
                op: StorageOp::WriteCheckpoint,
                kind,
            }),
            Err(e) => Err(e),
        }
    }

    /// Every note, by increasing tree size; a size recorded twice keeps its later note.
    ///
    /// # Errors
    /// [`StorageError::Io`], or [`StorageError::BadCheckpointFile`] for a note that is not UTF-8.
    pub(super) fn notes(&self) -> Result<Vec<String>, StorageError> {
        // Only acknowledged records: an append in progress may have written part of one.
        let end = self
            .appender
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .end();
        let file =
            File::open(&self.path).map_err(|e| StorageError::io(StorageOp::ReadCheckpoint, &e))?;
        let mut by_size = std::collections::BTreeMap::new();
        scan(&file, end, |size, note| {
            let note = std::str::from_utf8(note).map_err(|_| StorageError::BadCheckpointFile)?;
            by_size.insert(size, note.to_owned());
            Ok(())
        })?;
        Ok(by_size.into_values().collect())
    }

    /// Writes `notes` (tree size, note) as a new history at `path`, replacing any file there
    /// only once the new one is whole and synced. For migrations.
    ///
    /// # Errors
    /// [`StorageError::Io`] or [`StorageError::EntrySize`].
    pub(super) fn create_with(
        path: &Path,
        notes: impl IntoIterator<Item = (u64, String)>,
    ) -> Result<(), StorageError> {
        let io = |e: std::io::Error| StorageError::io(StorageOp::WriteCheckpoint, &e);
        let tmp = path.with_extension("tmp");
        let mut file = std::io::BufWriter::new(File::create(&tmp).map_err(io)?);
        for (size, note) in notes {
            file.write_all(&frame(size, &note)?).map_err(io)?;
        }
        let file = file.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        drop(file);
        std::fs::rename(&tmp, path).map_err(io)?;
        if let Some(dir) = path.parent() {
            File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        }
        Ok(())
    }
}

/// One framed record.
fn frame(size: u64, note: &str) -> Result<Vec<u8>, StorageError> {
    if note.is_empty() || note.len() > MAX_NOTE_LEN {
        return Err(StorageError::EntrySize {
            len: note.len(),
            max: MAX_NOTE_LEN,
        });
    }
    let mut record = Vec::with_capacity(HEADER_LEN + SIZE_LEN + note.len());
    journal_records::push_record(&mut record, &[&size.to_be_bytes(), note.as_bytes()]);
    Ok(record)
}

/// Reads the records in the first `limit` bytes of `file`, calling `each` with the size and note
/// of every good one, and returns the offset just past the last good record
/// (`journal_records::scan`; a body too short to hold a size and a note ends it too).
fn scan(
    file: &File,
    limit: u64,
    mut each: impl FnMut(u64, &[u8]) -> Result<(), StorageError>,
) -> Result<u64, StorageError> {
    journal_records::scan(file, limit, MAX_BODY_LEN, |body| {
        let Some((size, note)) = body.split_first_chunk::<SIZE_LEN>() else {
            return Ok(false);
        };
        if note.is_empty() {
            return Ok(false);
        }
        each(u64::from_be_bytes(*size), note)?;
        Ok(true)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(size: u64) -> String {
        format!("bridge.example/journal\n{size}\nroot\n\n— bridge.example/journal sig{size}\n")
    }

    #[test]
    fn notes_survive_a_reopen_in_size_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(HISTORY_FILE);
        {
            let h = CheckpointHistory::open(&path).unwrap();
            assert!(h.notes().unwrap().is_empty());
            h.append(3, &note(3)).unwrap();
            h.append(9, &note(9)).unwrap();
        }
        let h = CheckpointHistory::open(&path).unwrap();
        h.append(12, &note(12)).unwrap();
        assert_eq!(h.notes().unwrap(), vec![note(3), note(9), note(12)]);
    }

    #[test]
    fn a_size_recorded_twice_keeps_its_later_note() {
        let dir = tempfile::tempdir().unwrap();
        let h = CheckpointHistory::open(&dir.path().join(HISTORY_FILE)).unwrap();
        h.append(5, "first\n").unwrap();
        h.append(5, "second\n").unwrap();
        h.append(2, &note(2)).unwrap();
        assert_eq!(h.notes().unwrap(), vec![note(2), "second\n".to_owned()]);
    }

    #[test]
    fn a_torn_last_record_is_cut_off_and_appends_go_on_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(HISTORY_FILE);
        let whole = {
            let h = CheckpointHistory::open(&path).unwrap();
            h.append(1, &note(1)).unwrap();
            std::fs::metadata(&path).unwrap().len()
        };
        // Half of a second record, as a crash during its write leaves it.
        let second = frame(2, &note(2)).unwrap();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&second[..second.len() / 2]).unwrap();
        drop(f);
        let h = CheckpointHistory::open(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), whole);
        h.append(2, &note(2)).unwrap();
        assert_eq!(h.notes().unwrap(), vec![note(1), note(2)]);
    }

    #[test]
    fn damage_before_the_end_is_corruption_not_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(HISTORY_FILE);
        {
            let h = CheckpointHistory::open(&path).unwrap();
            // More than one record's worth of notes after the damaged one.
            let long = "x".repeat(MAX_NOTE_LEN);
            for size in 1..=3 {
                h.append(size, &long).unwrap();
            }
        }
        let bytes = std::fs::read(&path).unwrap();
        let mut damaged = bytes.clone();
        damaged[HEADER_LEN + SIZE_LEN] ^= 1; // the first note's first byte
        std::fs::write(&path, &damaged).unwrap();
        let err = CheckpointHistory::open(&path).unwrap_err();
        assert_eq!(
            err,
            StorageError::CorruptHistory {
                offset: 0,
                trailing: bytes.len() as u64
            }
        );
        // Nothing was thrown away.
        assert_eq!(std::fs::read(&path).unwrap(), damaged);
    }

    #[test]
    fn notes_over_the_limit_are_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(HISTORY_FILE);
        let h = CheckpointHistory::open(&path).unwrap();
        let err = h.append(1, &"x".repeat(MAX_NOTE_LEN + 1)).unwrap_err();
        assert_eq!(
            err,
            StorageError::EntrySize {
                len: MAX_NOTE_LEN + 1,
                max: MAX_NOTE_LEN
            }
        );
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    }

    #[test]
    fn a_history_written_whole_replaces_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(HISTORY_FILE);
        CheckpointHistory::create_with(&path, [(4, note(4)), (8, note(8))]).unwrap();
        assert!(!path.with_extension("tmp").exists());
        let h = CheckpointHistory::open(&path).unwrap();
        assert_eq!(h.notes().unwrap(), vec![note(4), note(8)]);
    }
}
