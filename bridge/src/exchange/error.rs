//! Why an exchange step was refused or failed. One enum for the envelope's own checks and one for
//! the exchange as a whole; `grpc/status.rs` maps both.

use trust_lists::ValidationReason;

use super::SealErrorKind;

/// Why an operator's envelope was refused (DESIGN.md, "Exchange semantics"; "Bad input").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeErrorKind {
    /// The message id is empty, longer than [`super::MAX_MESSAGE_ID_LEN`] or holds a byte outside
    /// printable ASCII (it is journaled and used as a storage key).
    #[error("message id must be 1..={max} printable ASCII characters")]
    MessageId {
        /// The bound that applied.
        max: usize,
    },
    /// An address is missing, or its space is not one of the spaces the bridge knows.
    #[error("{field}: unknown or missing address space")]
    Space {
        /// `sender` or `recipient`.
        field: &'static str,
    },
    /// An address value is empty or longer than [`crate::addressing::MAX_INPUT_LEN`].
    #[error("{field}: address empty or too long")]
    Address {
        /// `sender` or `recipient`.
        field: &'static str,
    },
    /// The payload exceeds the configured bound (`exchange.max_payload`).
    #[error("payload of {size} bytes exceeds the limit of {limit}")]
    PayloadTooLarge {
        /// Payload length.
        size: u64,
        /// The configured bound.
        limit: u64,
    },
    /// `payload_sha256` is not 32 bytes.
    #[error("payload_sha256 must be 32 bytes, got {0}")]
    DigestLength(usize),
    /// `payload_sha256` is not the SHA-256 of the payload.
    #[error("payload_sha256 does not match the payload")]
    DigestMismatch,
    /// A streamed payload passed the configured bound (`exchange.max_payload`); the stream was
    /// refused at that chunk, so its final size is unknown.
    #[error("streamed payload exceeds the limit of {limit} bytes")]
    StreamTooLarge {
        /// The configured bound.
        limit: u64,
    },
    /// A SubmitStream did not start with the envelope header (it was empty or began with
    /// payload bytes).
    #[error("the first chunk of a stream must be the envelope header")]
    StreamHeaderMissing,
    /// A SubmitStream carried a second header, or a header with payload bytes in it (the payload
    /// travels only in the following chunks).
    #[error("a stream carries one header, first, with an empty payload")]
    StreamHeaderMisplaced,
    /// The sender's presentation and its nonce must be given together, the presentation within
    /// [`crate::identity::MAX_PRESENTATION_BYTES`] and the nonce within
    /// [`super::MAX_NONCE_LEN`] printable characters; an mdoc presentation names exactly one
    /// session value (OpenID4VP 1.0 appendix B.2.6), an SD-JWT none.
    #[error(
        "{field}: missing, out of bounds or not consistent with the other presentation fields"
    )]
    Presentation {
        /// `sender_presentation`, `presentation_nonce`, `presentation_response_uri` or
        /// `presentation_origin`.
        field: &'static str,
    },
}

/// Why an exchange operation failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ExchangeError {
    /// The operator's envelope is malformed.
    #[error(transparent)]
    Envelope(#[from] EnvelopeErrorKind),
    /// The recipient's country has no home peer bridge (directory `home_peer` or `exchange.peers`),
    /// or it is this bridge's own country (local delivery is not a cross-border exchange).
    #[error("no peer bridge serves {country}")]
    NoHomePeer {
        /// The recipient's country.
        country: String,
    },
    /// A resend reused a message id with a different payload: the id is the idempotency key, so
    /// the first submission stands (DESIGN.md: same sender + message id = same message).
    #[error("message id already used for a different payload")]
    IdempotencyConflict,
    /// The same message is being accepted by a concurrent call; retry to get its answer.
    #[error("the same message is being processed")]
    InProgress,
    /// The calling bridge's certificate does not belong to a configured peer (PeerService).
    #[error("caller is not a configured peer bridge")]
    UnknownPeer,
    /// A seal or receipt chain is not trusted for qualified seals by the trusted lists at the
    /// instant, or its territory is not the peer's.
    #[error("{what} chain not trusted for {peer}")]
    Untrusted {
        /// `seal` or `receipt`.
        what: &'static str,
        /// The peer the chain had to belong to.
        peer: String,
        /// The trust store's findings (empty when the territory alone disagrees).
        reasons: Vec<ValidationReason>,
    },
    /// The seal or receipt is malformed, does not verify, or disagrees with the envelope.
    #[error("{what}: {kind}")]
    Seal {
        /// `seal` or `receipt`.
        what: &'static str,
        /// Which check failed.
        kind: SealErrorKind,
    },
    /// The sealed envelope names another bridge as its destination, or another origin than the
    /// authenticated caller (a seal cannot be replayed elsewhere).
    #[error("sealed {field} {got} is not {want}")]
    WrongPeer {
        /// `destination_peer` or `origin_peer`.
        field: &'static str,
        /// What the seal says.
        got: String,
        /// What it had to say.
        want: String,
    },
    /// A sealed batch holds no envelope, or more than [`super::MAX_BATCH_ENVELOPES`].
    #[error("a batch holds 1..={max} envelopes, got {count}")]
    BatchSize {
        /// Envelopes in the batch.
        count: usize,
        /// The bound.
        max: usize,
    },
    /// `exchange.require_presentation` is set and the envelope carries no wallet presentation
    /// of its sender (DESIGN.md "Exchange semantics": a policy can require one).
    #[error("a wallet presentation of the sender is required")]
    PresentationRequired,
    /// The presentation verified, but its holder is not the sender: the holder's `hcid` (from
    /// the attested registration) differs from the sender address's `hcid`, roles aside, or the
    /// attestation names no registration with an `hcid` at all.
    #[error("the presentation's holder is not the sender {sender}")]
    SenderNotHolder {
        /// The sender's canonical hcid (without role).
        sender: String,
        /// The holder's hcid, when the attestation yields one.
        holder: Option<String>,
    },
    /// No such message: never submitted by this sender, or its record expired
    /// (`exchange.retention`: records are kept for the retention period after delivery, failure
    /// or acknowledgement; the journal keeps its entries for good).
    #[error("message not found (records are kept for the retention period; the journal keeps its entries)")]
    NotFound,
    /// The message has no receipt yet.
    #[error("no receipt yet")]
    NoReceipt,
    /// An acknowledgement by message id alone names several unacknowledged messages of the
    /// stream (two senders used the same id, which DESIGN.md allows: ids are unique per sender).
    /// Nothing is acknowledged; the operator acknowledges by `journal_index` instead.
    #[error("{count} unacknowledged messages carry message id {message_id:?}; acknowledge by journal_index")]
    AmbiguousAck {
        /// The message id of the acknowledgement.
        message_id: String,
        /// How many unacknowledged messages of the stream carry it.
        count: usize,
    },
    /// The disk under the store is full (or its quota exhausted): the operation is not
    /// acknowledged and the bridge takes no new work until space is freed
    /// (DESIGN.md "Bad input": nothing acknowledged is lost, new work is refused clearly).
    #[error("storage full; not acknowledged")]
    StorageFull,
    /// Our own storage failed; the operation is not acknowledged.
    #[error("storage: {reason}")]
    Storage {
        /// The storage error, as text.
        reason: String,
    },
}

impl From<crate::store::StoreError> for ExchangeError {
    fn from(e: crate::store::StoreError) -> Self {
        if e.is_storage_full() {
            return ExchangeError::StorageFull;
        }
        ExchangeError::Storage {
            reason: e.to_string(),
        }
    }
}
