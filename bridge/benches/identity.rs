//! Wallet presentation verification throughput against the cost of its signatures.
//!
//! - `raw_p256_x2`: two P-256 ECDSA verifications with OpenSSL (the lower bound of any verifier).
//! - `sd_jwt_vc_kb_es256`: RFC 9901 `simple` vector (ES256 issuer JWT + ES256 KB-JWT, 4 disclosures)
//!   through the full pipeline with a configured issuer key.
//! - `mdoc_devicesignature_pinned_ds`: the EUDI OpenID4VP mDL (26 elements incl. an 18 KiB portrait,
//!   IssuerAuth ES256 + DeviceSignature ES256) with its document signer pinned as anchor.
//! - `mdoc_devicesignature_full_chain`: the same, the DS chained to "PID Issuer CA - UT 02" (the
//!   validated path is cached by `PemTrustAnchors`, so steady state matches the pinned case).
//! - `ratios`: the same pipelines interleaved with the baseline, printing the median throughput
//!   ratio (target >= 0.7); interleaving keeps the figure meaningful on a shared, noisy machine.
//!
//! Run: `cargo bench -p eidas-bridge --bench identity`.
// Test code: a failing unwrap or panic is a failing test (clippy.toml allows it inside #[test] only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

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
use openssl::pkey::Public;
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

struct Fixtures {
    raw_key: EcKey<Public>,
    raw: [([u8; 32], EcdsaSig); 2],
    sd_pres: String,
    sd_policy: SdJwtPolicy,
    sd_keys: IssuerKeys,
    sd_now: i64,
    mdoc: Vec<u8>,
    mdoc_policy: MdocPolicy,
    mdoc_now: i64,
    pinned: PemTrustAnchors,
    full: PemTrustAnchors,
}

impl Fixtures {
    fn raw(&self) {
        for (d, s) in &self.raw {
            assert!(s.verify(d, &self.raw_key).unwrap());
        }
    }

    fn sd_jwt(&self) {
        let out = verify_sd_jwt(
            &self.sd_pres,
            &self.sd_policy,
            &self.sd_keys,
            None,
            self.sd_now,
        );
        assert!(out.unwrap().key_bound);
    }

    fn mdoc(&self, trust: &PemTrustAnchors) {
        let docs = verify_device_response(&self.mdoc, &self.mdoc_policy, trust, self.mdoc_now);
        assert!(docs.unwrap()[0].device_authenticated);
    }

    fn mdoc_pinned(&self) {
        self.mdoc(&self.pinned)
    }
}

fn fixtures() -> Fixtures {
    // Baseline: two raw P-256 verifications.
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let key = EcKey::generate(&group).unwrap();
    let raw_key = EcKey::from_public_key(&group, key.public_key()).unwrap();
    let d1 = openssl::sha::sha256(b"issuer-signed jwt");
    let d2 = openssl::sha::sha256(b"kb-jwt");
    let raw = [
        (d1, EcdsaSig::sign(&d1, &key).unwrap()),
        (d2, EcdsaSig::sign(&d2, &key).unwrap()),
    ];

    // SD-JWT VC with key binding.
    let v = vector("sd-jwt/rfc9901-simple.json");
    let p = &v["verifier_params"];
    let sd_keys = IssuerKeys::Keys(vec![jwk_to_public_key(&p["issuer_public_jwks"][0]).unwrap()]);
    let mut sd_policy = SdJwtPolicy::sd_jwt();
    sd_policy.key_binding = Some(KeyBindingPolicy {
        nonce: p["expected_nonce"].as_str().unwrap().into(),
        aud: p["expected_aud"].as_str().unwrap().into(),
        max_age_s: 300,
    });
    let sd_pres = v["input"]["sd_jwt_presentation"]
        .as_str()
        .unwrap()
        .to_owned();
    let sd_now = p["now"].as_i64().unwrap();

    // mdoc with DeviceSignature over an OpenID4VP handover.
    let v = vector("mdoc/mdoc-eudi-openid4vp-mdl-devicesignature.json");
    let p = &v["verifier_params"];
    let mdoc = hex::decode(v["input"]["device_response_cbor_hex"].as_str().unwrap()).unwrap();
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
    let anchors: Vec<&str> = p["trust_anchors_pem"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    Fixtures {
        raw_key,
        raw,
        sd_pres,
        sd_policy,
        sd_keys,
        sd_now,
        pinned: PemTrustAnchors::from_pem(&[leaf_pem(&mdoc)]).unwrap(),
        full: PemTrustAnchors::from_pem(&anchors).unwrap(),
        mdoc,
        mdoc_policy,
        mdoc_now: p["now"].as_i64().unwrap(),
    }
}

/// The document signer certificate (x5chain leaf of the first IssuerAuth), as PEM.
fn leaf_pem(bytes: &[u8]) -> Vec<u8> {
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
    let x5chain = unprotected
        .as_map()
        .unwrap()
        .iter()
        .find(|(k, _)| k.as_integer() == Some(33.into()));
    let der = match x5chain.unwrap().1.clone() {
        C::Bytes(b) => b,
        C::Array(a) => a[0].as_bytes().unwrap().clone(),
        _ => unreachable!("x5chain is a bstr or an array"),
    };
    openssl::x509::X509::from_der(&der)
        .unwrap()
        .to_pem()
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let f = fixtures();
    c.bench_function("raw_p256_x2", |b| b.iter(|| f.raw()));
    c.bench_function("sd_jwt_vc_kb_es256", |b| b.iter(|| f.sd_jwt()));
    c.bench_function("mdoc_devicesignature_pinned_ds", |b| {
        b.iter(|| f.mdoc(&f.pinned))
    });
    c.bench_function("mdoc_devicesignature_full_chain", |b| {
        b.iter(|| f.mdoc(&f.full))
    });
}

/// Interleaved throughput ratios: each round times 200 baseline runs then 200 runs of each
/// pipeline, so that load from other processes hits both alike; prints the median ratio
/// (pipeline verifications per second / baseline verifications per second).
fn ratios(_: &mut Criterion) {
    let f = fixtures();
    let time = |run: &dyn Fn()| {
        let t = std::time::Instant::now();
        for _ in 0..200 {
            run();
        }
        t.elapsed().as_secs_f64()
    };
    let (mut sd, mut md) = (Vec::new(), Vec::new());
    for _ in 0..40 {
        let base = time(&|| f.raw());
        sd.push(base / time(&|| f.sd_jwt()));
        md.push(base / time(&|| f.mdoc_pinned()));
    }
    for (name, mut r) in [
        ("sd_jwt_vc_kb_es256", sd),
        ("mdoc_devicesignature_pinned_ds", md),
    ] {
        r.sort_by(f64::total_cmp);
        println!(
            "ratio {name} / raw_p256_x2: median {:.2} (min {:.2}, max {:.2})",
            r[r.len() / 2],
            r[0],
            r[r.len() - 1]
        );
    }
}

criterion_group!(benches, bench, ratios);
criterion_main!(benches);
