//! The outbox: envelopes accepted from the local operator, waiting for (or done with) relay to
//! their home peer bridge. Five tables of the exchange database (module `exchange_db`):
//! `outbox_records` (key -> JSON state record, kept after delivery for the retention period: it
//! answers resends and GetStatus), `outbox_payload_refs` (key -> where the payload is in the
//! payload log, module `payload_log`, removed once the message is terminal; `outbox_payloads`
//! held the bytes themselves in older stores), `outbox_pending` (key -> next attempt time, big-endian Unix
//! nanoseconds: the non-terminal messages the relay works on, readable without decoding their
//! records) and `outbox_done` (terminal time || key, module `expiry`: the terminal records in
//! the order they expire, so that [`OutboxStore::purge_terminal_before`] never scans the
//! records themselves).
//! The key is the canonical sender and the message id, NUL-separated: message ids are unique per
//! sender (DESIGN.md, "Exchange semantics").
//!
//! Every write is a job of the exchange database's group committer, so each one is atomic and
//! writes are serialised: a check-then-write inside one job needs no lock of its own. Every write
//! that precedes an acknowledgement is [`WriteMode::Durable`]. Submit journals `accepted` first
//! and then stores the record with its journal index, its payload and its pending entry in one
//! job ([`OutboxStore::insert`]): one write of the record per acceptance.

use serde::{Deserialize, Serialize};

use redb::{ReadableTable, TableDefinition};

use super::exchange_db::{ExchangeDb, Table, WriteMode};
use super::expiry;
use super::payload_log;
use super::receipt_chains::{self, Detached};
use super::space::SpaceGuard;
use super::StoreError;

const RECORDS_NAME: &str = "outbox_records";
const RECORDS: Table = TableDefinition::new(RECORDS_NAME);
/// Payload bytes, in stores written before the payload log (module `payload_log`).
const PAYLOADS: Table = TableDefinition::new("outbox_payloads");
const PAYLOAD_REFS: Table = TableDefinition::new("outbox_payload_refs");
const PENDING: Table = TableDefinition::new("outbox_pending");
const DONE: Table = TableDefinition::new("outbox_done");

/// The outbox's tables, created when the exchange database is opened.
pub(super) const TABLES: [Table; 5] = [RECORDS, PAYLOADS, PAYLOAD_REFS, PENDING, DONE];

/// Where a message is in its life (GetStatus).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    /// Durable in the outbox, not yet answered by the peer.
    Accepted,
    /// The peer took the envelope but its receipt did not verify (yet).
    Forwarded,
    /// The peer's signed receipt was verified and journaled.
    Delivered,
    /// Given up: the deadline passed or the peer refused for good.
    Failed,
}

impl OutboxState {
    /// True for states the relay no longer works on.
    pub fn is_terminal(self) -> bool {
        matches!(self, OutboxState::Delivered | OutboxState::Failed)
    }
}

/// A receipt kept as evidence: the signed bytes, the signature and the signer's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredReceipt {
    /// Canonical receipt content (see `exchange::ReceiptContent`).
    #[serde(with = "b64")]
    pub signed_content: Vec<u8>,
    /// The receiving bridge's seal: over `signed_content`, or over the batch head when `batch`
    /// is present.
    #[serde(with = "b64")]
    pub signature: Vec<u8>,
    /// The receiving bridge's seal chain, DER, leaf first.
    #[serde(with = "b64_list")]
    pub seal_chain: Vec<Vec<u8>>,
    /// Stored form only: the SHA-256 of the chain, kept once in the database (module
    /// `receipt_chains`) while `seal_chain` is stored empty. The outbox and inbox readers put
    /// the chain back, so a receipt read from them has `None` here.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "b64_digest")]
    pub seal_chain_sha256: Option<[u8; 32]>,
    /// For a receipt signed in a batch: the signed head and this receipt's place in its tree.
    /// Records written before batches have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<ReceiptBatch>,
}

/// Where a receipt sits in a signed batch (module `exchange::batch`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptBatch {
    /// The canonical batch head the signature covers.
    #[serde(with = "b64")]
    pub head: Vec<u8>,
    /// The receipt content's leaf index in the head's tree.
    pub leaf_index: u64,
    /// The RFC 9162 audit path from that leaf to the head's root, leaf side first.
    #[serde(with = "b64_list")]
    pub audit_path: Vec<Vec<u8>>,
}

/// Bytes as base64 text in the JSON records: a fraction of the size of a JSON number array.
mod b64 {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

/// An optional SHA-256 digest as base64 text.
mod b64_digest {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Option<[u8; 32]>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&STANDARD.encode(d)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<[u8; 32]>, D::Error> {
        let Some(text) = Option::<String>::deserialize(d)? else {
            return Ok(None);
        };
        let bytes = STANDARD.decode(text).map_err(serde::de::Error::custom)?;
        <[u8; 32]>::try_from(bytes.as_slice())
            .map(Some)
            .map_err(|_| serde::de::Error::custom("a digest is 32 bytes"))
    }
}

/// A list of byte strings as base64 texts.
mod b64_list {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(list: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(list.iter().map(|b| STANDARD.encode(b)))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        let texts = Vec::<String>::deserialize(d)?;
        texts
            .iter()
            .map(|t| STANDARD.decode(t).map_err(serde::de::Error::custom))
            .collect()
    }
}

/// The state of one outgoing message. No payload and no native addresses: only what the
/// journal may hold too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxRecord {
    /// The sender's idempotency key.
    pub message_id: String,
    /// Canonical sender (`hcid`, with role when known).
    pub sender: String,
    /// Canonical recipient.
    pub recipient: String,
    /// The recipient's home peer bridge.
    pub peer: String,
    /// SHA-256 of the payload.
    pub payload_sha256: [u8; 32],
    /// Payload length.
    pub payload_size: u64,
    /// Current state.
    pub state: OutboxState,
    /// Delivery attempts made.
    pub attempts: u32,
    /// Unix nanoseconds of acceptance.
    pub accepted_at: i64,
    /// Unix nanoseconds of the last change.
    pub updated_at: i64,
    /// Unix nanoseconds before which the relay does not try again.
    pub next_attempt_at: i64,
    /// Why the last attempt did not succeed, or why the message failed.
    pub reason: Option<String>,
    /// Journal indexes of this message's entries, in order (`accepted` first).
    pub journal_indexes: Vec<u64>,
    /// The verified receipt, once delivered.
    pub receipt: Option<StoredReceipt>,
}

/// What [`OutboxStore::insert`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// The record is new and now durable.
    New,
    /// A record already exists under the key: the first one is returned untouched.
    Existing(Box<OutboxRecord>),
}

/// The outbox's tables.
#[derive(Debug, Clone)]
pub struct OutboxStore {
    db: ExchangeDb,
    /// Refuses new messages while the disk is down to its reserve.
    space: SpaceGuard,
}

fn corrupt(detail: &dyn std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        tree: RECORDS_NAME,
        detail: detail.to_string(),
    }
}

fn decode(bytes: &[u8]) -> Result<OutboxRecord, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| corrupt(&e))
}

/// The stored form of `record`, and its receipt's chain to keep apart (module
/// `receipt_chains`).
fn encode(record: &OutboxRecord) -> Result<(Vec<u8>, Option<Detached>), StoreError> {
    if record
        .receipt
        .as_ref()
        .is_none_or(|r| r.seal_chain.is_empty())
    {
        return Ok((serde_json::to_vec(record).map_err(|e| corrupt(&e))?, None));
    }
    let mut stored = record.clone();
    let chain = match stored.receipt.as_mut() {
        Some(receipt) => receipt_chains::detach(receipt)?,
        None => None,
    };
    Ok((serde_json::to_vec(&stored).map_err(|e| corrupt(&e))?, chain))
}

/// The key of a message: canonical sender, NUL, message id (neither contains NUL).
pub fn outbox_key(sender: &str, message_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(sender.len() + 1 + message_id.len());
    key.extend_from_slice(sender.as_bytes());
    key.push(0);
    key.extend_from_slice(message_id.as_bytes());
    key
}

impl OutboxStore {
    /// The outbox in `db`, whose tables [`super::Store::open`] created.
    pub(crate) fn open(db: ExchangeDb, space: SpaceGuard) -> OutboxStore {
        OutboxStore { db, space }
    }

    /// Stores a new record, its payload and its pending entry durably (one transaction), unless
    /// the key exists: then the first record is returned and nothing is written.
    ///
    /// # Errors
    /// [`StoreError::NoSpace`] for a new key while the disk is down to its reserve; storage
    /// failures, a corrupt existing record.
    pub async fn insert(
        &self,
        key: Vec<u8>,
        record: &OutboxRecord,
        payload: Vec<u8>,
    ) -> Result<Inserted, StoreError> {
        let (value, chain) = encode(record)?;
        let next = record.next_attempt_at.to_be_bytes();
        // New work only while the disk keeps its reserve (`space`); a resend of a stored key is
        // answered from the first record as before (looked up only when the disk is low). The
        // check that decides is the one inside the job: a key stored in between is found there.
        if let Err(full) = self.space.admit(payload.len() as u64) {
            if self.get_raw(&key)?.is_none() {
                return Err(full);
            }
        }
        let log = self.db.payloads().clone();
        let existing = self
            .db
            .write(WriteMode::Durable, move |txn| {
                let key = key.as_slice();
                let mut records = txn.open_table(RECORDS)?;
                if let Some(old) = records.get(key)? {
                    return Ok(Some(old.value().to_vec()));
                }
                payload_log::put(txn, &log, PAYLOAD_REFS, key, &payload)?;
                records.insert(key, value.as_slice())?;
                txn.open_table(PENDING)?.insert(key, &next[..])?;
                if let Some(chain) = &chain {
                    receipt_chains::keep(txn, chain)?;
                }
                Ok(None)
            })
            .await?;
        match existing {
            Some(old) => Ok(Inserted::Existing(Box::new(self.read_record(&old)?))),
            None => Ok(Inserted::New),
        }
    }

    /// Replaces the record durably; keeps it in the pending set while it is not terminal; once
    /// it is, drops the payload and indexes the record in `outbox_done` under its `updated_at`
    /// (same commit, so a terminal record is never durable without its index entry).
    ///
    /// # Errors
    /// Storage or sync failures.
    pub async fn update(&self, key: Vec<u8>, record: &OutboxRecord) -> Result<(), StoreError> {
        self.update_all(vec![(key, record)]).await
    }

    /// [`OutboxStore::update`] for several records in one job of the group commit: all are
    /// replaced, or none (the relay settles a peer's answer to a batch this way).
    ///
    /// # Errors
    /// Storage or sync failures.
    pub async fn update_all(
        &self,
        updates: Vec<(Vec<u8>, &OutboxRecord)>,
    ) -> Result<(), StoreError> {
        /// One record's writes, encoded before the job runs.
        struct Update {
            key: Vec<u8>,
            value: Vec<u8>,
            chain: Option<receipt_chains::Detached>,
            terminal: bool,
            next: [u8; 8],
            done_key: Vec<u8>,
        }
        let updates = updates
            .into_iter()
            .map(|(key, record)| {
                let (value, chain) = encode(record)?;
                Ok(Update {
                    done_key: expiry::index_key(record.updated_at, &key),
                    key,
                    value,
                    chain,
                    terminal: record.state.is_terminal(),
                    next: record.next_attempt_at.to_be_bytes(),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.db
            .write(WriteMode::Durable, move |txn| {
                let mut records = txn.open_table(RECORDS)?;
                let mut pending = txn.open_table(PENDING)?;
                let mut done = txn.open_table(DONE)?;
                for u in &updates {
                    let key = u.key.as_slice();
                    records.insert(key, u.value.as_slice())?;
                    if let Some(chain) = &u.chain {
                        receipt_chains::keep(txn, chain)?;
                    }
                    if u.terminal {
                        pending.remove(key)?;
                        payload_log::take(txn, PAYLOAD_REFS, PAYLOADS, key)?;
                        done.insert(u.done_key.as_slice(), &[][..])?;
                    } else {
                        pending.insert(key, &u.next[..])?;
                    }
                }
                Ok(())
            })
            .await
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
    pub fn get(&self, key: &[u8]) -> Result<Option<OutboxRecord>, StoreError> {
        self.get_raw(key)?.map(|b| self.read_record(&b)).transpose()
    }

    /// Decodes a stored record and puts its receipt's chain back (module `receipt_chains`).
    fn read_record(&self, bytes: &[u8]) -> Result<OutboxRecord, StoreError> {
        let mut record = decode(bytes)?;
        if let Some(receipt) = record.receipt.as_mut() {
            if receipt.seal_chain_sha256.is_some() {
                let read = self.db.read()?;
                receipt_chains::attach(&read.open_table(receipt_chains::CHAINS)?, receipt)?;
            }
        }
        Ok(record)
    }

    /// The payload under `key`, while the message is not terminal.
    ///
    /// # Errors
    /// Storage failures.
    pub fn payload(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let read = self.db.read()?;
        payload_log::get(&read, self.db.payloads(), PAYLOAD_REFS, PAYLOADS, key)
    }

    /// Keys of every non-terminal message with its next attempt time (Unix nanoseconds), at
    /// most `limit`.
    ///
    /// # Errors
    /// Storage failures.
    pub fn pending(&self, limit: usize) -> Result<Vec<(Vec<u8>, i64)>, StoreError> {
        let read = self.db.read()?;
        let pending = read.open_table(PENDING)?;
        let mut out = Vec::new();
        for item in pending.iter()?.take(limit) {
            let (k, v) = item?;
            let next = <[u8; 8]>::try_from(v.value()).map_or(0, i64::from_be_bytes);
            out.push((k.value().to_vec(), next));
        }
        Ok(out)
    }

    /// Removes terminal records that became terminal before `cutoff` (Unix nanoseconds),
    /// looking at most `max` entries of `outbox_done`, oldest first; returns how many records
    /// it removed. Each entry's record is read again and removed, with any payload or pending
    /// entry left under its key, only while it is still terminal with the entry's
    /// `updated_at`; an entry that does not match (no record, a record made terminal again
    /// later, a corrupt record, which is kept) is dropped without removing anything. One
    /// transaction per batch: the check and the removal are atomic against Submit's `insert`.
    ///
    /// Not durable by itself ([`WriteMode::Deferred`]: the next durable commit writes it): a
    /// purge lost in a crash is repeated by the next one. Blocking.
    ///
    /// # Errors
    /// Storage failures.
    pub fn purge_terminal_before(
        &self,
        cutoff: i64,
        max: usize,
    ) -> Result<expiry::Swept, StoreError> {
        self.db.write_blocking(WriteMode::Deferred, move |txn| {
            let mut done = txn.open_table(DONE)?;
            let mut records = txn.open_table(RECORDS)?;
            let mut pending = txn.open_table(PENDING)?;
            expiry::sweep(&mut done, cutoff, max, |at, key| {
                let due = records.get(key)?.is_some_and(|bytes| {
                    decode(bytes.value()).is_ok_and(|r| r.state.is_terminal() && r.updated_at == at)
                });
                if due {
                    payload_log::take(txn, PAYLOAD_REFS, PAYLOADS, key)?;
                    pending.remove(key)?;
                    records.remove(key)?;
                }
                Ok(due)
            })
        })
    }

    /// Entries of `outbox_done` (tests).
    #[cfg(test)]
    fn done_keys(&self) -> Vec<Vec<u8>> {
        let read = self.db.read().unwrap();
        let done = read.open_table(DONE).unwrap();
        assert_eq!(
            redb::ReadableTableMetadata::len(&done).unwrap() as usize,
            done.iter().unwrap().count()
        );
        done.iter()
            .unwrap()
            .map(|item| item.unwrap().0.value().to_vec())
            .collect()
    }

    /// Writes a raw `outbox_done` entry (tests: forged or stale index entries).
    #[cfg(test)]
    fn insert_done(&self, index_key: Vec<u8>) {
        self.db
            .write_blocking(WriteMode::Durable, move |txn| {
                txn.open_table(DONE)?
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

    fn record(id: &str) -> OutboxRecord {
        OutboxRecord {
            message_id: id.into(),
            sender: "hcid:FR:rpps:10003456789".into(),
            recipient: "hcid:BE:nihii-hospital:71000436".into(),
            peer: "BE".into(),
            payload_sha256: [1; 32],
            payload_size: 3,
            state: OutboxState::Accepted,
            attempts: 0,
            accepted_at: 1,
            updated_at: 1,
            next_attempt_at: 1,
            reason: None,
            journal_indexes: vec![],
            receipt: None,
        }
    }

    /// Inserts `rec` (payload "abc") under `key`, then another record under the same key: the
    /// first is new, the second gets the first back untouched.
    async fn insert_twice(outbox: &OutboxStore, key: &[u8], rec: &OutboxRecord) {
        assert_eq!(
            outbox
                .insert(key.to_vec(), rec, b"abc".to_vec())
                .await
                .unwrap(),
            Inserted::New
        );
        let mut other = rec.clone();
        other.payload_size = 9;
        assert_eq!(
            outbox
                .insert(key.to_vec(), &other, b"x".to_vec())
                .await
                .unwrap(),
            Inserted::Existing(Box::new(rec.clone()))
        );
    }

    #[tokio::test]
    async fn records_updated_together_each_keep_their_own_state() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let outbox = store.outbox().unwrap();
        let (kd, kr) = (outbox_key("s", "delivered"), outbox_key("s", "retried"));
        for (key, id) in [(&kd, "delivered"), (&kr, "retried")] {
            let mut rec = record(id);
            rec.journal_indexes.push(0);
            outbox
                .insert(key.clone(), &rec, b"abc".to_vec())
                .await
                .unwrap();
        }
        let mut delivered = record("delivered");
        delivered.state = OutboxState::Delivered;
        delivered.updated_at = 5;
        delivered.journal_indexes = vec![0, 1, 2];
        let mut retried = record("retried");
        retried.state = OutboxState::Forwarded;
        retried.next_attempt_at = 77;
        retried.attempts = 1;
        outbox
            .update_all(vec![(kd.clone(), &delivered), (kr.clone(), &retried)])
            .await
            .unwrap();
        assert_eq!(outbox.get(&kd).unwrap(), Some(delivered));
        assert_eq!(outbox.get(&kr).unwrap(), Some(retried));
        // The terminal one left the pending set and gave its payload up; the other waits.
        assert_eq!(outbox.pending(10).unwrap(), vec![(kr.clone(), 77)]);
        assert_eq!(outbox.payload(&kd).unwrap(), None);
        assert_eq!(outbox.payload(&kr).unwrap().as_deref(), Some(&b"abc"[..]));
        // And it is indexed for the retention purge, the other is not.
        let swept = outbox.purge_terminal_before(i64::MAX, 10).unwrap();
        assert_eq!((swept.examined, swept.purged), (1, 1));
        assert_eq!(outbox.get(&kd).unwrap(), None);
        assert!(outbox.get(&kr).unwrap().is_some());
    }

    #[tokio::test]
    async fn receipt_chains_are_stored_once_and_read_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let chain = vec![vec![0x30; 700], vec![0x31; 500]];
        let mut delivered = Vec::new();
        {
            let store = Store::open(dir.path()).unwrap();
            let outbox = store.outbox().unwrap();
            for id in ["a", "b"] {
                let key = outbox_key("s", id);
                let mut rec = record(id);
                rec.journal_indexes.push(0);
                outbox
                    .insert(key.clone(), &rec, b"p".to_vec())
                    .await
                    .unwrap();
                rec.state = OutboxState::Delivered;
                rec.receipt = Some(StoredReceipt {
                    signed_content: id.as_bytes().to_vec(),
                    signature: vec![9; 64],
                    seal_chain: chain.clone(),
                    seal_chain_sha256: None,
                    batch: None,
                });
                outbox.update(key.clone(), &rec).await.unwrap();
                // The stored form refers to the chain; it does not hold it.
                let raw = String::from_utf8(outbox.get_raw(&key).unwrap().unwrap()).unwrap();
                assert!(raw.contains("\"seal_chain\":[]"), "{raw}");
                assert!(raw.contains("seal_chain_sha256"), "{raw}");
                delivered.push((key, rec));
            }
            let read = outbox.db.read().unwrap();
            let chains = read.open_table(receipt_chains::CHAINS).unwrap();
            assert_eq!(redb::ReadableTableMetadata::len(&chains).unwrap(), 1);
        }
        // After a reopen every record reads back whole, chain included.
        let store = Store::open(dir.path()).unwrap();
        let outbox = store.outbox().unwrap();
        for (key, rec) in delivered {
            assert_eq!(outbox.get(&key).unwrap().unwrap(), rec);
        }
    }

    #[tokio::test]
    async fn first_insert_wins_and_terminal_records_leave_pending() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let outbox = store.outbox().unwrap();
        let key = outbox_key("s", "m");
        let mut rec = record("m");
        insert_twice(&outbox, &key, &rec).await;
        assert_eq!(outbox.pending(10).unwrap(), vec![(key.clone(), 1)]);
        rec.attempts = 1;
        rec.next_attempt_at = 2;
        outbox.update(key.clone(), &rec).await.unwrap();
        assert_eq!(outbox.pending(10).unwrap(), vec![(key.clone(), 2)]);
        assert_eq!(outbox.payload(&key).unwrap().unwrap(), b"abc");
        rec.state = OutboxState::Delivered;
        outbox.update(key.clone(), &rec).await.unwrap();
        assert!(outbox.pending(10).unwrap().is_empty());
        assert_eq!(outbox.payload(&key).unwrap(), None);
        assert_eq!(
            outbox.get(&key).unwrap().unwrap().state,
            OutboxState::Delivered
        );
    }

    #[tokio::test]
    async fn inserted_record_is_first_wins_and_durable() {
        let dir = tempfile::tempdir().unwrap();
        let key = outbox_key("s", "m");
        let mut rec = record("m");
        rec.journal_indexes.push(7);
        {
            let store = Store::open(dir.path()).unwrap();
            let outbox = store.outbox().unwrap();
            insert_twice(&outbox, &key, &rec).await;
            assert_eq!(outbox.payload(&key).unwrap().unwrap(), b"abc");
        }
        let store = Store::open(dir.path()).unwrap();
        let outbox = store.outbox().unwrap();
        assert_eq!(outbox.get(&key).unwrap().unwrap(), rec);
        assert_eq!(outbox.payload(&key).unwrap().unwrap(), b"abc");
        assert_eq!(outbox.pending(10).unwrap(), vec![(key, 1)]);
    }
    /// Inserts `id` and makes it terminal in `state` at `at`.
    async fn terminal(outbox: &OutboxStore, id: &str, state: OutboxState, at: i64) -> Vec<u8> {
        let key = outbox_key("s", id);
        let mut rec = record(id);
        outbox
            .insert(key.clone(), &rec, b"p".to_vec())
            .await
            .unwrap();
        rec.journal_indexes.push(0);
        outbox.update(key.clone(), &rec).await.unwrap();
        rec.state = state;
        rec.updated_at = at;
        outbox.update(key.clone(), &rec).await.unwrap();
        key
    }

    #[tokio::test]
    async fn purge_removes_terminal_records_before_the_cutoff_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let outbox = store.outbox().unwrap();
        let old = terminal(&outbox, "old", OutboxState::Delivered, 100).await;
        let failed = terminal(&outbox, "failed", OutboxState::Failed, 150).await;
        let young = terminal(&outbox, "young", OutboxState::Delivered, 200).await;
        // Non-terminal, accepted long before the cutoff: never purged.
        let waiting = outbox_key("s", "waiting");
        let mut rec = record("waiting");
        outbox
            .insert(waiting.clone(), &rec, b"w".to_vec())
            .await
            .unwrap();
        rec.journal_indexes.push(0);
        outbox.update(waiting.clone(), &rec).await.unwrap();

        assert_eq!(outbox.purge_terminal_before(200, 10).unwrap().purged, 2);
        assert_eq!(outbox.get(&old).unwrap(), None);
        assert_eq!(outbox.get(&failed).unwrap(), None);
        assert_eq!(
            outbox.get(&young).unwrap().unwrap().state,
            OutboxState::Delivered
        );
        assert_eq!(
            outbox.get(&waiting).unwrap().unwrap().state,
            OutboxState::Accepted
        );
        assert_eq!(outbox.payload(&waiting).unwrap().unwrap(), b"w");
        assert_eq!(outbox.pending(10).unwrap(), vec![(waiting.clone(), 1)]);
        // The index entries of what was purged are gone: nothing left to do below 200.
        assert_eq!(outbox.done_keys().len(), 1);
        assert_eq!(outbox.purge_terminal_before(200, 10).unwrap().purged, 0);
        assert_eq!(
            outbox.purge_terminal_before(i64::MAX, 10).unwrap().purged,
            1
        );
        assert_eq!(outbox.get(&young).unwrap(), None);
        assert!(outbox.get(&waiting).unwrap().is_some());
        // A purged message id is free again: inserting it is a new message.
        assert_eq!(
            outbox
                .insert(old, &record("old"), b"again".to_vec())
                .await
                .unwrap(),
            Inserted::New
        );
    }

    #[tokio::test]
    async fn purge_walks_at_most_max_entries_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let outbox = store.outbox().unwrap();
        let mut keys = Vec::new();
        for (i, at) in [30, 10, 20].into_iter().enumerate() {
            keys.push(terminal(&outbox, &format!("m{i}"), OutboxState::Delivered, at).await);
        }
        assert_eq!(outbox.purge_terminal_before(100, 2).unwrap().purged, 2);
        // The two oldest (10 and 20) went; the one at 30 waits for the next batch.
        assert_eq!(outbox.get(&keys[1]).unwrap(), None);
        assert_eq!(outbox.get(&keys[2]).unwrap(), None);
        assert!(outbox.get(&keys[0]).unwrap().is_some());
        assert_eq!(outbox.purge_terminal_before(100, 2).unwrap().purged, 1);
    }

    #[tokio::test]
    async fn stale_index_entries_are_dropped_without_removing_anything() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let outbox = store.outbox().unwrap();
        // An entry whose record is gone, one whose record is not terminal, one whose record
        // became terminal again later (its newer entry is the one that counts), and a key too
        // short to hold an instant.
        outbox.insert_done(expiry::index_key(5, &outbox_key("s", "gone")));
        let live = outbox_key("s", "live");
        let mut rec = record("live");
        outbox
            .insert(live.clone(), &rec, b"l".to_vec())
            .await
            .unwrap();
        rec.journal_indexes.push(0);
        outbox.update(live.clone(), &rec).await.unwrap();
        outbox.insert_done(expiry::index_key(6, &live));
        let later = terminal(&outbox, "later", OutboxState::Failed, 7).await;
        let mut rec = outbox.get(&later).unwrap().unwrap();
        rec.updated_at = 500;
        outbox.update(later.clone(), &rec).await.unwrap();
        outbox.insert_done(b"x".to_vec());

        // Four entries examined, none purged: a batch of two says more may be due although it
        // purged nothing, so a sweep goes on past stale entries to the records behind them.
        assert_eq!(
            outbox.purge_terminal_before(100, 2).unwrap(),
            expiry::Swept {
                examined: 2,
                purged: 0
            }
        );
        assert_eq!(
            outbox.purge_terminal_before(100, 10).unwrap(),
            expiry::Swept {
                examined: 2,
                purged: 0
            }
        );
        assert!(outbox.get(&live).unwrap().is_some());
        assert_eq!(outbox.payload(&live).unwrap().unwrap(), b"l");
        assert_eq!(outbox.get(&later).unwrap().unwrap().updated_at, 500);
        // Only the newer entry of `later` is left.
        assert_eq!(outbox.done_keys(), vec![expiry::index_key(500, &later)]);
        assert_eq!(outbox.purge_terminal_before(501, 10).unwrap().purged, 1);
    }
}
