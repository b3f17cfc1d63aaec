//! Operator calls the bridge must refuse, each with its exact status code, `ErrorInfo` reason
//! and offending field (DESIGN.md "gRPC API" and "Bad input"), and lookups of what does not
//! exist (yet). None of them may leave a journal entry (checked by `audit`).

use bridge_proto::pb;
use sha2::{Digest, Sha256};

use super::flows::{Client, EXCHANGE, TO_HOSPITAL};
use super::world::{addr, envelope, refusal, DOCTOR, NURSE, NURSE_HCID};
use super::Cases;

/// Submits FR must refuse, with the exact code, reason and field.
pub(super) async fn refusals(c: &mut Cases, fr: &mut Client) {
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

/// GetStatus and GetReceipt for what does not exist, or not yet.
pub(super) async fn lookups(c: &mut Cases, fr: &mut Client) {
    let query = |id: &str| pb::GetStatusRequest {
        message_id: id.into(),
        sender: addr(NURSE),
    };
    let unknown = match fr.get_status(query("never-submitted")).await {
        Ok(s) => format!("status {}", s.into_inner().state),
        Err(s) => refusal(&s),
    };
    c.push(
        "status/unknown-message",
        &format!("{EXCHANGE}: status is queryable; a message never submitted by this sender is not found"),
        "NotFound MESSAGE_NOT_FOUND",
        Ok(unknown),
    );
    let other_sender = match fr
        .get_status(pb::GetStatusRequest {
            message_id: "down-1".into(),
            sender: addr(DOCTOR),
        })
        .await
    {
        Ok(s) => format!("status {}", s.into_inner().state),
        Err(s) => refusal(&s),
    };
    c.push(
        "status/other-senders-message",
        &format!("{EXCHANGE}: message ids are unique per sender; another sender's message is not found under this one"),
        "NotFound MESSAGE_NOT_FOUND",
        Ok(other_sender),
    );
    let no_receipt = match fr.get_receipt(query("never-submitted")).await {
        Ok(r) => format!("receipt for {}", r.into_inner().message_id),
        Err(s) => refusal(&s),
    };
    c.push(
        "status/receipt-of-unknown-message",
        &format!("{EXCHANGE}: receipts are evidence of a submitted message"),
        "NotFound MESSAGE_NOT_FOUND",
        Ok(no_receipt),
    );
}
