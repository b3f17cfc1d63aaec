//! Where the journal's entries start in its segment: the start of every [`OFFSET_STRIDE`]-th
//! entry, as little-endian `u64`s in a flat file (`offsets`) next to the segment, so that memory
//! stays constant however long the journal grows. In memory the journal keeps only the entry
//! count, the segment's end and the number of samples; a read fetches the two samples around its
//! range (8 bytes each, from the page cache in practice).
//!
//! The file is a cache of the segment, never a source of truth: it is not synced, and it is
//! rebuilt from the segment's scan on every open (which checks every record's CRC anyway). An
//! append writes its new samples before the segment bytes and publishes them after, so a reader
//! never follows a sample that is not in the file, and a failed append leaves only samples past
//! the published count, which the next append overwrites.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt as _;
use std::path::Path;

/// One entry start in this many is sampled. 64 makes the file an eighth of a byte per entry
/// while a read walks at most 63 record headers it does not need, a few kilobytes for entries of
/// a few hundred bytes.
pub const OFFSET_STRIDE: u64 = 64;

/// Bytes of one sample.
const SAMPLE_LEN: u64 = 8;

/// The sampled index and the segment's extent.
#[derive(Debug)]
pub(super) struct Offsets {
    file: File,
    /// Samples published (the file may hold more, from an append that failed).
    samples: u64,
    /// Number of entries.
    len: u64,
    /// End of the last entry in the segment.
    end: u64,
}

/// What an append adds, computed before the segment is written and published after.
#[derive(Debug)]
pub(super) struct Staged {
    bytes: Vec<u8>,
    samples: u64,
    len: u64,
    end: u64,
}

impl Offsets {
    /// An empty index in `path`, truncating what an earlier process left (it is rebuilt from the
    /// segment's scan).
    pub(super) fn create(path: &Path) -> io::Result<Offsets> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        Ok(Offsets {
            file,
            samples: 0,
            len: 0,
            end: 0,
        })
    }

    /// Number of entries.
    pub(super) fn len(&self) -> u64 {
        self.len
    }

    /// End of the last entry.
    pub(super) fn end(&self) -> u64 {
        self.end
    }

    /// The samples that records of `record_lens` bytes (header included), appended after the
    /// current end, add to the index.
    pub(super) fn stage(&self, record_lens: impl IntoIterator<Item = u64>) -> Staged {
        let mut staged = Staged {
            bytes: Vec::new(),
            samples: self.samples,
            len: self.len,
            end: self.end,
        };
        for record_len in record_lens {
            if staged.len.is_multiple_of(OFFSET_STRIDE) {
                staged.bytes.extend_from_slice(&staged.end.to_le_bytes());
                staged.samples += 1;
            }
            staged.len += 1;
            staged.end += record_len;
        }
        staged
    }

    /// Writes the staged samples to the file, after the published ones.
    pub(super) fn write(&self, staged: &Staged) -> io::Result<()> {
        if staged.bytes.is_empty() {
            return Ok(());
        }
        self.file
            .write_all_at(&staged.bytes, self.samples * SAMPLE_LEN)
    }

    /// Publishes a staged append whose samples were written and whose records are in the segment.
    pub(super) fn publish(&mut self, staged: Staged) {
        self.samples = staged.samples;
        self.len = staged.len;
        self.end = staged.end;
    }

    /// Stages, writes and publishes records of `record_lens` bytes (the recovery scan).
    pub(super) fn push_all(
        &mut self,
        record_lens: impl IntoIterator<Item = u64>,
    ) -> io::Result<()> {
        let staged = self.stage(record_lens);
        self.write(&staged)?;
        self.publish(staged);
        Ok(())
    }

    /// The byte range to read for entries `[from, to)` (`from < to <= len`), and how many
    /// records at its start precede `from`.
    pub(super) fn span(&self, from: u64, to: u64) -> io::Result<(u64, u64, u64)> {
        let first_block = from / OFFSET_STRIDE;
        let after_last_block = (to - 1) / OFFSET_STRIDE + 1;
        let start = self.sample(first_block)?;
        let end = if after_last_block < self.samples {
            self.sample(after_last_block)?
        } else {
            self.end
        };
        Ok((start, end, from % OFFSET_STRIDE))
    }

    fn sample(&self, i: u64) -> io::Result<u64> {
        let mut bytes = [0u8; SAMPLE_LEN as usize];
        self.file.read_exact_at(&mut bytes, i * SAMPLE_LEN)?;
        Ok(u64::from_le_bytes(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_every_stride_and_spans_cover_their_entries() {
        let dir = tempfile::tempdir().unwrap();
        let mut offsets = Offsets::create(&dir.path().join("offsets")).unwrap();
        // Records of 10 bytes: entry i starts at 10 * i.
        offsets
            .push_all((0..2 * OFFSET_STRIDE + 3).map(|_| 10))
            .unwrap();
        assert_eq!(offsets.len(), 2 * OFFSET_STRIDE + 3);
        assert_eq!(offsets.end(), 10 * (2 * OFFSET_STRIDE + 3));
        assert_eq!(
            std::fs::metadata(dir.path().join("offsets")).unwrap().len(),
            3 * SAMPLE_LEN
        );
        assert_eq!(offsets.span(0, 1).unwrap(), (0, 10 * OFFSET_STRIDE, 0));
        assert_eq!(
            offsets.span(OFFSET_STRIDE + 1, OFFSET_STRIDE + 2).unwrap(),
            (10 * OFFSET_STRIDE, 20 * OFFSET_STRIDE, 1)
        );
        // The last block ends at the segment's end, not at a sample.
        let n = offsets.len();
        assert_eq!(
            offsets.span(2 * OFFSET_STRIDE, n).unwrap(),
            (20 * OFFSET_STRIDE, 10 * n, 0)
        );
    }

    #[test]
    fn an_unpublished_append_changes_nothing_and_is_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let mut offsets = Offsets::create(&dir.path().join("offsets")).unwrap();
        offsets.push_all([5]).unwrap();
        // Written but never published (the segment append failed).
        let lost = offsets.stage((0..OFFSET_STRIDE).map(|_| 99));
        offsets.write(&lost).unwrap();
        assert_eq!((offsets.len(), offsets.end()), (1, 5));
        offsets.push_all((0..OFFSET_STRIDE).map(|_| 7)).unwrap();
        // The second sample is where entry 64 starts: 5 + 63 * 7, not 5 + 63 * 99.
        assert_eq!(
            offsets.span(OFFSET_STRIDE, OFFSET_STRIDE + 1).unwrap(),
            (5 + 63 * 7, 5 + 64 * 7, 0)
        );
    }

    #[test]
    fn a_reopened_index_starts_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("offsets");
        Offsets::create(&path).unwrap().push_all([1, 2, 3]).unwrap();
        let offsets = Offsets::create(&path).unwrap();
        assert_eq!((offsets.len(), offsets.end()), (0, 0));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    }
}
