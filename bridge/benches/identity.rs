//! Wallet presentation verification throughput against the cost of its signatures.
//!
//! - `raw_p256_x2`: two P-256 ECDSA verifications with OpenSSL (the lower bound of any verifier).
//! - `sd_jwt_vc_kb_es256`: RFC 9901 `simple` vector (ES256 issuer JWT + ES256 KB-JWT, 4 disclosures)
//!   through the full pipeline with a configured issuer key.
//! - `mdoc_devicesignature_pinned_ds`: the EUDI OpenID4VP mDL (26 elements, IssuerAuth ES256 +
//!   DeviceSignature ES256) with its document signer pinned as anchor (no chain signature).
//! - `mdoc_devicesignature_full_chain`: the same, validating DS -> "PID Issuer CA - UT 02" too.
//!
//! Run: `cargo bench -p eidas-bridge --bench identity`. Target: each pipeline >= 0.7 x raw_p256_x2.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use eidas_bridge::identity::{
    jwk_thumbprint_sha256, jwk_to_public_key, openid4vp_session_transcript, verify_device_response,
    verify_sd_jwt, DeviceAuthCheck, Handover, IssuerKeys, KeyBindingPolicy, MdocPolicy,
    PemTrustAnchors, SdJwtPolicy,
};
use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::nid::Nid;
use serde_json::Value;

fn corpus() -> PathBuf {
    let start = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    start
        .ancestors()
        .map(|d| d.join("shared/corpus/wallet"))
        .find(|c| c.is_dir())
        .unwrap_or_else(|| panic!("shared/corpus/wallet not found above {}", start.display()))
}

fn vector(rel: &str) -> Value {
    serde_json::from_slice(&std::fs::read(corpus().join(rel)).unwrap()).unwrap()
}

fn bench(c: &mut Criterion) {
    // Baseline: two raw P-256 verifications.
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let key = EcKey::generate(&group).unwrap();
    let public = EcKey::from_public_key(&group, key.public_key()).unwrap();
    let (d1, d2) = (
        openssl::sha::sha256(b"issuer-signed jwt"),
        openssl::sha::sha256(b"kb-jwt"),
    );
    let (s1, s2) = (
        EcdsaSig::sign(&d1, &key).unwrap(),
        EcdsaSig::sign(&d2, &key).unwrap(),
    );
    c.bench_function("raw_p256_x2", |b| {
        b.iter(|| {
            assert!(s1.verify(&d1, &public).unwrap());
            assert!(s2.verify(&d2, &public).unwrap());
        })
    });

    {
        use openssl::hash::MessageDigest;
        use openssl::pkey::PKey;
        use openssl::sign::Verifier;
        let pk = PKey::from_ec_key(key.clone()).unwrap();
        let spki = pk.public_key_to_der().unwrap();
        let mut ctx = openssl::bn::BigNumContext::new().unwrap();
        let oct = key
            .public_key()
            .to_bytes(
                &group,
                openssl::ec::PointConversionForm::UNCOMPRESSED,
                &mut ctx,
            )
            .unwrap();
        let msg = b"issuer-signed jwt";
        let mut signer = openssl::sign::Signer::new(MessageDigest::sha256(), &pk).unwrap();
        signer.update(msg).unwrap();
        let der = signer.sign_to_vec().unwrap();
        c.bench_function("tmp_a_eckey_evp", |b| {
            b.iter(|| {
                let mut ctx = openssl::bn::BigNumContext::new().unwrap();
                let pt = openssl::ec::EcPoint::from_bytes(&group, &oct, &mut ctx).unwrap();
                let k = PKey::from_ec_key(EcKey::from_public_key(&group, &pt).unwrap()).unwrap();
                let mut v = Verifier::new(MessageDigest::sha256(), &k).unwrap();
                v.update(msg).unwrap();
                assert!(v.verify(&der).unwrap());
            })
        });
        c.bench_function("tmp_b_spki_evp", |b| {
            b.iter(|| {
                let k = PKey::public_key_from_der(&spki).unwrap();
                let mut v = Verifier::new(MessageDigest::sha256(), &k).unwrap();
                v.update(msg).unwrap();
                assert!(v.verify(&der).unwrap());
            })
        });
        c.bench_function("tmp_c_eckey_lowlevel", |b| {
            b.iter(|| {
                let mut ctx = openssl::bn::BigNumContext::new().unwrap();
                let pt = openssl::ec::EcPoint::from_bytes(&group, &oct, &mut ctx).unwrap();
                let k = EcKey::from_public_key(&group, &pt).unwrap();
                let sig = EcdsaSig::from_der(&der).unwrap();
                assert!(sig.verify(&openssl::sha::sha256(msg), &k).unwrap());
            })
        });
        c.bench_function("tmp_d_group_new", |b| {
            b.iter(|| EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap())
        });
        let reused = PKey::public_key_from_der(&spki).unwrap();
        c.bench_function("tmp_e_reused_evp", |b| {
            b.iter(|| {
                let mut v = Verifier::new(MessageDigest::sha256(), &reused).unwrap();
                v.update(msg).unwrap();
                assert!(v.verify(&der).unwrap());
            })
        });
    }

    // SD-JWT VC with key binding.
    let v = vector("sd-jwt/rfc9901-simple.json");
    let p = &v["verifier_params"];
    let keys = IssuerKeys::Keys(vec![jwk_to_public_key(&p["issuer_public_jwks"][0]).unwrap()]);
    let mut policy = SdJwtPolicy::sd_jwt();
    policy.key_binding = Some(KeyBindingPolicy {
        nonce: p["expected_nonce"].as_str().unwrap().into(),
        aud: p["expected_aud"].as_str().unwrap().into(),
        max_age_s: 300,
    });
    let pres = v["input"]["sd_jwt_presentation"]
        .as_str()
        .unwrap()
        .to_owned();
    let now = p["now"].as_i64().unwrap();
    let cnf = p["holder_public_jwk"].clone();
    c.bench_function("tmp_jwk_import", |b| {
        b.iter(|| jwk_to_public_key(&cnf).unwrap())
    });
    c.bench_function("tmp_parse", |b| {
        b.iter(|| eidas_bridge::identity::SdJwtPresentation::parse(&pres).unwrap())
    });
    let nokb = SdJwtPolicy::sd_jwt();
    c.bench_function("tmp_sd_jwt_no_kb", |b| {
        b.iter(|| verify_sd_jwt(&pres, &nokb, &keys, None, now).unwrap())
    });
    c.bench_function("sd_jwt_vc_kb_es256", |b| {
        b.iter(|| {
            assert!(
                verify_sd_jwt(&pres, &policy, &keys, None, now)
                    .unwrap()
                    .key_bound
            )
        })
    });

    // mdoc with DeviceSignature over an OpenID4VP handover.
    let v = vector("mdoc/mdoc-eudi-openid4vp-mdl-devicesignature.json");
    let p = &v["verifier_params"];
    let bytes = hex::decode(v["input"]["device_response_cbor_hex"].as_str().unwrap()).unwrap();
    let info = &p["openid4vp_handover_info"];
    let handover = Handover::OpenId4Vp {
        client_id: info["client_id"].as_str().unwrap().into(),
        nonce: info["nonce"].as_str().unwrap().into(),
        jwk_thumbprint: Some(jwk_thumbprint_sha256(&info["jwk_thumbprint_of"]).unwrap()),
        response_uri: info["response_uri"].as_str().unwrap().into(),
    };
    let mdoc_policy = MdocPolicy {
        expected_doc_type: Some("org.iso.18013.5.1.mDL".into()),
        device_auth: DeviceAuthCheck::Verify {
            session_transcript: openid4vp_session_transcript(&handover).session_transcript,
            reader_ephemeral_key: None,
        },
        ..MdocPolicy::default()
    };
    let now = p["now"].as_i64().unwrap();
    let anchors: Vec<&str> = p["trust_anchors_pem"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let full = PemTrustAnchors::from_pem(&anchors).unwrap();
    let ds_pem = full_leaf_pem(&bytes);
    let pinned = PemTrustAnchors::from_pem(&[ds_pem]).unwrap();
    c.bench_function("mdoc_devicesignature_pinned_ds", |b| {
        b.iter(|| {
            assert!(
                verify_device_response(&bytes, &mdoc_policy, &pinned, now).unwrap()[0]
                    .device_authenticated
            )
        })
    });
    c.bench_function("mdoc_devicesignature_full_chain", |b| {
        b.iter(|| {
            assert!(
                verify_device_response(&bytes, &mdoc_policy, &full, now).unwrap()[0]
                    .device_authenticated
            )
        })
    });
}

/// The document signer certificate (x5chain leaf of the first IssuerAuth), as PEM.
fn full_leaf_pem(bytes: &[u8]) -> Vec<u8> {
    use ciborium::Value as C;
    let v: C = ciborium::de::from_reader(bytes).unwrap();
    let field = |m: &C, k: &str| {
        m.as_map()
            .unwrap()
            .iter()
            .find(|(key, _)| key.as_text() == Some(k))
            .unwrap()
            .1
            .clone()
    };
    let doc = field(&v, "documents").as_array().unwrap()[0].clone();
    let auth = field(&field(&doc, "issuerSigned"), "issuerAuth");
    let unprotected = auth.as_array().unwrap()[1].clone();
    let chain = unprotected
        .as_map()
        .unwrap()
        .iter()
        .find(|(k, _)| k.as_integer() == Some(33.into()))
        .unwrap()
        .1
        .clone();
    let der = match chain {
        C::Bytes(b) => b,
        C::Array(a) => a[0].as_bytes().unwrap().clone(),
        _ => unreachable!("x5chain is bstr or array"),
    };
    openssl::x509::X509::from_der(&der)
        .unwrap()
        .to_pem()
        .unwrap()
}

criterion_group!(benches, bench);
criterion_main!(benches);
