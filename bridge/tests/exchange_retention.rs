//! Retention of exchange records (`exchange.retention`) between two bridges (FR, BE) on
//! 127.0.0.1:0: once a message is delivered (FR's outbox) and acknowledged (BE's inbox), its
//! records go after the retention period, GetStatus and GetReceipt answer NOT_FOUND as for an
//! unknown message, both journals still verify and still hold every entry of it, a message BE's
//! operator has not acknowledged stays and is still delivered, and a resend of a purged
//! message id is a new message (the dedupe window is the retention period).

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use bridge_proto::pb;
use bridge_proto::pb::exchange_service_client::ExchangeServiceClient;
use eidas_bridge::config::Config;
use eidas_bridge::demo::{start_pair, start_pair_with, Pair};
use eidas_bridge::exchange::{unix_nanos, Purged, RETENTION_BATCH};
use eidas_bridge::journal::{export, verify_export, EntryKind, Journal};
use sha2::{Digest, Sha256};
use test_ecosystem::Ecosystem;
use tonic::transport::Channel;
use tonic::Code;

mod common;
use common::{addr, reason, receive_acking, retry, wait_state};

fn eco() -> &'static Ecosystem {
    static ECO: OnceLock<Ecosystem> = OnceLock::new();
    ECO.get_or_init(|| Ecosystem::generate(b"eidas-bridge retention tests").unwrap())
}

const NURSE: (&str, &str) = ("mssante", "jean-marie.dupont@infirmier.mssante.fr");
const NURSE_HCID: &str = "hcid:FR:rpps:10003456789;role=nurse";
const HOSPITAL: &str = "hcid:BE:nihii-hospital:71000436";

/// The retention of the test that lets the bridges' own sweep purge: short enough to wait for
/// (sweeps every second), with a deadline and retry cap (300 ms, `common::retry`) it outlasts
/// as the configuration check requires.
const SHORT_RETENTION: Duration = Duration::from_secs(5);

fn short_retention(config: &mut Config) {
    config.exchange.retention = SHORT_RETENTION;
    config.exchange.retry.deadline = Duration::from_secs(4);
    assert_eq!(config.exchange.retention_conflicts(), []);
}

fn submit(id: &str, payload: &[u8]) -> pb::SubmitRequest {
    pb::SubmitRequest {
        envelope: Some(pb::Envelope {
            message_id: id.into(),
            sender: addr(NURSE.0, NURSE.1),
            recipient: addr("canonical", HOSPITAL),
            payload: payload.to_vec(),
            payload_sha256: Sha256::digest(payload).to_vec(),
            ..Default::default()
        }),
    }
}

fn lookup(id: &str) -> pb::GetStatusRequest {
    pb::GetStatusRequest {
        message_id: id.into(),
        sender: addr(NURSE.0, NURSE.1),
    }
}

/// Receives `n` messages on a fresh stream, acknowledging those named in `ack`, then closes
/// (after the acknowledgements are durable: the bridge ends the stream once they are).
async fn receive(
    client: &mut ExchangeServiceClient<Channel>,
    n: usize,
    ack: &[&str],
) -> Vec<pb::InboundMessage> {
    receive_acking(client, n, |m| {
        ack.contains(&m.message_id.as_str())
            .then(|| pb::receive_request::Action::AckMessageId(m.message_id.clone()))
    })
    .await
}

/// The journal verifies offline; returns its entry kinds by message id.
fn journaled(journal: &Journal) -> BTreeMap<String, Vec<EntryKind>> {
    let mut bytes = Vec::new();
    export(journal.storage(), journal.verifier(), &mut bytes).unwrap();
    let report = verify_export(&bytes, None).unwrap();
    assert!(report.is_valid(), "{:?}", report.findings);
    let mut out: BTreeMap<String, Vec<EntryKind>> = BTreeMap::new();
    for item in journal.replay(0, u64::MAX) {
        let (_, entry) = item.unwrap();
        if let Some(id) = entry.message_id {
            out.entry(id).or_default().push(entry.kind);
        }
    }
    out
}

/// Polls `done` every 100 ms until it holds (at most 60 s).
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..600 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} never happened");
}

/// FR sends `kept` and `acked` to BE; BE's operator receives both and acknowledges `acked`
/// only. Returns the operator clients of FR and BE.
async fn exchange_two(
    p: &Pair,
    acked: &str,
    kept: &str,
) -> (
    ExchangeServiceClient<Channel>,
    ExchangeServiceClient<Channel>,
) {
    let mut fr = ExchangeServiceClient::new(p.fr.operator_channel().unwrap());
    let mut be = ExchangeServiceClient::new(p.be.operator_channel().unwrap());
    fr.submit(submit(acked, b"acknowledged")).await.unwrap();
    fr.submit(submit(kept, b"kept")).await.unwrap();
    for id in [acked, kept] {
        wait_state(&mut fr, id, NURSE, pb::ExchangeState::Delivered).await;
    }
    let got = receive(&mut be, 2, &[acked]).await;
    let mut ids: Vec<&str> = got.iter().map(|m| m.message_id.as_str()).collect();
    ids.sort();
    let mut want = [acked, kept];
    want.sort();
    assert_eq!(ids, want);
    // The acknowledgement is durable once the stream has ended.
    let record =
        p.be.exchange
            .received("FR", NURSE_HCID, acked)
            .unwrap()
            .unwrap();
    assert!(record.acked && record.acked_at.is_some());
    (fr, be)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_expire_after_the_retention_period_and_the_journal_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let p = start_pair_with(eco(), dir.path(), retry(), short_retention)
        .await
        .unwrap();
    let (mut fr, mut be) = exchange_two(&p, "m-acked", "m-kept").await;
    let journaled_before = (journaled(&p.fr.journal), journaled(&p.be.journal));

    // The bridges' own sweeps purge what is done: FR's two delivered records, BE's
    // acknowledged one.
    let be_ex = p.be.exchange.clone();
    eventually("BE's purge of the acknowledged record", || {
        be_ex
            .received("FR", NURSE_HCID, "m-acked")
            .unwrap()
            .is_none()
    })
    .await;
    let fr_ex = p.fr.exchange.clone();
    let sender = eidas_bridge::exchange::Address::new("sender", NURSE.0, NURSE.1.into()).unwrap();
    eventually("FR's purge of the delivered records", || {
        ["m-acked", "m-kept"]
            .iter()
            .all(|id| fr_ex.status(&sender, id).is_err())
    })
    .await;

    // GetStatus and GetReceipt of a purged message: NOT_FOUND, as for an unknown one.
    for id in ["m-acked", "m-kept", "never-sent"] {
        let status = fr.get_status(lookup(id)).await.unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{id}");
        assert_eq!(reason(&status), "MESSAGE_NOT_FOUND");
        let receipt = fr.get_receipt(lookup(id)).await.unwrap_err();
        assert_eq!(receipt.code(), Code::NotFound, "{id}");
    }
    // The unacknowledged message is never purged: still there, still delivered with its payload.
    let kept =
        p.be.exchange
            .received("FR", NURSE_HCID, "m-kept")
            .unwrap()
            .unwrap();
    assert!(!kept.acked);
    let again = receive(&mut be, 1, &["m-kept"]).await;
    assert_eq!(again[0].message_id, "m-kept");
    assert_eq!(again[0].payload, b"kept");

    // Both journals verify and still hold every entry of both messages.
    let (fr_journal, be_journal) = (journaled(&p.fr.journal), journaled(&p.be.journal));
    use EntryKind::{Accepted, Delivered, Forwarded, Receipt, Received};
    for id in ["m-acked", "m-kept"] {
        assert_eq!(fr_journal[id], [Accepted, Forwarded, Receipt], "{id}");
        assert_eq!(fr_journal[id], journaled_before.0[id]);
    }
    assert_eq!(be_journal["m-acked"], [Received, Delivered]);
    assert_eq!(be_journal["m-kept"], [Received, Delivered]);
    assert_eq!(journaled_before.1["m-kept"], [Received]);

    // A resend of a purged message id is a new message: accepted again, journaled again, and
    // delivered to BE's operator again (the dedupe window is the retention period).
    let resent = fr
        .submit(submit("m-acked", b"acknowledged"))
        .await
        .unwrap()
        .into_inner();
    assert!(!resent.duplicate);
    wait_state(&mut fr, "m-acked", NURSE, pb::ExchangeState::Delivered).await;
    let got = receive(&mut be, 1, &["m-acked"]).await;
    assert_eq!(got[0].message_id, "m-acked");
    assert_eq!(
        journaled(&p.fr.journal)["m-acked"],
        [Accepted, Forwarded, Receipt, Accepted, Forwarded, Receipt]
    );
    p.fr.stop().await;
    p.be.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_at_an_explicit_instant_removes_done_records_only() {
    let dir = tempfile::tempdir().unwrap();
    // Default retention (30 days): the bridges' own sweeps purge nothing during the test.
    let p = start_pair(eco(), dir.path(), retry()).await.unwrap();
    let (mut fr, mut be) = exchange_two(&p, "x-acked", "x-kept").await;
    let now = unix_nanos(p.fr.exchange.now());

    // A cutoff before the messages were done purges nothing.
    let before = now - 3_600_000_000_000;
    assert_eq!(
        p.fr.exchange.purge_before(before, RETENTION_BATCH).unwrap(),
        Purged::default()
    );
    assert_eq!(
        p.be.exchange.purge_before(before, RETENTION_BATCH).unwrap(),
        Purged::default()
    );
    // A cutoff after: FR's two delivered records, BE's one acknowledged record; BE's outbox
    // holds nothing and its unacknowledged message stays.
    let after = now + 1_000_000_000;
    assert_eq!(
        p.fr.exchange.purge_before(after, RETENTION_BATCH).unwrap(),
        Purged {
            outbox: 2,
            inbox: 0,
            more: false
        }
    );
    assert_eq!(
        p.be.exchange.purge_before(after, RETENTION_BATCH).unwrap(),
        Purged {
            outbox: 0,
            inbox: 1,
            more: false
        }
    );
    assert_eq!(
        p.be.exchange.purge_before(after, RETENTION_BATCH).unwrap(),
        Purged::default()
    );
    let status = fr.get_status(lookup("x-acked")).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert!(
        status.message().contains("retention"),
        "{}",
        status.message()
    );
    assert!(p
        .be
        .exchange
        .received("FR", NURSE_HCID, "x-acked")
        .unwrap()
        .is_none());
    let got = receive(&mut be, 1, &[]).await;
    assert_eq!(got[0].message_id, "x-kept");
    assert_eq!(got[0].payload, b"kept");
    let (fr_journal, be_journal) = (journaled(&p.fr.journal), journaled(&p.be.journal));
    assert_eq!(fr_journal["x-acked"].len(), 3);
    assert_eq!(
        be_journal["x-acked"],
        [EntryKind::Received, EntryKind::Delivered]
    );
    p.fr.stop().await;
    p.be.stop().await;
}
