//! The operator-facing cases on the main FR/BE pair, in order: a message submitted while BE is
//! down and delivered once it is up; end to end FR -> BE with its receipt and the reply BE -> FR;
//! resends; refused submits; then (after the peer cases of `peer`) Receive with and without
//! acknowledgement, and the journals. Also the deadline case on its own FR bridge.

use std::sync::Arc;

use bridge_proto::pb;
use bridge_proto::pb::exchange_service_client::ExchangeServiceClient;
use bridge_proto::pb::ExchangeState;
use eidas_bridge::demo::Node;
use eidas_bridge::exchange::{trusted_for, verify_signature, ReceiptContent, RetryPolicy};
use eidas_bridge::journal::EntryKind;
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
use super::{audit, peer, Cases};

type Client = ExchangeServiceClient<Channel>;

/// The recipient as FR's operator names it: the hospital's canonical identifier.
const TO_HOSPITAL: (&str, &str) = ("canonical", HOSPITAL_HCID);

/// DESIGN.md section names, cited by the cases.
const EXCHANGE: &str = "DESIGN.md \"Exchange semantics\"";

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
        "ACCEPTED with retries and a reason while down; DELIVERED after it returns",
        after_return(&mut fr_op, down).await,
    );
    end_to_end(&mut c, w, &mut fr_op, &mut be_op).await;
    resends(&mut c, &be, &mut fr_op, &mut be_op).await;
    submit_refusals(&mut c, &mut fr_op).await;
    peer::inbound(&mut c, w, &fr, &be).await;
    receive_and_ack(&mut c, &mut fr_op, &mut be_op).await;
    // Everything still waiting for an operator is acknowledged, so every received message ends
    // with its `delivered` entry.
    for op in [&mut fr_op, &mut be_op] {
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
    let retried = if down.attempts >= 2 && !down.reason.is_empty() {
        "with retries and a reason"
    } else {
        "without retries or reason"
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

fn times(n: usize) -> String {
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
    let signature = match verify_signature(&leaf, &r.signed_content, &r.signature) {
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

/// Submits FR must refuse, with the exact code, reason and field.
async fn submit_refusals(c: &mut Cases, fr: &mut Client) {
    let ok = |id: &str, to: (&str, &str)| envelope(id, NURSE, to, b"x");
    let mut digest = ok("bad-digest", TO_HOSPITAL);
    if let Some(e) = digest.envelope.as_mut() {
        e.payload_sha256 = Sha256::digest(b"y").to_vec();
    }
    let mut short = ok("short-digest", TO_HOSPITAL);
    if let Some(e) = short.envelope.as_mut() {
        e.payload_sha256.truncate(16);
    }
    let big =
        vec![0u8; usize::try_from(eidas_bridge::exchange::DEFAULT_MAX_PAYLOAD).unwrap_or(0) + 1];
    let mut no_id = ok("", TO_HOSPITAL);
    if let Some(e) = no_id.envelope.as_mut() {
        e.message_id.clear();
    }
    let mut no_sender = ok("no-sender", TO_HOSPITAL);
    if let Some(e) = no_sender.envelope.as_mut() {
        e.sender = None;
    }
    let mut no_recipient = ok("no-recipient", TO_HOSPITAL);
    if let Some(e) = no_recipient.envelope.as_mut() {
        e.recipient = None;
    }
    let bad_input =
        "DESIGN.md \"Bad input\" and \"gRPC API\": INVALID_ARGUMENT with the offending field";
    let cases: Vec<(&str, String, &str, pb::SubmitRequest)> = vec![
        (
            "submit/unknown-recipient",
            format!("{EXCHANGE}: the recipient must be identified (specs/addressing.md not_in_directory)"),
            "NotFound NOT_IN_DIRECTORY",
            ok("unknown", ("mssante", "personne.inconnue@mssante.fr")),
        ),
        (
            "submit/recipient-without-home-peer",
            format!("{EXCHANGE}: a recipient whose country no peer bridge serves cannot be relayed"),
            "FailedPrecondition NO_HOME_PEER",
            ok("no-peer", ("canonical", "hcid:DE:telematik-id:1-1.58.00000040")),
        ),
        (
            "submit/local-recipient",
            format!("{EXCHANGE}: a recipient of the bridge's own country is not a cross-border exchange"),
            "FailedPrecondition NO_HOME_PEER",
            ok("local", ("canonical", NURSE_HCID)),
        ),
        (
            "submit/invalid-recipient-address",
            format!("{bad_input} (specs/addressing.md invalid_format: Telematik-ID prefix 6 is reserved)"),
            "InvalidArgument INVALID_FORMAT address",
            ok("bad-address", ("canonical", "hcid:DE:telematik-id:6-123456")),
        ),
        (
            "submit/unknown-space",
            bad_input.to_owned(),
            "InvalidArgument INVALID_FIELD envelope.recipient",
            ok("bad-space", ("smtp", "someone@example.org")),
        ),
        (
            "submit/payload-digest-mismatch",
            format!("{bad_input}: payload_sha256 is the SHA-256 of the payload"),
            "InvalidArgument PAYLOAD_DIGEST_MISMATCH envelope.payload_sha256",
            digest,
        ),
        (
            "submit/payload-digest-length",
            format!("{bad_input}: payload_sha256 is 32 bytes"),
            "InvalidArgument INVALID_FIELD envelope.payload_sha256",
            short,
        ),
        (
            "submit/oversize-payload",
            format!("{bad_input}; DESIGN.md \"Bad input\": every input is bounded (exchange.max_payload)"),
            "InvalidArgument PAYLOAD_TOO_LARGE envelope.payload",
            envelope("big", NURSE, TO_HOSPITAL, &big),
        ),
        (
            "submit/missing-envelope",
            bad_input.to_owned(),
            "InvalidArgument INVALID_FIELD envelope",
            pb::SubmitRequest { envelope: None },
        ),
        (
            "submit/missing-message-id",
            bad_input.to_owned(),
            "InvalidArgument INVALID_FIELD envelope.message_id",
            no_id,
        ),
        (
            "submit/missing-sender",
            bad_input.to_owned(),
            "InvalidArgument INVALID_FIELD envelope.sender",
            no_sender,
        ),
        (
            "submit/missing-recipient",
            bad_input.to_owned(),
            "InvalidArgument INVALID_FIELD envelope.recipient",
            no_recipient,
        ),
    ];
    for (id, rule, want, req) in cases {
        let got = match fr.submit(req).await {
            Ok(a) => format!("accepted as {}", a.into_inner().message_id),
            Err(s) => refusal(&s),
        };
        c.push(id, &rule, want, Ok(got));
    }
}

/// Receive without acknowledgement, then with.
async fn receive_and_ack(c: &mut Cases, fr: &mut Client, be: &mut Client) {
    let unacked = async {
        fr.submit(envelope("rx-1", NURSE, TO_HOSPITAL, b"ack me"))
            .await
            .map_err(|s| refusal(&s))?;
        wait_state(fr, "rx-1", NURSE, ExchangeState::Delivered).await?;
        // First session: everything but rx-1 is acknowledged; rx-1 is read and left.
        let first = receive(be, &["rx-1"], |m| m.message_id != "rx-1").await?;
        // Second session, after reconnecting: rx-1 again; acknowledged this time.
        let second = receive(be, &["rx-1"], |_| true).await?;
        Ok::<String, String>(format!(
            "read {} in the first session, offered {} in the next",
            times(count_ids(&first).get("rx-1").copied().unwrap_or(0)),
            times(count_ids(&second).get("rx-1").copied().unwrap_or(0)),
        ))
    };
    c.push(
        "receive/unacked-redelivered-after-reconnect",
        "DESIGN.md \"gRPC API\": Receive with explicit acknowledgement; what is not acknowledged comes again on the next call",
        "read once in the first session, offered once in the next",
        unacked.await,
    );
    let acked = async {
        let third = receive(be, &[], |_| true).await?;
        Ok::<String, String>(match count_ids(&third).get("rx-1") {
            None => "not offered again".to_owned(),
            Some(n) => format!("offered {} again", times(*n)),
        })
    };
    c.push(
        "receive/acked-never-again",
        &format!("{EXCHANGE}: delivered exactly once to the peer's operator; an acknowledged message never comes again"),
        "not offered again",
        acked.await,
    );
}

/// A FR bridge whose BE peer never comes up, with a short deadline: the message fails with a
/// reason, journaled.
pub(super) async fn deadline(w: Arc<World>) -> Result<Cases, String> {
    let mut c = Cases::default();
    let fr = w
        .node(
            "fr-deadline",
            "FR",
            listener().await?,
            vec![("BE".into(), reserve()?.to_string())],
            RetryPolicy {
                deadline: std::time::Duration::from_millis(400),
                ..retry()
            },
        )
        .await?;
    let mut op = operator(&fr)?;
    let failed = async {
        op.submit(envelope("fail-1", NURSE, TO_HOSPITAL, b"never delivered"))
            .await
            .map_err(|s| refusal(&s))?;
        let s = wait_state(&mut op, "fail-1", NURSE, ExchangeState::Failed).await?;
        let last = s
            .journal_indexes
            .last()
            .copied()
            .ok_or("no journal index")?;
        let entry = fr
            .journal
            .replay(last, last + 1)
            .next()
            .ok_or("journal entry missing")?
            .map_err(|e| e.to_string())?
            .1;
        Ok::<String, String>(format!(
            "{} reason={}; journaled {:?} reason={}",
            state_name(s.state),
            s.reason,
            entry.kind,
            entry.reason.unwrap_or_default()
        ))
    };
    c.push(
        "deadline-passed-peer-down",
        &format!(
            "{EXCHANGE}: after a configured deadline the message fails with a reason, journaled"
        ),
        "FAILED reason=deadline_exceeded; journaled Failed reason=deadline_exceeded",
        failed.await,
    );
    audit::journal(&mut c, "journal/fr-deadline", &fr, audit::DEADLINE_FR);
    fr.stop().await;
    Ok(c)
}
