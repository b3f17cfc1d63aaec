//! `eidas-bridge demo`: two gateways (FR with MSSanté, BE with eHealthBox) on loopback exchange a
//! message end to end and back, trusting each other only through a generated test LOTL and
//! national lists. Prints each step, the receipt and both journals' checkpoints. Exit 0 on
//! success, 1 when a step fails.

use std::process::ExitCode;
use std::time::Duration;

use bridge_proto::pb;
use bridge_proto::pb::exchange_service_client::ExchangeServiceClient;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::demo::{start_pair, Node, DEMO_SEED};
use crate::exchange::{BatchHead, BatchKind, ReceiptContent, RetryPolicy};

/// How long the demo waits for a message to be delivered before it reports failure.
const DELIVERY_WAIT: Duration = Duration::from_secs(30);

/// Arguments of `demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Keep both bridges' data under DIR (`DIR/fr`, `DIR/be`), with the trust snapshot archived,
    /// so their journals can be exported and verified (`journal verify --recheck`) afterwards.
    /// Without it, everything lives in a temporary directory removed at the end.
    #[arg(long, value_name = "DIR")]
    pub data: Option<std::path::PathBuf>,
}

struct Out {
    json: bool,
}

impl Out {
    fn step(&self, step: &str, detail: serde_json::Value) {
        if self.json {
            println!("{}", json!({"step": step, "detail": detail}));
        } else {
            println!("== {step}");
            if let Some(map) = detail.as_object() {
                for (k, v) in map {
                    match v.as_str() {
                        Some(s) => println!("   {k}: {}", s.replace('\n', "\n      ")),
                        None => println!("   {k}: {v}"),
                    }
                }
            }
        }
    }
}

/// Runs the demo.
pub fn run(args: DemoArgs, json: bool) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(demo(Out { json }, args.data)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn addr(space: &str, value: &str) -> Option<pb::Address> {
    Some(pb::Address {
        space: space.into(),
        value: value.into(),
    })
}

/// Submits, waits for delivery, receives and acknowledges on the other side, prints the receipt.
async fn exchange_one(
    out: &Out,
    from: &Node,
    to: &Node,
    sender: (&str, &str),
    recipient: (&str, &str),
    message_id: &str,
    payload: &[u8],
) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let mut client = ExchangeServiceClient::new(from.operator_channel().map_err(|e| err(&e))?);
    let envelope = pb::Envelope {
        message_id: message_id.into(),
        sender: addr(sender.0, sender.1),
        recipient: addr(recipient.0, recipient.1),
        payload: payload.to_vec(),
        payload_sha256: Sha256::digest(payload).to_vec(),
        ..Default::default()
    };
    let answer = client
        .submit(pb::SubmitRequest {
            envelope: Some(envelope),
        })
        .await
        .map_err(|s| format!("submit: {:?} {}", s.code(), s.message()))?
        .into_inner();
    out.step(
        &format!("{} operator submits to its bridge", from.country),
        json!({"message_id": message_id, "sender": sender.1, "recipient": recipient.1,
               "payload_bytes": payload.len(), "recipient_hcid": answer.recipient_hcid,
               "home_peer": answer.peer_id, "journal_index": answer.journal_index}),
    );
    let query = pb::GetStatusRequest {
        message_id: message_id.into(),
        sender: addr(sender.0, sender.1),
    };
    let started = std::time::Instant::now();
    let status = loop {
        let s = client
            .get_status(query.clone())
            .await
            .map_err(|s| format!("status: {}", s.message()))?
            .into_inner();
        if s.state == pb::ExchangeState::Delivered as i32
            || s.state == pb::ExchangeState::Failed as i32
        {
            break s;
        }
        if started.elapsed() > DELIVERY_WAIT {
            return Err(format!("not delivered in time: {}", s.reason));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    if status.state != pb::ExchangeState::Delivered as i32 {
        return Err(format!("message failed: {}", status.reason));
    }
    out.step(
        &format!("{} bridge sealed and relayed it to {} over mutual TLS", from.country, to.country),
        json!({"state": "delivered", "attempts": status.attempts, "journal_indexes": status.journal_indexes}),
    );
    let receipt = client
        .get_receipt(query)
        .await
        .map_err(|s| format!("receipt: {}", s.message()))?
        .into_inner();
    let content = ReceiptContent::decode(&receipt.signed_content).map_err(|e| err(&e))?;
    // Signed alone (a unary Deliver) or as leaf of a receipt batch (DeliverBatch, the relay's
    // way): then the signature covers the batch head and the audit path leads to its root.
    let signed_as = match BatchHead::decode(&receipt.batch_head, BatchKind::Receipt) {
        Ok(head) => json!({"batch_size": head.size, "leaf_index": receipt.leaf_index,
                           "audit_path_hashes": receipt.inclusion_proof.len(),
                           "batch_root": hex::encode(head.root)}),
        Err(_) => json!("alone"),
    };
    out.step(
        &format!("{} bridge verified the receipt signed by {}", from.country, to.country),
        json!({"message_id": content.message_id, "origin": content.origin_peer,
               "receiver": content.receiver_peer, "payload_sha256": hex::encode(content.payload_sha256),
               "received_at_unix_nanos": content.received_at,
               "receiver_journal_index": content.journal_index,
               "signature_bytes": receipt.signature.len(), "seal_chain_len": receipt.seal_chain.len(),
               "signed_as": signed_as}),
    );
    // The receiving operator reads and acknowledges.
    let mut rx_client = ExchangeServiceClient::new(to.operator_channel().map_err(|e| err(&e))?);
    let (ack_tx, ack_rx) = tokio::sync::mpsc::channel(4);
    ack_tx
        .send(pb::ReceiveRequest {
            action: Some(pb::receive_request::Action::Start(pb::ReceiveStart {})),
        })
        .await
        .map_err(|e| err(&e))?;
    let mut stream = rx_client
        .receive(tokio_stream::wrappers::ReceiverStream::new(ack_rx))
        .await
        .map_err(|s| format!("receive: {}", s.message()))?
        .into_inner();
    let msg = tokio::time::timeout(DELIVERY_WAIT, stream.message())
        .await
        .map_err(|_| "nothing received".to_owned())?
        .map_err(|s| format!("receive: {}", s.message()))?
        .ok_or("receive stream ended")?;
    if msg.payload != payload {
        return Err("received payload differs".into());
    }
    let show = |a: &Option<pb::Address>| {
        a.as_ref()
            .map(|a| format!("{} ({})", a.value, a.space))
            .unwrap_or_default()
    };
    out.step(
        &format!("{} operator receives it in its own space", to.country),
        json!({"message_id": msg.message_id, "sender": show(&msg.sender), "recipient": show(&msg.recipient),
               "from_peer": msg.from_peer, "payload_bytes": msg.payload.len(), "journal_index": msg.journal_index}),
    );
    ack_tx
        .send(pb::ReceiveRequest {
            action: Some(pb::receive_request::Action::AckMessageId(
                msg.message_id.clone(),
            )),
        })
        .await
        .map_err(|e| err(&e))?;
    drop(ack_tx);
    while let Ok(Some(_)) = stream.message().await {}
    Ok(())
}

async fn checkpoints(out: &Out, nodes: [&Node; 2]) {
    for n in nodes {
        // Checkpoints are signed at most once per `journal.checkpoint_interval`: wait for the
        // one that covers every entry.
        for _ in 0..50 {
            let size = n.journal.head().size.to_string();
            if n.journal.latest_checkpoint().lines().nth(1) == Some(size.as_str()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        out.step(
            &format!("{} journal checkpoint", n.country),
            json!({"size": n.journal.head().size, "checkpoint": n.journal.latest_checkpoint().to_string()}),
        );
    }
}

async fn demo(out: Out, keep: Option<std::path::PathBuf>) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let temp = tempfile::tempdir().map_err(|e| err(&e))?;
    let root = keep.clone().unwrap_or_else(|| temp.path().to_owned());
    std::fs::create_dir_all(&root).map_err(|e| err(&e))?;
    let eco = test_ecosystem::Ecosystem::generate(DEMO_SEED).map_err(|e| err(&e))?;
    out.step(
        "generated test trust ecosystem",
        json!({"lotl": test_ecosystem::LOTL_LOCATION, "lists": ["FR", "BE", "DE"], "dir": root.display().to_string()}),
    );
    let retry = RetryPolicy {
        initial: Duration::from_millis(200),
        max: Duration::from_secs(2),
        ..RetryPolicy::default()
    };
    let pair = start_pair(&eco, &root, retry).await.map_err(|e| err(&e))?;
    out.step(
        "two bridges started; each walked the LOTL and national lists from the OJ anchor",
        json!({"FR": pair.fr.addr.to_string(), "BE": pair.be.addr.to_string(),
               "trust": "peer QWAC and seal certificates checked against the verified lists only"}),
    );
    let result = async {
        exchange_one(
            &out,
            &pair.fr,
            &pair.be,
            ("mssante", "jean-marie.dupont@infirmier.mssante.fr"),
            ("canonical", "hcid:BE:nihii-hospital:71000436"),
            "demo-msg-1",
            b"MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime\r\n\r\n(demo S/MIME payload)",
        )
        .await?;
        exchange_one(
            &out,
            &pair.be,
            &pair.fr,
            ("ehealthbox", "ehbox:HOSPITAL:NIHII-HOSPITAL:71000436"),
            ("canonical", "hcid:FR:rpps:10003456789"),
            "demo-reply-1",
            b"MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime\r\n\r\n(demo reply)",
        )
        .await?;
        checkpoints(&out, [&pair.fr, &pair.be]).await;
        Ok::<(), String>(())
    }
    .await;
    let (fr_dir, be_dir) = (pair.fr.data_dir.clone(), pair.be.data_dir.clone());
    let snapshot = pair.snapshot.clone();
    pair.fr.stop().await;
    pair.be.stop().await;
    result?;
    if keep.is_some() {
        // The bridges are stopped (sled released): archive the snapshot both decided against, so
        // `journal verify --recheck` finds it by the digest their entries carry.
        let dirs = [fr_dir.clone(), be_dir.clone()];
        tokio::task::spawn_blocking(move || {
            for dir in &dirs {
                let store = crate::store::Store::open(dir).map_err(|e| err(&e))?;
                store
                    .trust()
                    .and_then(|t| t.save(&snapshot))
                    .map_err(|e| err(&e))?;
            }
            Ok::<(), String>(())
        })
        .await
        .map_err(|e| err(&e))??;
        out.step(
            "data kept; audit each journal offline",
            json!({
                "export": format!("eidas-bridge journal export --data {} --out fr.export", fr_dir.display()),
                "verify": format!("eidas-bridge journal verify fr.export --recheck --data {}", fr_dir.display()),
            }),
        );
    }
    Ok(())
}
