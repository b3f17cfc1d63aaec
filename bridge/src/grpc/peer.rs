//! `PeerService` (peer bridges): Deliver a sealed envelope, answered with a signed receipt, or
//! DeliverBatch a sealed batch, answered with one receipt or refusal per envelope. The caller's
//! country comes from the access layer's trust-list validation of its TLS chain.

use std::sync::Arc;

use bridge_proto::pb;
use bridge_proto::pb::peer_service_server::PeerService;
use tonic::{Request, Response, Status};

use super::exchange::receipt_to_pb;
use super::status::error_reason;
use super::Caller;
use crate::exchange::{BatchEnvelope, Exchange, SealedBatch, SealedDelivery};

/// The service over an exchange.
#[derive(Debug, Clone)]
pub struct PeerApi {
    ex: Arc<Exchange>,
}

impl PeerApi {
    /// Serves `ex`.
    pub fn new(ex: Arc<Exchange>) -> PeerApi {
        PeerApi { ex }
    }
}

impl From<pb::SealedEnvelope> for SealedDelivery {
    fn from(e: pb::SealedEnvelope) -> Self {
        SealedDelivery {
            message_id: e.message_id,
            sender_hcid: e.sender_hcid,
            recipient_hcid: e.recipient_hcid,
            payload: e.payload,
            payload_sha256: e.payload_sha256,
            origin_peer: e.origin_peer_id,
            sealed_content: e.sealed_content,
            seal: e.seal,
            seal_chain: e.seal_chain,
        }
    }
}

impl From<pb::SealedBatch> for SealedBatch {
    fn from(b: pb::SealedBatch) -> Self {
        SealedBatch {
            origin_peer: b.origin_peer_id,
            envelopes: b
                .envelopes
                .into_iter()
                .map(|e| BatchEnvelope {
                    message_id: e.message_id,
                    sender_hcid: e.sender_hcid,
                    recipient_hcid: e.recipient_hcid,
                    payload: e.payload,
                    payload_sha256: e.payload_sha256,
                    sealed_content: e.sealed_content,
                })
                .collect(),
            head: b.batch_head,
            seal: b.seal,
            seal_chain: b.seal_chain,
        }
    }
}

fn caller_country<T>(req: &Request<T>) -> Option<String> {
    req.extensions()
        .get::<Caller>()
        .and_then(|c| c.peer_country.clone())
}

#[tonic::async_trait]
impl PeerService for PeerApi {
    async fn deliver(
        &self,
        req: Request<pb::SealedEnvelope>,
    ) -> Result<Response<pb::Receipt>, Status> {
        let country = caller_country(&req);
        let delivery = SealedDelivery::from(req.into_inner());
        let (content, stored) = self
            .ex
            .deliver(delivery, country.as_deref(), self.ex.now())
            .await?;
        Ok(Response::new(receipt_to_pb(&content, stored)))
    }

    async fn deliver_batch(
        &self,
        req: Request<pb::SealedBatch>,
    ) -> Result<Response<pb::BatchOutcomes>, Status> {
        let country = caller_country(&req);
        let batch = SealedBatch::from(req.into_inner());
        let outcomes = self
            .ex
            .deliver_batch(batch, country.as_deref(), self.ex.now())
            .await?
            .into_iter()
            .map(|outcome| pb::BatchOutcome {
                outcome: Some(match outcome {
                    Ok((content, stored)) => {
                        pb::batch_outcome::Outcome::Receipt(receipt_to_pb(&content, stored))
                    }
                    Err(e) => {
                        let status = Status::from(e);
                        pb::batch_outcome::Outcome::Refusal(pb::Refusal {
                            code: status.code() as i32,
                            reason: error_reason(&status),
                            message: status.message().to_owned(),
                        })
                    }
                }),
            })
            .collect();
        let mut answer = pb::BatchOutcomes {
            outcomes,
            signed_heads: Vec::new(),
        };
        pack_signed_heads(&mut answer);
        Ok(Response::new(answer))
    }
}

/// Moves the signature and chain of every batched receipt in `answer` to one
/// `signed_heads` entry per distinct head: the chain (about 2 KB) then crosses the wire once per
/// answer, not once per message.
pub fn pack_signed_heads(answer: &mut pb::BatchOutcomes) {
    for outcome in &mut answer.outcomes {
        let Some(pb::batch_outcome::Outcome::Receipt(r)) = &mut outcome.outcome else {
            continue;
        };
        if r.batch_head.is_empty() {
            continue;
        }
        let known = answer.signed_heads.iter().find(|h| {
            h.batch_head == r.batch_head
                && h.signature == r.signature
                && h.seal_chain == r.seal_chain
        });
        if known.is_none() {
            answer.signed_heads.push(pb::SignedHead {
                batch_head: r.batch_head.clone(),
                signature: r.signature.clone(),
                seal_chain: r.seal_chain.clone(),
            });
        }
        r.signature.clear();
        r.seal_chain.clear();
    }
}

/// The receipts of `answer` as the receiver signed them: a batched receipt without its own
/// signature and chain gets those of the `signed_heads` entry for its head (none found: it stays
/// unsigned, and the receipt check refuses it).
pub fn unpack_signed_heads(answer: &mut pb::BatchOutcomes) {
    for outcome in &mut answer.outcomes {
        let Some(pb::batch_outcome::Outcome::Receipt(r)) = &mut outcome.outcome else {
            continue;
        };
        if r.batch_head.is_empty() || !r.signature.is_empty() || !r.seal_chain.is_empty() {
            continue;
        }
        if let Some(h) = answer
            .signed_heads
            .iter()
            .find(|h| h.batch_head == r.batch_head)
        {
            r.signature.clone_from(&h.signature);
            r.seal_chain.clone_from(&h.seal_chain);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt(head: &[u8], signature: &[u8], chain: &[&[u8]]) -> pb::BatchOutcome {
        pb::BatchOutcome {
            outcome: Some(pb::batch_outcome::Outcome::Receipt(pb::Receipt {
                message_id: format!("m-{}", head.len()),
                batch_head: head.to_vec(),
                signature: signature.to_vec(),
                seal_chain: chain.iter().map(|c| c.to_vec()).collect(),
                ..Default::default()
            })),
        }
    }

    fn refusal() -> pb::BatchOutcome {
        pb::BatchOutcome {
            outcome: Some(pb::batch_outcome::Outcome::Refusal(pb::Refusal::default())),
        }
    }

    #[test]
    fn heads_are_packed_once_and_unpacked_into_every_receipt() {
        let sent = pb::BatchOutcomes {
            outcomes: vec![
                receipt(b"head-1", b"sig-1", &[b"leaf", b"ca"]),
                refusal(),
                receipt(b"head-1", b"sig-1", &[b"leaf", b"ca"]),
                // A redelivery answered with its first receipt, from an earlier batch.
                receipt(b"head-22", b"sig-2", &[b"leaf", b"ca"]),
                // A receipt signed alone keeps its signature.
                receipt(b"", b"sig-alone", &[b"leaf", b"ca"]),
            ],
            signed_heads: Vec::new(),
        };
        let mut wire = sent.clone();
        pack_signed_heads(&mut wire);
        assert_eq!(wire.signed_heads.len(), 2);
        let unsigned = wire
            .outcomes
            .iter()
            .filter_map(|o| match &o.outcome {
                Some(pb::batch_outcome::Outcome::Receipt(r)) => Some(r),
                _ => None,
            })
            .filter(|r| r.signature.is_empty() && r.seal_chain.is_empty())
            .count();
        assert_eq!(unsigned, 3, "the batched receipts travel without chain");
        unpack_signed_heads(&mut wire);
        assert_eq!(wire.outcomes, sent.outcomes);
    }

    #[test]
    fn a_receipt_whose_head_is_not_listed_stays_unsigned() {
        let mut wire = pb::BatchOutcomes {
            outcomes: vec![receipt(b"head-1", b"", &[])],
            signed_heads: vec![pb::SignedHead {
                batch_head: b"head-other".to_vec(),
                signature: b"sig".to_vec(),
                seal_chain: vec![b"leaf".to_vec()],
            }],
        };
        unpack_signed_heads(&mut wire);
        assert_eq!(wire.outcomes, vec![receipt(b"head-1", b"", &[])]);
    }

    #[test]
    fn a_receipt_that_carries_its_own_signature_is_left_as_it_is() {
        let own = receipt(b"head-1", b"own-sig", &[b"own-leaf"]);
        let mut wire = pb::BatchOutcomes {
            outcomes: vec![own.clone()],
            signed_heads: vec![pb::SignedHead {
                batch_head: b"head-1".to_vec(),
                signature: b"listed-sig".to_vec(),
                seal_chain: vec![b"listed-leaf".to_vec()],
            }],
        };
        unpack_signed_heads(&mut wire);
        assert_eq!(wire.outcomes, vec![own]);
    }
}
