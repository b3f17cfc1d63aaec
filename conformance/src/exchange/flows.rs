//! The operator-facing cases on the main FR/BE pair, in order: a message submitted while BE is
//! down and delivered once it is up; end to end FR -> BE with its receipt and the reply BE -> FR;
//! resends; refused submits; then (after the peer cases of `peer`) Receive with and without
//! acknowledgement (`receive`), and the journals.

use bridge_proto::pb;
use bridge_proto::pb::exchange_service_client::ExchangeServiceClient;
use bridge_proto::pb::ExchangeState;
use eidas_bridge::demo::Node;
use eidas_bridge::exchange::{
    check_inclusion, trusted_for, verify_signature, BatchKind, ReceiptContent,
};
use eidas_bridge::journal::EntryKind;
use eidas_bridge::store::outbox::ReceiptBatch;
use openssl::x509::X509;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tonic::transport::Channel;
use trust_lists::Usage;

use super::world::{
    bind_again, count_ids, envelope, listener, operator, receive, refusal, reserve, retry,
    state_name, status, wait_for, wait_state, World, DOCTOR, DOCTOR_HCID, HOSPITAL, HOSPITAL_HCID,
    NURSE, NURSE_HCID,
};
use super::{audit, peer, receive, roles, submit, Cases};

pub(super) type Client = ExchangeServiceClient<Channel>;

/// The recipient as FR's operator names it: the hospital's canonical identifier.
pub(super) const TO_HOSPITAL: (&str, &str) = ("canonical", HOSPITAL_HCID);

/// DESIGN.md section names, cited by the cases.
pub(super) const EXCHANGE: &str = "DESIGN.md \"Exchange semantics\"";

/// Runs the main pair: every case of this module but the deadline, the inbound peer cases, and
/// the journal audit of both bridges.
pub(super) async fn main_pair(w: &World) -> Result<Cases, String> {
    let mut c = Cases::default();
    // BE's address is reserved but closed: FR starts with its peer down.
    let be_addr = reserve()?;
    let fr = w
        .node(
            "fr",
            "FR",
            listener().await?,
            vec![("BE".into(), be_addr.to_string())],
            retry(),
        )
        .await?;
    let mut fr_op = operator(&fr)?;
    let down = submit_while_down(&mut fr_op).await;
    let be = w
        .node(
            "be",
            "BE",
            bind_again(be_addr).await?,
            vec![("FR".into(), fr.addr.to_string())],
            retry(),
        )
        .await?;
    let mut be_op = operator(&be)?;
    c.push(
        "peer-down-then-up",
        &format!("{EXCHANGE}: a down peer gets retries from the outbox, the status says why, and the message is delivered when the peer returns"),
        "ACCEPTED with retries and reason Unavailable while down; DELIVERED after it returns",
        after_return(&mut fr_op, down).await,
    );
    end_to_end(&mut c, w, &mut fr_op, &mut be_op).await;
    resends(&mut c, &be, &mut fr_op, &mut be_op).await;
    submit::refusals(&mut c, &mut fr_op).await;
    submit::lookups(&mut c, &mut fr_op).await;
    peer::inbound(&mut c, w, &fr, &be).await;
    roles::cases(&mut c, w, &be).await;
    receive::unacked_then_acked(&mut c, &mut fr_op, &be).await;
    let be = receive::after_restart(&mut c, w, &mut fr_op, be, fr.addr).await?;
    // Everything still waiting for an operator is acknowledged, so every received message ends
    // with its `delivered` entry.
    for op in [&mut fr_op, &mut operator(&be)?] {
        let _ = receive(op, &[], |_| true).await;
    }
    audit::journal(&mut c, "journal/fr", &fr, audit::MAIN_FR);
    audit::journal(&mut c, "journal/be", &be, audit::MAIN_BE);
    fr.stop().await;
    be.stop().await;
    Ok(c)
}

/// Submits `down-1` while BE is down and waits for two failed attempts; returns the status then.
async fn submit_while_down(fr: &mut Client) -> Result<pb::ExchangeStatus, String> {
    fr.submit(envelope(
        "down-1",
        NURSE,
        TO_HOSPITAL,
        b"sent while BE is down",
    ))
    .await
    .map_err(|s| refusal(&s))?;
    wait_for(fr, "down-1", NURSE, |s| s.attempts >= 2).await
}

async fn after_return(
    fr: &mut Client,
    down: Result<pb::ExchangeStatus, String>,
) -> Result<String, String> {
    let down = down?;
    // The reason starts with the status code of the failed attempt; the rest is the transport's
    // message, which is not compared.
    let code = down.reason.split(':').next().unwrap_or_default();
    let retried = if down.attempts >= 2 && !code.is_empty() {
        format!("with retries and reason {code}")
    } else {
        format!(
            "with {} attempts and reason {:?}",
            down.attempts, down.reason
        )
    };
    let up = wait_state(fr, "down-1", NURSE, ExchangeState::Delivered).await?;
    Ok(format!(
        "{} {retried} while down; {} after it returns",
        state_name(down.state),
        state_name(up.state)
    ))
}

/// FR -> BE with receipt, BE's operator, and the reply BE -> FR.
async fn end_to_end(c: &mut Cases, w: &World, fr: &mut Client, be: &mut Client) {
    let submitted = fr
        .submit(envelope("e2e-1", NURSE, TO_HOSPITAL, b"e2e payload"))
        .await
        .map(tonic::Response::into_inner)
        .map_err(|s| refusal(&s));
    c.push(
        "e2e/fr-to-be/accepted",
        &format!("{EXCHANGE}: Submit answers once the envelope is durable and journaled, with the canonical recipient and its home peer"),
        &format!("ACCEPTED peer=BE recipient={HOSPITAL_HCID} duplicate=false"),
        submitted.map(|a| {
            format!(
                "{} peer={} recipient={} duplicate={}",
                state_name(a.state),
                a.peer_id,
                a.recipient_hcid,
                a.duplicate
            )
        }),
    );
    let delivered = wait_state(fr, "e2e-1", NURSE, ExchangeState::Delivered).await;
    c.push(
        "e2e/fr-to-be/forwarded-and-receipted",
        &format!("{EXCHANGE}; DESIGN.md \"Journal\": the sender journals accepted, forwarded and the peer's receipt"),
        "DELIVERED with 3 journal entries",
        delivered.map(|s| {
            format!(
                "{} with {} journal entries",
                state_name(s.state),
                s.journal_indexes.len()
            )
        }),
    );
    c.push(
        "e2e/fr-to-be/receipt-verifies",
        &format!("{EXCHANGE}: the receiving bridge answers with a receipt signed by its qualified seal, for this message and payload"),
        "receipt for e2e-1 from BE, payload digest matches, signature valid, chain a qualified seal of BE",
        check_receipt(w, fr).await,
    );
    let got = receive(be, &["down-1", "e2e-1"], |_| true).await;
    c.push(
        "e2e/fr-to-be/be-operator-receives",
        &format!("{EXCHANGE}: the receiving bridge translates the addresses to its own space and delivers to its operator, who acknowledges"),
        &format!("e2e-1 from FR, {NURSE_HCID};role=nurse -> ehealthbox:{}, payload intact; down-1 once", HOSPITAL.1),
        got.map(|msgs| {
            let counts = count_ids(&msgs);
            match msgs.iter().find(|m| m.message_id == "e2e-1") {
                Some(m) => format!(
                    "e2e-1 from {}, {} -> {}:{}, payload {}; down-1 {}",
                    m.from_peer,
                    m.sender_hcid,
                    m.recipient.as_ref().map(|a| a.space.as_str()).unwrap_or("?"),
                    m.recipient.as_ref().map(|a| a.value.as_str()).unwrap_or("?"),
                    if m.payload == b"e2e payload" { "intact" } else { "altered" },
                    times(counts.get("down-1").copied().unwrap_or(0)),
                ),
                None => format!("e2e-1 not received (got {counts:?})"),
            }
        }),
    );
    let reply = async {
        be.submit(envelope(
            "reply-1",
            HOSPITAL,
            ("canonical", NURSE_HCID),
            b"reply",
        ))
        .await
        .map_err(|s| refusal(&s))?;
        let s = wait_state(be, "reply-1", HOSPITAL, ExchangeState::Delivered).await?;
        let msgs = receive(fr, &["reply-1"], |_| true).await?;
        let m = msgs
            .iter()
            .find(|m| m.message_id == "reply-1")
            .ok_or("reply-1 not received by FR's operator")?;
        Ok::<String, String>(format!(
            "{} at BE; FR operator receives reply-1 for {}:{}",
            state_name(s.state),
            m.recipient
                .as_ref()
                .map(|a| a.space.as_str())
                .unwrap_or("?"),
            m.recipient
                .as_ref()
                .map(|a| a.value.as_str())
                .unwrap_or("?"),
        ))
    };
    c.push(
        "e2e/be-to-fr/reply",
        &format!(
            "{EXCHANGE}: the same exchange in the other direction, rendered in the MSSanté space"
        ),
        &format!(
            "DELIVERED at BE; FR operator receives reply-1 for mssante:{}",
            NURSE.1
        ),
        reply.await,
    );
}

pub(super) fn times(n: usize) -> String {
    match n {
        1 => "once".into(),
        n => format!("{n} times"),
    }
}

/// Fetches the receipt of e2e-1 and checks it as an auditor would, with the public API only.
async fn check_receipt(w: &World, fr: &mut Client) -> Result<String, String> {
    let r = fr
        .get_receipt(pb::GetStatusRequest {
            message_id: "e2e-1".into(),
            sender: super::world::addr(NURSE),
        })
        .await
        .map_err(|s| refusal(&s))?
        .into_inner();
    let content = ReceiptContent::decode(&r.signed_content).map_err(|e| e.to_string())?;
    let digest_ok = content.payload_sha256[..] == Sha256::digest(b"e2e payload")[..]
        && r.payload_sha256 == content.payload_sha256;
    let leaf = r
        .seal_chain
        .first()
        .and_then(|d| X509::from_der(d).ok())
        .ok_or("receipt without a seal chain")?;
    // A receipt signed in a batch: its content must be the leaf its audit path proves, and the
    // signature covers the batch head.
    let signed = if r.batch_head.is_empty() {
        Ok(r.signed_content.as_slice())
    } else {
        let path = ReceiptBatch {
            head: r.batch_head.clone(),
            leaf_index: r.leaf_index,
            audit_path: r.inclusion_proof.clone(),
        };
        check_inclusion(&path, &r.signed_content, BatchKind::Receipt)
            .map(|_| r.batch_head.as_slice())
    };
    let signature = match signed.and_then(|bytes| verify_signature(&leaf, bytes, &r.signature)) {
        Ok(()) => "signature valid",
        Err(_) => "signature INVALID",
    };
    let chain = match trusted_for(
        w.trust.as_ref(),
        &r.seal_chain,
        OffsetDateTime::now_utc(),
        Usage::QSeal,
        "BE",
    ) {
        Ok(()) => "chain a qualified seal of BE".to_owned(),
        Err(reasons) => format!("chain untrusted ({reasons:?})"),
    };
    Ok(format!(
        "receipt for {} from {}, payload digest {}, {signature}, {chain}",
        content.message_id,
        content.receiver_peer,
        if digest_ok { "matches" } else { "DIFFERS" },
    ))
}

/// How many `received` entries BE's journal holds for `id` from `sender`.
fn received_at(node: &Node, id: &str, sender: &str) -> usize {
    let size = node.journal.head().size;
    node.journal
        .replay(0, size)
        .filter_map(Result::ok)
        .filter(|(_, e)| {
            e.kind == EntryKind::Received
                && e.message_id.as_deref() == Some(id)
                && e.sender.as_deref().is_some_and(|s| s.starts_with(sender))
        })
        .count()
}

/// Resends: same sender and id (first answer), same id and other payload (refused), same id from
/// another sender (another message).
async fn resends(c: &mut Cases, be_node: &Node, fr: &mut Client, be: &mut Client) {
    let first = status(fr, "e2e-1", NURSE).await;
    let again = fr
        .submit(envelope("e2e-1", NURSE, TO_HOSPITAL, b"e2e payload"))
        .await
        .map(tonic::Response::into_inner)
        .map_err(|s| refusal(&s));
    let actual = match (first, again) {
        (Ok(first), Ok(a)) => Ok(format!(
            "duplicate={} {} journal index, {}; BE journal holds {} received entry",
            a.duplicate,
            if first.journal_indexes.first() == Some(&a.journal_index) {
                "first"
            } else {
                "another"
            },
            state_name(a.state),
            received_at(be_node, "e2e-1", NURSE_HCID),
        )),
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    c.push(
        "resend/same-sender-same-id",
        &format!("{EXCHANGE}: same sender + message id = same message; a resend is answered with the first result and delivered once"),
        "duplicate=true first journal index, DELIVERED; BE journal holds 1 received entry",
        actual,
    );
    let conflict = fr
        .submit(envelope("e2e-1", NURSE, TO_HOSPITAL, b"another payload"))
        .await;
    c.push(
        "resend/same-id-other-payload",
        &format!("{EXCHANGE}: the message id is the idempotency key; reusing it for another payload is refused and the first stands"),
        "AlreadyExists MESSAGE_ID_REUSED",
        Ok(match conflict {
            Ok(a) => format!("accepted (duplicate={})", a.into_inner().duplicate),
            Err(s) => refusal(&s),
        }),
    );
    let other = async {
        let a = fr
            .submit(envelope("e2e-1", DOCTOR, TO_HOSPITAL, b"from the doctor"))
            .await
            .map_err(|s| refusal(&s))?
            .into_inner();
        let s = wait_for(fr, "e2e-1", DOCTOR, |s| {
            s.state == ExchangeState::Delivered as i32
                || s.state == ExchangeState::Failed as i32
                || (s.state == ExchangeState::Forwarded as i32 && !s.reason.is_empty())
        })
        .await?;
        if s.state != ExchangeState::Delivered as i32 {
            return Ok(format!(
                "duplicate={}; {}: {}",
                a.duplicate,
                state_name(s.state),
                s.reason
            ));
        }
        let msgs = receive(be, &["e2e-1"], |_| true).await?;
        let from = msgs
            .iter()
            .find(|m| m.message_id == "e2e-1")
            .map(|m| m.sender_hcid.clone())
            .unwrap_or_default();
        Ok::<String, String>(format!(
            "duplicate={}; DELIVERED; BE operator receives it from {from}",
            a.duplicate
        ))
    };
    c.push(
        "resend/same-id-other-sender",
        &format!("{EXCHANGE}: message ids are unique per sender, so the same id from another sender is another message, delivered on its own"),
        &format!("duplicate=false; DELIVERED; BE operator receives it from {DOCTOR_HCID};role=doctor"),
        other.await,
    );
}
