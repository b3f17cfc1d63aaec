//! The walk (TS 119 612 annex D and the OJ pivot mechanism, as DSS does it; specs/trust-lists.md
//! clause 7.1): Official Journal anchors -> pivot LOTLs, oldest first -> the current LOTL ->
//! each national list, verified with the certificates the LOTL announces for its territory.
//!
//! Unchanged lists (same raw or canonical digest, same announced signer) are not re-verified,
//! and a list whose refresh fails keeps its previous good version: a failed refresh never
//! empties the trust store.

use std::sync::Arc;

use openssl::x509::X509;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::error::{Error, ParseErrorKind};
use crate::snapshot::{
    canonical_digest_of, subject_of, ListKind, ListReport, Snapshot, SnapshotEntry, StageState,
};
use crate::source::{pivot_sequence, ListRequest, ListSource};
use crate::tsl::{TrustedList, TSL_TYPE_EU_LOTL};

/// Most pivots followed: the LOTL lists 5 today (282 to 378) after six years; 64 bounds the
/// work of a hostile list.
pub const MAX_PIVOTS: usize = 64;

/// MIME type of XML lists in `OtherTSLPointer` (TS 119 612 clause 5.3.13; the PDF form is skipped).
const XML_MIME: &str = "application/vnd.etsi.tsl+xml";

/// Where the walk starts.
#[derive(Debug, Clone)]
pub struct WalkConfig {
    /// The Official Journal anchor certificates (the LOTL signing certificates announced in
    /// the OJ notice named by `oj_uri`).
    pub anchors: Vec<X509>,
    /// Location of the LOTL, passed to the source.
    pub lotl_location: String,
    /// URI of the OJ notice that published `anchors`: pivots listed after it in the LOTL's
    /// `SchemeInformationURI` are older than the anchors and are not followed. `None`
    /// follows every pivot listed.
    pub oj_uri: Option<String>,
}

/// Walks from the anchors to every national list at instant `at`. `previous` is the last good
/// snapshot: its unchanged lists are reused and its lists are kept when a refresh fails.
pub fn walk(
    source: &dyn ListSource,
    config: &WalkConfig,
    at: OffsetDateTime,
    previous: Option<&Snapshot>,
) -> Snapshot {
    let mut reports = Vec::new();
    let mut entries = Vec::new();
    let lotl_req = ListRequest {
        location: &config.lotl_location,
        territory: "EU",
        lotl: true,
        sequence: None,
    };

    // 1. Read the LOTL unverified, only to learn its pivots (from the previous snapshot when
    //    the bytes are unchanged).
    let lotl_bytes = source.fetch(&lotl_req);
    let pivots: Vec<(String, u64)> = match lotl_bytes.as_ref() {
        Ok(b) => {
            let raw = openssl::sha::sha256(b);
            let known = previous.and_then(|p| {
                p.entries
                    .iter()
                    .find(|e| e.kind == ListKind::Lotl && e.raw_digest == raw)
                    .map(|e| e.list.clone())
            });
            match known
                .map(Ok)
                .unwrap_or_else(|| crate::list::parse_list(b).map(Arc::new))
            {
                Ok(l) => pivot_uris(&l, config.oj_uri.as_deref()),
                Err(_) => Vec::new(),
            }
        }
        Err(_) => Vec::new(),
    };

    // 2. Pivots, oldest first: each one's EU pointer certificates sign the next.
    let mut signers = config.anchors.clone();
    for (uri, seq) in &pivots {
        let req = ListRequest {
            location: uri,
            territory: "EU",
            lotl: true,
            sequence: Some(*seq),
        };
        let (entry, report) = process(
            ListKind::Pivot,
            &req,
            source.fetch(&req),
            &signers,
            at,
            previous,
        );
        reports.push(report);
        if let Some(e) = entry {
            signers = announced(&e.list, "EU");
            entries.push(e);
        }
    }

    // 3. The LOTL itself. If it fails, the previous snapshot's lists all stay.
    let (lotl, report) = process(
        ListKind::Lotl,
        &lotl_req,
        lotl_bytes,
        &signers,
        at,
        previous,
    );
    reports.push(report);
    let Some(lotl) = lotl else {
        if let Some(prev) = previous {
            if let Some(r) = reports.last_mut() {
                r.kept_previous = true;
            }
            // The national lists of the previous snapshot stay, reported as kept.
            reports.extend(
                prev.reports
                    .iter()
                    .filter(|r| r.kind == ListKind::Tl)
                    .map(|r| ListReport {
                        kept_previous: true,
                        ..r.clone()
                    }),
            );
            return Snapshot {
                at,
                entries: prev.entries.clone(),
                reports,
            };
        }
        return Snapshot {
            at,
            entries,
            reports,
        };
    };

    // 4. National lists, with the certificates the LOTL announces for each territory.
    let mut seen: Vec<&str> = Vec::new();
    for p in &lotl.list.pointers {
        let Some(territory) = p.territory.as_deref() else {
            continue;
        };
        let is_xml = p.mime_type.as_deref().is_none_or(|m| m == XML_MIME);
        if territory == "EU"
            || p.tsl_type.as_deref() == Some(TSL_TYPE_EU_LOTL)
            || !is_xml
            || seen.contains(&territory)
        {
            continue;
        }
        seen.push(territory);
        let tl_signers = announced(&lotl.list, territory);
        let req = ListRequest {
            location: &p.location,
            territory,
            lotl: false,
            sequence: None,
        };
        let (entry, mut report) = process(
            ListKind::Tl,
            &req,
            source.fetch(&req),
            &tl_signers,
            at,
            previous,
        );
        match entry {
            Some(e) => entries.push(e),
            None => {
                let kept = previous.and_then(|prev| {
                    prev.entries
                        .iter()
                        .find(|e| e.kind == ListKind::Tl && e.list.territory == territory)
                });
                if let Some(k) = kept {
                    report.kept_previous = true;
                    entries.push(k.clone());
                }
            }
        }
        reports.push(report);
    }
    entries.push(lotl);
    Snapshot {
        at,
        entries,
        reports,
    }
}

/// Pivot URIs of a LOTL with their sequence numbers, oldest first, stopping at the OJ URI.
fn pivot_uris(lotl: &TrustedList, oj_uri: Option<&str>) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for uri in &lotl.scheme_information_uris {
        if Some(uri.as_str()) == oj_uri {
            break;
        }
        if let Some(seq) = pivot_sequence(uri).filter(|s| *s < lotl.sequence) {
            out.push((uri.clone(), seq));
        }
    }
    out.truncate(MAX_PIVOTS);
    out.reverse();
    out
}

/// Certificates a list announces for a territory.
fn announced(list: &TrustedList, territory: &str) -> Vec<X509> {
    list.announced_signers(territory)
}

/// Fetches, parses and verifies one list, reusing a previous entry when unchanged.
fn process(
    kind: ListKind,
    req: &ListRequest<'_>,
    fetched: Result<Vec<u8>, crate::source::SourceErrorKind>,
    signers: &[X509],
    at: OffsetDateTime,
    previous: Option<&Snapshot>,
) -> (Option<SnapshotEntry>, ListReport) {
    let mut report = ListReport {
        kind,
        territory: req.territory.to_string(),
        location: req.location.to_string(),
        fetch: StageState::Failed,
        parse: StageState::Skipped,
        signature: StageState::Skipped,
        sequence: None,
        issued: None,
        next_update: None,
        fresh: false,
        signer: None,
        error: None,
        kept_previous: false,
        input_digest: None,
    };
    let bytes = match fetched {
        Ok(b) => b,
        Err(e) => {
            report.error = Some(format!("source.{}", source_code(&e)));
            return (None, report);
        }
    };
    report.fetch = StageState::Ok;
    let signer_ders: Vec<Vec<u8>> = signers.iter().filter_map(|s| s.to_der().ok()).collect();
    let reusable = |e: &&SnapshotEntry| e.kind == kind && signer_ders.contains(&e.signer);

    // openssl's SHA-256 (assembly, SHA extensions) hashes the 13 MB corpus several times faster.
    // Fast path: byte-identical to a previous entry signed by a still-announced certificate.
    let raw = openssl::sha::sha256(&bytes);
    let input = input_digest(&raw, &signer_ders);
    report.input_digest = Some(input.clone());
    // Same bytes and same announced signers as a refused list of the previous walk: same refusal.
    if let Some(prev) = previous.and_then(|p| {
        p.reports.iter().find(|r| {
            r.kind == kind && r.error.is_some() && r.input_digest.as_deref() == Some(input.as_str())
        })
    }) {
        let mut r = prev.clone();
        r.kept_previous = false;
        return (None, r);
    }
    if let Some(prev) = previous.and_then(|p| {
        p.entries
            .iter()
            .filter(reusable)
            .find(|e| e.raw_digest == raw)
    }) {
        fill(&mut report, &prev.list, at, StageState::Unchanged);
        report.signer = X509::from_der(&prev.signer).ok().map(|c| subject_of(&c));
        return (Some(prev.clone()), report);
    }

    // Slow path: parse once; the canonical digest is computed only when a previous entry of the
    // same role and territory could match it, or for the new entry.
    let text = match crate::xml::decode(&bytes) {
        Ok(t) => t,
        Err(e) => return fail(report, Error::from(e), None),
    };
    let doc = match crate::xml::parse(text) {
        Ok(d) => d,
        Err(e) => return fail(report, Error::from(e), None),
    };
    report.parse = StageState::Ok;
    let same_role = |e: &&SnapshotEntry| {
        reusable(e) && (kind == ListKind::Pivot || e.list.territory == req.territory)
    };
    let candidates: Vec<&SnapshotEntry> = previous
        .map(|p| p.entries.iter().filter(same_role).collect())
        .unwrap_or_default();
    let mut canonical = None;
    if !candidates.is_empty() {
        let digest = canonical_digest_of(&doc);
        if let Some(prev) = candidates.iter().find(|e| e.canonical_digest == digest) {
            let mut e = (*prev).clone();
            e.raw_digest = raw;
            e.bytes = bytes.as_slice().into();
            fill(&mut report, &e.list, at, StageState::Unchanged);
            report.signer = X509::from_der(&e.signer).ok().map(|c| subject_of(&c));
            return (Some(e), report);
        }
        canonical = Some(digest);
    }
    let list = match crate::tsl::parse_root(doc.root_element()) {
        Ok(l) => l,
        Err(e) => {
            report.parse = StageState::Failed;
            return fail(report, Error::from(e), None);
        }
    };
    if let Err(e) = check_kind(kind, req, &list) {
        return fail(report, Error::from(e), Some(&list));
    }
    let sig = match crate::xmldsig::verify(&doc, signers) {
        Ok(s) => s,
        Err(e) => return fail(report, Error::from(e), Some(&list)),
    };
    let entry = SnapshotEntry {
        kind,
        raw_digest: raw,
        canonical_digest: canonical.unwrap_or_else(|| canonical_digest_of(&doc)),
        list: Arc::new(list),
        signer: sig.signer.to_der().unwrap_or_default(),
        bytes: bytes.as_slice().into(),
    };
    fill(&mut report, &entry.list, at, StageState::Ok);
    report.signer = Some(sig.signer_subject());
    (Some(entry), report)
}

/// SHA-256 over the raw digest and the sorted signer certificates, hex.
fn input_digest(raw: &[u8; 32], signers: &[Vec<u8>]) -> String {
    let mut ders: Vec<&Vec<u8>> = signers.iter().collect();
    ders.sort();
    let mut h = Sha256::new();
    h.update(raw);
    for d in ders {
        h.update(Sha256::digest(d));
    }
    hex::encode(h.finalize())
}

/// Records a failure, with the list's dates when it was parsed.
fn fail(
    mut report: ListReport,
    err: Error,
    list: Option<&TrustedList>,
) -> (Option<SnapshotEntry>, ListReport) {
    if report.parse == StageState::Skipped {
        report.parse = StageState::Failed;
    }
    if let Some(l) = list {
        report.signature = StageState::Failed;
        report.sequence = Some(l.sequence);
        report.issued = Some(l.issue_date);
        report.next_update = l.next_update;
    }
    report.error = Some(err.code());
    tracing::debug!(tl.territory = %report.territory, error = %err, "list refused");
    (None, report)
}

/// The list is what its pointer announced: a LOTL for pivots and the LOTL, a list of the
/// announced territory otherwise.
fn check_kind(
    kind: ListKind,
    req: &ListRequest<'_>,
    list: &TrustedList,
) -> Result<(), ParseErrorKind> {
    match kind {
        ListKind::Pivot | ListKind::Lotl if !list.is_lotl() => Err(ParseErrorKind::NotALotl),
        ListKind::Tl if list.territory != req.territory => Err(ParseErrorKind::TerritoryMismatch {
            expected: req.territory.to_string(),
            found: list.territory.clone(),
        }),
        _ => Ok(()),
    }
}

fn fill(report: &mut ListReport, list: &TrustedList, at: OffsetDateTime, state: StageState) {
    tracing::debug!(tl.territory = %list.territory, tl.sequence = list.sequence, state = ?state, "list accepted");
    report.parse = state;
    report.signature = state;
    report.territory.clone_from(&list.territory);
    report.sequence = Some(list.sequence);
    report.issued = Some(list.issue_date);
    report.next_update = list.next_update;
    report.fresh = list.is_fresh_at(at);
}

fn source_code(e: &crate::source::SourceErrorKind) -> &'static str {
    match e {
        crate::source::SourceErrorKind::NotFound { .. } => "NotFound",
        _ => "Unavailable",
    }
}
