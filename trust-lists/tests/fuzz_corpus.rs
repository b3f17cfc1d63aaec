//! Replays every file of every fuzz target's corpus (`fuzz/corpus/<target>/**`, seeds and
//! `regressions/`) through the same calls the targets in `fuzz/fuzz_targets/` make, so inputs
//! found by fuzzing stay fixed in plain `cargo test` (as rusticata/x509-parser
//! `tests/run_all_fuzz_files.rs`). A few seeds also pin their exact outcome, so the corpus keeps
//! reaching the code it was chosen for (the signature check, the snapshot decoder).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use openssl::x509::X509;
use trust_lists::{
    parse_list, verify_list, Error, ListKind, ListReport, SignatureErrorKind, Snapshot,
    SnapshotEntry, SnapshotErrorKind, StageState,
};

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The fixed signer of the `verify_list` target (the CY TL signer certificate).
fn signer() -> Vec<X509> {
    vec![X509::from_pem(&std::fs::read(fuzz_dir().join("cy-signer.pem")).unwrap()).unwrap()]
}

/// `payload` as a compact JWS signed ES256 by the fixed signer of the `verify_lote` target
/// (`fuzz/lote-signer.pem`, named in `x5c`), as that target builds it.
fn lote_signed(payload: &[u8]) -> (String, X509) {
    let pem = std::fs::read(fuzz_dir().join("lote-signer.pem")).unwrap();
    let key = PKey::private_key_from_pem(&pem).unwrap();
    let cert = X509::from_pem(&pem).unwrap();
    let header = format!(
        r#"{{"alg":"ES256","x5c":["{}"]}}"#,
        STANDARD.encode(cert.to_der().unwrap())
    );
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let der = Signer::new(MessageDigest::sha256(), &key)
        .unwrap()
        .sign_oneshot_to_vec(input.as_bytes())
        .unwrap();
    let sig = EcdsaSig::from_der(&der).unwrap();
    let mut raw = sig.r().to_vec_padded(32).unwrap();
    raw.extend(sig.s().to_vec_padded(32).unwrap());
    (format!("{input}.{}", URL_SAFE_NO_PAD.encode(raw)), cert)
}

/// Runs one input through the calls of target `target`; returns a short outcome for pinned seeds.
fn replay(target: &str, data: &[u8], signers: &[X509]) -> String {
    match target {
        "verify_list" => {
            let verified = verify_list(data, signers).map(|v| v.list.territory);
            let parsed = parse_list(data).map(|l| l.sequence);
            format!("{verified:?} / {parsed:?}")
        }
        "snapshot" => format!("{:?}", Snapshot::from_bytes(data).map(|s| s.entries.len())),
        "verify_lote" => {
            let raw = trust_lists::verify_lote(data, &[]).map(|_| ());
            let (jws, cert) = lote_signed(data);
            let signed =
                trust_lists::verify_lote(jws.as_bytes(), &[cert]).map(|l| l.entities.len());
            format!("{raw:?} / {signed:?}")
        }
        other => panic!("no replay for fuzz target directory {other}: add it here"),
    }
}

/// Every regular file under `dir`, recursively (the `regressions/` subdirectories included).
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn replay_every_target_corpus() {
    let signers = signer();
    let targets: Vec<String> = std::fs::read_dir(fuzz_dir().join("fuzz_targets"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(targets.len() >= 2, "fuzz targets missing: {targets:?}");
    for target in &targets {
        let mut files = Vec::new();
        files_under(&fuzz_dir().join("corpus").join(target), &mut files);
        assert!(files.len() >= 2, "corpus of {target} missing: {files:?}");
        for path in files {
            let _ = replay(target, &std::fs::read(&path).unwrap(), &signers);
        }
    }
}

#[test]
fn pinned_seeds() {
    let signers = signer();
    let run = |t: &str, f: &str| {
        let bytes = std::fs::read(fuzz_dir().join("corpus").join(t).join(f)).unwrap();
        (bytes.clone(), replay(t, &bytes, &signers))
    };
    // The genuine CY list verifies against the fixed signer: the seed reaches the signature code.
    let (cy, out) = run("verify_list", "cy-tl-seq53.xml");
    assert_eq!(out, r#"Ok("CY") / Ok(53)"#);
    assert_eq!(verify_list(&cy, &signers).unwrap().list.territory, "CY");
    // One changed character under the signature: refused at the reference digest.
    let (tampered, _) = run("verify_list", "cy-tl-seq53-tampered-servicename.xml");
    assert!(matches!(
        verify_list(&tampered, &signers).unwrap_err(),
        Error::Signature(SignatureErrorKind::ReferenceDigestMismatch { .. })
    ));
    // Another territory's genuine list is not signed by the CY signer.
    let (is, _) = run("verify_list", "is-tl-seq39.xml");
    assert!(matches!(
        verify_list(&is, &signers).unwrap_err(),
        Error::Signature(SignatureErrorKind::SignerNotAnnounced)
    ));
    assert_eq!(run("snapshot", "cy-and-minimal.json").1, "Ok(2)");
    // A PID providers payload signed by the fuzz signer verifies and parses: the seed reaches
    // the payload parser behind the signature; as raw bytes it is not a compact JWS.
    assert_eq!(
        run("verify_lote", "payload-pid-providers.json").1,
        "Err(NotCompactJws) / Ok(1)"
    );
    assert_eq!(
        run("verify_lote", "payload-service-without-type.json").1,
        r#"Err(NotCompactJws) / Err(MissingField { field: "ServiceInformation.ServiceTypeIdentifier" })"#
    );
    assert_eq!(
        Snapshot::from_bytes(&run("snapshot", "digest-mismatch.json").0).unwrap_err(),
        SnapshotErrorKind::DigestMismatch { index: 0 }
    );
}

/// Writes the snapshot seeds from `Snapshot::to_bytes` (run with `--ignored` after a format
/// change; the outputs are checked in).
#[test]
#[ignore = "regenerates checked-in seeds"]
fn write_snapshot_seeds() {
    let dir = fuzz_dir().join("corpus/snapshot");
    let verify_seeds = fuzz_dir().join("corpus/verify_list");
    let entry = |kind, bytes: Vec<u8>, signer: Vec<u8>| SnapshotEntry {
        kind,
        raw_digest: openssl::sha::sha256(&bytes),
        canonical_digest: [0; 32], // recomputed by from_bytes, not stored
        list: Arc::new(parse_list(&bytes).unwrap()),
        bytes: bytes.into(),
        signer,
    };
    let minimal = std::fs::read(verify_seeds.join("minimal-unsigned.xml")).unwrap();
    let cy = std::fs::read(verify_seeds.join("cy-tl-seq53.xml")).unwrap();
    let cy_signer = signer()[0].to_der().unwrap();
    let report = ListReport {
        kind: ListKind::Tl,
        territory: "CY".into(),
        location: "https://example.invalid/cy.xml".into(),
        fetch: StageState::Ok,
        parse: StageState::Ok,
        signature: StageState::Ok,
        sequence: Some(53),
        issued: Some(time::macros::datetime!(2026-03-31 00:00 UTC)),
        next_update: None,
        fresh: true,
        signer: Some("CN=CY-TSL Signer2".into()),
        error: None,
        kept_previous: false,
        input_digest: Some("00".repeat(32)),
    };
    let snap = |entries, reports| Snapshot {
        at: time::macros::datetime!(2026-05-01 12:00 UTC),
        entries,
        reports,
    };
    let write = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).unwrap();
    write(
        "minimal.json",
        &snap(
            vec![entry(ListKind::Tl, minimal.clone(), vec![1, 2, 3])],
            vec![],
        )
        .to_bytes(),
    );
    write(
        "cy-and-minimal.json",
        &snap(
            vec![
                entry(ListKind::Lotl, minimal.clone(), vec![]),
                entry(ListKind::Tl, cy, cy_signer),
            ],
            vec![report],
        )
        .to_bytes(),
    );
    // The stored list changed after its digest was recorded: refused as a digest mismatch.
    let good = snap(vec![entry(ListKind::Tl, minimal.clone(), vec![])], vec![]).to_bytes();
    let mut json: serde_json::Value = serde_json::from_slice(&good).unwrap();
    let altered = String::from_utf8(minimal).unwrap().replace(">7<", ">8<");
    json["entries"][0]["bytes_b64"] = STANDARD.encode(altered).into();
    write("digest-mismatch.json", &serde_json::to_vec(&json).unwrap());
    write(
        "empty.json",
        br#"{"format":1,"at":"2026-05-01T12:00:00Z","entries":[],"reports":[]}"#,
    );
}
