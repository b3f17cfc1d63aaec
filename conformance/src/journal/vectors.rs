//! RFC 9162 known-answer cases: tree heads of the eight vector leaves, inclusion and consistency
//! proofs equal to the vectors and verifying, and proofs that must not verify.

use eidas_bridge::journal::merkle::{
    consistency_proof, inclusion_proof, leaf_hash, verify_consistency, verify_inclusion,
    MemoryTree, EMPTY_ROOT,
};
use eidas_bridge::journal::{Hash, ProofError};

use super::{case, proof_code};
use crate::case::CaseResult;

/// RFC 9162 leaf inputs of the vectors (hex).
const LEAF_INPUTS: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// Root of the first `i + 1` leaves.
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

const H_96A: &str = "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7";
const H_5F0: &str = "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e";
const H_6B4: &str = "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4";
const H_BC1: &str = "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b";
const H_CA8: &str = "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0";
const H_0EB: &str = "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a";

/// Inclusion vectors: (index, size, proof).
const INCLUSION: [(u64, u64, &[&str]); 7] = [
    (0, 1, &[]),
    (0, 2, &[H_96A]),
    (1, 2, &[ROOTS[0]]),
    (2, 3, &[ROOTS[1]]),
    (1, 5, &[ROOTS[0], H_5F0, H_BC1]),
    (0, 8, &[H_96A, H_5F0, H_6B4]),
    (5, 8, &[H_BC1, H_CA8, ROOTS[3]]),
];

/// Consistency vectors: (old size, new size, proof).
const CONSISTENCY: [(u64, u64, &[&str]); 4] = [
    (1, 1, &[]),
    (1, 8, &[H_96A, H_5F0, H_6B4]),
    (2, 5, &[H_5F0, H_BC1]),
    (6, 8, &[H_0EB, H_CA8, ROOTS[3]]),
];

fn hash_of(hex_text: &str) -> Option<Hash> {
    hex::decode(hex_text).ok()?.try_into().ok()
}

fn vector_tree() -> (MemoryTree, Vec<Vec<u8>>) {
    let leaves: Vec<Vec<u8>> = LEAF_INPUTS
        .iter()
        .map(|h| hex::decode(h).unwrap_or_default())
        .collect();
    let mut t = MemoryTree::new();
    for l in &leaves {
        t.push(leaf_hash(l));
    }
    (t, leaves)
}

pub(super) fn rfc9162_cases() -> Vec<CaseResult> {
    let mut out = vec![case(
        "rfc9162/root/0".into(),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        hex::encode(EMPTY_ROOT),
        "empty tree: SHA-256 of the empty string (RFC 9162 2.1.1)",
    )];
    let (_, leaves) = vector_tree();
    let mut t = MemoryTree::new();
    for (i, want) in ROOTS.iter().enumerate() {
        t.push(leaf_hash(&leaves[i]));
        out.push(case(
            format!("rfc9162/root/{}", i + 1),
            want,
            hex::encode(t.root()),
            "",
        ));
    }
    let (t, leaves) = vector_tree();
    let root = |size: u64| ROOTS.get(size as usize - 1).and_then(|r| hash_of(r));
    for (index, size, want) in INCLUSION {
        let want: Vec<Hash> = want.iter().filter_map(|h| hash_of(h)).collect();
        let leaf = leaf_hash(&leaves[index as usize]);
        let actual = match inclusion_proof(&t, index, size) {
            Err(e) => proof_code(&e),
            Ok(p) if p != want => "proof differs from vector".into(),
            Ok(p) => match root(size).map(|r| verify_inclusion(&leaf, index, size, &p, &r)) {
                Some(Ok(())) => "verified".into(),
                Some(Err(e)) => proof_code(&e),
                None => "no root".into(),
            },
        };
        out.push(case(
            format!("rfc9162/inclusion/{index}-of-{size}"),
            "verified",
            actual,
            "proof equals the vector and verifies (RFC 9162 2.1.3)",
        ));
    }
    for (old, new, want) in CONSISTENCY {
        let want: Vec<Hash> = want.iter().filter_map(|h| hash_of(h)).collect();
        let actual = match consistency_proof(&t, old, new) {
            Err(e) => proof_code(&e),
            Ok(p) if p != want => "proof differs from vector".into(),
            Ok(p) => match (root(old), root(new)) {
                (Some(r1), Some(r2)) => match verify_consistency(old, new, &r1, &r2, &p) {
                    Ok(()) => "verified".into(),
                    Err(e) => proof_code(&e),
                },
                _ => "no root".into(),
            },
        };
        out.push(case(
            format!("rfc9162/consistency/{old}-to-{new}"),
            "verified",
            actual,
            "proof equals the vector and verifies (RFC 9162 2.1.4)",
        ));
    }
    out.extend(proof_negatives(&t, &leaves));
    out
}

/// Proofs that must not verify: the right proof for another leaf position, a truncated proof,
/// and a consistency proof against a foreign old root.
fn proof_negatives(t: &MemoryTree, leaves: &[Vec<u8>]) -> Vec<CaseResult> {
    let root5 = hash_of(ROOTS[4]).unwrap_or_default();
    let root8 = hash_of(ROOTS[7]).unwrap_or_default();
    let leaf1 = leaf_hash(&leaves[1]);
    let proof = inclusion_proof(t, 1, 5).unwrap_or_default();
    let run = |r: Result<(), ProofError>| match r {
        Ok(()) => "verified".to_owned(),
        Err(e) => proof_code(&e),
    };
    let cons = consistency_proof(t, 2, 8).unwrap_or_default();
    vec![
        case(
            "rfc9162/inclusion-negative/wrong-index".into(),
            "RootMismatch",
            run(verify_inclusion(&leaf1, 2, 5, &proof, &root5)),
            "proof of leaf 1 presented for index 2",
        ),
        case(
            "rfc9162/inclusion-negative/short-proof".into(),
            "WrongProofLength",
            run(verify_inclusion(
                &leaf1,
                1,
                5,
                proof.get(..2).unwrap_or_default(),
                &root5,
            )),
            "last hash of the path removed",
        ),
        case(
            "rfc9162/inclusion-negative/index-beyond-size".into(),
            "IndexOutOfRange",
            run(verify_inclusion(&leaf1, 5, 5, &proof, &root5)),
            "",
        ),
        case(
            "rfc9162/consistency-negative/foreign-old-root".into(),
            "RootMismatch",
            run(verify_consistency(2, 8, &root5, &root8, &cons)),
            "old root of another size presented",
        ),
    ]
}
