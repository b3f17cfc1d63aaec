//! The `trust-ecosystem` suite: the deterministic test trust ecosystem ([`crate::ecosystem`],
//! default seed) walked and used through the trust-lists crate. The LOTL walk must verify every
//! list (RSA, ECDSA and RSASSA-PSS signatures) and find it fresh; an expired list verifies but is
//! stale; a list checked with another territory's signer is refused; qualified seal, website and
//! PID certificates validate for their usage and only for it; a withdrawn service is trusted
//! before its withdrawal and refused after it (ETSI TS 119 612 clause 5.5.4 status history).

use time::OffsetDateTime;
use trust_lists::{verify_list, walk, DirectorySource, TrustStore, Usage, WalkConfig};

use crate::case::CaseResult;
use crate::ecosystem::xades::RefStyle;
use crate::ecosystem::{Ecosystem, EXPIRED_NEXT_UPDATE, LOTL_LOCATION, OJ_URI};
use crate::trust::DEFAULT_SEED;

/// Suite name in reports and in the expectations file.
pub const SUITE: &str = "trust-ecosystem";

/// An instant between the ecosystem's withdrawal date (2026-06-01) and its issue date, at which
/// the withdrawn service was still granted (Unix seconds of 2026-05-01T00:00:00Z).
const BEFORE_WITHDRAWAL_UNIX: i64 = 1_777_593_600;

fn case(id: &str, expected: &str, actual: String, note: &str) -> CaseResult {
    CaseResult {
        suite: SUITE.into(),
        id: id.into(),
        expected: expected.into(),
        pass: actual == expected,
        actual,
        note: (!note.is_empty()).then(|| note.to_owned()),
    }
}

/// The variant name of a Debug rendering (`TypeMismatch { .. }` -> `TypeMismatch`).
fn variant(debug: &str) -> &str {
    debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default()
}

fn list_outcome(bytes: &[u8], signers: &[openssl::x509::X509], at: OffsetDateTime) -> String {
    match verify_list(bytes, signers) {
        Ok(v) if v.list.is_fresh_at(at) => "valid, fresh".into(),
        Ok(_) => "valid, stale".into(),
        Err(e) => e.code(),
    }
}

fn cert_outcome(store: &TrustStore, chain: &[Vec<u8>], at: OffsetDateTime, usage: Usage) -> String {
    let r = store.validate(chain, at, usage);
    match (r.trusted, r.qualified) {
        (true, true) => "trusted, qualified".into(),
        (true, false) => "trusted".into(),
        _ => {
            let reasons: Vec<String> = r
                .reasons
                .iter()
                .map(|x| variant(&format!("{x:?}")).to_owned())
                .collect();
            format!("untrusted: {}", reasons.join(", "))
        }
    }
}

/// A certificate case: id, chain (leaf first), instant, usage, expected outcome.
type CertCase<'a> = (&'a str, Vec<Vec<u8>>, OffsetDateTime, Usage, &'a str);

/// Runs the suite at `at` (the report passes the trust runner's instant).
///
/// # Errors
/// A one-line reason when the ecosystem cannot be generated.
pub fn run_suite(at: OffsetDateTime) -> Result<Vec<CaseResult>, String> {
    let e = Ecosystem::generate(DEFAULT_SEED.as_bytes()).map_err(|e| e.to_string())?;
    let config = WalkConfig {
        anchors: vec![e.oj.cert.clone()],
        lotl_location: LOTL_LOCATION.into(),
        oj_uri: Some(OJ_URI.into()),
    };
    let mut files = vec![e.lotl.clone()];
    files.extend(e.tls.values().cloned());
    let snapshot = walk(&DirectorySource::from_bytes(files), &config, at, None);
    let mut out = Vec::new();
    // 1. The walk: every list signed, verified and fresh.
    for r in &snapshot.reports {
        let actual = match (&r.error, r.fresh) {
            (Some(err), _) => format!("error: {err:?}"),
            (None, fresh) => format!(
                "signature {:?}, {}",
                r.signature,
                if fresh { "fresh" } else { "stale" }
            ),
        };
        out.push(case(
            &format!("walk/{:?}-{}", r.kind, r.territory),
            "signature Ok, fresh",
            actual,
            "LOTL walk from the OJ anchor",
        ));
    }
    // 2. Lists checked one by one.
    let signer = |t: &str| e.signers.get(t).map(|p| p.cert.clone());
    let fr = signer("FR").into_iter().collect::<Vec<_>>();
    let expired = e
        .signed_tl("FR", EXPIRED_NEXT_UPDATE, RefStyle::Empty)
        .map_err(|e| e.to_string())?;
    out.push(case(
        "list/FR-past-next-update",
        "valid, stale",
        list_outcome(expired.as_bytes(), &fr, at),
        "nextUpdate before the validation time (TS 119 612 5.3.14)",
    ));
    if let Some(de) = e.tls.get("DE") {
        out.push(case(
            "list/DE-checked-with-FR-signer",
            "signature.SignerNotAnnounced",
            list_outcome(de, &fr, at),
            "",
        ));
    }
    // 3. Certificates against the trust store built from the walk.
    let store = TrustStore::from(&snapshot);
    let der = |p: Option<&crate::ecosystem::certs::Party>| p.map(|p| p.der()).unwrap_or_default();
    let cert_cases: [CertCase<'_>; 7] = [
        (
            "cert/FR-seal-as-qseal",
            vec![der(e.seals.get("FR")), der(e.cas.get("FR"))],
            at,
            Usage::QSeal,
            "trusted, qualified",
        ),
        (
            "cert/BE-qwac-as-qwac",
            vec![der(e.qwacs.get("BE"))],
            at,
            Usage::Qwac,
            "trusted, qualified",
        ),
        (
            "cert/BE-qwac-as-qseal",
            vec![der(e.qwacs.get("BE"))],
            at,
            Usage::QSeal,
            "untrusted: TypeMismatch",
        ),
        (
            "cert/DE-pid-issuer-as-pid",
            vec![e.pid_issuer.der()],
            at,
            Usage::Pid,
            "trusted",
        ),
        (
            "cert/list-signer-as-qseal",
            vec![der(e.signers.get("FR"))],
            at,
            Usage::QSeal,
            "untrusted: NoPathToTrustedService",
        ),
        (
            "cert/withdrawn-seal-before-withdrawal",
            vec![e.withdrawn_seal.der()],
            OffsetDateTime::from_unix_timestamp(BEFORE_WITHDRAWAL_UNIX)
                .map_err(|e| e.to_string())?,
            Usage::QSeal,
            "trusted, qualified",
        ),
        (
            "cert/withdrawn-seal-after-withdrawal",
            vec![e.withdrawn_seal.der()],
            at,
            Usage::QSeal,
            "untrusted: StatusNotAcceptable",
        ),
    ];
    for (id, chain, when, usage, want) in cert_cases {
        out.push(case(
            id,
            want,
            cert_outcome(&store, &chain, when, usage),
            "",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variant_names() {
        assert_eq!(variant("TypeMismatch { got: None }"), "TypeMismatch");
        assert_eq!(variant("NoPathToTrustedService"), "NoPathToTrustedService");
    }
}
