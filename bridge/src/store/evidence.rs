//! The evidence archive: every certificate chain a journaled trust decision validated, stored
//! under its digest (tree `evidence.chains`: [`chain_digest`] -> [`encode_chain`] bytes), so that
//! `journal verify --recheck` can re-run the decision (issue 6 point 5).
//!
//! Content-addressed: the key is the SHA-256 of the value, so archiving the same chain twice
//! stores it once, and a reader checks each value against its key. Writes go through the group
//! committer: [`EvidenceStore::archive`] returns only once the chain is durable, so a journal
//! entry appended afterwards never points at a chain a crash could lose.

use crate::journal::evidence::{chain_digest, encode_chain, ChainErrorKind};
use crate::journal::recheck::{ArchiveErrorKind, EvidenceArchive};

use super::{GroupCommit, Store, StoreError};

const CHAINS_TREE: &str = "evidence.chains";

/// Why a chain could not be archived.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvidenceStoreError {
    /// The chain breaks a limit of the evidence encoding (`journal::evidence`).
    #[error("chain not archivable: {0}")]
    Chain(#[from] ChainErrorKind),
    /// The store failed; the chain must be treated as not archived.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The evidence tree.
#[derive(Debug, Clone)]
pub struct EvidenceStore {
    chains: sled::Tree,
    commit: GroupCommit,
}

impl EvidenceStore {
    /// Opens the tree of `store`.
    ///
    /// # Errors
    /// When sled cannot open it.
    pub fn open(store: &Store) -> Result<EvidenceStore, StoreError> {
        Ok(EvidenceStore {
            chains: store.db().open_tree(CHAINS_TREE)?,
            commit: store.commit().clone(),
        })
    }

    /// Archives `chain` (DER, leaf first) durably and returns its digest, the value for
    /// `Evidence::chain`. Blocking: from async code use [`EvidenceStore::archive_async`].
    ///
    /// # Errors
    /// [`EvidenceStoreError::Chain`] for a chain breaking a limit; a store error when the write
    /// is not durable (the decision must then not be journaled as evidenced).
    pub fn archive(&self, chain: &[Vec<u8>]) -> Result<[u8; 32], EvidenceStoreError> {
        let (digest, bytes) = encoded(chain)?;
        if self.chains.contains_key(digest).map_err(StoreError::from)? {
            return Ok(digest);
        }
        let tree = self.chains.clone();
        self.commit.write_blocking(move |_db| {
            tree.insert(digest, bytes)?;
            Ok(())
        })?;
        Ok(digest)
    }

    /// [`EvidenceStore::archive`] for async callers (the exchange): waits for the group commit
    /// without blocking a runtime worker.
    ///
    /// # Errors
    /// As [`EvidenceStore::archive`].
    pub async fn archive_async(&self, chain: &[Vec<u8>]) -> Result<[u8; 32], EvidenceStoreError> {
        let (digest, bytes) = encoded(chain)?;
        if self.chains.contains_key(digest).map_err(StoreError::from)? {
            return Ok(digest);
        }
        let tree = self.chains.clone();
        self.commit
            .write(move |_db| {
                tree.insert(digest, bytes)?;
                Ok(())
            })
            .await?;
        Ok(digest)
    }

    /// The encoded chain archived under `digest`, as stored (the recheck verifies it against
    /// the digest and decodes it).
    ///
    /// # Errors
    /// On I/O failure.
    pub fn get(&self, digest: &[u8; 32]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.chains.get(digest)?.map(|v| v.to_vec()))
    }

    /// Overwrites the value under `digest` without any check: for tamper tests only.
    #[cfg(test)]
    pub(crate) fn put_raw(&self, digest: [u8; 32], bytes: &[u8]) {
        let _ = self.chains.insert(digest, bytes);
    }
}

fn encoded(chain: &[Vec<u8>]) -> Result<([u8; 32], Vec<u8>), ChainErrorKind> {
    let bytes = encode_chain(chain)?;
    Ok((chain_digest(&bytes), bytes))
}

impl EvidenceArchive for EvidenceStore {
    fn chain(&self, digest: &[u8; 32]) -> Result<Option<Vec<u8>>, ArchiveErrorKind> {
        self.get(digest).map_err(|e| ArchiveErrorKind::Unreadable {
            what: "evidence chain",
            digest: *digest,
            reason: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::evidence::decode_chain;

    #[test]
    fn archive_is_durable_content_addressed_and_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let chain = vec![vec![0x30, 1, 2], vec![0x30, 3]];
        let digest = {
            let store = Store::open(dir.path()).unwrap();
            let ev = store.evidence().unwrap();
            let d = ev.archive(&chain).unwrap();
            assert_eq!(ev.archive(&chain).unwrap(), d);
            d
        };
        let store = Store::open(dir.path()).unwrap();
        let ev = store.evidence().unwrap();
        let bytes = ev.get(&digest).unwrap().unwrap();
        assert_eq!(chain_digest(&bytes), digest);
        assert_eq!(decode_chain(&bytes).unwrap(), chain);
        assert_eq!(ev.get(&[0; 32]).unwrap(), None);
        assert!(matches!(
            ev.archive(&[]),
            Err(EvidenceStoreError::Chain(ChainErrorKind::Empty))
        ));
    }

    #[tokio::test]
    async fn async_archive_matches_blocking_digest() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let ev = store.evidence().unwrap();
        let chain = vec![vec![0x30, 9]];
        let d = ev.archive_async(&chain).await.unwrap();
        assert_eq!(Some(d), ev.get(&d).unwrap().map(|b| chain_digest(&b)));
    }
}
