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
//! pinpointed exactly ([`Finding::EntryEdited`]). Recorded indices name deletions and reorderings.
//!
//! # Verification
//! Every checkpoint's signature is checked, and its root compared with the tree recomputed at
//! its size. All checkpoints matching one recomputed tree is the strongest form of consistency
//! between successive checkpoints (each is a prefix of the same log), and needs no proof from
//! the exporter. "Cannot evaluate" (bad framing) is an [`ExportError`]; "evaluated, with
//! findings" is a [`VerifyReport`].

use std::io::Write;
use std::sync::Arc;

use thiserror::Error;

use super::checkpoint::{Checkpoint, NoteError, NoteVerifier, MAX_NOTE_LEN};
use super::entry::{EntryError, JournalEntry, MAX_ENTRY_LEN};
use super::log::{JournalError, Replay};
use super::merkle::{leaf_hash, CompactRange, Hash, EMPTY_ROOT};
use super::storage::JournalStorage;

/// File magic.
const MAGIC: &[u8; 4] = b"EBJX";
/// The only export version written and read.
pub const EXPORT_VERSION: u8 = 1;
/// Most checkpoints in one export: one per group commit for a year at one per second is ~3·10^7;
/// exports beyond 2^22 checkpoints are refused as unbounded input.
pub const MAX_EXPORT_CHECKPOINTS: u32 = 1 << 22;
/// Most findings reported; past this the export is plainly broken and more detail helps nobody.
pub const MAX_FINDINGS: usize = 1000;
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

/// A problem found in an export. Variants name the tampering they reveal.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Finding {
    /// A checkpoint's signature does not verify with the export's key.
    BadCheckpointSignature {
        /// Position among the export's checkpoints.
        position: usize,
        /// Why.
        error: NoteError,
    },
    /// Checkpoints are not in strictly increasing size order.
    CheckpointOrder {
        /// Position of the first out-of-order checkpoint.
        position: usize,
    },
    /// Entry bytes no longer hash to the authenticated leaf hash: the entry was edited.
    EntryEdited {
        /// Its index.
        index: u64,
    },
    /// An authenticated entry does not decode (entry.rs rules).
    MalformedEntry {
        /// Its index.
        index: u64,
        /// Why.
        error: EntryError,
    },
    /// The entry with this index is missing.
    EntryDeleted {
        /// First missing index.
        index: u64,
    },
    /// Entries are out of order from this index on.
    EntriesReordered {
        /// First index out of place.
        index: u64,
    },
    /// The tree recomputed from the export does not have this checkpoint's root: some entry in
    /// `first_index..checkpoint_size` was altered along with its leaf hash.
    CheckpointMismatch {
        /// Checkpoint size.
        checkpoint_size: u64,
        /// Size of the last checkpoint that matched (the first suspect index).
        first_index: u64,
    },
    /// The export has fewer entries than its latest checkpoint covers: the tail was cut.
    Truncated {
        /// First missing index (= the entries present).
        index: u64,
        /// Size the checkpoint covers.
        checkpoint_size: u64,
    },
    /// Entries beyond the latest checkpoint: nothing signed covers them.
    UnsignedTail {
        /// First unsigned index.
        index: u64,
    },
    /// The export holds entries but no valid checkpoint.
    NoCheckpoint,
    /// The auditor's kept checkpoint does not verify with the export's key (key replaced?).
    KeptCheckpointInvalid(NoteError),
    /// The auditor kept a checkpoint for more entries than the export has: rollback.
    RolledBack {
        /// Size of the kept checkpoint.
        kept_size: u64,
        /// Entries in the export.
        export_size: u64,
    },
    /// The export's tree at the kept checkpoint's size has another root: a fork.
    Forked {
        /// The kept checkpoint size.
        size: u64,
    },
}

impl Finding {
    /// The first bad entry index this finding points at, if it points at one.
    pub fn index(&self) -> Option<u64> {
        match self {
            Self::EntryEdited { index }
            | Self::MalformedEntry { index, .. }
            | Self::EntryDeleted { index }
            | Self::EntriesReordered { index }
            | Self::Truncated { index, .. }
            | Self::UnsignedTail { index } => Some(*index),
            Self::CheckpointMismatch { first_index, .. } => Some(*first_index),
            Self::RolledBack { export_size, .. } => Some(*export_size),
            Self::Forked { size } => Some(size.saturating_sub(1)),
            _ => None,
        }
    }

    /// A stable snake_case name for CLI and JSON output.
    pub fn name(&self) -> &'static str {
        match self {
            Self::BadCheckpointSignature { .. } => "bad_checkpoint_signature",
            Self::CheckpointOrder { .. } => "checkpoint_order",
            Self::EntryEdited { .. } => "entry_edited",
            Self::MalformedEntry { .. } => "malformed_entry",
            Self::EntryDeleted { .. } => "entry_deleted",
            Self::EntriesReordered { .. } => "entries_reordered",
            Self::CheckpointMismatch { .. } => "checkpoint_mismatch",
            Self::Truncated { .. } => "truncated",
            Self::UnsignedTail { .. } => "unsigned_tail",
            Self::NoCheckpoint => "no_checkpoint",
            Self::KeptCheckpointInvalid(_) => "kept_checkpoint_invalid",
            Self::RolledBack { .. } => "rolled_back",
            Self::Forked { .. } => "forked",
        }
    }
}

/// The outcome of [`verify_export`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Entries in the export.
    pub entries: u64,
    /// Checkpoints whose signature verified.
    pub checkpoints: usize,
    /// The latest valid checkpoint.
    pub latest: Option<Checkpoint>,
    /// Problems, in the order found (the first is the primary cause).
    pub findings: Vec<Finding>,
}

impl VerifyReport {
    /// No findings.
    pub fn is_valid(&self) -> bool {
        self.findings.is_empty()
    }

    /// The lowest entry index any finding points at.
    pub fn first_bad_index(&self) -> Option<u64> {
        self.findings.iter().filter_map(Finding::index).min()
    }
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
        let verifier_key = r.text("verifier key", klen, 1024)?;
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

/// Verifies an export offline, optionally against a checkpoint the auditor kept.
///
/// # Errors
/// [`ExportError`] when the file cannot be evaluated at all; otherwise findings are in the report.
pub fn verify_export(bytes: &[u8], kept: Option<&str>) -> Result<VerifyReport, ExportError> {
    let file = ExportFile::parse(bytes)?;
    let verifier = NoteVerifier::parse(&file.verifier_key).map_err(ExportError::VerifierKey)?;
    let mut findings = Vec::new();
    let add = |f: Finding, findings: &mut Vec<Finding>| {
        if findings.len() < MAX_FINDINGS {
            findings.push(f);
        }
    };
    // Step 1: checkpoint signatures and order.
    let mut cps: Vec<Checkpoint> = Vec::new();
    for (position, note) in file.checkpoints.iter().enumerate() {
        match verifier.verify_checkpoint(note) {
            Ok(cp) if cps.last().is_some_and(|l| l.size >= cp.size) => {
                add(Finding::CheckpointOrder { position }, &mut findings);
            }
            Ok(cp) => cps.push(cp),
            Err(error) => add(
                Finding::BadCheckpointSignature { position, error },
                &mut findings,
            ),
        }
    }
    let kept = match kept.map(|k| verifier.verify_checkpoint(k)) {
        Some(Err(e)) => {
            add(Finding::KeptCheckpointInvalid(e), &mut findings);
            None
        }
        Some(Ok(cp)) => Some(cp),
        None => None,
    };
    // Step 2: sequence of indices (deletions and reorderings).
    if let Some(pos) = file
        .records
        .iter()
        .enumerate()
        .position(|(p, r)| r.index != p as u64)
    {
        let want = pos as u64;
        let later = file.records[pos..].iter().any(|r| r.index == want);
        let f = if later {
            Finding::EntriesReordered { index: want }
        } else {
            Finding::EntryDeleted { index: want }
        };
        add(f, &mut findings);
    }
    // Step 3: entries against their leaf hashes; tree from the leaf hashes against checkpoints.
    let mut tree = CompactRange::new();
    let mut next_cp = cps.iter().peekable();
    let mut last_ok = 0u64;
    let mut kept_root = (kept.as_ref().is_some_and(|k| k.size == 0)).then_some(EMPTY_ROOT);
    while let Some(cp) = next_cp.next_if(|cp| cp.size == 0) {
        if cp.root != EMPTY_ROOT {
            add(
                Finding::CheckpointMismatch {
                    checkpoint_size: 0,
                    first_index: 0,
                },
                &mut findings,
            );
        }
    }
    for (p, rec) in file.records.iter().enumerate() {
        let index = p as u64;
        if leaf_hash(&rec.entry) != rec.leaf {
            add(Finding::EntryEdited { index }, &mut findings);
        } else if let Err(error) = JournalEntry::decode(&rec.entry) {
            add(Finding::MalformedEntry { index, error }, &mut findings);
        }
        let mut scratch = Vec::new();
        tree.push(rec.leaf, &mut scratch);
        let size = tree.size();
        if kept.as_ref().is_some_and(|k| k.size == size) {
            kept_root = Some(tree.root());
        }
        while let Some(cp) = next_cp.next_if(|cp| cp.size <= size) {
            if cp.size == size && cp.root == tree.root() {
                last_ok = size;
            } else {
                add(
                    Finding::CheckpointMismatch {
                        checkpoint_size: cp.size,
                        first_index: last_ok,
                    },
                    &mut findings,
                );
            }
        }
    }
    // Step 4: coverage by the latest checkpoint.
    let n = file.records.len() as u64;
    match cps.last() {
        Some(l) if l.size > n => add(
            Finding::Truncated {
                index: n,
                checkpoint_size: l.size,
            },
            &mut findings,
        ),
        Some(l) if l.size < n => add(Finding::UnsignedTail { index: l.size }, &mut findings),
        None if n > 0 => add(Finding::NoCheckpoint, &mut findings),
        _ => {}
    }
    // Step 5: the auditor's kept checkpoint.
    if let Some(k) = &kept {
        if k.size > n {
            add(
                Finding::RolledBack {
                    kept_size: k.size,
                    export_size: n,
                },
                &mut findings,
            );
        } else if kept_root != Some(k.root) {
            add(Finding::Forked { size: k.size }, &mut findings);
        }
    }
    Ok(VerifyReport {
        entries: n,
        checkpoints: cps.len(),
        latest: cps.last().cloned(),
        findings,
    })
}
