//! Batches: one signature over many envelopes, and one over their receipts.
//!
//! A busy relay sends a peer's pending envelopes in one `DeliverBatch`, and the peer answers with
//! one receipt per envelope. Sealing each envelope and signing each receipt would cost four
//! public-key operations per message, more CPU than the rest of an exchange together (see
//! `deploy/SCALING.md`). Instead each side signs once per batch, as a Certificate Transparency
//! log signs one tree head for many entries: the signed object is a [`BatchHead`] holding the
//! RFC 9162 Merkle tree hash over the canonical per-message contents (the same
//! [`SealedContent`](super::SealedContent) and [`ReceiptContent`](super::ReceiptContent) bytes a
//! unary Deliver signs), both bridges, the time and the number of leaves.
//!
//! Every message keeps evidence of its own: its content, its leaf index, the audit path and the
//! signed head ([`ReceiptBatch`]). A third party checks it with the signer's certificate alone,
//! without the batch's other messages, which it never sees.
//!
//! Head encoding (version 1): a tag naming the kind (`EIDAS-BRIDGE-BATCH-SEAL-V1\n` or
//! `EIDAS-BRIDGE-BATCH-RECEIPT-V1\n`), then the origin and receiving bridges as length-prefixed
//! text, the signing time (`i64`), the leaf count (`u64`) and the 32-byte root, all big-endian
//! and strictly decoded like the per-message contents (module `seal`).

use super::seal::{Reader, Writer};
use super::{SealErrorKind, SealKey};
use crate::journal::merkle::{
    inclusion_proof, leaf_hash, verify_inclusion, Hash, MemoryTree, MAX_PROOF_LEN,
};
use crate::store::outbox::{ReceiptBatch, StoredReceipt};

/// Most envelopes in one batch. Beyond a few dozen the signature's share of the CPU is already
/// negligible, while a larger batch holds more payloads in one request and delays more messages
/// behind a slow one.
pub const MAX_BATCH_ENVELOPES: usize = 64;

/// Tag of a sealed batch's head.
const BATCH_SEAL_TAG: &[u8] = b"EIDAS-BRIDGE-BATCH-SEAL-V1\n";
/// Tag of a receipt batch's head.
const BATCH_RECEIPT_TAG: &[u8] = b"EIDAS-BRIDGE-BATCH-RECEIPT-V1\n";

/// What a batch head's signature vouches for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchKind {
    /// Envelopes sealed by the origin bridge; leaves are sealed contents.
    Seal,
    /// Receipts signed by the receiving bridge; leaves are receipt contents.
    Receipt,
}

impl BatchKind {
    fn tag(self) -> &'static [u8] {
        match self {
            BatchKind::Seal => BATCH_SEAL_TAG,
            BatchKind::Receipt => BATCH_RECEIPT_TAG,
        }
    }
}

/// The signed summary of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchHead {
    /// Seal or receipt batch.
    pub kind: BatchKind,
    /// The bridge that sent the envelopes.
    pub origin_peer: String,
    /// The bridge that received them.
    pub receiver_peer: String,
    /// When the head was signed, Unix nanoseconds.
    pub signed_at: i64,
    /// Number of leaves.
    pub size: u64,
    /// RFC 9162 Merkle tree hash over the leaves' canonical bytes, in order.
    pub root: Hash,
}

impl BatchHead {
    /// The canonical bytes.
    ///
    /// # Errors
    /// [`SealErrorKind::BadField`] for an over-long peer id.
    pub fn encode(&self) -> Result<Vec<u8>, SealErrorKind> {
        let mut w = Writer(self.kind.tag().to_vec());
        w.text("origin_peer", &self.origin_peer)?;
        w.text("receiver_peer", &self.receiver_peer)?;
        w.0.extend_from_slice(&self.signed_at.to_be_bytes());
        w.0.extend_from_slice(&self.size.to_be_bytes());
        w.0.extend_from_slice(&self.root);
        Ok(w.0)
    }

    /// Strict decoding of a head of `kind`.
    ///
    /// # Errors
    /// [`SealErrorKind::UnknownTag`] for a head of another kind, and see [`SealErrorKind`].
    pub fn decode(bytes: &[u8], kind: BatchKind) -> Result<BatchHead, SealErrorKind> {
        let rest = bytes
            .strip_prefix(kind.tag())
            .ok_or(SealErrorKind::UnknownTag)?;
        let mut r = Reader(rest);
        let head = BatchHead {
            kind,
            origin_peer: r.text("origin_peer")?,
            receiver_peer: r.text("receiver_peer")?,
            signed_at: i64::from_be_bytes(r.array()?),
            size: u64::from_be_bytes(r.array()?),
            root: r.array()?,
        };
        r.finish()?;
        Ok(head)
    }
}

/// A batch head signed over a tree of leaves.
#[derive(Debug)]
pub struct SignedBatch {
    /// The canonical head.
    pub head: Vec<u8>,
    /// The signature over `head`.
    pub signature: Vec<u8>,
    /// The signer's chain, DER, leaf first.
    pub seal_chain: Vec<Vec<u8>>,
    tree: MemoryTree,
}

impl SignedBatch {
    /// Signs with `seal` the head of kind `kind` from `origin_peer` to `receiver_peer` at
    /// `signed_at` over `leaves` (canonical contents, in order).
    ///
    /// # Errors
    /// [`SealErrorKind::BadField`] for an over-long peer id, signing failures.
    pub fn sign(
        seal: &SealKey,
        kind: BatchKind,
        origin_peer: &str,
        receiver_peer: &str,
        signed_at: i64,
        leaves: &[Vec<u8>],
    ) -> Result<SignedBatch, SealErrorKind> {
        let tree = tree_of(leaves.iter().map(Vec::as_slice));
        let head = BatchHead {
            kind,
            origin_peer: origin_peer.to_owned(),
            receiver_peer: receiver_peer.to_owned(),
            signed_at,
            size: tree.size(),
            root: tree.root(),
        }
        .encode()?;
        Ok(SignedBatch {
            signature: seal.sign(&head)?,
            seal_chain: seal.chain_der()?,
            head,
            tree,
        })
    }

    /// One receipt per leaf, each with its own audit path; `leaves` are the receipt contents
    /// the batch was signed over, in the same order.
    ///
    /// # Errors
    /// [`SealErrorKind::Mismatch`] when `leaves` are not the signed ones.
    pub fn receipts(&self, leaves: Vec<Vec<u8>>) -> Result<Vec<StoredReceipt>, SealErrorKind> {
        if tree_of(leaves.iter().map(Vec::as_slice)).root() != self.tree.root() {
            return Err(SealErrorKind::Mismatch("batch_root"));
        }
        let paths = leaf_paths(&self.tree, &self.head)?;
        Ok(leaves
            .into_iter()
            .zip(paths)
            .map(|(signed_content, path)| StoredReceipt {
                signed_content,
                signature: self.signature.clone(),
                seal_chain: self.seal_chain.clone(),
                seal_chain_sha256: None,
                batch: Some(path),
            })
            .collect())
    }
}

/// The tree over `leaves` (canonical contents, in order).
pub fn tree_of<'a>(leaves: impl IntoIterator<Item = &'a [u8]>) -> MemoryTree {
    let mut tree = MemoryTree::new();
    for leaf in leaves {
        tree.push(leaf_hash(leaf));
    }
    tree
}

/// Each leaf's place in `tree`: the [`ReceiptBatch`] of every leaf under the signed `head`.
///
/// # Errors
/// [`SealErrorKind::Signing`] if the tree cannot give a path (it holds every node, so it can).
pub fn leaf_paths(tree: &MemoryTree, head: &[u8]) -> Result<Vec<ReceiptBatch>, SealErrorKind> {
    (0..tree.size())
        .map(|i| {
            let path = inclusion_proof(tree, i, tree.size()).map_err(|_| SealErrorKind::Signing)?;
            Ok(ReceiptBatch {
                head: head.to_vec(),
                leaf_index: i,
                audit_path: path.iter().map(|h| h.to_vec()).collect(),
            })
        })
        .collect()
}

/// Checks that `content` is the leaf `batch.leaf_index` of the tree `batch.head` commits to, and
/// returns the decoded head (the caller checks its signature and its peers).
///
/// # Errors
/// A head that does not decode as `kind`, or [`SealErrorKind::NotInBatch`].
pub fn check_inclusion(
    batch: &ReceiptBatch,
    content: &[u8],
    kind: BatchKind,
) -> Result<BatchHead, SealErrorKind> {
    let head = BatchHead::decode(&batch.head, kind)?;
    if batch.audit_path.len() > MAX_PROOF_LEN {
        return Err(SealErrorKind::NotInBatch);
    }
    let path = batch
        .audit_path
        .iter()
        .map(|h| Hash::try_from(h.as_slice()).map_err(|_| SealErrorKind::NotInBatch))
        .collect::<Result<Vec<Hash>, _>>()?;
    verify_inclusion(
        &leaf_hash(content),
        batch.leaf_index,
        head.size,
        &path,
        &head.root,
    )
    .map_err(|_| SealErrorKind::NotInBatch)?;
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(root: Hash, size: u64) -> BatchHead {
        BatchHead {
            kind: BatchKind::Receipt,
            origin_peer: "FR".into(),
            receiver_peer: "BE".into(),
            signed_at: 1_790_000_000_000_000_000,
            size,
            root,
        }
    }

    #[test]
    fn head_round_trip_and_strictness() {
        let h = head([9; 32], 3);
        let bytes = h.encode().unwrap();
        assert_eq!(BatchHead::decode(&bytes, BatchKind::Receipt).unwrap(), h);
        // A receipt head is not a seal head: the tags keep one from standing for the other.
        assert_eq!(
            BatchHead::decode(&bytes, BatchKind::Seal),
            Err(SealErrorKind::UnknownTag)
        );
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(
            BatchHead::decode(&long, BatchKind::Receipt),
            Err(SealErrorKind::TrailingBytes(1))
        );
        for cut in 0..bytes.len() {
            assert!(BatchHead::decode(&bytes[..cut], BatchKind::Receipt).is_err());
        }
    }

    #[test]
    fn every_leaf_is_proven_and_no_other_content_is() {
        for n in 1..=9usize {
            let leaves: Vec<Vec<u8>> = (0..n).map(|i| format!("leaf {i}").into_bytes()).collect();
            let tree = tree_of(leaves.iter().map(Vec::as_slice));
            let h = head(tree.root(), n as u64).encode().unwrap();
            let paths = leaf_paths(&tree, &h).unwrap();
            assert_eq!(paths.len(), n);
            for (i, p) in paths.iter().enumerate() {
                let decoded = check_inclusion(p, &leaves[i], BatchKind::Receipt).unwrap();
                assert_eq!(decoded.size, n as u64);
                // Another leaf's content, or the right content at another index, is refused.
                let other = &leaves[(i + 1) % n];
                if n > 1 {
                    assert_eq!(
                        check_inclusion(p, other, BatchKind::Receipt),
                        Err(SealErrorKind::NotInBatch)
                    );
                    let mut moved = p.clone();
                    moved.leaf_index = ((i + 1) % n) as u64;
                    assert_eq!(
                        check_inclusion(&moved, &leaves[i], BatchKind::Receipt),
                        Err(SealErrorKind::NotInBatch)
                    );
                }
                // A flipped bit anywhere in the path is refused.
                for j in 0..p.audit_path.len() {
                    let mut bent = p.clone();
                    bent.audit_path[j][0] ^= 1;
                    assert_eq!(
                        check_inclusion(&bent, &leaves[i], BatchKind::Receipt),
                        Err(SealErrorKind::NotInBatch)
                    );
                }
            }
        }
    }

    #[test]
    fn a_path_element_of_the_wrong_length_is_refused() {
        let leaves = [b"a".to_vec(), b"b".to_vec()];
        let tree = tree_of(leaves.iter().map(Vec::as_slice));
        let h = head(tree.root(), 2).encode().unwrap();
        let mut p = leaf_paths(&tree, &h).unwrap().remove(0);
        p.audit_path[0].pop();
        assert_eq!(
            check_inclusion(&p, b"a", BatchKind::Receipt),
            Err(SealErrorKind::NotInBatch)
        );
    }
}
