//! The payloads of the outbox and inbox, in append-only segment files beside the exchange
//! database (`store/payloads/NNNNNNNNNNNNNNNN.seg`), with only a 24-byte reference in redb.
//!
//! # Why not in redb
//! A 4 KiB payload does not fit a 4 KiB redb page with its key, so each one took an 8 KiB
//! copy-on-write page, freed again when the message was done: `bench submit` measured about
//! 37 KB written to disk per exchanged message, two thirds of it page churn. Here a group
//! commit's payloads go to the end of one file in one `pwrite`, and whole segments are deleted
//! once nothing refers to them, as Kafka and Bitcask drop whole log segments instead of
//! rewriting records.
//!
//! # Protocol with the group committer (module `exchange_db`)
//! - Write jobs run on the committer thread. `put` stages the payload in memory and stores its
//!   [`PayloadRef`] in the caller's reference table, in the same transaction as the record; a
//!   `payload_segments` row counts the live references of each segment.
//! - Before the transaction commits, the committer writes the staged bytes (`PayloadLog::write_staged`)
//!   and, for a durable commit, `fdatasync`s the segment: a committed reference never points at
//!   bytes that are not on disk. A transaction that is aborted and run again stages afresh
//!   (`PayloadLog::begin`); bytes written for a commit that then failed, or that a crash cut
//!   off, are never referenced and go with their segment.
//! - `take` removes a reference and decrements its segment's count, dropping the row at zero.
//!   After commits, the committer deletes the closed segments that have no row left
//!   (`PayloadLog::collect`). Only the committer appends, so a closed segment never gains a
//!   reference again.
//! - Each open starts a new segment: the end of the previous one may hold bytes of a commit that
//!   never happened, and nothing needs to know where its durable end was.
//!
//! A segment lives as long as its oldest live payload: an inbox message nobody acknowledges
//! keeps its segment ([`SEGMENT_BYTES`]) until the retention purge removes it.
//!
//! Stores written before this module keep their payloads in the `*_payloads` tables; `get`
//! and `take` still read and remove them there.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use redb::{ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use super::exchange_db::Table;
use super::StoreError;

/// The directory of the segments, beside the exchange database.
pub const PAYLOAD_DIR: &str = "payloads";

/// Live references per segment: segment number (big-endian) -> count (big-endian). A segment
/// without a row has none.
pub(crate) const SEGMENTS: Table = TableDefinition::new("payload_segments");

/// Size after which the committer closes a segment and starts the next. Small enough that a
/// long-lived payload pins little disk, large enough that `bench submit` rolls over every few
/// seconds, not every commit.
pub const SEGMENT_BYTES: u64 = 16 * 1024 * 1024;

/// How often the committer looks for closed segments without references.
const COLLECT_EVERY: Duration = Duration::from_secs(1);

/// Bytes of an encoded [`PayloadRef`].
const REF_LEN: usize = 24;

/// Where a payload is: its segment, offset and length, and its CRC-32, checked on every read so
/// that a torn or overwritten segment is reported, not relayed. (The payload's SHA-256 is
/// checked end to end anyway, by the receiving bridge and the operator; the CRC only has to
/// catch storage faults, at a tenth of the cost of a second SHA-256 per write.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadRef {
    segment: u64,
    offset: u64,
    len: u32,
    check: u32,
}

impl PayloadRef {
    fn encode(&self) -> [u8; REF_LEN] {
        let mut out = [0u8; REF_LEN];
        out[..8].copy_from_slice(&self.segment.to_be_bytes());
        out[8..16].copy_from_slice(&self.offset.to_be_bytes());
        out[16..20].copy_from_slice(&self.len.to_be_bytes());
        out[20..].copy_from_slice(&self.check.to_be_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Result<PayloadRef, StoreError> {
        let corrupt = || StoreError::Corrupt {
            tree: "payload_refs",
            detail: format!(
                "a payload reference of {} bytes, not {REF_LEN}",
                bytes.len()
            ),
        };
        let b: &[u8; REF_LEN] = bytes.try_into().map_err(|_| corrupt())?;
        let mut segment = [0u8; 8];
        let mut offset = [0u8; 8];
        let mut len = [0u8; 4];
        let mut check = [0u8; 4];
        segment.copy_from_slice(&b[..8]);
        offset.copy_from_slice(&b[8..16]);
        len.copy_from_slice(&b[16..20]);
        check.copy_from_slice(&b[20..]);
        Ok(PayloadRef {
            segment: u64::from_be_bytes(segment),
            offset: u64::from_be_bytes(offset),
            len: u32::from_be_bytes(len),
            check: u32::from_be_bytes(check),
        })
    }
}

fn check_of(payload: &[u8]) -> u32 {
    crc32fast::hash(payload)
}

/// The segment files of one exchange database (module doc).
#[derive(Debug)]
pub struct PayloadLog {
    dir: PathBuf,
    writer: Mutex<Writer>,
    /// Open read handles, by segment.
    readers: RwLock<std::collections::HashMap<u64, Arc<File>>>,
}

#[derive(Debug)]
struct Writer {
    /// The segment appended to.
    segment: u64,
    file: File,
    /// Bytes written to it so far.
    end: u64,
    /// Payloads of the transaction being run, to be written at `end`.
    staged: Vec<u8>,
    /// Written to `file` since its last `fdatasync`.
    unsynced: bool,
    /// Closed segments not yet deleted.
    closed: BTreeSet<u64>,
    last_collect: Instant,
}

fn segment_path(dir: &Path, segment: u64) -> PathBuf {
    dir.join(format!("{segment:016}.seg"))
}

fn create_segment(dir: &Path, segment: u64) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(segment_path(dir, segment))?;
    // The new name must survive a crash before the first commit that refers to it.
    File::open(dir)?.sync_all()?;
    Ok(file)
}

impl PayloadLog {
    /// Opens the segments in `dir` (creating it) and starts a new segment after the last one.
    ///
    /// # Errors
    /// I/O failures.
    pub fn open(dir: &Path) -> Result<PayloadLog, StoreError> {
        let fail = |e: io::Error| StoreError::Sync {
            reason: format!("payload segments in {}: {e}", dir.display()),
        };
        std::fs::create_dir_all(dir).map_err(fail)?;
        let mut closed = BTreeSet::new();
        for entry in std::fs::read_dir(dir).map_err(fail)? {
            let name = entry.map_err(fail)?.file_name();
            let segment = name
                .to_str()
                .and_then(|n| n.strip_suffix(".seg"))
                .and_then(|n| n.parse::<u64>().ok());
            if let Some(segment) = segment {
                closed.insert(segment);
            }
        }
        let segment = closed.last().map_or(0, |last| last.saturating_add(1));
        let file = create_segment(dir, segment).map_err(fail)?;
        Ok(PayloadLog {
            dir: dir.to_owned(),
            writer: Mutex::new(Writer {
                segment,
                file,
                end: 0,
                staged: Vec::new(),
                unsynced: false,
                closed,
                last_collect: Instant::now(),
            }),
            readers: RwLock::default(),
        })
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, Writer> {
        // A panic mid-stage leaves at worst staged bytes that `begin` drops.
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Drops what an earlier run of the transaction staged (committer, before each run).
    pub(super) fn begin(&self) {
        self.writer().staged.clear();
    }

    /// Stages `payload` for the running transaction and returns where it will be.
    fn stage(&self, payload: &[u8]) -> Result<PayloadRef, StoreError> {
        let len = u32::try_from(payload.len()).map_err(|_| StoreError::Corrupt {
            tree: "payload_refs",
            detail: format!("a payload of {} bytes", payload.len()),
        })?;
        let mut w = self.writer();
        let at = PayloadRef {
            segment: w.segment,
            offset: w.end + w.staged.len() as u64,
            len,
            check: check_of(payload),
        };
        w.staged.extend_from_slice(payload);
        Ok(at)
    }

    /// Writes the staged payloads at the end of the segment; with `durable`, syncs the segment
    /// if anything was written to it since its last sync (deferred commits included). Closes the
    /// segment once it is past [`SEGMENT_BYTES`] (committer, before committing).
    ///
    /// # Errors
    /// The OS error: the committer then fails the group and latches.
    pub(super) fn write_staged(&self, durable: bool) -> io::Result<()> {
        let mut guard = self.writer();
        let w = &mut *guard;
        if !w.staged.is_empty() {
            w.file.write_all_at(&w.staged, w.end)?;
            w.end += w.staged.len() as u64;
            w.unsynced = true;
            // Cleared, not dropped: the next group reuses the capacity.
            w.staged.clear();
        }
        if durable && w.unsynced {
            w.file.sync_data()?;
            w.unsynced = false;
        }
        if w.end >= SEGMENT_BYTES {
            // The closed segment is synced now: later durable commits only sync the new one.
            w.file.sync_data()?;
            let next = w.segment.saturating_add(1);
            w.file = create_segment(&self.dir, next)?;
            w.closed.insert(w.segment);
            w.segment = next;
            w.end = 0;
            w.unsynced = false;
        }
        Ok(())
    }

    /// The payload at `at`; `None` when its segment is gone (its message was removed meanwhile).
    ///
    /// # Errors
    /// I/O failures; [`StoreError::Corrupt`] when the bytes are short or do not match the
    /// reference's digest.
    fn read(&self, at: &PayloadRef) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(file) = self.reader(at.segment)? else {
            return Ok(None);
        };
        let mut out = vec![0u8; at.len as usize];
        file.read_exact_at(&mut out, at.offset)
            .map_err(|e| StoreError::Corrupt {
                tree: "payload_refs",
                detail: format!(
                    "payload at {}:{} ({} bytes): {e}",
                    at.segment, at.offset, at.len
                ),
            })?;
        if check_of(&out) != at.check {
            return Err(StoreError::Corrupt {
                tree: "payload_refs",
                detail: format!(
                    "payload at {}:{} does not match its CRC-32",
                    at.segment, at.offset
                ),
            });
        }
        Ok(Some(out))
    }

    fn reader(&self, segment: u64) -> Result<Option<Arc<File>>, StoreError> {
        if let Some(f) = self
            .readers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&segment)
        {
            return Ok(Some(f.clone()));
        }
        let file = match File::open(segment_path(&self.dir, segment)) {
            Ok(f) => Arc::new(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(StoreError::Sync {
                    reason: format!("payload segment {segment}: {e}"),
                })
            }
        };
        self.readers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(segment, file.clone());
        Ok(Some(file))
    }

    /// Deletes the closed segments that no reference points into, at most every
    /// [`COLLECT_EVERY`] unless `now` (committer, after a commit; at open). Returns how many.
    ///
    /// # Errors
    /// Storage failures reading the counts, or deleting a file.
    pub(super) fn collect(&self, db: &redb::Database, now: bool) -> Result<usize, StoreError> {
        let candidates: Vec<u64> = {
            let mut w = self.writer();
            if !now && w.last_collect.elapsed() < COLLECT_EVERY {
                return Ok(0);
            }
            w.last_collect = Instant::now();
            w.closed.iter().copied().collect()
        };
        if candidates.is_empty() {
            return Ok(0);
        }
        let read: ReadTransaction = db.begin_read().map_err(redb::Error::from)?;
        let counts = read.open_table(SEGMENTS).map_err(redb::Error::from)?;
        let mut deleted = 0;
        for segment in candidates {
            if counts
                .get(&segment.to_be_bytes()[..])
                .map_err(redb::Error::from)?
                .is_some()
            {
                continue;
            }
            match std::fs::remove_file(segment_path(&self.dir, segment)) {
                Ok(()) => deleted += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(StoreError::Sync {
                        reason: format!("cannot delete payload segment {segment}: {e}"),
                    })
                }
            }
            self.writer().closed.remove(&segment);
            self.readers
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&segment);
        }
        Ok(deleted)
    }

    /// Segment files on disk.
    #[cfg(test)]
    fn segments(&self) -> usize {
        let w = self.writer();
        w.closed.len() + 1
    }
}

/// Adds `delta` to the live count of `segment`, removing the row at zero.
fn count(txn: &WriteTransaction, segment: u64, delta: i64) -> Result<(), StoreError> {
    let mut counts = txn.open_table(SEGMENTS)?;
    let key = segment.to_be_bytes();
    let old = counts
        .get(&key[..])?
        .and_then(|v| <[u8; 8]>::try_from(v.value()).ok())
        .map_or(0, u64::from_be_bytes);
    let new = old.saturating_add_signed(delta);
    if new == 0 {
        counts.remove(&key[..])?;
    } else {
        counts.insert(&key[..], &new.to_be_bytes()[..])?;
    }
    Ok(())
}

/// Stores `payload` under `key`: staged in `log`, referenced from `refs` (inside a write job).
///
/// # Errors
/// Storage failures.
pub(crate) fn put(
    txn: &WriteTransaction,
    log: &PayloadLog,
    refs: Table,
    key: &[u8],
    payload: &[u8],
) -> Result<(), StoreError> {
    let at = log.stage(payload)?;
    let old = {
        let mut table = txn.open_table(refs)?;
        let old = table.insert(key, &at.encode()[..])?;
        old.map(|v| PayloadRef::decode(v.value())).transpose()?
    };
    if let Some(old) = old {
        count(txn, old.segment, -1)?;
    }
    count(txn, at.segment, 1)
}

/// Removes the payload under `key`, wherever it is: a reference in `refs`, or the bytes in the
/// `legacy` table of older stores (inside a write job).
///
/// # Errors
/// Storage failures.
pub(crate) fn take(
    txn: &WriteTransaction,
    refs: Table,
    legacy: Table,
    key: &[u8],
) -> Result<(), StoreError> {
    let removed = {
        let mut table = txn.open_table(refs)?;
        let removed = table.remove(key)?;
        removed.map(|v| PayloadRef::decode(v.value())).transpose()?
    };
    if let Some(old) = removed {
        count(txn, old.segment, -1)?;
    }
    txn.open_table(legacy)?.remove(key)?;
    Ok(())
}

/// The payload under `key` in the snapshot `read`: by reference, else in `legacy`.
///
/// # Errors
/// Storage failures, a corrupt reference or segment.
pub(crate) fn get(
    read: &ReadTransaction,
    log: &PayloadLog,
    refs: Table,
    legacy: Table,
    key: &[u8],
) -> Result<Option<Vec<u8>>, StoreError> {
    if let Some(at) = read.open_table(refs)?.get(key)? {
        return log.read(&PayloadRef::decode(at.value())?);
    }
    Ok(read
        .open_table(legacy)?
        .get(key)?
        .map(|v| v.value().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::exchange_db::{ExchangeDb, WriteMode, EXCHANGE_DB_FILE};

    const REFS: Table = TableDefinition::new("t_refs");
    const LEGACY: Table = TableDefinition::new("t_payloads");

    fn read(db: &ExchangeDb, key: &'static [u8]) -> Option<Vec<u8>> {
        get(&db.read().unwrap(), db.payloads(), REFS, LEGACY, key).unwrap()
    }

    fn seg_files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir.join(PAYLOAD_DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn segments_are_deleted_once_nothing_refers_to_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(EXCHANGE_DB_FILE);
        let big = |b: u8| vec![b; (SEGMENT_BYTES / 2 + 1) as usize];
        {
            let db = ExchangeDb::open(&path, &[REFS, LEGACY]).unwrap();
            let log = db.payloads().clone();
            db.write(WriteMode::Durable, move |txn| {
                put(txn, &log, REFS, b"a", &big(1))?;
                put(txn, &log, REFS, b"b", &big(2))
            })
            .await
            .unwrap();
            // Past SEGMENT_BYTES: segment 0 is closed and 1 takes the next payloads.
            assert_eq!(
                seg_files(dir.path()),
                ["0000000000000000.seg", "0000000000000001.seg"]
            );
            assert_eq!(read(&db, b"a"), Some(big(1)));

            db.write(WriteMode::Durable, |txn| take(txn, REFS, LEGACY, b"a"))
                .await
                .unwrap();
            assert_eq!(
                db.collect_payloads().unwrap(),
                0,
                "b still lives in segment 0"
            );
            assert_eq!(read(&db, b"b"), Some(big(2)));

            db.write(WriteMode::Durable, |txn| take(txn, REFS, LEGACY, b"b"))
                .await
                .unwrap();
            assert_eq!(db.collect_payloads().unwrap(), 1);
            assert_eq!(seg_files(dir.path()), ["0000000000000001.seg"]);
            assert_eq!(read(&db, b"b"), None);
            let counts = db.read().unwrap();
            assert_eq!(
                counts.open_table(SEGMENTS).unwrap().iter().unwrap().count(),
                0
            );
        }
        // A reopen starts segment 2 and deletes 1, which holds nothing.
        let _db = ExchangeDb::open(&path, &[REFS, LEGACY]).unwrap();
        assert_eq!(seg_files(dir.path()), ["0000000000000002.seg"]);
    }

    #[tokio::test]
    async fn payloads_of_older_stores_are_read_and_removed_in_their_table() {
        let dir = tempfile::tempdir().unwrap();
        let db = ExchangeDb::open(&dir.path().join(EXCHANGE_DB_FILE), &[REFS, LEGACY]).unwrap();
        db.write(WriteMode::Durable, |txn| {
            txn.open_table(LEGACY)?
                .insert(&b"old"[..], &b"inline bytes"[..])?;
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(read(&db, b"old").as_deref(), Some(&b"inline bytes"[..]));
        db.write(WriteMode::Durable, |txn| take(txn, REFS, LEGACY, b"old"))
            .await
            .unwrap();
        assert_eq!(read(&db, b"old"), None);
    }

    #[tokio::test]
    async fn a_replaced_payload_moves_its_count() {
        let dir = tempfile::tempdir().unwrap();
        let db = ExchangeDb::open(&dir.path().join(EXCHANGE_DB_FILE), &[REFS, LEGACY]).unwrap();
        for body in [&b"one"[..], &b"two"[..]] {
            let log = db.payloads().clone();
            db.write(WriteMode::Durable, move |txn| {
                put(txn, &log, REFS, b"k", body)
            })
            .await
            .unwrap();
        }
        assert_eq!(read(&db, b"k").as_deref(), Some(&b"two"[..]));
        let read = db.read().unwrap();
        let counts = read.open_table(SEGMENTS).unwrap();
        let live = counts.get(&0u64.to_be_bytes()[..]).unwrap().unwrap();
        assert_eq!(
            live.value(),
            1u64.to_be_bytes(),
            "one live reference, not two"
        );
    }

    #[test]
    fn a_reference_round_trips_and_a_short_one_is_corrupt() {
        let at = PayloadRef {
            segment: 7,
            offset: 4096,
            len: 33,
            check: 0x0102_0304,
        };
        assert_eq!(PayloadRef::decode(&at.encode()).unwrap(), at);
        assert!(matches!(
            PayloadRef::decode(&at.encode()[..23]),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn staged_payloads_are_read_back_once_written_and_a_changed_byte_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let log = PayloadLog::open(dir.path()).unwrap();
        log.begin();
        let a = log.stage(b"first payload").unwrap();
        let b = log.stage(b"second").unwrap();
        log.write_staged(true).unwrap();
        assert_eq!(log.read(&a).unwrap().unwrap(), b"first payload");
        assert_eq!(log.read(&b).unwrap().unwrap(), b"second");
        // A run that is aborted stages again from the same place.
        log.begin();
        let c = log.stage(b"third").unwrap();
        log.begin();
        let c2 = log.stage(b"third").unwrap();
        assert_eq!(c, c2);
        log.write_staged(false).unwrap();
        assert_eq!(log.read(&c2).unwrap().unwrap(), b"third");

        let file = OpenOptions::new()
            .write(true)
            .open(segment_path(dir.path(), a.segment))
            .unwrap();
        file.write_all_at(b"F", a.offset).unwrap();
        assert!(matches!(log.read(&a), Err(StoreError::Corrupt { .. })));
    }

    #[test]
    fn a_reopen_starts_a_new_segment_and_keeps_the_old_ones_readable() {
        let dir = tempfile::tempdir().unwrap();
        let at = {
            let log = PayloadLog::open(dir.path()).unwrap();
            let at = log.stage(b"kept").unwrap();
            log.write_staged(true).unwrap();
            at
        };
        let log = PayloadLog::open(dir.path()).unwrap();
        assert_eq!(log.segments(), 2);
        assert_eq!(log.read(&at).unwrap().unwrap(), b"kept");
        let next = log.stage(b"new").unwrap();
        assert_eq!(next.segment, at.segment + 1);
        assert_eq!(next.offset, 0);
    }
}
