//! `journal verify --recheck`: every journaled trust decision re-run against the trust snapshot
//! that was in force when it was taken (issue 6 point 5; DESIGN.md "Journal").
//!
//! An entry that carries both a trust snapshot digest and [`Evidence`](super::Evidence) names the trust material
//! (the archived snapshot), the chain (the archived evidence) and the usage ([`Decision`]). The
//! recheck loads both by digest, builds the trust store of the snapshot (once per snapshot),
//! validates the chain at the entry's time for the decision's usage and compares the answer with
//! what the entry records. Archives come through traits ([`SnapshotArchive`], [`EvidenceArchive`])
//! so tests and other stores can supply them; the sled ones are `store::trust` and
//! `store::evidence`.
//!
//! What an entry records: `accepted`, `forwarded`, `delivered`, `received`, `receipt` and
//! `identity_verified` entries exist only when the decision let the exchange proceed, so they
//! record "trusted"; a `failed` entry carries evidence only when the trust decision is what
//! failed it (the writer's contract, see [`Evidence`](super::Evidence)), so it records "untrusted". A
//! `trust_list_loaded` entry is not a decision and is skipped.
//!
//! Integrity: both archives are content-addressed. A chain whose bytes do not hash to its key
//! is reported and not used. A snapshot whose digest differs from its key is reported as
//! substituted, and is still used, so the auditor also sees which decisions the substitute
//! would change.

use std::collections::HashMap;
use std::sync::Arc;

use time::OffsetDateTime;
use trust_lists::{Snapshot, TrustStore, ValidationReason};

use super::entry::{EntryKind, JournalEntry};
use super::evidence::{chain_digest, decode_chain, ChainErrorKind, Decision};

/// Most trust stores kept while rechecking; the cache is cleared when full. A journal refers to
/// one snapshot per trust-list refresh (hours apart), so a few dozen cover months of entries.
pub const MAX_CACHED_STORES: usize = 64;

/// Most findings reported, as in `audit::MAX_FINDINGS`: past this the journal or the archive is
/// plainly broken and more detail helps nobody.
pub const MAX_RECHECK_FINDINGS: usize = 1000;

/// Why an archive could not answer (as opposed to "not archived", which is `Ok(None)`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveErrorKind {
    /// The archived value cannot be read or decoded.
    #[error("{what} {} unreadable: {reason}", hex::encode(digest))]
    Unreadable {
        /// Which archive ("trust snapshot" or "evidence chain").
        what: &'static str,
        /// The digest looked up.
        digest: [u8; 32],
        /// The store's or decoder's error, as text (their types are not `Clone`).
        reason: String,
    },
}

/// Archived trust snapshots by digest ([`Snapshot::digest`]).
pub trait SnapshotArchive {
    /// The snapshot stored under `digest`, as stored: the recheck checks its digest itself.
    ///
    /// # Errors
    /// [`ArchiveErrorKind`] when the stored value cannot be read or decoded.
    fn snapshot(&self, digest: &[u8; 32]) -> Result<Option<Snapshot>, ArchiveErrorKind>;
}

/// Archived certificate chains by digest ([`chain_digest`] of the encoded chain).
pub trait EvidenceArchive {
    /// The encoded chain stored under `digest`, as stored: the recheck checks and decodes it.
    ///
    /// # Errors
    /// [`ArchiveErrorKind`] when the stored value cannot be read.
    fn chain(&self, digest: &[u8; 32]) -> Result<Option<Vec<u8>>, ArchiveErrorKind>;
}

impl<S: SnapshotArchive + ?Sized> SnapshotArchive for &S {
    fn snapshot(&self, digest: &[u8; 32]) -> Result<Option<Snapshot>, ArchiveErrorKind> {
        (**self).snapshot(digest)
    }
}

impl SnapshotArchive for HashMap<[u8; 32], Snapshot> {
    fn snapshot(&self, digest: &[u8; 32]) -> Result<Option<Snapshot>, ArchiveErrorKind> {
        Ok(self.get(digest).cloned())
    }
}

impl EvidenceArchive for HashMap<[u8; 32], Vec<u8>> {
    fn chain(&self, digest: &[u8; 32]) -> Result<Option<Vec<u8>>, ArchiveErrorKind> {
        Ok(self.get(digest).cloned())
    }
}

/// A trust decision's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The chain was trusted for the usage.
    Trusted,
    /// It was not.
    Untrusted,
}

impl Verdict {
    /// The stable lower-case name used in CLI and JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trusted => "trusted",
            Self::Untrusted => "untrusted",
        }
    }
}

/// One decision whose recheck disagrees with the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// Index of the entry.
    pub index: u64,
    /// Its kind.
    pub kind: EntryKind,
    /// Its message id, when it has one.
    pub message_id: Option<String>,
    /// The decision.
    pub decision: Decision,
    /// The snapshot digest the entry names.
    pub snapshot: [u8; 32],
    /// What the entry records.
    pub recorded: Verdict,
    /// What the recheck says.
    pub recheck: Verdict,
    /// Why the recheck says so (the trust store's reasons; empty when trusted without remark).
    pub reasons: Vec<ValidationReason>,
}

/// Something the recheck found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecheckFinding {
    /// The recheck disagrees with the recorded decision.
    Divergence(Divergence),
    /// The snapshot an entry names is not archived: its decision cannot be rechecked.
    SnapshotMissing {
        /// Index of the entry.
        index: u64,
        /// The digest looked up.
        snapshot: [u8; 32],
    },
    /// The chain an entry names is not archived: its decision cannot be rechecked.
    ChainMissing {
        /// Index of the entry.
        index: u64,
        /// The digest looked up.
        chain: [u8; 32],
    },
    /// The archived chain does not hash to its key, or does not decode: it was altered.
    ChainCorrupt {
        /// Index of the first entry naming it.
        index: u64,
        /// The digest looked up.
        chain: [u8; 32],
        /// Why it does not decode, when it does hash to its key.
        error: Option<ChainErrorKind>,
    },
    /// The snapshot archived under a digest has another digest: it was substituted. Reported once
    /// per digest; the decisions are still rechecked against it.
    SnapshotSubstituted {
        /// Index of the first entry naming it.
        index: u64,
        /// The digest the entries name.
        snapshot: [u8; 32],
        /// The digest of what is archived under it.
        found: [u8; 32],
    },
    /// An archive could not answer.
    ArchiveUnreadable {
        /// Index of the entry.
        index: u64,
        /// The error.
        error: ArchiveErrorKind,
    },
}

impl RecheckFinding {
    /// The entry index the finding points at.
    pub fn index(&self) -> u64 {
        match self {
            Self::Divergence(d) => d.index,
            Self::SnapshotMissing { index, .. }
            | Self::ChainMissing { index, .. }
            | Self::ChainCorrupt { index, .. }
            | Self::SnapshotSubstituted { index, .. }
            | Self::ArchiveUnreadable { index, .. } => *index,
        }
    }

    /// A stable snake_case name for CLI and JSON output.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Divergence(_) => "divergence",
            Self::SnapshotMissing { .. } => "snapshot_missing",
            Self::ChainMissing { .. } => "chain_missing",
            Self::ChainCorrupt { .. } => "chain_corrupt",
            Self::SnapshotSubstituted { .. } => "snapshot_substituted",
            Self::ArchiveUnreadable { .. } => "archive_unreadable",
        }
    }
}

/// The outcome of [`recheck`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecheckReport {
    /// Entries read.
    pub entries: u64,
    /// Decisions re-run (entries with a snapshot, evidence, and archived material).
    pub rechecked: u64,
    /// Of those, how many agree with the journal.
    pub agreed: u64,
    /// Entries with evidence that cannot be rechecked by design: no snapshot digest, or a
    /// kind that records no decision.
    pub skipped: u64,
    /// Findings in entry order; capped at [`MAX_RECHECK_FINDINGS`].
    pub findings: Vec<RecheckFinding>,
}

impl RecheckReport {
    /// No divergence and nothing missing or altered.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }

    /// The divergences only.
    pub fn divergences(&self) -> impl Iterator<Item = &Divergence> {
        self.findings.iter().filter_map(|f| match f {
            RecheckFinding::Divergence(d) => Some(d),
            _ => None,
        })
    }
}

/// What an entry of `kind` with evidence records (module doc); `None` when it records no
/// decision.
pub fn recorded_verdict(kind: EntryKind) -> Option<Verdict> {
    match kind {
        EntryKind::Accepted
        | EntryKind::Forwarded
        | EntryKind::Delivered
        | EntryKind::Received
        | EntryKind::Receipt
        | EntryKind::IdentityVerified => Some(Verdict::Trusted),
        EntryKind::Failed => Some(Verdict::Untrusted),
        _ => None,
    }
}

/// Re-runs every recorded trust decision of `entries` (index, entry) against the archives.
/// Never fails: what cannot be evaluated is a finding of the report.
pub fn recheck<'a>(
    entries: impl IntoIterator<Item = (u64, &'a JournalEntry)>,
    snapshots: &dyn SnapshotArchive,
    evidence: &dyn EvidenceArchive,
) -> RecheckReport {
    let mut report = RecheckReport::default();
    let mut stores: HashMap<[u8; 32], Option<Arc<TrustStore>>> = HashMap::new();
    let mut chains: HashMap<[u8; 32], Option<Vec<Vec<u8>>>> = HashMap::new();
    let add = |report: &mut RecheckReport, f: RecheckFinding| {
        if report.findings.len() < MAX_RECHECK_FINDINGS {
            report.findings.push(f);
        }
    };
    for (index, entry) in entries {
        report.entries += 1;
        let Some(ev) = entry.evidence else { continue };
        let (Some(snapshot), Some(recorded)) = (entry.trust_snapshot, recorded_verdict(entry.kind))
        else {
            report.skipped += 1;
            continue;
        };
        // 1. The trust store of the snapshot in force, once per snapshot.
        if stores.len() >= MAX_CACHED_STORES && !stores.contains_key(&snapshot) {
            stores.clear();
        }
        let store = match stores.get(&snapshot) {
            Some(s) => s.clone(),
            None => {
                let loaded = match snapshots.snapshot(&snapshot) {
                    Ok(Some(s)) => {
                        let found = s.digest();
                        if found != snapshot {
                            add(
                                &mut report,
                                RecheckFinding::SnapshotSubstituted {
                                    index,
                                    snapshot,
                                    found,
                                },
                            );
                        }
                        Some(Arc::new(TrustStore::from(&s)))
                    }
                    Ok(None) => None,
                    Err(error) => {
                        add(
                            &mut report,
                            RecheckFinding::ArchiveUnreadable { index, error },
                        );
                        stores.insert(snapshot, None);
                        continue;
                    }
                };
                stores.insert(snapshot, loaded.clone());
                loaded
            }
        };
        let Some(store) = store else {
            add(
                &mut report,
                RecheckFinding::SnapshotMissing { index, snapshot },
            );
            continue;
        };
        // 2. The validated chain, checked against its digest.
        let chain = match chains.get(&ev.chain) {
            Some(c) => c.clone(),
            None => {
                let c = match evidence.chain(&ev.chain) {
                    Ok(Some(bytes)) if chain_digest(&bytes) != ev.chain => {
                        add(
                            &mut report,
                            RecheckFinding::ChainCorrupt {
                                index,
                                chain: ev.chain,
                                error: None,
                            },
                        );
                        None
                    }
                    Ok(Some(bytes)) => match decode_chain(&bytes) {
                        Ok(c) => Some(c),
                        Err(error) => {
                            add(
                                &mut report,
                                RecheckFinding::ChainCorrupt {
                                    index,
                                    chain: ev.chain,
                                    error: Some(error),
                                },
                            );
                            None
                        }
                    },
                    Ok(None) => {
                        add(
                            &mut report,
                            RecheckFinding::ChainMissing {
                                index,
                                chain: ev.chain,
                            },
                        );
                        None
                    }
                    Err(error) => {
                        add(
                            &mut report,
                            RecheckFinding::ArchiveUnreadable { index, error },
                        );
                        None
                    }
                };
                // Bounded like the stores: distinct chains per journal are few (one per peer
                // certificate), but a hostile journal could name many.
                if chains.len() >= MAX_CACHED_STORES * 16 {
                    chains.clear();
                }
                chains.insert(ev.chain, c.clone());
                c
            }
        };
        let Some(chain) = chain else { continue };
        // 3. The decision again, at the entry's time, for the decision's usage.
        let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(entry.unix_nanos))
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let result = store.validate(&chain, at, ev.decision.usage());
        let recheck = if result.trusted {
            Verdict::Trusted
        } else {
            Verdict::Untrusted
        };
        report.rechecked += 1;
        if recheck == recorded {
            report.agreed += 1;
        } else {
            add(
                &mut report,
                RecheckFinding::Divergence(Divergence {
                    index,
                    kind: entry.kind,
                    message_id: entry.message_id.clone(),
                    decision: ev.decision,
                    snapshot,
                    recorded,
                    recheck,
                    reasons: result.reasons,
                }),
            );
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::evidence::{encode_chain, Evidence};

    fn empty_snapshot() -> Snapshot {
        Snapshot {
            at: OffsetDateTime::UNIX_EPOCH,
            entries: Vec::new(),
            reports: Vec::new(),
        }
    }

    fn entry(kind: EntryKind, snapshot: [u8; 32], chain: [u8; 32]) -> JournalEntry {
        JournalEntry {
            kind,
            unix_nanos: 1_780_000_000_000_000_000,
            message_id: Some("m-1".into()),
            sender: None,
            recipient: None,
            peer: Some("BE".into()),
            payload: None,
            trust_snapshot: Some(snapshot),
            evidence: Some(Evidence {
                decision: Decision::Seal,
                chain,
            }),
            reason: (kind == EntryKind::Failed).then(|| "seal_untrusted".to_owned()),
        }
    }

    struct Archives {
        snapshots: HashMap<[u8; 32], Snapshot>,
        chains: HashMap<[u8; 32], Vec<u8>>,
        snapshot: [u8; 32],
        chain: [u8; 32],
    }

    fn archives() -> Archives {
        let s = empty_snapshot();
        let snapshot = s.digest();
        let bytes = encode_chain(&[vec![0x30, 0x03, 1, 2, 3]]).unwrap();
        let chain = chain_digest(&bytes);
        Archives {
            snapshots: HashMap::from([(snapshot, s)]),
            chains: HashMap::from([(chain, bytes)]),
            snapshot,
            chain,
        }
    }

    fn run(a: &Archives, entries: &[JournalEntry]) -> RecheckReport {
        recheck(
            entries.iter().enumerate().map(|(i, e)| (i as u64, e)),
            &a.snapshots,
            &a.chains,
        )
    }

    #[test]
    fn agreeing_decisions_are_clean_and_divergent_ones_named() {
        let a = archives();
        let failed = entry(EntryKind::Failed, a.snapshot, a.chain);
        let r = run(&a, &[failed.clone(), failed.clone()]);
        assert_eq!((r.rechecked, r.agreed, r.is_clean()), (2, 2, true));

        // A "received" entry says the seal was trusted; the (empty) snapshot trusts nothing.
        let received = entry(EntryKind::Received, a.snapshot, a.chain);
        let r = run(&a, &[failed, received]);
        assert_eq!((r.rechecked, r.agreed), (2, 1));
        let d: Vec<_> = r.divergences().collect();
        assert_eq!(d.len(), 1);
        assert_eq!(
            (d[0].index, d[0].kind, d[0].recorded, d[0].recheck),
            (1, EntryKind::Received, Verdict::Trusted, Verdict::Untrusted)
        );
        assert_eq!(d[0].message_id.as_deref(), Some("m-1"));
        assert_eq!(d[0].snapshot, a.snapshot);
        assert!(!d[0].reasons.is_empty());
    }

    #[test]
    fn missing_and_altered_material_are_findings() {
        let mut a = archives();
        let missing_snapshot = entry(EntryKind::Failed, [1; 32], a.chain);
        let missing_chain = entry(EntryKind::Failed, a.snapshot, [2; 32]);
        let corrupt = entry(EntryKind::Failed, a.snapshot, [3; 32]);
        a.chains.insert([3; 32], encode_chain(&[vec![9]]).unwrap());
        let r = run(&a, &[missing_snapshot, missing_chain, corrupt]);
        assert_eq!(
            r.findings,
            vec![
                RecheckFinding::SnapshotMissing {
                    index: 0,
                    snapshot: [1; 32]
                },
                RecheckFinding::ChainMissing {
                    index: 1,
                    chain: [2; 32]
                },
                RecheckFinding::ChainCorrupt {
                    index: 2,
                    chain: [3; 32],
                    error: None
                },
            ]
        );
        assert_eq!(r.rechecked, 0);
    }

    #[test]
    fn substituted_snapshot_is_named_once_and_still_used() {
        let mut a = archives();
        a.snapshots.insert([4; 32], empty_snapshot());
        let e = entry(EntryKind::Received, [4; 32], a.chain);
        let r = run(&a, &[e.clone(), e]);
        assert_eq!(
            r.findings[0],
            RecheckFinding::SnapshotSubstituted {
                index: 0,
                snapshot: [4; 32],
                found: a.snapshot
            }
        );
        let indices: Vec<u64> = r.divergences().map(|d| d.index).collect();
        assert_eq!(indices, vec![0, 1]);
    }

    #[test]
    fn entries_without_a_decision_are_not_rechecked() {
        let a = archives();
        let mut no_evidence = entry(EntryKind::Received, a.snapshot, a.chain);
        no_evidence.evidence = None;
        let mut no_snapshot = entry(EntryKind::Received, a.snapshot, a.chain);
        no_snapshot.trust_snapshot = None;
        let loaded = entry(EntryKind::TrustListLoaded, a.snapshot, a.chain);
        let r = run(&a, &[no_evidence, no_snapshot, loaded]);
        assert_eq!(
            (r.entries, r.rechecked, r.skipped, r.is_clean()),
            (3, 0, 2, true)
        );
    }
}
