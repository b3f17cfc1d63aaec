//! SubmitStream (issue 7: payloads are streamed and bounded) and per-peer retry policies, over
//! bridges in one process on 127.0.0.1:0 trusting each other through the generated lists.
//! Streams: a multi-chunk payload delivered end to end with its digest; an oversize stream
//! refused while the client is still sending; a digest mismatch; a stream without a header.
//! Relay: two peers with different deadlines, one message failing while the other still retries.
// Test code: a failing unwrap or panic is a failing test (clippy.toml allows it inside #[test] only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;
use std::time::Duration;

use bridge_proto::pb;
use bridge_proto::pb::exchange_service_client::ExchangeServiceClient;
use bridge_proto::pb::submit_chunk::Part;
use eidas_bridge::config::PeerRetry;
use eidas_bridge::demo::{
    start_node_with, start_pair, trust_of, walk_ecosystem, write_ecosystem, NodeOptions,
    FR_DIRECTORY,
};
use sha2::{Digest, Sha256};
use test_ecosystem::Ecosystem;
use time::OffsetDateTime;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::Code;

use tonic_types::StatusExt;

mod common;
use common::{addr, open_receive, reason, retry, status, wait_state};

fn eco() -> &'static Ecosystem {
    static ECO: OnceLock<Ecosystem> = OnceLock::new();
    ECO.get_or_init(|| Ecosystem::generate(b"eidas-bridge stream tests").unwrap())
}

const NURSE: (&str, &str) = ("mssante", "jean-marie.dupont@infirmier.mssante.fr");
const HOSPITAL: &str = "hcid:BE:nihii-hospital:71000436";
/// A German participant (Telematik-ID of a practice), routed to the DE peer.
const PRACTICE: &str = "hcid:DE:telematik-id:1-2-ARZT-WaltrautDrombusch01";

fn header(id: &str, to: &str, payload: &[u8]) -> pb::SubmitChunk {
    pb::SubmitChunk {
        part: Some(Part::Header(pb::Envelope {
            message_id: id.into(),
            sender: addr(NURSE.0, NURSE.1),
            recipient: addr("canonical", to),
            payload_sha256: Sha256::digest(payload).to_vec(),
            ..Default::default()
        })),
    }
}

fn chunk(bytes: &[u8]) -> pb::SubmitChunk {
    pb::SubmitChunk {
        part: Some(Part::Payload(bytes.to_vec())),
    }
}

async fn send_all(
    client: &mut ExchangeServiceClient<Channel>,
    chunks: Vec<pb::SubmitChunk>,
) -> Result<pb::SubmitResponse, tonic::Status> {
    client
        .submit_stream(tokio_stream::iter(chunks))
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_payload_is_delivered_with_its_digest() {
    let dir = tempfile::tempdir().unwrap();
    let p = start_pair(eco(), dir.path(), retry()).await.unwrap();
    let mut fr = ExchangeServiceClient::new(p.fr.operator_channel().unwrap());
    let mut be = ExchangeServiceClient::new(p.be.operator_channel().unwrap());
    let payload: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    let mut chunks = vec![header("st-1", HOSPITAL, &payload)];
    chunks.extend(payload.chunks(16 * 1024).map(chunk));
    assert!(chunks.len() > 3);
    let ok = send_all(&mut fr, chunks).await.unwrap();
    assert_eq!((ok.peer_id.as_str(), ok.duplicate), ("BE", false));
    wait_state(&mut fr, "st-1", NURSE, pb::ExchangeState::Delivered).await;

    let (tx, mut inbound) = open_receive(&mut be, 4).await;
    let m = tokio::time::timeout(Duration::from_secs(30), inbound.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(m.message_id, "st-1");
    assert_eq!(m.payload_sha256, Sha256::digest(&payload).to_vec());
    assert_eq!(m.payload, payload);
    drop(tx);
    p.fr.stop().await;
    p.be.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_streams_are_refused_with_their_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let e = eco();
    let eco_dir = write_ecosystem(e, dir.path()).unwrap();
    let trust = trust_of(&walk_ecosystem(e, OffsetDateTime::now_utc()).unwrap());
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let node = start_node_with(
        &eco_dir,
        NodeOptions {
            country: "FR".into(),
            data_dir: dir.path().join("fr"),
            listener: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
            peers: vec![("BE".into(), closed.to_string())],
            trust,
            directory_tsv: Some(FR_DIRECTORY.into()),
            retry: retry(),
            tls_identity: None,
        },
        |c| c.exchange.max_payload = 1000,
    )
    .await
    .unwrap();
    let mut fr = ExchangeServiceClient::new(node.operator_channel().unwrap());

    // Oversize: refused at the chunk that passes the bound while the client still holds its
    // stream open (it never sends the end).
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    tx.send(header("big-1", HOSPITAL, &[0; 1800]))
        .await
        .unwrap();
    tx.send(chunk(&[0; 600])).await.unwrap();
    tx.send(chunk(&[0; 600])).await.unwrap();
    let s = tokio::time::timeout(
        Duration::from_secs(30),
        fr.submit_stream(ReceiverStream::new(rx)),
    )
    .await
    .expect("refused before the stream ends")
    .unwrap_err();
    assert_eq!(
        (s.code(), reason(&s).as_str()),
        (Code::ResourceExhausted, "PAYLOAD_TOO_LARGE")
    );
    assert_eq!(
        s.get_error_details().error_info().unwrap().metadata["limit"],
        "1000"
    );
    // Only now does the client end its stream.
    drop(tx);

    // The declared digest is not the payload's.
    let mut h = header("dig-1", HOSPITAL, b"other");
    let s = send_all(&mut fr, vec![h.clone(), chunk(b"hello")])
        .await
        .unwrap_err();
    assert_eq!(
        (s.code(), reason(&s).as_str()),
        (Code::InvalidArgument, "PAYLOAD_DIGEST_MISMATCH")
    );
    // No header: payload first, or nothing at all.
    let s = send_all(&mut fr, vec![chunk(b"hello")]).await.unwrap_err();
    assert_eq!(
        (s.code(), reason(&s).as_str()),
        (Code::InvalidArgument, "STREAM_HEADER_MISSING")
    );
    let s = send_all(&mut fr, Vec::new()).await.unwrap_err();
    assert_eq!(
        (s.code(), reason(&s).as_str()),
        (Code::InvalidArgument, "STREAM_HEADER_MISSING")
    );
    // A bad header is refused before any payload: the client's stream is still open.
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let mut bad = header("bad id", HOSPITAL, b"x");
    tx.send(bad.clone()).await.unwrap();
    let s = tokio::time::timeout(
        Duration::from_secs(30),
        fr.submit_stream(ReceiverStream::new(rx)),
    )
    .await
    .expect("refused at the header")
    .unwrap_err();
    assert_eq!(
        (s.code(), reason(&s).as_str()),
        (Code::InvalidArgument, "INVALID_FIELD")
    );
    assert_eq!(
        s.get_error_details()
            .bad_request()
            .unwrap()
            .field_violations[0]
            .field,
        "envelope.message_id"
    );
    drop(tx);
    if let Some(Part::Header(env)) = &mut bad.part {
        env.message_id = "bad-2".into();
        env.payload_sha256.truncate(31);
    }
    let s = send_all(&mut fr, vec![bad]).await.unwrap_err();
    assert_eq!(
        s.get_error_details()
            .bad_request()
            .unwrap()
            .field_violations[0]
            .field,
        "envelope.payload_sha256"
    );
    // A second header, or payload bytes inside the header.
    let s = send_all(
        &mut fr,
        vec![header("h-1", HOSPITAL, b"x"), header("h-1", HOSPITAL, b"x")],
    )
    .await
    .unwrap_err();
    assert_eq!(
        (s.code(), reason(&s).as_str()),
        (Code::InvalidArgument, "STREAM_HEADER_MISPLACED")
    );
    if let Some(Part::Header(env)) = &mut h.part {
        env.payload = b"other".to_vec();
    }
    let s = send_all(&mut fr, vec![h]).await.unwrap_err();
    assert_eq!(
        (s.code(), reason(&s).as_str()),
        (Code::InvalidArgument, "STREAM_HEADER_MISPLACED")
    );
    // Nothing of the refused streams was accepted; a good one within the bound is.
    for id in ["big-1", "dig-1", "h-1"] {
        let s = fr
            .get_status(pb::GetStatusRequest {
                message_id: id.into(),
                sender: addr(NURSE.0, NURSE.1),
            })
            .await
            .unwrap_err();
        assert_eq!(s.code(), Code::NotFound, "{id}");
    }
    let ok = send_all(
        &mut fr,
        vec![
            header("ok-1", HOSPITAL, &[7; 1000]),
            chunk(&[7; 500]),
            chunk(&[7; 500]),
        ],
    )
    .await
    .unwrap();
    assert_eq!(ok.state, pb::ExchangeState::Accepted as i32);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_peer_fails_at_its_own_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let e = eco();
    let eco_dir = write_ecosystem(e, dir.path()).unwrap();
    let trust = trust_of(&walk_ecosystem(e, OffsetDateTime::now_utc()).unwrap());
    // Two peers that never answer.
    let closed = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .to_string()
    };
    let node = start_node_with(
        &eco_dir,
        NodeOptions {
            country: "FR".into(),
            data_dir: dir.path().join("fr"),
            listener: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
            peers: vec![("BE".into(), closed()), ("DE".into(), closed())],
            trust,
            directory_tsv: Some(FR_DIRECTORY.into()),
            retry: retry(),
            tls_identity: None,
        },
        |c| {
            // BE gives up quickly; DE keeps the exchange-wide day.
            c.exchange.peer_retry.insert(
                "BE".into(),
                PeerRetry {
                    deadline: Some(Duration::from_millis(300)),
                    ..PeerRetry::default()
                },
            );
        },
    )
    .await
    .unwrap();
    let mut fr = ExchangeServiceClient::new(node.operator_channel().unwrap());
    for (id, to) in [("to-be", HOSPITAL), ("to-de", PRACTICE)] {
        let mut chunks = vec![header(id, to, b"x")];
        chunks.push(chunk(b"x"));
        let ok = send_all(&mut fr, chunks).await.unwrap();
        assert_eq!(ok.peer_id, id[3..].to_ascii_uppercase());
    }
    let be = wait_state(&mut fr, "to-be", NURSE, pb::ExchangeState::Failed).await;
    assert_eq!(be.reason, "deadline_exceeded");
    // DE's message is still being retried once BE's has failed, and keeps being retried.
    let de = status(&mut fr, "to-de", NURSE).await;
    assert_eq!(de.state, pb::ExchangeState::Accepted as i32);
    let attempts = de.attempts;
    loop {
        let de = status(&mut fr, "to-de", NURSE).await;
        assert_eq!(de.state, pb::ExchangeState::Accepted as i32);
        assert_ne!(de.reason, "deadline_exceeded");
        if de.attempts > attempts.max(1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    node.stop().await;
}
