//! Integration tests of the identity pipeline with presentations issued here (generated keys):
//! algorithm refusals, the non-ES256 algorithms, JSON serialisations, key-binding policy and the
//! health-professional output. The corpus vectors run in `conformance/tests/wallet.rs`.
// Test code: a failing unwrap or panic is a failing test (clippy.toml allows it inside #[test] only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use eidas_bridge::identity::{
    jwk_to_public_key, map_health_professional, verify_sd_jwt, IdentityError, IssuerKeys,
    JoseErrorKind, JwsAlg, KeyBindingErrorKind, KeyBindingPolicy, SdAlg, SdJwtErrorKind,
    SdJwtPolicy,
};
use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private, Public};
use openssl::rsa::{Padding, Rsa};
use openssl::sign::{RsaPssSaltlen, Signer};
use serde_json::{json, Value};

const NOW: i64 = 1_800_000_000;

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

enum Key {
    Ec(EcKey<Private>),
    Ed(PKey<Private>),
    Rsa(PKey<Private>),
}

impl Key {
    fn p256() -> Self {
        Key::Ec(EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap())
    }

    fn public(&self) -> PKey<Public> {
        let der = match self {
            Key::Ec(k) => PKey::from_ec_key(k.clone())
                .unwrap()
                .public_key_to_der()
                .unwrap(),
            Key::Ed(k) | Key::Rsa(k) => k.public_key_to_der().unwrap(),
        };
        PKey::public_key_from_der(&der).unwrap()
    }

    fn jwk(&self) -> Value {
        let Key::Ec(k) = self else {
            unreachable!("holder keys are P-256")
        };
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

    fn sign(&self, alg: &str, msg: &[u8]) -> Vec<u8> {
        match self {
            Key::Ec(k) => {
                let sig = EcdsaSig::sign(&openssl::sha::sha256(msg), k).unwrap();
                let mut raw = sig.r().to_vec_padded(32).unwrap();
                raw.extend(sig.s().to_vec_padded(32).unwrap());
                raw
            }
            Key::Ed(k) => Signer::new_without_digest(k)
                .unwrap()
                .sign_oneshot_to_vec(msg)
                .unwrap(),
            Key::Rsa(k) => {
                let mut s = Signer::new(MessageDigest::sha256(), k).unwrap();
                if alg == "PS256" {
                    s.set_rsa_padding(Padding::PKCS1_PSS).unwrap();
                    s.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH).unwrap();
                }
                s.update(msg).unwrap();
                s.sign_to_vec().unwrap()
            }
        }
    }
}

fn jws(key: &Key, header: Value, payload: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(payload.to_string().as_bytes())
    );
    let alg = header["alg"].as_str().unwrap_or_default().to_owned();
    format!("{input}.{}", b64(&key.sign(&alg, input.as_bytes())))
}

fn disclosure(v: Value) -> (String, String) {
    let d = b64(v.to_string().as_bytes());
    let digest = SdAlg::Sha256.digest_b64(d.as_bytes());
    (d, digest)
}

/// An issuer JWT with one selectively disclosable `given_name` and the holder key in `cnf`.
fn issue(issuer: &Key, alg: &str, holder: &Key) -> (String, String) {
    let (d, digest) = disclosure(json!(["salt", "given_name", "Erika"]));
    let payload = json!({"iss": "https://issuer.example", "vct": "urn:example:test:1", "iat": NOW - 10, "exp": NOW + 3600,
        "_sd": [digest], "_sd_alg": "sha-256", "cnf": {"jwk": holder.jwk()}});
    (
        jws(issuer, json!({"alg": alg, "typ": "dc+sd-jwt"}), &payload),
        d,
    )
}

fn kb_jwt(holder: &Key, sd_hash_input: &str, nonce: &str, aud: &str, iat: i64) -> String {
    let sd_hash = SdAlg::Sha256.digest_b64(sd_hash_input.as_bytes());
    jws(
        holder,
        json!({"alg": "ES256", "typ": "kb+jwt"}),
        &json!({"iat": iat, "nonce": nonce, "aud": aud, "sd_hash": sd_hash}),
    )
}

fn kb_policy() -> SdJwtPolicy {
    let mut p = SdJwtPolicy::sd_jwt_vc(false);
    p.key_binding = Some(KeyBindingPolicy {
        nonce: "n-1".into(),
        aud: "x509_san_dns:gw.example".into(),
        max_age_s: 300,
    });
    p
}

fn keys(k: &Key) -> IssuerKeys {
    IssuerKeys::Keys(vec![k.public()])
}

#[test]
fn es256_with_key_binding_verifies_and_outputs_claims() {
    let (issuer, holder) = (Key::p256(), Key::p256());
    let (jwt, d) = issue(&issuer, "ES256", &holder);
    let head = format!("{jwt}~{d}~");
    let pres = format!(
        "{head}{}",
        kb_jwt(&holder, &head, "n-1", "x509_san_dns:gw.example", NOW)
    );
    let out = verify_sd_jwt(&pres, &kb_policy(), &keys(&issuer), None, NOW).unwrap();
    assert_eq!(out.claims["given_name"], "Erika");
    assert!(out.key_bound);
    assert!(!out.claims.contains_key("_sd") && !out.claims.contains_key("_sd_alg"));

    // Policy requires key binding: a presentation without KB-JWT is refused.
    assert_eq!(
        verify_sd_jwt(&head, &kb_policy(), &keys(&issuer), None, NOW),
        Err(IdentityError::KeyBinding(KeyBindingErrorKind::Missing))
    );
    // KB-JWT from the future beyond the tolerance.
    let late = format!(
        "{head}{}",
        kb_jwt(&holder, &head, "n-1", "x509_san_dns:gw.example", NOW + 120)
    );
    assert_eq!(
        verify_sd_jwt(&late, &kb_policy(), &keys(&issuer), None, NOW),
        Err(IdentityError::KeyBinding(
            KeyBindingErrorKind::IatOutsideWindow {
                iat: NOW + 120,
                now: NOW
            }
        ))
    );
    // KB-JWT signed by another key than cnf.jwk.
    let other = Key::p256();
    let forged = format!(
        "{head}{}",
        kb_jwt(&other, &head, "n-1", "x509_san_dns:gw.example", NOW)
    );
    assert_eq!(
        verify_sd_jwt(&forged, &kb_policy(), &keys(&issuer), None, NOW),
        Err(IdentityError::KeyBinding(
            KeyBindingErrorKind::SignatureInvalid
        ))
    );
    // KB-JWT over a different disclosure set (one disclosure dropped after signing).
    let dropped = format!(
        "{jwt}~{}",
        kb_jwt(&holder, &head, "n-1", "x509_san_dns:gw.example", NOW)
    );
    assert_eq!(
        verify_sd_jwt(&dropped, &kb_policy(), &keys(&issuer), None, NOW),
        Err(IdentityError::KeyBinding(
            KeyBindingErrorKind::SdHashMismatch
        ))
    );
}

#[test]
fn none_hmac_and_unlisted_algorithms_are_refused() {
    let payload = b64(br#"{"iss":"x"}"#);
    let none = format!(
        "{}.{payload}.~",
        b64(br#"{"alg":"none","typ":"dc+sd-jwt"}"#)
    );
    let hs = format!(
        "{}.{payload}.c2ln~",
        b64(br#"{"alg":"HS256","typ":"dc+sd-jwt"}"#)
    );
    let k = keys(&Key::p256());
    let p = SdJwtPolicy::sd_jwt_vc(false);
    assert_eq!(
        verify_sd_jwt(&none, &p, &k, None, NOW),
        Err(IdentityError::SdJwt(SdJwtErrorKind::IssuerJws(
            JoseErrorKind::AlgNone
        )))
    );
    assert_eq!(
        verify_sd_jwt(&hs, &p, &k, None, NOW),
        Err(IdentityError::SdJwt(SdJwtErrorKind::IssuerJws(
            JoseErrorKind::AlgMac {
                alg: "HS256".into()
            }
        )))
    );
    // ES256 signed, but the policy allows only EdDSA.
    let (issuer, holder) = (Key::p256(), Key::p256());
    let (jwt, d) = issue(&issuer, "ES256", &holder);
    let mut only_ed = SdJwtPolicy::sd_jwt_vc(false);
    only_ed.algorithms = vec![JwsAlg::EdDsa];
    assert_eq!(
        verify_sd_jwt(&format!("{jwt}~{d}~"), &only_ed, &keys(&issuer), None, NOW),
        Err(IdentityError::SdJwt(SdJwtErrorKind::IssuerJws(
            JoseErrorKind::AlgNotAllowed {
                alg: "ES256".into()
            }
        )))
    );
    // Algorithm confusion: header says EdDSA, key is P-256.
    let (jwt, d) = issue(&issuer, "EdDSA", &holder);
    assert_eq!(
        verify_sd_jwt(
            &format!("{jwt}~{d}~"),
            &SdJwtPolicy::sd_jwt_vc(false),
            &keys(&issuer),
            None,
            NOW
        ),
        Err(IdentityError::SdJwt(SdJwtErrorKind::IssuerJws(
            JoseErrorKind::KeyAlgMismatch { alg: JwsAlg::EdDsa }
        )))
    );
}

#[test]
fn eddsa_ps256_and_rs256_issuers() {
    let holder = Key::p256();
    let ed = Key::Ed(PKey::generate_ed25519().unwrap());
    let rsa = Key::Rsa(PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap());
    for (k, alg) in [(&ed, "EdDSA"), (&rsa, "PS256"), (&rsa, "RS256")] {
        let (jwt, d) = issue(k, alg, &holder);
        let out = verify_sd_jwt(
            &format!("{jwt}~{d}~"),
            &SdJwtPolicy::sd_jwt_vc(false),
            &keys(k),
            None,
            NOW,
        );
        assert_eq!(
            out.map(|o| o.claims["given_name"].clone()),
            Ok(json!("Erika")),
            "{alg}"
        );
    }
    // A 1024-bit RSA key is refused.
    let weak = Key::Rsa(PKey::from_rsa(Rsa::generate(1024).unwrap()).unwrap());
    let (jwt, d) = issue(&weak, "RS256", &holder);
    assert_eq!(
        verify_sd_jwt(
            &format!("{jwt}~{d}~"),
            &SdJwtPolicy::sd_jwt_vc(false),
            &keys(&weak),
            None,
            NOW
        ),
        Err(IdentityError::SdJwt(SdJwtErrorKind::IssuerJws(
            JoseErrorKind::RsaKeyTooShort { bits: 1024 }
        )))
    );
}

#[test]
fn general_json_serialisation_with_key_binding() {
    let (issuer, holder) = (Key::p256(), Key::p256());
    let (jwt, d) = issue(&issuer, "ES256", &holder);
    let parts: Vec<&str> = jwt.split('.').collect();
    let head = format!("{jwt}~{d}~");
    let kb = kb_jwt(&holder, &head, "n-1", "x509_san_dns:gw.example", NOW);
    let general = json!({"payload": parts[1], "signatures": [
        {"protected": parts[0], "signature": parts[2], "header": {"disclosures": [d], "kb_jwt": kb}}]});
    let out = verify_sd_jwt(
        &general.to_string(),
        &kb_policy(),
        &keys(&issuer),
        None,
        NOW,
    )
    .unwrap();
    assert!(out.key_bound);
    // A second, foreign signature does not prevent verification with the first.
    let two = json!({"payload": parts[1], "signatures": [
        {"protected": parts[0], "signature": parts[2], "header": {"disclosures": [d], "kb_jwt": kb}},
        {"protected": parts[0], "signature": "AAAA"}]});
    assert!(verify_sd_jwt(&two.to_string(), &kb_policy(), &keys(&issuer), None, NOW).is_ok());
}

#[test]
fn typ_vct_and_time_policies() {
    let (issuer, holder) = (Key::p256(), Key::p256());
    let (d, digest) = disclosure(json!(["s", "given_name", "Erika"]));
    let legacy = jws(
        &issuer,
        json!({"alg": "ES256", "typ": "vc+sd-jwt"}),
        &json!({"vct": "urn:eudi:pid:1", "_sd": [digest], "nbf": NOW + 100, "cnf": {"jwk": holder.jwk()}}),
    );
    let pres = format!("{legacy}~{d}~");
    assert_eq!(
        verify_sd_jwt(
            &pres,
            &SdJwtPolicy::sd_jwt_vc(false),
            &keys(&issuer),
            None,
            NOW
        ),
        Err(IdentityError::SdJwt(SdJwtErrorKind::UnexpectedTyp {
            got: Some("vc+sd-jwt".into())
        }))
    );
    assert_eq!(
        verify_sd_jwt(
            &pres,
            &SdJwtPolicy::sd_jwt_vc(true),
            &keys(&issuer),
            None,
            NOW
        ),
        Err(IdentityError::SdJwt(SdJwtErrorKind::NotYetValid {
            nbf: NOW + 100,
            now: NOW
        }))
    );
    let mut p = SdJwtPolicy::sd_jwt_vc(true);
    p.accepted_vct = Some(vec!["urn:example:hcp:1".into()]);
    assert_eq!(
        verify_sd_jwt(&pres, &p, &keys(&issuer), None, NOW + 200),
        Err(IdentityError::SdJwt(SdJwtErrorKind::UnexpectedVct))
    );
    // An SD-JWT VC must carry vct.
    let no_vct = jws(
        &issuer,
        json!({"alg": "ES256", "typ": "dc+sd-jwt"}),
        &json!({"iss": "https://issuer.example"}),
    );
    assert_eq!(
        verify_sd_jwt(
            &format!("{no_vct}~"),
            &SdJwtPolicy::sd_jwt_vc(false),
            &keys(&issuer),
            None,
            NOW
        ),
        Err(IdentityError::SdJwt(SdJwtErrorKind::UnexpectedVct))
    );
    p.accepted_vct = Some(vec!["urn:eudi:pid:1".into()]);
    assert!(verify_sd_jwt(&pres, &p, &keys(&issuer), None, NOW + 200).is_ok());
}

#[test]
fn health_professional_from_the_corpus_shape() {
    let claims = json!({"registration": {"country": "FR", "identifier_scheme_name": "RPPS", "identifier": "10101234564",
        "identifier_scheme": "urn:oid:1.2.250.1.71.4.2.1", "status": "active"},
        "profession": {"code": "10", "system": "urn:oid:1.2.250.1.71.1.2.7", "eu_sectoral_profession": "doctor_of_medicine"}});
    let hp = map_health_professional(claims.as_object().unwrap()).unwrap();
    assert_eq!(hp.hcid.as_deref(), Some("hcid:FR:rpps:10101234564"));
    assert_eq!(hp.country, "FR");
    assert_eq!(
        hp.eu_sectoral_profession.as_deref(),
        Some("doctor_of_medicine")
    );
    assert_eq!(
        jwk_to_public_key(&json!({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"})).err(),
        Some(JoseErrorKind::JwkInvalid)
    );
}

fn corpus_vector(rel: &str) -> Value {
    let start = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = start
        .ancestors()
        .map(|d| d.join("shared/corpus/wallet"))
        .find(|c| c.is_dir())
        .unwrap_or_else(|| panic!("shared/corpus/wallet not found above {}", start.display()));
    serde_json::from_slice(&std::fs::read(dir.join(rel)).unwrap()).unwrap()
}

#[test]
fn cached_chain_is_revalidated_outside_its_validity_window() {
    use eidas_bridge::identity::{
        verify_device_response, MdocErrorKind, MdocPolicy, PemTrustAnchors, TrustErrorKind,
    };
    let v = corpus_vector("mdoc/mdoc-iso18013-5-annexd.json");
    let pem = v["verifier_params"]["trust_anchors_pem"][0]
        .as_str()
        .unwrap();
    let trust = PemTrustAnchors::from_pem(&[pem]).unwrap();
    let bytes = hex::decode(v["input"]["device_response_cbor_hex"].as_str().unwrap()).unwrap();
    let now = v["verifier_params"]["now"].as_i64().unwrap();
    let policy = MdocPolicy::default();
    for _ in 0..2 {
        let docs = verify_device_response(&bytes, &policy, &trust, now).unwrap();
        assert_eq!(docs[0].issuer.subject, "CN=utopia ds,C=US");
    }
    // 2030: the document signer certificate (valid until 2021-10-01) has expired.
    assert_eq!(
        verify_device_response(&bytes, &policy, &trust, 1_900_000_000),
        Err(IdentityError::Mdoc(MdocErrorKind::IssuerTrust(
            TrustErrorKind::CertificateExpired
        )))
    );
    // And the cache did not forget the valid instant.
    assert!(verify_device_response(&bytes, &policy, &trust, now).is_ok());
}

#[test]
fn mdoc_claims_as_json() {
    use eidas_bridge::identity::{verify_device_response, MdocPolicy, PemTrustAnchors};
    let v = corpus_vector("mdoc/mdoc-iso18013-5-annexd.json");
    let pem = v["verifier_params"]["trust_anchors_pem"][0]
        .as_str()
        .unwrap();
    let trust = PemTrustAnchors::from_pem(&[pem]).unwrap();
    let bytes = hex::decode(v["input"]["device_response_cbor_hex"].as_str().unwrap()).unwrap();
    let now = v["verifier_params"]["now"].as_i64().unwrap();
    let docs = verify_device_response(&bytes, &MdocPolicy::default(), &trust, now).unwrap();
    let claims = docs[0].claims_json();
    let mdl = &claims["org.iso.18013.5.1"];
    assert_eq!(mdl["family_name"], "Doe");
    assert_eq!(mdl["issue_date"], "2019-10-20");
    assert_eq!(mdl["driving_privileges"][1]["vehicle_category_code"], "B");
    assert!(mdl["portrait"].as_str().is_some_and(|p| p.len() > 1000));
}
