//! The inbox: envelopes received from peer bridges, kept until the local operator acknowledges
//! them. Trees: `inbox.records` (key -> JSON record with the receipt issued), `inbox.payloads`
//! (key -> payload bytes, until acknowledged), `inbox.unacked` (arrival sequence, big-endian ->
//! key), which gives the delivery order to the operator, and `inbox.acked` (acknowledgement time
//! || key, module `expiry`): the acknowledged records in the order they expire, for
//! [`InboxStore::purge_acked_before`]. An acknowledged record is kept for the retention period
//! to answer a peer's redelivery with the first receipt; an unacknowledged one is never purged. The key is the origin peer, the canonical sender and the
//! message id, NUL-separated: message ids are unique per sender (DESIGN.md), so a redelivery by
//! the same peer of the same sender's id is the same message, and two senders behind one peer may
//! use the same id for different messages.
//!
//! Arrival sequences are drawn inside the group commit that stores the message, so they are
//! committed in increasing order: a reader that has seen sequence `n` has seen every message
//! below it, and the Receive stream's cursor never passes over one committed late.

use serde::{Deserialize, Serialize};

use super::expiry;
use super::outbox::StoredReceipt;
use super::space::SpaceGuard;
use super::{GroupCommit, StoreError};

const RECORDS: &str = "inbox.records";
const PAYLOADS: &str = "inbox.payloads";
const UNACKED: &str = "inbox.unacked";
const ACKED: &str = "inbox.acked";

/// One received message, without its payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxRecord {
    /// The sender's idempotency key.
    pub message_id: String,
    /// Canonical sender.
    pub sender: String,
    /// Canonical recipient.
    pub recipient: String,
    /// The bridge that sent it.
    pub origin_peer: String,
    /// SHA-256 of the payload.
    pub payload_sha256: [u8; 32],
    /// Unix nanoseconds of reception.
    pub received_at: i64,
    /// Index of the `received` journal entry.
    pub journal_index: u64,
    /// Arrival sequence (delivery order to the operator).
    pub seq: u64,
    /// True once the operator acknowledged it.
    pub acked: bool,
    /// Unix nanoseconds of the acknowledgement; absent in records stored before it was kept
    /// (those decode as `None` and are not purged).
    #[serde(default)]
    pub acked_at: Option<i64>,
    /// The receipt this bridge signed, returned again on a redelivery.
    pub receipt: StoredReceipt,
}

/// The inbox's trees.
#[derive(Debug, Clone)]
pub struct InboxStore {
    records: sled::Tree,
    payloads: sled::Tree,
    unacked: sled::Tree,
    acked: sled::Tree,
    commit: GroupCommit,
    /// Refuses new messages while the disk is down to its reserve.
    space: SpaceGuard,
}

fn decode(bytes: &[u8]) -> Result<InboxRecord, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        tree: RECORDS,
        detail: e.to_string(),
    })
}

/// The key of a received message: origin peer, NUL, canonical sender, NUL, message id (none of
/// them contains NUL).
pub fn inbox_key(origin_peer: &str, sender: &str, message_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(origin_peer.len() + sender.len() + message_id.len() + 2);
    for (i, part) in [origin_peer, sender, message_id].into_iter().enumerate() {
        if i > 0 {
            key.push(0);
        }
        key.extend_from_slice(part.as_bytes());
    }
    key
}

impl InboxStore {
    /// Opens the trees.
    ///
    /// # Errors
    /// When sled cannot open them.
    pub(crate) fn open(
        db: &sled::Db,
        commit: GroupCommit,
        space: SpaceGuard,
    ) -> Result<InboxStore, StoreError> {
        Ok(InboxStore {
            records: db.open_tree(RECORDS)?,
            payloads: db.open_tree(PAYLOADS)?,
            unacked: db.open_tree(UNACKED)?,
            acked: db.open_tree(ACKED)?,
            commit,
            space,
        })
    }

    /// Stores a received message durably unless its key exists; returns the first record then.
    /// The record's `seq` is ignored: the arrival sequence is drawn inside the commit (module
    /// doc). Returns the stored record's sequence for a new message.
    ///
    /// # Errors
    /// [`StoreError::NoSpace`] for a new key while the disk is down to its reserve; storage or
    /// sync failures.
    pub async fn insert(
        &self,
        key: Vec<u8>,
        record: &InboxRecord,
        payload: Vec<u8>,
    ) -> Result<Result<u64, InboxRecord>, StoreError> {
        // New messages only while the disk keeps its reserve (`space`); a redelivery of a stored
        // key is answered with the first record as before.
        if self.records.get(&key)?.is_none() {
            self.space.admit(payload.len() as u64)?;
        }
        let mut record = record.clone();
        let (records, payloads, unacked) = (
            self.records.clone(),
            self.payloads.clone(),
            self.unacked.clone(),
        );
        let outcome = std::sync::Arc::new(std::sync::Mutex::new(None));
        let outcome_in = outcome.clone();
        self.commit
            .write(move |db| {
                if let Some(old) = records.get(&key)? {
                    if let Ok(mut slot) = outcome_in.lock() {
                        *slot = Some(Err(old));
                    }
                    return Ok(());
                }
                // The committer runs one closure at a time: sequences drawn here are stored in
                // the order they are drawn.
                record.seq = db.generate_id()?;
                let value = serde_json::to_vec(&record).map_err(|e| StoreError::Corrupt {
                    tree: RECORDS,
                    detail: e.to_string(),
                })?;
                payloads.insert(&key, payload)?;
                records.insert(&key, value)?;
                unacked.insert(record.seq.to_be_bytes(), key)?;
                if let Ok(mut slot) = outcome_in.lock() {
                    *slot = Some(Ok(record.seq));
                }
                Ok(())
            })
            .await?;
        let outcome = outcome.lock().ok().and_then(|mut s| s.take());
        match outcome {
            Some(Ok(seq)) => Ok(Ok(seq)),
            Some(Err(old)) => Ok(Err(decode(&old)?)),
            // The closure always fills the slot before the commit resolves successfully.
            None => Err(StoreError::Corrupt {
                tree: RECORDS,
                detail: "insert committed without an outcome".into(),
            }),
        }
    }

    /// The record under `key`.
    ///
    /// # Errors
    /// Storage failures, a corrupt record.
    pub fn get(&self, key: &[u8]) -> Result<Option<InboxRecord>, StoreError> {
        self.records.get(key)?.map(|b| decode(&b)).transpose()
    }

    /// Unacknowledged messages with a sequence above `after`, in arrival order, at most `limit`,
    /// with their payloads.
    ///
    /// # Errors
    /// Storage failures, a corrupt record.
    pub fn unacked_after(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(InboxRecord, Vec<u8>)>, StoreError> {
        let start = after.map_or(0, |s| s.saturating_add(1)).to_be_bytes();
        let mut out = Vec::new();
        for item in self.unacked.range(start..).take(limit) {
            let (_, key) = item?;
            let (Some(rec), Some(payload)) = (self.records.get(&key)?, self.payloads.get(&key)?)
            else {
                continue;
            };
            out.push((decode(&rec)?, payload.to_vec()));
        }
        Ok(out)
    }

    /// Marks the message durably acknowledged at `acked_at` (Unix nanoseconds), drops its
    /// payload and indexes it in `inbox.acked` (same commit). Returns false when no such message
    /// is waiting (unknown or already acknowledged).
    ///
    /// # Errors
    /// Storage or sync failures.
    pub async fn ack(&self, key: Vec<u8>, acked_at: i64) -> Result<bool, StoreError> {
        let Some(mut record) = self.get(&key)? else {
            return Ok(false);
        };
        if record.acked {
            return Ok(false);
        }
        record.acked = true;
        record.acked_at = Some(acked_at);
        let value = serde_json::to_vec(&record).map_err(|e| StoreError::Corrupt {
            tree: RECORDS,
            detail: e.to_string(),
        })?;
        let seq = record.seq.to_be_bytes();
        let acked_key = expiry::index_key(acked_at, &key);
        let (records, payloads, unacked, acked) = (
            self.records.clone(),
            self.payloads.clone(),
            self.unacked.clone(),
            self.acked.clone(),
        );
        self.commit
            .write(move |_| {
                records.insert(&key, value)?;
                payloads.remove(&key)?;
                unacked.remove(seq)?;
                acked.insert(acked_key, &[])?;
                Ok(())
            })
            .await?;
        Ok(true)
    }

    /// Removes records acknowledged before `cutoff` (Unix nanoseconds), looking at most `max`
    /// entries of `inbox.acked`, oldest first; returns how many records it removed. Each entry's
    /// record is read again and removed only while it is acknowledged at the entry's instant
    /// (and unchanged since that read): an unacknowledged message is never removed, whatever
    /// the index says. Entries that do not match (no record, a corrupt record, which is kept)
    /// are dropped. A payload left under the key goes before the record: a redelivery racing
    /// the purge then either finds the record (and is answered with the first receipt) or
    /// stores itself afresh after it, payload included.
    ///
    /// Not durable by itself: a purge lost in a crash is repeated by the next one.
    ///
    /// # Errors
    /// Storage failures.
    pub fn purge_acked_before(&self, cutoff: i64, max: usize) -> Result<usize, StoreError> {
        let end = expiry::at_bytes(cutoff);
        let mut purged = 0;
        for item in self.acked.range(..end).take(max) {
            let (index_key, _) = item?;
            if let Some((at, key)) = expiry::split(&index_key) {
                if let Some(bytes) = self.records.get(key)? {
                    let due = decode(&bytes).is_ok_and(|r| r.acked && r.acked_at == Some(at));
                    if due {
                        self.payloads.remove(key)?;
                        let gone =
                            self.records
                                .compare_and_swap(key, Some(bytes), None::<&[u8]>)?;
                        purged += usize::from(gone.is_ok());
                    }
                }
            }
            self.acked.remove(&index_key)?;
        }
        Ok(purged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn record(id: &str, seq: u64) -> InboxRecord {
        InboxRecord {
            message_id: id.into(),
            sender: "hcid:FR:rpps:10003456789".into(),
            recipient: "hcid:BE:nihii-hospital:71000436".into(),
            origin_peer: "FR".into(),
            payload_sha256: [2; 32],
            received_at: 5,
            journal_index: 0,
            seq,
            acked: false,
            acked_at: None,
            receipt: StoredReceipt {
                signed_content: vec![1],
                signature: vec![2],
                seal_chain: vec![],
            },
        }
    }

    const NURSE: &str = "hcid:FR:rpps:10003456789";

    #[tokio::test]
    async fn delivered_in_order_until_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let inbox = store.inbox().unwrap();
        let ka = inbox_key("FR", NURSE, "a");
        let a = inbox
            .insert(ka.clone(), &record("a", 0), b"pa".to_vec())
            .await
            .unwrap()
            .unwrap();
        let kb = inbox_key("FR", NURSE, "b");
        let b = inbox
            .insert(kb.clone(), &record("b", 0), b"pb".to_vec())
            .await
            .unwrap()
            .unwrap();
        assert!(b > a, "sequences increase in commit order");
        // A redelivery keeps the first record, with the sequence the store gave it.
        assert_eq!(
            inbox
                .insert(ka.clone(), &record("a", 99), b"zz".to_vec())
                .await
                .unwrap(),
            Err(record("a", a))
        );
        let all = inbox.unacked_after(None, 10).unwrap();
        let ids: Vec<_> = all.iter().map(|(r, _)| r.message_id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(inbox.unacked_after(Some(a), 10).unwrap().len(), 1);
        assert!(inbox.ack(ka.clone(), 40).await.unwrap());
        assert!(!inbox.ack(ka.clone(), 41).await.unwrap());
        let left = inbox.unacked_after(None, 10).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].1, b"pb");
        let acked = inbox.get(&ka).unwrap().unwrap();
        assert!(acked.acked);
        assert_eq!(acked.acked_at, Some(40));
    }

    #[tokio::test]
    async fn two_senders_may_use_the_same_message_id() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let inbox = store.inbox().unwrap();
        let doctor = "hcid:FR:rpps:10101201234";
        let from_nurse = inbox_key("FR", NURSE, "m-1");
        let from_doctor = inbox_key("FR", doctor, "m-1");
        assert_ne!(from_nurse, from_doctor);
        let mut second = record("m-1", 0);
        second.sender = doctor.into();
        assert!(inbox
            .insert(from_nurse, &record("m-1", 0), b"n".to_vec())
            .await
            .unwrap()
            .is_ok());
        assert!(inbox
            .insert(from_doctor, &second, b"d".to_vec())
            .await
            .unwrap()
            .is_ok());
        let waiting = inbox.unacked_after(None, 10).unwrap();
        let senders: Vec<_> = waiting
            .iter()
            .map(|(r, p)| (r.sender.as_str(), p.as_slice()))
            .collect();
        assert_eq!(senders, [(NURSE, &b"n"[..]), (doctor, &b"d"[..])]);
    }

    #[tokio::test]
    async fn concurrent_arrivals_are_sequenced_in_commit_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let inbox = store.inbox().unwrap();
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let inbox = inbox.clone();
                tokio::spawn(async move {
                    let id = format!("m-{i}");
                    inbox
                        .insert(inbox_key("FR", NURSE, &id), &record(&id, 0), vec![1])
                        .await
                        .unwrap()
                        .unwrap()
                })
            })
            .collect();
        let mut seqs = Vec::new();
        for t in tasks {
            seqs.push(t.await.unwrap());
        }
        // Every stored record carries the sequence it is listed under, and a cursor at any
        // listed sequence finds exactly the messages after it.
        let listed = inbox.unacked_after(None, 100).unwrap();
        assert_eq!(listed.len(), 64);
        for (i, (rec, _)) in listed.iter().enumerate() {
            assert!(seqs.contains(&rec.seq));
            assert_eq!(
                inbox.unacked_after(Some(rec.seq), 100).unwrap().len(),
                63 - i
            );
        }
    }
    #[tokio::test]
    async fn purge_removes_acknowledged_records_before_the_cutoff_and_never_unacked_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let inbox = store.inbox().unwrap();
        let mut keys = Vec::new();
        for id in ["old", "young", "waiting"] {
            let k = inbox_key("FR", NURSE, id);
            inbox
                .insert(k.clone(), &record(id, 0), id.as_bytes().to_vec())
                .await
                .unwrap()
                .unwrap();
            keys.push(k);
        }
        assert!(inbox.ack(keys[0].clone(), 100).await.unwrap());
        assert!(inbox.ack(keys[1].clone(), 300).await.unwrap());
        // A forged index entry for the unacknowledged message, well before the cutoff: the
        // record says it is not acknowledged, so it stays.
        inbox
            .acked
            .insert(expiry::index_key(1, &keys[2]), &[])
            .unwrap();

        assert_eq!(inbox.purge_acked_before(200, 10).unwrap(), 1);
        assert_eq!(inbox.get(&keys[0]).unwrap(), None);
        assert!(inbox.get(&keys[1]).unwrap().unwrap().acked);
        let waiting = inbox.unacked_after(None, 10).unwrap();
        assert_eq!(waiting.len(), 1);
        assert_eq!(waiting[0].0.message_id, "waiting");
        assert_eq!(waiting[0].1, b"waiting");
        // Everything acknowledged goes once the cutoff passes it; the waiting message stays.
        assert_eq!(inbox.purge_acked_before(i64::MAX, 10).unwrap(), 1);
        assert_eq!(inbox.get(&keys[1]).unwrap(), None);
        assert_eq!(inbox.unacked_after(None, 10).unwrap().len(), 1);
        assert_eq!(inbox.acked.len(), 0);
        // A redelivery after the purge is stored as a new message.
        assert!(inbox
            .insert(keys[0].clone(), &record("old", 0), b"again".to_vec())
            .await
            .unwrap()
            .is_ok());
    }

    #[test]
    fn records_stored_before_acked_at_still_decode() {
        let mut json = serde_json::to_value(record("a", 3)).unwrap();
        json.as_object_mut().unwrap().remove("acked_at");
        json["acked"] = true.into();
        let old = decode(&serde_json::to_vec(&json).unwrap()).unwrap();
        assert!(old.acked);
        assert_eq!(old.acked_at, None);
        assert_eq!(old.seq, 3);
    }
}
