use super::*;
use crate::journal::entry::EntryKind;
use crate::store::journal::SledJournalStorage;

pub(crate) fn entry(i: u64) -> JournalEntry {
    JournalEntry {
        kind: EntryKind::Accepted,
        unix_nanos: 1_764_000_000_000_000_000 + i as i64,
        message_id: Some(format!("msg-{i}")),
        sender: Some("hcid:fr:rpps:810000000001".into()),
        recipient: Some("hcid:be:nihii:12345678".into()),
        peer: None,
        payload: None,
        trust_snapshot: Some([1; 32]),
        reason: None,
    }
}

fn every_commit() -> JournalConfig {
    JournalConfig {
        checkpoint_interval: Duration::ZERO,
        ..JournalConfig::default()
    }
}

fn open(dir: &std::path::Path, key: &JournalKey) -> Result<Journal, JournalError> {
    let pem = key.to_pkcs8_pem().unwrap();
    let key = JournalKey::from_pkcs8_pem(key.verifier().name(), &pem).unwrap();
    let storage = Arc::new(SledJournalStorage::open(dir).map_err(JournalError::from)?);
    Journal::open(storage, key, &every_commit())
}

#[test]
fn append_prove_reopen_continue() {
    let dir = tempfile::tempdir().unwrap();
    let key = JournalKey::generate("test/journal").unwrap();
    let j = open(dir.path(), &key).unwrap();
    let mut leaves = Vec::new();
    for i in 0..10 {
        let r = j.append(&entry(i)).unwrap();
        assert_eq!(r.index, i);
        let note = r.checkpoint.unwrap();
        assert_eq!(key.verifier().verify_checkpoint(&note).unwrap().size, i + 1);
        leaves.push(merkle::leaf_hash(&entry(i).encode().unwrap()));
    }
    let head = j.head();
    assert_eq!(head.size, 10);
    let p = j.inclusion_proof(3, 10).unwrap();
    merkle::verify_inclusion(&leaves[3], 3, 10, &p, &head.root).unwrap();
    let old_root = {
        let mut t = merkle::MemoryTree::new();
        leaves[..4].iter().for_each(|l| t.push(*l));
        t.root()
    };
    let c = j.consistency_proof(4, 10).unwrap();
    merkle::verify_consistency(4, 10, &old_root, &head.root, &c).unwrap();
    assert_eq!(
        j.inclusion_proof(3, 11),
        Err(JournalError::Proof(ProofError::BeyondTree {
            size: 11,
            have: 10
        }))
    );
    let replayed: Vec<_> = j.replay(2, 5).map(|r| r.unwrap()).collect();
    assert_eq!(replayed, vec![(2, entry(2)), (3, entry(3)), (4, entry(4))]);
    drop(j);

    let j = open(dir.path(), &key).unwrap();
    assert_eq!(j.head(), head);
    assert_eq!(j.append(&entry(10)).unwrap().index, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_appends_share_commits() {
    let dir = tempfile::tempdir().unwrap();
    let key = JournalKey::generate("test/journal").unwrap();
    let j = Arc::new(open(dir.path(), &key).unwrap());
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let j = j.clone();
            tokio::spawn(async move { j.append_async(&entry(i)).await.unwrap().index })
        })
        .collect();
    let mut idx = Vec::new();
    for t in tasks {
        idx.push(t.await.unwrap());
    }
    idx.sort_unstable();
    assert_eq!(idx, (0..50).collect::<Vec<_>>());
}

#[test]
fn lost_entries_are_refused_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let key = JournalKey::generate("test/journal").unwrap();
    let j = open(dir.path(), &key).unwrap();
    for i in 0..5 {
        j.append(&entry(i)).unwrap();
    }
    drop(j);
    // Roll the segment back by one whole record (a "restored backup").
    let seg = dir.path().join("journal.log");
    let len = std::fs::metadata(&seg).unwrap().len();
    let rec = 8 + entry(4).encode().unwrap().len() as u64;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - rec)
        .unwrap();
    assert_eq!(
        open(dir.path(), &key).unwrap_err(),
        JournalError::CheckpointAhead {
            checkpoint_size: 5,
            store_size: 4
        }
    );
}

#[test]
fn altered_store_is_refused_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let key = JournalKey::generate("test/journal").unwrap();
    let j = open(dir.path(), &key).unwrap();
    for i in 0..3 {
        j.append(&entry(i)).unwrap();
    }
    drop(j);
    // Replace the checkpoint with a validly signed one for another tree of the same size.
    let note = key.sign(3, [0; 32]).unwrap();
    std::fs::write(dir.path().join("checkpoint"), note).unwrap();
    assert_eq!(
        open(dir.path(), &key).unwrap_err(),
        JournalError::CheckpointMismatch { size: 3 }
    );
    // Removing the checkpoint does not make the store unchecked.
    std::fs::remove_file(dir.path().join("checkpoint")).unwrap();
    assert_eq!(
        open(dir.path(), &key).unwrap_err(),
        JournalError::CheckpointMissing { store_size: 3 }
    );
    // A checkpoint signed by another key is refused too.
    let other = JournalKey::generate("test/journal").unwrap();
    std::fs::write(
        dir.path().join("checkpoint"),
        other.sign(3, [0; 32]).unwrap(),
    )
    .unwrap();
    assert_eq!(
        open(dir.path(), &key).unwrap_err(),
        JournalError::CheckpointInvalid(NoteError::NoMatchingSignature)
    );
}

#[test]
fn lost_index_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let key = JournalKey::generate("test/journal").unwrap();
    let j = open(dir.path(), &key).unwrap();
    for i in 0..20 {
        j.append(&entry(i)).unwrap();
    }
    let head = j.head();
    drop(j);
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    let j = open(dir.path(), &key).unwrap();
    assert_eq!(j.head(), head);
    let p = j.inclusion_proof(7, 20).unwrap();
    let leaf = merkle::leaf_hash(&entry(7).encode().unwrap());
    merkle::verify_inclusion(&leaf, 7, 20, &p, &head.root).unwrap();
}
