//! Self-contained journal exports and their offline verification (DESIGN.md: auditors "export the
//! journal to a file, and verify an export offline").
//!
//! # File format (version 1, integers big-endian)
//! ```text
//! "EBJX" u8 version=1
//! u16 length + verifier key (signed-note vkey text)
//! u64 record count, then per record: u64 leaf index | 32-byte leaf hash | u32 length + entry
//! u32 checkpoint count, then per checkpoint: u32 length + signed note
//! ```
//! Nothing may follow. The leaf hashes are redundant with the entries on purpose: the tree is
//! recomputed from the recorded hashes and compared with every signed checkpoint, which
//! authenticates them; an entry whose bytes no longer hash to its authenticated leaf hash is then
//! pinpointed exactly ([`Finding::EntryEdited`](super::audit::Finding::EntryEdited)). Recorded indices name deletions and reorderings.
//!
//! Verification is in `audit`.

use std::io::Write;
use std::sync::Arc;

use thiserror::Error;

use super::checkpoint::{NoteError, NoteVerifier, MAX_NOTE_LEN};
use super::entry::MAX_ENTRY_LEN;
use super::log::JournalError;
use super::merkle::{leaf_hash, Hash};
use super::replay::Replay;
use super::storage::JournalStorage;

/// File magic.
const MAGIC: &[u8; 4] = b"EBJX";
/// The only export version written and read.
pub const EXPORT_VERSION: u8 = 1;
/// Most checkpoints in one export: one per group commit for a year at one per second is ~3·10^7;
/// exports beyond 2^22 checkpoints are refused as unbounded input.
pub const MAX_EXPORT_CHECKPOINTS: u32 = 1 << 22;
/// Longest verifier key text: a name of at most `MAX_NAME_LEN` (256) bytes, an 8-digit id and
/// 44 bytes of base64 fit well under this.
const MAX_VKEY_LEN: u64 = 1024;
/// Smallest record on the wire (index, hash, length), used to bound the declared record count.
const MIN_RECORD: u64 = 8 + 32 + 4;

/// Why an export cannot be read at all.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The file does not start with the export magic.
    #[error("not a journal export")]
    BadMagic,
    /// Only [`EXPORT_VERSION`] is understood.
    #[error("unsupported export version {0}")]
    UnsupportedVersion(u8),
    /// The file ends inside a field.
    #[error("export truncated at byte {0}")]
    Truncated(usize),
    /// A declared length or count exceeds its limit or the bytes present.
    #[error("{field} of {value} exceeds its limit at byte {offset}")]
    TooLarge {
        /// Field.
        field: &'static str,
        /// Declared value.
        value: u64,
        /// Where.
        offset: usize,
    },
    /// Bytes follow the last checkpoint.
    #[error("{0} trailing bytes")]
    TrailingBytes(usize),
    /// The verifier key or a checkpoint is not UTF-8.
    #[error("text field at byte {0} is not UTF-8")]
    NotText(usize),
    /// The verifier key does not parse.
    #[error("export verifier key: {0}")]
    VerifierKey(NoteError),
    /// Writing the export failed.
    #[error("writing export: {0:?}")]
    Write(std::io::ErrorKind),
    /// Reading the journal failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// One exported entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRecord {
    /// Leaf index in the journal.
    pub index: u64,
    /// RFC 9162 leaf hash of `entry`.
    pub leaf: Hash,
    /// Canonical entry bytes.
    pub entry: Vec<u8>,
}

/// A parsed export file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportFile {
    /// The journal's verifier key (signed-note vkey).
    pub verifier_key: String,
    /// Entries in log order.
    pub records: Vec<ExportRecord>,
    /// Signed checkpoint notes by increasing size.
    pub checkpoints: Vec<String>,
}

/// Writes an export of `storage` covering the latest checkpoint: every entry up to its size and
/// every kept checkpoint up to it. Returns the number of entries written.
///
/// # Errors
/// [`ExportError::Journal`] for storage failures, [`ExportError::Write`].
pub fn export(
    storage: Arc<dyn JournalStorage>,
    verifier: &NoteVerifier,
    out: &mut dyn Write,
) -> Result<u64, ExportError> {
    let w = |e: std::io::Error| ExportError::Write(e.kind());
    let latest = storage.load_checkpoint().map_err(JournalError::from)?;
    let mut notes: Vec<(u64, String)> = Vec::new();
    for note in storage
        .checkpoints()
        .map_err(JournalError::from)?
        .into_iter()
        .chain(latest)
    {
        if let Ok(cp) = verifier.verify_checkpoint(&note) {
            notes.push((cp.size, note));
        }
    }
    notes.sort_by_key(|(s, _)| *s);
    notes.dedup_by_key(|(s, _)| *s);
    let size = notes.last().map_or(0, |(s, _)| *s);
    out.write_all(MAGIC).map_err(w)?;
    out.write_all(&[EXPORT_VERSION]).map_err(w)?;
    let vkey = verifier.to_vkey();
    out.write_all(&(vkey.len() as u16).to_be_bytes())
        .map_err(w)?;
    out.write_all(vkey.as_bytes()).map_err(w)?;
    out.write_all(&size.to_be_bytes()).map_err(w)?;
    let mut replay = Replay::new(storage, 0, size);
    while let Some(item) = replay.next_raw() {
        let (index, entry) = item?;
        out.write_all(&index.to_be_bytes()).map_err(w)?;
        out.write_all(&leaf_hash(&entry)).map_err(w)?;
        out.write_all(&(entry.len() as u32).to_be_bytes())
            .map_err(w)?;
        out.write_all(&entry).map_err(w)?;
    }
    out.write_all(&(notes.len() as u32).to_be_bytes())
        .map_err(w)?;
    for (_, n) in &notes {
        out.write_all(&(n.len() as u32).to_be_bytes()).map_err(w)?;
        out.write_all(n.as_bytes()).map_err(w)?;
    }
    Ok(size)
}

impl ExportFile {
    /// Serialises the file (the inverse of [`ExportFile::parse`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.push(EXPORT_VERSION);
        out.extend_from_slice(&(self.verifier_key.len() as u16).to_be_bytes());
        out.extend_from_slice(self.verifier_key.as_bytes());
        out.extend_from_slice(&(self.records.len() as u64).to_be_bytes());
        for r in &self.records {
            out.extend_from_slice(&r.index.to_be_bytes());
            out.extend_from_slice(&r.leaf);
            out.extend_from_slice(&(r.entry.len() as u32).to_be_bytes());
            out.extend_from_slice(&r.entry);
        }
        out.extend_from_slice(&(self.checkpoints.len() as u32).to_be_bytes());
        for n in &self.checkpoints {
            out.extend_from_slice(&(n.len() as u32).to_be_bytes());
            out.extend_from_slice(n.as_bytes());
        }
        out
    }

    /// Parses an export strictly, bounding every count and length.
    ///
    /// # Errors
    /// Any [`ExportError`] framing variant.
    pub fn parse(bytes: &[u8]) -> Result<Self, ExportError> {
        let mut r = Cursor { buf: bytes, pos: 0 };
        if r.take(4)? != MAGIC {
            return Err(ExportError::BadMagic);
        }
        let v = r.take(1)?[0];
        if v != EXPORT_VERSION {
            return Err(ExportError::UnsupportedVersion(v));
        }
        let klen = u64::from(u16::from_be_bytes(r.array()?));
        let verifier_key = r.text("verifier key", klen, MAX_VKEY_LEN)?;
        let count = u64::from_be_bytes(r.array()?);
        if count > (bytes.len() - r.pos) as u64 / MIN_RECORD {
            return Err(ExportError::TooLarge {
                field: "record count",
                value: count,
                offset: r.pos,
            });
        }
        let mut records = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let index = u64::from_be_bytes(r.array()?);
            let leaf = r.array()?;
            let len = u64::from(u32::from_be_bytes(r.array()?));
            if len > MAX_ENTRY_LEN as u64 {
                return Err(ExportError::TooLarge {
                    field: "entry length",
                    value: len,
                    offset: r.pos,
                });
            }
            records.push(ExportRecord {
                index,
                leaf,
                entry: r.take(len as usize)?.to_vec(),
            });
        }
        let ncp = u32::from_be_bytes(r.array()?);
        if ncp > MAX_EXPORT_CHECKPOINTS || u64::from(ncp) > (bytes.len() - r.pos) as u64 / 4 {
            return Err(ExportError::TooLarge {
                field: "checkpoint count",
                value: ncp.into(),
                offset: r.pos,
            });
        }
        let mut checkpoints = Vec::with_capacity(ncp as usize);
        for _ in 0..ncp {
            let len = u64::from(u32::from_be_bytes(r.array()?));
            checkpoints.push(r.text("checkpoint length", len, MAX_NOTE_LEN as u64)?);
        }
        if r.pos != bytes.len() {
            return Err(ExportError::TrailingBytes(bytes.len() - r.pos));
        }
        Ok(Self {
            verifier_key,
            records,
            checkpoints,
        })
    }
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ExportError> {
        let s = self
            .buf
            .get(self.pos..self.pos.saturating_add(n))
            .ok_or(ExportError::Truncated(self.pos))?;
        self.pos += n;
        Ok(s)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], ExportError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn text(&mut self, field: &'static str, len: u64, max: u64) -> Result<String, ExportError> {
        if len > max {
            return Err(ExportError::TooLarge {
                field,
                value: len,
                offset: self.pos,
            });
        }
        let at = self.pos;
        let b = self.take(len as usize)?;
        String::from_utf8(b.to_vec()).map_err(|_| ExportError::NotText(at))
    }
}
