//! The generated test ecosystem through the trust-lists crate: RSA, ECDSA and RSASSA-PSS lists
//! verify, the walk reaches every list, qualified seal / website / PID certificates validate,
//! a withdrawn service's certificate is trusted before the withdrawal and refused after it, an
//! expired list is reported stale, and wrapping, two signatures and an XML bomb are refused.
//! The RSA-PSS, ECDSA and RSA lists are cross-checked with an independent implementation
//! (`xades_verify.py`: lxml + pyca/cryptography).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers: a failure is a failing test

use std::process::Command;
use std::sync::OnceLock;

use conformance::ecosystem::xades::RefStyle;
use conformance::ecosystem::{Ecosystem, EXPIRED_NEXT_UPDATE, LOTL_LOCATION, NEXT_UPDATE, OJ_URI};
use time::macros::datetime;
use time::OffsetDateTime;
use trust_lists::{
    verify_list, walk, CertType, DirectorySource, Error, ListKind, SignatureErrorKind, StageState,
    TrustStore, Usage, ValidationReason, WalkConfig, XmlErrorKind,
};

const AT: OffsetDateTime = datetime!(2026-08-20 00:00:00 UTC);

fn eco() -> &'static Ecosystem {
    static ECO: OnceLock<Ecosystem> = OnceLock::new();
    ECO.get_or_init(|| Ecosystem::generate(b"eidas-bridge test seed").unwrap())
}

fn config(e: &Ecosystem) -> WalkConfig {
    WalkConfig {
        anchors: vec![e.oj.cert.clone()],
        lotl_location: LOTL_LOCATION.into(),
        oj_uri: Some(OJ_URI.into()),
    }
}

fn store(e: &Ecosystem) -> TrustStore {
    let mut files = vec![e.lotl.clone()];
    files.extend(e.tls.values().cloned());
    let snapshot = walk(&DirectorySource::from_bytes(files), &config(e), AT, None);
    TrustStore::from(&snapshot)
}

#[test]
fn generation_is_deterministic() {
    let again = Ecosystem::generate(b"eidas-bridge test seed").unwrap();
    let e = eco();
    assert_eq!(again.oj.der(), e.oj.der());
    assert_eq!(again.seals["FR"].der(), e.seals["FR"].der());
    // RSA PKCS#1 v1.5 signatures are deterministic too.
    assert_eq!(again.tls["FR"], e.tls["FR"]);
    let other = Ecosystem::generate(b"another seed").unwrap();
    assert_ne!(other.oj.der(), e.oj.der());
}

#[test]
fn walk_verifies_rsa_ecdsa_and_pss_lists() {
    let e = eco();
    let mut files = vec![e.lotl.clone()];
    files.extend(e.tls.values().cloned());
    let snapshot = walk(&DirectorySource::from_bytes(files), &config(e), AT, None);
    for r in &snapshot.reports {
        assert_eq!(
            (r.signature, r.fresh, &r.error),
            (StageState::Ok, true, &None),
            "{r:?}"
        );
    }
    let territories: Vec<_> = snapshot
        .reports
        .iter()
        .filter(|r| r.kind == ListKind::Tl)
        .map(|r| r.territory.as_str())
        .collect();
    assert_eq!(territories, ["BE", "DE", "FR"]);
    let de = verify_list(&e.tls["DE"], &[e.signers["DE"].cert.clone()]).unwrap();
    assert_eq!(
        de.signature.algorithm,
        "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1"
    );
    let be = verify_list(&e.tls["BE"], &[e.signers["BE"].cert.clone()]).unwrap();
    assert_eq!(
        be.signature.algorithm,
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
    );
    // A list is refused with another territory's signer.
    assert_eq!(
        verify_list(&e.tls["DE"], &[e.signers["FR"].cert.clone()]).unwrap_err(),
        Error::Signature(SignatureErrorKind::SignerNotAnnounced)
    );
}

#[test]
fn qualified_certificates_validate() {
    let e = eco();
    let store = store(e);
    let seal = store.validate(&[e.seals["FR"].der(), e.cas["FR"].der()], AT, Usage::QSeal);
    assert!(seal.trusted && seal.qualified, "{seal:?}");
    assert_eq!(
        (seal.tsp.as_deref(), seal.territory.as_deref()),
        (Some("Test QTSP FR"), Some("FR"))
    );
    assert_eq!(seal.cert_type, Some(CertType::ESeal));
    let qwac = store.validate(&[e.qwacs["BE"].der()], AT, Usage::Qwac);
    assert!(qwac.trusted && qwac.qualified, "{qwac:?}");
    let wrong = store.validate(&[e.qwacs["BE"].der()], AT, Usage::QSeal);
    assert!(!wrong.trusted);
    assert_eq!(
        wrong.reasons,
        [ValidationReason::TypeMismatch {
            got: Some(CertType::Wsa)
        }]
    );
    let pid = store.validate(&[e.pid_issuer.der()], AT, Usage::Pid);
    assert!(pid.trusted, "{pid:?}");
    assert_eq!(pid.territory.as_deref(), Some("DE"));
    // Unknown issuer.
    let stranger = store.validate(&[e.signers["FR"].der()], AT, Usage::QSeal);
    assert_eq!(stranger.reasons, [ValidationReason::NoPathToTrustedService]);
}

#[test]
fn withdrawn_service_trusted_before_refused_after() {
    let e = eco();
    let store = store(e);
    let chain = [e.withdrawn_seal.der()];
    let before = store.validate(&chain, datetime!(2026-05-01 00:00:00 UTC), Usage::QSeal);
    assert!(before.trusted && before.qualified, "{before:?}");
    let after = store.validate(&chain, AT, Usage::QSeal);
    assert!(!after.trusted && !after.qualified);
    assert_eq!(
        after.reasons,
        [ValidationReason::StatusNotAcceptable {
            status: "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/withdrawn".into()
        }]
    );
}

#[test]
fn expired_list_verifies_but_is_stale() {
    let e = eco();
    let expired = e
        .signed_tl("FR", EXPIRED_NEXT_UPDATE, RefStyle::Empty)
        .unwrap();
    let v = verify_list(expired.as_bytes(), &[e.signers["FR"].cert.clone()]).unwrap();
    assert!(!v.list.is_fresh_at(AT));
    let mut files = vec![e.lotl.clone(), expired.into_bytes()];
    files.extend(
        e.tls
            .iter()
            .filter(|(t, _)| **t != "FR")
            .map(|(_, b)| b.clone()),
    );
    let snapshot = walk(&DirectorySource::from_bytes(files), &config(e), AT, None);
    let fr = snapshot
        .reports
        .iter()
        .find(|r| r.territory == "FR")
        .unwrap();
    assert_eq!((fr.signature, fr.fresh), (StageState::Ok, false));
}

#[test]
fn wrapping_two_signatures_and_bomb_are_refused() {
    let e = eco();
    let signers = [e.signers["FR"].cert.clone()];
    let by_id = e.signed_tl("FR", NEXT_UPDATE, RefStyle::RootId).unwrap();
    assert!(verify_list(by_id.as_bytes(), &signers).is_ok());

    // Wrapping: a new root with forged scheme information; the signed original moves inside.
    let body = by_id.split_once("?>\n").unwrap().1;
    let sig_start = body.find("<ds:Signature").unwrap();
    let sig_end = body.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let signature = &body[sig_start..sig_end];
    let original = format!("{}{}", &body[..sig_start], &body[sig_end..]);
    let forged = original
        .replace("tsl-FR", "tsl-evil")
        .replace("Test QTSP CA FR", "Evil CA");
    let wrapped = forged.replacen(
        "</TrustServiceStatusList>",
        &format!(
            "{signature}<Wrapper xmlns=\"urn:evil\">{original}</Wrapper></TrustServiceStatusList>"
        ),
        1,
    );
    // The signature now sits at the root but its reference points at an inner element.
    assert_eq!(
        verify_list(wrapped.as_bytes(), &signers).unwrap_err(),
        Error::Signature(SignatureErrorKind::NoWholeDocumentReference)
    );
    // Moving the signature inside the wrapper instead: it is no longer a child of the root.
    let inner = forged.replacen(
        "</TrustServiceStatusList>",
        &format!(
            "<Wrapper xmlns=\"urn:evil\">{}</Wrapper></TrustServiceStatusList>",
            body
        ),
        1,
    );
    assert_eq!(
        verify_list(inner.as_bytes(), &signers).unwrap_err(),
        Error::Signature(SignatureErrorKind::SignatureNotChildOfRoot)
    );

    let plain = String::from_utf8(e.tls["FR"].clone()).unwrap();
    let s0 = plain.find("<ds:Signature").unwrap();
    let s1 = plain.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let two = format!("{}{}{}", &plain[..s1], &plain[s0..s1], &plain[s1..]);
    assert_eq!(
        verify_list(two.as_bytes(), &signers).unwrap_err(),
        Error::Signature(SignatureErrorKind::MultipleSignatures { count: 2 })
    );

    let bomb = plain.replacen(
        "?>\n",
        "?>\n<!DOCTYPE TrustServiceStatusList [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">]>\n",
        1,
    );
    let bomb = bomb.replacen("Test supervisory body FR", "&c;", 1);
    assert_eq!(
        verify_list(bomb.as_bytes(), &signers).unwrap_err(),
        Error::Xml(XmlErrorKind::DoctypeRefused)
    );
}

/// Runs the independent verifier; installs lxml/cryptography with pip when missing.
fn python_verify(xml: &[u8], cert_pem: &[u8]) -> bool {
    let dir = std::env::temp_dir().join(format!("eidas-xades-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let (x, c) = (dir.join(format!("{n}.xml")), dir.join(format!("{n}.pem")));
    std::fs::write(&x, xml).unwrap();
    std::fs::write(&c, cert_pem).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/xades_verify.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(&x)
        .arg(&c)
        .output()
        .expect("python3 is required for the cross-check");
    String::from_utf8_lossy(&out.stdout).trim() == "ok" && out.status.success()
}

fn ensure_python_deps() {
    let ok = |c: &mut Command| c.status().map(|s| s.success()).unwrap_or(false);
    if !ok(Command::new("python3").args(["-c", "import lxml, cryptography"])) {
        assert!(
            ok(Command::new("python3").args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "lxml",
                "cryptography"
            ])),
            "pip install lxml cryptography failed"
        );
    }
}

#[test]
fn independent_implementation_agrees() {
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("SKIP: python3 not installed; the cross-check needs it");
        return;
    }
    ensure_python_deps();
    let e = eco();
    for t in ["DE", "BE", "FR"] {
        let pem = e.signers[t].cert.to_pem().unwrap();
        assert!(
            python_verify(&e.tls[t], &pem),
            "{t} list refused by the independent verifier"
        );
        let tampered = String::from_utf8(e.tls[t].clone())
            .unwrap()
            .replace("Test QTSP", "Test QTSX");
        assert!(
            !python_verify(tampered.as_bytes(), &pem),
            "{t} tampered list accepted by the independent verifier"
        );
    }
    assert!(python_verify(&e.lotl, &e.oj.cert.to_pem().unwrap()));
}

#[test]
fn xmlsec1_agrees_on_rsa_and_ecdsa_lists() {
    if Command::new("xmlsec1").arg("--version").output().is_err() {
        eprintln!("SKIP: xmlsec1 not installed (Debian's 1.2.37 cannot check RSA-PSS anyway; python covers it)");
        return;
    }
    let e = eco();
    let dir = std::env::temp_dir().join(format!("eidas-xmlsec1-{}", std::process::id()));
    e.write_to(&dir).unwrap();
    let run = |xml: &str, pem: &str| {
        Command::new("xmlsec1")
            .args([
                "--verify",
                "--id-attr:Id",
                "http://uri.etsi.org/01903/v1.3.2#:SignedProperties",
                "--pubkey-cert-pem",
            ])
            .arg(dir.join(pem))
            .arg(dir.join(xml))
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(
        run("FR.xml", "signer-FR.pem"),
        "xmlsec1 refused the RSA list"
    );
    assert!(
        run("BE.xml", "signer-BE.pem"),
        "xmlsec1 refused the ECDSA list"
    );
    assert!(
        run("eu-lotl.xml", "oj-anchor.pem"),
        "xmlsec1 refused the LOTL"
    );
    assert!(
        !run("FR.xml", "signer-BE.pem"),
        "xmlsec1 accepted a wrong key"
    );
}

#[test]
fn end_entity_as_intermediate_is_refused() {
    use conformance::ecosystem::certs::{issue, Profile, Spec};
    let e = eco();
    let spec = Spec {
        cn: "leaf under a seal",
        country: "FR",
        org: "Test",
        serial: 999,
        not_before: 1_735_689_600,
        not_after: 1_893_456_000,
        profile: Profile::QSeal,
        dns: None,
    };
    let key =
        conformance::ecosystem::keys::ec_key(b"x", "leaf", openssl::nid::Nid::X9_62_PRIME256V1)
            .unwrap();
    let leaf = issue(&spec, key, Some(&e.seals["FR"])).unwrap();
    let r = store(e).validate(&[leaf.der(), e.seals["FR"].der()], AT, Usage::QSeal);
    assert_eq!(
        r.reasons,
        [ValidationReason::IntermediateNotCa { index: 1 }]
    );
}

/// Serves a BE-territory list, signed by the FR signer, when the walk asks for FR.
struct Misfiled<'a>(&'a Ecosystem, Vec<u8>);

impl trust_lists::ListSource for Misfiled<'_> {
    fn fetch(
        &self,
        r: &trust_lists::ListRequest<'_>,
    ) -> Result<Vec<u8>, trust_lists::SourceErrorKind> {
        match (r.lotl, r.territory) {
            (true, _) => Ok(self.0.lotl.clone()),
            (false, "FR") => Ok(self.1.clone()),
            (false, t) => {
                self.0
                    .tls
                    .get(t)
                    .cloned()
                    .ok_or(trust_lists::SourceErrorKind::NotFound {
                        territory: t.into(),
                        location: r.location.into(),
                    })
            }
        }
    }
}

#[test]
fn list_for_another_territory_is_refused() {
    use conformance::ecosystem::xades::{sign, SigAlg};
    let e = eco();
    let unsigned = e.unsigned_tl("BE", NEXT_UPDATE);
    let forged = sign(
        &unsigned,
        "tsl-BE",
        &e.signers["FR"],
        SigAlg::RsaSha256,
        RefStyle::Empty,
        "2026-08-01T00:00:00Z",
    )
    .unwrap();
    let snapshot = walk(&Misfiled(e, forged.into_bytes()), &config(e), AT, None);
    let fr = snapshot
        .reports
        .iter()
        .find(|r| r.location.ends_with("FR.xml"))
        .unwrap();
    assert_eq!(fr.error.as_deref(), Some("parse.TerritoryMismatch"));
    assert!(snapshot
        .national_lists()
        .all(|l| l.territory != "FR" || l.operator_name.ends_with("FR")));
}

#[test]
fn configured_anchors_store() {
    let e = eco();
    let store = TrustStore::from_anchors(
        std::slice::from_ref(&e.pid_ca.cert),
        trust_lists::PID_SERVICE_TYPES[0],
        "DE",
    );
    let r = store.validate(&[e.pid_issuer.der()], AT, Usage::Pid);
    assert!(r.trusted, "{r:?}");
    let other = store.validate(&[e.seals["FR"].der()], AT, Usage::Pid);
    assert_eq!(other.reasons, [ValidationReason::NoPathToTrustedService]);
}

#[test]
fn inclusive_c14n_list_verifies_here_and_independently() {
    use conformance::ecosystem::xades::{sign_with, C14n, SigAlg};
    let e = eco();
    let signer = &e.signers["DE"];
    let unsigned = e.unsigned_tl("DE", NEXT_UPDATE);
    let signed = sign_with(
        &unsigned,
        "tsl-DE",
        signer,
        SigAlg::RsaPssSha256,
        RefStyle::Empty,
        C14n::Inclusive,
        "2026-08-01T00:00:00Z",
    )
    .unwrap();
    let v = verify_list(signed.as_bytes(), std::slice::from_ref(&signer.cert)).unwrap();
    assert_eq!(v.list.territory, "DE");
    let tampered = signed.replace("Test PID provider CA", "Test PID provider CX");
    assert_eq!(
        verify_list(tampered.as_bytes(), std::slice::from_ref(&signer.cert)).unwrap_err(),
        Error::Signature(SignatureErrorKind::ReferenceDigestMismatch { uri: String::new() })
    );
    if Command::new("python3").arg("--version").output().is_ok() {
        ensure_python_deps();
        assert!(
            python_verify(signed.as_bytes(), &signer.cert.to_pem().unwrap()),
            "independent verifier refused the inclusive list"
        );
    }
}
