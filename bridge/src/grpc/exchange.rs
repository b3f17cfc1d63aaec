//! `ExchangeService` (operators): Submit and SubmitStream, GetStatus, GetReceipt and the Receive
//! stream with explicit acknowledgement. Requests become domain values here; the work is in
//! `exchange`. SubmitStream assembles the payload from its chunks under `exchange.max_payload`,
//! refusing the stream at the first chunk that passes it, then takes Submit's path.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bridge_proto::pb;
use bridge_proto::pb::exchange_service_server::ExchangeService;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::error::Error;
use crate::exchange::{
    check_message_id, unix_nanos, Accepted, Address, Envelope, EnvelopeErrorKind, Exchange,
    ExchangeError, ReceiptContent, SenderPresentation,
};
use crate::identity::PresentationFormat;
use crate::store::outbox::{OutboxRecord, OutboxState, ReceiptBatch, StoredReceipt};

/// Messages sent to one Receive stream before the next look at the inbox: small, so that a
/// slow operator holds little memory.
const RECEIVE_BATCH: usize = 32;

/// Acknowledgements of one Receive stream being committed at once: enough to fill a group commit
/// at hundreds of messages per second, few enough to bound the work one stream queues.
const ACK_PIPELINE: usize = 64;

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
    let presentation = sender_presentation(
        e.sender_presentation,
        e.presentation_nonce,
        e.presentation_format,
        e.presentation_response_uri,
        e.presentation_origin,
    )?;
    Ok(Envelope::new(
        e.message_id,
        address("sender", e.sender).map_err(ExchangeError::from)?,
        address("recipient", e.recipient).map_err(ExchangeError::from)?,
        e.payload,
        &e.payload_sha256,
        max_payload,
    )
    .map_err(ExchangeError::from)?
    .with_presentation(presentation))
}

/// The sender's presentation from its wire fields: format, then the session an mdoc answers.
fn sender_presentation(
    presentation: Vec<u8>,
    nonce: String,
    format: i32,
    response_uri: String,
    origin: String,
) -> Result<Option<SenderPresentation>, Error> {
    let Some(p) =
        SenderPresentation::from_fields(presentation, nonce).map_err(ExchangeError::from)?
    else {
        return Ok(None);
    };
    let format = match pb::PresentationFormat::try_from(format) {
        Ok(
            pb::PresentationFormat::Unspecified
            | pb::PresentationFormat::SdJwtVc
            | pb::PresentationFormat::SdJwtJson,
        ) => PresentationFormat::SdJwt,
        Ok(pb::PresentationFormat::Mdoc) => PresentationFormat::Mdoc,
        Err(_) => {
            return Err(Error::InvalidField {
                field: "envelope.presentation_format",
                reason: "SD_JWT_VC, SD_JWT_JSON or MDOC".into(),
            })
        }
    };
    Ok(Some(
        p.with_format(format, response_uri, origin)
            .map_err(ExchangeError::from)?,
    ))
}

fn stream_error(kind: EnvelopeErrorKind) -> Status {
    Error::from(ExchangeError::from(kind)).into()
}

/// Reads a SubmitStream: the header first, then payload chunks appended while they stay within
/// `max_payload` (the bound is checked before a chunk is kept, so no more than `max_payload`
/// bytes are ever buffered), and returns the header with its payload.
async fn assemble(
    stream: &mut Streaming<pb::SubmitChunk>,
    max_payload: u64,
) -> Result<pb::Envelope, Status> {
    use pb::submit_chunk::Part;
    let mut header = match stream.message().await? {
        Some(pb::SubmitChunk {
            part: Some(Part::Header(h)),
        }) => h,
        _ => return Err(stream_error(EnvelopeErrorKind::StreamHeaderMissing)),
    };
    if !header.payload.is_empty() {
        return Err(stream_error(EnvelopeErrorKind::StreamHeaderMisplaced));
    }
    // The header's own fields are checked before any payload is taken: a bad id, address or
    // digest costs the client no upload.
    check_message_id(&header.message_id).map_err(stream_error)?;
    address("sender", header.sender.clone()).map_err(stream_error)?;
    address("recipient", header.recipient.clone()).map_err(stream_error)?;
    if header.payload_sha256.len() != 32 {
        return Err(stream_error(EnvelopeErrorKind::DigestLength(
            header.payload_sha256.len(),
        )));
    }
    let mut payload = Vec::new();
    while let Some(chunk) = stream.message().await? {
        match chunk.part {
            Some(Part::Payload(bytes)) => {
                if (payload.len() as u64).saturating_add(bytes.len() as u64) > max_payload {
                    return Err(stream_error(EnvelopeErrorKind::StreamTooLarge {
                        limit: max_payload,
                    }));
                }
                payload.extend_from_slice(&bytes);
            }
            Some(Part::Header(_)) => {
                return Err(stream_error(EnvelopeErrorKind::StreamHeaderMisplaced))
            }
            // An empty chunk adds nothing.
            None => {}
        }
    }
    header.payload = payload;
    Ok(header)
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
        batch_head: stored
            .batch
            .as_ref()
            .map(|b| b.head.clone())
            .unwrap_or_default(),
        leaf_index: stored.batch.as_ref().map_or(0, |b| b.leaf_index),
        inclusion_proof: stored.batch.map(|b| b.audit_path).unwrap_or_default(),
    }
}

/// A receipt as a peer sent it, to check and keep: the signed bytes, the signature, the chain
/// and the batch path; the plain copies on the wire are for people reading it.
impl From<pb::Receipt> for StoredReceipt {
    fn from(r: pb::Receipt) -> Self {
        StoredReceipt {
            batch: (!r.batch_head.is_empty()).then_some(ReceiptBatch {
                head: r.batch_head,
                leaf_index: r.leaf_index,
                audit_path: r.inclusion_proof,
            }),
            signed_content: r.signed_content,
            signature: r.signature,
            seal_chain: r.seal_chain,
            seal_chain_sha256: None,
        }
    }
}

fn lookup(ex: &Exchange, req: pb::GetStatusRequest) -> Result<OutboxRecord, Error> {
    let sender = address("sender", req.sender).map_err(ExchangeError::from)?;
    ex.status(&sender, &req.message_id)
}

/// A message a Receive stream sent and the operator has not acknowledged yet.
#[derive(Debug)]
struct Unacked {
    origin_peer: String,
    sender: String,
    message_id: String,
}

/// The message an acknowledgement names, taken out of the stream's unacknowledged set; `None`
/// for an action that acknowledges nothing (a start, an unknown or repeated ack).
///
/// # Errors
/// [`ExchangeError::AmbiguousAck`] when an ack by id alone names several messages.
fn take_acknowledged(
    sent: &Mutex<HashMap<u64, Unacked>>,
    action: pb::receive_request::Action,
) -> Result<Option<Unacked>, ExchangeError> {
    // A poisoned lock only means a panic elsewhere while inserting: the map is whole.
    let mut sent = sent.lock().unwrap_or_else(|p| p.into_inner());
    match action {
        pb::receive_request::Action::Start(_) => Ok(None),
        pb::receive_request::Action::AckJournalIndex(index) => Ok(sent.remove(&index)),
        pb::receive_request::Action::AckMessageId(id) => {
            let named: Vec<u64> = sent
                .iter()
                .filter(|(_, m)| m.message_id == id)
                .map(|(index, _)| *index)
                .collect();
            match named.as_slice() {
                [] => Ok(None),
                [index] => Ok(sent.remove(index)),
                _ => Err(ExchangeError::AmbiguousAck {
                    message_id: id,
                    count: named.len(),
                }),
            }
        }
    }
}

#[tonic::async_trait]
impl ExchangeService for ExchangeApi {
    async fn submit(
        &self,
        req: Request<pb::SubmitRequest>,
    ) -> Result<Response<pb::SubmitResponse>, Status> {
        let env = envelope_from_pb(req.into_inner().envelope, self.ex.settings().max_payload)?;
        let now = unix_nanos(self.ex.now());
        let answer = self.ex.submit(env, now).await?;
        Ok(Response::new(accepted(answer)))
    }

    async fn submit_stream(
        &self,
        req: Request<Streaming<pb::SubmitChunk>>,
    ) -> Result<Response<pb::SubmitResponse>, Status> {
        let max_payload = self.ex.settings().max_payload;
        let header = assemble(&mut req.into_inner(), max_payload).await?;
        let env = envelope_from_pb(Some(header), max_payload)?;
        let now = unix_nanos(self.ex.now());
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
        // What this stream sent and the operator has not acknowledged yet, by journal index (the
        // unique name of a received message), so that acks can name a message by index or by id.
        let sent: Arc<Mutex<HashMap<u64, Unacked>>> = Arc::default();
        let ex = self.ex.clone();
        let acks = sent.clone();
        let refusals = tx.clone();
        // The operator half-closing its side ends the stream, once its acks are durable.
        let (done_tx, mut done_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            use futures_util::StreamExt;
            // Acks are pipelined so that they share group commits: one durable commit per ack,
            // awaited in turn, caps the acknowledgement rate below the delivery rate under load,
            // and the unacknowledged backlog (and this stream's `sent` map) then grows without
            // bound (found by `bench soak`).
            let mut pending = futures_util::stream::FuturesUnordered::new();
            loop {
                tokio::select! {
                    msg = inbound.message(), if pending.len() < ACK_PIPELINE => {
                        let Ok(Some(msg)) = msg else { break };
                        let Some(action) = msg.action else { continue };
                        let target = match take_acknowledged(&acks, action) {
                            Ok(Some(target)) => target,
                            Ok(None) => continue,
                            Err(refused) => {
                                let _ = refusals.send(Err(Error::from(refused).into())).await;
                                break;
                            }
                        };
                        let ex = ex.clone();
                        pending.push(async move {
                            let now = unix_nanos(ex.now());
                            let Unacked { origin_peer, sender, message_id } = target;
                            if let Err(e) = ex.ack(&origin_peer, &sender, &message_id, now).await {
                                tracing::warn!(error = %e, "ack failed");
                            }
                        });
                    }
                    Some(()) = pending.next(), if !pending.is_empty() => {}
                }
            }
            while pending.next().await.is_some() {}
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
                        s.insert(
                            m.record.journal_index,
                            Unacked {
                                origin_peer: m.record.origin_peer.clone(),
                                sender: m.record.sender.clone(),
                                message_id: m.record.message_id.clone(),
                            },
                        );
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
