//! `eidas-bridge trust verify|load|show|check-cert` (DESIGN.md "Command line").
//!
//! `verify` checks single files against given signers or the certificates a LOTL announces for
//! each file's territory (`EU` for a LOTL or pivot). `load` walks the OJ anchors -> pivots -> LOTL
//! -> national lists and stores the snapshot in the data directory, where a stopped or starting
//! gateway finds it (the store is single-process: run it while the gateway is stopped). `show`
//! and `check-cert` read the stored snapshot. Exit status: 0 valid / trusted, 1 invalid /
//! untrusted / LOTL refused, 2 usage or input error (one line on stderr).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use openssl::x509::X509;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use trust_lists::{
    verify_list, walk, DirectorySource, ListKind, ListReport, Snapshot, StageState, TrustStore,
    TrustedList, Usage, WalkConfig, MAX_CHAIN_LEN, MAX_LIST_BYTES,
};

use crate::store::Store;
use crate::trust::{load_anchors, BridgeSource, FetchLimits, LotlLocation, OJ_2019_URI};

/// Largest PEM or DER certificate file read (a chain of [`MAX_CHAIN_LEN`] certificates of a few
/// KiB each fits many times over).
pub const MAX_CERT_FILE_BYTES: u64 = 1 << 20;

/// Trust subcommands.
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum TrustCommand {
    /// Verify trusted-list files: signature, structure, dates.
    Verify {
        /// The list files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// A certificate (PEM or DER) allowed to sign the files; repeatable.
        #[arg(long = "signer")]
        signers: Vec<PathBuf>,
        /// A LOTL whose announced certificates sign each file (by the file's own territory).
        #[arg(long)]
        lotl: Option<PathBuf>,
        /// Instant for the freshness check (RFC 3339); default now.
        #[arg(long)]
        at: Option<String>,
    },
    /// Walk the LOTL to every national list and store the snapshot.
    Load {
        /// The LOTL: a file, file:PATH or an https:// URL.
        #[arg(long)]
        lotl: String,
        /// Official Journal anchor certificates (PEM); default the embedded OJ 2019 set.
        #[arg(long = "signer")]
        signers: Vec<PathBuf>,
        /// OJ notice URI of the anchors (pivots older than it are not followed).
        #[arg(long, default_value = OJ_2019_URI)]
        oj_uri: String,
        /// Directory of lists matched by their content (territory and type read from each file).
        #[arg(long)]
        tl_dir: Option<PathBuf>,
        /// Bridge data directory.
        #[arg(long, default_value = crate::config::DEFAULT_DATA_DIR)]
        data: PathBuf,
        /// Instant of the walk (RFC 3339); default now.
        #[arg(long)]
        at: Option<String>,
    },
    /// List the services of the stored snapshot.
    Show {
        /// Only this territory (as the lists write it: EL for Greece).
        #[arg(long)]
        territory: Option<String>,
        /// Bridge data directory.
        #[arg(long, default_value = crate::config::DEFAULT_DATA_DIR)]
        data: PathBuf,
    },
    /// Validate a certificate chain (PEM, leaf first) against the stored snapshot.
    CheckCert {
        /// The chain file.
        chain: PathBuf,
        /// Instant of validation (RFC 3339); default now.
        #[arg(long)]
        at: Option<String>,
        /// Required usage; without it only the path and the service status are checked.
        #[arg(long, value_enum)]
        usage: Option<UsageArg>,
        /// Bridge data directory.
        #[arg(long, default_value = crate::config::DEFAULT_DATA_DIR)]
        data: PathBuf,
    },
}

/// `--usage` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UsageArg {
    /// Qualified electronic seal.
    Qseal,
    /// Qualified website authentication.
    Qwac,
    /// Qualified electronic signature.
    Esig,
    /// PID provider.
    Pid,
}

impl From<UsageArg> for Usage {
    fn from(u: UsageArg) -> Usage {
        match u {
            UsageArg::Qseal => Usage::QSeal,
            UsageArg::Qwac => Usage::Qwac,
            UsageArg::Esig => Usage::ESig,
            UsageArg::Pid => Usage::Pid,
        }
    }
}

/// An input problem: exit status 2.
#[derive(Debug, thiserror::Error)]
enum InputError {
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::ErrorKind),
    #[error("{0}: larger than {1} bytes")]
    TooLarge(PathBuf, u64),
    #[error("{0}: no certificate")]
    NoCertificate(PathBuf),
    #[error("--at {0:?} is not an RFC 3339 instant")]
    BadTime(String),
    #[error("give --signer or --lotl")]
    NoSigners,
    #[error("{0}")]
    Usage(String),
}

/// Runs a trust subcommand; `json` prints one JSON object per line.
pub fn run(cmd: TrustCommand, json: bool) -> ExitCode {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    super::finish(execute(cmd, json, &mut out))
}

fn execute(cmd: TrustCommand, json: bool, out: &mut dyn Write) -> Result<u8, InputError> {
    match cmd {
        TrustCommand::Verify {
            files,
            signers,
            lotl,
            at,
        } => verify(&files, &signers, lotl.as_deref(), at_or_now(at)?, json, out),
        TrustCommand::Load {
            lotl,
            signers,
            oj_uri,
            tl_dir,
            data,
            at,
        } => load(
            &lotl,
            &signers,
            oj_uri,
            tl_dir.as_deref(),
            &data,
            at_or_now(at)?,
            json,
            out,
        ),
        TrustCommand::Show { territory, data } => show(territory.as_deref(), &data, json, out),
        TrustCommand::CheckCert {
            chain,
            at,
            usage,
            data,
        } => check_cert(&chain, at_or_now(at)?, usage, &data, json, out),
    }
}

fn at_or_now(at: Option<String>) -> Result<OffsetDateTime, InputError> {
    match at {
        None => Ok(OffsetDateTime::now_utc()),
        Some(t) => OffsetDateTime::parse(&t, &Rfc3339).map_err(|_| InputError::BadTime(t)),
    }
}

fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, InputError> {
    let io = |e: std::io::Error| InputError::Io(path.to_owned(), e.kind());
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > max {
        return Err(InputError::TooLarge(path.to_owned(), max));
    }
    std::fs::read(path).map_err(io)
}

/// Certificates of a PEM file (or one DER certificate).
fn read_certs(path: &Path) -> Result<Vec<X509>, InputError> {
    let bytes = read_bounded(path, MAX_CERT_FILE_BYTES)?;
    let certs = match X509::stack_from_pem(&bytes) {
        Ok(c) if !c.is_empty() => c,
        _ => X509::from_der(&bytes).map(|c| vec![c]).unwrap_or_default(),
    };
    if certs.is_empty() {
        return Err(InputError::NoCertificate(path.to_owned()));
    }
    Ok(certs)
}

fn rfc3339(t: Option<OffsetDateTime>) -> Value {
    t.and_then(|t| t.format(&Rfc3339).ok())
        .map(Value::from)
        .unwrap_or(Value::Null)
}

fn emit(out: &mut dyn Write, json: bool, line: &Value, text: String) -> Result<(), InputError> {
    let r = if json {
        writeln!(out, "{line}")
    } else {
        writeln!(out, "{text}")
    };
    r.map_err(|e| InputError::Io(PathBuf::from("stdout"), e.kind()))
}

fn list_facts(line: &mut Value, list: &TrustedList, at: OffsetDateTime) {
    line["kind"] = if list.is_lotl() { "lotl" } else { "tl" }.into();
    line["territory"] = list.territory.clone().into();
    line["sequence"] = list.sequence.into();
    line["version"] = list.version.into();
    line["issued"] = rfc3339(Some(list.issue_date));
    line["next_update"] = rfc3339(list.next_update);
    line["expired"] = (!list.is_fresh_at(at)).into();
}

fn verify(
    files: &[PathBuf],
    signer_files: &[PathBuf],
    lotl: Option<&Path>,
    at: OffsetDateTime,
    json: bool,
    out: &mut dyn Write,
) -> Result<u8, InputError> {
    let mut signers = Vec::new();
    for f in signer_files {
        signers.extend(read_certs(f)?);
    }
    let lotl = match lotl {
        Some(p) => {
            let bytes = read_bounded(p, MAX_LIST_BYTES as u64)?;
            let list = trust_lists::parse_list(&bytes)
                .map_err(|e| InputError::Usage(format!("{}: {}", p.display(), e.code())))?;
            Some(list)
        }
        None => None,
    };
    if signers.is_empty() && lotl.is_none() {
        return Err(InputError::NoSigners);
    }
    let mut invalid = 0;
    for file in files {
        let bytes = read_bounded(file, MAX_LIST_BYTES as u64)?;
        let mut line = json!({"file": file.display().to_string()});
        let unverified = trust_lists::parse_list(&bytes);
        if let Ok(l) = &unverified {
            list_facts(&mut line, l, at);
        }
        // The candidates: the given signers, plus what the LOTL announces for this file.
        let mut candidates = signers.clone();
        if let (Some(lotl), Ok(l)) = (&lotl, &unverified) {
            let territory = if l.is_lotl() {
                "EU"
            } else {
                l.territory.as_str()
            };
            candidates.extend(lotl.announced_signers(territory));
        }
        let result = match &unverified {
            Err(e) => Err(e.clone()),
            Ok(_) if candidates.is_empty() => {
                Err(trust_lists::SignatureErrorKind::SignerNotAnnounced.into())
            }
            Ok(_) => verify_list(&bytes, &candidates),
        };
        let text = match result {
            Ok(v) => {
                list_facts(&mut line, &v.list, at);
                line["signature"] = "valid".into();
                line["signer"] = v.signature.signer_subject().into();
                line["xades_matches_version"] = v.xades_matches_version().into();
                format!(
                    "{}: valid ({} seq {}), signed by {}",
                    file.display(),
                    v.list.territory,
                    v.list.sequence,
                    v.signature.signer_subject()
                )
            }
            Err(e) => {
                invalid += 1;
                line["signature"] = "invalid".into();
                line["signer"] = Value::Null;
                line["error"] = e.code().into();
                line["message"] = e.to_string().into();
                format!("{}: invalid: {} ({})", file.display(), e.code(), e)
            }
        };
        emit(out, json, &line, text)?;
    }
    Ok(u8::from(invalid > 0))
}

fn report_line(r: &ListReport) -> (Value, String) {
    let state = |s: StageState| match s {
        StageState::Skipped => "skipped",
        StageState::Ok => "ok",
        StageState::Unchanged => "unchanged",
        StageState::Failed => "failed",
    };
    let kind = match r.kind {
        ListKind::Pivot => "pivot",
        ListKind::Lotl => "lotl",
        ListKind::Tl => "tl",
    };
    let line = json!({
        "kind": kind,
        "territory": r.territory,
        "location": r.location,
        "sequence": r.sequence,
        "issued": rfc3339(r.issued),
        "next_update": rfc3339(r.next_update),
        "fetch": state(r.fetch),
        "parse": state(r.parse),
        "signature": state(r.signature),
        "fresh": r.fresh,
        "signer": r.signer,
        "error": r.error,
        "kept_previous": r.kept_previous,
    });
    let text = format!(
        "{kind:5} {:2} seq {:>4} signature {:9} {}{}",
        r.territory,
        r.sequence
            .map(|s| s.to_string())
            .unwrap_or_else(|| "-".into()),
        state(r.signature),
        match (r.sequence, r.fresh) {
            (None, _) => "",
            (Some(_), true) => "fresh",
            (Some(_), false) => "expired",
        },
        r.error
            .as_ref()
            .map(|e| format!(" error {e}"))
            .unwrap_or_default()
    );
    (line, text)
}

#[allow(clippy::too_many_arguments)] // one per command-line option
fn load(
    lotl: &str,
    signer_files: &[PathBuf],
    oj_uri: String,
    tl_dir: Option<&Path>,
    data: &Path,
    at: OffsetDateTime,
    json: bool,
    out: &mut dyn Write,
) -> Result<u8, InputError> {
    let location = LotlLocation::parse(lotl)
        .ok_or_else(|| InputError::Usage(format!("--lotl {lotl:?}: a file or an https:// URL")))?;
    let anchors = load_anchors(signer_files).map_err(InputError::Usage)?;
    let dir = match tl_dir {
        Some(d) => Some(
            DirectorySource::open(d)
                .map_err(|e| InputError::Usage(format!("{}: {e}", d.display())))?,
        ),
        None => None,
    };
    let store = open_store(data, true)?;
    let snapshots = store
        .trust()
        .map_err(|e| InputError::Usage(e.to_string()))?;
    let previous = snapshots.current().ok().flatten();
    let source = BridgeSource::new(
        location.clone(),
        dir,
        FetchLimits {
            timeout: crate::config::DEFAULT_TRUST_FETCH_TIMEOUT,
            max_bytes: crate::config::DEFAULT_TRUST_MAX_LIST_BYTES,
        },
        true,
    );
    let config = WalkConfig {
        anchors,
        lotl_location: location.as_text(),
        oj_uri: Some(oj_uri),
    };
    let snapshot = walk(&source, &config, at, previous.as_ref());
    for r in &snapshot.reports {
        let (line, text) = report_line(r);
        emit(out, json, &line, text)?;
    }
    let lotl_failed = crate::trust::lotl_error(&snapshot).is_some();
    if snapshot.lotl().is_none() {
        return Ok(1);
    }
    let digest = snapshots
        .save(&snapshot)
        .map_err(|e| InputError::Usage(format!("store: {e}")))?;
    let services = TrustStore::from(&snapshot).service_count();
    let summary = json!({
        "snapshot": hex::encode(digest),
        "lists": snapshot.entries.len(),
        "services": services,
        "stored": data.display().to_string(),
    });
    let text = format!(
        "snapshot {} stored: {} lists, {} services",
        hex::encode(digest),
        snapshot.entries.len(),
        services
    );
    emit(out, json, &summary, text)?;
    Ok(u8::from(lotl_failed))
}

fn open_store(data: &Path, create: bool) -> Result<Store, InputError> {
    if !create && !data.is_dir() {
        return Err(InputError::Io(
            data.to_owned(),
            std::io::ErrorKind::NotFound,
        ));
    }
    Store::open(data).map_err(|e| InputError::Usage(e.to_string()))
}

fn stored_snapshot(data: &Path) -> Result<Snapshot, InputError> {
    let store = open_store(data, false)?;
    store
        .trust()
        .and_then(|t| t.current())
        .map_err(|e| InputError::Usage(e.to_string()))?
        .ok_or_else(|| {
            InputError::Usage(format!(
                "no trust snapshot stored in {}; run `eidas-bridge trust load`",
                data.display()
            ))
        })
}

fn show(
    territory: Option<&str>,
    data: &Path,
    json: bool,
    out: &mut dyn Write,
) -> Result<u8, InputError> {
    let snapshot = stored_snapshot(data)?;
    let now = OffsetDateTime::now_utc();
    for list in snapshot.national_lists() {
        if territory.is_some_and(|t| t != list.territory) {
            continue;
        }
        for tsp in &list.providers {
            for svc in &tsp.services {
                let status = svc.status_at(now).or(svc.history.first());
                let line = json!({
                    "territory": list.territory,
                    "tsp": tsp.name,
                    "service": svc.name,
                    "type": status.map(|s| s.service_type.clone()),
                    "status": status.map(|s| s.status.clone()),
                    "since": rfc3339(status.map(|s| s.start)),
                    "certificates": svc.certificates.len(),
                });
                let text = format!(
                    "{} | {} | {} | {} | {}",
                    list.territory,
                    tsp.name,
                    svc.name,
                    status.map(|s| s.service_type.as_str()).unwrap_or("-"),
                    status.map(|s| s.status.as_str()).unwrap_or("-"),
                );
                emit(out, json, &line, text)?;
            }
        }
    }
    Ok(0)
}

fn check_cert(
    chain: &Path,
    at: OffsetDateTime,
    usage: Option<UsageArg>,
    data: &Path,
    json: bool,
    out: &mut dyn Write,
) -> Result<u8, InputError> {
    let certs = read_certs(chain)?;
    if certs.len() > MAX_CHAIN_LEN {
        return Err(InputError::Usage(format!(
            "{}: more than {MAX_CHAIN_LEN} certificates",
            chain.display()
        )));
    }
    let ders: Vec<Vec<u8>> = certs.iter().filter_map(|c| c.to_der().ok()).collect();
    let snapshot = stored_snapshot(data)?;
    let store = TrustStore::from(&snapshot);
    let r = store.validate(&ders, at, usage.map_or(Usage::Any, Usage::from));
    let line = json!({
        "file": chain.display().to_string(),
        "trusted": r.trusted,
        "qualified": r.qualified,
        "tsp": r.tsp,
        "service": r.service,
        "service_type": r.service_type,
        "status": r.status,
        "territory": r.territory,
        "cert_type": r.cert_type,
        "qscd": r.qscd,
        "reasons": r.reasons.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "at": rfc3339(Some(at)),
        "snapshot": hex::encode(snapshot.digest()),
    });
    let text = format!(
        "{}: {}{} {}",
        chain.display(),
        if r.trusted { "trusted" } else { "untrusted" },
        if r.qualified { ", qualified" } else { "" },
        match (&r.tsp, &r.territory) {
            (Some(t), Some(c)) => format!("by {t} ({c})"),
            _ => r
                .reasons
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        }
    );
    emit(out, json, &line, text)?;
    Ok(u8::from(!r.trusted))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_to_vec(cmd: TrustCommand) -> (Result<u8, InputError>, String) {
        let mut out = Vec::new();
        let r = execute(cmd, true, &mut out);
        (r, String::from_utf8(out).unwrap())
    }

    #[test]
    fn input_errors_are_reported_not_guessed() {
        let (r, _) = run_to_vec(TrustCommand::Verify {
            files: vec![PathBuf::from("x.xml")],
            signers: Vec::new(),
            lotl: None,
            at: None,
        });
        assert!(matches!(r, Err(InputError::NoSigners)));
        let (r, _) = run_to_vec(TrustCommand::Verify {
            files: vec![PathBuf::from("x.xml")],
            signers: Vec::new(),
            lotl: None,
            at: Some("tomorrow".into()),
        });
        assert!(matches!(r, Err(InputError::BadTime(t)) if t == "tomorrow"));
        let dir = tempfile::tempdir().unwrap();
        let pem = dir.path().join("empty.pem");
        std::fs::write(&pem, b"not a certificate").unwrap();
        assert!(matches!(
            read_certs(&pem),
            Err(InputError::NoCertificate(_))
        ));
        let (r, _) = run_to_vec(TrustCommand::Show {
            territory: None,
            data: dir.path().join("absent"),
        });
        assert!(matches!(
            r,
            Err(InputError::Io(_, std::io::ErrorKind::NotFound))
        ));
        let (r, _) = run_to_vec(TrustCommand::Load {
            lotl: "http://ec.europa.eu/tools/lotl/eu-lotl.xml".into(),
            signers: Vec::new(),
            oj_uri: OJ_2019_URI.into(),
            tl_dir: None,
            data: dir.path().join("data"),
            at: None,
        });
        assert!(matches!(r, Err(InputError::Usage(_))), "plain http refused");
    }

    #[test]
    fn empty_store_has_no_snapshot_to_show() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path()).unwrap());
        let (r, out) = run_to_vec(TrustCommand::Show {
            territory: None,
            data: dir.path().to_owned(),
        });
        assert!(matches!(r, Err(InputError::Usage(m)) if m.contains("no trust snapshot")));
        assert!(out.is_empty());
    }
}
