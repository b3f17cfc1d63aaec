//! `eidas-bridge trust verify|load|show|check-cert` on the real corpus (pinned at
//! 2026-08-20T00:00:00Z, specs/trust-lists.md section 4): every genuine list verifies against
//! the list that announces its signer, every broken list is refused with its specific reason,
//! the full chain OJ 2019 anchors -> pivots -> LOTL 390 -> national lists loads and persists,
//! and a real certificate taken from a national list is trusted and qualified.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const AT: &str = "2026-08-20T00:00:00Z";

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

fn anchors() -> PathBuf {
    corpus().join("anchors/OJ-C276-2019-lotl-signing-certs.pem")
}

fn file(prefix: &str) -> PathBuf {
    let dir = corpus();
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".xml"))
        })
        .collect();
    assert_eq!(found.len(), 1, "{prefix} in {}", dir.display());
    found.remove(0)
}

fn bridge(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eidas-bridge"))
        .args(args)
        .env("BRIDGE_LOG", "off")
        .output()
        .unwrap()
}

fn lines(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn verify(files: &[PathBuf], extra: &[&str]) -> (i32, Vec<Value>) {
    let mut args = vec!["--json", "trust", "verify", "--at", AT];
    args.extend_from_slice(extra);
    args.extend(files.iter().map(|f| s(f)));
    let out = bridge(&args);
    (out.status.code().unwrap(), lines(&out))
}

#[test]
fn genuine_national_lists_and_lotl_verify_against_lotl_390() {
    let lotl = file("EU-lotl-seq390");
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_str().unwrap();
            n.contains("-tl-seq") && !n.starts_with("DE-")
        })
        .collect();
    files.sort();
    files.push(lotl.clone());
    files.push(corpus().join("variants/AT-seq37--TSL-noID.xml"));
    assert_eq!(
        files.len(),
        16,
        "14 national lists of 2026, LOTL 390, AT 37"
    );
    let (code, out) = verify(&files, &["--lotl", s(&lotl)]);
    assert_eq!(out.len(), files.len());
    for line in &out {
        assert_eq!(line["signature"], "valid", "{line}");
        assert!(line["signer"].as_str().is_some_and(|s| !s.is_empty()));
        for key in [
            "file",
            "kind",
            "territory",
            "sequence",
            "issued",
            "next_update",
        ] {
            assert!(!line[key].is_null(), "{key} in {line}");
        }
    }
    assert_eq!(code, 0);
    let nl = out.iter().find(|l| l["territory"] == "NL").unwrap();
    assert_eq!(
        nl["expired"], true,
        "NL 76 is past NextUpdate at the pinned time"
    );
    let eu = out.iter().find(|l| l["kind"] == "lotl").unwrap();
    assert_eq!(eu["sequence"], 390);
}

#[test]
fn pivots_verify_along_the_chain_from_the_oj_anchors() {
    // Each pivot is signed by a certificate the previous one announces for EU; the oldest by
    // the OJ 2019 anchors; LOTL 390 by what pivot 378 announces.
    let chain = ["282", "300", "335", "341", "378", "390"];
    let mut previous: Option<PathBuf> = None;
    for seq in chain {
        let f = if seq == "390" {
            file("EU-lotl-seq390")
        } else {
            file(&format!("EU-pivot-lotl-seq{seq}"))
        };
        let (code, out) = match &previous {
            None => verify(std::slice::from_ref(&f), &["--signer", s(&anchors())]),
            Some(p) => verify(std::slice::from_ref(&f), &["--lotl", s(p)]),
        };
        assert_eq!(code, 0, "{seq}: {out:?}");
        assert_eq!(out[0]["kind"], "lotl");
        assert_eq!(out[0]["signature"], "valid");
        previous = Some(f);
    }
    // The pivot 247 variants (BOM, whitespace) verify with the OJ anchors.
    let variants = [
        corpus().join("variants/EU-seq247--tl_pivot_247_mp_with-bom.xml"),
        corpus().join("variants/EU-seq247--tl_pivot_247_mp_with-spaces.xml"),
    ];
    let (code, out) = verify(&variants, &["--signer", s(&anchors())]);
    assert_eq!(code, 0, "{out:?}");
}

#[test]
fn de_2015_signer_is_not_announced_in_lotl_390() {
    // The 2015 German list was signed by a certificate LOTL 390 no longer announces.
    let (code, out) = verify(
        &[file("DE-tl-seq22")],
        &["--lotl", s(&file("EU-lotl-seq390"))],
    );
    assert_eq!(code, 1);
    assert_eq!(out[0]["error"], "signature.SignerNotAnnounced");
}

#[test]
fn every_broken_file_is_refused_with_its_reason() {
    let expected = [
        (
            "CZ-seq77--CZ_broken-sig.xml",
            "signature.ReferenceDigestMismatch",
        ),
        ("CZ-seq77--CZ_no-sig.xml", "signature.MissingSignature"),
        ("CZ-seq77--CZ_two-sigs.xml", "signature.MultipleSignatures"),
        (
            "EL-seq85--tampered-servicename.xml",
            "signature.ReferenceDigestMismatch",
        ),
        (
            "EU-seq248--eu-lotl-no-sig.xml",
            "signature.MissingSignature",
        ),
        ("EU-seq248--eu-lotl-not-parseable.xml", "xml.Malformed"),
        (
            "EU-seq248--eu-lotl_broken-sig.xml",
            "signature.ReferenceDigestMismatch",
        ),
        (
            "EU-seq390--tampered-schemeoperatorname.xml",
            "signature.ReferenceDigestMismatch",
        ),
        (
            "FR-seq174--tampered-servicename.xml",
            "signature.ReferenceDigestMismatch",
        ),
        ("SK-seq95--sk-tl-altered-tsp.xml", "parse.MissingElement"),
    ];
    let files: Vec<PathBuf> = expected
        .iter()
        .map(|(f, _)| corpus().join("broken").join(f))
        .collect();
    let lotl = file("EU-lotl-seq390");
    let (code, out) = verify(&files, &["--lotl", s(&lotl), "--signer", s(&anchors())]);
    assert_eq!(code, 1);
    assert_eq!(out.len(), expected.len());
    for (line, (name, error)) in out.iter().zip(expected) {
        assert!(line["file"].as_str().unwrap().ends_with(name));
        assert_eq!(line["signature"], "invalid", "{line}");
        assert_eq!(line["error"], error, "{name}");
    }
}

#[test]
fn usage_errors_exit_2() {
    let out = bridge(&["trust", "verify", s(&file("FR-tl"))]);
    assert_eq!(out.status.code(), Some(2), "no signer and no LOTL");
    let out = bridge(&["trust", "verify", "--at", "yesterday", "--lotl", "x", "y"]);
    assert_eq!(out.status.code(), Some(2));
    let out = bridge(&["trust", "show", "--data", "/nonexistent/eidas-bridge-data"]);
    assert_eq!(out.status.code(), Some(2));
}

/// The signing certificate of the French list (a qualified certificate for electronic
/// signatures of the scheme operator's agent), as PEM.
fn fr_signer_pem(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(file("FR-tl")).unwrap();
    let sig = text.rfind("<ds:Signature").unwrap();
    let tag = "X509Certificate>";
    let start = sig + text[sig..].find(tag).unwrap() + tag.len();
    let end = start + text[start..].find('<').unwrap();
    let b64: String = text[start..end].split_whitespace().collect();
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(chunk).unwrap());
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    let path = dir.join("fr-signer.pem");
    std::fs::write(&path, pem).unwrap();
    path
}

#[test]
fn load_the_full_real_chain_then_show_and_check_a_real_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let corpus_dir = corpus();
    let out = bridge(&[
        "--json",
        "trust",
        "load",
        "--lotl",
        s(&file("EU-lotl-seq390")),
        "--tl-dir",
        s(&corpus_dir),
        "--data",
        s(&data),
        "--at",
        AT,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = lines(&out);
    let summary = report.last().unwrap();
    assert_eq!(
        summary["lists"], 20,
        "5 pivots, the LOTL, 14 national lists"
    );
    assert!(summary["services"].as_u64().unwrap() > 1000);
    let pivots: Vec<u64> = report
        .iter()
        .filter(|l| l["kind"] == "pivot")
        .map(|l| l["sequence"].as_u64().unwrap())
        .collect();
    assert_eq!(pivots, [282, 300, 335, 341, 378], "oldest first");
    for l in report
        .iter()
        .filter(|l| l["kind"] == "pivot" || l["kind"] == "lotl")
    {
        assert_eq!(l["signature"], "ok", "{l}");
    }
    let accepted: Vec<&str> = report
        .iter()
        .filter(|l| l["kind"] == "tl" && l["signature"] == "ok")
        .map(|l| l["territory"].as_str().unwrap())
        .collect();
    for cc in [
        "AT", "BE", "CY", "EE", "EL", "FR", "HU", "IE", "IS", "LU", "MT", "NL", "PT", "SE",
    ] {
        assert!(accepted.contains(&cc), "{cc} missing from {accepted:?}");
    }
    let de = report.iter().find(|l| l["territory"] == "DE").unwrap();
    assert_eq!(de["error"], "signature.SignerNotAnnounced");

    // show: services of the stored snapshot, filtered by territory.
    let out = bridge(&[
        "--json",
        "trust",
        "show",
        "--territory",
        "FR",
        "--data",
        s(&data),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let services = lines(&out);
    assert!(!services.is_empty());
    assert!(services.iter().all(|l| l["territory"] == "FR"));

    // check-cert: the FR list's signing certificate chains to an FR qualified CA.
    let pem = fr_signer_pem(tmp.path());
    let out = bridge(&[
        "--json",
        "trust",
        "check-cert",
        s(&pem),
        "--at",
        AT,
        "--usage",
        "esig",
        "--data",
        s(&data),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let r = &lines(&out)[0];
    assert_eq!(r["trusted"], true, "{r}");
    assert_eq!(r["qualified"], true, "{r}");
    assert_eq!(r["territory"], "FR");
    assert_eq!(r["cert_type"], "e_sig");
    assert!(r["tsp"].as_str().is_some_and(|t| !t.is_empty()), "{r}");
    assert_eq!(r["snapshot"], summary["snapshot"]);

    // The same certificate is not trusted long before it was issued: exit 1.
    let out = bridge(&[
        "--json",
        "trust",
        "check-cert",
        s(&pem),
        "--at",
        "2010-01-01T00:00:00Z",
        "--data",
        s(&data),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(lines(&out)[0]["trusted"], false);

    // A second load reuses every unchanged list and stores the same snapshot.
    let out = bridge(&[
        "--json",
        "trust",
        "load",
        "--lotl",
        s(&file("EU-lotl-seq390")),
        "--tl-dir",
        s(&corpus_dir),
        "--data",
        s(&data),
        "--at",
        AT,
    ]);
    assert_eq!(out.status.code(), Some(0));
    let again = lines(&out);
    assert_eq!(again.last().unwrap()["snapshot"], summary["snapshot"]);
    assert!(again
        .iter()
        .filter(|l| l["kind"] == "lotl")
        .all(|l| l["signature"] == "unchanged"));
}

#[test]
fn load_fails_with_exit_1_when_the_lotl_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = bridge(&[
        "--json",
        "trust",
        "load",
        "--lotl",
        s(&corpus().join("broken/EU-seq390--tampered-schemeoperatorname.xml")),
        "--tl-dir",
        s(&corpus()),
        "--data",
        s(&tmp.path().join("data")),
        "--at",
        AT,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let report = lines(&out);
    let lotl = report.iter().find(|l| l["kind"] == "lotl").unwrap();
    assert_eq!(lotl["error"], "signature.ReferenceDigestMismatch");
    let show = bridge(&["trust", "show", "--data", s(&tmp.path().join("data"))]);
    assert_eq!(show.status.code(), Some(2), "nothing was stored");
}
