//! Crash test: the sending bridge (FR) runs in a child process under a load of concurrent
//! submits and is killed with SIGKILL, several times; then it restarts and drains its outbox.
//! Every acknowledged submit reaches the receiving (BE) operator exactly once, unacknowledged ones
//! at most once, and both journals verify offline.
//!
//! The child is this test binary re-executed to run only the ignored test `crash_child`, which
//! works only when `EXCHANGE_CRASH_DIR` is set (as `journal_crash.rs` does).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bridge_proto::pb;
use bridge_proto::pb::exchange_service_client::ExchangeServiceClient;
use eidas_bridge::demo::{
    start_node, trust_of, walk_ecosystem, write_ecosystem, NodeOptions, FR_DIRECTORY,
};
use eidas_bridge::exchange::{PeerTrust, RetryPolicy};
use eidas_bridge::journal::{export, verify_export, Journal};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

const DIR_ENV: &str = "EXCHANGE_CRASH_DIR";
const BE_ENV: &str = "EXCHANGE_CRASH_BE";
const ROUNDS: usize = 10;
const CHILD_TASKS: usize = 8;
const SEED: &[u8] = b"eidas-bridge crash test";
const NURSE: &str = "jean-marie.dupont@infirmier.mssante.fr";

fn retry() -> RetryPolicy {
    RetryPolicy {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(300),
        ..RetryPolicy::default()
    }
}

fn trust(dir: &Path) -> Arc<dyn PeerTrust> {
    let eco = test_ecosystem::Ecosystem::generate(SEED).unwrap();
    if !dir.join("ecosystem").exists() {
        write_ecosystem(&eco, dir).unwrap();
    }
    trust_of(&walk_ecosystem(&eco, OffsetDateTime::now_utc()).unwrap())
}

async fn fr_node(dir: &Path, be: &str, trust: Arc<dyn PeerTrust>) -> eidas_bridge::demo::Node {
    start_node(
        &dir.join("ecosystem"),
        NodeOptions {
            country: "FR".into(),
            data_dir: dir.join("fr"),
            listener: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
            peers: vec![("BE".into(), be.into())],
            trust,
            directory_tsv: Some(FR_DIRECTORY.into()),
            retry: retry(),
            tls_identity: None,
        },
    )
    .await
    .unwrap()
}

fn submit(id: &str) -> pb::SubmitRequest {
    let payload = vec![7u8; 4096];
    pb::SubmitRequest {
        envelope: Some(pb::Envelope {
            message_id: id.into(),
            sender: Some(pb::Address {
                space: "mssante".into(),
                value: NURSE.into(),
            }),
            recipient: Some(pb::Address {
                space: "canonical".into(),
                value: "hcid:BE:nihii-hospital:71000436".into(),
            }),
            payload_sha256: Sha256::digest(&payload).to_vec(),
            payload,
            ..Default::default()
        }),
    }
}

#[test]
#[ignore = "child process of acknowledged_submits_survive_sigkill; does nothing unless run by it"]
fn crash_child() {
    let (Ok(dir), Ok(be)) = (std::env::var(DIR_ENV), std::env::var(BE_ENV)) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let dir = Path::new(&dir);
        let node = fr_node(dir, &be, trust(dir)).await;
        let pid = std::process::id();
        let mut tasks = Vec::new();
        for t in 0..CHILD_TASKS {
            let mut client = ExchangeServiceClient::new(node.operator_channel().unwrap());
            tasks.push(tokio::spawn(async move {
                for n in 0u64.. {
                    let id = format!("c{pid}-t{t}-n{n}");
                    if client.submit(submit(&id)).await.is_ok() {
                        let mut out = std::io::stdout().lock();
                        writeln!(out, "ack {id}").unwrap();
                        out.flush().unwrap();
                    }
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
}

fn verify(journal: &Journal) -> u64 {
    let mut bytes = Vec::new();
    export(journal.storage(), journal.verifier(), &mut bytes).unwrap();
    let report = verify_export(&bytes, None).unwrap();
    assert!(report.is_valid(), "{:?}", report.findings);
    report.entries
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_submits_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let trust = trust(dir.path());
    let be_node = start_node(
        &dir.path().join("ecosystem"),
        NodeOptions {
            country: "BE".into(),
            data_dir: dir.path().join("be"),
            listener: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
            peers: vec![("FR".into(), "127.0.0.1:1".into())],
            trust: trust.clone(),
            directory_tsv: None,
            retry: retry(),
            tls_identity: None,
        },
    )
    .await
    .unwrap();
    let be_addr = be_node.addr.to_string();
    let exe = std::env::current_exe().unwrap();
    let mut acked = BTreeSet::new();
    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .args([
                "--ignored",
                "--exact",
                "crash_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DIR_ENV, dir.path())
            .env(BE_ENV, &be_addr)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        // Kill after a varying number of acknowledgements, mid-load.
        let kill_after = 20 + 15 * (round % 5);
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(id) = line.strip_prefix("ack ") {
                    let _ = tx.send(id.to_owned());
                }
            }
        });
        let mut got = Vec::new();
        while got.len() < kill_after {
            match rx.recv_timeout(Duration::from_secs(120)) {
                Ok(id) => got.push(id),
                Err(e) => panic!("round {round}: child stalled: {e}"),
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        got.extend(rx.try_iter());
        acked.extend(got);
    }

    // Restart FR in this process: its relay drains the outbox.
    let fr = fr_node(dir.path(), &be_addr, trust.clone()).await;
    let mut fr_client = ExchangeServiceClient::new(fr.operator_channel().unwrap());
    for id in &acked {
        let mut delivered = false;
        for _ in 0..1200 {
            let s = fr_client
                .get_status(pb::GetStatusRequest {
                    message_id: id.clone(),
                    sender: Some(pb::Address {
                        space: "mssante".into(),
                        value: NURSE.into(),
                    }),
                })
                .await
                .unwrap()
                .into_inner();
            if s.state == pb::ExchangeState::Delivered as i32 {
                delivered = true;
                break;
            }
            assert_ne!(
                s.state,
                pb::ExchangeState::Failed as i32,
                "{id}: {}",
                s.reason
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert!(delivered, "{id} not delivered");
    }

    // The BE operator reads everything: each acknowledged message exactly once.
    let mut be_client = ExchangeServiceClient::new(be_node.operator_channel().unwrap());
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    let mut stream = be_client
        .receive(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    while let Ok(Ok(Some(m))) = tokio::time::timeout(Duration::from_secs(2), stream.message()).await
    {
        tx.send(pb::ReceiveRequest {
            action: Some(pb::receive_request::Action::AckMessageId(
                m.message_id.clone(),
            )),
        })
        .await
        .unwrap();
        *counts.entry(m.message_id).or_default() += 1;
    }
    drop(tx);
    for id in &acked {
        assert_eq!(counts.get(id), Some(&1), "{id}");
    }
    assert!(
        counts.values().all(|&n| n == 1),
        "a message was delivered twice"
    );

    assert!(verify(&fr.journal) >= acked.len() as u64);
    assert!(verify(&be_node.journal) >= acked.len() as u64);
    fr.stop().await;
    be_node.stop().await;
}
