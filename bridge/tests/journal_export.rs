//! Tamper tests on a journal export: each alteration is detected and named with the index of the
//! first bad entry.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use std::sync::Arc;
use std::time::Duration;

use eidas_bridge::journal::{
    export, verify_export, EntryKind, ExportFile, Finding, Journal, JournalConfig, JournalEntry,
    JournalKey, PayloadDigest,
};
use eidas_bridge::store::journal::FileJournalStorage;

fn entry(i: u64) -> JournalEntry {
    JournalEntry {
        kind: if i % 5 == 4 {
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
        reason: (i % 5 == 4).then(|| "peer_unavailable".to_owned()),
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    journal: Journal,
}

/// A journal with `n` entries appended in batches of 4, one checkpoint per commit.
fn journal(n: u64) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let key = JournalKey::generate("bridge.example.fr/journal").unwrap();
    let storage = Arc::new(FileJournalStorage::open(dir.path()).unwrap());
    let config = JournalConfig {
        checkpoint_interval: Duration::ZERO,
        ..JournalConfig::default()
    };
    let journal = Journal::open(storage, key, &config).unwrap();
    for i in 0..n {
        journal.append(&entry(i)).unwrap();
    }
    Fixture { _dir: dir, journal }
}

fn export_bytes(j: &Journal) -> Vec<u8> {
    let mut out = Vec::new();
    export(j.storage(), j.verifier(), &mut out).unwrap();
    out
}

fn first(bytes: &[u8], kept: Option<&str>) -> (Finding, Option<u64>) {
    let r = verify_export(bytes, kept).unwrap();
    assert!(!r.is_valid());
    (r.findings[0].clone(), r.first_bad_index())
}

#[test]
fn untouched_export_verifies() {
    let f = journal(40);
    let bytes = export_bytes(&f.journal);
    let kept = f.journal.latest_checkpoint();
    let r = verify_export(&bytes, Some(&kept)).unwrap();
    assert_eq!(r.findings, vec![]);
    assert_eq!(r.entries, 40);
    assert_eq!(r.checkpoints, 41); // size 0 at open, then one per append
    assert_eq!(r.latest.unwrap().root, f.journal.head().root);
}

#[test]
fn one_byte_edit_is_named() {
    let f = journal(40);
    let mut file = ExportFile::parse(&export_bytes(&f.journal)).unwrap();
    let last = file.records[17].entry.len() - 1;
    file.records[17].entry[last - 20] ^= 0x01;
    assert_eq!(
        first(&file.to_bytes(), None),
        (Finding::EntryEdited { index: 17 }, Some(17))
    );
}

#[test]
fn edit_with_recomputed_leaf_hash_is_caught_by_the_checkpoint() {
    let f = journal(40);
    let mut file = ExportFile::parse(&export_bytes(&f.journal)).unwrap();
    file.records[17].entry = entry(99).encode().unwrap();
    file.records[17].leaf = eidas_bridge::journal::merkle::leaf_hash(&file.records[17].entry);
    assert_eq!(
        first(&file.to_bytes(), None),
        (
            Finding::CheckpointMismatch {
                checkpoint_size: 18,
                first_index: 17
            },
            Some(17)
        )
    );
}

#[test]
fn deletion_is_named() {
    let f = journal(40);
    let mut file = ExportFile::parse(&export_bytes(&f.journal)).unwrap();
    file.records.remove(23);
    assert_eq!(
        first(&file.to_bytes(), None),
        (Finding::EntryDeleted { index: 23 }, Some(23))
    );
}

#[test]
fn swap_is_named() {
    let f = journal(40);
    let mut file = ExportFile::parse(&export_bytes(&f.journal)).unwrap();
    file.records.swap(5, 9);
    assert_eq!(
        first(&file.to_bytes(), None),
        (Finding::EntriesReordered { index: 5 }, Some(5))
    );
}

#[test]
fn cut_tail_is_named() {
    let f = journal(40);
    let mut file = ExportFile::parse(&export_bytes(&f.journal)).unwrap();
    file.records.truncate(31);
    assert_eq!(
        first(&file.to_bytes(), None),
        (
            Finding::Truncated {
                index: 31,
                checkpoint_size: 40
            },
            Some(31)
        )
    );
}

#[test]
fn older_export_against_kept_checkpoint_is_rollback() {
    let f = journal(25);
    let old_export = export_bytes(&f.journal);
    let old_cp = f.journal.latest_checkpoint();
    for i in 25..40 {
        f.journal.append(&entry(i)).unwrap();
    }
    let kept = f.journal.latest_checkpoint();
    // An older (consistently cut) export presented to an auditor who kept the newer checkpoint.
    assert_eq!(
        first(&old_export, Some(&kept)),
        (
            Finding::RolledBack {
                kept_size: 40,
                export_size: 25
            },
            Some(25)
        )
    );
    // The newer export against the older kept checkpoint is fine: it extends it.
    let r = verify_export(&export_bytes(&f.journal), Some(&old_cp)).unwrap();
    assert_eq!(r.findings, vec![]);
}

#[test]
fn forged_checkpoint_and_fork_are_named() {
    let f = journal(12);
    let mut file = ExportFile::parse(&export_bytes(&f.journal)).unwrap();
    file.checkpoints[5] = file.checkpoints[5].replacen("\n5\n", "\n6\n", 1);
    let (finding, _) = first(&file.to_bytes(), None);
    assert!(
        matches!(finding, Finding::BadCheckpointSignature { position: 5, .. }),
        "{finding:?}"
    );

    // Another journal with the same key name but another key: its checkpoint is not ours.
    let other = journal(12);
    let (finding, _) = first(
        &export_bytes(&f.journal),
        Some(&other.journal.latest_checkpoint()),
    );
    assert!(
        matches!(finding, Finding::KeptCheckpointInvalid(_)),
        "{finding:?}"
    );
}

#[test]
fn framing_errors_are_errors() {
    use eidas_bridge::journal::ExportError;
    let f = journal(3);
    let bytes = export_bytes(&f.journal);
    assert_eq!(
        verify_export(b"nope", None).unwrap_err(),
        ExportError::BadMagic
    );
    assert!(matches!(
        verify_export(&bytes[..bytes.len() - 1], None),
        Err(ExportError::Truncated(_))
    ));
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(
        verify_export(&longer, None).unwrap_err(),
        ExportError::TrailingBytes(1)
    );
    let mut v2 = bytes.clone();
    v2[4] = 2;
    assert_eq!(
        verify_export(&v2, None).unwrap_err(),
        ExportError::UnsupportedVersion(2)
    );
    // A record count far beyond the bytes present is refused before allocating.
    let mut huge = bytes[..5].to_vec();
    let klen = u16::from_be_bytes([bytes[5], bytes[6]]) as usize;
    huge.extend_from_slice(&bytes[5..7 + klen]);
    huge.extend_from_slice(&u64::MAX.to_be_bytes());
    assert!(matches!(
        verify_export(&huge, None),
        Err(ExportError::TooLarge {
            field: "record count",
            ..
        })
    ));
}
