//! Two bridges (FR, BE) in one process on 127.0.0.1:0, trusting each other only through the
//! generated test LOTL and national lists: end to end and back, a down peer, resends, refused
//! certificates, tampered seals and receipts.

use eidas_bridge::grpc::peer::unpack_signed_heads;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bridge_proto::pb;
use bridge_proto::pb::exchange_service_client::ExchangeServiceClient;
use bridge_proto::pb::peer_service_client::PeerServiceClient;
use eidas_bridge::demo::{
    channel_to, client_identity, start_node, start_pair, trust_of, walk_ecosystem, NodeOptions,
    Pair, FR_DIRECTORY,
};
use eidas_bridge::exchange::{
    verify_receipt, BatchHead, BatchKind, ExchangeError, RetryPolicy, SealErrorKind, SealKey,
    SealedContent, SignedBatch, FOLLOW_ON_ENVELOPES, MAX_BATCH_ENVELOPES, MAX_QUEUED_PER_PEER,
};
use eidas_bridge::journal::EntryKind;
use eidas_bridge::store::outbox::OutboxState;
use sha2::{Digest, Sha256};
use test_ecosystem::Ecosystem;
use time::OffsetDateTime;
use tonic::Code;

mod common;
use common::{addr, open_receive, reason, receive_acking, retry, wait_state};

fn eco() -> &'static Ecosystem {
    static ECO: OnceLock<Ecosystem> = OnceLock::new();
    ECO.get_or_init(|| Ecosystem::generate(b"eidas-bridge exchange tests").unwrap())
}

const NURSE: (&str, &str) = ("mssante", "jean-marie.dupont@infirmier.mssante.fr");
const HOSPITAL: (&str, &str) = ("ehealthbox", "ehbox:HOSPITAL:NIHII-HOSPITAL:71000436");

fn envelope(id: &str, from: (&str, &str), to: (&str, &str), payload: &[u8]) -> pb::SubmitRequest {
    pb::SubmitRequest {
        envelope: Some(pb::Envelope {
            message_id: id.into(),
            sender: addr(from.0, from.1),
            recipient: addr(to.0, to.1),
            payload: payload.to_vec(),
            payload_sha256: Sha256::digest(payload).to_vec(),
            ..Default::default()
        }),
    }
}

/// Opens a Receive stream, collects `n` messages, acknowledges them, closes.
/// How a test's operator acknowledges what it receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ack {
    No,
    ByMessageId,
    ByJournalIndex,
}

async fn receive(
    client: &mut ExchangeServiceClient<tonic::transport::Channel>,
    n: usize,
    ack: bool,
) -> Vec<pb::InboundMessage> {
    receive_with(client, n, if ack { Ack::ByMessageId } else { Ack::No }).await
}

async fn receive_with(
    client: &mut ExchangeServiceClient<tonic::transport::Channel>,
    n: usize,
    ack: Ack,
) -> Vec<pb::InboundMessage> {
    receive_acking(client, n, |m| match ack {
        Ack::No => None,
        Ack::ByMessageId => Some(pb::receive_request::Action::AckMessageId(
            m.message_id.clone(),
        )),
        Ack::ByJournalIndex => Some(pb::receive_request::Action::AckJournalIndex(
            m.journal_index,
        )),
    })
    .await
}

/// Nothing more is waiting: a fresh stream yields nothing within a short while.
async fn nothing_waiting(client: &mut ExchangeServiceClient<tonic::transport::Channel>) {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut stream = client
        .receive(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let got = tokio::time::timeout(Duration::from_millis(500), stream.message()).await;
    assert!(got.is_err(), "unexpected message: {got:?}");
    drop(tx);
}

/// `e` written under `dir`, for bridges started by hand, and the trust its lists give now.
fn ecosystem_in(
    e: &Ecosystem,
    dir: &std::path::Path,
) -> (
    std::path::PathBuf,
    std::sync::Arc<dyn eidas_bridge::exchange::PeerTrust>,
) {
    let eco_dir = eidas_bridge::demo::write_ecosystem(e, dir).unwrap();
    let trust = trust_of(&walk_ecosystem(e, OffsetDateTime::now_utc()).unwrap());
    (eco_dir, trust)
}

async fn pair(dir: &std::path::Path) -> Pair {
    start_pair(eco(), dir, retry()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_and_back_and_resend_not_delivered_twice() {
    let dir = tempfile::tempdir().unwrap();
    let p = pair(dir.path()).await;
    let mut fr = ExchangeServiceClient::new(p.fr.operator_channel().unwrap());
    let mut be = ExchangeServiceClient::new(p.be.operator_channel().unwrap());

    let first = fr
        .submit(envelope(
            "m-1",
            NURSE,
            ("canonical", "hcid:BE:nihii-hospital:71000436"),
            b"hello",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.peer_id, "BE");
    assert_eq!(first.recipient_hcid, "hcid:BE:nihii-hospital:71000436");
    assert!(!first.duplicate);
    let status = wait_state(&mut fr, "m-1", NURSE, pb::ExchangeState::Delivered).await;
    assert_eq!(status.journal_indexes.len(), 3); // accepted, forwarded, receipt
                                                 // `forwarded` and `receipt` of one message are journaled side by side.
    assert_eq!(status.journal_indexes[2], status.journal_indexes[1] + 1);

    // A resend gets the first answer and is never delivered again.
    let again = fr
        .submit(envelope(
            "m-1",
            NURSE,
            ("canonical", "hcid:BE:nihii-hospital:71000436"),
            b"hello",
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(again.duplicate);
    assert_eq!(again.journal_index, first.journal_index);
    // Same id, other payload: refused, the first stands.
    let conflict = fr
        .submit(envelope(
            "m-1",
            NURSE,
            ("canonical", "hcid:BE:nihii-hospital:71000436"),
            b"other",
        ))
        .await
        .unwrap_err();
    assert_eq!(conflict.code(), Code::AlreadyExists);

    let got = receive(&mut be, 1, true).await;
    assert_eq!(got[0].message_id, "m-1");
    assert_eq!(got[0].payload, b"hello");
    assert_eq!(got[0].from_peer, "FR");
    assert_eq!(got[0].recipient.as_ref().unwrap().value, HOSPITAL.1);
    assert_eq!(got[0].sender_hcid, "hcid:FR:rpps:10003456789;role=nurse");
    nothing_waiting(&mut be).await;

    // The receipt is evidence: signed by BE's seal, fetched later.
    let receipt = fr
        .get_receipt(pb::GetStatusRequest {
            message_id: "m-1".into(),
            sender: addr(NURSE.0, NURSE.1),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(receipt.receiver_peer_id, "BE");
    assert_eq!(receipt.payload_sha256, Sha256::digest(b"hello").to_vec());

    // And back: the hospital answers the nurse, who reads it in MSSanté form.
    be.submit(envelope(
        "r-1",
        HOSPITAL,
        ("canonical", "hcid:FR:rpps:10003456789"),
        b"reply",
    ))
    .await
    .unwrap();
    wait_state(&mut be, "r-1", HOSPITAL, pb::ExchangeState::Delivered).await;
    let got = receive(&mut fr, 1, true).await;
    assert_eq!(got[0].message_id, "r-1");
    assert_eq!(got[0].recipient.as_ref().unwrap().value, NURSE.1);
    assert_eq!(got[0].recipient.as_ref().unwrap().space, "mssante");
    p.fr.stop().await;
    p.be.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_messages_come_again_after_reconnect() {
    let dir = tempfile::tempdir().unwrap();
    let p = pair(dir.path()).await;
    let mut fr = ExchangeServiceClient::new(p.fr.operator_channel().unwrap());
    let mut be = ExchangeServiceClient::new(p.be.operator_channel().unwrap());
    fr.submit(envelope(
        "u-1",
        NURSE,
        ("canonical", "hcid:BE:nihii-hospital:71000436"),
        b"x",
    ))
    .await
    .unwrap();
    wait_state(&mut fr, "u-1", NURSE, pb::ExchangeState::Delivered).await;
    let first = receive(&mut be, 1, false).await;
    let second = receive(&mut be, 1, true).await;
    assert_eq!(first[0].message_id, second[0].message_id);
    nothing_waiting(&mut be).await;
    p.fr.stop().await;
    p.be.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_peer_gets_the_message_when_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let e = eco();
    let (eco_dir, trust) = ecosystem_in(e, dir.path());
    // Reserve BE's port, then leave it closed while FR sends.
    let be_addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let fr_node = start_node(
        &eco_dir,
        NodeOptions {
            country: "FR".into(),
            data_dir: dir.path().join("fr"),
            listener: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
            peers: vec![("BE".into(), be_addr.to_string())],
            trust: trust.clone(),
            directory_tsv: Some(FR_DIRECTORY.into()),
            retry: retry(),
            tls_identity: None,
        },
    )
    .await
    .unwrap();
    let mut fr = ExchangeServiceClient::new(fr_node.operator_channel().unwrap());
    fr.submit(envelope(
        "d-1",
        NURSE,
        ("canonical", "hcid:BE:nihii-hospital:71000436"),
        b"later",
    ))
    .await
    .unwrap();
    // At least two failed attempts, status still accepted with a reason.
    let mut status;
    loop {
        status = fr
            .get_status(pb::GetStatusRequest {
                message_id: "d-1".into(),
                sender: addr(NURSE.0, NURSE.1),
            })
            .await
            .unwrap()
            .into_inner();
        if status.attempts >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status.state, pb::ExchangeState::Accepted as i32);
    assert!(!status.reason.is_empty());
    let be_node = start_node(
        &eco_dir,
        NodeOptions {
            country: "BE".into(),
            data_dir: dir.path().join("be"),
            listener: tokio::net::TcpListener::bind(be_addr).await.unwrap(),
            peers: vec![("FR".into(), fr_node.addr.to_string())],
            trust,
            directory_tsv: None,
            retry: retry(),
            tls_identity: None,
        },
    )
    .await
    .unwrap();
    wait_state(&mut fr, "d-1", NURSE, pb::ExchangeState::Delivered).await;
    let mut be = ExchangeServiceClient::new(be_node.operator_channel().unwrap());
    let got = receive(&mut be, 1, true).await;
    assert_eq!(got[0].payload, b"later");
    fr_node.stop().await;
    be_node.stop().await;
}

/// A backlog towards a stalled peer waits in the outbox: while its batches hang, the relay keeps
/// at most `MAX_QUEUED_PER_PEER` more messages in memory, and everything is delivered once the
/// peer answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_waits_in_the_outbox_not_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let e = eco();
    let (eco_dir, trust) = ecosystem_in(e, dir.path());
    // BE's port accepts connections and never answers: FR's batches hang until their timeout.
    let stall = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let be_addr = stall.local_addr().unwrap();
    let stalled = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = stall.accept().await {
            held.push(socket);
        }
    });
    let node = |country: &str, listener, peers: Vec<(String, String)>, directory| NodeOptions {
        country: country.into(),
        data_dir: dir.path().join(country),
        listener,
        peers,
        trust: trust.clone(),
        directory_tsv: directory,
        retry: RetryPolicy {
            attempt_timeout: Duration::from_secs(2),
            ..retry()
        },
        tls_identity: None,
    };
    let fr_node = start_node(
        &eco_dir,
        node(
            "FR",
            tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
            vec![("BE".into(), be_addr.to_string())],
            Some(FR_DIRECTORY.into()),
        ),
    )
    .await
    .unwrap();
    // A few messages while the first batch hangs: they wait for it instead of going out in
    // small batches of their own, since they fill less than most of a batch.
    let few = FOLLOW_ON_ENVELOPES - 1;
    let mut fr = ExchangeServiceClient::new(fr_node.operator_channel().unwrap());
    for i in 0..few {
        let to = ("canonical", "hcid:BE:nihii-hospital:71000436");
        fr.submit(envelope(&format!("f-{i}"), NURSE, to, b"f"))
            .await
            .unwrap();
    }
    let relay = loop {
        let stats = fr_node.exchange.relay_stats();
        if stats.envelopes + stats.queued == few as u64 {
            break stats;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(relay.batches, 1, "{relay:?}");
    assert!(relay.queued > 0, "{relay:?}");
    let total = few + MAX_QUEUED_PER_PEER + 300;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(few));
    let submitters: Vec<_> = (0..16)
        .map(|_| {
            let mut fr = ExchangeServiceClient::new(fr_node.operator_channel().unwrap());
            let next = next.clone();
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= total {
                        return;
                    }
                    let to = ("canonical", "hcid:BE:nihii-hospital:71000436");
                    fr.submit(envelope(&format!("q-{i}"), NURSE, to, b"q"))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    let mut most = 0;
    while !submitters.iter().all(|t| t.is_finished()) {
        most = most.max(fr_node.exchange.relay_stats().queued);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for _ in 0..100 {
        most = most.max(fr_node.exchange.relay_stats().queued);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Then the queue fills up: the hanging batches hold 4 x 64 messages, the rest fill the queue
    // to its bound, and the messages past it wait in the outbox.
    assert_eq!(most, MAX_QUEUED_PER_PEER as u64);
    stalled.abort();
    let _ = stalled.await;

    let be_node = start_node(
        &eco_dir,
        node(
            "BE",
            tokio::net::TcpListener::bind(be_addr).await.unwrap(),
            vec![("FR".into(), fr_node.addr.to_string())],
            None,
        ),
    )
    .await
    .unwrap();
    let mut be = ExchangeServiceClient::new(be_node.operator_channel().unwrap());
    let got = receive(&mut be, total, true).await;
    let ids: std::collections::HashSet<String> = got.into_iter().map(|m| m.message_id).collect();
    assert_eq!(ids.len(), total);
    nothing_waiting(&mut be).await;
    fr_node.stop().await;
    be_node.stop().await;
}

fn sealed(
    e: &Ecosystem,
    seal_party: &test_ecosystem::certs::Party,
    chain_ca: &test_ecosystem::certs::Party,
    id: &str,
    payload: &[u8],
) -> pb::SealedEnvelope {
    let key = SealKey::new(
        seal_party.key.clone(),
        vec![seal_party.cert.clone(), chain_ca.cert.clone()],
    );
    let _ = e;
    let content = SealedContent {
        message_id: id.into(),
        sender_hcid: "hcid:FR:rpps:10003456789;role=nurse".into(),
        recipient_hcid: "hcid:BE:nihii-hospital:71000436".into(),
        payload_sha256: Sha256::digest(payload).into(),
        payload_size: payload.len() as u64,
        origin_peer: "FR".into(),
        destination_peer: "BE".into(),
        sealed_at: 0,
    };
    let bytes = content.encode().unwrap();
    pb::SealedEnvelope {
        message_id: id.into(),
        sender_hcid: content.sender_hcid.clone(),
        recipient_hcid: content.recipient_hcid.clone(),
        payload: payload.to_vec(),
        payload_sha256: content.payload_sha256.to_vec(),
        origin_peer_id: "FR".into(),
        seal: key.sign(&bytes).unwrap(),
        sealed_content: bytes,
        seal_chain: key.chain_der().unwrap(),
    }
}

/// `payloads` sealed as one batch from FR to BE by FR's qualified seal.
fn sealed_batch(e: &Ecosystem, ids_and_payloads: &[(&str, &[u8])]) -> pb::SealedBatch {
    let key = SealKey::new(
        e.seals["FR"].key.clone(),
        vec![e.seals["FR"].cert.clone(), e.cas["FR"].cert.clone()],
    );
    let envelopes: Vec<pb::BatchedEnvelope> = ids_and_payloads
        .iter()
        .map(|(id, payload)| {
            let single = sealed(e, &e.seals["FR"], &e.cas["FR"], id, payload);
            pb::BatchedEnvelope {
                message_id: single.message_id,
                sender_hcid: single.sender_hcid,
                recipient_hcid: single.recipient_hcid,
                payload: single.payload,
                payload_sha256: single.payload_sha256,
                sealed_content: single.sealed_content,
            }
        })
        .collect();
    let leaves: Vec<Vec<u8>> = envelopes.iter().map(|e| e.sealed_content.clone()).collect();
    let signed = SignedBatch::sign(&key, BatchKind::Seal, "FR", "BE", 0, &leaves).unwrap();
    pb::SealedBatch {
        origin_peer_id: "FR".into(),
        envelopes,
        batch_head: signed.head,
        seal: signed.signature,
        seal_chain: signed.seal_chain,
    }
}

fn receipt_of(outcome: &pb::BatchOutcome) -> &pb::Receipt {
    match &outcome.outcome {
        Some(pb::batch_outcome::Outcome::Receipt(r)) => r,
        other => panic!("not a receipt: {other:?}"),
    }
}

fn refusal_of(outcome: &pb::BatchOutcome) -> &pb::Refusal {
    match &outcome.outcome {
        Some(pb::batch_outcome::Outcome::Refusal(r)) => r,
        other => panic!("not a refusal: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_batches_one_seal_one_receipt_batch_and_refusals_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    let e = eco();
    let p = pair(dir.path()).await;
    let fr_qwac = client_identity(
        &p.eco_dir.join("qwac-FR.chain.pem"),
        &p.eco_dir.join("qwac-FR.key.pem"),
        Vec::new(),
    )
    .unwrap();
    let mut as_fr =
        PeerServiceClient::new(channel_to(p.be.addr, "BE", &fr_qwac, p.trust.clone()).unwrap());

    // Three envelopes under one seal; the second's payload is swapped after sealing: it alone
    // is refused, the others are received under one signed receipt batch.
    let mut batch = sealed_batch(e, &[("b-1", b"one"), ("b-2", b"two"), ("b-3", b"three")]);
    batch.envelopes[1].payload = b"TWO".to_vec();
    let mut answer = as_fr
        .deliver_batch(batch.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.outcomes.len(), 3);
    // On the wire the two receipts share one signed head: signature and chain travel once.
    assert_eq!(answer.signed_heads.len(), 1);
    assert!(receipt_of(&answer.outcomes[0]).seal_chain.is_empty());
    unpack_signed_heads(&mut answer);
    let refused = refusal_of(&answer.outcomes[1]);
    assert_eq!(
        (refused.code, refused.reason.as_str()),
        (Code::InvalidArgument as i32, "SEAL_INVALID")
    );
    assert!(refused.message.contains("payload"), "{refused:?}");
    let (r1, r3) = (
        receipt_of(&answer.outcomes[0]),
        receipt_of(&answer.outcomes[2]),
    );
    assert_eq!(
        (r1.message_id.as_str(), r3.message_id.as_str()),
        ("b-1", "b-3")
    );
    // One head, one signature; two leaves with their own paths.
    assert_eq!(r1.batch_head, r3.batch_head);
    assert_eq!(r1.signature, r3.signature);
    assert_eq!((r1.leaf_index, r3.leaf_index), (0, 1));
    let head = BatchHead::decode(&r1.batch_head, BatchKind::Receipt).unwrap();
    assert_eq!(
        (
            head.origin_peer.as_str(),
            head.receiver_peer.as_str(),
            head.size
        ),
        ("FR", "BE", 2)
    );
    // Each receipt verifies for its own message at FR's side.
    let now = OffsetDateTime::now_utc();
    for (r, payload) in [(r1, b"one".as_slice()), (r3, b"three".as_slice())] {
        let record = eidas_bridge::store::outbox::OutboxRecord {
            message_id: r.message_id.clone(),
            sender: "hcid:FR:rpps:10003456789;role=nurse".into(),
            recipient: "hcid:BE:nihii-hospital:71000436".into(),
            peer: "BE".into(),
            payload_sha256: Sha256::digest(payload).into(),
            payload_size: payload.len() as u64,
            state: OutboxState::Forwarded,
            attempts: 1,
            accepted_at: 0,
            updated_at: 0,
            next_attempt_at: 0,
            reason: None,
            journal_indexes: vec![0],
            receipt: None,
        };
        let stored = eidas_bridge::store::outbox::StoredReceipt {
            signed_content: r.signed_content.clone(),
            signature: r.signature.clone(),
            seal_chain: r.seal_chain.clone(),
            seal_chain_sha256: None,
            batch: Some(eidas_bridge::store::outbox::ReceiptBatch {
                head: r.batch_head.clone(),
                leaf_index: r.leaf_index,
                audit_path: r.inclusion_proof.clone(),
            }),
        };
        verify_receipt(&stored, &record, "FR", p.trust.as_ref(), now).unwrap();
    }
    // The received envelopes were journaled together, in the batch's order.
    assert_eq!(r3.journal_index, r1.journal_index + 1);
    let received: Vec<_> =
        p.be.journal
            .replay(r1.journal_index, r3.journal_index + 1)
            .map(|r| {
                let (_, entry) = r.unwrap();
                (entry.kind, entry.message_id)
            })
            .collect();
    assert_eq!(
        received,
        [
            (EntryKind::Received, Some("b-1".to_owned())),
            (EntryKind::Received, Some("b-3".to_owned()))
        ]
    );

    // The same batch again, repaired: the first and third get their first receipts back, the
    // second is received now, in a receipt batch of its own.
    let repaired = sealed_batch(e, &[("b-1", b"one"), ("b-2", b"two"), ("b-3", b"three")]);
    let mut again = as_fr.deliver_batch(repaired).await.unwrap().into_inner();
    unpack_signed_heads(&mut again);
    assert_eq!(receipt_of(&again.outcomes[0]), r1);
    assert_eq!(receipt_of(&again.outcomes[2]), r3);
    let r2 = receipt_of(&again.outcomes[1]);
    assert_eq!((r2.message_id.as_str(), r2.leaf_index), ("b-2", 0));
    assert_ne!(r2.batch_head, r1.batch_head);

    // Refusals of the batch as a whole.
    let whole = |s: tonic::Status| (s.code(), reason(&s));
    // A sealed content changed after sealing: the head's root no longer matches.
    let mut t = sealed_batch(e, &[("c-1", b"one"), ("c-2", b"two")]);
    let n = t.envelopes[0].sealed_content.len();
    t.envelopes[0].sealed_content[n - 1] ^= 1;
    let s = as_fr.deliver_batch(t).await.unwrap_err();
    assert_eq!(
        whole(s.clone()),
        (Code::InvalidArgument, "SEAL_INVALID".into())
    );
    assert!(s.message().contains("batch_root"), "{s:?}");
    // An envelope dropped from a sealed batch: the head's count disagrees.
    let mut t = sealed_batch(e, &[("c-1", b"one"), ("c-2", b"two")]);
    t.envelopes.pop();
    let s = as_fr.deliver_batch(t).await.unwrap_err();
    assert!(s.message().contains("batch_size"), "{s:?}");
    // The seal over the head altered.
    let mut t = sealed_batch(e, &[("c-1", b"one")]);
    let last = t.seal.len() - 1;
    t.seal[last] ^= 1;
    let s = as_fr.deliver_batch(t).await.unwrap_err();
    assert_eq!(whole(s), (Code::InvalidArgument, "SEAL_INVALID".into()));
    // A head addressed to another bridge cannot be replayed here.
    let mut t = sealed_batch(e, &[("c-1", b"one")]);
    let key = SealKey::new(
        e.seals["FR"].key.clone(),
        vec![e.seals["FR"].cert.clone(), e.cas["FR"].cert.clone()],
    );
    let leaves = vec![t.envelopes[0].sealed_content.clone()];
    let other = SignedBatch::sign(&key, BatchKind::Seal, "FR", "DE", 0, &leaves).unwrap();
    t.batch_head = other.head;
    t.seal = other.signature;
    let s = as_fr.deliver_batch(t).await.unwrap_err();
    assert_eq!(whole(s), (Code::PermissionDenied, "WRONG_PEER".into()));
    // A receipt head is not a seal head.
    let mut t = sealed_batch(e, &[("c-1", b"one")]);
    let as_receipt = SignedBatch::sign(&key, BatchKind::Receipt, "FR", "BE", 0, &leaves).unwrap();
    t.batch_head = as_receipt.head;
    t.seal = as_receipt.signature;
    let s = as_fr.deliver_batch(t).await.unwrap_err();
    assert_eq!(whole(s), (Code::InvalidArgument, "SEAL_INVALID".into()));
    // Empty and over-long batches.
    let mut t = sealed_batch(e, &[("c-1", b"one")]);
    t.envelopes.clear();
    let s = as_fr.deliver_batch(t).await.unwrap_err();
    assert_eq!(whole(s), (Code::InvalidArgument, "BATCH_SIZE".into()));
    let many: Vec<(String, Vec<u8>)> = (0..=MAX_BATCH_ENVELOPES)
        .map(|i| (format!("m-{i}"), vec![b'x'; 8]))
        .collect();
    let many: Vec<(&str, &[u8])> = many
        .iter()
        .map(|(i, p)| (i.as_str(), p.as_slice()))
        .collect();
    let s = as_fr
        .deliver_batch(sealed_batch(e, &many))
        .await
        .unwrap_err();
    assert_eq!(whole(s), (Code::InvalidArgument, "BATCH_SIZE".into()));
    // None of the refused batches reached BE's operator: only b-1, b-2 and b-3 did.
    let mut be = ExchangeServiceClient::new(p.be.operator_channel().unwrap());
    let got = receive(&mut be, 3, true).await;
    let mut ids: Vec<String> = got.iter().map(|m| m.message_id.clone()).collect();
    ids.sort();
    assert_eq!(ids, ["b-1", "b-2", "b-3"]);
    nothing_waiting(&mut be).await;
    p.fr.stop().await;
    p.be.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_peers_seals_and_receipts() {
    let dir = tempfile::tempdir().unwrap();
    let e = eco();
    let p = pair(dir.path()).await;
    let eco_dir = &p.eco_dir;
    let fr_qwac = client_identity(
        &eco_dir.join("qwac-FR.chain.pem"),
        &eco_dir.join("qwac-FR.key.pem"),
        Vec::new(),
    )
    .unwrap();
    let mut as_fr =
        PeerServiceClient::new(channel_to(p.be.addr, "BE", &fr_qwac, p.trust.clone()).unwrap());

    // A correct seal is accepted (baseline for the tampering below).
    let good = sealed(e, &e.seals["FR"], &e.cas["FR"], "s-1", b"sealed");
    let receipt = as_fr.deliver(good.clone()).await.unwrap().into_inner();
    assert_eq!(receipt.message_id, "s-1");
    // A redelivery returns the same receipt.
    let again = as_fr.deliver(good.clone()).await.unwrap().into_inner();
    assert_eq!(again.signed_content, receipt.signed_content);

    // Tampered payload next to a valid seal.
    let mut t = sealed(e, &e.seals["FR"], &e.cas["FR"], "s-2", b"sealed");
    t.payload = b"SEALED".to_vec();
    let s = as_fr.deliver(t).await.unwrap_err();
    assert_eq!(
        (s.code(), reason(&s).as_str()),
        (Code::InvalidArgument, "SEAL_INVALID")
    );
    // Tampered seal bytes.
    let mut t = sealed(e, &e.seals["FR"], &e.cas["FR"], "s-3", b"sealed");
    let last = t.seal.len() - 1;
    t.seal[last] ^= 1;
    let s = as_fr.deliver(t).await.unwrap_err();
    assert_eq!(
        (s.code(), reason(&s).as_str()),
        (Code::InvalidArgument, "SEAL_INVALID")
    );
    // A seal from a withdrawn service (and another country) is not trusted.
    let t = sealed(e, &e.withdrawn_seal, &e.withdrawn_ca, "s-4", b"sealed");
    let s = as_fr.deliver(t).await.unwrap_err();
    assert_eq!(
        (s.code(), reason(&s).as_str()),
        (Code::PermissionDenied, "SEAL_UNTRUSTED")
    );

    // A caller whose certificate comes from a withdrawn BE service: the handshake passes (the CA
    // is listed) but the trust store refuses it, so it holds no peer role at FR.
    let withdrawn_dir = dir.path().join("withdrawn");
    std::fs::create_dir_all(&withdrawn_dir).unwrap();
    let mut chain = e.withdrawn_seal.cert.to_pem().unwrap();
    chain.extend(e.withdrawn_ca.cert.to_pem().unwrap());
    std::fs::write(withdrawn_dir.join("chain.pem"), chain).unwrap();
    std::fs::write(
        withdrawn_dir.join("key.pem"),
        e.withdrawn_seal.key.private_key_to_pem_pkcs8().unwrap(),
    )
    .unwrap();
    let withdrawn = client_identity(
        &withdrawn_dir.join("chain.pem"),
        &withdrawn_dir.join("key.pem"),
        Vec::new(),
    )
    .unwrap();
    let mut as_withdrawn =
        PeerServiceClient::new(channel_to(p.fr.addr, "FR", &withdrawn, p.trust.clone()).unwrap());
    let s = as_withdrawn
        .deliver(sealed(e, &e.seals["BE"], &e.cas["BE"], "w-1", b"x"))
        .await
        .unwrap_err();
    assert_eq!(
        (s.code(), reason(&s).as_str()),
        (Code::PermissionDenied, "ROLE_NOT_GRANTED")
    );

    // A certificate from no trusted list: the handshake itself is refused.
    let pki = eidas_bridge::devpki::DevPki::new(&dir.path().join("stranger"));
    pki.ensure().unwrap();
    let stranger = client_identity(
        &pki.client_cert(eidas_bridge::grpc::Role::Peer),
        &pki.client_key(eidas_bridge::grpc::Role::Peer),
        Vec::new(),
    )
    .unwrap();
    let mut as_stranger =
        PeerServiceClient::new(channel_to(p.be.addr, "BE", &stranger, p.trust.clone()).unwrap());
    let s = as_stranger
        .deliver(sealed(e, &e.seals["FR"], &e.cas["FR"], "x-1", b"x"))
        .await
        .unwrap_err();
    // TLS 1.3: the client finishes first and learns of the refusal as a broken connection
    // (reported as UNAVAILABLE, UNKNOWN or CANCELLED depending on when the alert is read).
    assert!(
        matches!(
            s.code(),
            Code::Unavailable | Code::Unknown | Code::Cancelled
        ),
        "{s:?}"
    );
    assert_eq!(reason(&s), "");

    // A tampered receipt is refused by the sender's check.
    let mut fr = ExchangeServiceClient::new(p.fr.operator_channel().unwrap());
    fr.submit(envelope(
        "t-1",
        NURSE,
        ("canonical", "hcid:BE:nihii-hospital:71000436"),
        b"t",
    ))
    .await
    .unwrap();
    wait_state(&mut fr, "t-1", NURSE, pb::ExchangeState::Delivered).await;
    let record =
        p.fr.exchange
            .status(
                &eidas_bridge::exchange::Address::new("sender", NURSE.0, NURSE.1.into()).unwrap(),
                "t-1",
            )
            .unwrap();
    assert_eq!(record.state, OutboxState::Delivered);
    let stored = record.receipt.clone().unwrap();
    let now = OffsetDateTime::now_utc();
    verify_receipt(&stored, &record, "FR", p.trust.as_ref(), now).unwrap();
    let mut bad = stored.clone();
    let last = bad.signature.len() - 1;
    bad.signature[last] ^= 1;
    assert_eq!(
        verify_receipt(&bad, &record, "FR", p.trust.as_ref(), now).unwrap_err(),
        ExchangeError::Seal {
            what: "receipt",
            kind: SealErrorKind::BadSignature
        }
    );
    // The relay sends in batches: the receipt is a leaf of BE's signed receipt batch.
    let batch = stored.batch.clone().expect("a batched receipt");
    let mut bad = stored.clone();
    let n = bad.signed_content.len();
    bad.signed_content[n - 1] ^= 1; // the journal index
    assert_eq!(
        verify_receipt(&bad, &record, "FR", p.trust.as_ref(), now).unwrap_err(),
        ExchangeError::Seal {
            what: "receipt",
            kind: SealErrorKind::NotInBatch
        }
    );
    // The head altered (its time): the signature no longer covers it.
    let mut bad = stored.clone();
    let head = &mut bad.batch.as_mut().unwrap().head;
    let at = head.len() - 32 - 8 - 1; // the last byte of signed_at, before size and root
    head[at] ^= 1;
    assert_eq!(
        verify_receipt(&bad, &record, "FR", p.trust.as_ref(), now).unwrap_err(),
        ExchangeError::Seal {
            what: "receipt",
            kind: SealErrorKind::BadSignature
        }
    );
    // Without its batch path the signature is read as one over the content alone: refused.
    let mut bad = stored.clone();
    bad.batch = None;
    assert_eq!(
        verify_receipt(&bad, &record, "FR", p.trust.as_ref(), now).unwrap_err(),
        ExchangeError::Seal {
            what: "receipt",
            kind: SealErrorKind::BadSignature
        }
    );
    // Signed by the wrong bridge (FR's own seal): not BE's qualified seal.
    let fr_seal = SealKey::new(
        e.seals["FR"].key.clone(),
        vec![e.seals["FR"].cert.clone(), e.cas["FR"].cert.clone()],
    );
    let mut forged = stored.clone();
    forged.signature = fr_seal.sign(&batch.head).unwrap();
    forged.seal_chain = fr_seal.chain_der().unwrap();
    assert!(matches!(
        verify_receipt(&forged, &record, "FR", p.trust.as_ref(), now).unwrap_err(),
        ExchangeError::Untrusted {
            what: "receipt",
            ..
        }
    ));
    let _ = Arc::clone(&p.trust);
    p.fr.stop().await;
    p.be.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_fails_at_its_deadline_with_a_journaled_reason() {
    let dir = tempfile::tempdir().unwrap();
    let e = eco();
    let (eco_dir, trust) = ecosystem_in(e, dir.path());
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let fr_node = start_node(
        &eco_dir,
        NodeOptions {
            country: "FR".into(),
            data_dir: dir.path().join("fr"),
            listener: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
            peers: vec![("BE".into(), closed.to_string())],
            trust,
            directory_tsv: Some(FR_DIRECTORY.into()),
            retry: RetryPolicy {
                deadline: Duration::from_millis(400),
                ..retry()
            },
            tls_identity: None,
        },
    )
    .await
    .unwrap();
    let mut fr = ExchangeServiceClient::new(fr_node.operator_channel().unwrap());
    fr.submit(envelope(
        "f-1",
        NURSE,
        ("canonical", "hcid:BE:nihii-hospital:71000436"),
        b"x",
    ))
    .await
    .unwrap();
    let status = wait_state(&mut fr, "f-1", NURSE, pb::ExchangeState::Failed).await;
    assert_eq!(status.reason, "deadline_exceeded");
    let last = *status.journal_indexes.last().unwrap();
    let entry = fr_node
        .journal
        .replay(last, last + 1)
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(entry.1.kind, EntryKind::Failed);
    assert_eq!(entry.1.reason.as_deref(), Some("deadline_exceeded"));
    fr_node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_senders_may_share_a_message_id_and_acks_name_one_message() {
    let dir = tempfile::tempdir().unwrap();
    let p = pair(dir.path()).await;
    let mut fr = ExchangeServiceClient::new(p.fr.operator_channel().unwrap());
    let mut be = ExchangeServiceClient::new(p.be.operator_channel().unwrap());
    const DOCTOR: (&str, &str) = ("canonical", "hcid:FR:rpps:10101201234");
    let to = ("canonical", "hcid:BE:nihii-hospital:71000436");

    // Message ids are unique per sender (DESIGN.md): the same id from two senders is two messages.
    for (from, payload) in [
        (NURSE, &b"from the nurse"[..]),
        (DOCTOR, &b"from the doctor"[..]),
    ] {
        let answer = fr
            .submit(envelope("shared-1", from, to, payload))
            .await
            .unwrap()
            .into_inner();
        assert!(!answer.duplicate);
        wait_state(&mut fr, "shared-1", from, pb::ExchangeState::Delivered).await;
    }

    // Both wait at BE. An ack by the id alone is ambiguous: refused, nothing acknowledged.
    let (tx, mut stream) = open_receive(&mut be, 8).await;
    let mut got = Vec::new();
    for _ in 0..2 {
        got.push(
            tokio::time::timeout(Duration::from_secs(30), stream.message())
                .await
                .unwrap()
                .unwrap()
                .unwrap(),
        );
    }
    let mut payloads: Vec<&[u8]> = got.iter().map(|m| m.payload.as_slice()).collect();
    payloads.sort();
    assert_eq!(payloads, [&b"from the doctor"[..], &b"from the nurse"[..]]);
    assert_ne!(got[0].journal_index, got[1].journal_index);
    tx.send(pb::ReceiveRequest {
        action: Some(pb::receive_request::Action::AckMessageId("shared-1".into())),
    })
    .await
    .unwrap();
    let refused = tokio::time::timeout(Duration::from_secs(30), stream.message())
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused), "ACK_AMBIGUOUS");
    drop(tx);

    // Acknowledged by journal index, each one is taken once and never offered again.
    let again = receive_with(&mut be, 2, Ack::ByJournalIndex).await;
    assert_eq!(again.len(), 2);
    nothing_waiting(&mut be).await;
}
