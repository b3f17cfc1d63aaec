//! Journal benchmarks (custom harness, prints a table): `cargo bench -p eidas-bridge --bench journal`.
//!
//! 1. Raw fsync probe of the same disk: write 100 bytes + `fdatasync`, ops/s. This is the ceiling
//!    for one-append-per-sync; group commit is what beats it.
//! 2. Durable appends/s and p99 acknowledgement latency at 1, 16, 64 and 256 concurrent writers
//!    (default checkpoint policy: at most one signed checkpoint per second; one extra row signs a
//!    checkpoint at every group commit).
//! 3. Replay + full verification, one thread: read every entry from the segment, decode it,
//!    recompute the tree and compare with the signed checkpoint; and `verify_export` of an
//!    export in memory. The page cache is dropped first when permitted (root), else it says so.
//!
//! Everything runs under `CARGO_TARGET_TMPDIR` (on the same file system as the build).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eidas_bridge::journal::merkle::{leaf_hash, CompactRange};
use eidas_bridge::journal::{
    export, verify_export, EntryKind, Journal, JournalConfig, JournalEntry, JournalKey,
    JournalStorage, PayloadDigest, Replay,
};
use eidas_bridge::store::journal::FileJournalStorage;

const RUN_FOR: Duration = Duration::from_secs(3);
const REPLAY_ENTRIES: u64 = 300_000;

fn entry(i: u64) -> JournalEntry {
    JournalEntry {
        kind: EntryKind::Accepted,
        unix_nanos: 1_764_000_000_000_000_000 + i as i64,
        message_id: Some(format!("0f5c7a0e-3d2b-4b8e-9a55-{i:012}")),
        sender: Some("hcid:fr:rpps:810000000001".into()),
        recipient: Some("hcid:be:nihii:12345678901".into()),
        peer: Some("BE:bridge.ehealth.fgov.be".into()),
        payload: Some(PayloadDigest {
            sha256: [0x5a; 32],
            size: 48_213,
        }),
        trust_snapshot: Some([0x11; 32]),
        evidence: None,
        reason: None,
    }
}

fn base() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

fn fsync_probe() -> (f64, Duration, Duration) {
    let dir = base();
    let mut f = std::fs::File::create(dir.path().join("probe")).unwrap();
    let start = Instant::now();
    let mut lat = Vec::new();
    while start.elapsed() < RUN_FOR {
        let t = Instant::now();
        f.write_all(&[0x42; 100]).unwrap();
        f.sync_data().unwrap();
        lat.push(t.elapsed());
    }
    let rate = lat.len() as f64 / start.elapsed().as_secs_f64();
    lat.sort_unstable();
    (
        rate,
        lat[lat.len() / 2],
        lat[(lat.len() * 99 / 100).min(lat.len() - 1)],
    )
}

fn appends(writers: usize, interval: Duration) -> (f64, Duration, Duration, f64) {
    let dir = base();
    let key = JournalKey::generate("bench/journal").unwrap();
    let storage = Arc::new(FileJournalStorage::open(dir.path()).unwrap());
    let config = JournalConfig {
        checkpoint_interval: interval,
        ..JournalConfig::default()
    };
    let journal = Arc::new(Journal::open(storage, key, &config).unwrap());
    let start = Instant::now();
    let handles: Vec<_> = (0..writers)
        .map(|w| {
            let j = journal.clone();
            std::thread::spawn(move || {
                let mut lat = Vec::new();
                let mut i = w as u64 * 10_000_000;
                while start.elapsed() < RUN_FOR {
                    let e = entry(i);
                    let t = Instant::now();
                    j.append(&e).unwrap();
                    lat.push(t.elapsed());
                    i += 1;
                }
                lat
            })
        })
        .collect();
    let mut lat: Vec<Duration> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let elapsed = start.elapsed().as_secs_f64();
    let stats = journal.stats();
    let per_commit = stats.entries as f64 / stats.commits.max(1) as f64;
    lat.sort_unstable();
    let p = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
    (lat.len() as f64 / elapsed, p(0.5), p(0.99), per_commit)
}

fn drop_caches() -> bool {
    // Needs root; in an unprivileged container this fails and the run is reported as warm.
    std::fs::write("/proc/sys/vm/drop_caches", b"3").is_ok()
}

/// CPU time of the calling thread (Linux `schedstat`), so per-core rates hold on a loaded machine.
fn thread_cpu() -> Duration {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    Duration::from_nanos(
        s.split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    )
}

struct Rate {
    wall: f64,
    cpu: f64,
}

fn rate(n: u64, wall: Instant, cpu: Duration) -> Rate {
    let c = (thread_cpu() - cpu).as_secs_f64();
    Rate {
        wall: n as f64 / wall.elapsed().as_secs_f64(),
        cpu: if c > 0.0 { n as f64 / c } else { f64::NAN },
    }
}

fn replay_verify() -> (Rate, Rate, bool) {
    let dir = base();
    let key = JournalKey::generate("bench/journal").unwrap();
    let key_pem = key.to_pkcs8_pem().unwrap();
    // A first open writes the empty checkpoint, as in production; then bulk-load the entries.
    drop(Journal::open(
        Arc::new(FileJournalStorage::open(dir.path()).unwrap()),
        JournalKey::from_pkcs8_pem("bench/journal", &key_pem).unwrap(),
        &JournalConfig::default(),
    ));
    {
        let storage = FileJournalStorage::open(dir.path()).unwrap();
        let mut i = 0;
        while i < REPLAY_ENTRIES {
            let batch: Vec<Vec<u8>> = (i..(i + 1024).min(REPLAY_ENTRIES))
                .map(|k| entry(k).encode().unwrap())
                .collect();
            storage.append_durable(&batch).unwrap();
            i += batch.len() as u64;
        }
    }
    // Opening builds the node index and signs a checkpoint over everything.
    let storage = Arc::new(FileJournalStorage::open(dir.path()).unwrap());
    let journal = Journal::open(storage.clone(), key, &JournalConfig::default()).unwrap();
    let verifier = journal.verifier().clone();
    let note = journal.latest_checkpoint();
    drop(journal);
    let mut bytes = Vec::new();
    export(storage.clone(), &verifier, &mut bytes).unwrap();
    let cold = drop_caches();

    let (t, c) = (Instant::now(), thread_cpu());
    let cp = verifier.verify_checkpoint(&note).unwrap();
    let mut tree = CompactRange::new();
    let mut scratch = Vec::new();
    let mut replay = Replay::new(storage.clone(), 0, storage.len());
    while let Some(item) = replay.next_raw() {
        let (_, b) = item.unwrap();
        JournalEntry::decode(&b).unwrap();
        scratch.clear();
        tree.push(leaf_hash(&b), &mut scratch);
    }
    assert_eq!((tree.size(), tree.root()), (cp.size, cp.root));
    let replay_rate = rate(REPLAY_ENTRIES, t, c);

    let (t, c) = (Instant::now(), thread_cpu());
    let report = verify_export(&bytes, Some(&note)).unwrap();
    assert!(report.is_valid());
    let export_rate = rate(REPLAY_ENTRIES, t, c);
    (replay_rate, export_rate, cold)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run a short smoke.
    if !std::env::args().any(|a| a == "--bench") {
        println!("journal bench: run with `cargo bench -p eidas-bridge --bench journal`");
        return;
    }
    let (probe, p50, p99) = fsync_probe();
    println!(
        "raw fsync probe (100 B + fdatasync): {probe:.0} ops/s, p50 {:.2}ms, p99 {:.2}ms",
        ms(p50),
        ms(p99)
    );
    println!(
        "{:>8} {:>12} {:>10} {:>10} {:>14}  checkpoints",
        "writers", "appends/s", "p50", "p99", "entries/fsync"
    );
    for (w, interval) in [
        (1, Duration::from_secs(1)),
        (16, Duration::from_secs(1)),
        (64, Duration::from_secs(1)),
        (256, Duration::from_secs(1)),
        (64, Duration::ZERO),
    ] {
        let (rate, p50, p99, batch) = appends(w, interval);
        let cps = if interval.is_zero() {
            "every commit"
        } else {
            "<= 1/s"
        };
        println!(
            "{w:>8} {rate:>12.0} {:>8.2}ms {:>8.2}ms {batch:>14.1}  {cps}",
            ms(p50),
            ms(p99)
        );
    }
    let (replay, export, cold) = replay_verify();
    let cache = if cold {
        "cold cache"
    } else {
        "page cache not dropped (needs root)"
    };
    println!(
        "replay + decode + tree + checkpoint, 1 thread: {:>9.0} entries/s wall, {:>9.0} per CPU-second ({cache})",
        replay.wall, replay.cpu
    );
    println!(
        "verify_export in memory, 1 thread:            {:>9.0} entries/s wall, {:>9.0} per CPU-second",
        export.wall, export.cpu
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
