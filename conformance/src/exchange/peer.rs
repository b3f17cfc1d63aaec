//! The bridge-to-bridge cases. Inbound: `PeerService.Deliver` calls to the real BE (and FR) made
//! as a foreign bridge, with a correct seal as baseline and then altered seals, seals by keys the
//! lists do not trust, and callers whose TLS certificate the lists do not trust. Outbound: a FR
//! bridge relaying to the fake BE of `fake_peer`, which answers with altered receipts.

use std::path::Path;
use std::sync::Arc;

use bridge_proto::pb;
use bridge_proto::pb::peer_service_client::PeerServiceClient;
use bridge_proto::pb::ExchangeState;
use eidas_bridge::demo::{channel_to, client_identity, Node};
use eidas_bridge::exchange::{SealKey, SealedContent};
use eidas_bridge::grpc::Role;
use sha2::{Digest, Sha256};
use tonic::transport::Channel;

use super::fake_peer::{self, HONEST_ID};
use super::world::{
    envelope, listener, operator, refusal, retry, state_name, wait_for, World, HOSPITAL_HCID,
    NURSE, NURSE_HCID,
};
use super::{audit, Cases};

/// DESIGN.md sections cited by the cases.
const RECEIVING: &str = "DESIGN.md \"Exchange semantics\": the receiving bridge validates the sender bridge's certificate against the trust lists and checks the envelope seal";
const ROLES: &str = "DESIGN.md \"Trust model and roles\": a peer is identified by its certificate from its country's trusted list";

/// How a sealed envelope is altered after sealing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Alter {
    None,
    Payload,
    UnsignedRecipient,
    SealedRecipient,
    SealBytes,
}

/// Seals an envelope from FR to `destination` with `seal`, then alters it.
fn sealed(
    seal: &SealKey,
    id: &str,
    origin: &str,
    destination: &str,
    alter: Alter,
) -> Result<pb::SealedEnvelope, String> {
    let payload = b"sealed payload".to_vec();
    let mut content = SealedContent {
        message_id: id.into(),
        sender_hcid: format!("{NURSE_HCID};role=nurse"),
        recipient_hcid: HOSPITAL_HCID.into(),
        payload_sha256: Sha256::digest(&payload).into(),
        payload_size: payload.len() as u64,
        origin_peer: origin.into(),
        destination_peer: destination.into(),
        sealed_at: 0,
    };
    let bytes = content.encode().map_err(|e| e.to_string())?;
    let mut env = pb::SealedEnvelope {
        message_id: id.into(),
        sender_hcid: content.sender_hcid.clone(),
        recipient_hcid: content.recipient_hcid.clone(),
        payload,
        payload_sha256: content.payload_sha256.to_vec(),
        origin_peer_id: origin.into(),
        seal: seal.sign(&bytes).map_err(|e| e.to_string())?,
        sealed_content: bytes,
        seal_chain: seal.chain_der().map_err(|e| e.to_string())?,
    };
    match alter {
        Alter::None => {}
        Alter::Payload => env.payload = b"SEALED PAYLOAD".to_vec(),
        Alter::UnsignedRecipient => env.recipient_hcid = "hcid:BE:nihii-hospital:71000535".into(),
        Alter::SealedRecipient => {
            // Both copies say the new recipient; only the seal still covers the old one.
            content.recipient_hcid = "hcid:BE:nihii-hospital:71000535".into();
            env.sealed_content = content.encode().map_err(|e| e.to_string())?;
            env.recipient_hcid = content.recipient_hcid;
        }
        Alter::SealBytes => {
            if let Some(last) = env.seal.last_mut() {
                *last ^= 1;
            }
        }
    }
    Ok(env)
}

fn seal_of(party: &crate::ecosystem::certs::Party, ca: &crate::ecosystem::certs::Party) -> SealKey {
    SealKey::new(party.key.clone(), vec![party.cert.clone(), ca.cert.clone()])
}

/// Writes a certificate chain and key as PEM files under `dir`; returns their paths.
fn write_identity(
    dir: &Path,
    chain: &[&openssl::x509::X509],
    key: &openssl::pkey::PKey<openssl::pkey::Private>,
) -> Result<(std::path::PathBuf, std::path::PathBuf), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let mut pem = Vec::new();
    for c in chain {
        pem.extend(c.to_pem().map_err(|e| e.to_string())?);
    }
    let (cert, keyf) = (dir.join("chain.pem"), dir.join("key.pem"));
    std::fs::write(&cert, pem).map_err(|e| e.to_string())?;
    std::fs::write(
        &keyf,
        key.private_key_to_pem_pkcs8().map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    Ok((cert, keyf))
}

/// A `PeerService` client to `node` (of `country`) with the TLS identity in `cert`/`key`.
fn peer_client(
    w: &World,
    node: &Node,
    country: &str,
    cert: &Path,
    key: &Path,
) -> Result<PeerServiceClient<Channel>, String> {
    let id = client_identity(cert, key, Vec::new()).map_err(|e| e.to_string())?;
    channel_to(node.addr, country, &id, w.trust.clone())
        .map(PeerServiceClient::new)
        .map_err(|e| e.to_string())
}

async fn deliver(
    client: &mut PeerServiceClient<Channel>,
    env: Result<pb::SealedEnvelope, String>,
) -> Result<String, String> {
    Ok(match client.deliver(env?).await {
        Ok(r) => {
            let r = r.into_inner();
            format!("receipt for {} from {}", r.message_id, r.receiver_peer_id)
        }
        Err(s) => refusal(&s),
    })
}

/// Inbound cases against the main pair.
pub(super) async fn inbound(c: &mut Cases, w: &World, fr: &Node, be: &Node) {
    let e = &w.eco;
    let (Some(fr_seal), Some(fr_ca), Some(be_seal), Some(be_ca), Some(fr_qwac)) = (
        e.seals.get("FR"),
        e.cas.get("FR"),
        e.seals.get("BE"),
        e.cas.get("BE"),
        e.qwacs.get("FR"),
    ) else {
        c.push(
            "peer/setup",
            "ecosystem",
            "FR and BE seals and QWACs",
            Err("missing in the ecosystem".into()),
        );
        return;
    };
    let good = seal_of(fr_seal, fr_ca);
    let mut as_fr = match peer_client(
        w,
        be,
        "BE",
        &w.eco_dir.join("qwac-FR.chain.pem"),
        &w.eco_dir.join("qwac-FR.key.pem"),
    ) {
        Ok(x) => x,
        Err(err) => {
            c.push(
                "peer/setup",
                "FR's QWAC as client",
                "a PeerService client",
                Err(err),
            );
            return;
        }
    };
    let seal_cases: Vec<(&str, String, &str, Result<pb::SealedEnvelope, String>)> = vec![
        (
            "peer/seal-valid-baseline",
            format!("{RECEIVING}; a correct seal from FR's qualified seal is accepted with a signed receipt"),
            "receipt for seal-ok-1 from BE",
            sealed(&good, "seal-ok-1", "FR", "BE", Alter::None),
        ),
        (
            "peer/seal-payload-tampered",
            format!("{RECEIVING}: the payload must be the one sealed"),
            "InvalidArgument SEAL_INVALID (field payload differs from the sealed content)",
            sealed(&good, "seal-2", "FR", "BE", Alter::Payload),
        ),
        (
            "peer/seal-header-tampered",
            format!("{RECEIVING}: the unsigned header must agree with the sealed content"),
            "InvalidArgument SEAL_INVALID (field recipient_hcid differs from the sealed content)",
            sealed(&good, "seal-3", "FR", "BE", Alter::UnsignedRecipient),
        ),
        (
            "peer/sealed-content-tampered",
            format!("{RECEIVING}: the sealed content changed after sealing no longer verifies"),
            "InvalidArgument SEAL_INVALID (signature does not verify)",
            sealed(&good, "seal-4", "FR", "BE", Alter::SealedRecipient),
        ),
        (
            "peer/seal-signature-tampered",
            format!("{RECEIVING}: an altered seal does not verify"),
            "InvalidArgument SEAL_INVALID (signature does not verify)",
            sealed(&good, "seal-5", "FR", "BE", Alter::SealBytes),
        ),
        (
            "peer/seal-withdrawn-service",
            format!("{RECEIVING}: a seal from a service withdrawn in the list is not trusted (ETSI TS 119 612 5.5.4)"),
            "PermissionDenied SEAL_UNTRUSTED",
            sealed(&seal_of(&e.withdrawn_seal, &e.withdrawn_ca), "seal-6", "FR", "BE", Alter::None),
        ),
        (
            "peer/seal-by-other-country",
            format!("{RECEIVING}: the seal must be a qualified seal of the caller's own country"),
            "PermissionDenied SEAL_UNTRUSTED",
            sealed(&seal_of(be_seal, be_ca), "seal-7", "FR", "BE", Alter::None),
        ),
        (
            "peer/seal-by-website-certificate",
            format!("{RECEIVING}: a key the lists grant for website authentication only is no seal"),
            "PermissionDenied SEAL_UNTRUSTED",
            sealed(&seal_of(fr_qwac, fr_ca), "seal-8", "FR", "BE", Alter::None),
        ),
        (
            "peer/seal-for-another-bridge",
            format!("{RECEIVING}: a seal made for another destination cannot be replayed here"),
            "PermissionDenied WRONG_PEER destination_peer",
            sealed(&good, "seal-9", "FR", "DE", Alter::None),
        ),
        (
            "peer/seal-origin-not-caller",
            format!("{RECEIVING}: the sealed origin must be the authenticated caller"),
            "PermissionDenied WRONG_PEER origin_peer",
            sealed(&good, "seal-10", "DE", "BE", Alter::None),
        ),
    ];
    for (id, rule, want, env) in seal_cases {
        c.push(id, &rule, want, deliver(&mut as_fr, env).await);
    }

    // TLS identities: a withdrawn service's certificate, and one from no list at all.
    let withdrawn = async {
        let (cert, key) = write_identity(
            &w.dir("withdrawn-client"),
            &[&e.withdrawn_seal.cert, &e.withdrawn_ca.cert],
            &e.withdrawn_seal.key,
        )?;
        let mut client = peer_client(w, fr, "FR", &cert, &key)?;
        deliver(
            &mut client,
            sealed(&seal_of(be_seal, be_ca), "tls-1", "BE", "FR", Alter::None),
        )
        .await
    };
    c.push(
        "peer/tls-withdrawn-service",
        &format!("{ROLES}: a caller whose service was withdrawn in the list holds no peer role"),
        "PermissionDenied ROLE_NOT_GRANTED",
        withdrawn.await,
    );
    let stranger = async {
        let pki = eidas_bridge::devpki::DevPki::new(&w.dir("stranger"));
        pki.ensure().map_err(|e| e.to_string())?;
        let mut client = peer_client(
            w,
            be,
            "BE",
            &pki.client_cert(Role::Peer),
            &pki.client_key(Role::Peer),
        )?;
        let got = deliver(&mut client, sealed(&good, "tls-2", "FR", "BE", Alter::None)).await?;
        // TLS 1.3: the client finishes its side first and learns of the refusal as a broken
        // connection, reported as UNAVAILABLE, UNKNOWN or CANCELLED by when the alert is read.
        Ok::<String, String>(
            if [
                "Unavailable (no ErrorInfo)",
                "Unknown (no ErrorInfo)",
                "Cancelled (no ErrorInfo)",
            ]
            .contains(&got.as_str())
            {
                "handshake refused".to_owned()
            } else {
                got
            },
        )
    };
    c.push(
        "peer/tls-not-in-lists",
        &format!("{ROLES}; DESIGN.md \"Trust model and roles\": every caller is authenticated by mutual TLS against the trust store"),
        "handshake refused",
        stranger.await,
    );
}

/// A FR bridge relaying to the fake BE: an honest receipt is accepted, altered ones refused.
pub(super) async fn receipts(w: Arc<World>) -> Result<Cases, String> {
    let mut c = Cases::default();
    let fake = fake_peer::start(&w).await?;
    let fr = w
        .node(
            "fr-receipts",
            "FR",
            listener().await?,
            vec![("BE".into(), fake.addr.to_string())],
            retry(),
        )
        .await?;
    let mut op = operator(&fr)?;
    let rule = "DESIGN.md \"Exchange semantics\": the receiving bridge answers with a signed receipt that the sender checks and journals";
    let cases = [
        (
            HONEST_ID,
            "an honest receipt signed by BE's qualified seal is accepted (baseline)",
            "DELIVERED",
        ),
        (
            "rcpt-badsig-1",
            "a receipt whose signature was altered is refused",
            "FORWARDED: receipt refused: receipt: signature does not verify",
        ),
        (
            "rcpt-badcontent-1",
            "a receipt whose signed content was altered after its batch was signed is refused",
            "FORWARDED: receipt refused: receipt: not included in the signed batch",
        ),
        (
            "rcpt-wrongkey-1",
            "a receipt signed by another bridge's key than BE's qualified seal is refused",
            "FORWARDED: receipt refused: receipt chain not trusted for BE",
        ),
        (
            "rcpt-othermsg-1",
            "a valid BE receipt for another message is refused",
            "FORWARDED: receipt refused: receipt: field message_id differs from the sealed content",
        ),
    ];
    for (id, what, want) in cases {
        let got = async {
            op.submit(envelope(
                id,
                NURSE,
                ("canonical", HOSPITAL_HCID),
                id.as_bytes(),
            ))
            .await
            .map_err(|s| refusal(&s))?;
            let s = wait_for(&mut op, id, NURSE, |s| {
                s.state == ExchangeState::Delivered as i32
                    || s.state == ExchangeState::Failed as i32
                    || (s.attempts >= 1 && !s.reason.is_empty())
            })
            .await?;
            Ok::<String, String>(if s.reason.is_empty() {
                state_name(s.state)
            } else {
                format!("{}: {}", state_name(s.state), s.reason)
            })
        };
        c.push(
            &format!("receipt/{id}"),
            &format!("{rule}: {what}"),
            want,
            got.await,
        );
    }
    audit::journal(&mut c, "journal/fr-receipts", &fr, audit::RECEIPTS_FR);
    fr.stop().await;
    drop(fake);
    Ok(c)
}
