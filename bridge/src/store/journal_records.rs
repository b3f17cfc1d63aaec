//! The framing shared by the journal's append-only files, the entry segment (`store::journal`)
//! and the checkpoint history (`store::journal_history`): `u32 LE length | u32 LE CRC32C(body) |
//! body`. A scan on open finds where the good records end; what follows them is a torn append,
//! cut off, unless it is longer than one append can leave, which is corruption.

use std::fs::File;
use std::io::{BufReader, Read as _};

use crate::journal::storage::{StorageError, StorageOp};

/// Record header: body length and CRC32C.
pub(super) const HEADER_LEN: usize = 8;

/// Read buffer of a scan.
const SCAN_BUFFER: usize = 64 * 1024;

/// Appends one record whose body is `parts` concatenated. The caller bounds the body's length
/// (a scan ends at a body longer than its limit).
pub(super) fn push_record(out: &mut Vec<u8>, parts: &[&[u8]]) {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let crc = parts.iter().fold(0, |crc, p| crc32c::crc32c_append(crc, p));
    // Invariant: bodies are bounded far below u32::MAX by their callers.
    out.extend_from_slice(&(len as u32).to_le_bytes());
    out.extend_from_slice(&crc.to_le_bytes());
    for p in parts {
        out.extend_from_slice(p);
    }
}

/// Reads the records in the first `limit` bytes of `file` from its current position (the start,
/// for a file just opened), calling `each` with every good body, and returns the offset just
/// past the last good record. An empty, short, oversized (over `max_len`) or mismatching record
/// ends the scan, and so does a body `each` refuses (`Ok(false)`).
pub(super) fn scan(
    file: &File,
    limit: u64,
    max_len: usize,
    mut each: impl FnMut(&[u8]) -> Result<bool, StorageError>,
) -> Result<u64, StorageError> {
    let mut reader = BufReader::with_capacity(SCAN_BUFFER, file.take(limit));
    let mut header = [0u8; HEADER_LEN];
    let mut body = Vec::new();
    let mut end = 0u64;
    loop {
        if !read_whole(&mut reader, &mut header)? {
            return Ok(end);
        }
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if len == 0 || len > max_len {
            return Ok(end);
        }
        body.resize(len, 0);
        if !read_whole(&mut reader, &mut body)? || crc32c::crc32c(&body) != crc || !each(&body)? {
            return Ok(end);
        }
        end += (HEADER_LEN + len) as u64;
    }
}

/// Cuts `file` (of `len` bytes) back to `end`, the end of its good records, when what follows is
/// at most `max_torn` bytes: a torn append, never acknowledged. More is corruption, reported by
/// `corrupt(offset, trailing)` and never truncated.
pub(super) fn cut_torn_tail(
    file: &File,
    end: u64,
    len: u64,
    max_torn: u64,
    what: &'static str,
    corrupt: impl FnOnce(u64, u64) -> StorageError,
) -> Result<(), StorageError> {
    if end >= len {
        return Ok(());
    }
    let trailing = len - end;
    if trailing > max_torn {
        return Err(corrupt(end, trailing));
    }
    tracing::debug!(
        journal.truncated_bytes = trailing,
        file = what,
        "truncating torn tail"
    );
    let scan_err = |e: std::io::Error| StorageError::io(StorageOp::Scan, &e);
    file.set_len(end).map_err(scan_err)?;
    file.sync_all().map_err(scan_err)
}

/// Fills `buf`; `false` when the input ends first.
fn read_whole(reader: &mut impl std::io::Read, buf: &mut [u8]) -> Result<bool, StorageError> {
    match reader.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(StorageError::io(StorageOp::Scan, &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek as _, Write as _};

    fn file_with(bytes: &[u8]) -> File {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        f.rewind().unwrap();
        f
    }

    #[test]
    fn a_record_in_parts_reads_back_whole_and_a_bad_one_ends_the_scan() {
        let mut bytes = Vec::new();
        push_record(&mut bytes, &[b"ab", b"cd"]);
        push_record(&mut bytes, &[b"efg"]);
        let good = bytes.len() as u64;
        push_record(&mut bytes, &[b"hij"]);
        *bytes.last_mut().unwrap() ^= 1; // the last record's CRC no longer matches
        let mut seen = Vec::new();
        let end = scan(&file_with(&bytes), bytes.len() as u64, 16, |b| {
            seen.push(b.to_vec());
            Ok(true)
        })
        .unwrap();
        assert_eq!(end, good);
        assert_eq!(seen, [b"abcd".to_vec(), b"efg".to_vec()]);
    }

    #[test]
    fn a_refused_or_oversized_body_ends_the_scan() {
        let mut bytes = Vec::new();
        push_record(&mut bytes, &[b"ok"]);
        let first = bytes.len() as u64;
        push_record(&mut bytes, &[b"no"]);
        let f = file_with(&bytes);
        assert_eq!(
            scan(&f, bytes.len() as u64, 16, |b| Ok(b == b"ok")).unwrap(),
            first
        );
        let f = file_with(&bytes);
        assert_eq!(scan(&f, bytes.len() as u64, 1, |_| Ok(true)).unwrap(), 0);
    }
}
