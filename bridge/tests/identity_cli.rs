//! `eidas-bridge identity verify` as a library call: exit codes for a valid presentation, an
//! invalid one (wrong nonce) and an input error, over corpus files written to a temporary dir.
// Test code: a failing unwrap or panic is a failing test (clippy.toml allows it inside #[test] only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::ExitCode;

use eidas_bridge::cli::identity::{run, IdentityCommand};
use serde_json::Value;

fn corpus_vector(rel: &str) -> Value {
    let start = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = start
        .ancestors()
        .map(|d| d.join("shared/corpus/wallet"))
        .find(|c| c.is_dir())
        .unwrap_or_else(|| panic!("shared/corpus/wallet not found above {}", start.display()));
    serde_json::from_slice(&std::fs::read(dir.join(rel)).unwrap()).unwrap()
}

fn verify(
    file: PathBuf,
    nonce: &str,
    keys: Vec<PathBuf>,
    anchors: Vec<PathBuf>,
    at: &str,
) -> ExitCode {
    run(
        IdentityCommand::Verify {
            file,
            nonce: Some(nonce.into()),
            aud: Some("https://verifier.example.org".into()),
            issuer_key: keys,
            trust_anchor: anchors,
            at: Some(at.into()),
        },
        true,
    )
}

#[test]
fn verify_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let v = corpus_vector("sd-jwt/rfc9901-simple.json");
    let pres = dir.path().join("pres.txt");
    std::fs::write(&pres, v["input"]["sd_jwt_presentation"].as_str().unwrap()).unwrap();
    let jwk = dir.path().join("issuer.jwk");
    std::fs::write(
        &jwk,
        v["verifier_params"]["issuer_public_jwks"][0].to_string(),
    )
    .unwrap();
    let at = v["verifier_params"]["now"].as_i64().unwrap().to_string();
    assert_eq!(
        verify(pres.clone(), "1234567890", vec![jwk.clone()], vec![], &at),
        ExitCode::SUCCESS
    );
    assert_eq!(
        verify(pres.clone(), "other", vec![jwk.clone()], vec![], &at),
        ExitCode::from(1)
    );
    assert_eq!(
        verify(
            pres.clone(),
            "1234567890",
            vec![jwk.clone()],
            vec![],
            "yesterday"
        ),
        ExitCode::from(2)
    );
    assert_eq!(
        verify(pres, "1234567890", vec![], vec![], &at),
        ExitCode::from(2)
    );

    // An mdoc as hex, with its trust anchor, at an RFC 3339 instant.
    let v = corpus_vector("mdoc/mdoc-iso18013-5-annexd.json");
    let mdoc = dir.path().join("resp.hex");
    std::fs::write(
        &mdoc,
        v["input"]["device_response_cbor_hex"].as_str().unwrap(),
    )
    .unwrap();
    let ta = dir.path().join("ta.pem");
    std::fs::write(
        &ta,
        v["verifier_params"]["trust_anchors_pem"][0]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        verify(
            mdoc.clone(),
            "n",
            vec![],
            vec![ta.clone()],
            "2021-01-01T00:00:00Z"
        ),
        ExitCode::SUCCESS
    );
    assert_eq!(
        verify(mdoc, "n", vec![], vec![ta], "2030-01-01T00:00:00Z"),
        ExitCode::from(1)
    );
}
