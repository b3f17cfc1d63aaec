//! Tamper cases: an export built in memory as the journal writes it, altered the way an attacker
//! would, must be refused by [`verify_export`] naming the first alteration and its index.

use eidas_bridge::journal::merkle::{leaf_hash, MemoryTree};
use eidas_bridge::journal::{
    verify_export, EntryKind, ExportFile, ExportRecord, JournalEntry, JournalKey, PayloadDigest,
};

use super::{case, variant_code};
use crate::case::CaseResult;

/// Entries of the tamper fixture: enough for several levels of the tree and a cut in the middle.
const FIXTURE_ENTRIES: u64 = 40;

/// Key name of the fixture journal (a C2SP note origin).
const KEY_NAME: &str = "conformance.example/journal";

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
        evidence: None,
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
        Err(e) => format!("error:{}", variant_code(&format!("{e:?}"))),
        Ok(r) => match r.findings.first() {
            None => "valid".into(),
            Some(f) => match f.index() {
                Some(i) => format!("{}@{i}", f.name()),
                None => f.name().into(),
            },
        },
    }
}

pub(super) fn tamper_cases() -> Vec<CaseResult> {
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
