//! The seal chains of stored receipts, each kept once in the exchange database's
//! `receipt_chains` table (SHA-256 of the encoded chain -> encoded chain).
//!
//! Every outbox and inbox record holds the receipt that answered it, and every receipt carries
//! the signer's certificate chain: about 1.5 KB of DER, 2 KB as base64 in the JSON record,
//! although a peer signs all its receipts with one chain (two during a key rollover). Stored
//! inline it was most of each record's bytes, written again with every update and read back with
//! every lookup; `bench submit` measured 6% of an exchange's CPU on it. So the writers
//! [`detach`] the chain and store it here, the record keeps its digest
//! ([`StoredReceipt::seal_chain_sha256`]), and the readers [`attach`] it again: callers of the
//! outbox and inbox see whole receipts. Records written before this form, with the chain inline,
//! read as they are.
//!
//! Chains are never removed: there are a handful per peer and key generation. They are encoded
//! and addressed as in the evidence archive (`journal::evidence::encode_chain`, `chain_digest`).

use std::sync::{Arc, Mutex, PoisonError};

use redb::{ReadableTable, TableDefinition, WriteTransaction};

use super::exchange_db::Table;
use super::outbox::StoredReceipt;
use super::StoreError;
use crate::journal::evidence::{chain_digest, decode_chain, encode_chain};

const CHAINS_NAME: &str = "receipt_chains";
/// The table, created when the exchange database is opened.
pub(super) const CHAINS: Table = TableDefinition::new(CHAINS_NAME);

/// A chain taken out of a receipt, to store under its digest.
#[derive(Debug, Clone)]
pub(super) struct Detached {
    digest: [u8; 32],
    encoded: Arc<[u8]>,
}

/// The chains detached last, with their encodings: every receipt of a peer carries the same
/// chain, so a comparison replaces encoding and hashing it again for each record.
static RECENT: Mutex<Vec<(Vec<Vec<u8>>, Detached)>> = Mutex::new(Vec::new());

/// Chains remembered in [`RECENT`]: a few peers, two chains each during a key rollover.
const RECENT_CHAINS: usize = 8;

fn corrupt(detail: &str) -> StoreError {
    StoreError::Corrupt {
        tree: CHAINS_NAME,
        detail: detail.to_owned(),
    }
}

/// Takes the chain out of `receipt` (leaving its digest in its place), unless it is empty or
/// already taken out.
///
/// # Errors
/// [`StoreError::Corrupt`] for a chain the evidence encoding refuses (over
/// `MAX_EVIDENCE_CERTS` certificates, which no trusted receipt has).
pub(super) fn detach(receipt: &mut StoredReceipt) -> Result<Option<Detached>, StoreError> {
    if receipt.seal_chain.is_empty() {
        return Ok(None);
    }
    // A poisoned lock only means a panic while pushing or rotating whole entries.
    let mut recent = RECENT.lock().unwrap_or_else(PoisonError::into_inner);
    let detached = match recent
        .iter()
        .find(|(chain, _)| *chain == receipt.seal_chain)
    {
        Some((_, d)) => d.clone(),
        None => {
            let encoded = encode_chain(&receipt.seal_chain).map_err(|e| corrupt(&e.to_string()))?;
            let d = Detached {
                digest: chain_digest(&encoded),
                encoded: encoded.into(),
            };
            if recent.len() == RECENT_CHAINS {
                recent.remove(0);
            }
            recent.push((receipt.seal_chain.clone(), d.clone()));
            d
        }
    };
    drop(recent);
    receipt.seal_chain.clear();
    receipt.seal_chain_sha256 = Some(detached.digest);
    Ok(Some(detached))
}

/// Stores a detached chain, inside the transaction of the record that refers to it.
///
/// # Errors
/// Storage failures.
pub(super) fn keep(txn: &WriteTransaction, chain: &Detached) -> Result<(), StoreError> {
    let mut chains = txn.open_table(CHAINS)?;
    if chains.get(&chain.digest[..])?.is_none() {
        chains.insert(&chain.digest[..], &chain.encoded[..])?;
    }
    Ok(())
}

/// Puts the chain `receipt` refers to back in place, from `chains`.
///
/// # Errors
/// [`StoreError::Corrupt`] for a chain that is missing, undecodable or not the one referred to.
pub(super) fn attach(
    chains: &impl ReadableTable<&'static [u8], &'static [u8]>,
    receipt: &mut StoredReceipt,
) -> Result<(), StoreError> {
    let Some(digest) = receipt.seal_chain_sha256 else {
        return Ok(());
    };
    let stored = chains
        .get(&digest[..])?
        .ok_or_else(|| corrupt("a record refers to a chain that is not stored"))?;
    if chain_digest(stored.value()) != digest {
        return Err(corrupt("a stored chain does not match its digest"));
    }
    receipt.seal_chain = decode_chain(stored.value()).map_err(|e| corrupt(&e.to_string()))?;
    receipt.seal_chain_sha256 = None;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt(chain: Vec<Vec<u8>>) -> StoredReceipt {
        StoredReceipt {
            signed_content: vec![1],
            signature: vec![2],
            seal_chain: chain,
            seal_chain_sha256: None,
            batch: None,
        }
    }

    #[test]
    fn a_chain_detached_again_has_the_same_digest_and_another_chain_its_own() {
        let chain = vec![vec![3; 50], vec![4; 30]];
        let first = detach(&mut receipt(chain.clone())).unwrap().unwrap();
        let again = detach(&mut receipt(chain.clone())).unwrap().unwrap();
        assert_eq!(
            (again.digest, &again.encoded),
            (first.digest, &first.encoded)
        );
        let mut other_chain = chain;
        other_chain[1][0] = 5;
        let other = detach(&mut receipt(other_chain.clone())).unwrap().unwrap();
        assert_ne!(other.digest, first.digest);
        assert_eq!(decode_chain(&other.encoded).unwrap(), other_chain);
        assert_eq!(other.digest, chain_digest(&other.encoded));
    }

    #[test]
    fn detach_keeps_the_digest_and_an_empty_chain_stays() {
        let chain = vec![vec![7; 40], vec![8; 20]];
        let mut r = receipt(chain.clone());
        let d = detach(&mut r).unwrap().unwrap();
        assert!(r.seal_chain.is_empty());
        assert_eq!(r.seal_chain_sha256, Some(d.digest));
        assert_eq!(decode_chain(&d.encoded).unwrap(), chain);
        // Detached already: nothing more to take out.
        assert!(detach(&mut r).unwrap().is_none());
        assert!(detach(&mut receipt(Vec::new())).unwrap().is_none());
    }
}
