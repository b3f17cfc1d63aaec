//! Offline verification of a journal export (see `export` for the file format).
//!
//! Every checkpoint's signature is checked, and its root compared with the tree recomputed at
//! its size. All checkpoints matching one recomputed tree is the strongest form of consistency
//! between successive checkpoints (each is a prefix of the same log), and needs no proof from
//! the exporter. "Cannot evaluate" (bad framing) is an [`ExportError`]; "evaluated, with
//! findings" is a [`VerifyReport`].

use super::checkpoint::{Checkpoint, NoteError, NoteVerifier};
use super::entry::{EntryError, JournalEntry};
use super::export::{ExportError, ExportFile};
use super::merkle::{leaf_hash, CompactRange, EMPTY_ROOT};

/// Most findings reported; past this the export is plainly broken and more detail helps nobody.
pub const MAX_FINDINGS: usize = 1000;

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
