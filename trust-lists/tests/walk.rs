//! The walk over the real corpus: OJ 2019 anchors -> pivots 282..378 -> LOTL 390 -> national
//! lists found in the directory by their content; then a second walk that reuses everything,
//! and a failed refresh that keeps the previous good list.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers: a failure is a failing test

use std::path::PathBuf;

use openssl::x509::X509;
use time::macros::datetime;
use trust_lists::{
    walk, DirectorySource, ListKind, ListRequest, ListSource, Snapshot, SourceErrorKind,
    StageState, WalkConfig,
};

const OJ_2019: &str =
    "https://eur-lex.europa.eu/legal-content/EN/TXT/?uri=uriserv:OJ.C_.2019.276.01.0001.01.ENG";

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

fn config() -> WalkConfig {
    let pem = std::fs::read(corpus().join("anchors/OJ-C276-2019-lotl-signing-certs.pem")).unwrap();
    WalkConfig {
        anchors: X509::stack_from_pem(&pem).unwrap(),
        lotl_location: "https://ec.europa.eu/tools/lotl/eu-lotl.xml".into(),
        oj_uri: Some(OJ_2019.into()),
    }
}

/// A source that serves the corpus but replaces one territory's list with other bytes.
struct Tampered<'a> {
    inner: &'a DirectorySource,
    territory: &'static str,
    bytes: Vec<u8>,
}

impl ListSource for Tampered<'_> {
    fn fetch(&self, request: &ListRequest<'_>) -> Result<Vec<u8>, SourceErrorKind> {
        if request.territory == self.territory && !request.lotl {
            return Ok(self.bytes.clone());
        }
        self.inner.fetch(request)
    }
}

/// A source whose current LOTL is replaced (pivots still come from the directory).
struct BadLotl<'a> {
    inner: &'a DirectorySource,
    bytes: Vec<u8>,
}

impl ListSource for BadLotl<'_> {
    fn fetch(&self, request: &ListRequest<'_>) -> Result<Vec<u8>, SourceErrorKind> {
        if request.lotl && request.sequence.is_none() {
            return Ok(self.bytes.clone());
        }
        self.inner.fetch(request)
    }
}

#[test]
fn corpus_walk_then_reuse_then_failed_refresh() {
    let at = datetime!(2026-08-20 00:00:00 UTC);
    let source = DirectorySource::open(&corpus()).unwrap();
    let first = walk(&source, &config(), at, None);

    let pivots: Vec<_> = first
        .reports
        .iter()
        .filter(|r| r.kind == ListKind::Pivot)
        .collect();
    assert_eq!(
        pivots
            .iter()
            .map(|r| r.sequence.unwrap())
            .collect::<Vec<_>>(),
        [282, 300, 335, 341, 378]
    );
    assert!(pivots.iter().all(|r| r.signature == StageState::Ok));
    let lotl = first
        .reports
        .iter()
        .find(|r| r.kind == ListKind::Lotl)
        .unwrap();
    assert_eq!(
        (lotl.sequence, lotl.signature, lotl.fresh),
        (Some(390), StageState::Ok, true)
    );

    let ok: Vec<&str> = first
        .reports
        .iter()
        .filter(|r| r.kind == ListKind::Tl && r.signature == StageState::Ok)
        .map(|r| r.territory.as_str())
        .collect();
    assert_eq!(
        ok,
        ["AT", "BE", "CY", "EE", "EL", "FR", "HU", "IE", "IS", "LU", "MT", "NL", "PT", "SE"]
    );
    let de = first.reports.iter().find(|r| r.territory == "DE").unwrap();
    assert_eq!(de.error.as_deref(), Some("signature.SignerNotAnnounced"));
    let nl = first.reports.iter().find(|r| r.territory == "NL").unwrap();
    assert!(!nl.fresh, "NL 76 is past its NextUpdate on 2026-08-20");
    let cz = first.reports.iter().find(|r| r.territory == "CZ").unwrap();
    assert_eq!(cz.error.as_deref(), Some("source.NotFound"));
    assert_eq!(first.national_lists().count(), 14);

    // Second walk: every verified list is unchanged and reused.
    let second = walk(&source, &config(), at, Some(&first));
    assert!(second
        .reports
        .iter()
        .filter(|r| r.fetch == StageState::Ok && r.error.is_none())
        .all(|r| r.signature == StageState::Unchanged));
    assert_eq!(second.digest(), first.digest());

    // A tampered FR refresh is refused and the previous FR list is kept.
    let tampered =
        std::fs::read(corpus().join("broken/FR-seq174--tampered-servicename.xml")).unwrap();
    let bad = Tampered {
        inner: &source,
        territory: "FR",
        bytes: tampered,
    };
    let third = walk(&bad, &config(), at, Some(&second));
    let fr = third.reports.iter().find(|r| r.territory == "FR").unwrap();
    assert!(fr.kept_previous);
    assert_eq!(
        fr.error.as_deref(),
        Some("signature.ReferenceDigestMismatch")
    );
    assert!(third
        .national_lists()
        .any(|l| l.territory == "FR" && l.sequence == 174));

    // A tampered LOTL: the whole previous snapshot stays, every list reported as kept.
    let bad_lotl =
        std::fs::read(corpus().join("broken/EU-seq390--tampered-schemeoperatorname.xml")).unwrap();
    let fourth = walk(
        &BadLotl {
            inner: &source,
            bytes: bad_lotl,
        },
        &config(),
        at,
        Some(&third),
    );
    let lotl = fourth
        .reports
        .iter()
        .find(|r| r.kind == ListKind::Lotl)
        .unwrap();
    assert_eq!(
        lotl.error.as_deref(),
        Some("signature.ReferenceDigestMismatch")
    );
    assert!(lotl.kept_previous);
    assert_eq!(fourth.digest(), third.digest());
    assert!(fourth
        .reports
        .iter()
        .filter(|r| r.kind == ListKind::Tl)
        .all(|r| r.kept_previous));

    // The snapshot survives its encoding.
    let restored = Snapshot::from_bytes(&third.to_bytes()).unwrap();
    assert_eq!(restored.digest(), third.digest());
    assert_eq!(restored.reports, third.reports);
}
