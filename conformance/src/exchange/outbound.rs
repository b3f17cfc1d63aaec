//! The sending bridge towards its peer. A FR bridge whose peer never comes up, with a short
//! deadline: the message fails with a reason, journaled (DESIGN.md "Exchange semantics"). And
//! the sending bridge's check of its peer: a FR bridge whose configured BE and DE peers are
//! impostors (fake bridges serving with a certificate the trusted lists do not grant as a
//! qualified website certificate of that country). The relay must refuse the connection, keep the
//! message pending with a reason, and never hand the payload over (DESIGN.md "Trust model and
//! roles": a peer is identified by its country and its certificate from that country's list).

use std::sync::Arc;

use bridge_proto::pb::ExchangeState;
use eidas_bridge::exchange::RetryPolicy;

use super::fake_peer;
use super::flows::{EXCHANGE, TO_HOSPITAL};
use super::world::{
    envelope, listener, operator, refusal, reserve, retry, state_name, wait_for, wait_state, World,
    HOSPITAL_HCID, NURSE,
};
use super::{audit, Cases};

const RULE: &str = "DESIGN.md \"Trust model and roles\": a peer bridge is identified by its country and its certificate from that country's trusted list; the relay refuses any other server and keeps the message pending";

/// A DE recipient (corpus `addressing/directory.tsv`), routed to the DE impostor.
const DE_DOCTOR_HCID: &str = "hcid:DE:telematik-id:1-1.58.00000040";

/// Runs the impostor cases on their own FR bridge.
pub(super) async fn impostors(w: Arc<World>) -> Result<Cases, String> {
    let mut c = Cases::default();
    // BE: a server holding BE's qualified *seal* (its CA is BE's, the usage is not website
    // authentication). DE: a server whose certificate comes from no trusted list at all.
    let seal_as_tls = fake_peer::start_with(
        &w,
        &w.eco_dir.join("seal-BE.chain.pem"),
        &w.eco_dir.join("seal-BE.key.pem"),
    )
    .await?;
    let pki = eidas_bridge::devpki::DevPki::new(&w.dir("impostor-pki"));
    pki.ensure().map_err(|e| e.to_string())?;
    let stranger = fake_peer::start_with(&w, &pki.server_cert(), &pki.server_key()).await?;
    let fr = w
        .node(
            "fr-impostors",
            "FR",
            listener().await?,
            vec![
                ("BE".into(), seal_as_tls.addr.to_string()),
                ("DE".into(), stranger.addr.to_string()),
            ],
            retry(),
        )
        .await?;
    let mut op = operator(&fr)?;
    let cases = [
        (
            "outbound/peer-with-seal-certificate",
            "imp-be-1",
            HOSPITAL_HCID,
            &seal_as_tls,
            "a BE server presenting BE's qualified seal instead of a QWAC",
        ),
        (
            "outbound/peer-not-in-lists",
            "imp-de-1",
            DE_DOCTOR_HCID,
            &stranger,
            "a DE server whose certificate is in no trusted list",
        ),
    ];
    for (id, msg, to, server, what) in cases {
        let got = async {
            op.submit(envelope(
                msg,
                NURSE,
                ("canonical", to),
                b"not for impostors",
            ))
            .await
            .map_err(|s| refusal(&s))?;
            let s = wait_for(&mut op, msg, NURSE, |s| s.attempts >= 2).await?;
            // The reason starts with the status code of the failed attempt; the rest is the
            // transport's message, which names OpenSSL internals and is not compared.
            let code = s.reason.split(':').next().unwrap_or_default().to_owned();
            Ok::<String, String>(format!(
                "{} after {} attempts, reason {}; the impostor received {} deliveries",
                state_name(s.state),
                if s.attempts >= 2 {
                    "2+"
                } else {
                    "fewer than 2"
                },
                if code.is_empty() { "none" } else { &code },
                server.deliveries()
            ))
        };
        c.push(
            id,
            &format!("{RULE}: {what}"),
            "ACCEPTED after 2+ attempts, reason Unavailable; the impostor received 0 deliveries",
            got.await,
        );
    }
    audit::journal(&mut c, "journal/fr-impostors", &fr, audit::IMPOSTORS_FR);
    fr.stop().await;
    Ok(c)
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
