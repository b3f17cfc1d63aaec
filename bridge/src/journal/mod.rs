//! The exchange journal: a tamper-evident, append-only log of every exchange (DESIGN.md,
//! "Journal").
//!
//! - `entry`: [`JournalEntry`] and its canonical, strictly decoded binary encoding.
//! - `evidence`: [`Evidence`] of a trust decision ([`Decision`] and the validated chain's digest)
//!   and the canonical chain encoding the evidence archive stores.
//! - `recheck`: [`recheck()`], every recorded trust decision re-run against archived snapshots.
//! - `merkle`: the RFC 9162 tree, proofs and the RFC's verification algorithms.
//! - `checkpoint`: C2SP tlog-checkpoint notes signed with the Ed25519 [`JournalKey`].
//! - `storage`: the [`JournalStorage`] seam (the sled implementation is `store::journal`).
//! - `log`: the running [`Journal`]: group commit (`writer`), checkpoints, proofs.
//! - `replay`: [`Replay`], entries read back in order.
//! - `export`: the self-contained export file format; `audit`: its offline verification.
//! - `keyfile`: the on-disk layout under the data directory and the journal key files.
//!
//! # Use
//! ```no_run
//! # async fn demo(data: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use eidas_bridge::journal::{journal_dir, load_or_create_key, Journal, JournalConfig};
//! use eidas_bridge::store::journal::FileJournalStorage;
//!
//! let dir = journal_dir(data);
//! let key = load_or_create_key(&dir, "bridge.example.fr/journal")?;
//! let storage = Arc::new(FileJournalStorage::open(&dir)?);
//! // Refuses to open (typed error) when the store disagrees with its kept checkpoint.
//! let journal = Journal::open(storage, key, &JournalConfig::default())?;
//! # let entry: eidas_bridge::journal::JournalEntry = todo!();
//! let receipt = journal.append_async(&entry).await?; // durable once this resolves
//! # Ok(()) }
//! ```
//!
//! Entries record the digest of the trust snapshot each decision used
//! ([`JournalEntry::trust_snapshot`]) and the evidence of the decision
//! ([`JournalEntry::evidence`]), so `verify --recheck` re-runs decisions against archived
//! snapshots and chains ([`recheck()`]).
pub mod audit;
pub mod checkpoint;
pub mod entry;
pub mod evidence;
pub mod export;
pub mod keyfile;
pub mod log;
pub mod merkle;
pub mod recheck;
pub mod replay;
pub mod storage;
mod writer;

pub use audit::{verify_export, Finding, VerifyReport};
pub use checkpoint::{Checkpoint, JournalKey, NoteError, NoteVerifier};
pub use entry::{EntryError, EntryKind, JournalEntry, PayloadDigest};
pub use evidence::{ChainErrorKind, Decision, Evidence};
pub use export::{export, ExportError, ExportFile, ExportRecord};
pub use keyfile::{journal_dir, load_or_create_key, read_verifier, KeyFileError};
pub use log::{AppendReceipt, Journal, JournalConfig, JournalError, JournalStats, TreeHead};
pub use merkle::{Hash, ProofError};
pub use recheck::{
    recheck, ArchiveErrorKind, Divergence, EvidenceArchive, RecheckFinding, RecheckReport,
    SnapshotArchive, Verdict,
};
pub use replay::Replay;
pub use storage::{JournalStorage, StorageError, StorageOp};
