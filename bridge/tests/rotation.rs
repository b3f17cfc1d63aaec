//! Rotation without a restart, between two bridges (FR, BE) in one process: a reload (what SIGHUP
//! does to `serve`) reads the seal again, so receipts are sealed with the new key from then on,
//! and gives the relay the new TLS certificate, so peers see it on the next connection. A reload
//! with a key that does not match its certificate changes nothing.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use bridge_proto::pb;
use bridge_proto::pb::exchange_service_client::ExchangeServiceClient;
use eidas_bridge::demo::start_pair;
use eidas_bridge::tls::ReloadHandle;
use openssl::nid::Nid;
use sha2::{Digest, Sha256};
use test_ecosystem::certs::{issue, Party, Profile, Spec};
use test_ecosystem::{keys, Ecosystem, NOT_AFTER, NOT_BEFORE};

mod common;
use common::{addr, retry, status, wait_state};

fn eco() -> &'static Ecosystem {
    static ECO: OnceLock<Ecosystem> = OnceLock::new();
    ECO.get_or_init(|| Ecosystem::generate(b"eidas-bridge rotation tests").unwrap())
}

const NURSE: (&str, &str) = ("mssante", "jean-marie.dupont@infirmier.mssante.fr");

fn envelope(id: &str) -> pb::SubmitRequest {
    let payload = id.as_bytes();
    pb::SubmitRequest {
        envelope: Some(pb::Envelope {
            message_id: id.into(),
            sender: addr(NURSE.0, NURSE.1),
            recipient: addr("canonical", "hcid:BE:nihii-hospital:71000436"),
            payload: payload.to_vec(),
            payload_sha256: Sha256::digest(payload).to_vec(),
            ..Default::default()
        }),
    }
}

/// A new end-entity certificate for `cc` under `issuer`, with a key of its own.
fn new_party(cc: &str, cn: &str, serial: u32, profile: Profile, issuer: Option<&Party>) -> Party {
    let key = keys::ec_key(eco().seed(), cn, Nid::X9_62_PRIME256V1).unwrap();
    let dns = (profile == Profile::Qwac).then_some(cn);
    let spec = Spec {
        cn,
        country: cc,
        org: &format!("Test bridge {cc}"),
        serial,
        not_before: NOT_BEFORE,
        not_after: NOT_AFTER,
        profile,
        dns,
    };
    issue(&spec, key, issuer).unwrap()
}

/// Writes `party`'s chain (with `ca` when given) and key where a node reads `kind` for `cc`;
/// each file is replaced by a rename, as an operator would.
fn install(dir: &Path, kind: &str, cc: &str, party: &Party, ca: Option<&Party>, key: bool) {
    let replace = |name: String, bytes: Vec<u8>| {
        let tmp = dir.join(format!("{name}.new"));
        std::fs::write(&tmp, bytes).unwrap();
        std::fs::rename(&tmp, dir.join(name)).unwrap();
    };
    let mut chain = party.cert.to_pem().unwrap();
    if let Some(ca) = ca {
        chain.extend(ca.cert.to_pem().unwrap());
    }
    replace(format!("{kind}-{cc}.chain.pem"), chain);
    if key {
        let pem = party.key.private_key_to_pem_pkcs8().unwrap();
        replace(format!("{kind}-{cc}.key.pem"), pem);
    }
}

/// Asks for a reload and waits for its outcome (bounded).
async fn reload(handle: &ReloadHandle) -> Result<u64, String> {
    let mut rx = handle.outcomes();
    rx.borrow_and_update();
    handle.reload();
    tokio::time::timeout(Duration::from_secs(20), rx.changed())
        .await
        .expect("the reload outcome arrives")
        .expect("the reloader is running");
    let outcome = rx.borrow().clone();
    outcome
}

/// The leaf of the seal that signed the receipt of `id`.
async fn receipt_signer(
    fr: &mut ExchangeServiceClient<tonic::transport::Channel>,
    id: &str,
) -> Vec<u8> {
    let receipt = fr
        .get_receipt(pb::GetStatusRequest {
            message_id: id.into(),
            sender: addr(NURSE.0, NURSE.1),
        })
        .await
        .unwrap()
        .into_inner();
    receipt.seal_chain[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_seal_signs_the_next_receipts_after_a_reload() {
    let dir = tempfile::tempdir().unwrap();
    let p = start_pair(eco(), dir.path(), retry()).await.unwrap();
    let eco_dir = dir.path().join("ecosystem");
    let mut fr = ExchangeServiceClient::new(p.fr.operator_channel().unwrap());
    let old_seal = eco().seals["BE"].der();

    fr.submit(envelope("before")).await.unwrap();
    wait_state(&mut fr, "before", NURSE, pb::ExchangeState::Delivered).await;
    assert_eq!(receipt_signer(&mut fr, "before").await, old_seal);

    // A new qualified seal under BE's listed CA. First its certificate alone, with the old key
    // still in place: the reload is refused and the seal in force stays.
    let new_seal = new_party(
        "BE",
        "bridge.be.test seal 2",
        902,
        Profile::QSeal,
        Some(&eco().cas["BE"]),
    );
    install(
        &eco_dir,
        "seal",
        "BE",
        &new_seal,
        Some(&eco().cas["BE"]),
        false,
    );
    let refused = reload(&p.be.reload).await.unwrap_err();
    assert!(refused.contains("is not the private key"), "{refused}");
    fr.submit(envelope("refused")).await.unwrap();
    wait_state(&mut fr, "refused", NURSE, pb::ExchangeState::Delivered).await;
    assert_eq!(receipt_signer(&mut fr, "refused").await, old_seal);

    // Then its key: the next receipt carries the new seal, and FR, which checks every receipt
    // against BE's trusted list, takes it (Delivered). No restart in between.
    install(
        &eco_dir,
        "seal",
        "BE",
        &new_seal,
        Some(&eco().cas["BE"]),
        true,
    );
    assert_eq!(reload(&p.be.reload).await, Ok(1));
    fr.submit(envelope("after")).await.unwrap();
    wait_state(&mut fr, "after", NURSE, pb::ExchangeState::Delivered).await;
    assert_eq!(receipt_signer(&mut fr, "after").await, new_seal.der());
    // What was sealed before stays as it was.
    assert_eq!(receipt_signer(&mut fr, "before").await, old_seal);
    p.fr.stop().await;
    p.be.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_presents_the_reloaded_certificate_on_its_next_connection() {
    let dir = tempfile::tempdir().unwrap();
    let p = start_pair(eco(), dir.path(), retry()).await.unwrap();
    let eco_dir = dir.path().join("ecosystem");
    let mut fr = ExchangeServiceClient::new(p.fr.operator_channel().unwrap());
    fr.submit(envelope("first")).await.unwrap();
    wait_state(&mut fr, "first", NURSE, pb::ExchangeState::Delivered).await;

    // FR's TLS certificate becomes one that no trusted list announces: after the reload the
    // relay's next connection presents it, and BE refuses it. (Had the relay kept its old
    // connection or certificate, the message would go through.)
    let outsider_ca = new_party("FR", "Unlisted CA FR", 910, Profile::Ca, None);
    let outsider = new_party(
        "FR",
        "bridge.fr.test",
        911,
        Profile::Qwac,
        Some(&outsider_ca),
    );
    install(&eco_dir, "qwac", "FR", &outsider, Some(&outsider_ca), true);
    assert_eq!(reload(&p.fr.reload).await, Ok(1));
    fr.submit(envelope("unlisted")).await.unwrap();
    let mut refused = None;
    for _ in 0..200 {
        let s = status(&mut fr, "unlisted", NURSE).await;
        assert_ne!(s.state, pb::ExchangeState::Delivered as i32, "{s:?}");
        if s.attempts >= 1 && !s.reason.is_empty() {
            refused = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refused = refused.expect("an attempt with the unlisted certificate is made and fails");

    // A listed certificate again (a new one, under FR's listed CA): the pending message goes.
    let listed = new_party(
        "FR",
        "bridge.fr.test",
        912,
        Profile::Qwac,
        Some(&eco().cas["FR"]),
    );
    install(
        &eco_dir,
        "qwac",
        "FR",
        &listed,
        Some(&eco().cas["FR"]),
        true,
    );
    assert_eq!(reload(&p.fr.reload).await, Ok(2));
    let done = wait_state(&mut fr, "unlisted", NURSE, pb::ExchangeState::Delivered).await;
    assert!(
        done.attempts > refused.attempts,
        "{done:?} after {refused:?}"
    );
    p.fr.stop().await;
    p.be.stop().await;
}
