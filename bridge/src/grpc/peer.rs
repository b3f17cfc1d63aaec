//! `PeerService` (peer bridges): Deliver a sealed envelope, answered with a signed receipt. The
//! caller's country comes from the access layer's trust-list validation of its TLS chain.

use std::sync::Arc;

use bridge_proto::pb;
use bridge_proto::pb::peer_service_server::PeerService;
use tonic::{Request, Response, Status};

use super::exchange::receipt_to_pb;
use super::Caller;
use crate::exchange::{Exchange, SealedDelivery};

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

#[tonic::async_trait]
impl PeerService for PeerApi {
    async fn deliver(
        &self,
        req: Request<pb::SealedEnvelope>,
    ) -> Result<Response<pb::Receipt>, Status> {
        let country = req
            .extensions()
            .get::<Caller>()
            .and_then(|c| c.peer_country.clone());
        let delivery = SealedDelivery::from(req.into_inner());
        let (content, stored) = self
            .ex
            .deliver(delivery, country.as_deref(), self.ex.now())
            .await?;
        Ok(Response::new(receipt_to_pb(&content, stored)))
    }
}
