//! `conformance trust DIR [--at TIME]`: verifies every list of a trusted-list corpus directory
//! (`DIR/*.xml`, `DIR/broken/*.xml`, `DIR/variants/*.xml`, anchors in `DIR/anchors/*.pem`)
//! and prints one JSON line per case with its expectation, then `N passed, M failed`.
//!
//! Signers: LOTLs and pivots are checked against the OJ anchors plus the EU certificates of
//! every verified LOTL; national lists against the certificates the verified LOTLs announce for
//! their territory. Expectations: genuine files and variants are valid; broken files are
//! refused with the code their defect implies; lists whose signer no LOTL of the corpus
//! announces are listed in [`KNOWN_UNANNOUNCED`] with the reason, and checked a second time
//! against their own KeyInfo certificate.

use std::path::{Path, PathBuf};

use openssl::x509::X509;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use trust_lists::{parse_list, verify_list, TrustedList};

/// Default instant: the fixture time of specs/trust-lists.md clause 4.
const DEFAULT_AT: &str = "2026-08-20T00:00:00Z";

/// Files whose signer no LOTL of the corpus announces (expected divergence, with reason).
pub const KNOWN_UNANNOUNCED: [(&str, &str); 1] = [(
    "DE-tl-seq22-2015-08-12.xml",
    "2015 signer 14R-TSL 1:PN (expired 2019) predates the oldest pivot (282, 2021)",
)];

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
    match run_dir(&dir, at) {
        Ok(failed) => i32::from(failed > 0),
        Err(e) => {
            eprintln!("conformance trust: {e}");
            2
        }
    }
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

fn run_dir(dir: &Path, at: OffsetDateTime) -> Result<usize, String> {
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
    let (mut passed, mut failed) = (0usize, 0usize);
    for path in files {
        let rel = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
        let bytes = std::fs::read(&path).map_err(|e| e.to_string())?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let unannounced = KNOWN_UNANNOUNCED.iter().find(|(f, _)| *f == name);
        let signers = match parse_list(&bytes) {
            Ok(l) if l.is_lotl() => {
                let mut s = anchors.clone();
                s.extend(announced(&verified, "EU"));
                s
            }
            Ok(l) => announced(&verified, &l.territory),
            Err(_) => anchors.clone(),
        };
        let mut cases = vec![(
            rel.clone(),
            signers,
            if unannounced.is_some() {
                "signature.SignerNotAnnounced"
            } else {
                expected(&rel)
            },
        )];
        if unannounced.is_some() {
            cases.push((
                format!("{rel}#keyinfo-pinned"),
                keyinfo_signer(&bytes),
                "valid",
            ));
        }
        for (id, signers, want) in cases {
            let (got, fresh) = match verify_list(&bytes, &signers) {
                Ok(v) => ("valid".to_string(), v.list.is_fresh_at(at)),
                Err(e) => (e.code(), false),
            };
            let pass = got == want;
            if pass {
                passed += 1;
            } else {
                failed += 1;
            }
            let mut line = serde_json::json!({"id": id, "expected": want, "got": got, "pass": pass, "fresh": fresh});
            if let Some((_, reason)) = unannounced {
                line["note"] = serde_json::Value::from(*reason);
            }
            println!("{line}");
        }
    }
    println!("{passed} passed, {failed} failed");
    Ok(failed)
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
