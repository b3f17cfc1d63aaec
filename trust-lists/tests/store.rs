//! Certificate validation against the trust store built from the real corpus: the qualified
//! seal certificate that signs LOTL 390 (issued by DIGITALSIGN QUALIFIED CA G1, listed in the
//! PT list) is trusted and qualified for seals, not for website authentication, and not before
//! it was issued.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers: a failure is a failing test

use std::path::PathBuf;

use openssl::x509::X509;
use time::macros::datetime;
use trust_lists::{
    walk, CertType, DirectorySource, TrustStore, Usage, ValidationReason, WalkConfig,
};

fn corpus() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    loop {
        let c = dir.join("shared/corpus/trust-lists/real");
        if c.is_dir() {
            return c;
        }
        assert!(
            dir.pop(),
            "shared/corpus not found above CARGO_MANIFEST_DIR"
        );
    }
}

fn lotl_signer_der() -> Vec<u8> {
    let s = std::fs::read_to_string(corpus().join("EU-lotl-seq390-2026-08-03.xml")).unwrap();
    let ki = s.find("<ds:KeyInfo>").unwrap();
    let start = ki + s[ki..].find("X509Certificate>").unwrap() + "X509Certificate>".len();
    let end = start + s[start..].find('<').unwrap();
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s[start..end].trim())
        .unwrap()
}

#[test]
fn real_qualified_seal_certificate() {
    let at = datetime!(2026-08-20 00:00:00 UTC);
    let pem = std::fs::read(corpus().join("anchors/OJ-C276-2019-lotl-signing-certs.pem")).unwrap();
    let config = WalkConfig {
        anchors: X509::stack_from_pem(&pem).unwrap(),
        lotl_location: "https://ec.europa.eu/tools/lotl/eu-lotl.xml".into(),
        oj_uri: None,
    };
    let snapshot = walk(
        &DirectorySource::open(&corpus()).unwrap(),
        &config,
        at,
        None,
    );
    let store = TrustStore::from(&snapshot);
    assert!(store.service_count() > 1000);

    let chain = vec![lotl_signer_der()];
    let r = store.validate(&chain, at, Usage::QSeal);
    assert!(r.trusted && r.qualified, "{r:?}");
    assert_eq!(r.territory.as_deref(), Some("PT"));
    assert_eq!(r.cert_type, Some(CertType::ESeal));
    assert!(
        r.tsp
            .as_deref()
            .unwrap()
            .to_lowercase()
            .contains("digitalsign"),
        "{:?}",
        r.tsp
    );

    // Same chain, second time: from the cache, same answer.
    assert_eq!(store.validate(&chain, at, Usage::QSeal), r);

    let web = store.validate(&chain, at, Usage::Qwac);
    assert!(!web.qualified);
    assert!(web.reasons.contains(&ValidationReason::TypeMismatch {
        got: Some(CertType::ESeal)
    }));

    let early = store.validate(&chain, datetime!(2023-01-01 00:00:00 UTC), Usage::QSeal);
    assert!(!early.trusted);
    assert_eq!(early.reasons, [ValidationReason::NotYetValid { index: 0 }]);

    let garbage = store.validate(&[vec![0x30, 0x00]], at, Usage::QSeal);
    assert_eq!(
        garbage.reasons,
        [ValidationReason::UndecodableCertificate { index: 0 }]
    );
    assert_eq!(
        store.validate(&[], at, Usage::Any).reasons,
        [ValidationReason::EmptyChain]
    );
}
