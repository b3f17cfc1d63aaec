//! The result of a walk: the verified lists with their canonical digests and a report per
//! list, and a stable byte encoding so the bridge can persist it and start offline.

use std::sync::Arc;

use base64::Engine;
use openssl::x509::X509;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::tsl::TrustedList;
use crate::xmldsig::c14n;

/// Version of the snapshot encoding; bumped on incompatible changes.
pub const SNAPSHOT_FORMAT: u32 = 1;

/// Version of the manifest encoding ([`Snapshot::to_parts`]): the snapshot without its lists'
/// bytes, which are stored once each under their SHA-256.
pub const MANIFEST_FORMAT: u32 = 2;

/// The role a list played in the walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListKind {
    /// A pivot LOTL (TS 119 612 clause D.5; named in the LOTL's `SchemeInformationURI`).
    Pivot,
    /// The current EU list of the lists.
    Lotl,
    /// A national trusted list.
    Tl,
}

/// State of one stage (fetch, parse, signature) of one list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageState {
    /// Not attempted (an earlier stage failed).
    Skipped,
    /// Done and valid.
    Ok,
    /// Unchanged since the previous snapshot (same canonical digest): not redone.
    Unchanged,
    /// Failed; see the report's error.
    Failed,
}

/// What happened to one list during a walk (DSS `TLInfo` records, specs/trust-lists.md row 26).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListReport {
    /// Role of the list.
    pub kind: ListKind,
    /// Territory announced by the pointer (or read from the list).
    pub territory: String,
    /// Announced location.
    pub location: String,
    /// Fetch state.
    pub fetch: StageState,
    /// Parse state.
    pub parse: StageState,
    /// Signature state.
    pub signature: StageState,
    /// `TSLSequenceNumber`, when parsed.
    pub sequence: Option<u64>,
    /// `ListIssueDateTime`, when parsed.
    #[serde(with = "time::serde::rfc3339::option")]
    pub issued: Option<OffsetDateTime>,
    /// `NextUpdate`, when parsed and present.
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_update: Option<OffsetDateTime>,
    /// Whether the walk instant is before `NextUpdate` (TS 119 612 clause 5.3.15).
    pub fresh: bool,
    /// Subject of the signer certificate (RFC 2253-like, for display).
    pub signer: Option<String>,
    /// Error code (see [`crate::Error::code`]) when a stage failed.
    pub error: Option<String>,
    /// The refresh failed and the previous good list was kept.
    pub kept_previous: bool,
    /// Hex SHA-256 identifying what was evaluated: the raw bytes and the announced signer
    /// certificates. A later walk with the same pair reuses this outcome instead of redoing it.
    #[serde(default)]
    pub input_digest: Option<String>,
}

/// One verified list held by a snapshot.
#[derive(Debug, Clone)]
pub struct SnapshotEntry {
    /// Role of the list.
    pub kind: ListKind,
    /// The raw bytes as received (shared: reusing an unchanged list copies nothing).
    pub bytes: Arc<[u8]>,
    /// SHA-256 of the raw bytes (fast unchanged check).
    pub raw_digest: [u8; 32],
    /// SHA-256 of the exclusive canonical form without comments (DSS change detection,
    /// specs/trust-lists.md row 3): a BOM or whitespace outside the content is not a change.
    pub canonical_digest: [u8; 32],
    /// The parsed list (shared, as `bytes`).
    pub list: Arc<TrustedList>,
    /// DER of the announced certificate that verified it.
    pub signer: Vec<u8>,
}

/// The verified lists of one walk and the reports of every list attempted.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The instant the walk evaluated freshness at.
    pub at: OffsetDateTime,
    /// Verified lists: pivots, the LOTL, then national lists.
    pub entries: Vec<SnapshotEntry>,
    /// One report per list attempted.
    pub reports: Vec<ListReport>,
}

/// Why stored snapshot bytes could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotErrorKind {
    /// Not the JSON encoding of this version.
    #[error("snapshot encoding not understood")]
    Encoding,
    /// A list's bytes no longer match their recorded digest (storage corruption).
    #[error("snapshot entry {index} does not match its digest")]
    DigestMismatch {
        /// Index of the entry.
        index: usize,
    },
    /// A stored list no longer parses.
    #[error("snapshot entry {index} does not parse")]
    Unparseable {
        /// Index of the entry.
        index: usize,
    },
    /// A manifest names a list whose bytes are not in the list archive.
    #[error("snapshot entry {index}: list {} is not archived", hex::encode(.digest))]
    MissingList {
        /// Index of the entry.
        index: usize,
        /// SHA-256 of the missing list's bytes.
        digest: [u8; 32],
    },
}

/// A snapshot split for content-addressed storage: a manifest of a few kilobytes, and each list's
/// bytes under its SHA-256. Successive snapshots share every list that did not change, so an
/// archive of every snapshot ever used (which `journal verify --recheck` needs) grows by the
/// changed lists only, not by the whole set of lists at each refresh.
#[derive(Debug, Clone)]
pub struct SnapshotParts {
    /// [`MANIFEST_FORMAT`] JSON: instant, reports, and per entry its kind, digest and signer.
    pub manifest: Vec<u8>,
    /// `(SHA-256 of the bytes, bytes)` of every entry, in entry order.
    pub lists: Vec<([u8; 32], Arc<[u8]>)>,
}

#[derive(Serialize, Deserialize)]
struct StoredManifest {
    format: u32,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    entries: Vec<ManifestEntry>,
    reports: Vec<ListReport>,
}

#[derive(Serialize, Deserialize)]
struct ManifestEntry {
    kind: ListKind,
    raw_sha256: String,
    signer_b64: String,
}

#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    format: u32,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    entries: Vec<StoredEntry>,
    reports: Vec<ListReport>,
}

#[derive(Serialize, Deserialize)]
struct StoredEntry {
    kind: ListKind,
    raw_sha256: String,
    bytes_b64: String,
    signer_b64: String,
}

impl Snapshot {
    /// Digest over the canonical digests of the entries, identifying the trust material a
    /// decision used (the journal records it).
    pub fn digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        for e in &self.entries {
            h.update(e.canonical_digest);
        }
        h.finalize().into()
    }

    /// The verified national lists.
    pub fn national_lists(&self) -> impl Iterator<Item = &TrustedList> {
        self.entries
            .iter()
            .filter(|e| e.kind == ListKind::Tl)
            .map(|e| &*e.list)
    }

    /// The verified current LOTL, if any.
    pub fn lotl(&self) -> Option<&TrustedList> {
        self.entries
            .iter()
            .find(|e| e.kind == ListKind::Lotl)
            .map(|e| &*e.list)
    }

    /// Stable encoding: JSON holding the raw list bytes, their signers and the reports.
    pub fn to_bytes(&self) -> Vec<u8> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let stored = StoredSnapshot {
            format: SNAPSHOT_FORMAT,
            at: self.at,
            entries: self
                .entries
                .iter()
                .map(|e| StoredEntry {
                    kind: e.kind,
                    raw_sha256: hex::encode(e.raw_digest),
                    bytes_b64: b64.encode(&e.bytes),
                    signer_b64: b64.encode(&e.signer),
                })
                .collect(),
            reports: self.reports.clone(),
        };
        // Serialising plain strings, numbers and vectors cannot fail.
        serde_json::to_vec(&stored).unwrap_or_default()
    }

    /// Decodes [`Snapshot::to_bytes`] output: checks each list's digest and parses it again.
    ///
    /// # Errors
    /// [`SnapshotErrorKind`] on a foreign encoding, a digest mismatch or an unparseable list.
    pub fn from_bytes(bytes: &[u8]) -> Result<Snapshot, SnapshotErrorKind> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let stored: StoredSnapshot =
            serde_json::from_slice(bytes).map_err(|_| SnapshotErrorKind::Encoding)?;
        if stored.format != SNAPSHOT_FORMAT {
            return Err(SnapshotErrorKind::Encoding);
        }
        let mut entries = Vec::with_capacity(stored.entries.len());
        for (index, e) in stored.entries.into_iter().enumerate() {
            let raw = b64
                .decode(e.bytes_b64)
                .map_err(|_| SnapshotErrorKind::Encoding)?;
            let signer = b64
                .decode(e.signer_b64)
                .map_err(|_| SnapshotErrorKind::Encoding)?;
            if hex::encode(openssl::sha::sha256(&raw)) != e.raw_sha256 {
                return Err(SnapshotErrorKind::DigestMismatch { index });
            }
            let entry = entry_from_bytes(e.kind, raw, signer)
                .ok_or(SnapshotErrorKind::Unparseable { index })?;
            entries.push(entry);
        }
        Ok(Snapshot {
            at: stored.at,
            entries,
            reports: stored.reports,
        })
    }
}

impl Snapshot {
    /// Splits the snapshot into a manifest and its lists' bytes (see [`SnapshotParts`]).
    pub fn to_parts(&self) -> SnapshotParts {
        let b64 = base64::engine::general_purpose::STANDARD;
        let manifest = StoredManifest {
            format: MANIFEST_FORMAT,
            at: self.at,
            entries: self
                .entries
                .iter()
                .map(|e| ManifestEntry {
                    kind: e.kind,
                    raw_sha256: hex::encode(e.raw_digest),
                    signer_b64: b64.encode(&e.signer),
                })
                .collect(),
            reports: self.reports.clone(),
        };
        SnapshotParts {
            // Serialising plain strings, numbers and vectors cannot fail.
            manifest: serde_json::to_vec(&manifest).unwrap_or_default(),
            lists: self
                .entries
                .iter()
                .map(|e| (e.raw_digest, e.bytes.clone()))
                .collect(),
        }
    }

    /// Rebuilds a snapshot from its manifest, fetching each list's bytes with `list` (by the
    /// SHA-256 of the bytes). Every fetched list is checked against its digest and parsed again.
    ///
    /// # Errors
    /// [`SnapshotErrorKind::Encoding`] for a foreign manifest, [`SnapshotErrorKind::MissingList`]
    /// when `list` has no bytes for a digest, and the errors of [`Snapshot::from_bytes`].
    pub fn from_parts(
        manifest: &[u8],
        mut list: impl FnMut(&[u8; 32]) -> Option<Vec<u8>>,
    ) -> Result<Snapshot, SnapshotErrorKind> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let stored: StoredManifest =
            serde_json::from_slice(manifest).map_err(|_| SnapshotErrorKind::Encoding)?;
        if stored.format != MANIFEST_FORMAT {
            return Err(SnapshotErrorKind::Encoding);
        }
        let mut entries = Vec::with_capacity(stored.entries.len());
        for (index, e) in stored.entries.into_iter().enumerate() {
            let mut digest = [0_u8; 32];
            hex::decode_to_slice(&e.raw_sha256, &mut digest)
                .map_err(|_| SnapshotErrorKind::Encoding)?;
            let signer = b64
                .decode(e.signer_b64)
                .map_err(|_| SnapshotErrorKind::Encoding)?;
            let raw = list(&digest).ok_or(SnapshotErrorKind::MissingList { index, digest })?;
            if openssl::sha::sha256(&raw) != digest {
                return Err(SnapshotErrorKind::DigestMismatch { index });
            }
            let entry = entry_from_bytes(e.kind, raw, signer)
                .ok_or(SnapshotErrorKind::Unparseable { index })?;
            entries.push(entry);
        }
        Ok(Snapshot {
            at: stored.at,
            entries,
            reports: stored.reports,
        })
    }
}

/// Builds an entry (digests and parsed list) from verified bytes.
pub(crate) fn entry_from_bytes(
    kind: ListKind,
    bytes: Vec<u8>,
    signer: Vec<u8>,
) -> Option<SnapshotEntry> {
    let text = crate::xml::decode(&bytes).ok()?;
    let doc = crate::xml::parse(text).ok()?;
    let list = crate::tsl::parse_root(doc.root_element()).ok()?;
    let canonical_digest = canonical_digest_of(&doc);
    let raw_digest = openssl::sha::sha256(&bytes);
    Some(SnapshotEntry {
        kind,
        raw_digest,
        canonical_digest,
        list: Arc::new(list),
        signer,
        bytes: bytes.into(),
    })
}

/// SHA-256 of the exclusive canonical form of a parsed document.
pub(crate) fn canonical_digest_of(doc: &roxmltree::Document<'_>) -> [u8; 32] {
    let method = c14n::Method::Exclusive {
        comments: false,
        prefixes: Vec::new(),
    };
    Sha256::digest(c14n::document(doc, None, &method)).into()
}

/// Display form of a certificate subject.
pub(crate) fn subject_of(cert: &X509) -> String {
    cert.subject_name()
        .entries()
        .filter_map(|e| {
            let key = e.object().nid().short_name().ok()?;
            let value = e.data().as_utf8().ok()?.to_string();
            Some(format!("{key}={value}"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"<TrustServiceStatusList xmlns="http://uri.etsi.org/02231/v2#"><SchemeInformation><TSLVersionIdentifier>6</TSLVersionIdentifier><TSLSequenceNumber>7</TSLSequenceNumber><TSLType>t</TSLType><SchemeOperatorName><Name xml:lang="en">Op</Name></SchemeOperatorName><SchemeTerritory>FR</SchemeTerritory><ListIssueDateTime>2026-01-01T00:00:00Z</ListIssueDateTime><NextUpdate><dateTime>2026-07-01T00:00:00Z</dateTime></NextUpdate></SchemeInformation></TrustServiceStatusList>"#;

    fn snapshot() -> Snapshot {
        let entry =
            entry_from_bytes(ListKind::Tl, MINIMAL.as_bytes().to_vec(), vec![1, 2, 3]).unwrap();
        Snapshot {
            at: OffsetDateTime::UNIX_EPOCH,
            entries: vec![entry],
            reports: Vec::new(),
        }
    }

    #[test]
    fn round_trip_and_tamper_detection() {
        let s = snapshot();
        let bytes = s.to_bytes();
        let back = Snapshot::from_bytes(&bytes).unwrap();
        assert_eq!(back.digest(), s.digest());
        assert_eq!(back.entries[0].list.sequence, 7);
        assert_eq!(back.entries[0].signer, vec![1, 2, 3]);

        let mut json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        let altered = MINIMAL.replace(">7<", ">8<");
        json["entries"][0]["bytes_b64"] = b64.encode(altered).into();
        let tampered = serde_json::to_vec(&json).unwrap();
        assert_eq!(
            Snapshot::from_bytes(&tampered).unwrap_err(),
            SnapshotErrorKind::DigestMismatch { index: 0 }
        );
        assert_eq!(
            Snapshot::from_bytes(b"{}").unwrap_err(),
            SnapshotErrorKind::Encoding
        );
    }

    #[test]
    fn parts_round_trip_share_lists_and_catch_missing_or_altered_bytes() {
        let s = snapshot();
        let parts = s.to_parts();
        assert_eq!(parts.lists.len(), 1);
        assert_eq!(parts.lists[0].0, s.entries[0].raw_digest);
        let archive = |d: &[u8; 32]| {
            parts
                .lists
                .iter()
                .find(|(k, _)| k == d)
                .map(|(_, b)| b.to_vec())
        };
        let back = Snapshot::from_parts(&parts.manifest, archive).unwrap();
        assert_eq!(back.digest(), s.digest());
        assert_eq!(back.entries[0].signer, vec![1, 2, 3]);
        assert!(
            parts.manifest.len() < MINIMAL.len(),
            "the manifest does not carry the lists' bytes"
        );

        assert_eq!(
            Snapshot::from_parts(&parts.manifest, |_| None).unwrap_err(),
            SnapshotErrorKind::MissingList {
                index: 0,
                digest: s.entries[0].raw_digest
            }
        );
        let altered = MINIMAL.replace(">7<", ">8<").into_bytes();
        assert_eq!(
            Snapshot::from_parts(&parts.manifest, |_| Some(altered.clone())).unwrap_err(),
            SnapshotErrorKind::DigestMismatch { index: 0 }
        );
        // A full (format 1) encoding is not a manifest, and the other way round.
        assert_eq!(
            Snapshot::from_parts(&s.to_bytes(), archive).unwrap_err(),
            SnapshotErrorKind::Encoding
        );
        assert_eq!(
            Snapshot::from_bytes(&parts.manifest).unwrap_err(),
            SnapshotErrorKind::Encoding
        );
    }

    #[test]
    fn canonical_digest_ignores_bom_and_tag_whitespace() {
        let a = entry_from_bytes(ListKind::Tl, MINIMAL.as_bytes().to_vec(), vec![]).unwrap();
        let spaced = format!(
            "\u{feff}{}",
            MINIMAL.replace("<Name xml:lang", "<Name   xml:lang")
        );
        let b = entry_from_bytes(ListKind::Tl, spaced.into_bytes(), vec![]).unwrap();
        assert_ne!(a.raw_digest, b.raw_digest);
        assert_eq!(a.canonical_digest, b.canonical_digest);
    }
}
