//! A fake Belgian bridge. For the receipt cases it serves `PeerService` over mutual TLS with the
//! real BE QWAC (so the French relay's server check passes); for the impostor cases it serves
//! with a certificate the relay must refuse, and counts the deliveries it gets (there must be
//! none: the payload never reaches an impostor). It answers every sealed envelope with a receipt
//! signed by BE's qualified seal, then altered the way the message id asks:
//!
//! | message id prefix   | receipt                                                        |
//! |----------------------|----------------------------------------------------------------|
//! | `rcpt-honest-`       | correct (baseline: the sender must accept it)                  |
//! | `rcpt-badsig-`       | last signature byte flipped                                    |
//! | `rcpt-badcontent-`   | journal index in the signed content changed after signing      |
//! |                      | (so it is no longer the leaf its audit path proves)            |
//! | `rcpt-wrongkey-`     | signed by FR's own qualified seal instead of BE's              |
//! | `rcpt-othermsg-`     | a correct BE receipt, but for message `rcpt-honest-1`          |
//!
//! The sender must refuse all but the first (DESIGN.md "Exchange semantics": the receiving bridge
//! answers with a signed receipt that the sender journals).

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bridge_proto::pb;
use bridge_proto::pb::peer_service_server::{PeerService, PeerServiceServer};
use eidas_bridge::exchange::{
    BatchKind, ReceiptContent, SealErrorKind, SealKey, SealedContent, SignedBatch,
};
use eidas_bridge::store::outbox::{ReceiptBatch, StoredReceipt};
use eidas_bridge::tls::{self, ServerIdentity};
use tokio::sync::oneshot;
use tonic::{Request, Response, Status};

use super::world::World;

/// Handshake bound of the fake server (the bridges' own default is of the same order).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// The message whose receipt `rcpt-othermsg-` envelopes get.
pub(super) const HONEST_ID: &str = "rcpt-honest-1";

struct FakeBe {
    be_seal: SealKey,
    fr_seal: SealKey,
    deliveries: Arc<AtomicUsize>,
}

impl FakeBe {
    /// The receipt content for the sealed envelope `sealed_content`, altered before signing as
    /// its message id asks.
    fn content(&self, sealed_content: &[u8]) -> Result<ReceiptContent, Status> {
        let sealed = SealedContent::decode(sealed_content)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let mut content = ReceiptContent {
            message_id: sealed.message_id.clone(),
            origin_peer: sealed.origin_peer.clone(),
            receiver_peer: "BE".into(),
            payload_sha256: sealed.payload_sha256,
            received_at: sealed.sealed_at,
            journal_index: 7,
        };
        if sealed.message_id.starts_with("rcpt-othermsg-") {
            content.message_id = HONEST_ID.into();
        }
        Ok(content)
    }

    /// The seal that signs the receipt of `id`.
    fn key_for(&self, id: &str) -> &SealKey {
        if id.starts_with("rcpt-wrongkey-") {
            &self.fr_seal
        } else {
            &self.be_seal
        }
    }

    /// The alterations after signing, as the message id `id` asks.
    fn alter_signed(id: &str, receipt: &mut pb::Receipt) {
        if id.starts_with("rcpt-badsig-") {
            if let Some(last) = receipt.signature.last_mut() {
                *last ^= 1;
            }
        }
        if id.starts_with("rcpt-badcontent-") {
            // The journal index is the last field: alter it after signing.
            if let Some(last) = receipt.signed_content.last_mut() {
                *last ^= 1;
            }
        }
    }

    /// A unary receipt: signed alone.
    fn receipt(&self, env: &pb::SealedEnvelope) -> Result<pb::Receipt, Status> {
        let content = self.content(&env.sealed_content)?;
        let key = self.key_for(&env.message_id);
        let signed_content = content.encode().map_err(internal)?;
        let mut receipt = wire(
            &content,
            StoredReceipt {
                signature: key.sign(&signed_content).map_err(internal)?,
                signed_content,
                seal_chain: key.chain_der().map_err(internal)?,
                seal_chain_sha256: None,
                batch: None,
            },
        );
        Self::alter_signed(&env.message_id, &mut receipt);
        Ok(receipt)
    }

    /// Batched receipts: one receipt batch per signing key (BE's seal, or FR's for the
    /// `rcpt-wrongkey-` envelopes), each receipt with its audit path, then altered.
    fn receipts(&self, batch: &pb::SealedBatch) -> Result<pb::BatchOutcomes, Status> {
        let mut outcomes = vec![None; batch.envelopes.len()];
        for wrong_key in [false, true] {
            let mine: Vec<(usize, &pb::BatchedEnvelope)> = batch
                .envelopes
                .iter()
                .enumerate()
                .filter(|(_, e)| e.message_id.starts_with("rcpt-wrongkey-") == wrong_key)
                .collect();
            let Some((_, first)) = mine.first() else {
                continue;
            };
            let contents = mine
                .iter()
                .map(|(_, e)| self.content(&e.sealed_content))
                .collect::<Result<Vec<_>, _>>()?;
            let leaves = contents
                .iter()
                .map(|c| c.encode().map_err(internal))
                .collect::<Result<Vec<_>, _>>()?;
            let key = self.key_for(&first.message_id);
            let origin = contents[0].origin_peer.clone();
            let signed = SignedBatch::sign(key, BatchKind::Receipt, &origin, "BE", 0, &leaves)
                .map_err(internal)?;
            let stored = signed.receipts(leaves).map_err(internal)?;
            for (((i, e), content), stored) in mine.iter().zip(&contents).zip(stored) {
                let mut receipt = wire(content, stored);
                Self::alter_signed(&e.message_id, &mut receipt);
                outcomes[*i] = Some(pb::BatchOutcome {
                    outcome: Some(pb::batch_outcome::Outcome::Receipt(receipt)),
                });
            }
        }
        // Each receipt keeps its own signature and chain, the form every bridge accepts as well
        // as the packed one (`signed_heads`).
        Ok(pb::BatchOutcomes {
            outcomes: outcomes.into_iter().flatten().collect(),
            signed_heads: Vec::new(),
        })
    }
}

fn internal(e: SealErrorKind) -> Status {
    Status::internal(e.to_string())
}

/// The wire form of a receipt (the plain copies from `content`).
fn wire(content: &ReceiptContent, stored: StoredReceipt) -> pb::Receipt {
    let batch = stored.batch.unwrap_or_else(|| ReceiptBatch {
        head: Vec::new(),
        leaf_index: 0,
        audit_path: Vec::new(),
    });
    pb::Receipt {
        message_id: content.message_id.clone(),
        payload_sha256: content.payload_sha256.to_vec(),
        received_at: None,
        journal_index: content.journal_index,
        receiver_peer_id: content.receiver_peer.clone(),
        signed_content: stored.signed_content,
        signature: stored.signature,
        seal_chain: stored.seal_chain,
        batch_head: batch.head,
        leaf_index: batch.leaf_index,
        inclusion_proof: batch.audit_path,
    }
}

#[tonic::async_trait]
impl PeerService for FakeBe {
    async fn deliver(
        &self,
        req: Request<pb::SealedEnvelope>,
    ) -> Result<Response<pb::Receipt>, Status> {
        self.deliveries.fetch_add(1, Ordering::SeqCst);
        self.receipt(req.get_ref()).map(Response::new)
    }

    async fn deliver_batch(
        &self,
        req: Request<pb::SealedBatch>,
    ) -> Result<Response<pb::BatchOutcomes>, Status> {
        self.deliveries.fetch_add(1, Ordering::SeqCst);
        self.receipts(req.get_ref()).map(Response::new)
    }
}

/// A running fake BE; dropping it stops the server.
pub(super) struct FakePeer {
    /// Where it listens.
    pub(super) addr: std::net::SocketAddr,
    deliveries: Arc<AtomicUsize>,
    _stop: oneshot::Sender<()>,
}

impl FakePeer {
    /// How many `Deliver` calls reached the service (past the TLS handshake).
    pub(super) fn deliveries(&self) -> usize {
        self.deliveries.load(Ordering::SeqCst)
    }
}

impl std::fmt::Debug for FakePeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakePeer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

fn party_seal(w: &World, country: &str) -> Result<SealKey, String> {
    let seal = w
        .eco
        .seals
        .get(country)
        .ok_or(format!("no {country} seal"))?;
    let ca = w.eco.cas.get(country).ok_or(format!("no {country} CA"))?;
    Ok(SealKey::new(
        seal.key.clone(),
        vec![seal.cert.clone(), ca.cert.clone()],
    ))
}

/// Starts the fake BE with the real BE QWAC.
pub(super) async fn start(w: &World) -> Result<FakePeer, String> {
    start_with(
        w,
        &w.eco_dir.join("qwac-BE.chain.pem"),
        &w.eco_dir.join("qwac-BE.key.pem"),
    )
    .await
}

/// Starts the fake BE on a fresh loopback port with the TLS certificate chain and key of the
/// given PEM files, accepting FR's QWAC as client.
pub(super) async fn start_with(w: &World, cert: &Path, key: &Path) -> Result<FakePeer, String> {
    let chain = tls::read_certs(cert).map_err(|e| e.to_string())?;
    let key = tls::read_key(key).map_err(|e| e.to_string())?;
    let identity = ServerIdentity {
        chain,
        key,
        client_cas: w.trust.anchors("FR"),
    };
    let acceptor = identity.acceptor().map_err(|e| e.to_string())?;
    let listener = super::world::listener().await?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let deliveries = Arc::new(AtomicUsize::new(0));
    let service = FakeBe {
        be_seal: party_seal(w, "BE")?,
        fr_seal: party_seal(w, "FR")?,
        deliveries: deliveries.clone(),
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let incoming = tls::incoming(listener, acceptor, HANDSHAKE_TIMEOUT);
    let service = Arc::new(service);
    tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(PeerServiceServer::from_arc(service))
            .serve_with_incoming_shutdown(incoming, async move {
                let _ = stopped.await;
            })
            .await;
    });
    Ok(FakePeer {
        addr,
        deliveries,
        _stop: stop,
    })
}
