//! The `journal` suite: the RFC 9162 known-answer vectors for tree heads and proofs, and the
//! tamper detections of the offline export verifier, all through the public API of
//! `eidas_bridge::journal`.
//!
//! Vectors: transparency-dev/merkle `testonly/constants.go` and `testonly/reference_test.go`
//! (the RFC 6962 / RFC 9162 vectors used by Trillian). Tamper cases build an export in memory
//! (entries, leaf hashes and one signed checkpoint per size, as the journal writes them), alter it
//! the way an attacker would, and expect [`verify_export`] to name the first alteration and the
//! first bad index (DESIGN.md "Journal": truncation, reordering, edits, rollback).

use eidas_bridge::journal::merkle::{
    consistency_proof, inclusion_proof, leaf_hash, verify_consistency, verify_inclusion,
    MemoryTree, EMPTY_ROOT,
};
use eidas_bridge::journal::{
    verify_export, EntryKind, ExportFile, ExportRecord, Hash, JournalEntry, JournalKey,
    PayloadDigest, ProofError,
};

use crate::case::CaseResult;

/// Suite name in reports and in the expectations file.
pub const SUITE: &str = "journal";

/// Entries of the tamper fixture: enough for several levels of the tree and a cut in the middle.
const FIXTURE_ENTRIES: u64 = 40;

/// Key name of the fixture journal (a C2SP note origin).
const KEY_NAME: &str = "conformance.example/journal";

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

/// Runs the suite. The RFC cases are deterministic; the tamper fixture is signed with a fresh key.
pub fn run_suite() -> Vec<CaseResult> {
    let mut out = rfc9162_cases();
    out.extend(tamper_cases());
    out
}

fn case(id: String, expected: &str, actual: String, note: &str) -> CaseResult {
    CaseResult {
        suite: SUITE.into(),
        pass: actual == expected,
        id,
        expected: expected.into(),
        actual,
        note: (!note.is_empty()).then(|| note.to_owned()),
    }
}

fn hash_of(hex_text: &str) -> Option<Hash> {
    hex::decode(hex_text).ok()?.try_into().ok()
}

/// A stable code for a proof error: its variant name.
fn proof_code(e: &ProofError) -> String {
    let debug = format!("{e:?}");
    debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_owned()
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

fn rfc9162_cases() -> Vec<CaseResult> {
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

/// The fixture's entry `i` (no personal data: synthetic identifiers and digests).
fn entry(i: u64) -> JournalEntry {
    let failed = i % 5 == 4;
    JournalEntry {
        kind: if failed {
            EntryKind::Failed
        } else {
            EntryKind::Delivered
        },
        unix_nanos: 1_764_000_000_000_000_000 + i as i64,
        message_id: Some(format!("msg-{i:04}")),
        sender: Some("hcid:fr:rpps:810000000001".into()),
        recipient: Some("hcid:be:nihii:12345678".into()),
        peer: Some("BE:bridge.example.be".into()),
        payload: Some(PayloadDigest {
            sha256: [i as u8; 32],
            size: 1000 + i,
        }),
        trust_snapshot: Some([0xAB; 32]),
        reason: failed.then(|| "peer_unavailable".to_owned()),
    }
}

/// An export of `entries` signed by `key` with one checkpoint per size `0..=len`, as the journal
/// writes when every append is its own group commit.
fn export_of(key: &JournalKey, entries: &[Vec<u8>]) -> Result<ExportFile, String> {
    let mut tree = MemoryTree::new();
    let mut records = Vec::new();
    let mut checkpoints = vec![key.sign(0, tree.root()).map_err(|e| e.to_string())?];
    for (i, e) in entries.iter().enumerate() {
        let leaf = leaf_hash(e);
        tree.push(leaf);
        records.push(ExportRecord {
            index: i as u64,
            leaf,
            entry: e.clone(),
        });
        checkpoints.push(
            key.sign(tree.size(), tree.root())
                .map_err(|e| e.to_string())?,
        );
    }
    Ok(ExportFile {
        verifier_key: key.verifier().to_vkey(),
        records,
        checkpoints,
    })
}

/// What `verify_export` says: `valid`, the first finding as `name@index`, or `error:Variant`.
fn verdict(bytes: &[u8], kept: Option<&str>) -> String {
    match verify_export(bytes, kept) {
        Err(e) => {
            let debug = format!("{e:?}");
            let variant = debug
                .split(|c: char| !c.is_alphanumeric())
                .next()
                .unwrap_or_default();
            format!("error:{variant}")
        }
        Ok(r) => match r.findings.first() {
            None => "valid".into(),
            Some(f) => match f.index() {
                Some(i) => format!("{}@{i}", f.name()),
                None => f.name().into(),
            },
        },
    }
}

fn tamper_cases() -> Vec<CaseResult> {
    match tamper_cases_inner() {
        Ok(c) => c,
        Err(e) => vec![case(
            "tamper/fixture".into(),
            "built",
            format!("harness error ({e})"),
            "",
        )],
    }
}

fn tamper_cases_inner() -> Result<Vec<CaseResult>, String> {
    let key = JournalKey::generate(KEY_NAME).map_err(|e| e.to_string())?;
    let encode = |range: std::ops::Range<u64>| {
        range
            .map(|i| entry(i).encode().map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()
    };
    let entries = encode(0..FIXTURE_ENTRIES)?;
    let full = export_of(&key, &entries)?;
    let kept_full = full.checkpoints.last().cloned().unwrap_or_default();
    let mut out = Vec::new();
    let mut push = |id: &str, expected: &str, bytes: Vec<u8>, kept: Option<&str>, note: &str| {
        out.push(case(
            format!("tamper/{id}"),
            expected,
            verdict(&bytes, kept),
            note,
        ));
    };
    push("untouched", "valid", full.to_bytes(), Some(&kept_full), "");

    let mut f = full.clone();
    let last = f.records[17].entry.len() - 1;
    f.records[17].entry[last - 20] ^= 1;
    push("one-byte-edit", "entry_edited@17", f.to_bytes(), None, "");

    let mut f = full.clone();
    f.records[17].entry = entry(99).encode().map_err(|e| e.to_string())?;
    f.records[17].leaf = leaf_hash(&f.records[17].entry);
    push(
        "edit-with-recomputed-leaf",
        "checkpoint_mismatch@17",
        f.to_bytes(),
        None,
        "entry replaced and its leaf hash recomputed: caught by the signed checkpoints",
    );

    let mut f = full.clone();
    f.records.remove(23);
    push("deletion", "entry_deleted@23", f.to_bytes(), None, "");

    let mut f = full.clone();
    f.records.swap(5, 9);
    push("reordering", "entries_reordered@5", f.to_bytes(), None, "");

    let mut f = full.clone();
    f.records.truncate(31);
    push("truncated-tail", "truncated@31", f.to_bytes(), None, "");

    let old = export_of(&key, &entries[..25])?;
    push(
        "rollback",
        "rolled_back@25",
        old.to_bytes(),
        Some(&kept_full),
        "older export against the newer checkpoint the auditor kept",
    );
    let kept_old = old.checkpoints.last().cloned().unwrap_or_default();
    push(
        "extension-of-kept",
        "valid",
        full.to_bytes(),
        Some(&kept_old),
        "newer export extends the older kept checkpoint",
    );

    let mut forked = entries.clone();
    forked[30] = entry(130).encode().map_err(|e| e.to_string())?;
    let fork = export_of(&key, &forked)?;
    let kept_fork = fork.checkpoints.last().cloned().unwrap_or_default();
    push(
        "fork",
        "forked@39",
        full.to_bytes(),
        Some(&kept_fork),
        "kept checkpoint signed by the same key over another history",
    );

    let other_key = JournalKey::generate(KEY_NAME).map_err(|e| e.to_string())?;
    let other = export_of(&other_key, &entries)?;
    let kept_other = other.checkpoints.last().cloned().unwrap_or_default();
    push(
        "replaced-key",
        "kept_checkpoint_invalid",
        full.to_bytes(),
        Some(&kept_other),
        "export re-signed with another key of the same name",
    );

    let mut f = full.clone();
    f.checkpoints[5] = f.checkpoints[5].replacen("\n5\n", "\n6\n", 1);
    push(
        "forged-checkpoint",
        "bad_checkpoint_signature",
        f.to_bytes(),
        None,
        "checkpoint size edited",
    );

    let mut f = full.clone();
    f.checkpoints.swap(10, 11);
    push(
        "checkpoint-order",
        "checkpoint_order",
        f.to_bytes(),
        None,
        "",
    );

    let mut f = full.clone();
    let extra = entry(FIXTURE_ENTRIES).encode().map_err(|e| e.to_string())?;
    f.records.push(ExportRecord {
        index: FIXTURE_ENTRIES,
        leaf: leaf_hash(&extra),
        entry: extra,
    });
    push(
        "unsigned-tail",
        &format!("unsigned_tail@{FIXTURE_ENTRIES}"),
        f.to_bytes(),
        None,
        "an entry appended after the latest checkpoint",
    );

    let mut f = full.clone();
    f.checkpoints.clear();
    push("no-checkpoint", "no_checkpoint", f.to_bytes(), None, "");

    let mut garbage = entries[..8].to_vec();
    garbage[3] = b"not a journal entry".to_vec();
    let f = export_of(&key, &garbage)?;
    push(
        "malformed-entry",
        "malformed_entry@3",
        f.to_bytes(),
        None,
        "signed by the journal key but not a canonical entry",
    );

    let bytes = full.to_bytes();
    push(
        "framing/bad-magic",
        "error:BadMagic",
        b"nope".to_vec(),
        None,
        "",
    );
    push(
        "framing/cut-file",
        "error:Truncated",
        bytes[..bytes.len() - 1].to_vec(),
        None,
        "",
    );
    let mut longer = bytes.clone();
    longer.push(0);
    push(
        "framing/trailing-bytes",
        "error:TrailingBytes",
        longer,
        None,
        "",
    );
    let mut v2 = bytes;
    v2[4] = 2;
    push(
        "framing/version-2",
        "error:UnsupportedVersion",
        v2,
        None,
        "",
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_passes() {
        let cases = run_suite();
        assert!(cases.len() > 30, "{}", cases.len());
        let failed: Vec<_> = cases.iter().filter(|c| !c.pass).collect();
        assert!(failed.is_empty(), "{failed:#?}");
    }

    #[test]
    fn a_wrong_vector_fails() {
        let c = case("x".into(), "verified", "RootMismatch".into(), "");
        assert!(!c.pass);
        assert_eq!(
            proof_code(&ProofError::IndexOutOfRange { index: 1, size: 1 }),
            "IndexOutOfRange"
        );
    }
}
