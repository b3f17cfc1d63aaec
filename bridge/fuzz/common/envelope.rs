//! The calls of the `envelope` fuzz target, shared by path with `bridge/tests/fuzz_corpus.rs`
//! so that the corpus replay runs exactly what the target runs. The same bytes are decoded as
//! each exchange message a bridge receives from outside and put through the bridge's own checks:
//! an operator's `SubmitRequest` (the handler's envelope validation), a peer's `SealedEnvelope`
//! (strict sealed-content decoding, field agreement, seal and chain verification), `Receipt`
//! (the sender's receipt checks against a fixed outbox record, alone or in a receipt batch) and
//! `SealedBatch` (the batch head's checks, then each envelope's), and an operator's
//! `ReceiveRequest` (nothing past the decoding: an ack id is only looked up). Trust comes from
//! the demo ecosystem (`DEMO_SEED`) walked at [`AT`], so the checked-in seeds, sealed by its FR
//! and BE seals, verify and reach the chain validation.

use std::sync::{Arc, OnceLock};

use bridge_proto::pb;
use eidas_bridge::demo::{trust_of, walk_ecosystem, DEMO_SEED};
use eidas_bridge::exchange::{
    open_batch_envelope, verify_batch_seal_with, verify_receipt, verify_sealed, PeerTrust,
    SealedBatch, SealedDelivery, SignerKeys, DEFAULT_MAX_PAYLOAD,
};
use eidas_bridge::grpc::envelope_from_pb;
use eidas_bridge::store::outbox::{OutboxRecord, OutboxState, StoredReceipt};
use prost::Message as _;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// Verification instant: 2026-09-01T00:00:00Z, inside the ecosystem lists' validity.
pub(crate) const AT: i64 = 1_788_220_800;
/// The sending bridge of the sealed seeds, and the receipt's origin.
pub(crate) const ORIGIN: &str = "FR";
/// The receiving bridge of the sealed seeds, and the receipt's signer.
pub(crate) const LOCAL: &str = "BE";
/// Message id of the seeds.
pub(crate) const MESSAGE_ID: &str = "fuzz-0001";
/// Payload of the seeds.
pub(crate) const PAYLOAD: &[u8] = b"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nfuzz\r\n";

/// The trusted lists of the demo ecosystem, walked once; `None` if that fixture is broken.
pub(crate) fn trust() -> Option<&'static Arc<dyn PeerTrust>> {
    static TRUST: OnceLock<Option<Arc<dyn PeerTrust>>> = OnceLock::new();
    TRUST
        .get_or_init(|| {
            let eco = test_ecosystem::Ecosystem::generate(DEMO_SEED).ok()?;
            let at = OffsetDateTime::from_unix_timestamp(AT).ok()?;
            walk_ecosystem(&eco, at).ok().map(|s| trust_of(&s))
        })
        .as_ref()
}

/// The outbox record the receipt seeds answer: [`MESSAGE_ID`] sent from [`ORIGIN`] to [`LOCAL`].
pub(crate) fn sent_record() -> OutboxRecord {
    OutboxRecord {
        message_id: MESSAGE_ID.into(),
        sender: "hcid:FR:rpps:810000000001".into(),
        recipient: "hcid:BE:nihii:12345678".into(),
        peer: LOCAL.into(),
        payload_sha256: Sha256::digest(PAYLOAD).into(),
        payload_size: PAYLOAD.len() as u64,
        state: OutboxState::Forwarded,
        attempts: 1,
        accepted_at: 0,
        updated_at: 0,
        next_attempt_at: 0,
        reason: None,
        journal_indexes: vec![0],
        receipt: None,
    }
}

/// Runs `data` through every decoder and check; returns one outcome per message kind.
pub(crate) fn check(data: &[u8]) -> String {
    let at = OffsetDateTime::from_unix_timestamp(AT).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let submit = pb::SubmitRequest::decode(data)
        .map(|r| envelope_from_pb(r.envelope, DEFAULT_MAX_PAYLOAD).map(|_| ()))
        .map(|r| format!("{:?}", r.map_err(|e| e.to_string())));
    let (sealed, receipt, batch) = match trust() {
        Some(trust) => {
            let sealed = pb::SealedEnvelope::decode(data).map(|e| {
                let d = SealedDelivery::from(e);
                format!(
                    "{:?}",
                    verify_sealed(&d, ORIGIN, LOCAL, trust.as_ref(), at).map(|_| ())
                )
            });
            let receipt = pb::Receipt::decode(data).map(|r| {
                let stored = StoredReceipt::from(r);
                let record = sent_record();
                let checked = verify_receipt(&stored, &record, ORIGIN, trust.as_ref(), at);
                format!("{:?}", checked.map(|_| ()))
            });
            let batch = pb::SealedBatch::decode(data).map(|b| {
                let b = SealedBatch::from(b);
                let keys = SignerKeys::new();
                match verify_batch_seal_with(&keys, &b, ORIGIN, LOCAL, trust.as_ref(), at) {
                    Err(e) => format!("{e:?}"),
                    Ok(_) => {
                        let each: Vec<String> = b
                            .envelopes
                            .iter()
                            .map(|e| {
                                format!("{:?}", open_batch_envelope(e, ORIGIN, LOCAL).map(|_| ()))
                            })
                            .collect();
                        format!("Ok([{}])", each.join(", "))
                    }
                }
            });
            (sealed, receipt, batch)
        }
        None => (
            Ok("no trust".into()),
            Ok("no trust".into()),
            Ok("no trust".into()),
        ),
    };
    let receive = pb::ReceiveRequest::decode(data).map(|r| format!("{:?}", r.action.is_some()));
    let show = |r: Result<String, prost::DecodeError>| r.unwrap_or_else(|_| "undecodable".into());
    format!(
        "submit {} / sealed {} / receipt {} / batch {} / receive {}",
        show(submit),
        show(sealed),
        show(receipt),
        show(batch),
        show(receive)
    )
}
