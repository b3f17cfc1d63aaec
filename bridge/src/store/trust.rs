//! The trust snapshot cache: every installed snapshot archived by its digest (tree
//! `trust.snapshots`: digest -> [`Snapshot::to_bytes`]) so a later recheck finds the exact trust
//! material a decision used, and the digest of the one in force (tree `trust.meta`, key
//! `current`) so a restart serves offline (DESIGN.md "Configuration and first run").
//!
//! Writes go through the group committer: a snapshot is reported installed only once durable.

use trust_lists::Snapshot;

use super::{GroupCommit, Store, StoreError};

const SNAPSHOTS_TREE: &str = "trust.snapshots";
const META_TREE: &str = "trust.meta";
const CURRENT_KEY: &[u8] = b"current";

/// The trust snapshot trees.
#[derive(Debug, Clone)]
pub struct TrustSnapshotStore {
    snapshots: sled::Tree,
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
        let bytes = snapshot.to_bytes();
        let (snapshots, meta) = (self.snapshots.clone(), self.meta.clone());
        self.commit.write_blocking(move |_db| {
            snapshots.insert(digest, bytes)?;
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
        let Some(bytes) = self.snapshots.get(digest)? else {
            return Ok(None);
        };
        let corrupt = |detail: String| StoreError::Corrupt {
            tree: SNAPSHOTS_TREE,
            detail,
        };
        let snapshot = Snapshot::from_bytes(&bytes).map_err(|e| corrupt(e.to_string()))?;
        if snapshot.digest() != *digest {
            return Err(corrupt(format!(
                "snapshot {} digest differs",
                hex::encode(digest)
            )));
        }
        Ok(Some(snapshot))
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
        let Some(bytes) = self
            .snapshots
            .get(digest)
            .map_err(|e| unreadable(e.to_string()))?
        else {
            return Ok(None);
        };
        Snapshot::from_bytes(&bytes)
            .map(Some)
            .map_err(|e| unreadable(e.to_string()))
    }
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
