//! Full verification of the corpus (OJ anchors -> 5 pivots -> LOTL 390 -> 15 national lists),
//! the same walk with every list unchanged, and validation of a chain seen before. When
//! `xmlsec1` is installed, the same files are also verified with `xmlsec1 --verify`, one after
//! the other, and the wall time is printed next to ours for the comparison of issue 3.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)] // bench harness

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use openssl::x509::X509;
use time::macros::datetime;
use trust_lists::{walk, DirectorySource, Snapshot, TrustStore, Usage, WalkConfig};

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
        oj_uri: None,
    }
}

/// Runs `xmlsec1 --verify` over every verified list of `snapshot`, sequentially, with the
/// signer certificate our walk found; returns the wall time, or `None` without xmlsec1.
fn xmlsec1_baseline(snapshot: &Snapshot) -> Option<(Duration, usize)> {
    Command::new("xmlsec1").arg("--version").output().ok()?;
    let dir = std::env::temp_dir().join(format!("xmlsec1-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let mut jobs = Vec::new();
    for (i, e) in snapshot.entries.iter().enumerate() {
        let xml = dir.join(format!("{i}.xml"));
        let pem = dir.join(format!("{i}.pem"));
        std::fs::write(&xml, &e.bytes).ok()?;
        std::fs::write(&pem, X509::from_der(&e.signer).ok()?.to_pem().ok()?).ok()?;
        jobs.push((xml, pem));
    }
    let start = Instant::now();
    let mut ok = 0;
    for (xml, pem) in &jobs {
        let out = Command::new("xmlsec1")
            .args([
                "--verify",
                "--id-attr:Id",
                "http://uri.etsi.org/01903/v1.3.2#:SignedProperties",
                "--pubkey-cert-pem",
            ])
            .arg(pem)
            .arg(xml)
            .output()
            .ok()?;
        ok += usize::from(out.status.success());
    }
    Some((start.elapsed(), ok))
}

fn bench(c: &mut Criterion) {
    let source = DirectorySource::open(&corpus()).unwrap();
    let at = datetime!(2026-08-20 00:00:00 UTC);
    let cfg = config();
    let start = Instant::now();
    let first = walk(&source, &cfg, at, None);
    let ours = start.elapsed();
    println!(
        "trust-lists full walk, one pass: {:.1} ms, {} lists verified",
        ours.as_secs_f64() * 1e3,
        first.entries.len()
    );
    match xmlsec1_baseline(&first) {
        Some((d, ok)) => println!(
            "xmlsec1 --verify sequential baseline: {:.1} ms over {} files ({} verified); ratio {:.2}x",
            d.as_secs_f64() * 1e3,
            first.entries.len(),
            ok,
            d.as_secs_f64() / ours.as_secs_f64()
        ),
        None => println!("xmlsec1 not installed: no baseline"),
    }

    let mut g = c.benchmark_group("trust");
    g.sample_size(10);
    g.bench_function("walk_full_corpus", |b| {
        b.iter(|| walk(&source, &cfg, at, None))
    });
    g.bench_function("walk_unchanged", |b| {
        b.iter(|| walk(&source, &cfg, at, Some(&first)))
    });
    g.finish();

    let store = TrustStore::from(&first);
    let lotl = std::fs::read_to_string(corpus().join("EU-lotl-seq390-2026-08-03.xml")).unwrap();
    let ki = lotl.find("<ds:KeyInfo>").unwrap();
    let s = ki + lotl[ki..].find("X509Certificate>").unwrap() + "X509Certificate>".len();
    let e = s + lotl[s..].find('<').unwrap();
    use base64::Engine;
    let chain = vec![base64::engine::general_purpose::STANDARD
        .decode(lotl[s..e].trim())
        .unwrap()];
    assert!(store.validate(&chain, at, Usage::QSeal).qualified);
    c.bench_function("validate_seen_chain", |b| {
        b.iter(|| store.validate(&chain, at, Usage::QSeal))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
