//! The real corpus (specs/trust-lists.md clause 3): every genuine list verifies against the
//! certificates announced for it, every broken one is refused with its exact reason, every
//! variant verifies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers: a failure is a failing test

use std::path::PathBuf;

use openssl::x509::X509;
use trust_lists::{verify_list, Error, SignatureErrorKind, TrustedList, XmlErrorKind};

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

fn read(name: &str) -> Vec<u8> {
    std::fs::read(corpus().join(name)).unwrap()
}

fn anchors() -> Vec<X509> {
    X509::stack_from_pem(&read("anchors/OJ-C276-2019-lotl-signing-certs.pem")).unwrap()
}

fn announced(list: &TrustedList, territory: &str) -> Vec<X509> {
    list.pointers_for(territory)
        .flat_map(|p| p.certificates.iter())
        .map(|d| X509::from_der(d).unwrap())
        .collect()
}

const PIVOTS: [&str; 5] = [
    "EU-pivot-lotl-seq282-2021-02-09.xml",
    "EU-pivot-lotl-seq300-2021-10-25.xml",
    "EU-pivot-lotl-seq335-2023-11-24.xml",
    "EU-pivot-lotl-seq341-2024-05-31.xml",
    "EU-pivot-lotl-seq378-2026-01-21.xml",
];

/// Walks anchors -> pivots -> LOTL 390 and returns the verified LOTLs, oldest first.
fn lotl_chain() -> Vec<TrustedList> {
    let mut signers = anchors();
    let mut out = Vec::new();
    for name in PIVOTS
        .iter()
        .chain(["EU-lotl-seq390-2026-08-03.xml"].iter())
    {
        let v = verify_list(&read(name), &signers).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert!(v.xades_matches_version(), "{name}");
        signers = announced(&v.list, "EU");
        assert!(!signers.is_empty(), "{name} announces EU signers");
        out.push(v.list);
    }
    out
}

#[test]
fn pivot_chain_verifies_from_oj_anchors() {
    let chain = lotl_chain();
    assert_eq!(
        chain.iter().map(|l| l.sequence).collect::<Vec<_>>(),
        [282, 300, 335, 341, 378, 390]
    );
    assert!(chain.iter().all(TrustedList::is_lotl));
}

#[test]
fn national_lists_verify_with_lotl_390_certificates() {
    let chain = lotl_chain();
    let lotl = chain.last().unwrap();
    let mut files: Vec<_> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    let mut checked = 0;
    for name in files.iter().filter(|n| n.contains("-tl-")) {
        let bytes = read(name);
        let parsed = trust_lists::parse_list(&bytes).unwrap();
        let signers = announced(lotl, &parsed.territory);
        let v = if parsed.territory == "DE" {
            // DE 22 (2015) is signed by "14R-TSL 1:PN" (expired 2019), which neither LOTL 390 nor
            // any pivot of the corpus (the oldest is 282, 2021) announces: refused against them,
            // valid against its own signer pinned.
            let all: Vec<X509> = chain.iter().flat_map(|l| announced(l, "DE")).collect();
            assert_eq!(
                verify_list(&bytes, &all).unwrap_err(),
                Error::Signature(SignatureErrorKind::SignerNotAnnounced)
            );
            verify_list(&bytes, &keyinfo_cert(&bytes)).unwrap()
        } else {
            verify_list(&bytes, &signers).unwrap_or_else(|e| panic!("{name}: {e:?}"))
        };
        assert_eq!(v.list.territory, name[..2]);
        assert!(
            v.xades_matches_version(),
            "{name}: v{} list",
            v.list.version
        );
        if parsed.territory != "DE" {
            assert_eq!(
                trust_lists::verify_announced(&bytes, lotl)
                    .unwrap()
                    .list
                    .sequence,
                v.list.sequence
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 15);
}

fn sig_err(name: &str, signers: &[X509]) -> Error {
    verify_list(&read(name), signers).unwrap_err()
}

#[test]
fn broken_files_are_refused_with_their_reason() {
    let chain = lotl_chain();
    let lotl = chain.last().unwrap();
    let eu_old: Vec<X509> = anchors();
    // CZ 77 (2019) and SK 95 (2022) are signed by certificates announced in older pivots.
    let union = |t: &str| {
        chain
            .iter()
            .flat_map(|l| announced(l, t))
            .collect::<Vec<_>>()
    };
    let cz = union("CZ");
    let sk = union("SK");

    let el = announced(lotl, "EL");
    let fr = announced(lotl, "FR");
    let eu = announced(&chain[4], "EU");
    assert_eq!(
        sig_err("broken/EU-seq248--eu-lotl-no-sig.xml", &eu_old),
        Error::Signature(SignatureErrorKind::MissingSignature)
    );
    assert!(matches!(
        sig_err("broken/EU-seq248--eu-lotl-not-parseable.xml", &eu_old),
        Error::Xml(XmlErrorKind::Malformed { .. })
    ));
    assert_eq!(
        sig_err("broken/EU-seq248--eu-lotl_broken-sig.xml", &eu_old),
        Error::Signature(SignatureErrorKind::ReferenceDigestMismatch { uri: String::new() })
    );
    assert_eq!(
        sig_err("broken/EU-seq390--tampered-schemeoperatorname.xml", &eu),
        Error::Signature(SignatureErrorKind::ReferenceDigestMismatch { uri: String::new() })
    );
    assert_eq!(
        sig_err("broken/CZ-seq77--CZ_no-sig.xml", &cz),
        Error::Signature(SignatureErrorKind::MissingSignature)
    );
    assert_eq!(
        sig_err("broken/CZ-seq77--CZ_two-sigs.xml", &cz),
        Error::Signature(SignatureErrorKind::MultipleSignatures { count: 2 })
    );
    assert_eq!(
        sig_err("broken/CZ-seq77--CZ_broken-sig.xml", &cz),
        Error::Signature(SignatureErrorKind::ReferenceDigestMismatch { uri: String::new() })
    );
    assert_eq!(
        sig_err("broken/EL-seq85--tampered-servicename.xml", &el),
        Error::Signature(SignatureErrorKind::ReferenceDigestMismatch { uri: String::new() })
    );
    assert_eq!(
        sig_err("broken/FR-seq174--tampered-servicename.xml", &fr),
        Error::Signature(SignatureErrorKind::ReferenceDigestMismatch { uri: String::new() })
    );
    assert_eq!(
        sig_err("broken/SK-seq95--sk-tl-altered-tsp.xml", &sk),
        Error::Signature(SignatureErrorKind::ReferenceDigestMismatch { uri: String::new() })
    );
}

#[test]
fn variants_verify() {
    let anchors = anchors();
    for name in [
        "variants/EU-seq247--tl_pivot_247_mp_with-bom.xml",
        "variants/EU-seq247--tl_pivot_247_mp_with-spaces.xml",
    ] {
        let v = verify_list(&read(name), &anchors).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(v.list.sequence, 247);
    }
    // AT 37 (2018) carries its signer in KeyInfo; pin that certificate as the announced one.
    let bytes = read("variants/AT-seq37--TSL-noID.xml");
    let v = verify_list(&bytes, &keyinfo_cert(&bytes)).unwrap();
    assert_eq!(v.list.territory, "AT");
}

fn keyinfo_cert(bytes: &[u8]) -> Vec<X509> {
    let s = std::str::from_utf8(bytes).unwrap();
    let ki = s.find("KeyInfo").unwrap();
    let start = ki + s[ki..].find("X509Certificate>").unwrap() + "X509Certificate>".len();
    let end = start + s[start..].find('<').unwrap();
    let b64: String = s[start..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    use base64::Engine;
    vec![X509::from_der(
        &base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
    .unwrap()]
}
