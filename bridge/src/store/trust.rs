//! The trust snapshot cache: every installed snapshot archived by its digest so a later recheck
//! finds the exact trust material a decision used, and the digest of the one in force (tree
//! `trust.meta`, key `current`) so a restart serves offline (DESIGN.md "Configuration and first
//! run").
//!
//! The archive is content-addressed, like a Git object store: tree `trust.snapshots` maps a
//! snapshot digest to its manifest ([`Snapshot::to_parts`]), tree `trust.lists` maps the SHA-256
//! of a list's bytes to the bytes. A refresh in which one national list changed adds that list
//! and a manifest, not a copy of every list. Records written before manifests existed (the full
//! [`Snapshot::to_bytes`] encoding) are still read.
//!
//! Writes go through the group committer: a snapshot is reported installed only once durable.

use trust_lists::{Snapshot, SnapshotErrorKind};

use super::{GroupCommit, Store, StoreError};

const SNAPSHOTS_TREE: &str = "trust.snapshots";
const LISTS_TREE: &str = "trust.lists";
const META_TREE: &str = "trust.meta";
const CURRENT_KEY: &[u8] = b"current";

/// The trust snapshot trees.
#[derive(Debug, Clone)]
pub struct TrustSnapshotStore {
    snapshots: sled::Tree,
    lists: sled::Tree,
    meta: sled::Tree,
    commit: GroupCommit,
}

impl TrustSnapshotStore {
    /// Opens the trees of `store`.
    ///
    /// # Errors
    /// When sled cannot open them.
    pub fn open(store: &Store) -> Result<TrustSnapshotStore, StoreError> {
        Ok(TrustSnapshotStore {
            snapshots: store.db().open_tree(SNAPSHOTS_TREE)?,
            lists: store.db().open_tree(LISTS_TREE)?,
            meta: store.db().open_tree(META_TREE)?,
            commit: store.commit().clone(),
        })
    }

    /// Archives `snapshot` under its digest and makes it the current one, durably. A snapshot
    /// with the digest of an archived one replaces its bytes (same lists, newer reports).
    /// Blocking: call it off the async workers.
    ///
    /// # Errors
    /// On I/O or sync failure: the snapshot must then not be treated as installed.
    pub fn save(&self, snapshot: &Snapshot) -> Result<[u8; 32], StoreError> {
        let digest = snapshot.digest();
        let parts = snapshot.to_parts();
        let (snapshots, lists, meta) = (
            self.snapshots.clone(),
            self.lists.clone(),
            self.meta.clone(),
        );
        self.commit.write_blocking(move |_db| {
            for (list_digest, bytes) in &parts.lists {
                // Content-addressed: bytes under a digest never change, so an existing record
                // is left alone.
                if !lists.contains_key(list_digest)? {
                    lists.insert(list_digest, bytes.as_ref())?;
                }
            }
            snapshots.insert(digest, parts.manifest)?;
            meta.insert(CURRENT_KEY, &digest[..])?;
            Ok(())
        })?;
        Ok(digest)
    }

    /// The snapshot in force at the last save, if any.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] when the stored bytes do not decode or verify.
    pub fn current(&self) -> Result<Option<Snapshot>, StoreError> {
        let Some(d) = self.meta.get(CURRENT_KEY)? else {
            return Ok(None);
        };
        let digest: [u8; 32] = d.as_ref().try_into().map_err(|_| StoreError::Corrupt {
            tree: META_TREE,
            detail: format!("current digest of {} bytes", d.len()),
        })?;
        match self.archived(&digest)? {
            Some(s) => Ok(Some(s)),
            None => Err(StoreError::Corrupt {
                tree: SNAPSHOTS_TREE,
                detail: format!("current snapshot {} missing", hex::encode(digest)),
            }),
        }
    }

    /// The archived snapshot with `digest` (for rechecking a journaled decision).
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] when the stored bytes do not decode, verify, or match the digest.
    pub fn archived(&self, digest: &[u8; 32]) -> Result<Option<Snapshot>, StoreError> {
        let corrupt = |detail: String| StoreError::Corrupt {
            tree: SNAPSHOTS_TREE,
            detail,
        };
        let loaded = match self.load(digest) {
            Ok(loaded) => loaded,
            Err(LoadError::Sled(e)) => return Err(e.into()),
            Err(LoadError::Snapshot(e)) => return Err(corrupt(e.to_string())),
        };
        let Some(snapshot) = loaded else {
            return Ok(None);
        };
        if snapshot.digest() != *digest {
            return Err(corrupt(format!(
                "snapshot {} digest differs",
                hex::encode(digest)
            )));
        }
        Ok(Some(snapshot))
    }

    /// The snapshot stored under `digest`, as stored (no digest check): a manifest with its lists
    /// from `trust.lists`, or a record of the full encoding written before manifests.
    fn load(&self, digest: &[u8; 32]) -> Result<Option<Snapshot>, LoadError> {
        let Some(record) = self.snapshots.get(digest)? else {
            return Ok(None);
        };
        let mut lookup_failure = None;
        let from_manifest = Snapshot::from_parts(&record, |list| match self.lists.get(list) {
            Ok(bytes) => bytes.map(|b| b.to_vec()),
            Err(e) => {
                lookup_failure = Some(e);
                None
            }
        });
        if let Some(e) = lookup_failure {
            return Err(LoadError::Sled(e));
        }
        match from_manifest {
            Ok(s) => Ok(Some(s)),
            // Not a manifest: an archive record from before manifests.
            Err(SnapshotErrorKind::Encoding) => Snapshot::from_bytes(&record)
                .map(Some)
                .map_err(LoadError::Snapshot),
            Err(e) => Err(LoadError::Snapshot(e)),
        }
    }

    /// Bytes used by the archive: manifests and lists (what `trust.snapshots` and `trust.lists`
    /// hold), for operators sizing the store.
    ///
    /// # Errors
    /// On I/O failure.
    pub fn archive_bytes(&self) -> Result<u64, StoreError> {
        let mut total = 0_u64;
        for tree in [&self.snapshots, &self.lists] {
            for record in tree.iter() {
                let (k, v) = record?;
                total += (k.len() + v.len()) as u64;
            }
        }
        Ok(total)
    }

    /// Digests of every archived snapshot, in key order.
    ///
    /// # Errors
    /// On I/O failure.
    pub fn digests(&self) -> Result<Vec<[u8; 32]>, StoreError> {
        let mut out = Vec::new();
        for key in self.snapshots.iter().keys() {
            if let Ok(d) = <[u8; 32]>::try_from(key?.as_ref()) {
                out.push(d);
            }
        }
        Ok(out)
    }
}

/// For `journal verify --recheck`: the snapshot as stored, *without* the digest check of
/// [`TrustSnapshotStore::archived`], so that the recheck can both name a substituted snapshot
/// and show which decisions it would change.
impl crate::journal::recheck::SnapshotArchive for TrustSnapshotStore {
    fn snapshot(
        &self,
        digest: &[u8; 32],
    ) -> Result<Option<Snapshot>, crate::journal::recheck::ArchiveErrorKind> {
        let unreadable = |reason: String| crate::journal::recheck::ArchiveErrorKind::Unreadable {
            what: "trust snapshot",
            digest: *digest,
            reason,
        };
        self.load(digest).map_err(|e| unreadable(e.to_string()))
    }
}

/// Why an archived snapshot could not be read.
#[derive(Debug, thiserror::Error)]
enum LoadError {
    /// sled failed.
    #[error("{0}")]
    Sled(#[from] sled::Error),
    /// The record or one of its lists does not decode or match its digest.
    #[error("{0}")]
    Snapshot(SnapshotErrorKind),
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    fn empty(at: i64) -> Snapshot {
        Snapshot {
            at: OffsetDateTime::from_unix_timestamp(at).unwrap(),
            entries: Vec::new(),
            reports: Vec::new(),
        }
    }

    #[test]
    fn saved_snapshot_survives_reopen_and_is_archived() {
        let dir = tempfile::tempdir().unwrap();
        let digest = {
            let store = Store::open(dir.path()).unwrap();
            let trust = TrustSnapshotStore::open(&store).unwrap();
            assert!(trust.current().unwrap().is_none());
            trust.save(&empty(5)).unwrap()
        };
        let store = Store::open(dir.path()).unwrap();
        let trust = TrustSnapshotStore::open(&store).unwrap();
        let current = trust.current().unwrap().unwrap();
        assert_eq!(current.digest(), digest);
        assert_eq!(current.at.unix_timestamp(), 5);
        assert!(trust.archived(&digest).unwrap().is_some());
        assert!(trust.archived(&[7; 32]).unwrap().is_none());
        assert_eq!(trust.digests().unwrap(), vec![digest]);
    }

    const LIST: &str = r#"<TrustServiceStatusList xmlns="http://uri.etsi.org/02231/v2#"><SchemeInformation><TSLVersionIdentifier>6</TSLVersionIdentifier><TSLSequenceNumber>SEQ</TSLSequenceNumber><TSLType>t</TSLType><SchemeOperatorName><Name xml:lang="en">Op</Name></SchemeOperatorName><SchemeTerritory>FR</SchemeTerritory><ListIssueDateTime>2026-01-01T00:00:00Z</ListIssueDateTime><NextUpdate><dateTime>2026-07-01T00:00:00Z</dateTime></NextUpdate></SchemeInformation></TrustServiceStatusList>"#;

    /// A snapshot holding one minimal list per sequence number, built through the full encoding
    /// (the only public way to get parsed entries).
    fn with_lists(sequences: &[u32]) -> Snapshot {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let entries: Vec<serde_json::Value> = sequences
            .iter()
            .map(|n| {
                let bytes = LIST.replace("SEQ", &n.to_string());
                serde_json::json!({
                    "kind": "tl",
                    "raw_sha256": hex::encode(openssl::sha::sha256(bytes.as_bytes())),
                    "bytes_b64": b64.encode(bytes),
                    "signer_b64": "",
                })
            })
            .collect();
        let json = serde_json::json!({
            "format": trust_lists::SNAPSHOT_FORMAT,
            "at": "2026-01-02T00:00:00Z",
            "entries": entries,
            "reports": [],
        });
        Snapshot::from_bytes(&serde_json::to_vec(&json).unwrap()).unwrap()
    }

    #[test]
    fn snapshots_share_unchanged_lists_and_old_records_still_load() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let trust = TrustSnapshotStore::open(&store).unwrap();
        let first = with_lists(&[1, 2, 3]);
        let second = with_lists(&[1, 2, 4]);
        let (d1, d2) = (trust.save(&first).unwrap(), trust.save(&second).unwrap());
        assert_ne!(d1, d2);
        // Four distinct lists for six entries: the unchanged two are stored once.
        assert_eq!(trust.lists.len(), 4);
        for (digest, sequences) in [(d1, [1_u32, 2, 3]), (d2, [1, 2, 4])] {
            let back = trust.archived(&digest).unwrap().unwrap();
            let seqs: Vec<u64> = back.entries.iter().map(|e| e.list.sequence).collect();
            assert_eq!(seqs, sequences.map(u64::from));
        }
        assert_eq!(trust.current().unwrap().unwrap().digest(), d2);
        let manifests: u64 = trust
            .snapshots
            .iter()
            .map(|r| r.unwrap().1.len() as u64)
            .sum();
        assert!(trust.archive_bytes().unwrap() > manifests);

        // A record in the full encoding (written before manifests) is still read.
        let legacy = with_lists(&[9]);
        trust
            .snapshots
            .insert(legacy.digest(), legacy.to_bytes())
            .unwrap();
        let back = trust.archived(&legacy.digest()).unwrap().unwrap();
        assert_eq!(back.entries[0].list.sequence, 9);

        // A manifest whose list went missing is corruption, named as such.
        let missing = first.entries[2].raw_digest;
        trust.lists.remove(missing).unwrap();
        match trust.archived(&d1) {
            Err(StoreError::Corrupt { tree, detail }) => {
                assert_eq!(tree, SNAPSHOTS_TREE);
                assert!(detail.contains(&hex::encode(missing)), "{detail}");
            }
            other => panic!("expected corruption, got {other:?}"),
        }
    }

    #[test]
    fn corrupt_record_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let trust = TrustSnapshotStore::open(&store).unwrap();
        trust.snapshots.insert([1u8; 32], &b"{}"[..]).unwrap();
        assert!(matches!(
            trust.archived(&[1; 32]),
            Err(StoreError::Corrupt { .. })
        ));
    }
}
