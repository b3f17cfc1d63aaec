//! The inbox: envelopes received from peer bridges, kept until the local operator acknowledges
//! them. Tables of the exchange database (module `exchange_db`): `inbox_records` (key -> JSON
//! record with the receipt issued), `inbox_payload_refs` (key -> where the payload is in the
//! payload log, module `payload_log`, until acknowledged; `inbox_payloads` held the bytes
//! themselves in older stores),
//! `inbox_unacked` (arrival sequence, big-endian -> key), which gives the delivery order to the
//! operator, `inbox_acked` (acknowledgement time || key, module `expiry`): the acknowledged
//! records in the order they expire, for [`InboxStore::purge_acked_before`], and, in the database's
//! `meta` table, the next arrival sequence. An acknowledged record is kept for the retention period to
//! answer a peer's redelivery with the first receipt; an unacknowledged one is never purged. The
//! key is the origin peer, the canonical sender and the message id, NUL-separated: message ids
//! are unique per sender (DESIGN.md), so a redelivery by the same peer of the same sender's id is
//! the same message, and two senders behind one peer may use the same id for different messages.
//!
//! Arrival sequences are drawn inside the transaction that stores the message, and the exchange
//! database commits one transaction at a time, so they are committed in increasing order: a
//! reader that has seen sequence `n` has seen every message below it, and the Receive stream's
//! cursor never passes over one committed late. A transaction that is aborted gives its
//! sequence back with everything else.

use serde::{Deserialize, Serialize};

use redb::{ReadableTable, TableDefinition};

use super::exchange_db::{ExchangeDb, Table, WriteMode, META};
use super::expiry;
use super::outbox::StoredReceipt;
use super::payload_log;
use super::receipt_chains;
use super::space::SpaceGuard;
use super::StoreError;

const RECORDS_NAME: &str = "inbox_records";
const RECORDS: Table = TableDefinition::new(RECORDS_NAME);
/// Payload bytes, in stores written before the payload log (module `payload_log`).
const PAYLOADS: Table = TableDefinition::new("inbox_payloads");
const PAYLOAD_REFS: Table = TableDefinition::new("inbox_payload_refs");
const UNACKED: Table = TableDefinition::new("inbox_unacked");
const ACKED: Table = TableDefinition::new("inbox_acked");

/// The key in the `meta` table of the next arrival sequence (8 bytes, big-endian; absent means
/// 0, where sled's `generate_id`, which drew them before, started too).
pub(super) const NEXT_SEQ: &[u8] = b"inbox_next_seq";

/// The inbox's tables, created when the exchange database is opened.
pub(super) const TABLES: [Table; 5] = [RECORDS, PAYLOADS, PAYLOAD_REFS, UNACKED, ACKED];

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

/// The inbox's tables.
#[derive(Debug, Clone)]
pub struct InboxStore {
    db: ExchangeDb,
    /// Refuses new messages while the disk is down to its reserve.
    space: SpaceGuard,
}

fn decode(bytes: &[u8]) -> Result<InboxRecord, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        tree: RECORDS_NAME,
        detail: e.to_string(),
    })
}

fn encode(record: &InboxRecord) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(record).map_err(|e| StoreError::Corrupt {
        tree: RECORDS_NAME,
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

/// What [`InboxStore::insert_all`] did with one message.
#[derive(Debug)]
pub enum Inserted {
    /// Stored, with this arrival sequence.
    New(u64),
    /// Stored before: the first record.
    Existing(Box<InboxRecord>),
    /// Not stored: a new message while the disk is down to its reserve
    /// ([`StoreError::NoSpace`]).
    NoSpace(StoreError),
}

impl InboxStore {
    /// The inbox in `db`, whose tables [`super::Store::open`] created.
    pub(crate) fn open(db: ExchangeDb, space: SpaceGuard) -> InboxStore {
        InboxStore { db, space }
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
        let outcome = self
            .insert_all(vec![(key, record.clone(), payload)])
            .await?
            .pop();
        match outcome {
            Some(Inserted::New(seq)) => Ok(Ok(seq)),
            Some(Inserted::Existing(old)) => Ok(Err(*old)),
            Some(Inserted::NoSpace(full)) => Err(full),
            None => Err(StoreError::Corrupt {
                tree: RECORDS_NAME,
                detail: "an insert committed without its outcome".into(),
            }),
        }
    }

    /// [`InboxStore::insert`] for several messages in one job of the group commit (the messages
    /// of one peer batch): one outcome per message, in order. The job commits whole or not at
    /// all; a message refused for space is left out of it.
    ///
    /// # Errors
    /// Storage or sync failures, for all the messages.
    pub async fn insert_all(
        &self,
        messages: Vec<(Vec<u8>, InboxRecord, Vec<u8>)>,
    ) -> Result<Vec<Inserted>, StoreError> {
        /// A message admitted for the job, its receipt chain detached (module
        /// `receipt_chains`).
        struct Admitted {
            at: usize,
            key: Vec<u8>,
            record: InboxRecord,
            chain: Option<receipt_chains::Detached>,
            payload: Vec<u8>,
        }
        let mut outcomes: Vec<Option<Inserted>> = Vec::with_capacity(messages.len());
        let mut admitted = Vec::with_capacity(messages.len());
        for (at, (key, mut record, payload)) in messages.into_iter().enumerate() {
            // New messages only while the disk keeps its reserve (`space`); a redelivery of a
            // stored key is answered with the first record as before (looked up only when the
            // disk is low).
            if let Err(full) = self.space.admit(payload.len() as u64) {
                if self.get_raw(&key)?.is_none() {
                    outcomes.push(Some(Inserted::NoSpace(full)));
                    continue;
                }
            }
            let chain = receipt_chains::detach(&mut record.receipt)?;
            outcomes.push(None);
            admitted.push(Admitted {
                at,
                key,
                record,
                chain,
                payload,
            });
        }
        if admitted.is_empty() {
            return Ok(outcomes.into_iter().flatten().collect());
        }
        let log = self.db.payloads().clone();
        let stored = self
            .db
            .write(WriteMode::Durable, move |txn| {
                let mut records = txn.open_table(RECORDS)?;
                let mut meta = txn.open_table(META)?;
                let mut unacked = txn.open_table(UNACKED)?;
                let mut seq = meta
                    .get(NEXT_SEQ)?
                    .and_then(|v| <[u8; 8]>::try_from(v.value()).ok())
                    .map_or(0, u64::from_be_bytes);
                let mut out = Vec::with_capacity(admitted.len());
                for m in &mut admitted {
                    let key = m.key.as_slice();
                    if let Some(old) = records.get(key)? {
                        out.push((m.at, Err(old.value().to_vec())));
                        continue;
                    }
                    m.record.seq = seq;
                    payload_log::put(txn, &log, PAYLOAD_REFS, key, &m.payload)?;
                    records.insert(key, encode(&m.record)?.as_slice())?;
                    unacked.insert(&seq.to_be_bytes()[..], key)?;
                    if let Some(chain) = &m.chain {
                        receipt_chains::keep(txn, chain)?;
                    }
                    out.push((m.at, Ok(seq)));
                    seq = seq.saturating_add(1);
                }
                meta.insert(NEXT_SEQ, &seq.to_be_bytes()[..])?;
                Ok(out)
            })
            .await?;
        for (at, outcome) in stored {
            outcomes[at] = Some(match outcome {
                Ok(seq) => Inserted::New(seq),
                Err(old) => Inserted::Existing(Box::new(self.read_record(&old)?)),
            });
        }
        Ok(outcomes.into_iter().flatten().collect())
    }

    fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let read = self.db.read()?;
        let records = read.open_table(RECORDS)?;
        Ok(records.get(key)?.map(|v| v.value().to_vec()))
    }

    /// The record under `key`.
    ///
    /// # Errors
    /// Storage failures, a corrupt record.
    pub fn get(&self, key: &[u8]) -> Result<Option<InboxRecord>, StoreError> {
        self.get_raw(key)?.map(|b| self.read_record(&b)).transpose()
    }

    /// Decodes a stored record and puts its receipt's chain back (module `receipt_chains`).
    fn read_record(&self, bytes: &[u8]) -> Result<InboxRecord, StoreError> {
        let mut record = decode(bytes)?;
        if record.receipt.seal_chain_sha256.is_some() {
            let read = self.db.read()?;
            receipt_chains::attach(
                &read.open_table(receipt_chains::CHAINS)?,
                &mut record.receipt,
            )?;
        }
        Ok(record)
    }

    /// Unacknowledged messages with a sequence above `after`, in arrival order, at most `limit`,
    /// with their payloads (one snapshot).
    ///
    /// # Errors
    /// Storage failures, a corrupt record.
    pub fn unacked_after(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(InboxRecord, Vec<u8>)>, StoreError> {
        let start = after.map_or(0, |s| s.saturating_add(1)).to_be_bytes();
        let read = self.db.read()?;
        let (unacked, records, chains) = (
            read.open_table(UNACKED)?,
            read.open_table(RECORDS)?,
            read.open_table(receipt_chains::CHAINS)?,
        );
        let log = self.db.payloads();
        let mut out = Vec::new();
        for item in unacked.range::<&[u8]>(&start[..]..)?.take(limit) {
            let (_, key) = item?;
            let Some(rec) = records.get(key.value())? else {
                continue;
            };
            let Some(payload) = payload_log::get(&read, log, PAYLOAD_REFS, PAYLOADS, key.value())?
            else {
                continue;
            };
            let mut record = decode(rec.value())?;
            receipt_chains::attach(&chains, &mut record.receipt)?;
            out.push((record, payload));
        }
        Ok(out)
    }

    /// Marks the message durably acknowledged at `acked_at` (Unix nanoseconds), drops its
    /// payload and indexes it in `inbox_acked` (one transaction, which also reads the record:
    /// two acknowledgements of one message cannot both win). Returns false when no such message
    /// is waiting (unknown or already acknowledged).
    ///
    /// # Errors
    /// Storage or sync failures, a corrupt record.
    pub async fn ack(&self, key: Vec<u8>, acked_at: i64) -> Result<bool, StoreError> {
        let acked_key = expiry::index_key(acked_at, &key);
        self.db
            .write(WriteMode::Durable, move |txn| {
                let mut records = txn.open_table(RECORDS)?;
                let Some(mut record) = records
                    .get(key.as_slice())?
                    .map(|v| decode(v.value()))
                    .transpose()?
                else {
                    return Ok(false);
                };
                if record.acked {
                    return Ok(false);
                }
                record.acked = true;
                record.acked_at = Some(acked_at);
                records.insert(key.as_slice(), encode(&record)?.as_slice())?;
                payload_log::take(txn, PAYLOAD_REFS, PAYLOADS, key.as_slice())?;
                txn.open_table(UNACKED)?
                    .remove(&record.seq.to_be_bytes()[..])?;
                txn.open_table(ACKED)?
                    .insert(acked_key.as_slice(), &[][..])?;
                Ok(true)
            })
            .await
    }

    /// Removes records acknowledged before `cutoff` (Unix nanoseconds), looking at most `max`
    /// entries of `inbox_acked`, oldest first; returns how many records it removed. Each entry's
    /// record is read again and removed, with any payload left under its key, only while it is
    /// acknowledged at the entry's instant: an unacknowledged message is never removed, whatever
    /// the index says. Entries that do not match (no record, a corrupt record, which is kept)
    /// are dropped. One transaction per batch: a redelivery racing the purge either finds the
    /// record (and is answered with the first receipt) or stores itself afresh after it.
    ///
    /// Not durable by itself ([`WriteMode::Deferred`]): a purge lost in a crash is repeated by
    /// the next one. Blocking.
    ///
    /// # Errors
    /// Storage failures.
    pub fn purge_acked_before(&self, cutoff: i64, max: usize) -> Result<expiry::Swept, StoreError> {
        self.db.write_blocking(WriteMode::Deferred, move |txn| {
            let mut acked = txn.open_table(ACKED)?;
            let mut records = txn.open_table(RECORDS)?;
            expiry::sweep(&mut acked, cutoff, max, |at, key| {
                let due = records.get(key)?.is_some_and(|bytes| {
                    decode(bytes.value()).is_ok_and(|r| r.acked && r.acked_at == Some(at))
                });
                if due {
                    payload_log::take(txn, PAYLOAD_REFS, PAYLOADS, key)?;
                    records.remove(key)?;
                }
                Ok(due)
            })
        })
    }

    /// Entries of `inbox_acked` (tests).
    #[cfg(test)]
    fn acked_keys(&self) -> Vec<Vec<u8>> {
        let read = self.db.read().unwrap();
        let acked = read.open_table(ACKED).unwrap();
        acked
            .iter()
            .unwrap()
            .map(|item| item.unwrap().0.value().to_vec())
            .collect()
    }

    /// Writes a raw `inbox_acked` entry (tests: forged index entries).
    #[cfg(test)]
    fn insert_acked(&self, index_key: Vec<u8>) {
        self.db
            .write_blocking(WriteMode::Durable, move |txn| {
                txn.open_table(ACKED)?
                    .insert(index_key.as_slice(), &[][..])?;
                Ok(())
            })
            .unwrap();
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
                seal_chain_sha256: None,
                batch: None,
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
    async fn messages_stored_together_get_one_outcome_each_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let inbox = store.inbox().unwrap();
        let key = |id: &str| inbox_key("FR", NURSE, id);
        let a = inbox
            .insert(key("a"), &record("a", 0), b"pa".to_vec())
            .await
            .unwrap()
            .unwrap();
        let (rb, ra, rc) = (record("b", 0), record("a", 7), record("c", 0));
        // A known key, a new one twice in the same job: the second sees the first.
        let outcomes = inbox
            .insert_all(vec![
                (key("b"), rb.clone(), b"pb".to_vec()),
                (key("a"), ra, b"zz".to_vec()),
                (key("c"), rc, b"pc".to_vec()),
                (key("b"), rb, b"p2".to_vec()),
            ])
            .await
            .unwrap();
        assert_eq!(outcomes.len(), 4);
        let Inserted::New(b) = outcomes[0] else {
            panic!("{:?}", outcomes[0]);
        };
        assert!(matches!(&outcomes[1], Inserted::Existing(old) if **old == record("a", a)));
        assert!(matches!(outcomes[2], Inserted::New(c) if c == b + 1));
        assert!(matches!(&outcomes[3], Inserted::Existing(old) if **old == record("b", b)));
        assert!(b > a);
        let unacked = inbox.unacked_after(None, 10).unwrap();
        let got: Vec<_> = unacked
            .iter()
            .map(|(r, p)| (r.message_id.as_str(), r.seq, p.as_slice()))
            .collect();
        assert_eq!(
            got,
            [
                ("a", a, &b"pa"[..]),
                ("b", b, &b"pb"[..]),
                ("c", b + 1, &b"pc"[..])
            ]
        );
        // The next message continues after the job's sequences.
        let d = inbox
            .insert(key("d"), &record("d", 0), b"pd".to_vec())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(d, b + 2);
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
        inbox.insert_acked(expiry::index_key(1, &keys[2]));

        assert_eq!(inbox.purge_acked_before(200, 10).unwrap().purged, 1);
        assert_eq!(inbox.get(&keys[0]).unwrap(), None);
        assert!(inbox.get(&keys[1]).unwrap().unwrap().acked);
        let waiting = inbox.unacked_after(None, 10).unwrap();
        assert_eq!(waiting.len(), 1);
        assert_eq!(waiting[0].0.message_id, "waiting");
        assert_eq!(waiting[0].1, b"waiting");
        // Everything acknowledged goes once the cutoff passes it; the waiting message stays.
        assert_eq!(inbox.purge_acked_before(i64::MAX, 10).unwrap().purged, 1);
        assert_eq!(inbox.get(&keys[1]).unwrap(), None);
        assert_eq!(inbox.unacked_after(None, 10).unwrap().len(), 1);
        assert!(inbox.acked_keys().is_empty());
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
