//! Exchanges between bridges: envelopes accepted from the local operator, sealed and relayed to
//! the recipient's home bridge with retries, answered with signed receipts, and delivered to the
//! receiving side's operator with explicit acknowledgement. Knows nothing of gRPC.
//!
//! # Layout
//! - `envelope`: the validated operator envelope.
//! - `holder`: the sender's wallet presentation in Submit and its binding to the sender.
//! - `service`: [`Exchange`]: Submit (dedupe, outbox, journal) and status.
//! - `deliver`: the receiving side (seal and chain checks, [`verify_sealed`], inbox, receipts) and
//!   receipt checks.
//! - `relay`: the background relay with retries ([`spawn_relay`], [`RelayGuard`]).
//! - `retention`: expiry of done outbox and inbox records ([`spawn_retention`],
//!   [`RetentionGuard`], [`Exchange::purge_before`]).
//! - `peers`: configured peer bridges and their [`RetryPolicy`].
//! - `peer_cas`: [`PeerCas`], the peers' listed CAs for the TLS acceptor.
//! - `trust`: [`PeerTrust`], the trusted lists as seen by the exchange.
//! - `seal`: canonical sealed and receipt content, signing and verification.
//! - `batch`: one seal or receipt signature over a batch's Merkle tree ([`BatchHead`]).
//! - `error`: [`EnvelopeErrorKind`], [`ExchangeError`].

mod batch;
mod deliver;
mod envelope;
mod error;
mod holder;
mod peer_cas;
mod peers;
mod relay;
mod retention;
mod seal;
mod service;
mod trust;

pub use batch::{
    check_inclusion, leaf_paths, tree_of, BatchHead, BatchKind, SignedBatch, MAX_BATCH_ENVELOPES,
};
pub use deliver::{
    open_batch_envelope, verify_batch_seal_with, verify_receipt, verify_receipt_with,
    verify_sealed, verify_sealed_with, BatchEnvelope, Inbound, ReceiptCheck, SealedBatch,
    SealedDelivery,
};
pub use envelope::{
    check_message_id, Address, Envelope, SenderPresentation, DEFAULT_MAX_PAYLOAD,
    MAX_MESSAGE_ID_LEN, MAX_NONCE_LEN, MAX_SESSION_LEN,
};
pub use error::{EnvelopeErrorKind, ExchangeError};
pub use holder::{PresentationPolicy, VerifiedHolder};
pub use peer_cas::PeerCas;
pub use peers::{
    Peer, PeerSet, RetryPolicy, DEFAULT_ATTEMPT_TIMEOUT, DEFAULT_DEADLINE, DEFAULT_RETRY_INITIAL,
    DEFAULT_RETRY_MAX,
};
pub use relay::{
    spawn_relay, RelayGuard, RelayIdentity, FOLLOW_ON_ENVELOPES, MAX_BATCHES_IN_FLIGHT_PER_PEER,
    MAX_QUEUED_PER_PEER,
};
pub use retention::{
    spawn_retention, sweep_interval, Purged, RetentionGuard, DEFAULT_RETENTION, MAX_SWEEP_INTERVAL,
    MIN_SWEEP_INTERVAL, RETENTION_BATCH,
};
pub use seal::{
    verify_signature, ReceiptContent, SealErrorKind, SealKey, SealedContent, SignerKeys,
    MAX_FIELD_LEN, MAX_SIGNER_KEYS,
};
pub use service::{unix_nanos, Accepted, Exchange, ExchangeSettings, RelayStats};
pub use trust::{trusted_for, PeerTrust, SnapshotTrust};
