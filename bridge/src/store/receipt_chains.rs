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
//! Chains are never removed: there are a handful per peer and key generation.
//!
//! Encoding: each certificate as a big-endian `u32` length and its DER bytes.

use redb::{ReadableTable, TableDefinition, WriteTransaction};
use sha2::{Digest, Sha256};

use super::exchange_db::Table;
use super::outbox::StoredReceipt;
use super::StoreError;

const CHAINS_NAME: &str = "receipt_chains";
/// The table, created when the exchange database is opened.
pub(super) const CHAINS: Table = TableDefinition::new(CHAINS_NAME);

/// A chain taken out of a receipt, to store under its digest.
#[derive(Debug, Clone)]
pub(super) struct Detached {
    digest: [u8; 32],
    encoded: Vec<u8>,
}

fn corrupt(detail: &str) -> StoreError {
    StoreError::Corrupt {
        tree: CHAINS_NAME,
        detail: detail.to_owned(),
    }
}

fn encode(chain: &[Vec<u8>]) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::with_capacity(chain.iter().map(|c| c.len() + 4).sum());
    for cert in chain {
        let len = u32::try_from(cert.len()).map_err(|_| corrupt("certificate over 4 GiB"))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(cert);
    }
    Ok(out)
}

fn decode(mut bytes: &[u8]) -> Result<Vec<Vec<u8>>, StoreError> {
    let mut chain = Vec::new();
    while !bytes.is_empty() {
        let (len, rest) = bytes
            .split_first_chunk::<4>()
            .ok_or_else(|| corrupt("truncated length"))?;
        let len = u32::from_be_bytes(*len) as usize;
        if rest.len() < len {
            return Err(corrupt("truncated certificate"));
        }
        let (cert, rest) = rest.split_at(len);
        chain.push(cert.to_vec());
        bytes = rest;
    }
    Ok(chain)
}

/// Takes the chain out of `receipt` (leaving its digest in its place), unless it is empty or
/// already taken out.
///
/// # Errors
/// [`StoreError::Corrupt`] for a certificate over 4 GiB.
pub(super) fn detach(receipt: &mut StoredReceipt) -> Result<Option<Detached>, StoreError> {
    if receipt.seal_chain.is_empty() {
        return Ok(None);
    }
    let encoded = encode(&receipt.seal_chain)?;
    let digest: [u8; 32] = Sha256::digest(&encoded).into();
    receipt.seal_chain.clear();
    receipt.seal_chain_sha256 = Some(digest);
    Ok(Some(Detached { digest, encoded }))
}

/// Stores a detached chain, inside the transaction of the record that refers to it.
///
/// # Errors
/// Storage failures.
pub(super) fn keep(txn: &WriteTransaction, chain: &Detached) -> Result<(), StoreError> {
    let mut chains = txn.open_table(CHAINS)?;
    if chains.get(&chain.digest[..])?.is_none() {
        chains.insert(&chain.digest[..], chain.encoded.as_slice())?;
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
    if <[u8; 32]>::from(Sha256::digest(stored.value())) != digest {
        return Err(corrupt("a stored chain does not match its digest"));
    }
    receipt.seal_chain = decode(stored.value())?;
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
    fn encoding_round_trips_and_refuses_truncation() {
        let chain = vec![vec![1, 2, 3], Vec::new(), vec![9; 300]];
        let bytes = encode(&chain).unwrap();
        assert_eq!(decode(&bytes).unwrap(), chain);
        for cut in 1..bytes.len() {
            if let Ok(shorter) = decode(&bytes[..cut]) {
                // A cut on a certificate boundary is a shorter chain, never the same one.
                assert_ne!(shorter, chain);
            }
        }
        assert!(decode(&[0, 0, 0, 5, 1]).is_err());
    }

    #[test]
    fn detach_keeps_the_digest_and_an_empty_chain_stays() {
        let chain = vec![vec![7; 40], vec![8; 20]];
        let mut r = receipt(chain.clone());
        let d = detach(&mut r).unwrap().unwrap();
        assert!(r.seal_chain.is_empty());
        assert_eq!(r.seal_chain_sha256, Some(d.digest));
        assert_eq!(decode(&d.encoded).unwrap(), chain);
        // Detached already: nothing more to take out.
        assert!(detach(&mut r).unwrap().is_none());
        assert!(detach(&mut receipt(Vec::new())).unwrap().is_none());
    }
}
