//! The RFC 9162 Merkle tree: hashing (section 2.1.1), an incremental right edge, proof generation
//! (sections 2.1.3.1 and 2.1.4.1) and the RFC's own verification algorithms (sections 2.1.3.2 and
//! 2.1.4.2).
//!
//! Node addressing: `(level, index)` names the complete subtree of `2^level` leaves that starts at
//! leaf `index << level`; level 0 nodes are leaf hashes. Only complete subtrees are ever stored,
//! so a node never changes once written; the hash of any other range is folded from at most 64
//! of them, which keeps a proof at O(log² n) node lookups with no per-proof recomputation.

use sha2::{Digest, Sha256};
use thiserror::Error;

/// A SHA-256 tree hash.
pub type Hash = [u8; 32];

/// Longest proof accepted by the verifiers: a tree of at most 2^64 leaves has depth 64, and a
/// consistency proof has at most one more element (RFC 9162 section 2.1.4.1).
pub const MAX_PROOF_LEN: usize = 65;

/// MTH({}) = SHA-256() (RFC 9162 section 2.1.1).
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// Why a proof cannot be produced or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ProofError {
    /// RFC 9162 section 2.1.3.2 step 1: the leaf index must be below the tree size.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange {
        /// Leaf index asked for.
        index: u64,
        /// Tree size.
        size: u64,
    },
    /// RFC 9162 section 2.1.4: a consistency proof needs `0 < old <= new`.
    #[error("no consistency proof from size {old} to size {new}")]
    InvalidSizes {
        /// Old tree size.
        old: u64,
        /// New tree size.
        new: u64,
    },
    /// The requested size exceeds the tree held by the log.
    #[error("tree size {size} is beyond the log's size {have}")]
    BeyondTree {
        /// Size asked for.
        size: u64,
        /// Size the log holds.
        have: u64,
    },
    /// A proof longer than [`MAX_PROOF_LEN`] cannot belong to any 64-bit tree.
    #[error("proof has {0} hashes")]
    ProofTooLong(usize),
    /// The proof ran out before (or continued after) reaching the root (RFC 9162 sections
    /// 2.1.3.2 and 2.1.4.2, checks on `sn`).
    #[error("proof has the wrong length for these sizes")]
    WrongProofLength,
    /// The recomputed root differs from the expected one.
    #[error("recomputed root does not match")]
    RootMismatch,
    /// A stored node needed for the proof is missing (storage damaged or behind).
    #[error("tree node level {level} index {index} is unavailable")]
    NodeUnavailable {
        /// Node level.
        level: u8,
        /// Node index within its level.
        index: u64,
    },
}

/// Leaf hash: SHA-256(0x00 || entry) (RFC 9162 section 2.1.1).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

/// Interior node hash: SHA-256(0x01 || left || right) (RFC 9162 section 2.1.1).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Read access to stored complete-subtree hashes, for proof generation.
pub trait NodeSource {
    /// Error type of the store; it must be able to carry a [`ProofError`].
    type Error: From<ProofError>;
    /// The hash of complete subtree `(level, index)` (module doc).
    ///
    /// # Errors
    /// The store's error, or [`ProofError::NodeUnavailable`].
    fn node(&self, level: u8, index: u64) -> Result<Hash, Self::Error>;
}

/// The right edge of a tree (the "compact range" `[0, size)`): one hash per set bit of `size`,
/// highest level first. Enough to append leaves and to compute the root.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CompactRange {
    size: u64,
    hashes: Vec<Hash>,
}

impl CompactRange {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads the right edge of a tree of `size` leaves from stored nodes.
    ///
    /// # Errors
    /// Whatever `src` returns for a missing node.
    pub fn load<S: NodeSource>(src: &S, size: u64) -> Result<Self, S::Error> {
        let mut hashes = Vec::new();
        let mut start = 0u64;
        for level in (0..64u8).rev() {
            if size & (1u64 << level) != 0 {
                hashes.push(src.node(level, start >> level)?);
                start += 1u64 << level;
            }
        }
        Ok(Self { size, hashes })
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash and reports every complete subtree this closes, leaf first, in
    /// `new_nodes` (these are what a store must persist).
    pub fn push(&mut self, leaf: Hash, new_nodes: &mut Vec<(u8, u64, Hash)>) {
        let mut h = leaf;
        let mut level = 0u8;
        let mut index = self.size;
        new_nodes.push((0, index, h));
        while index & 1 == 1 {
            // Invariant: a set bit at this level means the edge holds the left sibling.
            let Some(left) = self.hashes.pop() else { break };
            h = node_hash(&left, &h);
            level += 1;
            index >>= 1;
            new_nodes.push((level, index, h));
        }
        self.hashes.push(h);
        self.size += 1;
    }

    /// MTH of the whole range (RFC 9162 section 2.1.1).
    pub fn root(&self) -> Hash {
        fold_right(&self.hashes)
    }
}

/// Folds complete subtrees listed left to right (sizes decreasing) into the hash of their union:
/// this is MTH for any range the RFC's split rule produces.
fn fold_right(hashes: &[Hash]) -> Hash {
    let mut it = hashes.iter().rev();
    let Some(last) = it.next() else {
        return EMPTY_ROOT;
    };
    it.fold(*last, |acc, left| node_hash(left, &acc))
}

/// `MTH(D[start:end])` for a range that is a subtree of the RFC's split (or a prefix).
///
/// # Errors
/// Whatever `src` returns for a missing node.
pub fn subtree_hash<S: NodeSource>(src: &S, start: u64, end: u64) -> Result<Hash, S::Error> {
    let mut parts = Vec::new();
    let mut pos = start;
    while pos < end {
        let mut level = pos.trailing_zeros().min(63);
        while level > 0 && (end - pos) < (1u64 << level) {
            level -= 1;
        }
        // Invariant: level < 64, it fits a u8.
        parts.push(src.node(level as u8, pos >> level)?);
        pos += 1u64 << level;
    }
    Ok(fold_right(&parts))
}

/// The largest power of two strictly below `n` (n >= 2), the RFC's `k`.
fn split_point(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The inclusion proof `PATH(index, D[0:size])` (RFC 9162 section 2.1.3.1), leaf side first.
///
/// # Errors
/// [`ProofError::IndexOutOfRange`] or a node lookup failure.
pub fn inclusion_proof<S: NodeSource>(
    src: &S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, S::Error> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size }.into());
    }
    let mut out = Vec::new();
    path(src, index, 0, size, &mut out)?;
    Ok(out)
}

fn path<S: NodeSource>(
    src: &S,
    m: u64,
    start: u64,
    end: u64,
    out: &mut Vec<Hash>,
) -> Result<(), S::Error> {
    let n = end - start;
    if n <= 1 {
        return Ok(());
    }
    let k = split_point(n);
    if m < k {
        path(src, m, start, start + k, out)?;
        out.push(subtree_hash(src, start + k, end)?);
    } else {
        path(src, m - k, start + k, end, out)?;
        out.push(subtree_hash(src, start, start + k)?);
    }
    Ok(())
}

/// The consistency proof `PROOF(old, D[0:new])` (RFC 9162 section 2.1.4.1); empty when equal.
///
/// # Errors
/// [`ProofError::InvalidSizes`] unless `0 < old <= new`, or a node lookup failure.
pub fn consistency_proof<S: NodeSource>(
    src: &S,
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, S::Error> {
    if old == 0 || old > new {
        return Err(ProofError::InvalidSizes { old, new }.into());
    }
    let mut out = Vec::new();
    subproof(src, old, 0, new, true, &mut out)?;
    Ok(out)
}

fn subproof<S: NodeSource>(
    src: &S,
    m: u64,
    start: u64,
    end: u64,
    complete: bool,
    out: &mut Vec<Hash>,
) -> Result<(), S::Error> {
    let n = end - start;
    if m == n {
        if !complete {
            out.push(subtree_hash(src, start, end)?);
        }
        return Ok(());
    }
    let k = split_point(n);
    if m <= k {
        subproof(src, m, start, start + k, complete, out)?;
        out.push(subtree_hash(src, start + k, end)?);
    } else {
        subproof(src, m - k, start + k, end, false, out)?;
        out.push(subtree_hash(src, start, start + k)?);
    }
    Ok(())
}

/// Verifies an inclusion proof exactly as RFC 9162 section 2.1.3.2 describes.
///
/// # Errors
/// [`ProofError::IndexOutOfRange`], [`ProofError::ProofTooLong`],
/// [`ProofError::WrongProofLength`] or [`ProofError::RootMismatch`].
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    if proof.len() > MAX_PROOF_LEN {
        return Err(ProofError::ProofTooLong(proof.len()));
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return Err(ProofError::WrongProofLength);
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(ProofError::WrongProofLength);
    }
    if &r != root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Verifies a consistency proof exactly as RFC 9162 section 2.1.4.2 describes.
///
/// # Errors
/// [`ProofError::InvalidSizes`], [`ProofError::ProofTooLong`], [`ProofError::WrongProofLength`]
/// or [`ProofError::RootMismatch`].
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old_size == 0 || old_size > new_size {
        return Err(ProofError::InvalidSizes {
            old: old_size,
            new: new_size,
        });
    }
    if proof.len() > MAX_PROOF_LEN {
        return Err(ProofError::ProofTooLong(proof.len()));
    }
    // Step 1: equal sizes need an empty proof and equal roots.
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(ProofError::WrongProofLength);
        }
        return if old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    // Step 2: a non-empty proof is required.
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    // Step 3: if `first` is an exact power of two, prepend first_hash.
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return Err(ProofError::WrongProofLength);
    };
    // Steps 4-5.
    let (mut fnode, mut snode) = (old_size - 1, new_size - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    // Step 6.
    let (mut fr, mut sr) = (*first, *first);
    // Step 7.
    for c in rest {
        if snode == 0 {
            return Err(ProofError::WrongProofLength);
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    // Step 8.
    if snode != 0 {
        return Err(ProofError::WrongProofLength);
    }
    if &fr != old_root || &sr != new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// A whole tree kept in memory, level by level: the reference store for tests and for offline
/// verification of an export.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    levels: Vec<Vec<Hash>>,
    edge: CompactRange,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut nodes = Vec::with_capacity(4);
        self.edge.push(leaf, &mut nodes);
        for (level, _, h) in nodes {
            let l = usize::from(level);
            if self.levels.len() <= l {
                self.levels.push(Vec::new());
            }
            self.levels[l].push(h);
        }
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.edge.size()
    }

    /// Current root.
    pub fn root(&self) -> Hash {
        self.edge.root()
    }
}

impl NodeSource for MemoryTree {
    type Error = ProofError;

    fn node(&self, level: u8, index: u64) -> Result<Hash, ProofError> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.levels.get(usize::from(level))?.get(i))
            .copied()
            .ok_or(ProofError::NodeUnavailable { level, index })
    }
}

#[cfg(test)]
#[path = "merkle_tests.rs"]
mod tests;
