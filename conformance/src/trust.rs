//! `conformance trust DIR [--at TIME]`: verifies every list of a trusted-list corpus directory
//! (`DIR/*.xml`, `DIR/broken/*.xml`, `DIR/variants/*.xml`, anchors in `DIR/anchors/*.pem`)
//! and prints one JSON line per case with its expectation, then `N passed, M failed`.
//!
//! Signers: LOTLs and pivots are checked against the OJ anchors plus the EU certificates of
//! every verified LOTL; national lists against the certificates the verified LOTLs announce for
//! their territory. Expectations: genuine files and variants are valid; broken files are
//! refused with the code their defect implies. A list refused because no LOTL of the corpus
//! announces its signer gets a second case, `FILE#keyinfo-pinned`, checked against its own KeyInfo
//! certificate, so such a divergence is only ever about the announcement, never the signature.
//! Known divergences are listed, with their reason, in `conformance/expectations.toml`
//! ([`crate::Expectations`]).

use std::path::{Path, PathBuf};

use openssl::x509::X509;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use trust_lists::{parse_list, verify_list, TrustedList};

use crate::case::{annotate_line, tally, CaseResult, Expectations};

/// Default instant: the fixture time of specs/trust-lists.md clause 4.
pub const DEFAULT_AT: &str = "2026-08-20T00:00:00Z";

/// Suite name in reports and in the expectations file.
pub const SUITE: &str = "trust";

/// Outcome code of a list whose signer no verified LOTL announces.
const SIGNER_NOT_ANNOUNCED: &str = "signature.SignerNotAnnounced";

/// One case as the command line prints it: the common result plus the list's freshness.
#[derive(Debug, Clone)]
struct TrustCase {
    result: CaseResult,
    fresh: bool,
}

/// Runs the suite; returns the process exit code.
pub fn run(args: &[String]) -> i32 {
    if args.first().map(String::as_str) == Some("generate") {
        return generate(&args[1..]);
    }
    let mut dir = None;
    let mut at = DEFAULT_AT.to_string();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--at" => match it.next() {
                Some(v) => at.clone_from(v),
                None => return usage("--at needs a value"),
            },
            other if dir.is_none() => dir = Some(PathBuf::from(other)),
            other => return usage(&format!("unexpected argument {other}")),
        }
    }
    let Some(dir) = dir else {
        return usage("missing DIR");
    };
    let Ok(at) = OffsetDateTime::parse(&at, &Rfc3339) else {
        return usage("--at must be RFC 3339");
    };
    let exp = match Expectations::embedded() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("conformance trust: {e}");
            return 2;
        }
    };
    let cases = match trust_cases(&dir, at) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("conformance trust: {e}");
            return 2;
        }
    };
    for c in &cases {
        let r = &c.result;
        let mut line = serde_json::json!({
            "id": r.id, "expected": r.expected, "got": r.actual, "pass": r.pass, "fresh": c.fresh
        });
        annotate_line(&mut line, &exp.verdict(r));
        println!("{line}");
    }
    let results: Vec<CaseResult> = cases.into_iter().map(|c| c.result).collect();
    let (passed, failed) = tally(&results, &exp);
    println!("{passed} passed, {failed} failed");
    i32::from(failed > 0)
}

/// Runs the trusted-list corpus in `dir` (module doc) at `at`, one result per case; the note of
/// a valid list says whether it is fresh at `at`.
///
/// # Errors
/// A one-line reason when the anchors or a file cannot be read.
pub fn run_corpus(dir: &Path, at: OffsetDateTime) -> Result<Vec<CaseResult>, String> {
    Ok(trust_cases(dir, at)?
        .into_iter()
        .map(|c| {
            let mut r = c.result;
            if r.actual == "valid" {
                r.note = Some(
                    if c.fresh {
                        "fresh"
                    } else {
                        "past its next update"
                    }
                    .into(),
                );
            }
            r
        })
        .collect())
}

fn usage(msg: &str) -> i32 {
    eprintln!("usage: conformance trust DIR [--at TIME] | conformance trust generate OUTDIR [--seed SEED]: {msg}");
    2
}

/// `conformance trust generate OUTDIR [--seed SEED]`: writes the test ecosystem (LOTL, FR/BE/DE
/// lists, OJ anchor, bridge seal and website certificates with their keys) to OUTDIR.
fn generate(args: &[String]) -> i32 {
    let (out, seed) = match args {
        [out] => (out, DEFAULT_SEED),
        [out, flag, seed] if flag == "--seed" => (out, seed.as_str()),
        _ => return usage("generate OUTDIR [--seed SEED]"),
    };
    let eco = match crate::ecosystem::Ecosystem::generate(seed.as_bytes()) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("conformance trust generate: {e}");
            return 2;
        }
    };
    match eco.write_to(Path::new(out)) {
        Ok(()) => {
            println!("test ecosystem written to {out} (seed {seed:?})");
            0
        }
        Err(e) => {
            eprintln!("conformance trust generate: {e}");
            2
        }
    }
}

/// Seed of `trust generate` when none is given.
pub const DEFAULT_SEED: &str = "eidas-bridge test seed";

fn xml_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| r.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|x| x == "xml"));
    v.sort();
    v
}

fn announced(lists: &[TrustedList], territory: &str) -> Vec<X509> {
    lists
        .iter()
        .flat_map(|l| l.pointers_for(territory))
        .flat_map(|p| p.certificates.iter())
        .filter_map(|d| X509::from_der(d).ok())
        .collect()
}

/// The expected outcome code of a corpus file, from its folder and name.
fn expected(rel: &str) -> &'static str {
    if !rel.starts_with("broken/") {
        return "valid";
    }
    if rel.contains("no-sig") {
        "signature.MissingSignature"
    } else if rel.contains("not-parseable") {
        "xml.Malformed"
    } else if rel.contains("two-sigs") {
        "signature.MultipleSignatures"
    } else {
        "signature.ReferenceDigestMismatch"
    }
}

fn trust_cases(dir: &Path, at: OffsetDateTime) -> Result<Vec<TrustCase>, String> {
    let mut anchors = Vec::new();
    for p in std::fs::read_dir(dir.join("anchors"))
        .map_err(|e| format!("anchors: {e}"))?
        .filter_map(Result::ok)
    {
        let pem = std::fs::read(p.path()).map_err(|e| e.to_string())?;
        anchors.extend(X509::stack_from_pem(&pem).map_err(|e| e.to_string())?);
    }
    // 1. Verify the LOTLs of the top folder oldest first, growing the EU signer set.
    let mut files = xml_files(dir);
    files.extend(xml_files(&dir.join("variants")));
    files.extend(xml_files(&dir.join("broken")));
    let mut lotls: Vec<(u64, PathBuf)> = xml_files(dir)
        .into_iter()
        .filter_map(|p| {
            let l = parse_list(&std::fs::read(&p).ok()?).ok()?;
            l.is_lotl().then_some((l.sequence, p))
        })
        .collect();
    lotls.sort();
    let mut verified: Vec<TrustedList> = Vec::new();
    for (_, p) in &lotls {
        let mut signers = anchors.clone();
        signers.extend(announced(&verified, "EU"));
        if let Ok(v) = verify_list(&std::fs::read(p).map_err(|e| e.to_string())?, &signers) {
            verified.push(v.list);
        }
    }
    // 2. Every file, one case each.
    let mut out = Vec::new();
    for path in files {
        let rel = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
        let bytes = std::fs::read(&path).map_err(|e| e.to_string())?;
        let signers = match parse_list(&bytes) {
            Ok(l) if l.is_lotl() => {
                let mut s = anchors.clone();
                s.extend(announced(&verified, "EU"));
                s
            }
            Ok(l) => announced(&verified, &l.territory),
            Err(_) => anchors.clone(),
        };
        let case = check(&rel, &bytes, &signers, expected(&rel), at);
        // A list whose signer nobody announces: is the signature itself sound?
        let pinned = (case.result.actual == SIGNER_NOT_ANNOUNCED).then(|| {
            check(
                &format!("{rel}#keyinfo-pinned"),
                &bytes,
                &keyinfo_signer(&bytes),
                "valid",
                at,
            )
        });
        out.push(case);
        out.extend(pinned);
    }
    Ok(out)
}

fn check(id: &str, bytes: &[u8], signers: &[X509], want: &str, at: OffsetDateTime) -> TrustCase {
    let (got, fresh) = match verify_list(bytes, signers) {
        Ok(v) => ("valid".to_string(), v.list.is_fresh_at(at)),
        Err(e) => (e.code(), false),
    };
    TrustCase {
        result: CaseResult {
            suite: SUITE.into(),
            id: id.into(),
            expected: want.into(),
            pass: got == want,
            actual: got,
            note: None,
        },
        fresh,
    }
}

/// The KeyInfo certificate of a list, for the pinned-signer cases.
fn keyinfo_signer(bytes: &[u8]) -> Vec<X509> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Vec::new();
    };
    let Some(ki) = text.find("KeyInfo") else {
        return Vec::new();
    };
    let rest = &text[ki..];
    let Some(start) = rest
        .find("X509Certificate>")
        .map(|s| s + "X509Certificate>".len())
    else {
        return Vec::new();
    };
    let Some(end) = rest[start..].find('<') else {
        return Vec::new();
    };
    let b64: String = rest[start..start + end]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .ok()
        .and_then(|d| X509::from_der(&d).ok())
        .into_iter()
        .collect()
}
