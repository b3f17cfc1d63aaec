//! One-time move of the outbox and inbox from sled trees (where bridges before the exchange
//! database kept them) into the exchange database, so that an upgrade keeps the messages still in
//! flight, the unacknowledged inbox and the records that answer resends.
//!
//! Crash-safe in two steps: the copy and a mark in the `meta` table commit in one durable redb
//! transaction; then the sled trees are dropped through sled's `GroupCommit` (flushed and
//! synced). A crash between the two leaves the mark, and the next open only drops the trees: it
//! never copies them over newer exchange state.

use super::exchange_db::{ExchangeDb, Table, WriteMode, META};
use super::{inbox, GroupCommit, StoreError};

/// The key in `meta` marking the copy done.
const MIGRATED: &[u8] = b"migrated_from_sled";

/// The sled trees of the outbox and inbox, and the tables that replace them.
const TREES: [(&str, &str); 8] = [
    ("outbox.records", "outbox_records"),
    ("outbox.payloads", "outbox_payloads"),
    ("outbox.pending", "outbox_pending"),
    ("outbox.done", "outbox_done"),
    ("inbox.records", "inbox_records"),
    ("inbox.payloads", "inbox_payloads"),
    ("inbox.unacked", "inbox_unacked"),
    ("inbox.acked", "inbox_acked"),
];

/// Moves whatever the sled trees of [`TREES`] hold into the exchange database (module doc).
/// Returns how many entries it copied (0 when there was nothing to move).
///
/// # Errors
/// Storage failures of either database.
pub(super) fn from_sled(
    sled: &sled::Db,
    commit: &GroupCommit,
    exchange: &ExchangeDb,
) -> Result<usize, StoreError> {
    let names = sled.tree_names();
    let present = TREES
        .iter()
        .any(|(tree, _)| names.iter().any(|n| n.as_ref() == tree.as_bytes()));
    if !present {
        return Ok(0);
    }
    let copied = {
        let read = exchange.read()?;
        let done = read.open_table(META)?.get(MIGRATED)?.is_some();
        if done {
            0
        } else {
            copy(sled, exchange)?
        }
    };
    // Every tree of the list, not only those found: `copy` opened (created) the others.
    commit.write_blocking(move |db| {
        for (tree, _) in TREES {
            db.drop_tree(tree.as_bytes())?;
        }
        Ok(())
    })?;
    tracing::info!(
        entries = copied,
        "moved the outbox and inbox from sled to the exchange database"
    );
    Ok(copied)
}

/// Copies every entry of the sled trees and marks the copy done, in one durable transaction.
fn copy(sled: &sled::Db, exchange: &ExchangeDb) -> Result<usize, StoreError> {
    let mut trees = Vec::new();
    for (tree, table) in TREES {
        trees.push((sled.open_tree(tree)?, Table::new(table)));
    }
    // sled drew the inbox's arrival sequences with `generate_id`: the next one it would give is
    // above every sequence it gave.
    let next_seq = sled.generate_id()?;
    exchange.write_blocking(WriteMode::Durable, move |txn| {
        let mut copied = 0;
        for (tree, def) in &trees {
            let mut table = txn.open_table(*def)?;
            for item in tree.iter() {
                let (k, v) = item?;
                table.insert(k.as_ref(), v.as_ref())?;
                copied += 1;
            }
        }
        let mut meta = txn.open_table(META)?;
        meta.insert(inbox::NEXT_SEQ, &next_seq.to_be_bytes()[..])?;
        meta.insert(MIGRATED, &[][..])?;
        Ok(copied)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::inbox::{inbox_key, InboxRecord};
    use crate::store::outbox::{outbox_key, OutboxRecord, OutboxState, StoredReceipt};
    use crate::store::Store;

    fn outbox_record() -> OutboxRecord {
        OutboxRecord {
            message_id: "m".into(),
            sender: "s".into(),
            recipient: "hcid:BE:nihii-hospital:71000436".into(),
            peer: "BE".into(),
            payload_sha256: [1; 32],
            payload_size: 3,
            state: OutboxState::Accepted,
            attempts: 0,
            accepted_at: 1,
            updated_at: 1,
            next_attempt_at: 9,
            reason: None,
            journal_indexes: vec![0],
            receipt: None,
        }
    }

    fn inbox_record(seq: u64) -> InboxRecord {
        InboxRecord {
            message_id: "i".into(),
            sender: "hcid:FR:rpps:10003456789".into(),
            recipient: "hcid:BE:nihii-hospital:71000436".into(),
            origin_peer: "FR".into(),
            payload_sha256: [2; 32],
            received_at: 5,
            journal_index: 1,
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

    #[tokio::test]
    async fn an_upgrade_keeps_the_messages_in_sled_trees_and_drops_the_trees() {
        let dir = tempfile::tempdir().unwrap();
        let out_key = outbox_key("s", "m");
        let in_key = inbox_key("FR", "hcid:FR:rpps:10003456789", "i");
        let seq;
        {
            // A store as a bridge before the exchange database left it.
            let db = sled::open(dir.path().join("store")).unwrap();
            let tree = |name: &str| db.open_tree(name).unwrap();
            let rec = serde_json::to_vec(&outbox_record()).unwrap();
            tree("outbox.records").insert(&out_key, rec).unwrap();
            tree("outbox.payloads").insert(&out_key, b"abc").unwrap();
            tree("outbox.pending")
                .insert(&out_key, &9i64.to_be_bytes())
                .unwrap();
            seq = db.generate_id().unwrap();
            let rec = serde_json::to_vec(&inbox_record(seq)).unwrap();
            tree("inbox.records").insert(&in_key, rec).unwrap();
            tree("inbox.payloads").insert(&in_key, b"in").unwrap();
            tree("inbox.unacked")
                .insert(seq.to_be_bytes(), in_key.clone())
                .unwrap();
            db.flush().unwrap();
        }
        for _ in 0..2 {
            // The second open finds nothing left to move and changes nothing.
            let store = Store::open(dir.path()).unwrap();
            let outbox = store.outbox().unwrap();
            assert_eq!(outbox.get(&out_key).unwrap().unwrap(), outbox_record());
            assert_eq!(outbox.payload(&out_key).unwrap().unwrap(), b"abc");
            assert_eq!(outbox.pending(10).unwrap(), vec![(out_key.clone(), 9)]);
            let inbox = store.inbox().unwrap();
            let waiting = inbox.unacked_after(None, 10).unwrap();
            assert_eq!(waiting, vec![(inbox_record(seq), b"in".to_vec())]);
            for (tree, _) in TREES {
                assert!(!store.db().tree_names().iter().any(|n| n == tree.as_bytes()));
            }
        }
        // New arrivals are sequenced after the moved ones.
        let store = Store::open(dir.path()).unwrap();
        let inbox = store.inbox().unwrap();
        let next = inbox
            .insert(
                inbox_key("FR", "hcid:FR:rpps:10003456789", "j"),
                &inbox_record(0),
                b"j".to_vec(),
            )
            .await
            .unwrap()
            .unwrap();
        assert!(next > seq, "{next} > {seq}");
    }

    #[test]
    fn a_store_without_the_old_trees_moves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(
            from_sled(store.db(), store.commit(), &store.exchange).unwrap(),
            0
        );
    }
}
