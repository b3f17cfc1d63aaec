//! A checkpoint produced by the bridge verifies with an independent implementation of the
//! signed-note format: `tests/py/verify_checkpoint.py`, written from the C2SP specifications with
//! the Python `cryptography` package. python3 is required: a missing interpreter fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use eidas_bridge::journal::{EntryKind, Journal, JournalConfig, JournalEntry, JournalKey};
use eidas_bridge::store::journal::FileJournalStorage;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/verify_checkpoint.py")
}

fn ensure_python() {
    let v = Command::new("python3").arg("--version").output();
    assert!(
        v.is_ok_and(|o| o.status.success()),
        "python3 is required for this test and is missing"
    );
    let has = |_: ()| {
        Command::new("python3")
            .args(["-c", "import cryptography"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !has(()) {
        let _ = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "cryptography"])
            .status();
    }
    assert!(
        has(()),
        "the python `cryptography` package is missing and could not be installed"
    );
}

fn run(vkey: &Path, note: &Path) -> (i32, String) {
    let out = Command::new("python3")
        .arg(script())
        .arg(vkey)
        .arg(note)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
    )
}

#[test]
fn python_verifies_bridge_checkpoint() {
    ensure_python();
    let dir = tempfile::tempdir().unwrap();
    let key = JournalKey::generate("bridge.example.fr/journal").unwrap();
    let vkey = key.verifier().to_vkey();
    let storage = Arc::new(FileJournalStorage::open(&dir.path().join("j")).unwrap());
    let config = JournalConfig {
        checkpoint_interval: Duration::ZERO,
        ..JournalConfig::default()
    };
    let journal = Journal::open(storage, key, &config).unwrap();
    for i in 0..7 {
        let e = JournalEntry {
            kind: EntryKind::Received,
            unix_nanos: i,
            message_id: Some(format!("m{i}")),
            sender: None,
            recipient: None,
            peer: Some("FR".into()),
            payload: None,
            trust_snapshot: None,
            evidence: None,
            reason: None,
        };
        journal.append(&e).unwrap();
    }
    let note = journal.latest_checkpoint();
    let head = journal.head();
    let vkey_path = dir.path().join("journal.vkey");
    let note_path = dir.path().join("checkpoint");
    std::fs::write(&vkey_path, &vkey).unwrap();
    std::fs::write(&note_path, note.as_bytes()).unwrap();
    let (code, out) = run(&vkey_path, &note_path);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out.trim(),
        format!("ok bridge.example.fr/journal 7 {}", hex::encode(head.root))
    );

    // The independent verifier also rejects a changed tree size.
    std::fs::write(&note_path, note.replacen("\n7\n", "\n8\n", 1)).unwrap();
    let (code, out) = run(&vkey_path, &note_path);
    assert_eq!(
        (code, out.trim()),
        (1, "invalid: signature does not verify")
    );
}
