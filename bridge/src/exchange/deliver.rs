//! The receiving side: a peer bridge's sealed envelope is checked (caller, seal, chain, digest),
//! stored in the inbox, journaled `received` and answered with a signed receipt; the local
//! operator then reads the inbox and acknowledges. Also the sender's check of a receipt.

use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use trust_lists::Usage;

use super::service::unix_nanos;
use super::trust::trusted_for;
use super::{
    Exchange, ExchangeError, PeerTrust, ReceiptContent, SealErrorKind, SealedContent, SignerKeys,
};
use crate::addressing::{Participant, Space};
use crate::error::Result;
use crate::journal::{Decision, EntryKind, JournalEntry, PayloadDigest};
use crate::store::inbox::{inbox_key, InboxRecord};
use crate::store::outbox::{OutboxRecord, StoredReceipt};

/// A sealed envelope as a peer sent it (the unsigned fields merely have to agree with the seal).
#[derive(Clone, PartialEq, Eq)]
pub struct SealedDelivery {
    /// Message id (unsigned copy).
    pub message_id: String,
    /// Canonical sender (unsigned copy).
    pub sender_hcid: String,
    /// Canonical recipient (unsigned copy).
    pub recipient_hcid: String,
    /// The payload.
    pub payload: Vec<u8>,
    /// Its SHA-256 (unsigned copy).
    pub payload_sha256: Vec<u8>,
    /// Origin bridge (unsigned copy).
    pub origin_peer: String,
    /// The sealed canonical content.
    pub sealed_content: Vec<u8>,
    /// The seal over it.
    pub seal: Vec<u8>,
    /// The sender's seal chain, DER, leaf first.
    pub seal_chain: Vec<Vec<u8>>,
}

impl std::fmt::Debug for SealedDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedDelivery")
            .field("message_id", &self.message_id)
            .field("origin_peer", &self.origin_peer)
            .field("payload_size", &self.payload.len())
            .finish_non_exhaustive()
    }
}

/// A message for the local operator, addresses rendered in the local space.
#[derive(Clone, PartialEq, Eq)]
pub struct Inbound {
    /// The stored record.
    pub record: InboxRecord,
    /// Sender in the local space (canonical when it has no form there).
    pub sender: (Space, String),
    /// Recipient in the local space.
    pub recipient: (Space, String),
    /// The payload.
    pub payload: Vec<u8>,
}

impl std::fmt::Debug for Inbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbound")
            .field("message_id", &self.record.message_id)
            .field("payload_size", &self.payload.len())
            .finish_non_exhaustive()
    }
}

fn seal_err(what: &'static str) -> impl Fn(SealErrorKind) -> ExchangeError {
    move |kind| ExchangeError::Seal { what, kind }
}

/// Verifies `signature` over `content` with the key of `chain`'s leaf, from `keys`.
fn verify_leaf(
    keys: &SignerKeys,
    chain: &[Vec<u8>],
    content: &[u8],
    signature: &[u8],
    what: &'static str,
) -> Result<(), ExchangeError> {
    let leaf = chain.first().ok_or(ExchangeError::Seal {
        what,
        kind: SealErrorKind::UnsupportedKey,
    })?;
    keys.verify(leaf, content, signature)
        .map_err(seal_err(what))
}

/// Checks a seal or receipt chain: trusted for qualified seals at `at`, from `peer`'s list.
fn check_chain(
    trust: &dyn PeerTrust,
    chain: &[Vec<u8>],
    at: OffsetDateTime,
    peer: &str,
    what: &'static str,
) -> Result<(), ExchangeError> {
    trusted_for(trust, chain, at, Usage::QSeal, peer).map_err(|reasons| ExchangeError::Untrusted {
        what,
        peer: peer.to_owned(),
        reasons,
    })
}

/// The sender's check of a receipt for `record`: canonical content, fields agree with what was
/// sent, the signature verifies with the chain's leaf, and the chain is a qualified seal of the
/// peer's country at `at`.
///
/// # Errors
/// [`ExchangeError::Seal`] (`what = "receipt"`) or [`ExchangeError::Untrusted`].
pub fn verify_receipt(
    receipt: &StoredReceipt,
    record: &OutboxRecord,
    local_peer: &str,
    trust: &dyn PeerTrust,
    at: OffsetDateTime,
) -> Result<ReceiptContent, ExchangeError> {
    verify_receipt_with(&SignerKeys::new(), receipt, record, local_peer, trust, at)
}

/// [`verify_receipt`] taking the signer's key from `keys` (the relay's cache), so a peer's seal
/// certificate is decoded once rather than per receipt; the chain is still validated at `at`.
///
/// # Errors
/// As [`verify_receipt`].
pub fn verify_receipt_with(
    keys: &SignerKeys,
    receipt: &StoredReceipt,
    record: &OutboxRecord,
    local_peer: &str,
    trust: &dyn PeerTrust,
    at: OffsetDateTime,
) -> Result<ReceiptContent, ExchangeError> {
    let what = "receipt";
    let content = ReceiptContent::decode(&receipt.signed_content).map_err(seal_err(what))?;
    let mismatch = |field| ExchangeError::Seal {
        what,
        kind: SealErrorKind::Mismatch(field),
    };
    if content.message_id != record.message_id {
        return Err(mismatch("message_id"));
    }
    if content.origin_peer != local_peer {
        return Err(mismatch("origin_peer"));
    }
    if content.receiver_peer != record.peer {
        return Err(mismatch("receiver_peer"));
    }
    if content.payload_sha256 != record.payload_sha256 {
        return Err(mismatch("payload_sha256"));
    }
    verify_leaf(
        keys,
        &receipt.seal_chain,
        &receipt.signed_content,
        &receipt.signature,
        what,
    )?;
    check_chain(trust, &receipt.seal_chain, at, &record.peer, what)?;
    Ok(content)
}

/// The checks of a sealed envelope from the authenticated peer `caller` that need no stored
/// state (steps 2 to 4 of [`Exchange::deliver`]): the sealed content decodes strictly and names
/// `caller` as origin and `local_peer` as destination, the unsigned copies and the payload agree
/// with it, the seal verifies with the chain's leaf, the chain is a qualified seal of `caller`'s
/// list at `at`, and the message id is one this bridge accepts.
///
/// # Errors
/// [`ExchangeError::WrongPeer`], [`ExchangeError::Seal`] (`what = "seal"`),
/// [`ExchangeError::Untrusted`] or the message id refusal.
pub fn verify_sealed(
    d: &SealedDelivery,
    caller: &str,
    local_peer: &str,
    trust: &dyn PeerTrust,
    at: OffsetDateTime,
) -> Result<SealedContent, ExchangeError> {
    verify_sealed_with(&SignerKeys::new(), d, caller, local_peer, trust, at)
}

/// [`verify_sealed`] with the signers' public keys taken from (and added to) `keys`, so that a
/// peer's seal certificate is decoded once, not per message.
///
/// # Errors
/// As [`verify_sealed`].
pub fn verify_sealed_with(
    keys: &SignerKeys,
    d: &SealedDelivery,
    caller: &str,
    local_peer: &str,
    trust: &dyn PeerTrust,
    at: OffsetDateTime,
) -> Result<SealedContent, ExchangeError> {
    let what = "seal";
    // 2. The sealed bytes are the bytes used: decode them strictly.
    let content = SealedContent::decode(&d.sealed_content).map_err(seal_err(what))?;
    if content.origin_peer != caller {
        return Err(ExchangeError::WrongPeer {
            field: "origin_peer",
            got: content.origin_peer,
            want: caller.to_owned(),
        });
    }
    if content.destination_peer != local_peer {
        return Err(ExchangeError::WrongPeer {
            field: "destination_peer",
            got: content.destination_peer,
            want: local_peer.to_owned(),
        });
    }
    // 3. The unsigned fields agree with the sealed ones, and the payload with its digest.
    let mismatch = |field| ExchangeError::Seal {
        what,
        kind: SealErrorKind::Mismatch(field),
    };
    let fields = [
        ("message_id", d.message_id == content.message_id),
        ("sender_hcid", d.sender_hcid == content.sender_hcid),
        ("recipient_hcid", d.recipient_hcid == content.recipient_hcid),
        ("origin_peer", d.origin_peer == content.origin_peer),
        ("payload_sha256", d.payload_sha256 == content.payload_sha256),
        (
            "payload_size",
            d.payload.len() as u64 == content.payload_size,
        ),
        (
            "payload",
            <[u8; 32]>::from(Sha256::digest(&d.payload)) == content.payload_sha256,
        ),
    ];
    if let Some((field, _)) = fields.iter().find(|(_, ok)| !ok) {
        return Err(mismatch(field));
    }
    // 4. The seal verifies, and its chain is a qualified seal of the origin's country.
    verify_leaf(keys, &d.seal_chain, &d.sealed_content, &d.seal, what)?;
    check_chain(trust, &d.seal_chain, at, caller, what)?;
    super::check_message_id(&content.message_id)?;
    Ok(content)
}

impl Exchange {
    /// Checks and accepts a sealed envelope from the authenticated peer `caller` (its country),
    /// at `at`. A redelivery of the same (origin, message id) returns the stored receipt.
    ///
    /// # Errors
    /// [`ExchangeError::UnknownPeer`], [`ExchangeError::WrongPeer`], [`ExchangeError::Seal`],
    /// [`ExchangeError::Untrusted`], address refusals, storage and journal failures.
    pub async fn deliver(
        &self,
        d: SealedDelivery,
        caller: Option<&str>,
        at: OffsetDateTime,
    ) -> Result<(ReceiptContent, StoredReceipt)> {
        // 1. The caller is a configured peer (its TLS chain was validated by the access layer).
        let caller = caller
            .filter(|c| self.settings.peers.get(c).is_some())
            .ok_or(ExchangeError::UnknownPeer)?;
        // 2.-4. Sealed content, field agreement, seal and chain.
        let content = verify_sealed_with(
            &self.signers,
            &d,
            caller,
            &self.settings.local_peer,
            self.trust.as_ref(),
            at,
        )?;
        // 5. Redelivery (same origin, sender and message id): the first receipt answers again.
        let sender = Participant::parse(&content.sender_hcid)?;
        let key = inbox_key(caller, &sender.to_string(), &content.message_id);
        let _guard = self.enter(&key)?;
        if let Some(rec) = self.inbox.get(&key).map_err(ExchangeError::from)? {
            return Ok((self.receipt_content(&rec), rec.receipt));
        }
        // 6. Addresses must be canonical and addressable here.
        let recipient = Participant::parse(&content.recipient_hcid)?;
        self.translator.render(&recipient, self.local_space())?;
        // 7. Journal `received` (with the seal chain as evidence of the trust decision), sign the
        //    receipt with its index, store durably, answer.
        let now = unix_nanos(at);
        let evidence = self.evidence_for(Decision::Seal, &d.seal_chain).await?;
        let entry = JournalEntry {
            kind: EntryKind::Received,
            unix_nanos: now,
            message_id: Some(content.message_id.clone()),
            sender: Some(sender.to_string()),
            recipient: Some(recipient.to_string()),
            peer: Some(caller.to_owned()),
            payload: Some(PayloadDigest {
                sha256: content.payload_sha256,
                size: content.payload_size,
            }),
            trust_snapshot: self.trust.snapshot_digest(),
            evidence,
            reason: None,
        };
        let journaled = self.journal.append_async(&entry).await?;
        let receipt_content = ReceiptContent {
            message_id: content.message_id.clone(),
            origin_peer: caller.to_owned(),
            receiver_peer: self.settings.local_peer.clone(),
            payload_sha256: content.payload_sha256,
            received_at: now,
            journal_index: journaled.index,
        };
        let signed_content = receipt_content
            .encode()
            .map_err(|kind| ExchangeError::Seal {
                what: "receipt",
                kind,
            })?;
        let seal = self.seal();
        let stored = StoredReceipt {
            signature: seal
                .sign(&signed_content)
                .map_err(|kind| ExchangeError::Seal {
                    what: "receipt",
                    kind,
                })?,
            signed_content,
            seal_chain: seal.chain_der().map_err(|kind| ExchangeError::Seal {
                what: "receipt",
                kind,
            })?,
        };
        let record = InboxRecord {
            message_id: content.message_id,
            sender: sender.to_string(),
            recipient: recipient.to_string(),
            origin_peer: caller.to_owned(),
            payload_sha256: content.payload_sha256,
            received_at: now,
            journal_index: journaled.index,
            // Drawn by the store inside the commit (see `store::inbox`).
            seq: 0,
            acked: false,
            acked_at: None,
            receipt: stored.clone(),
        };
        let first = self
            .inbox
            .insert(key, &record, d.payload)
            .await
            .map_err(ExchangeError::from)?;
        self.arrivals.notify_waiters();
        Ok(match first {
            Err(old) => (self.receipt_content(&old), old.receipt),
            Ok(_seq) => (receipt_content, stored),
        })
    }

    fn receipt_content(&self, rec: &InboxRecord) -> ReceiptContent {
        ReceiptContent::decode(&rec.receipt.signed_content).unwrap_or(ReceiptContent {
            message_id: rec.message_id.clone(),
            origin_peer: rec.origin_peer.clone(),
            receiver_peer: self.settings.local_peer.clone(),
            payload_sha256: rec.payload_sha256,
            received_at: rec.received_at,
            journal_index: rec.journal_index,
        })
    }

    fn render_local(&self, hcid: &str) -> (Space, String) {
        let space = self.local_space();
        match Participant::parse(hcid).and_then(|p| self.translator.render(&p, space)) {
            Ok(v) => (space, v),
            Err(_) => (Space::Canonical, hcid.to_owned()),
        }
    }

    /// Unacknowledged inbox messages after sequence `after`, at most `limit`, in arrival order.
    ///
    /// # Errors
    /// Storage failures.
    pub fn inbox_after(&self, after: Option<u64>, limit: usize) -> Result<Vec<Inbound>> {
        let batch = self
            .inbox
            .unacked_after(after, limit)
            .map_err(ExchangeError::from)?;
        Ok(batch
            .into_iter()
            .map(|(record, payload)| Inbound {
                sender: self.render_local(&record.sender),
                recipient: self.render_local(&record.recipient),
                record,
                payload,
            })
            .collect())
    }

    /// The inbox record of the message `message_id` from `sender` (canonical, as in
    /// [`InboxRecord::sender`]) received from `origin_peer`, acknowledged or not; `None` when
    /// there is none (never received, or acknowledged longer than `exchange.retention` ago).
    ///
    /// # Errors
    /// Storage failures, a corrupt record.
    pub fn received(
        &self,
        origin_peer: &str,
        sender: &str,
        message_id: &str,
    ) -> Result<Option<InboxRecord>> {
        Ok(self
            .inbox
            .get(&inbox_key(origin_peer, sender, message_id))
            .map_err(ExchangeError::from)?)
    }

    /// Waits for the next arrival (register before reading the inbox to miss none).
    pub fn arrivals(&self) -> &tokio::sync::Notify {
        &self.arrivals
    }

    /// The operator acknowledges a message at `now` (Unix nanoseconds): durably marked, never
    /// delivered again, journaled `delivered`; its record expires `exchange.retention` after
    /// `now` (module `retention`). Returns false when it was not waiting.
    ///
    /// # Errors
    /// Storage and journal failures.
    pub async fn ack(
        &self,
        origin_peer: &str,
        sender: &str,
        message_id: &str,
        now: i64,
    ) -> Result<bool> {
        let key = inbox_key(origin_peer, sender, message_id);
        let Some(rec) = self.inbox.get(&key).map_err(ExchangeError::from)? else {
            return Ok(false);
        };
        if !self
            .inbox
            .ack(key, now)
            .await
            .map_err(ExchangeError::from)?
        {
            return Ok(false);
        }
        self.journal
            .append_async(&JournalEntry {
                kind: EntryKind::Delivered,
                unix_nanos: now,
                message_id: Some(rec.message_id),
                sender: Some(rec.sender),
                recipient: Some(rec.recipient),
                peer: Some(rec.origin_peer),
                payload: None,
                trust_snapshot: None,
                evidence: None,
                reason: None,
            })
            .await?;
        Ok(true)
    }
}
