use super::*;
use crate::journal::entry::EntryKind;
use crate::store::journal::FileJournalStorage;
use std::sync::Mutex;

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
        evidence: None,
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
    let storage = Arc::new(FileJournalStorage::open(dir).map_err(JournalError::from)?);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_appended_together_are_consecutive_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let key = JournalKey::generate("test/journal").unwrap();
    let j = Arc::new(open(dir.path(), &key).unwrap());
    // Single appends race with three multi-entry requests, one of them longer than a commit may
    // hold (split into MAX_BATCH + 5) and one that a batch of others cannot take whole.
    let singles: Vec<_> = (0..40u64)
        .map(|i| {
            let j = j.clone();
            tokio::spawn(async move { j.append_async(&entry(10_000 + i)).await.unwrap().index })
        })
        .collect();
    let groups: Vec<(u64, usize)> = vec![(20_000, 3), (30_000, MAX_BATCH + 5), (40_000, 1000)];
    let multis: Vec<_> = groups
        .iter()
        .map(|&(base, n)| {
            let j = j.clone();
            tokio::spawn(async move {
                let entries: Vec<JournalEntry> = (0..n as u64).map(|i| entry(base + i)).collect();
                j.append_all_async(&entries).await.unwrap()
            })
        })
        .collect();
    let mut written = std::collections::HashMap::new();
    for t in singles {
        let index = t.await.unwrap();
        assert!(written.insert(index, ()).is_none());
    }
    for (t, &(base, n)) in multis.into_iter().zip(&groups) {
        let receipts = t.await.unwrap();
        assert_eq!(receipts.len(), n);
        // Within a request (MAX_BATCH entries at most) the indexes follow each other.
        for chunk in receipts.chunks(MAX_BATCH) {
            for pair in chunk.windows(2) {
                assert_eq!(pair[1].index, pair[0].index + 1);
            }
        }
        // Each receipt names the entry it was given for.
        for (i, r) in receipts.iter().enumerate() {
            let (index, stored) = j.replay(r.index, r.index + 1).next().unwrap().unwrap();
            assert_eq!(index, r.index);
            assert_eq!(stored, entry(base + i as u64));
            assert!(written.insert(r.index, ()).is_none());
        }
    }
    let total = 40 + 3 + MAX_BATCH + 5 + 1000;
    assert_eq!(j.head().size, total as u64);
    assert_eq!(written.len(), total);
    assert!(j.append_all_async(&[]).await.unwrap().is_empty());
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
fn lost_derived_files_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let key = JournalKey::generate("test/journal").unwrap();
    let j = open(dir.path(), &key).unwrap();
    for i in 0..20 {
        j.append(&entry(i)).unwrap();
    }
    let head = j.head();
    drop(j);
    // The tree nodes and the sampled offsets are derived from the segment.
    std::fs::remove_dir_all(dir.path().join("nodes")).unwrap();
    std::fs::remove_file(dir.path().join("offsets")).unwrap();
    let j = open(dir.path(), &key).unwrap();
    assert_eq!(j.head(), head);
    let p = j.inclusion_proof(7, 20).unwrap();
    let leaf = merkle::leaf_hash(&entry(7).encode().unwrap());
    merkle::verify_inclusion(&leaf, 7, 20, &p, &head.root).unwrap();
}

/// An in-memory storage whose durable append can be held at a gate or made to fail, to test
/// the acknowledgement rules without timing.
#[derive(Default)]
struct GatedStorage {
    entries: Mutex<Vec<Vec<u8>>>,
    nodes: Mutex<std::collections::HashMap<(u8, u64), Hash>>,
    nodes_len: Mutex<u64>,
    checkpoint: Mutex<Option<String>>,
    /// When set, `append_durable` reports entering and waits for a go.
    gate: Mutex<Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>>,
    /// When set, `append_durable` fails with this error.
    fail: Mutex<Option<StorageError>>,
}

impl JournalStorage for GatedStorage {
    fn len(&self) -> u64 {
        self.entries.lock().unwrap().len() as u64
    }
    fn append_durable(&self, entries: &[Vec<u8>]) -> Result<(), StorageError> {
        if let Some((entered, go)) = self.gate.lock().unwrap().as_ref() {
            entered.send(()).unwrap();
            go.recv().unwrap();
        }
        if let Some(e) = self.fail.lock().unwrap().clone() {
            return Err(e);
        }
        self.entries.lock().unwrap().extend_from_slice(entries);
        Ok(())
    }
    fn read_range(&self, from: u64, to: u64) -> Result<Vec<Vec<u8>>, StorageError> {
        Ok(self.entries.lock().unwrap()[from as usize..to as usize].to_vec())
    }
    fn nodes_len(&self) -> u64 {
        *self.nodes_len.lock().unwrap()
    }
    fn put_nodes(&self, nodes: &[(u8, u64, Hash)], size: u64) -> Result<(), StorageError> {
        let mut m = self.nodes.lock().unwrap();
        for (l, i, h) in nodes {
            m.insert((*l, *i), *h);
        }
        *self.nodes_len.lock().unwrap() = size;
        Ok(())
    }
    fn reset_nodes(&self) -> Result<(), StorageError> {
        self.nodes.lock().unwrap().clear();
        Ok(())
    }
    fn node(&self, level: u8, index: u64) -> Result<Option<Hash>, StorageError> {
        Ok(self.nodes.lock().unwrap().get(&(level, index)).copied())
    }
    fn save_checkpoint(&self, _size: u64, note: &str) -> Result<(), StorageError> {
        *self.checkpoint.lock().unwrap() = Some(note.to_owned());
        Ok(())
    }
    fn load_checkpoint(&self) -> Result<Option<String>, StorageError> {
        Ok(self.checkpoint.lock().unwrap().clone())
    }
    fn checkpoints(&self) -> Result<Vec<String>, StorageError> {
        Ok(self
            .checkpoint
            .lock()
            .unwrap()
            .clone()
            .into_iter()
            .collect())
    }
}

#[test]
fn acknowledged_only_after_durable_write() {
    let storage = Arc::new(GatedStorage::default());
    let key = JournalKey::generate("gated").unwrap();
    let j = Arc::new(Journal::open(storage.clone(), key, &every_commit()).unwrap());
    let (entered_tx, entered_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel();
    *storage.gate.lock().unwrap() = Some((entered_tx, go_rx));

    let (done_tx, done_rx) = mpsc::channel();
    let j2 = j.clone();
    std::thread::spawn(move || done_tx.send(j2.append(&entry(0))).unwrap());
    // The writer is inside the durable write and has not returned from it: no answer yet.
    entered_rx.recv().unwrap();
    assert!(done_rx.try_recv().is_err());
    assert_eq!(j.head().size, 0);
    go_tx.send(()).unwrap();
    assert_eq!(done_rx.recv().unwrap().unwrap().index, 0);
    assert_eq!(j.head().size, 1);
    *storage.gate.lock().unwrap() = None;
}

#[test]
fn failed_write_is_never_acknowledged_and_the_next_append_may_succeed() {
    let storage = Arc::new(GatedStorage::default());
    let key = JournalKey::generate("gated").unwrap();
    let j = Journal::open(storage.clone(), key, &every_commit()).unwrap();
    assert_eq!(j.append(&entry(0)).unwrap().index, 0);
    // A full disk: the storage cut the partial write off, so the segment is as it was.
    let full = StorageError::Io {
        op: crate::journal::StorageOp::Append,
        kind: std::io::ErrorKind::StorageFull,
    };
    *storage.fail.lock().unwrap() = Some(full.clone());
    assert_eq!(j.append(&entry(1)), Err(JournalError::Storage(full)));
    assert_eq!(j.head().size, 1);
    // Space is back: the next append is the next index, nothing in between.
    *storage.fail.lock().unwrap() = None;
    assert_eq!(j.append(&entry(2)).unwrap().index, 1);
    assert_eq!(j.head().size, 2);
}

#[test]
fn failed_sync_is_never_acknowledged_and_stops_the_journal() {
    let storage = Arc::new(GatedStorage::default());
    let key = JournalKey::generate("gated").unwrap();
    let j = Journal::open(storage.clone(), key, &every_commit()).unwrap();
    assert_eq!(j.append(&entry(0)).unwrap().index, 0);
    let sync = StorageError::SyncFailed {
        kind: std::io::ErrorKind::Other,
    };
    *storage.fail.lock().unwrap() = Some(sync.clone());
    assert_eq!(j.append(&entry(1)), Err(JournalError::Storage(sync)));
    // No later sync is trusted (fsyncgate): refused until reopened, even if the disk recovers.
    *storage.fail.lock().unwrap() = None;
    assert_eq!(j.append(&entry(2)), Err(JournalError::Failed));
    assert_eq!(j.head().size, 1);
}
