//! Runs the wallet corpus (`shared/corpus/wallet`) through the conformance runner: every vector
//! must meet its expectation, and every negative vector must fail for its own reason (the table
//! below maps vector id -> exact error kind). An unexpected pass fails too.
// Test code: a failing unwrap or panic is a failing test (clippy.toml allows it inside #[test] only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use conformance::wallet::{collect_vectors, run_case, Got};
use eidas_bridge::identity::{
    IdentityError as E, JoseErrorKind as J, KeyBindingErrorKind as K, MdocErrorKind as M,
    SdJwtErrorKind as S, StatusErrorKind as St, TrustErrorKind as T,
};

/// Walks up from the crate directory looking for `shared/corpus/wallet`; panics (fails) if absent.
fn corpus() -> PathBuf {
    let start = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for dir in start.ancestors() {
        let c = dir.join("shared/corpus/wallet");
        if c.is_dir() {
            return c;
        }
    }
    panic!("shared/corpus/wallet not found above {}", start.display());
}

/// Expected error per negative vector.
fn expected_kind(id: &str) -> Option<fn(&E) -> bool> {
    Some(match id {
        "mdoc-neg-annexd-doctype-mismatch" => |e| *e == E::Mdoc(M::UnexpectedDocType),
        "mdoc-neg-annexd-element-value-tampered" => |e| *e == E::Mdoc(M::DigestMismatch),
        "mdoc-neg-annexd-issuerauth-signature-tampered" => {
            |e| *e == E::Mdoc(M::IssuerSignature(J::SignatureInvalid))
        }
        "mdoc-neg-annexd-untrusted-issuer" => {
            |e| matches!(e, E::Mdoc(M::IssuerTrust(T::Untrusted { .. })))
        }
        "mdoc-neg-eudi-openid4vp-mdl-expired" => |e| *e == E::Mdoc(M::NotValidAtTime),
        "neg-array-disclosure-in-object" => |e| *e == E::SdJwt(S::ArrayDisclosureInObject),
        "neg-disclosure-claim-name-_sd" => {
            |e| *e == E::SdJwt(S::ReservedClaimName { name: "_sd".into() })
        }
        "neg-disclosure-duplicated" => |e| matches!(e, E::SdJwt(S::DuplicateDisclosure { .. })),
        "neg-disclosure-unreferenced-extra" => {
            |e| *e == E::SdJwt(S::UnreferencedDisclosure { count: 1 })
        }
        "neg-disclosure-value-modified" => {
            |e| *e == E::SdJwt(S::UnreferencedDisclosure { count: 1 })
        }
        "neg-expired" | "eudi-dev-pid-expired" | "vc-neg-credential-expired" => {
            |e| matches!(e, E::SdJwt(S::Expired { .. }))
        }
        "neg-issuer-payload-modified"
        | "neg-issuer-signature-tampered"
        | "neg-unknown-issuer-key"
        | "vc-neg-eddsa-signature-tampered" => {
            |e| *e == E::SdJwt(S::IssuerJws(J::SignatureInvalid))
        }
        "neg-kb-missing-iat" => |e| *e == E::KeyBinding(K::IatMissing),
        "neg-kb-missing-sd-hash" => |e| *e == E::KeyBinding(K::SdHashMissing),
        "neg-kb-signature-tampered" => |e| *e == E::KeyBinding(K::SignatureInvalid),
        "neg-kb-stale-iat" => |e| matches!(e, E::KeyBinding(K::IatOutsideWindow { .. })),
        "neg-kb-typ-jwt" => |e| {
            *e == E::KeyBinding(K::WrongTyp {
                got: Some("JWT".into()),
            })
        },
        "neg-kb-wrong-aud" => |e| *e == E::KeyBinding(K::AudienceMismatch),
        "neg-kb-wrong-nonce" => |e| *e == E::KeyBinding(K::NonceMismatch),
        "neg-payload-duplicate-digest" => |e| *e == E::SdJwt(S::DuplicateDigest),
        "eudi-dev-pid-sha3-not-accepted" => |e| {
            *e == E::SdJwt(S::SdAlgNotAccepted {
                alg: "sha3-256".into(),
            })
        },
        "vc-neg-hcp-sd-hash-wrong-alg" => |e| *e == E::KeyBinding(K::SdHashMismatch),
        "vc-neg-status-revoked" => |e| *e == E::Status(St::NotValid { status: 1 }),
        "vc-neg-status-token-expired" => |e| matches!(e, E::Status(St::Expired { .. })),
        "vc-neg-status-token-wrong-sub" => |e| *e == E::Status(St::SubjectMismatch),
        "vc-neg-typ-not-sd-jwt-vc" => |e| {
            *e == E::SdJwt(S::UnexpectedTyp {
                got: Some("JWT".into()),
            })
        },
        "vc-neg-x5c-leaf-expired" => |e| *e == E::SdJwt(S::IssuerTrust(T::CertificateExpired)),
        "vc-neg-x5c-untrusted-root" => {
            |e| matches!(e, E::SdJwt(S::IssuerTrust(T::Untrusted { .. })))
        }
        _ => return None,
    })
}

#[test]
fn every_wallet_vector_meets_its_expectation() {
    let files = collect_vectors(&corpus()).unwrap();
    assert!(files.len() >= 73, "corpus has {} vectors", files.len());
    let failures: Vec<String> = files
        .iter()
        .map(|f| run_case(f))
        .filter(|o| !o.pass)
        .map(|o| format!("{} expected {} got {:?}", o.id, o.expected, o.got))
        .collect();
    assert!(
        failures.is_empty(),
        "failing vectors:\n{}",
        failures.join("\n")
    );
}

#[test]
fn negative_vectors_fail_for_the_right_reason() {
    let mut checked = 0;
    for f in collect_vectors(&corpus()).unwrap() {
        let o = run_case(&f);
        if o.expected != "reject" {
            continue;
        }
        let want = expected_kind(&o.id)
            .unwrap_or_else(|| panic!("no expected error kind for negative vector {}", o.id));
        match &o.got {
            Got::Rejected(e) => assert!(want(e), "{}: wrong reason {e:?}", o.id),
            other => panic!("{}: expected a rejection, got {other:?}", o.id),
        }
        checked += 1;
    }
    assert_eq!(checked, 33);
}

#[test]
fn runner_binary_contract() {
    let dir = corpus();
    assert_eq!(conformance::wallet::run(&[dir.display().to_string()]), 0);
    assert_eq!(conformance::wallet::run(&[]), 2);
}

/// Writes `v` as a vector file and runs it.
fn run_derived(dir: &std::path::Path, name: &str, v: &serde_json::Value) -> Got {
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_vec(v).unwrap()).unwrap();
    run_case(&path).got
}

#[test]
fn derived_negative_vectors() {
    let dir = tempfile::tempdir().unwrap();
    let base: serde_json::Value = serde_json::from_slice(
        &std::fs::read(corpus().join("mdoc/mdoc-eudi-openid4vp-mdl-devicesignature.json")).unwrap(),
    )
    .unwrap();

    // Another nonce in the handover (transcript hex left as issued): device auth must fail.
    let mut v = base.clone();
    v["verifier_params"]["openid4vp_handover_info"]["nonce"] = "other-nonce".into();
    assert_eq!(
        run_derived(dir.path(), "wrong-nonce", &v),
        Got::Rejected(E::Mdoc(M::DeviceAuthFailed))
    );

    // Another client_id, transcript hex removed.
    let mut v = base.clone();
    v["verifier_params"]["openid4vp_handover_info"]["client_id"] =
        "x509_san_dns:other.example".into();
    v["verifier_params"]
        .as_object_mut()
        .unwrap()
        .remove("session_transcript_cbor_hex");
    assert_eq!(
        run_derived(dir.path(), "other-client", &v),
        Got::Rejected(E::Mdoc(M::DeviceAuthFailed))
    );

    // Wrong transcript bytes only.
    let mut v = base.clone();
    v["verifier_params"]
        .as_object_mut()
        .unwrap()
        .remove("openid4vp_handover_info");
    v["verifier_params"]["session_transcript_cbor_hex"] = "83f6f6f6".into();
    assert_eq!(
        run_derived(dir.path(), "wrong-transcript", &v),
        Got::Rejected(E::Mdoc(M::DeviceAuthFailed))
    );

    // The unmodified vector still passes through the same path.
    assert_eq!(run_derived(dir.path(), "same", &base), Got::Accepted);
}
