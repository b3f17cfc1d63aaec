//! The inbox: envelopes received from peer bridges, kept until the local operator acknowledges
//! them. Trees: `inbox.records` (key -> JSON record with the receipt issued), `inbox.payloads`
//! (key -> payload bytes) and `inbox.unacked` (arrival sequence, big-endian -> key), which gives
//! the delivery order to the operator. The key is the origin peer and the message id,
//! NUL-separated: a redelivery by the same peer of the same id is the same message.

use serde::{Deserialize, Serialize};

use super::outbox::StoredReceipt;
use super::space::SpaceGuard;
use super::{GroupCommit, StoreError};

const RECORDS: &str = "inbox.records";
const PAYLOADS: &str = "inbox.payloads";
const UNACKED: &str = "inbox.unacked";

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
    /// The receipt this bridge signed, returned again on a redelivery.
    pub receipt: StoredReceipt,
}

/// The inbox's trees.
#[derive(Debug, Clone)]
pub struct InboxStore {
    db: sled::Db,
    records: sled::Tree,
    payloads: sled::Tree,
    unacked: sled::Tree,
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

/// The key of a received message: origin peer, NUL, message id.
pub fn inbox_key(origin_peer: &str, message_id: &str) -> Vec<u8> {
    super::outbox::outbox_key(origin_peer, message_id)
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
            db: db.clone(),
            records: db.open_tree(RECORDS)?,
            payloads: db.open_tree(PAYLOADS)?,
            unacked: db.open_tree(UNACKED)?,
            commit,
            space,
        })
    }

    /// A fresh arrival sequence number (monotonic across restarts).
    ///
    /// # Errors
    /// Storage failures.
    pub fn next_seq(&self) -> Result<u64, StoreError> {
        Ok(self.db.generate_id()?)
    }

    /// Stores a received message durably unless its key exists; returns the first record then.
    ///
    /// # Errors
    /// [`StoreError::NoSpace`] for a new key while the disk is down to its reserve; storage or
    /// sync failures.
    pub async fn insert(
        &self,
        key: Vec<u8>,
        record: &InboxRecord,
        payload: Vec<u8>,
    ) -> Result<Option<InboxRecord>, StoreError> {
        // New messages only while the disk keeps its reserve (`space`); a redelivery of a stored
        // key is answered with the first record as before.
        if self.records.get(&key)?.is_none() {
            self.space.admit(payload.len() as u64)?;
        }
        let value = serde_json::to_vec(record).map_err(|e| StoreError::Corrupt {
            tree: RECORDS,
            detail: e.to_string(),
        })?;
        let seq = record.seq.to_be_bytes();
        let (records, payloads, unacked) = (
            self.records.clone(),
            self.payloads.clone(),
            self.unacked.clone(),
        );
        let found = std::sync::Arc::new(std::sync::Mutex::new(None));
        let found_in = found.clone();
        self.commit
            .write(move |_| {
                if let Some(old) = records.get(&key)? {
                    if let Ok(mut slot) = found_in.lock() {
                        *slot = Some(old);
                    }
                    return Ok(());
                }
                payloads.insert(&key, payload)?;
                records.insert(&key, value)?;
                unacked.insert(seq, key)?;
                Ok(())
            })
            .await?;
        let old = found.lock().ok().and_then(|mut s| s.take());
        old.map(|b| decode(&b)).transpose()
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

    /// Marks the message durably acknowledged and drops its payload. Returns false when no such
    /// message is waiting (unknown or already acknowledged).
    ///
    /// # Errors
    /// Storage or sync failures.
    pub async fn ack(&self, key: Vec<u8>) -> Result<bool, StoreError> {
        let Some(mut record) = self.get(&key)? else {
            return Ok(false);
        };
        if record.acked {
            return Ok(false);
        }
        record.acked = true;
        let value = serde_json::to_vec(&record).map_err(|e| StoreError::Corrupt {
            tree: RECORDS,
            detail: e.to_string(),
        })?;
        let seq = record.seq.to_be_bytes();
        let (records, payloads, unacked) = (
            self.records.clone(),
            self.payloads.clone(),
            self.unacked.clone(),
        );
        self.commit
            .write(move |_| {
                records.insert(&key, value)?;
                payloads.remove(&key)?;
                unacked.remove(seq)?;
                Ok(())
            })
            .await?;
        Ok(true)
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
            receipt: StoredReceipt {
                signed_content: vec![1],
                signature: vec![2],
                seal_chain: vec![],
            },
        }
    }

    #[tokio::test]
    async fn delivered_in_order_until_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let inbox = store.inbox().unwrap();
        let (a, b) = (inbox.next_seq().unwrap(), inbox.next_seq().unwrap());
        assert!(b > a);
        let ka = inbox_key("FR", "a");
        assert_eq!(
            inbox
                .insert(ka.clone(), &record("a", a), b"pa".to_vec())
                .await
                .unwrap(),
            None
        );
        let kb = inbox_key("FR", "b");
        assert_eq!(
            inbox
                .insert(kb.clone(), &record("b", b), b"pb".to_vec())
                .await
                .unwrap(),
            None
        );
        // A redelivery keeps the first record.
        assert_eq!(
            inbox
                .insert(ka.clone(), &record("a", 99), b"zz".to_vec())
                .await
                .unwrap(),
            Some(record("a", a))
        );
        let all = inbox.unacked_after(None, 10).unwrap();
        let ids: Vec<_> = all.iter().map(|(r, _)| r.message_id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(inbox.unacked_after(Some(a), 10).unwrap().len(), 1);
        assert!(inbox.ack(ka.clone()).await.unwrap());
        assert!(!inbox.ack(ka.clone()).await.unwrap());
        let left = inbox.unacked_after(None, 10).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].1, b"pb");
        assert!(inbox.get(&ka).unwrap().unwrap().acked);
    }
}
