//! The receiving side: a peer bridge's sealed envelope, or sealed batch of envelopes, is checked
//! (caller, seal, chain, digest), journaled `received`, stored in the inbox and answered with a
//! signed receipt (one receipt batch per sealed batch, module `batch`); the local operator then
//! reads the inbox and acknowledges. Also the sender's check of receipts ([`ReceiptCheck`]).

use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use trust_lists::Usage;

use super::batch::{check_inclusion, tree_of, BatchHead, BatchKind, SignedBatch};
use super::service::{unix_nanos, InFlight};
use super::trust::trusted_for;
use super::{
    Exchange, ExchangeError, PeerTrust, ReceiptContent, SealErrorKind, SealedContent, SignerKeys,
    MAX_BATCH_ENVELOPES,
};
use crate::addressing::{Participant, Space};
use crate::error::{Error, Result};
use crate::journal::{Decision, EntryKind, Evidence, JournalEntry, PayloadDigest};
use crate::store::inbox::{inbox_key, InboxRecord, Inserted};
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

/// One envelope of a [`SealedBatch`]: the fields that differ per message.
#[derive(Clone, PartialEq, Eq)]
pub struct BatchEnvelope {
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
    /// The canonical sealed content: a leaf of the batch's tree.
    pub sealed_content: Vec<u8>,
}

impl std::fmt::Debug for BatchEnvelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchEnvelope")
            .field("message_id", &self.message_id)
            .field("payload_size", &self.payload.len())
            .finish_non_exhaustive()
    }
}

/// Envelopes from one peer under a single seal over their tree (module `batch`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedBatch {
    /// Origin bridge (unsigned copy).
    pub origin_peer: String,
    /// The envelopes, in leaf order.
    pub envelopes: Vec<BatchEnvelope>,
    /// The canonical [`BatchHead`] of kind [`BatchKind::Seal`].
    pub head: Vec<u8>,
    /// The seal over `head`.
    pub seal: Vec<u8>,
    /// The sender's seal chain, DER, leaf first.
    pub seal_chain: Vec<Vec<u8>>,
}

/// The unsigned fields that travel next to sealed content, borrowed from a unary or a batched
/// envelope.
struct Unsigned<'a> {
    message_id: &'a str,
    sender_hcid: &'a str,
    recipient_hcid: &'a str,
    payload: &'a [u8],
    payload_sha256: &'a [u8],
    origin_peer: &'a str,
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
    ReceiptCheck::new(keys, trust, local_peer, at).check(receipt, record)
}

/// The sender's checks of the receipts of one answer. A receipt signed alone is verified on its
/// own; the receipts of a batch share a signed head, whose signature and chain are verified once
/// per check while each receipt's content and audit path are checked against it.
pub struct ReceiptCheck<'a> {
    keys: &'a SignerKeys,
    trust: &'a dyn PeerTrust,
    local_peer: &'a str,
    at: OffsetDateTime,
    /// (Head, signature, chain) already verified and validated by this check: an answer
    /// holds one or two heads, so comparing them whole costs less than hashing each receipt's.
    verified_heads: Vec<SignedHead>,
}

/// A receipt batch head as signed: the head, the signature, the signer's chain.
type SignedHead = (Vec<u8>, Vec<u8>, Vec<Vec<u8>>);

impl std::fmt::Debug for ReceiptCheck<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiptCheck")
            .field("local_peer", &self.local_peer)
            .field("verified_heads", &self.verified_heads.len())
            .finish_non_exhaustive()
    }
}

impl<'a> ReceiptCheck<'a> {
    /// Checks receipts for `local_peer` against `trust` at `at`, keys from `keys`.
    pub fn new(
        keys: &'a SignerKeys,
        trust: &'a dyn PeerTrust,
        local_peer: &'a str,
        at: OffsetDateTime,
    ) -> ReceiptCheck<'a> {
        ReceiptCheck {
            keys,
            trust,
            local_peer,
            at,
            verified_heads: Vec::new(),
        }
    }

    /// The checks of [`verify_receipt`] for one receipt of `record`.
    ///
    /// # Errors
    /// As [`verify_receipt`].
    pub fn check(
        &mut self,
        receipt: &StoredReceipt,
        record: &OutboxRecord,
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
        if content.origin_peer != self.local_peer {
            return Err(mismatch("origin_peer"));
        }
        if content.receiver_peer != record.peer {
            return Err(mismatch("receiver_peer"));
        }
        if content.payload_sha256 != record.payload_sha256 {
            return Err(mismatch("payload_sha256"));
        }
        let Some(batch) = &receipt.batch else {
            verify_leaf(
                self.keys,
                &receipt.seal_chain,
                &receipt.signed_content,
                &receipt.signature,
                what,
            )?;
            check_chain(self.trust, &receipt.seal_chain, self.at, &record.peer, what)?;
            return Ok(content);
        };
        let head = check_inclusion(batch, &receipt.signed_content, BatchKind::Receipt)
            .map_err(seal_err(what))?;
        if head.origin_peer != self.local_peer {
            return Err(mismatch("batch origin_peer"));
        }
        if head.receiver_peer != record.peer {
            return Err(mismatch("batch receiver_peer"));
        }
        let verified = self.verified_heads.iter().any(|(head, signature, chain)| {
            *head == batch.head && *signature == receipt.signature && *chain == receipt.seal_chain
        });
        if !verified {
            verify_leaf(
                self.keys,
                &receipt.seal_chain,
                &batch.head,
                &receipt.signature,
                what,
            )?;
            check_chain(self.trust, &receipt.seal_chain, self.at, &record.peer, what)?;
            self.verified_heads.push((
                batch.head.clone(),
                receipt.signature.clone(),
                receipt.seal_chain.clone(),
            ));
        }
        Ok(content)
    }
}

/// Steps 2 and 3 of [`Exchange::deliver`] for one envelope: the sealed bytes decode strictly and
/// name `caller` as origin and `local_peer` as destination, and the unsigned copies and the
/// payload agree with them.
fn open_content(
    sealed_content: &[u8],
    u: &Unsigned<'_>,
    caller: &str,
    local_peer: &str,
) -> Result<SealedContent, ExchangeError> {
    let what = "seal";
    // 2. The sealed bytes are the bytes used: decode them strictly.
    let content = SealedContent::decode(sealed_content).map_err(seal_err(what))?;
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
    let fields = [
        ("message_id", u.message_id == content.message_id),
        ("sender_hcid", u.sender_hcid == content.sender_hcid),
        ("recipient_hcid", u.recipient_hcid == content.recipient_hcid),
        ("origin_peer", u.origin_peer == content.origin_peer),
        ("payload_sha256", u.payload_sha256 == content.payload_sha256),
        (
            "payload_size",
            u.payload.len() as u64 == content.payload_size,
        ),
        (
            "payload",
            <[u8; 32]>::from(Sha256::digest(u.payload)) == content.payload_sha256,
        ),
    ];
    if let Some((field, _)) = fields.iter().find(|(_, ok)| !ok) {
        return Err(ExchangeError::Seal {
            what,
            kind: SealErrorKind::Mismatch(field),
        });
    }
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
    let unsigned = Unsigned {
        message_id: &d.message_id,
        sender_hcid: &d.sender_hcid,
        recipient_hcid: &d.recipient_hcid,
        payload: &d.payload,
        payload_sha256: &d.payload_sha256,
        origin_peer: &d.origin_peer,
    };
    let content = open_content(&d.sealed_content, &unsigned, caller, local_peer)?;
    // 4. The seal verifies, and its chain is a qualified seal of the origin's country.
    verify_leaf(keys, &d.seal_chain, &d.sealed_content, &d.seal, what)?;
    check_chain(trust, &d.seal_chain, at, caller, what)?;
    super::check_message_id(&content.message_id)?;
    Ok(content)
}

/// The checks of a sealed batch's head from the authenticated peer `caller` (steps 2 to 4 of
/// [`Exchange::deliver_batch`]): 1 to [`MAX_BATCH_ENVELOPES`] envelopes, the head decodes
/// strictly, names `caller` and `local_peer`, counts the envelopes and commits to their sealed
/// contents in order, the seal over it verifies with the chain's leaf, and the chain is a
/// qualified seal of `caller`'s list at `at`. The envelopes themselves are checked by
/// [`open_batch_envelope`].
///
/// # Errors
/// [`ExchangeError::BatchSize`], [`ExchangeError::WrongPeer`], [`ExchangeError::Seal`]
/// (`what = "seal"`) or [`ExchangeError::Untrusted`].
pub fn verify_batch_seal_with(
    keys: &SignerKeys,
    b: &SealedBatch,
    caller: &str,
    local_peer: &str,
    trust: &dyn PeerTrust,
    at: OffsetDateTime,
) -> Result<BatchHead, ExchangeError> {
    let what = "seal";
    let count = b.envelopes.len();
    if count == 0 || count > MAX_BATCH_ENVELOPES {
        return Err(ExchangeError::BatchSize {
            count,
            max: MAX_BATCH_ENVELOPES,
        });
    }
    let head = BatchHead::decode(&b.head, BatchKind::Seal).map_err(seal_err(what))?;
    if head.origin_peer != caller {
        return Err(ExchangeError::WrongPeer {
            field: "origin_peer",
            got: head.origin_peer,
            want: caller.to_owned(),
        });
    }
    if head.receiver_peer != local_peer {
        return Err(ExchangeError::WrongPeer {
            field: "destination_peer",
            got: head.receiver_peer,
            want: local_peer.to_owned(),
        });
    }
    let mismatch = |field| ExchangeError::Seal {
        what,
        kind: SealErrorKind::Mismatch(field),
    };
    if b.origin_peer != caller {
        return Err(mismatch("origin_peer"));
    }
    if head.size != count as u64 {
        return Err(mismatch("batch_size"));
    }
    if tree_of(b.envelopes.iter().map(|e| e.sealed_content.as_slice())).root() != head.root {
        return Err(mismatch("batch_root"));
    }
    verify_leaf(keys, &b.seal_chain, &b.head, &b.seal, what)?;
    check_chain(trust, &b.seal_chain, at, caller, what)?;
    Ok(head)
}

/// One envelope of a batch whose head [`verify_batch_seal_with`] accepted: its sealed content
/// (a leaf the head commits to) decodes, names `caller` and `local_peer`, agrees with the
/// unsigned copies and the payload, and carries a message id this bridge accepts.
///
/// # Errors
/// [`ExchangeError::WrongPeer`], [`ExchangeError::Seal`] or the message id refusal.
pub fn open_batch_envelope(
    e: &BatchEnvelope,
    caller: &str,
    local_peer: &str,
) -> Result<SealedContent, ExchangeError> {
    let unsigned = Unsigned {
        message_id: &e.message_id,
        sender_hcid: &e.sender_hcid,
        recipient_hcid: &e.recipient_hcid,
        payload: &e.payload,
        payload_sha256: &e.payload_sha256,
        origin_peer: caller,
    };
    let content = open_content(&e.sealed_content, &unsigned, caller, local_peer)?;
    super::check_message_id(&content.message_id)?;
    Ok(content)
}

/// A checked envelope on its way into the inbox.
enum Admission<'a> {
    /// Received before: the first receipt answers again.
    Known(ReceiptContent, StoredReceipt),
    /// New, journaled `received`; its receipt is to be signed, then it is stored.
    New(Arrival<'a>),
}

/// A new envelope, journaled, held against concurrent redeliveries until stored.
struct Arrival<'a> {
    key: Vec<u8>,
    _guard: InFlight<'a>,
    receipt: ReceiptContent,
    sender: String,
    recipient: String,
    payload: Vec<u8>,
}

/// An envelope checked and deduplicated, before its `received` entry is journaled.
enum Checked<'a> {
    /// Received before: the first receipt answers again.
    Known(ReceiptContent, StoredReceipt),
    /// New: the entry to journal; the arrival takes its index.
    New(Box<JournalEntry>, Arrival<'a>),
}

fn receipt_err(kind: SealErrorKind) -> ExchangeError {
    ExchangeError::Seal {
        what: "receipt",
        kind,
    }
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
        let caller = self.configured_peer(caller)?;
        // 2.-4. Sealed content, field agreement, seal and chain.
        let content = verify_sealed_with(
            &self.signers,
            &d,
            caller,
            &self.settings.local_peer,
            self.trust.as_ref(),
            at,
        )?;
        let now = unix_nanos(at);
        let evidence = self.evidence_for(Decision::Seal, &d.seal_chain).await?;
        // 5.-7. Dedupe, addresses, journal; then the receipt, signed alone, and the inbox.
        let arrival = match self
            .admit(content, d.payload, caller, &evidence, now)
            .await?
        {
            Admission::Known(content, receipt) => return Ok((content, receipt)),
            Admission::New(arrival) => arrival,
        };
        let signed_content = arrival.receipt.encode().map_err(receipt_err)?;
        let seal = self.seal();
        let stored = StoredReceipt {
            signature: seal.sign(&signed_content).map_err(receipt_err)?,
            signed_content,
            seal_chain: seal.chain_der().map_err(receipt_err)?,
            seal_chain_sha256: None,
            batch: None,
        };
        self.keep(arrival, stored).await
    }

    /// Checks and accepts a sealed batch from the authenticated peer `caller` at `at`: one
    /// outcome per envelope, in order. A bad head refuses the whole batch; an envelope that
    /// fails its own checks is refused alone. The new envelopes' receipts are signed together,
    /// as one receipt batch (module `batch`); a redelivered envelope gets its first receipt.
    ///
    /// # Errors
    /// For the batch as a whole: [`ExchangeError::UnknownPeer`], [`ExchangeError::BatchSize`],
    /// [`ExchangeError::WrongPeer`], [`ExchangeError::Seal`], [`ExchangeError::Untrusted`],
    /// evidence storage and signing failures. Per envelope: as [`Exchange::deliver`].
    pub async fn deliver_batch(
        &self,
        b: SealedBatch,
        caller: Option<&str>,
        at: OffsetDateTime,
    ) -> Result<Vec<Result<(ReceiptContent, StoredReceipt)>>> {
        let caller = self.configured_peer(caller)?;
        let local_peer = self.settings.local_peer.as_str();
        verify_batch_seal_with(
            &self.signers,
            &b,
            caller,
            local_peer,
            self.trust.as_ref(),
            at,
        )?;
        let now = unix_nanos(at);
        let evidence = self.evidence_for(Decision::Seal, &b.seal_chain).await?;
        // Checked one by one, journaled together: the `received` entries of the batch go to the
        // writer as one request, in the batch's order.
        let mut entries = Vec::new();
        let checked: Vec<Result<Admission<'_>>> = b
            .envelopes
            .into_iter()
            .map(|e| {
                let content = open_batch_envelope(&e, caller, local_peer)?;
                Ok(
                    match self.check_arrival(content, e.payload, caller, &evidence, now)? {
                        Checked::Known(content, receipt) => Admission::Known(content, receipt),
                        Checked::New(entry, arrival) => {
                            entries.push(*entry);
                            Admission::New(arrival)
                        }
                    },
                )
            })
            .collect();
        let journaled = self.journal.append_all_async(&entries).await;
        let mut indexes = journaled.as_deref().unwrap_or_default().iter();
        // Each new arrival takes the index of its entry, in order.
        let admissions: Vec<Result<Admission<'_>>> = checked
            .into_iter()
            .map(|c| match c? {
                Admission::New(mut arrival) => match (&journaled, indexes.next()) {
                    (Ok(_), Some(r)) => {
                        arrival.receipt.journal_index = r.index;
                        Ok(Admission::New(arrival))
                    }
                    (Err(e), _) => Err(e.clone().into()),
                    (Ok(_), None) => Err(Error::Internal("journal receipt missing".into())),
                },
                known => Ok(known),
            })
            .collect();
        let leaves = admissions
            .iter()
            .filter_map(|a| match a {
                Ok(Admission::New(arrival)) => Some(arrival.receipt.encode().map_err(receipt_err)),
                _ => None,
            })
            .collect::<Result<Vec<_>, _>>()?;
        let receipts = if leaves.is_empty() {
            Vec::new()
        } else {
            let seal = self.seal();
            SignedBatch::sign(&seal, BatchKind::Receipt, caller, local_peer, now, &leaves)
                .and_then(|batch| batch.receipts(leaves))
                .map_err(receipt_err)?
        };
        Ok(self.keep_all(admissions, receipts).await)
    }

    /// The caller, when it is a configured peer.
    fn configured_peer<'c>(&self, caller: Option<&'c str>) -> Result<&'c str> {
        Ok(caller
            .filter(|c| self.settings.peers.get(c).is_some())
            .ok_or(ExchangeError::UnknownPeer)?)
    }

    /// Steps 5 to 7 of [`Exchange::deliver`] for checked `content` from `caller`: a redelivery
    /// (same origin, sender and message id) gets its first receipt; otherwise the addresses must
    /// be canonical and addressable here, and `received` is journaled with `evidence` (the seal
    /// chain's trust decision).
    async fn admit(
        &self,
        content: SealedContent,
        payload: Vec<u8>,
        caller: &str,
        evidence: &Option<Evidence>,
        now: i64,
    ) -> Result<Admission<'_>> {
        match self.check_arrival(content, payload, caller, evidence, now)? {
            Checked::Known(content, receipt) => Ok(Admission::Known(content, receipt)),
            Checked::New(entry, mut arrival) => {
                arrival.receipt.journal_index = self.journal.append_async(&entry).await?.index;
                Ok(Admission::New(arrival))
            }
        }
    }

    /// [`Exchange::admit`] up to the journal: the first receipt of a redelivery, or the new
    /// arrival (held against concurrent redeliveries) with its `received` entry.
    fn check_arrival(
        &self,
        content: SealedContent,
        payload: Vec<u8>,
        caller: &str,
        evidence: &Option<Evidence>,
        now: i64,
    ) -> Result<Checked<'_>> {
        let sender = Participant::parse(&content.sender_hcid)?;
        let key = inbox_key(caller, &sender.to_string(), &content.message_id);
        let guard = self.enter(&key)?;
        if let Some(rec) = self.inbox.get(&key).map_err(ExchangeError::from)? {
            return Ok(Checked::Known(self.receipt_content(&rec), rec.receipt));
        }
        let recipient = Participant::parse(&content.recipient_hcid)?;
        self.translator.render(&recipient, self.local_space())?;
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
            evidence: *evidence,
            reason: None,
        };
        Ok(Checked::New(
            Box::new(entry),
            Arrival {
                key,
                _guard: guard,
                receipt: ReceiptContent {
                    message_id: content.message_id,
                    origin_peer: caller.to_owned(),
                    receiver_peer: self.settings.local_peer.clone(),
                    payload_sha256: content.payload_sha256,
                    received_at: now,
                    // Set once `received` is journaled.
                    journal_index: 0,
                },
                sender: sender.to_string(),
                recipient: recipient.to_string(),
                payload,
            },
        ))
    }

    /// Stores a journaled arrival with its signed receipt durably in the inbox and wakes the
    /// Receive streams; returns the receipt that answers (the first one stored).
    async fn keep(
        &self,
        arrival: Arrival<'_>,
        stored: StoredReceipt,
    ) -> Result<(ReceiptContent, StoredReceipt)> {
        let mut kept = self
            .keep_all(vec![Ok(Admission::New(arrival))], vec![stored])
            .await;
        kept.pop()
            .unwrap_or_else(|| Err(Error::Internal("arrival not kept".into())))
    }

    /// The outcome of each admission of a batch, in order: the new arrivals are stored with
    /// `receipts` (one per new arrival, in order) in one inbox job, then the Receive streams
    /// are woken once.
    async fn keep_all(
        &self,
        admissions: Vec<Result<Admission<'_>>>,
        receipts: Vec<StoredReceipt>,
    ) -> Vec<Result<(ReceiptContent, StoredReceipt)>> {
        let mut receipts = receipts.into_iter();
        // Each arrival's guard is held until its record is stored.
        let mut arrivals = Vec::new();
        let mut outcomes: Vec<Option<Result<(ReceiptContent, StoredReceipt)>>> = admissions
            .into_iter()
            .map(|admission| match admission {
                Ok(Admission::Known(content, receipt)) => Some(Ok((content, receipt))),
                Ok(Admission::New(arrival)) => match receipts.next() {
                    Some(stored) => {
                        arrivals.push((arrival, stored));
                        None
                    }
                    None => Some(Err(Error::Internal("batch receipt missing".into()))),
                },
                Err(e) => Some(Err(e)),
            })
            .collect();
        if arrivals.is_empty() {
            return outcomes.into_iter().flatten().collect();
        }
        let messages = arrivals
            .iter_mut()
            .map(|(arrival, stored)| {
                let record = InboxRecord {
                    message_id: arrival.receipt.message_id.clone(),
                    sender: std::mem::take(&mut arrival.sender),
                    recipient: std::mem::take(&mut arrival.recipient),
                    origin_peer: arrival.receipt.origin_peer.clone(),
                    payload_sha256: arrival.receipt.payload_sha256,
                    received_at: arrival.receipt.received_at,
                    journal_index: arrival.receipt.journal_index,
                    // Drawn by the store inside the commit (see `store::inbox`).
                    seq: 0,
                    acked: false,
                    acked_at: None,
                    receipt: stored.clone(),
                };
                let key = std::mem::take(&mut arrival.key);
                (key, record, std::mem::take(&mut arrival.payload))
            })
            .collect();
        let stored = self.inbox.insert_all(messages).await;
        self.arrivals.notify_waiters();
        let mut slots = outcomes.iter_mut().filter(|o| o.is_none());
        match stored {
            Ok(inserted) => {
                for ((arrival, stored), (inserted, slot)) in arrivals
                    .into_iter()
                    .zip(inserted.into_iter().zip(&mut slots))
                {
                    *slot = Some(match inserted {
                        Inserted::New(_) => Ok((arrival.receipt, stored)),
                        Inserted::Existing(old) => Ok((self.receipt_content(&old), old.receipt)),
                        Inserted::NoSpace(full) => Err(ExchangeError::from(full).into()),
                    });
                }
            }
            Err(e) => {
                let e = ExchangeError::from(e);
                for slot in slots {
                    *slot = Some(Err(e.clone().into()));
                }
            }
        }
        outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(|| Err(Error::Internal("arrival not kept".into()))))
            .collect()
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
