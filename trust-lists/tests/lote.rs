//! TS 119 602 lists of trusted entities signed as compact JAdES: a PID providers list signed
//! with ES256 (x5c) or PS256 (x5t#S256) verifies and anchors a PID issuer certificate in the
//! trust store; tampering, `none`/HMAC, algorithm confusion, an unannounced signer and an
//! unknown critical parameter are each refused with their own error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers: a failure is a failing test

use base64::Engine;
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::{Padding, Rsa};
use openssl::sign::{RsaPssSaltlen, Signer};
use openssl::x509::extension::BasicConstraints;
use openssl::x509::{X509Builder, X509NameBuilder, X509};
use serde_json::{json, Value};
use time::OffsetDateTime;
use trust_lists::{verify_lote, LoteErrorKind, TrustStore, Usage, LOTE_TYPE_EU_PID_PROVIDERS};

const PID_ISSUANCE: &str = "http://uri.etsi.org/19602/SvcType/PID/Issuance";

fn ec_key() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

fn cert(cn: &str, key: &PKey<Private>, issuer: Option<(&X509, &PKey<Private>)>, ca: bool) -> X509 {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", cn).unwrap();
    name.append_entry_by_text("C", "EU").unwrap();
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    let serial = BigNum::from_u32(cn.len() as u32 + 1).unwrap();
    b.set_serial_number(&serial.to_asn1_integer().unwrap())
        .unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(issuer.map_or(&name, |(c, _)| c.subject_name()))
        .unwrap();
    b.set_pubkey(key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(365).unwrap())
        .unwrap();
    if ca {
        b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
            .unwrap();
    }
    b.sign(issuer.map_or(key, |(_, k)| k), MessageDigest::sha256())
        .unwrap();
    b.build()
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn payload(pid_ca: &X509, sequence: u64) -> Value {
    json!({"LoTE": {
        "ListAndSchemeInformation": {
            "LoTEVersionIdentifier": 1,
            "LoTESequenceNumber": sequence,
            "LoTEType": LOTE_TYPE_EU_PID_PROVIDERS,
            "SchemeOperatorName": [{"lang": "en", "value": "Test Commission"}],
            "SchemeTerritory": "EU",
            "ListIssueDateTime": "2026-01-01T00:00:00Z",
            "NextUpdate": "2027-01-01T00:00:00Z"
        },
        "TrustedEntitiesList": [{
            "TrustedEntityInformation": {"TEName": [{"lang": "en", "value": "Test PID Provider"}]},
            "TrustedEntityServices": [{"ServiceInformation": {
                "ServiceTypeIdentifier": PID_ISSUANCE,
                "ServiceName": [{"lang": "en", "value": "PID issuance"}],
                "ServiceDigitalIdentity": {"X509Certificates": [{"val": b64(&pid_ca.to_der().unwrap())}]}
            }}]
        }]
    }})
}

/// Signs `header.payload` with `key` as the header's `alg` says.
fn sign(header: &Value, payload: &Value, key: &PKey<Private>) -> String {
    let input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(payload.to_string().as_bytes())
    );
    let alg = header["alg"].as_str().unwrap();
    let sig = if alg == "ES256" {
        let mut s = Signer::new(MessageDigest::sha256(), key).unwrap();
        s.update(input.as_bytes()).unwrap();
        let der = s.sign_to_vec().unwrap();
        let e = EcdsaSig::from_der(&der).unwrap();
        let mut raw = e.r().to_vec_padded(32).unwrap();
        raw.extend(e.s().to_vec_padded(32).unwrap());
        raw
    } else {
        let mut s = Signer::new(MessageDigest::sha256(), key).unwrap();
        s.set_rsa_padding(Padding::PKCS1_PSS).unwrap();
        s.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH).unwrap();
        s.set_rsa_mgf1_md(MessageDigest::sha256()).unwrap();
        s.update(input.as_bytes()).unwrap();
        s.sign_to_vec().unwrap()
    };
    format!("{input}.{}", b64url(&sig))
}

struct Fixture {
    signer_key: PKey<Private>,
    signer: X509,
    pid_ca: X509,
    pid_ca_key: PKey<Private>,
}

fn fixture() -> Fixture {
    let signer_key = ec_key();
    let signer = cert("LoTE signer", &signer_key, None, false);
    let pid_ca_key = ec_key();
    let pid_ca = cert("Test PID CA", &pid_ca_key, None, true);
    Fixture {
        signer_key,
        signer,
        pid_ca,
        pid_ca_key,
    }
}

fn x5c_header(alg: &str, signer: &X509) -> Value {
    json!({"alg": alg, "typ": "JWT", "x5c": [b64(&signer.to_der().unwrap())]})
}

#[test]
fn es256_list_verifies_and_anchors_a_pid_issuer() {
    let f = fixture();
    let jws = sign(
        &x5c_header("ES256", &f.signer),
        &payload(&f.pid_ca, 3),
        &f.signer_key,
    );
    let lote = verify_lote(jws.as_bytes(), std::slice::from_ref(&f.signer)).unwrap();
    assert_eq!(lote.sequence, 3);
    assert_eq!(lote.territory, "EU");
    assert_eq!(lote.lote_type.as_deref(), Some(LOTE_TYPE_EU_PID_PROVIDERS));
    assert_eq!(lote.entities.len(), 1);
    assert_eq!(lote.entities[0].services[0].service_type, PID_ISSUANCE);

    let list = lote.to_trusted_list();
    let store = TrustStore::from_lists([&list]);
    assert_eq!(store.service_count(), 1);
    let issuer_key = ec_key();
    let issuer = cert(
        "PID issuer",
        &issuer_key,
        Some((&f.pid_ca, &f.pid_ca_key)),
        false,
    );
    let chain = [issuer.to_der().unwrap()];
    let now = OffsetDateTime::now_utc();
    let r = store.validate(&chain, now, Usage::Pid);
    assert!(r.trusted, "{r:?}");
    assert_eq!(r.tsp.as_deref(), Some("Test PID Provider"));
    assert_eq!(r.territory.as_deref(), Some("EU"));
    assert!(!store.validate(&chain, now, Usage::QSeal).trusted);
}

#[test]
fn ps256_with_thumbprint_verifies() {
    let f = fixture();
    let rsa = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let signer = cert("RSA LoTE signer", &rsa, None, false);
    let thumb = b64url(&openssl::sha::sha256(&signer.to_der().unwrap()));
    let header = json!({"alg": "PS256", "x5t#S256": thumb, "sigT": "2026-01-01T00:00:00Z", "crit": ["sigT"]});
    let jws = sign(&header, &payload(&f.pid_ca, 4), &rsa);
    let lote = verify_lote(jws.as_bytes(), &[f.signer.clone(), signer]).unwrap();
    assert_eq!(lote.sequence, 4);
}

#[test]
fn refusals_name_their_reason() {
    let f = fixture();
    let signers = std::slice::from_ref(&f.signer);
    let good = sign(
        &x5c_header("ES256", &f.signer),
        &payload(&f.pid_ca, 3),
        &f.signer_key,
    );

    // Tampered payload, signature kept.
    let parts: Vec<&str> = good.split('.').collect();
    let other = b64url(payload(&f.pid_ca, 99).to_string().as_bytes());
    let tampered = format!("{}.{other}.{}", parts[0], parts[2]);
    assert_eq!(
        verify_lote(tampered.as_bytes(), signers).unwrap_err(),
        LoteErrorKind::SignatureInvalid
    );

    // alg none and HMAC are refused before any cryptography.
    for alg in ["none", "HS256"] {
        let h = b64url(json!({"alg": alg}).to_string().as_bytes());
        let jws = format!("{h}.{}.{}", parts[1], parts[2]);
        assert_eq!(
            verify_lote(jws.as_bytes(), signers).unwrap_err(),
            LoteErrorKind::AlgorithmNotAccepted {
                alg: Some(alg.into())
            }
        );
    }

    // RS256 claimed for an EC signer: algorithm confusion.
    let h = b64url(x5c_header("RS256", &f.signer).to_string().as_bytes());
    let jws = format!("{h}.{}.{}", parts[1], parts[2]);
    assert_eq!(
        verify_lote(jws.as_bytes(), signers).unwrap_err(),
        LoteErrorKind::AlgorithmKeyMismatch {
            alg: "RS256".into()
        }
    );

    // A signer that is not announced.
    let rogue_key = ec_key();
    let rogue = cert("Rogue", &rogue_key, None, false);
    let jws = sign(
        &x5c_header("ES256", &rogue),
        &payload(&f.pid_ca, 3),
        &rogue_key,
    );
    assert_eq!(
        verify_lote(jws.as_bytes(), signers).unwrap_err(),
        LoteErrorKind::SignerNotAnnounced
    );

    // A detached-payload critical parameter is not understood.
    let mut header = x5c_header("ES256", &f.signer);
    header["crit"] = json!(["sigD"]);
    header["sigD"] = json!({"mId": "http://uri.etsi.org/19182/ObjectIdByURI"});
    let jws = sign(&header, &payload(&f.pid_ca, 3), &f.signer_key);
    assert_eq!(
        verify_lote(jws.as_bytes(), signers).unwrap_err(),
        LoteErrorKind::UnsupportedCritical {
            name: "sigD".into()
        }
    );

    // Not a compact JWS; a verified payload without the LoTE structure.
    assert_eq!(
        verify_lote(b"a.b", signers).unwrap_err(),
        LoteErrorKind::NotCompactJws
    );
    let jws = sign(
        &x5c_header("ES256", &f.signer),
        &json!({"x": 1}),
        &f.signer_key,
    );
    assert_eq!(
        verify_lote(jws.as_bytes(), signers).unwrap_err(),
        LoteErrorKind::MissingField { field: "LoTE" }
    );
}
