//! Replays every file of every fuzz target's corpus (`fuzz/corpus/<target>/**`, seeds and
//! `regressions/`) through the same calls the targets in `fuzz/fuzz_targets/` make, so inputs
//! found by fuzzing stay fixed in plain `cargo test` (as rusticata/x509-parser
//! `tests/run_all_fuzz_files.rs`). The targets that assert a round trip are checked the same way
//! here. A few seeds pin their outcome, so the corpus keeps reaching the code it was chosen for;
//! the addressing seeds are pinned in `addressing_fuzz_corpus.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use eidas_bridge::addressing::{
    decode_alias, identify_ehbox, identify_peppol, parse_records, AddrSpec, ImportFormat,
    Participant,
};
use eidas_bridge::config::Config;
use eidas_bridge::exchange::{BatchHead, BatchKind, ReceiptContent, SealedContent};
use eidas_bridge::journal::{
    export, verify_export, Decision, EntryKind, Evidence, ExportFile, Journal, JournalConfig,
    JournalEntry, JournalKey, NoteVerifier, PayloadDigest,
};
use eidas_bridge::store::journal::FileJournalStorage;

/// The fixed verifier of the `checkpoint` target (public half of `fuzz/fuzz-journal-key.pem`).
const VKEY: &str = "fuzz.example/journal+34af96f8+ARq9fTCF0glqG8XKF1bopqpbx14vo77GnFCFO1fXArVq";

/// The calls of the `envelope` target, shared with it.
#[path = "../fuzz/common/envelope.rs"]
mod envelope_fuzz;

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// Asserts `encode(decode(d)) == d` for whatever decodes, as the round-trip targets do.
fn round_trip<T: std::fmt::Debug>(
    d: &[u8],
    decoded: Result<T, impl std::fmt::Debug>,
    encode: impl Fn(&T) -> Option<Vec<u8>>,
) -> String {
    if let Ok(v) = &decoded {
        assert_eq!(encode(v).as_deref(), Some(d), "not canonical: {v:?}");
    }
    format!("{:?}", decoded.map(|_| ()))
}

/// Runs one input through the calls of target `target` and returns a short outcome; `None` for
/// targets whose corpus another test replays.
fn replay(target: &str, d: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(d);
    let records = |format| {
        let (ok, bad) = parse_records(format, d).fold((0, 0), |(o, b), r| match r {
            Ok(_) => (o + 1, b),
            Err(_) => (o, b + 1),
        });
        format!("{ok} ok, {bad} bad")
    };
    let on_text = |f: &dyn Fn(&str) -> String| text.map_or_else(|_| "not utf-8".to_owned(), f);
    Some(match target {
        "hcid" => on_text(&|s| format!("{:?}", Participant::parse(s).map(|_| ()))),
        "addr_spec" => on_text(&|s| format!("{:?}", AddrSpec::parse(s).map(|_| ()))),
        "alias" => on_text(&|s| format!("{:?}", decode_alias(s).map(|_| ()))),
        "ehbox" => on_text(&|s| format!("{:?}", identify_ehbox(s).map(|_| ()))),
        "peppol" => on_text(&|s| format!("{:?}", identify_peppol(s).map(|_| ()))),
        "import_tsv" => records(ImportFormat::Tsv),
        "import_mssante" => records(ImportFormat::Mssante),
        "import_fhir" => records(ImportFormat::Fhir),
        "import_ldif" => records(ImportFormat::Ldif),
        "journal_export" => match verify_export(d, None) {
            Ok(report) => format!("valid: {}", report.is_valid()),
            Err(e) => format!("{e:?}"),
        },
        "journal_entry" => round_trip(d, JournalEntry::decode(d), |e| e.encode().ok()),
        "checkpoint" => on_text(&|s| {
            let verifier = NoteVerifier::parse(VKEY).unwrap();
            format!("{:?}", verifier.verify_checkpoint(s).map(|c| c.size))
        }),
        "seal" => {
            let sealed = round_trip(d, SealedContent::decode(d), |c| c.encode().ok());
            let receipt = round_trip(d, ReceiptContent::decode(d), |c| c.encode().ok());
            let heads = [BatchKind::Seal, BatchKind::Receipt]
                .map(|kind| round_trip(d, BatchHead::decode(d, kind), |h| h.encode().ok()));
            format!("{sealed} / {receipt} / {} / {}", heads[0], heads[1])
        }
        "config" => on_text(&|s| {
            let loaded = Config::load(Some(s), &BTreeMap::<String, String>::new());
            format!("{:?}", loaded.map(|_| ()).map_err(|e| e.0.len()))
        }),
        "envelope" => envelope_fuzz::check(d),
        // Written on branch `identity` with their own replay test, tests/identity_fuzz.rs.
        t if t.starts_with("identity_") => return None,
        other => panic!("no replay for fuzz target {other}: add it here"),
    })
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
    let targets: Vec<String> = std::fs::read_dir(fuzz_dir().join("fuzz_targets"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(targets.len() >= 17, "fuzz targets missing: {targets:?}");
    for target in &targets {
        let mut files = Vec::new();
        files_under(&fuzz_dir().join("corpus").join(target), &mut files);
        assert!(files.len() >= 2, "corpus of {target} missing: {files:?}");
        for path in files {
            let _ = replay(target, &std::fs::read(&path).unwrap());
        }
    }
}

#[test]
fn pinned_seeds() {
    let run = |t: &str, f: &str| {
        replay(
            t,
            &std::fs::read(fuzz_dir().join("corpus").join(t).join(f)).unwrap(),
        )
        .unwrap()
    };
    // Genuine exports verify; an edited one is evaluated with findings, a truncated one refused.
    assert_eq!(run("journal_export", "export-8.bin"), "valid: true");
    assert_eq!(
        run("journal_export", "export-8-entry-edited.bin"),
        "valid: false"
    );
    assert!(run("journal_export", "export-3-truncated.bin").starts_with("Truncated("));
    assert_eq!(run("journal_entry", "entry-failed.bin"), "Ok(())");
    assert_eq!(run("checkpoint", "note-size-8.txt"), "Ok(8)");
    assert_eq!(
        run("checkpoint", "note-other-key.txt"),
        "Err(NoMatchingSignature)"
    );
    assert_eq!(
        run("seal", "sealed.bin"),
        "Ok(()) / Err(UnknownTag) / Err(UnknownTag) / Err(UnknownTag)"
    );
    assert_eq!(
        run("seal", "receipt.bin"),
        "Err(UnknownTag) / Ok(()) / Err(UnknownTag) / Err(UnknownTag)"
    );
    assert_eq!(
        run("seal", "batch-head-seal.bin"),
        "Err(UnknownTag) / Err(UnknownTag) / Ok(()) / Err(UnknownTag)"
    );
    assert_eq!(
        run("seal", "batch-head-receipt.bin"),
        "Err(UnknownTag) / Err(UnknownTag) / Err(UnknownTag) / Ok(())"
    );
    assert_eq!(run("config", "bridge.example.toml"), "Ok(())");
    assert_eq!(run("config", "bad-keys.toml"), "Err(3)");
    // Genuine exchange messages pass every check, the sealed one and the receipt down to the
    // chain's trust; an edited payload is refused at its digest.
    assert!(run("envelope", "submit-ok.bin").starts_with("submit Ok(())"));
    assert!(run("envelope", "submit-digest-mismatch.bin")
        .starts_with("submit Err(\"payload_sha256 does not match the payload\")"));
    assert!(run("envelope", "sealed-fr-to-be.bin").contains("/ sealed Ok(()) /"));
    assert!(run("envelope", "sealed-payload-edited.bin")
        .contains(r#"/ sealed Err(Seal { what: "seal", kind: Mismatch("payload_size") }) /"#));
    assert!(run("envelope", "receipt-be.bin").contains("/ receipt Ok(()) /"));
    assert!(run("envelope", "receipt-batch-be.bin").contains("/ receipt Ok(()) /"));
    assert!(run("envelope", "sealed-batch-fr-to-be.bin")
        .contains("/ batch Ok([Ok(()), Ok(()), Err(Seal { what: \"seal\", kind: Mismatch(\"payload_size\") })]) /"));
    assert!(run("envelope", "receive-ack.bin").ends_with("/ receive true"));
}

/// Writes the `envelope` seeds: real encoded exchange messages between the FR and BE bridges of
/// the demo ecosystem, sealed with their seal keys (run with `--ignored` after a format change;
/// the outputs are checked in).
#[test]
#[ignore = "regenerates checked-in seeds"]
fn write_envelope_seeds() {
    use bridge_proto::pb;
    use eidas_bridge::exchange::{BatchKind, SealKey, SignedBatch};
    use prost::Message as _;
    use sha2::{Digest, Sha256};

    let dir = fuzz_dir().join("corpus/envelope");
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, m: &dyn Fn() -> Vec<u8>| std::fs::write(dir.join(name), m()).unwrap();
    let eco = test_ecosystem::Ecosystem::generate(eidas_bridge::demo::DEMO_SEED).unwrap();
    let seal_of = |cc: &str| {
        let party = &eco.seals[cc];
        SealKey::new(
            party.key.clone(),
            vec![party.cert.clone(), eco.cas[cc].cert.clone()],
        )
    };
    let digest: [u8; 32] = Sha256::digest(envelope_fuzz::PAYLOAD).into();
    let addr = |space: &str, value: &str| {
        Some(pb::Address {
            space: space.into(),
            value: value.into(),
        })
    };
    let submit = |sha: Vec<u8>, sender_space: &str| pb::SubmitRequest {
        envelope: Some(pb::Envelope {
            message_id: envelope_fuzz::MESSAGE_ID.into(),
            sender: addr(sender_space, "jean-marie.dupont@infirmier.mssante.fr"),
            recipient: addr("ehealthbox", "ehbox:HOSPITAL:NIHII-HOSPITAL:71000436"),
            payload: envelope_fuzz::PAYLOAD.to_vec(),
            payload_sha256: sha,
            ..Default::default()
        }),
    };
    write("submit-ok.bin", &|| {
        submit(digest.to_vec(), "mssante").encode_to_vec()
    });
    write("submit-digest-mismatch.bin", &|| {
        submit(vec![0; 32], "mssante").encode_to_vec()
    });
    write("submit-unknown-space.bin", &|| {
        submit(digest.to_vec(), "smtp").encode_to_vec()
    });

    let record = envelope_fuzz::sent_record();
    let content = SealedContent {
        message_id: record.message_id.clone(),
        sender_hcid: record.sender.clone(),
        recipient_hcid: record.recipient.clone(),
        payload_sha256: digest,
        payload_size: record.payload_size,
        origin_peer: envelope_fuzz::ORIGIN.into(),
        destination_peer: envelope_fuzz::LOCAL.into(),
        sealed_at: envelope_fuzz::AT * 1_000_000_000,
    };
    let fr = seal_of(envelope_fuzz::ORIGIN);
    let sealed_content = content.encode().unwrap();
    let sealed = pb::SealedEnvelope {
        message_id: record.message_id.clone(),
        sender_hcid: record.sender.clone(),
        recipient_hcid: record.recipient.clone(),
        payload: envelope_fuzz::PAYLOAD.to_vec(),
        payload_sha256: digest.to_vec(),
        origin_peer_id: envelope_fuzz::ORIGIN.into(),
        seal: fr.sign(&sealed_content).unwrap(),
        sealed_content,
        seal_chain: fr.chain_der().unwrap(),
    };
    write("sealed-fr-to-be.bin", &|| sealed.encode_to_vec());
    // Three envelopes under one batch seal; the third's payload is edited after sealing.
    write("sealed-batch-fr-to-be.bin", &|| {
        let envelopes: Vec<pb::BatchedEnvelope> = (0..3)
            .map(|i| {
                let mut c = content.clone();
                c.message_id = format!("{}-{i}", record.message_id);
                let mut payload = envelope_fuzz::PAYLOAD.to_vec();
                if i == 2 {
                    payload.push(b'!');
                }
                pb::BatchedEnvelope {
                    message_id: c.message_id.clone(),
                    sender_hcid: c.sender_hcid.clone(),
                    recipient_hcid: c.recipient_hcid.clone(),
                    payload,
                    payload_sha256: digest.to_vec(),
                    sealed_content: c.encode().unwrap(),
                }
            })
            .collect();
        let leaves: Vec<Vec<u8>> = envelopes.iter().map(|e| e.sealed_content.clone()).collect();
        let signed = SignedBatch::sign(
            &fr,
            BatchKind::Seal,
            envelope_fuzz::ORIGIN,
            envelope_fuzz::LOCAL,
            envelope_fuzz::AT * 1_000_000_000,
            &leaves,
        )
        .unwrap();
        pb::SealedBatch {
            origin_peer_id: envelope_fuzz::ORIGIN.into(),
            envelopes,
            batch_head: signed.head,
            seal: signed.signature,
            seal_chain: signed.seal_chain,
        }
        .encode_to_vec()
    });
    write("sealed-payload-edited.bin", &|| {
        let mut edited = sealed.clone();
        edited.payload.push(b'!');
        edited.encode_to_vec()
    });

    let be = seal_of(envelope_fuzz::LOCAL);
    let receipt = ReceiptContent {
        message_id: record.message_id.clone(),
        origin_peer: envelope_fuzz::ORIGIN.into(),
        receiver_peer: envelope_fuzz::LOCAL.into(),
        payload_sha256: digest,
        received_at: envelope_fuzz::AT * 1_000_000_000,
        journal_index: 7,
    };
    let signed_content = receipt.encode().unwrap();
    let answer = pb::Receipt {
        message_id: record.message_id.clone(),
        payload_sha256: digest.to_vec(),
        received_at: None,
        journal_index: 7,
        receiver_peer_id: envelope_fuzz::LOCAL.into(),
        signature: be.sign(&signed_content).unwrap(),
        signed_content,
        seal_chain: be.chain_der().unwrap(),
        ..Default::default()
    };
    write("receipt-be.bin", &|| answer.encode_to_vec());
    // The same receipt as leaf 1 of a receipt batch of three.
    let mut others = receipt.clone();
    let leaves: Vec<Vec<u8>> = (0..3u64)
        .map(|i| {
            if i == 1 {
                return receipt.encode().unwrap();
            }
            others.message_id = format!("other-{i}");
            others.journal_index = i;
            others.encode().unwrap()
        })
        .collect();
    let signed = SignedBatch::sign(
        &be,
        BatchKind::Receipt,
        envelope_fuzz::ORIGIN,
        envelope_fuzz::LOCAL,
        envelope_fuzz::AT * 1_000_000_000,
        &leaves,
    )
    .unwrap();
    let batched = signed.receipts(leaves).unwrap().remove(1);
    write("receipt-batch-be.bin", &|| {
        let mut wire = answer.clone();
        wire.signed_content = batched.signed_content.clone();
        wire.signature = batched.signature.clone();
        wire.seal_chain = batched.seal_chain.clone();
        let path = batched.batch.clone().unwrap();
        wire.batch_head = path.head;
        wire.leaf_index = path.leaf_index;
        wire.inclusion_proof = path.audit_path;
        wire.encode_to_vec()
    });
    write("receive-start.bin", &|| {
        pb::ReceiveRequest {
            action: Some(pb::receive_request::Action::Start(pb::ReceiveStart {})),
        }
        .encode_to_vec()
    });
    write("receive-ack.bin", &|| {
        pb::ReceiveRequest {
            action: Some(pb::receive_request::Action::AckMessageId(
                envelope_fuzz::MESSAGE_ID.into(),
            )),
        }
        .encode_to_vec()
    });
}

fn entry(i: u64) -> JournalEntry {
    let kinds = [
        EntryKind::Accepted,
        EntryKind::Forwarded,
        EntryKind::Receipt,
        EntryKind::Delivered,
        EntryKind::Failed,
        EntryKind::TrustListLoaded,
        EntryKind::IdentityVerified,
        EntryKind::Received,
    ];
    let kind = kinds[(i % 8) as usize];
    JournalEntry {
        kind,
        unix_nanos: 1_764_000_000_000_000_000 + i as i64,
        message_id: (kind != EntryKind::TrustListLoaded).then(|| format!("msg-{i:04}")),
        sender: Some("hcid:FR:rpps:810000000001".into()),
        recipient: (!i.is_multiple_of(3)).then(|| "hcid:BE:nihii:12345678".into()),
        peer: Some("BE:bridge.example.be".into()),
        payload: i.is_multiple_of(2).then_some(PayloadDigest {
            sha256: [i as u8; 32],
            size: 1000 + i,
        }),
        trust_snapshot: Some([0xAB; 32]),
        // Received entries carry evidence, so seeds cover the version-2 encoding too.
        evidence: (kind == EntryKind::Received).then_some(Evidence {
            decision: Decision::Seal,
            chain: [0xCD; 32],
        }),
        reason: (kind == EntryKind::Failed).then(|| "peer_unavailable".to_owned()),
    }
}

/// Writes the journal, checkpoint, seal and config seeds (run with `--ignored` after a format
/// change; the outputs are checked in). Exports and notes are signed with
/// `fuzz/fuzz-journal-key.pem`, whose verifier is [`VKEY`].
#[test]
#[ignore = "regenerates checked-in seeds"]
fn write_seeds() {
    let corpus = fuzz_dir().join("corpus");
    let write = |target: &str, name: &str, bytes: &[u8]| {
        std::fs::create_dir_all(corpus.join(target)).unwrap();
        std::fs::write(corpus.join(target).join(name), bytes).unwrap();
    };
    let pem = std::fs::read(fuzz_dir().join("fuzz-journal-key.pem")).unwrap();
    let key = || JournalKey::from_pkcs8_pem("fuzz.example/journal", &pem).unwrap();
    assert_eq!(key().verifier().to_vkey(), VKEY);

    // Exports of journals of 1, 3 and 8 entries, one checkpoint per commit.
    for n in [1u64, 3, 8] {
        let dir = tempfile::tempdir().unwrap();
        let storage = Arc::new(FileJournalStorage::open(dir.path()).unwrap());
        let config = JournalConfig {
            checkpoint_interval: Duration::ZERO,
            ..JournalConfig::default()
        };
        let journal = Journal::open(storage, key(), &config).unwrap();
        for i in 0..n {
            journal.append(&entry(i)).unwrap();
        }
        let mut bytes = Vec::new();
        export(journal.storage(), journal.verifier(), &mut bytes).unwrap();
        write("journal_export", &format!("export-{n}.bin"), &bytes);
        let file = ExportFile::parse(&bytes).unwrap();
        if n == 8 {
            let mut edited = file.clone();
            edited.records[5].entry[20] ^= 1;
            write(
                "journal_export",
                "export-8-entry-edited.bin",
                &edited.to_bytes(),
            );
            for r in &file.records {
                let kind = JournalEntry::decode(&r.entry).unwrap().kind;
                write(
                    "journal_entry",
                    &format!("entry-{}.bin", kind.as_str()),
                    &r.entry,
                );
            }
            for cp in &file.checkpoints {
                let size = key().verifier().verify_checkpoint(cp).unwrap().size;
                write(
                    "checkpoint",
                    &format!("note-size-{size}.txt"),
                    cp.as_bytes(),
                );
            }
        }
        if n == 3 {
            write(
                "journal_export",
                "export-3-truncated.bin",
                &bytes[..bytes.len() / 2],
            );
        }
    }
    // A note by another key, and one with a second signature line from that key.
    let other = JournalKey::generate("fuzz.example/journal").unwrap();
    let other_note = other.sign(2, [7; 32]).unwrap();
    write("checkpoint", "note-other-key.txt", other_note.as_bytes());
    let ours = key().sign(2, [7; 32]).unwrap();
    let other_sig = other_note.rsplit_once("\n\n").unwrap().1;
    write(
        "checkpoint",
        "note-two-signatures.txt",
        format!("{ours}{other_sig}").as_bytes(),
    );

    let sealed = SealedContent {
        message_id: "msg-0001".into(),
        sender_hcid: "hcid:FR:rpps:810000000001".into(),
        recipient_hcid: "hcid:BE:nihii:12345678".into(),
        payload_sha256: [3; 32],
        payload_size: 4096,
        origin_peer: "FR:bridge.example.fr".into(),
        destination_peer: "BE:bridge.example.be".into(),
        sealed_at: 1_764_000_000_000_000_000,
    };
    let receipt = ReceiptContent {
        message_id: "msg-0001".into(),
        origin_peer: "FR:bridge.example.fr".into(),
        receiver_peer: "BE:bridge.example.be".into(),
        payload_sha256: [3; 32],
        received_at: 1_764_000_000_500_000_000,
        journal_index: 42,
    };
    let sealed = sealed.encode().unwrap();
    write("seal", "sealed.bin", &sealed);
    write("seal", "receipt.bin", &receipt.encode().unwrap());
    write("seal", "sealed-truncated.bin", &sealed[..sealed.len() - 3]);
    for (kind, name) in [
        (BatchKind::Seal, "batch-head-seal.bin"),
        (BatchKind::Receipt, "batch-head-receipt.bin"),
    ] {
        let head = BatchHead {
            kind,
            origin_peer: "FR:bridge.example.fr".into(),
            receiver_peer: "BE:bridge.example.be".into(),
            signed_at: 1_764_000_000_500_000_000,
            size: 64,
            root: [5; 32],
        };
        write("seal", name, &head.encode().unwrap());
    }

    let example = std::fs::read(fuzz_dir().join("../../deploy/bridge.example.toml")).unwrap();
    write("config", "bridge.example.toml", &example);
    write(
        "config",
        "bad-keys.toml",
        b"[server]\nlistn = \"127.0.0.1:1\"\nshutdown_grace = 5\n[bridge]\ncountry = \"France\"\n",
    );
    write("config", "syntax-error.toml", b"[server\nlisten=");
    write(
        "config",
        "access.toml",
        b"[server]\nlisten = \"0.0.0.0:8443\"\n[metrics]\nlisten = \"off\"\n[access]\nauditor = [\"subject:CN=audit,O=ANS,C=FR\"]\npeer = [\"sha256:00\"]\n",
    );
}
