//! `eidas-bridge journal replay|export|verify`: the auditor's commands.
//!
//! `replay` and `export` read the journal of a stopped bridge (the store is single-process:
//! sled locks its files); a running bridge serves the same through `JournalService`. `verify`
//! needs only the export file, and optionally a checkpoint the auditor kept; with `--recheck
//! --data DIR` it also re-runs every recorded trust decision against the trust snapshots and
//! certificate chains archived in that (stopped) bridge's store (`journal::recheck`).
//! Exit status: 0 valid / done, 1 the export is invalid or a recheck finding (divergence,
//! missing or altered archive material), 2 usage or input error (one line on stderr).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use serde_json::json;

use crate::journal::audit::{verify_export, VerifyReport};
use crate::journal::checkpoint::MAX_NOTE_LEN;
use crate::journal::export::{export, ExportError, ExportFile};
use crate::journal::keyfile::{journal_dir, read_verifier};
use crate::journal::recheck::{recheck as recheck_entries, RecheckFinding, RecheckReport};
use crate::journal::Replay;
use crate::journal::{JournalEntry, JournalStorage};
use crate::store::evidence::EvidenceStore;
use crate::store::journal::FileJournalStorage;
use crate::store::trust::TrustSnapshotStore;
use crate::store::Store;

/// Largest export `verify` reads into memory (2 GiB, about 8 million entries of a typical
/// 250 bytes with their framing); a larger export is refused rather than exhausting memory.
pub const MAX_EXPORT_BYTES: u64 = 2 << 30;

/// Journal subcommands.
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum JournalCommand {
    /// Print journal entries (one per line) from a stopped bridge's data directory.
    Replay {
        /// Bridge data directory.
        #[arg(long)]
        data: PathBuf,
        /// First index (inclusive).
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// Last index (exclusive); defaults to the end.
        #[arg(long)]
        to: Option<u64>,
    },
    /// Write a self-contained export (entries, checkpoints, public key) to a file.
    Export {
        /// Bridge data directory.
        #[arg(long)]
        data: PathBuf,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Verify an export offline: tree, checkpoint signatures, edits, deletions, reordering,
    /// truncation, and rollback against a kept checkpoint; with --recheck, every recorded trust
    /// decision against the archived trust snapshot in force at the time.
    Verify {
        /// The export file.
        file: PathBuf,
        /// A checkpoint note kept from earlier; the export must extend it.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// Re-run every recorded trust decision against the archived snapshot in force at the
        /// time, and report divergences (needs --data).
        #[arg(long, requires = "data")]
        recheck: bool,
        /// Data directory of the (stopped) bridge whose store archives the snapshots and chains.
        #[arg(long, requires = "recheck")]
        data: Option<PathBuf>,
    },
}

/// An input problem: exit status 2.
#[derive(Debug, thiserror::Error)]
enum InputError {
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::ErrorKind),
    #[error("{0}: larger than {1} bytes")]
    TooLarge(PathBuf, u64),
    #[error("{0}")]
    Journal(String),
}

/// Runs a journal subcommand; `json` prints one JSON object per line.
pub fn run(cmd: JournalCommand, json: bool) -> ExitCode {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    super::finish(execute(cmd, json, &mut out))
}

fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, InputError> {
    let io = |e: std::io::Error| InputError::Io(path.to_owned(), e.kind());
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > max {
        return Err(InputError::TooLarge(path.to_owned(), max));
    }
    std::fs::read(path).map_err(io)
}

fn execute(cmd: JournalCommand, json: bool, out: &mut dyn Write) -> Result<u8, InputError> {
    let wr = |e: std::io::Error| InputError::Io(PathBuf::from("stdout"), e.kind());
    match cmd {
        JournalCommand::Replay { data, from, to } => {
            let storage = open_storage(&data)?;
            let to = to.unwrap_or(u64::MAX).min(storage.len());
            let mut replay = Replay::new(storage, from, to);
            while let Some(item) = replay.next_raw() {
                let (index, bytes) = item.map_err(|e| InputError::Journal(e.to_string()))?;
                let line = match JournalEntry::decode(&bytes) {
                    Ok(e) => entry_json(index, &e),
                    Err(e) => json!({"index": index, "error": e.to_string()}),
                };
                if json {
                    writeln!(out, "{line}").map_err(wr)?;
                } else {
                    writeln!(out, "{}", entry_text(&line)).map_err(wr)?;
                }
            }
            Ok(0)
        }
        JournalCommand::Export { data, out: path } => {
            let storage = open_storage(&data)?;
            let verifier = read_verifier(&journal_dir(&data))
                .map_err(|e| InputError::Journal(e.to_string()))?;
            let io = |e: std::io::Error| InputError::Io(path.clone(), e.kind());
            let tmp = path.with_extension("partial");
            let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(io)?);
            let n = export(storage, &verifier, &mut f)
                .map_err(|e| InputError::Journal(e.to_string()))?;
            f.into_inner()
                .map_err(|e| io(e.into_error()))?
                .sync_all()
                .map_err(io)?;
            std::fs::rename(&tmp, &path).map_err(io)?;
            if json {
                writeln!(
                    out,
                    "{}",
                    json!({"entries": n, "out": path.display().to_string()})
                )
                .map_err(wr)?;
            } else {
                writeln!(out, "exported {n} entries to {}", path.display()).map_err(wr)?;
            }
            Ok(0)
        }
        JournalCommand::Verify {
            file,
            checkpoint,
            recheck,
            data,
        } => {
            let bytes = read_bounded(&file, MAX_EXPORT_BYTES)?;
            let kept =
                match &checkpoint {
                    Some(p) => {
                        let b = read_bounded(p, MAX_NOTE_LEN as u64)?;
                        Some(String::from_utf8(b).map_err(|_| {
                            InputError::Io(p.clone(), std::io::ErrorKind::InvalidData)
                        })?)
                    }
                    None => None,
                };
            // Open the archives before verifying, so a bad --data is an input error (status 2).
            let archives = match (recheck, &data) {
                (true, Some(d)) => Some(open_archives(d)?),
                (true, None) => {
                    return Err(InputError::Journal("--recheck needs --data DIR".into()))
                }
                _ => None,
            };
            match verify_export(&bytes, kept.as_deref()) {
                Ok(report) => {
                    let verified = print_report(&report, json, out).map_err(wr)?;
                    let Some((snapshots, evidence)) = archives else {
                        return Ok(verified);
                    };
                    let file = ExportFile::parse(&bytes)
                        .map_err(|e| InputError::Journal(e.to_string()))?;
                    let entries: Vec<(u64, JournalEntry)> = file
                        .records
                        .iter()
                        .filter_map(|r| Some((r.index, JournalEntry::decode(&r.entry).ok()?)))
                        .collect();
                    let rr = recheck_entries(
                        entries.iter().map(|(i, e)| (*i, e)),
                        &snapshots,
                        &evidence,
                    );
                    let rechecked = print_recheck(&rr, json, out).map_err(wr)?;
                    Ok(verified.max(rechecked))
                }
                Err(e @ (ExportError::BadMagic | ExportError::UnsupportedVersion(_))) => {
                    Err(InputError::Journal(format!("{}: {e}", file.display())))
                }
                Err(e) => {
                    if json {
                        writeln!(out, "{}", json!({"valid": false, "error": e.to_string()}))
                            .map_err(wr)?;
                    } else {
                        writeln!(out, "invalid: {e}").map_err(wr)?;
                    }
                    Ok(1)
                }
            }
        }
    }
}

fn open_archives(data: &Path) -> Result<(TrustSnapshotStore, EvidenceStore), InputError> {
    let store_dir = data.join("store");
    if !store_dir.is_dir() {
        return Err(InputError::Io(store_dir, std::io::ErrorKind::NotFound));
    }
    let store = Store::open(data).map_err(|e| InputError::Journal(e.to_string()))?;
    let snapshots = store
        .trust()
        .map_err(|e| InputError::Journal(e.to_string()))?;
    let evidence = store
        .evidence()
        .map_err(|e| InputError::Journal(e.to_string()))?;
    Ok((snapshots, evidence))
}

fn open_storage(data: &Path) -> Result<Arc<dyn JournalStorage>, InputError> {
    let dir = journal_dir(data);
    if !dir.is_dir() {
        return Err(InputError::Io(dir, std::io::ErrorKind::NotFound));
    }
    let s = FileJournalStorage::open(&dir).map_err(|e| InputError::Journal(e.to_string()))?;
    Ok(Arc::new(s))
}

fn entry_json(index: u64, e: &JournalEntry) -> serde_json::Value {
    json!({
        "index": index,
        "kind": e.kind.as_str(),
        "unix_nanos": e.unix_nanos,
        "message_id": e.message_id,
        "sender": e.sender,
        "recipient": e.recipient,
        "peer": e.peer,
        "payload_sha256": e.payload.map(|p| hex::encode(p.sha256)),
        "payload_size": e.payload.map(|p| p.size),
        "trust_snapshot": e.trust_snapshot.map(hex::encode),
        "reason": e.reason,
    })
}

fn entry_text(v: &serde_json::Value) -> String {
    let f = |k: &str| match &v[k] {
        serde_json::Value::Null => "-".to_owned(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    [
        "index",
        "kind",
        "unix_nanos",
        "message_id",
        "sender",
        "recipient",
        "peer",
        "payload_sha256",
        "reason",
    ]
    .iter()
    .map(|k| f(k))
    .collect::<Vec<_>>()
    .join("\t")
}

fn print_report(r: &VerifyReport, json: bool, out: &mut dyn Write) -> std::io::Result<u8> {
    let root = r.latest.as_ref().map(|c| hex::encode(c.root));
    let size = r.latest.as_ref().map(|c| c.size);
    if json {
        let findings: Vec<_> = r
            .findings
            .iter()
            .map(|f| json!({"finding": f.name(), "index": f.index(), "detail": format!("{f:?}")}))
            .collect();
        let v = json!({
            "valid": r.is_valid(), "entries": r.entries, "checkpoints": r.checkpoints,
            "size": size, "root": root, "first_bad_index": r.first_bad_index(), "findings": findings,
        });
        writeln!(out, "{v}")?;
    } else if r.is_valid() {
        writeln!(
            out,
            "valid: {} entries, {} checkpoints, root {}",
            r.entries,
            r.checkpoints,
            root.unwrap_or_default()
        )?;
    } else {
        match r.first_bad_index() {
            Some(i) => writeln!(out, "invalid: first bad entry {i}")?,
            None => writeln!(out, "invalid")?,
        }
        for f in &r.findings {
            match f.index() {
                Some(i) => writeln!(out, "  {} at {i}: {f:?}", f.name())?,
                None => writeln!(out, "  {}: {f:?}", f.name())?,
            }
        }
    }
    Ok(if r.is_valid() { 0 } else { 1 })
}

fn finding_json(f: &RecheckFinding) -> serde_json::Value {
    let mut v = json!({"finding": f.name(), "index": f.index()});
    match f {
        RecheckFinding::Divergence(d) => {
            v["kind"] = json!(d.kind.as_str());
            v["message_id"] = json!(d.message_id);
            v["decision"] = json!(d.decision.as_str());
            v["snapshot"] = json!(hex::encode(d.snapshot));
            v["recorded"] = json!(d.recorded.as_str());
            v["recheck"] = json!(d.recheck.as_str());
            v["reasons"] = json!(d.reasons.iter().map(|r| r.to_string()).collect::<Vec<_>>());
        }
        RecheckFinding::SnapshotMissing { snapshot, .. } => {
            v["snapshot"] = json!(hex::encode(snapshot));
        }
        RecheckFinding::ChainMissing { chain, .. } => v["chain"] = json!(hex::encode(chain)),
        RecheckFinding::ChainCorrupt { chain, error, .. } => {
            v["chain"] = json!(hex::encode(chain));
            v["error"] = json!(error.as_ref().map(|e| e.to_string()));
        }
        RecheckFinding::SnapshotSubstituted {
            snapshot, found, ..
        } => {
            v["snapshot"] = json!(hex::encode(snapshot));
            v["found"] = json!(hex::encode(found));
        }
        RecheckFinding::ArchiveUnreadable { error, .. } => v["error"] = json!(error.to_string()),
    }
    v
}

fn print_recheck(r: &RecheckReport, json: bool, out: &mut dyn Write) -> std::io::Result<u8> {
    if json {
        let findings: Vec<_> = r.findings.iter().map(finding_json).collect();
        let v = json!({
            "recheck": {
                "clean": r.is_clean(), "entries": r.entries, "rechecked": r.rechecked,
                "agreed": r.agreed, "skipped": r.skipped, "divergences": r.divergences().count(),
                "findings": findings,
            }
        });
        writeln!(out, "{v}")?;
    } else {
        writeln!(
            out,
            "recheck: {} decisions rechecked, {} agree, {} divergent, {} other findings",
            r.rechecked,
            r.agreed,
            r.divergences().count(),
            r.findings.len() - r.divergences().count()
        )?;
        for f in &r.findings {
            let v = finding_json(f);
            let detail: Vec<String> = v
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, _)| !matches!(k.as_str(), "finding" | "index"))
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            writeln!(out, "  {} at {}: {}", f.name(), f.index(), detail.join(" "))?;
        }
    }
    Ok(if r.is_clean() { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::keyfile::load_or_create_key;
    use crate::journal::{EntryKind, Journal, JournalConfig};

    fn data_with_journal(n: u64) -> tempfile::TempDir {
        let data = tempfile::tempdir().unwrap();
        append(data.path(), 0..n);
        data
    }

    fn append(data: &Path, range: std::ops::Range<u64>) {
        let dir = journal_dir(data);
        let key = load_or_create_key(&dir, "cli.test/journal").unwrap();
        let storage = Arc::new(FileJournalStorage::open(&dir).unwrap());
        let j = Journal::open(storage, key, &JournalConfig::default()).unwrap();
        for i in range {
            let e = JournalEntry {
                kind: EntryKind::Accepted,
                unix_nanos: i as i64,
                message_id: Some(format!("m{i}")),
                sender: None,
                recipient: None,
                peer: None,
                payload: None,
                trust_snapshot: None,
                evidence: None,
                reason: None,
            };
            j.append(&e).unwrap();
        }
    }

    fn exec(cmd: JournalCommand, json: bool) -> (Result<u8, String>, String) {
        let mut out = Vec::new();
        let r = execute(cmd, json, &mut out).map_err(|e| e.to_string());
        (r, String::from_utf8(out).unwrap())
    }

    #[test]
    fn replay_export_verify() {
        let data = data_with_journal(6);
        let (r, out) = exec(
            JournalCommand::Replay {
                data: data.path().into(),
                from: 2,
                to: Some(4),
            },
            true,
        );
        assert_eq!(r, Ok(0));
        let lines: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["message_id"], "m2");
        assert_eq!(lines[1]["kind"], "accepted");

        let file = data.path().join("export.bin");
        let (r, _) = exec(
            JournalCommand::Export {
                data: data.path().into(),
                out: file.clone(),
            },
            false,
        );
        assert_eq!(r, Ok(0));
        let (r, out) = exec(
            JournalCommand::Verify {
                file: file.clone(),
                checkpoint: None,
                recheck: false,
                data: None,
            },
            true,
        );
        assert_eq!(r, Ok(0), "{out}");
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(
            (v["valid"].as_bool(), v["entries"].as_u64()),
            (Some(true), Some(6))
        );

        let mut bytes = std::fs::read(&file).unwrap();
        bytes.truncate(bytes.len() - 3);
        std::fs::write(&file, &bytes).unwrap();
        let (r, out) = exec(
            JournalCommand::Verify {
                file,
                checkpoint: None,
                recheck: false,
                data: None,
            },
            false,
        );
        assert_eq!(r, Ok(1));
        assert!(out.starts_with("invalid: export truncated"), "{out}");
    }

    #[test]
    fn rollback_against_kept_checkpoint_is_status_1() {
        let data = data_with_journal(3);
        let old = data.path().join("old.bin");
        let (r, _) = exec(
            JournalCommand::Export {
                data: data.path().into(),
                out: old.clone(),
            },
            false,
        );
        assert_eq!(r, Ok(0));
        append(data.path(), 3..6);
        let kept = journal_dir(data.path()).join("checkpoint");
        let (r, out) = exec(
            JournalCommand::Verify {
                file: old,
                checkpoint: Some(kept),
                recheck: false,
                data: None,
            },
            true,
        );
        assert_eq!(r, Ok(1));
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(v["findings"][0]["finding"], "rolled_back");
        assert_eq!(v["first_bad_index"], 3);
    }

    /// A bridge data directory whose journal names an archived (empty) snapshot and chain in
    /// `kinds` entries; returns the export path and the two digests.
    fn recheck_fixture(data: &Path, kinds: &[EntryKind]) -> (PathBuf, [u8; 32], [u8; 32]) {
        use crate::journal::{Decision, Evidence};
        let (snapshot, chain) = {
            let store = Store::open(data).unwrap();
            let empty = trust_lists::Snapshot {
                at: time::OffsetDateTime::UNIX_EPOCH,
                entries: Vec::new(),
                reports: Vec::new(),
            };
            let snapshot = store.trust().unwrap().save(&empty).unwrap();
            let chain = store
                .evidence()
                .unwrap()
                .archive(&[vec![0x30, 0x01, 0x00]])
                .unwrap();
            (snapshot, chain)
        };
        {
            let dir = journal_dir(data);
            let key = load_or_create_key(&dir, "cli.test/journal").unwrap();
            let storage = Arc::new(FileJournalStorage::open(&dir).unwrap());
            let j = Journal::open(storage, key, &JournalConfig::default()).unwrap();
            for (i, kind) in kinds.iter().enumerate() {
                j.append(&JournalEntry {
                    kind: *kind,
                    unix_nanos: 1_780_000_000_000_000_000 + i as i64,
                    message_id: Some(format!("m{i}")),
                    sender: None,
                    recipient: None,
                    peer: Some("BE".into()),
                    payload: None,
                    trust_snapshot: Some(snapshot),
                    evidence: Some(Evidence {
                        decision: Decision::PeerTls,
                        chain,
                    }),
                    reason: (*kind == EntryKind::Failed).then(|| "peer_untrusted".into()),
                })
                .unwrap();
            }
        }
        let file = data.join("export.bin");
        let (r, _) = exec(
            JournalCommand::Export {
                data: data.into(),
                out: file.clone(),
            },
            false,
        );
        assert_eq!(r, Ok(0));
        (file, snapshot, chain)
    }

    fn verify_recheck(data: &Path, file: &Path) -> (Result<u8, String>, Vec<serde_json::Value>) {
        let (r, out) = exec(
            JournalCommand::Verify {
                file: file.into(),
                checkpoint: None,
                recheck: true,
                data: Some(data.into()),
            },
            true,
        );
        let lines = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (r, lines)
    }

    #[test]
    fn recheck_agreeing_journal_is_status_0() {
        let data = tempfile::tempdir().unwrap();
        let (file, _, _) = recheck_fixture(data.path(), &[EntryKind::Failed, EntryKind::Failed]);
        let (r, lines) = verify_recheck(data.path(), &file);
        assert_eq!(r, Ok(0), "{lines:?}");
        assert_eq!(lines[0]["valid"], true);
        let rc = &lines[1]["recheck"];
        assert_eq!(
            (rc["clean"].as_bool(), rc["rechecked"].as_u64()),
            (Some(true), Some(2))
        );
    }

    #[test]
    fn recheck_reports_divergence_and_altered_archives() {
        let data = tempfile::tempdir().unwrap();
        let kinds = [EntryKind::Failed, EntryKind::Received, EntryKind::Failed];
        let (file, snapshot, chain) = recheck_fixture(data.path(), &kinds);
        let (r, lines) = verify_recheck(data.path(), &file);
        assert_eq!(r, Ok(1));
        let f = &lines[1]["recheck"]["findings"];
        assert_eq!(f.as_array().unwrap().len(), 1, "{f}");
        assert_eq!(f[0]["finding"], "divergence");
        assert_eq!(f[0]["index"], 1);
        assert_eq!(f[0]["kind"], "received");
        assert_eq!(f[0]["message_id"], "m1");
        assert_eq!(f[0]["decision"], "peer_tls");
        assert_eq!(f[0]["snapshot"], hex::encode(snapshot));
        assert_eq!(
            (&f[0]["recorded"], &f[0]["recheck"]),
            (&json!("trusted"), &json!("untrusted"))
        );
        assert_eq!(f[0]["reasons"][0], "certificate 0 cannot be decoded");

        // Alter the archived chain: the recheck names it instead of trusting the altered bytes.
        {
            let store = Store::open(data.path()).unwrap();
            let chain_bytes = crate::journal::evidence::encode_chain(&[vec![0x30, 0x00]]).unwrap();
            store.evidence().unwrap().put_raw(chain, &chain_bytes);
            store.flush().unwrap();
        }
        let (r, lines) = verify_recheck(data.path(), &file);
        assert_eq!(r, Ok(1));
        let f = &lines[1]["recheck"]["findings"];
        assert_eq!(f[0]["finding"], "chain_corrupt", "{f}");
        assert_eq!(f[0]["chain"], hex::encode(chain));
        assert_eq!(lines[1]["recheck"]["rechecked"], 0);
    }

    #[test]
    fn recheck_without_a_store_is_status_2() {
        let data = tempfile::tempdir().unwrap();
        std::fs::write(data.path().join("x"), b"x").unwrap();
        let (r, _) = exec(
            JournalCommand::Verify {
                file: data.path().join("x"),
                checkpoint: None,
                recheck: true,
                data: Some(data.path().join("nope")),
            },
            false,
        );
        assert!(r.unwrap_err().contains("nope"));
    }

    #[test]
    fn recheck_and_data_require_each_other() {
        #[derive(clap::Parser, Debug)]
        struct Cli {
            #[command(subcommand)]
            cmd: JournalCommand,
        }
        use clap::Parser;
        assert!(Cli::try_parse_from(["j", "verify", "f"]).is_ok());
        assert!(Cli::try_parse_from(["j", "verify", "f", "--recheck"]).is_err());
        assert!(Cli::try_parse_from(["j", "verify", "f", "--data", "d"]).is_err());
        let cli = Cli::try_parse_from(["j", "verify", "f", "--recheck", "--data", "d"]).unwrap();
        assert_eq!(
            cli.cmd,
            JournalCommand::Verify {
                file: "f".into(),
                checkpoint: None,
                recheck: true,
                data: Some("d".into()),
            }
        );
    }

    #[test]
    fn input_errors_are_status_2() {
        let data = tempfile::tempdir().unwrap();
        let (r, _) = exec(
            JournalCommand::Replay {
                data: data.path().into(),
                from: 0,
                to: None,
            },
            false,
        );
        assert!(r.is_err());
        let f = data.path().join("x");
        std::fs::write(&f, b"not an export").unwrap();
        let (r, _) = exec(
            JournalCommand::Verify {
                file: f,
                checkpoint: None,
                recheck: false,
                data: None,
            },
            false,
        );
        assert!(r.unwrap_err().contains("not a journal export"));
    }
}
