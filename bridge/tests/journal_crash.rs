//! Crash test: a child process appends under concurrent load and is killed with SIGKILL at random
//! points, 20 times; after each kill every acknowledged entry is present, the tree recomputed from
//! the entries matches the signed checkpoint, and the next append continues the chain. Every
//! third round also appends a torn, never-acknowledged record, as a power cut mid-write leaves.
//! SIGKILL does not lose the page cache, so this tests recovery logic; that acknowledgements wait
//! for `fdatasync` is tested with a gated storage in `journal::log` tests.
//!
//! The child is this same test binary re-executed (`current_exe`) to run only the ignored test
//! `crash_child`, which does its work only when `JOURNAL_CRASH_CHILD_DIR` is set. This needs no
//! extra installed binary and no nested `cargo` invocation; outside the parent it is a no-op.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use eidas_bridge::journal::merkle::{self, MemoryTree};
use eidas_bridge::journal::{EntryKind, Journal, JournalConfig, JournalEntry, JournalKey};
use eidas_bridge::store::journal::FileJournalStorage;

const CHILD_ENV: &str = "JOURNAL_CRASH_CHILD_DIR";
const INTERVAL_ENV: &str = "JOURNAL_CRASH_INTERVAL_MS";
const ORIGIN: &str = "crash.test/journal";
const ROUNDS: u64 = 20;
const CHILD_THREADS: usize = 8;

fn entry(tag: &str) -> JournalEntry {
    JournalEntry {
        kind: EntryKind::Forwarded,
        unix_nanos: 1_764_000_000_000_000_000,
        message_id: Some(tag.to_owned()),
        sender: Some("hcid:fr:rpps:810000000001".into()),
        recipient: Some("hcid:be:nihii:12345678".into()),
        peer: Some("BE".into()),
        payload: None,
        trust_snapshot: None,
        evidence: None,
        reason: None,
    }
}

fn open(dir: &std::path::Path, interval: Duration) -> Journal {
    let pem = std::fs::read(dir.join("key.pem")).unwrap();
    let key = JournalKey::from_pkcs8_pem(ORIGIN, &pem).unwrap();
    let storage = Arc::new(FileJournalStorage::open(&dir.join("journal")).unwrap());
    let config = JournalConfig {
        checkpoint_interval: interval,
        ..JournalConfig::default()
    };
    Journal::open(storage, key, &config).unwrap()
}

#[test]
#[ignore = "child process of journal_survives_sigkill; does nothing unless run by it"]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    // Even rounds sign a checkpoint at every commit; odd rounds every 3 ms, so the kill often
    // leaves the store ahead of its last checkpoint.
    let ms: u64 = std::env::var(INTERVAL_ENV).unwrap().parse().unwrap();
    let journal = Arc::new(open(std::path::Path::new(&dir), Duration::from_millis(ms)));
    let pid = std::process::id();
    let threads: Vec<_> = (0..CHILD_THREADS)
        .map(|t| {
            let j = journal.clone();
            std::thread::spawn(move || {
                for n in 0u64.. {
                    let tag = format!("p{pid}-t{t}-n{n}");
                    let r = j.append(&entry(&tag)).unwrap();
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ack {} {tag}", r.index).unwrap();
                    out.flush().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

fn next_rand(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

#[test]
fn journal_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let key = JournalKey::generate(ORIGIN).unwrap();
    std::fs::write(dir.path().join("key.pem"), key.to_pkcs8_pem().unwrap()).unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut seed = 0x5eed_1234_abcd_ef01u64;
    let mut acked: Vec<(u64, String)> = Vec::new();
    for round in 0..ROUNDS {
        let target = 1 + next_rand(&mut seed) % 600;
        let mut child = Command::new(&exe)
            .args([
                "crash_child",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .env(INTERVAL_ENV, if round % 2 == 0 { "0" } else { "3" })
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = 0u64;
        let record = |line: &str, acked: &mut Vec<(u64, String)>| {
            if let Some(rest) = line.strip_prefix("ack ") {
                let (i, tag) = rest.split_once(' ').unwrap();
                acked.push((i.parse().unwrap(), tag.to_owned()));
                true
            } else {
                false
            }
        };
        for line in lines.by_ref() {
            if record(&line.unwrap(), &mut acked) {
                seen += 1;
                if seen >= target {
                    break;
                }
            }
        }
        // SIGKILL: no destructor, no final checkpoint, possibly a torn group commit.
        child.kill().unwrap();
        child.wait().unwrap();
        // Acks already in the pipe were acknowledged before the kill: they count too.
        for line in lines {
            match line {
                Ok(l) => {
                    record(&l, &mut acked);
                }
                Err(_) => break,
            }
        }
        assert!(
            seen >= target,
            "round {round}: child stopped after {seen} acks"
        );
        // Every third round, also leave what a power cut mid-write can: part of a record that
        // was never acknowledged (a plausible header, then garbage). Recovery must drop it.
        if round % 3 == 0 {
            let seg = dir.path().join("journal").join("journal.log");
            let mut f = std::fs::OpenOptions::new().append(true).open(seg).unwrap();
            let junk = 1 + (next_rand(&mut seed) % 300) as usize;
            let mut torn = vec![200u8, 0, 0, 0];
            torn.extend((0..junk).map(|i| (i as u8).wrapping_mul(31)));
            f.write_all(&torn).unwrap();
        }

        let journal = open(dir.path(), Duration::ZERO);
        let head = journal.head();
        // Every acknowledged entry is present, at its acknowledged index, unchanged.
        let mut tree = MemoryTree::new();
        let mut entries = Vec::new();
        for item in journal.replay(0, head.size) {
            let (i, e) = item.unwrap();
            assert_eq!(i, tree.size());
            tree.push(merkle::leaf_hash(&e.encode().unwrap()));
            entries.push(e.message_id.unwrap());
        }
        for (i, tag) in &acked {
            assert!(
                *i < head.size,
                "round {round}: acked index {i} lost (size {})",
                head.size
            );
            assert_eq!(
                &entries[*i as usize], tag,
                "round {round}: entry {i} changed"
            );
        }
        // The tree recomputed from the entries is the one the signed checkpoint commits to.
        assert_eq!(tree.root(), head.root);
        let cp = journal
            .verifier()
            .verify_checkpoint(&journal.latest_checkpoint())
            .unwrap();
        assert_eq!((cp.size, cp.root), (head.size, head.root));
        // The next append continues the chain, provably.
        let r = journal.append(&entry(&format!("parent-{round}"))).unwrap();
        assert_eq!(r.index, head.size);
        let new_head = journal.head();
        if head.size > 0 {
            let proof = journal.consistency_proof(head.size, new_head.size).unwrap();
            merkle::verify_consistency(
                head.size,
                new_head.size,
                &head.root,
                &new_head.root,
                &proof,
            )
            .unwrap();
        }
        acked.push((r.index, format!("parent-{round}")));
    }
    assert!(acked.len() as u64 >= ROUNDS * 2);
}
