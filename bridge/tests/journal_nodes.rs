//! The journal's tree nodes live in per-level files whose writes are synced only at checkpoints:
//! nodes lost past that watermark (a power cut after the entries' fdatasync but before the nodes
//! reached the disk) are rebuilt from the segment on open, and proofs agree with the tree.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use std::sync::Arc;
use std::time::Duration;

use eidas_bridge::journal::merkle::{leaf_hash, verify_inclusion};
use eidas_bridge::journal::{
    load_or_create_key, EntryKind, Journal, JournalConfig, JournalEntry, TreeHead,
};
use eidas_bridge::store::journal::FileJournalStorage;

const ORIGIN: &str = "bridge.example.fr/journal";

fn entry(i: u64) -> JournalEntry {
    JournalEntry {
        kind: EntryKind::Accepted,
        unix_nanos: 1_764_000_000_000_000_000 + i as i64,
        message_id: Some(format!("msg-{i:04}")),
        sender: Some("hcid:FR:rpps:10003456789".into()),
        recipient: Some("hcid:BE:nihii-hospital:71000436".into()),
        peer: Some("BE".into()),
        payload: None,
        trust_snapshot: None,
        evidence: None,
        reason: None,
    }
}

fn open(dir: &std::path::Path, checkpoint_interval: Duration) -> Journal {
    let key = load_or_create_key(dir, ORIGIN).unwrap();
    let storage = Arc::new(FileJournalStorage::open(dir).unwrap());
    let config = JournalConfig {
        checkpoint_interval,
        ..JournalConfig::default()
    };
    Journal::open(storage, key, &config).unwrap()
}

/// Every entry's inclusion proof at the head verifies.
fn assert_proofs(journal: &Journal, head: &TreeHead) {
    let entries = journal.storage().read_range(0, head.size).unwrap();
    for (i, e) in entries.iter().enumerate() {
        let proof = journal.inclusion_proof(i as u64, head.size).unwrap();
        verify_inclusion(&leaf_hash(e), i as u64, head.size, &proof, &head.root).unwrap();
    }
}

#[test]
fn nodes_lost_after_the_last_checkpoint_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let checkpointed = {
        let journal = open(dir.path(), Duration::ZERO);
        for i in 0..21 {
            journal.append(&entry(i)).unwrap();
        }
        journal.head()
    };
    let head = {
        // No checkpoint while these are appended: their nodes are written but never synced.
        let journal = open(dir.path(), Duration::from_secs(3600));
        for i in 21..45 {
            journal.append(&entry(i)).unwrap();
        }
        journal.head()
    };
    assert_eq!((checkpointed.size, head.size), (21, 45));
    // Simulate the lost writes: every node past the synced watermark is zero or cut off.
    let nodes = dir.path().join("nodes");
    for level in 0..6u32 {
        let path = nodes.join(format!("level-{level:02}"));
        let kept = (21u64 >> level) * 32;
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        let len = f.metadata().unwrap().len();
        if level % 2 == 0 {
            f.set_len(kept.min(len)).unwrap();
        } else {
            use std::os::unix::fs::FileExt as _;
            f.write_all_at(&vec![0u8; (len - kept.min(len)) as usize], kept.min(len))
                .unwrap();
        }
    }
    let journal = open(dir.path(), Duration::from_secs(3600));
    assert_eq!(
        journal.head(),
        head,
        "the same tree is rebuilt from the segment"
    );
    assert_proofs(&journal, &head);
    journal.append(&entry(45)).unwrap();
    assert_eq!(journal.head().size, 46);
}

#[test]
fn a_journal_without_node_files_rebuilds_them_all() {
    let dir = tempfile::tempdir().unwrap();
    let head = {
        let journal = open(dir.path(), Duration::ZERO);
        for i in 0..33 {
            journal.append(&entry(i)).unwrap();
        }
        journal.head()
    };
    // As after an upgrade from a version that kept the nodes in sled.
    std::fs::remove_dir_all(dir.path().join("nodes")).unwrap();
    let journal = open(dir.path(), Duration::ZERO);
    assert_eq!(journal.head(), head);
    assert_proofs(&journal, &head);
}
