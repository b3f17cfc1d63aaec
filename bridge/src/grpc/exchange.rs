//! `ExchangeService` (operators): Submit, GetStatus, GetReceipt and the Receive stream with
//! explicit acknowledgement. Requests become domain values here; the work is in `exchange`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bridge_proto::pb;
use bridge_proto::pb::exchange_service_server::ExchangeService;
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::error::Error;
use crate::exchange::{
    unix_nanos, Accepted, Address, Envelope, EnvelopeErrorKind, Exchange, ExchangeError,
    ReceiptContent,
};
use crate::store::outbox::{OutboxRecord, OutboxState, StoredReceipt};

/// Messages sent to one Receive stream before the next look at the inbox: small, so that a
/// slow operator holds little memory.
const RECEIVE_BATCH: usize = 32;

/// The service over an exchange.
#[derive(Debug, Clone)]
pub struct ExchangeApi {
    ex: Arc<Exchange>,
}

impl ExchangeApi {
    /// Serves `ex`.
    pub fn new(ex: Arc<Exchange>) -> ExchangeApi {
        ExchangeApi { ex }
    }
}

fn address(field: &'static str, a: Option<pb::Address>) -> Result<Address, EnvelopeErrorKind> {
    let a = a.ok_or(EnvelopeErrorKind::Space { field })?;
    Address::new(field, &a.space, a.value)
}

/// The operator's envelope as Submit receives it, validated into the domain [`Envelope`]: both
/// addresses with their spaces, the message id, the payload bound `max_payload` and its digest.
///
/// # Errors
/// [`Error::InvalidField`] when the envelope is missing, else the [`EnvelopeErrorKind`] refusal.
pub fn envelope_from_pb(e: Option<pb::Envelope>, max_payload: u64) -> Result<Envelope, Error> {
    let e = e.ok_or(Error::InvalidField {
        field: "envelope",
        reason: "missing".into(),
    })?;
    Ok(Envelope::new(
        e.message_id,
        address("sender", e.sender).map_err(ExchangeError::from)?,
        address("recipient", e.recipient).map_err(ExchangeError::from)?,
        e.payload,
        &e.payload_sha256,
        max_payload,
    )
    .map_err(ExchangeError::from)?)
}

fn timestamp(nanos: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: nanos.div_euclid(1_000_000_000),
        nanos: nanos.rem_euclid(1_000_000_000) as i32,
    })
}

fn state(s: OutboxState) -> pb::ExchangeState {
    match s {
        OutboxState::Accepted => pb::ExchangeState::Accepted,
        OutboxState::Forwarded => pb::ExchangeState::Forwarded,
        OutboxState::Delivered => pb::ExchangeState::Delivered,
        OutboxState::Failed => pb::ExchangeState::Failed,
    }
}

fn accepted(a: Accepted) -> pb::SubmitResponse {
    pb::SubmitResponse {
        message_id: a.message_id,
        state: state(a.state) as i32,
        journal_index: a.journal_index,
        recipient_hcid: a.recipient,
        peer_id: a.peer,
        duplicate: a.duplicate,
    }
}

fn status(r: &OutboxRecord) -> pb::ExchangeStatus {
    pb::ExchangeStatus {
        message_id: r.message_id.clone(),
        state: state(r.state) as i32,
        attempts: r.attempts,
        accepted_at: timestamp(r.accepted_at),
        updated_at: timestamp(r.updated_at),
        next_attempt_at: (!r.state.is_terminal())
            .then(|| timestamp(r.next_attempt_at))
            .flatten(),
        reason: r.reason.clone().unwrap_or_default(),
        journal_indexes: r.journal_indexes.clone(),
    }
}

/// The wire form of a stored receipt (also used by PeerService).
pub(crate) fn receipt_to_pb(content: &ReceiptContent, stored: StoredReceipt) -> pb::Receipt {
    pb::Receipt {
        message_id: content.message_id.clone(),
        payload_sha256: content.payload_sha256.to_vec(),
        received_at: timestamp(content.received_at),
        journal_index: content.journal_index,
        receiver_peer_id: content.receiver_peer.clone(),
        signed_content: stored.signed_content,
        signature: stored.signature,
        seal_chain: stored.seal_chain,
    }
}

fn lookup(ex: &Exchange, req: pb::GetStatusRequest) -> Result<OutboxRecord, Error> {
    let sender = address("sender", req.sender).map_err(ExchangeError::from)?;
    ex.status(&sender, &req.message_id)
}

#[tonic::async_trait]
impl ExchangeService for ExchangeApi {
    async fn submit(
        &self,
        req: Request<pb::SubmitRequest>,
    ) -> Result<Response<pb::SubmitResponse>, Status> {
        let env = envelope_from_pb(req.into_inner().envelope, self.ex.settings().max_payload)?;
        let now = unix_nanos(OffsetDateTime::now_utc());
        let answer = self.ex.submit(env, now).await?;
        Ok(Response::new(accepted(answer)))
    }

    async fn get_status(
        &self,
        req: Request<pb::GetStatusRequest>,
    ) -> Result<Response<pb::ExchangeStatus>, Status> {
        let record = lookup(&self.ex, req.into_inner())?;
        Ok(Response::new(status(&record)))
    }

    type ReceiveStream = ReceiverStream<Result<pb::InboundMessage, Status>>;

    async fn receive(
        &self,
        req: Request<Streaming<pb::ReceiveRequest>>,
    ) -> Result<Response<Self::ReceiveStream>, Status> {
        let mut inbound = req.into_inner();
        let (tx, rx) = mpsc::channel(RECEIVE_BATCH);
        // Message id -> origin peer of what this stream sent, so acks name messages by id alone.
        let sent: Arc<Mutex<HashMap<String, String>>> = Arc::default();
        let ex = self.ex.clone();
        let acks = sent.clone();
        // The operator half-closing its side ends the stream, once its acks are durable.
        let (done_tx, mut done_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            while let Ok(Some(msg)) = inbound.message().await {
                let Some(pb::receive_request::Action::AckMessageId(id)) = msg.action else {
                    continue;
                };
                let origin = acks.lock().ok().and_then(|mut m| m.remove(&id));
                if let Some(origin) = origin {
                    let now = unix_nanos(OffsetDateTime::now_utc());
                    if let Err(e) = ex.ack(&origin, &id, now).await {
                        tracing::warn!(error = %e, "ack failed");
                    }
                }
            }
            let _ = done_tx.send(true);
        });
        let ex = self.ex.clone();
        tokio::spawn(async move {
            let mut last = None;
            loop {
                let arrived = ex.arrivals().notified();
                tokio::pin!(arrived);
                arrived.as_mut().enable();
                let batch = match ex.inbox_after(last, RECEIVE_BATCH) {
                    Ok(b) => b,
                    Err(e) => {
                        let _ = tx.send(Err(e.into())).await;
                        return;
                    }
                };
                let full = batch.len() == RECEIVE_BATCH;
                for m in batch {
                    last = Some(m.record.seq);
                    if let Ok(mut s) = sent.lock() {
                        s.insert(m.record.message_id.clone(), m.record.origin_peer.clone());
                    }
                    let msg = pb::InboundMessage {
                        message_id: m.record.message_id,
                        sender: Some(pb::Address {
                            space: m.sender.0.name().to_owned(),
                            value: m.sender.1,
                        }),
                        recipient: Some(pb::Address {
                            space: m.recipient.0.name().to_owned(),
                            value: m.recipient.1,
                        }),
                        payload: m.payload,
                        payload_sha256: m.record.payload_sha256.to_vec(),
                        sender_hcid: m.record.sender,
                        recipient_hcid: m.record.recipient,
                        from_peer: m.record.origin_peer,
                        journal_index: m.record.journal_index,
                    };
                    if tx.send(Ok(msg)).await.is_err() {
                        return;
                    }
                }
                if !full {
                    tokio::select! {
                        _ = arrived => {}
                        _ = tx.closed() => return,
                        _ = done_rx.wait_for(|d| *d) => return,
                    }
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn get_receipt(
        &self,
        req: Request<pb::GetStatusRequest>,
    ) -> Result<Response<pb::Receipt>, Status> {
        let record = lookup(&self.ex, req.into_inner())?;
        let stored = record
            .receipt
            .ok_or(Error::from(ExchangeError::NoReceipt))?;
        let content = ReceiptContent::decode(&stored.signed_content).map_err(|kind| {
            Error::from(ExchangeError::Seal {
                what: "receipt",
                kind,
            })
        })?;
        Ok(Response::new(receipt_to_pb(&content, stored)))
    }
}
