//! Known-answer tests and reference cross-checks for the RFC 9162 tree.
//!
//! Vectors: transparency-dev/merkle, `testonly/constants.go` (LeafInputs, RootHashes) and
//! `testonly/reference_test.go` (TestRefInclusionProof, TestRefConsistencyProof), which are the
//! RFC 6962 / RFC 9162 vectors Trillian has used since its first releases.

use super::*;

fn hd(s: &str) -> Hash {
    let v = hex::decode(s).unwrap();
    v.try_into().unwrap()
}

fn leaf_inputs() -> Vec<Vec<u8>> {
    [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
    .iter()
    .map(|s| hex::decode(s).unwrap())
    .collect()
}

fn tree_of(entries: &[Vec<u8>]) -> MemoryTree {
    let mut t = MemoryTree::new();
    for e in entries {
        t.push(leaf_hash(e));
    }
    t
}

const ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

#[test]
fn roots_match_vectors() {
    assert_eq!(MemoryTree::new().root(), EMPTY_ROOT);
    let leaves = leaf_inputs();
    for (i, want) in ROOTS.iter().enumerate() {
        let t = tree_of(&leaves[..=i]);
        assert_eq!(t.root(), hd(want), "size {}", i + 1);
        assert_eq!(subtree_hash(&t, 0, (i + 1) as u64).unwrap(), hd(want));
    }
}

#[test]
fn inclusion_proofs_match_vectors() {
    let t = tree_of(&leaf_inputs());
    let cases: &[(u64, u64, &[&str])] = &[
        (0, 1, &[]),
        (
            0,
            2,
            &["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"],
        ),
        (
            1,
            2,
            &["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"],
        ),
        (
            2,
            3,
            &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
        ),
        (
            1,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
        (
            0,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];
    let leaves = leaf_inputs();
    for (index, size, want) in cases {
        let want: Vec<Hash> = want.iter().map(|s| hd(s)).collect();
        let got = inclusion_proof(&t, *index, *size).unwrap();
        assert_eq!(got, want, "{index}:{size}");
        let root = hd(ROOTS[(*size - 1) as usize]);
        let leaf = leaf_hash(&leaves[*index as usize]);
        verify_inclusion(&leaf, *index, *size, &got, &root).unwrap();
    }
}

#[test]
fn consistency_proofs_match_vectors() {
    let t = tree_of(&leaf_inputs());
    let cases: &[(u64, u64, &[&str])] = &[
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];
    for (old, new, want) in cases {
        let want: Vec<Hash> = want.iter().map(|s| hd(s)).collect();
        let got = consistency_proof(&t, *old, *new).unwrap();
        assert_eq!(got, want, "{old}:{new}");
        let r1 = hd(ROOTS[(*old - 1) as usize]);
        let r2 = hd(ROOTS[(*new - 1) as usize]);
        verify_consistency(*old, *new, &r1, &r2, &got).unwrap();
    }
}

/// Straight from the RFC 9162 definitions over a slice: the reference recomputation.
fn ref_mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => EMPTY_ROOT,
        1 => leaves[0],
        n => {
            let k = split_point(n as u64) as usize;
            node_hash(&ref_mth(&leaves[..k]), &ref_mth(&leaves[k..]))
        }
    }
}

fn ref_path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    let n = leaves.len();
    if n <= 1 {
        return vec![];
    }
    let k = split_point(n as u64) as usize;
    let mut p;
    if m < k {
        p = ref_path(m, &leaves[..k]);
        p.push(ref_mth(&leaves[k..]));
    } else {
        p = ref_path(m - k, &leaves[k..]);
        p.push(ref_mth(&leaves[..k]));
    }
    p
}

fn ref_subproof(m: usize, leaves: &[Hash], b: bool) -> Vec<Hash> {
    let n = leaves.len();
    if m == n {
        return if b { vec![] } else { vec![ref_mth(leaves)] };
    }
    let k = split_point(n as u64) as usize;
    let mut p;
    if m <= k {
        p = ref_subproof(m, &leaves[..k], b);
        p.push(ref_mth(&leaves[k..]));
    } else {
        p = ref_subproof(m - k, &leaves[k..], false);
        p.push(ref_mth(&leaves[..k]));
    }
    p
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
fn rng(seed: &mut u64) -> u64 {
    *seed ^= *seed >> 12;
    *seed ^= *seed << 25;
    *seed ^= *seed >> 27;
    seed.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

#[test]
fn random_sizes_match_reference() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let leaves: Vec<Hash> = (0..300u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
    let mut t = MemoryTree::new();
    for l in &leaves {
        t.push(*l);
    }
    for _ in 0..200 {
        let size = 1 + rng(&mut seed) % 300;
        let s = size as usize;
        let root = ref_mth(&leaves[..s]);
        assert_eq!(subtree_hash(&t, 0, size).unwrap(), root);
        let idx = rng(&mut seed) % size;
        let p = inclusion_proof(&t, idx, size).unwrap();
        assert_eq!(p, ref_path(idx as usize, &leaves[..s]));
        verify_inclusion(&leaves[idx as usize], idx, size, &p, &root).unwrap();
        let old = 1 + rng(&mut seed) % size;
        let c = consistency_proof(&t, old, size).unwrap();
        assert_eq!(c, ref_subproof(old as usize, &leaves[..s], true));
        let old_root = ref_mth(&leaves[..old as usize]);
        verify_consistency(old, size, &old_root, &root, &c).unwrap();
    }
}

#[test]
fn wrong_entry_index_or_size_fails() {
    let leaves = leaf_inputs();
    let t = tree_of(&leaves);
    let root = t.root();
    let p = inclusion_proof(&t, 5, 8).unwrap();
    let leaf = leaf_hash(&leaves[5]);
    assert_eq!(
        verify_inclusion(&leaf_hash(&leaves[4]), 5, 8, &p, &root),
        Err(ProofError::RootMismatch)
    );
    assert_eq!(
        verify_inclusion(&leaf, 4, 8, &p, &root),
        Err(ProofError::RootMismatch)
    );
    // The same path shape exists in a tree of 7: what binds the size is the root signed for it.
    let r7 = subtree_hash(&t, 0, 7).unwrap();
    assert_eq!(
        verify_inclusion(&leaf, 5, 7, &p, &r7),
        Err(ProofError::RootMismatch)
    );
    assert_eq!(
        verify_inclusion(&leaf, 5, 12, &p, &root),
        Err(ProofError::WrongProofLength)
    );
    assert_eq!(
        verify_inclusion(&leaf, 8, 8, &p, &root),
        Err(ProofError::IndexOutOfRange { index: 8, size: 8 })
    );
    assert_eq!(
        verify_inclusion(&leaf, 5, 8, &p[..2], &root),
        Err(ProofError::WrongProofLength)
    );

    let c = consistency_proof(&t, 6, 8).unwrap();
    let r6 = subtree_hash(&t, 0, 6).unwrap();
    let r5 = subtree_hash(&t, 0, 5).unwrap();
    assert_eq!(
        verify_consistency(5, 8, &r5, &root, &c),
        Err(ProofError::WrongProofLength)
    );
    assert_eq!(
        verify_consistency(6, 8, &r5, &root, &c),
        Err(ProofError::RootMismatch)
    );
    assert_eq!(
        verify_consistency(6, 7, &r6, &r7, &c),
        Err(ProofError::RootMismatch)
    );
    assert_eq!(
        verify_consistency(7, 6, &r6, &root, &c),
        Err(ProofError::InvalidSizes { old: 7, new: 6 })
    );
    assert_eq!(
        verify_consistency(6, 8, &r6, &root, &[]),
        Err(ProofError::WrongProofLength)
    );
    assert_eq!(
        verify_consistency(8, 8, &root, &root, &c),
        Err(ProofError::WrongProofLength)
    );
    assert_eq!(
        inclusion_proof(&t, 3, 9),
        Err(ProofError::NodeUnavailable { level: 0, index: 8 })
    );
}

#[test]
fn compact_range_reload_continues() {
    let leaves: Vec<Hash> = (0..37u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
    let mut t = MemoryTree::new();
    for l in &leaves[..21] {
        t.push(*l);
    }
    let mut edge = CompactRange::load(&t, 21).unwrap();
    assert_eq!(edge.root(), t.root());
    let mut nodes = Vec::new();
    for l in &leaves[21..] {
        edge.push(*l, &mut nodes);
    }
    assert_eq!(edge.root(), ref_mth(&leaves));
}
