//! Submit with the sender's wallet presentation (issue 7 point 1): a FR bridge whose trust
//! snapshot is the generated ecosystem's, so the DE PID provider's issuer certificate is trusted
//! through the lists, and `exchange.require_presentation` on. Accepted with a valid presentation
//! (the holder journaled as `sender_holder` evidence), refused when missing, with a replayed
//! nonce, with a tampered presentation, and when the holder is not the sender; each refusal with
//! its exact code and reason, and nothing stored or journaled.
// Test code: a failing unwrap or panic is a failing test (clippy.toml allows it inside #[test] only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use bridge_proto::pb;
use bridge_proto::pb::exchange_service_client::ExchangeServiceClient;
use bridge_proto::pb::identity_service_client::IdentityServiceClient;
use eidas_bridge::demo::{
    start_node_with, trust_of, walk_ecosystem, write_ecosystem, Node, NodeOptions, FR_DIRECTORY,
};
use eidas_bridge::exchange::{Address, ExchangeError, RetryPolicy};
use eidas_bridge::journal::{Decision, EntryKind};
use openssl::ec::EcKey;
use openssl::ecdsa::EcdsaSig;
use openssl::pkey::Private;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use test_ecosystem::Ecosystem;
use time::OffsetDateTime;
use tonic::transport::Channel;
use tonic::Code;

use tonic_types::StatusExt;

mod common;
use common::reason;

fn eco() -> &'static Ecosystem {
    static ECO: OnceLock<Ecosystem> = OnceLock::new();
    ECO.get_or_init(|| Ecosystem::generate(b"eidas-bridge presentation tests").unwrap())
}

const NURSE: (&str, &str) = ("mssante", "jean-marie.dupont@infirmier.mssante.fr");
/// The nurse's registration as the attestation states it (RPPS, ANS OID).
const NURSE_RPPS: &str = "10003456789";
const HOSPITAL: &str = "hcid:BE:nihii-hospital:71000436";
/// The default audience of a FR bridge (`Config::presentation_audience`).
const AUDIENCE: &str = "eidas-bridge.fr";

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

fn es256(key: &EcKey<Private>, input: &str) -> String {
    let sig = EcdsaSig::sign(&openssl::sha::sha256(input.as_bytes()), key).unwrap();
    let mut raw = sig.r().to_vec_padded(32).unwrap();
    raw.extend(sig.s().to_vec_padded(32).unwrap());
    b64(&raw)
}

fn jws(key: &EcKey<Private>, header: &Value, payload: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(payload.to_string().as_bytes())
    );
    format!("{input}.{}", es256(key, &input))
}

fn holder_jwk(k: &EcKey<Private>) -> Value {
    let mut ctx = openssl::bn::BigNumContext::new().unwrap();
    let (mut x, mut y) = (
        openssl::bn::BigNum::new().unwrap(),
        openssl::bn::BigNum::new().unwrap(),
    );
    k.public_key()
        .affine_coordinates(k.group(), &mut x, &mut y, &mut ctx)
        .unwrap();
    json!({"kty": "EC", "crv": "P-256", "x": b64(&x.to_vec_padded(32).unwrap()), "y": b64(&y.to_vec_padded(32).unwrap())})
}

/// An SD-JWT VC from the ecosystem's PID issuer (x5c: its certificate, listed under the DE PID
/// provider service) attesting the RPPS registration `rpps`, presented with a KB-JWT over
/// `nonce` and [`AUDIENCE`].
fn presentation(rpps: &str, nonce: &str) -> Vec<u8> {
    let e = eco();
    let issuer = e.pid_issuer.key.ec_key().unwrap();
    let holder = EcKey::generate(issuer.group()).unwrap();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let disclosure = b64(json!(["salt-1", "given_name", "Jean-Marie"])
        .to_string()
        .as_bytes());
    let digest = b64(&Sha256::digest(disclosure.as_bytes()));
    let header =
        json!({"alg": "ES256", "typ": "dc+sd-jwt", "x5c": [STANDARD.encode(e.pid_issuer.der())]});
    let payload = json!({
        "iss": "https://pid.test", "vct": "urn:example:health-professional:1",
        "iat": now - 10, "exp": now + 3600, "_sd": [digest], "_sd_alg": "sha-256",
        "cnf": {"jwk": holder_jwk(&holder)},
        "registration": {"country": "FR", "identifier_scheme": "urn:oid:1.2.250.1.71.4.2.1",
            "identifier": rpps, "status": "active"},
    });
    let head = format!("{}~{disclosure}~", jws(&issuer, &header, &payload));
    let sd_hash = b64(&Sha256::digest(head.as_bytes()));
    let kb = jws(
        &holder,
        &json!({"alg": "ES256", "typ": "kb+jwt"}),
        &json!({"iat": now, "nonce": nonce, "aud": AUDIENCE, "sd_hash": sd_hash}),
    );
    format!("{head}{kb}").into_bytes()
}

fn submit(id: &str, presentation: Option<(Vec<u8>, String)>) -> pb::SubmitRequest {
    let (sender_presentation, presentation_nonce) = presentation.unwrap_or_default();
    pb::SubmitRequest {
        envelope: Some(pb::Envelope {
            message_id: id.into(),
            sender: Some(pb::Address {
                space: NURSE.0.into(),
                value: NURSE.1.into(),
            }),
            recipient: Some(pb::Address {
                space: "canonical".into(),
                value: HOSPITAL.into(),
            }),
            payload: b"hello".to_vec(),
            payload_sha256: Sha256::digest(b"hello").to_vec(),
            sender_presentation,
            presentation_nonce,
            ..Default::default()
        }),
    }
}

async fn challenge(channel: &Channel) -> String {
    IdentityServiceClient::new(channel.clone())
        .create_challenge(pb::CreateChallengeRequest {
            audience: AUDIENCE.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .nonce
}

/// A FR bridge that requires presentations, with the walked snapshot stored before it starts
/// (so its wallet issuers are anchored in the lists and the decisions carry evidence). Its BE
/// peer is a closed port: acceptance does not need it.
async fn fr_node(dir: &std::path::Path) -> (Node, [u8; 32]) {
    let e = eco();
    let eco_dir = write_ecosystem(e, dir).unwrap();
    let snapshot = walk_ecosystem(e, OffsetDateTime::now_utc()).unwrap();
    let data_dir = dir.join("fr");
    {
        let store = eidas_bridge::store::Store::open(&data_dir).unwrap();
        store.trust().unwrap().save(&snapshot).unwrap();
    }
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let node = start_node_with(
        &eco_dir,
        NodeOptions {
            country: "FR".into(),
            data_dir,
            listener: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
            peers: vec![("BE".into(), closed.to_string())],
            trust: trust_of(&snapshot),
            directory_tsv: Some(FR_DIRECTORY.into()),
            retry: RetryPolicy {
                initial: Duration::from_millis(200),
                max: Duration::from_secs(1),
                ..RetryPolicy::default()
            },
            tls_identity: None,
        },
        |c| c.exchange.require_presentation = true,
    )
    .await
    .unwrap();
    (node, snapshot.digest())
}

fn nothing_stored(node: &Node, id: &str) {
    let sender = Address::new("sender", NURSE.0, NURSE.1.into()).unwrap();
    assert!(
        matches!(
            node.exchange.status(&sender, id),
            Err(eidas_bridge::Error::Exchange(ExchangeError::NotFound))
        ),
        "{id} must not be stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_verifies_and_binds_the_senders_presentation() {
    let dir = tempfile::tempdir().unwrap();
    let (node, snapshot) = fr_node(dir.path()).await;
    let channel = node.operator_channel().unwrap();
    let mut fr = ExchangeServiceClient::new(channel.clone());

    // Accepted: the holder is the sender, and the accepted entry carries the issuer decision.
    let nonce = challenge(&channel).await;
    let ok = fr
        .submit(submit(
            "p-1",
            Some((presentation(NURSE_RPPS, &nonce), nonce.clone())),
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!ok.duplicate);
    let (_, entry) = node
        .journal
        .replay(ok.journal_index, ok.journal_index + 1)
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(entry.kind, EntryKind::Accepted);
    assert_eq!(
        entry.sender.as_deref(),
        Some("hcid:FR:rpps:10003456789;role=nurse")
    );
    assert_eq!(entry.evidence.unwrap().decision, Decision::SenderHolder);
    assert_eq!(entry.trust_snapshot, Some(snapshot));
    // A resend gets the first answer (its presentation was checked once).
    let again = fr.submit(submit("p-1", None)).await.unwrap().into_inner();
    assert!(again.duplicate);
    assert_eq!(again.journal_index, ok.journal_index);

    let size = node.journal.head().size;
    // Required and missing.
    let s = fr.submit(submit("p-2", None)).await.unwrap_err();
    assert_eq!(
        (s.code(), reason(&s).as_str()),
        (Code::InvalidArgument, "PRESENTATION_REQUIRED")
    );
    nothing_stored(&node, "p-2");
    // A replayed nonce (already used by p-1): single use.
    let s = fr
        .submit(submit(
            "p-3",
            Some((presentation(NURSE_RPPS, &nonce), nonce.clone())),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        (s.code(), reason(&s).as_str()),
        (Code::FailedPrecondition, "CHALLENGE_UNKNOWN_OR_USED")
    );
    nothing_stored(&node, "p-3");
    // A nonce issued for another audience.
    let other = IdentityServiceClient::new(channel.clone())
        .create_challenge(pb::CreateChallengeRequest {
            audience: "x509_san_dns:other.example".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .nonce;
    let s = fr
        .submit(submit(
            "p-4",
            Some((presentation(NURSE_RPPS, &other), other)),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        (s.code(), reason(&s).as_str()),
        (Code::FailedPrecondition, "CHALLENGE_AUDIENCE_MISMATCH")
    );
    // A tampered presentation: one character of the issuer-signed payload changed.
    let nonce = challenge(&channel).await;
    let mut tampered = presentation(NURSE_RPPS, &nonce);
    let dot = tampered.iter().position(|b| *b == b'.').unwrap();
    tampered[dot + 5] = if tampered[dot + 5] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let s = fr
        .submit(submit("p-5", Some((tampered, nonce))))
        .await
        .unwrap_err();
    assert_eq!(
        (s.code(), reason(&s).as_str()),
        (Code::InvalidArgument, "PRESENTATION_REFUSED")
    );
    nothing_stored(&node, "p-5");
    // A valid presentation of someone else: the holder is not the sender.
    let nonce = challenge(&channel).await;
    let s = fr
        .submit(submit(
            "p-6",
            Some((presentation("10000000008", &nonce), nonce)),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        (s.code(), reason(&s).as_str()),
        (Code::PermissionDenied, "SENDER_NOT_HOLDER")
    );
    nothing_stored(&node, "p-6");
    // A presentation without its nonce is a malformed envelope.
    let s = fr
        .submit(submit("p-7", Some((b"x~".to_vec(), String::new()))))
        .await
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
        "envelope.presentation_nonce"
    );
    // An mdoc names the session it answers: without one it is refused before its nonce is spent.
    let nonce = challenge(&channel).await;
    let mut mdoc = submit("p-8", Some((vec![0xa1, 0x00], nonce)));
    mdoc.envelope.as_mut().unwrap().presentation_format = pb::PresentationFormat::Mdoc as i32;
    let s = fr.submit(mdoc.clone()).await.unwrap_err();
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
        "envelope.presentation_response_uri"
    );
    // With its origin, the (malformed) DeviceResponse reaches the identity pipeline, which
    // refuses it with its own code; the nonce was still unspent, and is spent now.
    mdoc.envelope.as_mut().unwrap().presentation_origin = "https://operator.example".into();
    let s = fr.submit(mdoc.clone()).await.unwrap_err();
    assert_eq!(
        (s.code(), reason(&s).as_str()),
        (Code::InvalidArgument, "PRESENTATION_REFUSED")
    );
    let s = fr.submit(mdoc).await.unwrap_err();
    assert_eq!(
        (s.code(), reason(&s).as_str()),
        (Code::FailedPrecondition, "CHALLENGE_UNKNOWN_OR_USED")
    );
    nothing_stored(&node, "p-8");
    // None of the refusals was journaled.
    assert_eq!(node.journal.head().size, size);
    let data = node.data_dir.clone();
    node.stop().await;

    // An auditor re-runs the bound holder's issuer decision offline against the archived
    // snapshot: it agrees.
    let export = dir.path().join("fr.export");
    let bin = env!("CARGO_BIN_EXE_eidas-bridge");
    let status = std::process::Command::new(bin)
        .args(["journal", "export", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&export)
        .status()
        .unwrap();
    assert!(status.success());
    let out = std::process::Command::new(bin)
        .args(["--json", "journal", "verify"])
        .arg(&export)
        .arg("--recheck")
        .arg("--data")
        .arg(&data)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}");
    assert!(report.contains("\"divergences\":0"), "{report}");
    assert!(report.contains("\"agreed\":1,"), "{report}");
}
