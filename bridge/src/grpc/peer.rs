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
        Ok(Response::new(pb::BatchOutcomes { outcomes }))
    }
}
