//! `JournalService` (auditors): the latest signed checkpoint, entries replayed as a stream, and
//! RFC 9162 inclusion and consistency proofs.

use std::sync::Arc;

use bridge_proto::pb;
use bridge_proto::pb::journal_service_server::JournalService;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::error::Error;
use crate::journal::{merkle, Journal, JournalEntry};

/// Entries buffered between the blocking reader and the gRPC stream: enough to keep a fast auditor
/// busy, small enough that a slow one holds little memory.
const REPLAY_BUFFER: usize = 256;

/// The service over a running journal.
#[derive(Debug, Clone)]
pub struct JournalApi {
    journal: Arc<Journal>,
}

impl JournalApi {
    /// Serves `journal`.
    pub fn new(journal: Arc<Journal>) -> JournalApi {
        JournalApi { journal }
    }
}

/// The wire form of an entry.
pub fn entry_to_pb(index: u64, entry: &JournalEntry, encoded: Vec<u8>) -> pb::JournalEntry {
    pb::JournalEntry {
        index,
        encoded,
        kind: entry.kind.as_str().to_owned(),
        time: Some(prost_types::Timestamp {
            seconds: entry.unix_nanos.div_euclid(1_000_000_000),
            nanos: entry.unix_nanos.rem_euclid(1_000_000_000) as i32,
        }),
        message_id: entry.message_id.clone().unwrap_or_default(),
        sender: entry.sender.clone().unwrap_or_default(),
        recipient: entry.recipient.clone().unwrap_or_default(),
        peer: entry.peer.clone().unwrap_or_default(),
        payload_sha256: entry.payload.map(|p| p.sha256.to_vec()).unwrap_or_default(),
        payload_size: entry.payload.map(|p| p.size).unwrap_or_default(),
        trust_snapshot_digest: entry.trust_snapshot.map(|d| d.to_vec()).unwrap_or_default(),
        reason: entry.reason.clone().unwrap_or_default(),
        decision: entry
            .evidence
            .map(|e| e.decision.as_str().to_owned())
            .unwrap_or_default(),
        evidence_chain_digest: entry.evidence.map(|e| e.chain.to_vec()).unwrap_or_default(),
    }
}

#[tonic::async_trait]
impl JournalService for JournalApi {
    async fn get_checkpoint(
        &self,
        _req: Request<pb::GetCheckpointRequest>,
    ) -> Result<Response<pb::Checkpoint>, Status> {
        let head = self.journal.head();
        Ok(Response::new(pb::Checkpoint {
            note: self.journal.latest_checkpoint().to_string(),
            tree_size: head.size,
            root_hash: head.root.to_vec(),
            verifier_key: self.journal.verifier().to_vkey(),
        }))
    }

    type ReplayStream = ReceiverStream<Result<pb::JournalEntry, Status>>;

    async fn replay(
        &self,
        req: Request<pb::ReplayRequest>,
    ) -> Result<Response<Self::ReplayStream>, Status> {
        let req = req.into_inner();
        let size = self.journal.head().size;
        let to = if req.to == 0 { size } else { req.to };
        if req.from > to || to > size {
            return Err(Error::InvalidField {
                field: "to",
                reason: format!(
                    "range [{}, {to}) is not within the journal's {size} entries",
                    req.from
                ),
            }
            .into());
        }
        let (tx, rx) = mpsc::channel(REPLAY_BUFFER);
        let journal = self.journal.clone();
        // Storage reads block: run the reader on the blocking pool; it stops when the client goes.
        tokio::task::spawn_blocking(move || {
            let mut replay = journal.replay(req.from, to);
            while let Some(item) = replay.next_raw() {
                let message = item.map_err(Error::from).and_then(|(index, bytes)| {
                    let entry =
                        JournalEntry::decode(&bytes).map_err(|e| Error::Journal(e.into()))?;
                    Ok(entry_to_pb(index, &entry, bytes))
                });
                let stop = message.is_err();
                if tx.blocking_send(message.map_err(Status::from)).is_err() || stop {
                    break;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn get_inclusion_proof(
        &self,
        req: Request<pb::InclusionProofRequest>,
    ) -> Result<Response<pb::InclusionProof>, Status> {
        let req = req.into_inner();
        let journal = self.journal.clone();
        let proof = tokio::task::spawn_blocking(move || -> Result<pb::InclusionProof, Error> {
            let path = journal.inclusion_proof(req.index, req.tree_size)?;
            let leaf = journal
                .replay(req.index, req.index + 1)
                .next_raw()
                .ok_or(Error::NotFound { what: "entry" })??;
            Ok(pb::InclusionProof {
                index: req.index,
                tree_size: req.tree_size,
                leaf_hash: merkle::leaf_hash(&leaf.1).to_vec(),
                path: path.iter().map(|h| h.to_vec()).collect(),
            })
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))??;
        Ok(Response::new(proof))
    }

    async fn get_consistency_proof(
        &self,
        req: Request<pb::ConsistencyProofRequest>,
    ) -> Result<Response<pb::ConsistencyProof>, Status> {
        let req = req.into_inner();
        let journal = self.journal.clone();
        let path = tokio::task::spawn_blocking(move || {
            journal.consistency_proof(req.from_size, req.to_size)
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .map_err(Error::from)?;
        Ok(Response::new(pb::ConsistencyProof {
            from_size: req.from_size,
            to_size: req.to_size,
            path: path.iter().map(|h| h.to_vec()).collect(),
        }))
    }
}
