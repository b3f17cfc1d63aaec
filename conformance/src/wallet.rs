//! `conformance wallet DIR`: runs every wallet-identity vector under DIR (recursively) in the
//! format of `shared/corpus/wallet/README.md` and reports one JSON line per case
//! (`{"id","expected","got","pass"}`) and a closing `N passed, M failed` line.
//!
//! The verifier is configured only from each vector's `verifier_params`; `now` is the vector's, never
//! the clock. A reject passes whatever the reason (the corpus contract is accept vs reject); the
//! exact reason of every negative vector is asserted by `conformance/tests/wallet.rs`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use eidas_bridge::identity::{
    jwk_thumbprint_sha256, jwk_to_public_key, openid4vp_session_transcript, verify_device_response,
    verify_sd_jwt, DeviceAuthCheck, Handover, IdentityError, IssuerKeys, KeyBindingPolicy,
    MdocPolicy, PemTrustAnchors, SdAlg, SdJwtPolicy, StaticStatusLists, StatusList,
    VerifiedDocument, DEFAULT_KB_MAX_AGE_S,
};
use serde_json::{json, Map, Value};

use crate::case::{annotate_line, tally, CaseResult, Expectations};

/// What a case produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Got {
    /// The verifier accepted (and, where the vector gives them, the claims matched).
    Accepted,
    /// The verifier accepted but the claims differ from the expected ones.
    WrongClaims,
    /// The verifier rejected.
    Rejected(IdentityError),
    /// A decode / compute case matched its expected values.
    Matched,
    /// A decode / compute case did not match.
    Mismatch(String),
    /// The vector itself could not be read or configured.
    Harness(String),
}

impl Got {
    fn label(&self) -> String {
        match self {
            Got::Accepted => "accept".into(),
            Got::WrongClaims => "accept (claims differ)".into(),
            Got::Rejected(e) => format!("reject ({})", e.code()),
            Got::Matched => "match".into(),
            Got::Mismatch(w) => format!("mismatch ({w})"),
            Got::Harness(w) => format!("harness error ({w})"),
        }
    }
}

/// The outcome of one vector.
#[derive(Debug, Clone)]
pub struct CaseOutcome {
    /// Vector id.
    pub id: String,
    /// Vector file.
    pub file: PathBuf,
    /// `expected.result` of the vector.
    pub expected: String,
    /// What the verifier did.
    pub got: Got,
    /// Whether the outcome meets the expectation.
    pub pass: bool,
}

/// Suite name in reports and in the expectations file.
pub const SUITE: &str = "wallet";

impl CaseOutcome {
    /// The common result of this outcome.
    pub fn to_case_result(&self) -> CaseResult {
        CaseResult {
            suite: SUITE.into(),
            id: self.id.clone(),
            expected: self.expected.clone(),
            actual: self.got.label(),
            pass: self.pass,
            note: None,
        }
    }
}

/// Runs every vector under `dir` (sorted by path), one result per vector; the note is the
/// vector's file relative to `dir`.
///
/// # Errors
/// When `dir` cannot be listed.
pub fn run_corpus(dir: &Path) -> std::io::Result<Vec<CaseResult>> {
    Ok(collect_vectors(dir)?
        .iter()
        .map(|f| {
            let mut r = run_case(f).to_case_result();
            // The vector's file, relative to the corpus folder, says which family it belongs to.
            r.note = Some(f.strip_prefix(dir).unwrap_or(f).display().to_string());
            r
        })
        .collect())
}

/// Every `*.json` file under `dir`, recursively, sorted; MANIFEST and README are not vectors.
pub fn collect_vectors(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let p = entry?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "json") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Runs the vector in `path`.
pub fn run_case(path: &Path) -> CaseOutcome {
    let text = std::fs::read_to_string(path);
    let v: Value = match text
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(v) => v,
        Err(e) => {
            return CaseOutcome {
                id: path.display().to_string(),
                file: path.into(),
                expected: String::new(),
                got: Got::Harness(e),
                pass: false,
            }
        }
    };
    let id = v["id"].as_str().unwrap_or_default().to_owned();
    let expected = v["expected"]["result"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let alternative = v["expected"]["alternative"].as_str();
    let got = match v["kind"].as_str() {
        Some("sd-jwt" | "sd-jwt-vc") => run_sd_jwt(&v),
        Some("status-list") => run_status_list(&v),
        Some("session-transcript") => run_session_transcript(&v),
        Some("mdoc") => run_mdoc(&v),
        other => Got::Harness(format!("unknown kind {other:?}")),
    };
    let meets = |want: &str| {
        matches!(
            (want, &got),
            ("accept", Got::Accepted)
                | ("reject", Got::Rejected(_))
                | ("decode" | "compute", Got::Matched)
        )
    };
    let pass = meets(&expected) || alternative.is_some_and(meets);
    CaseOutcome {
        id,
        file: path.into(),
        expected,
        got,
        pass,
    }
}

fn harness(what: &str) -> Got {
    Got::Harness(what.to_owned())
}

fn anchors(p: &Value) -> Option<Result<PemTrustAnchors, Got>> {
    let list = p.get("trust_anchors_pem")?.as_array()?;
    let pems: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
    Some(PemTrustAnchors::from_pem(&pems).map_err(|e| Got::Harness(e.to_string())))
}

/// Issuer keys of a vector: `issuer_public_jwks`, or the `jwks.keys` of inline JWT VC Issuer
/// Metadata (SD-JWT VC section 5) under any parameter.
fn issuer_jwks(p: &Value) -> Vec<Value> {
    if let Some(list) = p["issuer_public_jwks"].as_array() {
        return list.clone();
    }
    p.as_object()
        .into_iter()
        .flatten()
        .filter_map(|(_, v)| {
            v.get("jwks")
                .and_then(|j| j.get("keys"))
                .and_then(Value::as_array)
        })
        .flatten()
        .cloned()
        .collect()
}

fn run_sd_jwt(v: &Value) -> Got {
    let p = &v["verifier_params"];
    let Some(now) = p["now"].as_i64() else {
        return harness("now missing");
    };
    let mut policy = if v["kind"] == "sd-jwt-vc" {
        SdJwtPolicy::sd_jwt_vc(true)
    } else {
        SdJwtPolicy::sd_jwt()
    };
    if let Some(typ) = p["expected_typ"].as_array() {
        policy.accepted_typ = Some(
            typ.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        );
    }
    policy.expected_iss = p["expected_iss"].as_str().map(str::to_owned);
    policy.accepted_vct = match &p["expected_vct"] {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(a) => Some(
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        ),
        _ => None,
    };
    if let Some(algs) = p["accepted_sd_alg"].as_array() {
        policy.accepted_sd_alg = algs
            .iter()
            .filter_map(Value::as_str)
            .filter_map(SdAlg::from_name)
            .collect();
    }
    policy.require_iss_matches_x5c_san =
        p["require_iss_matches_x5c_san"].as_bool().unwrap_or(false);
    if p["require_key_binding"].as_bool().unwrap_or(false) {
        policy.key_binding = Some(KeyBindingPolicy {
            nonce: p["expected_nonce"].as_str().unwrap_or_default().to_owned(),
            aud: p["expected_aud"].as_str().unwrap_or_default().to_owned(),
            max_age_s: p["kb_max_age_s"].as_i64().unwrap_or(DEFAULT_KB_MAX_AGE_S),
        });
    }
    let keys = match anchors(p) {
        Some(Ok(a)) => IssuerKeys::X5c(Arc::new(a)),
        Some(Err(g)) => return g,
        None => {
            let jwks = issuer_jwks(p);
            match jwks
                .iter()
                .map(jwk_to_public_key)
                .collect::<Result<Vec<_>, _>>()
            {
                Ok(k) => IssuerKeys::Keys(k),
                Err(e) => return Got::Harness(e.to_string()),
            }
        }
    };
    let status = p["status_list_tokens"].as_object().map(|m| {
        StaticStatusLists(
            m.iter()
                .filter_map(|(k, t)| Some((k.clone(), t.as_str()?.to_owned())))
                .collect(),
        )
    });
    let input = match &v["input"]["sd_jwt_presentation"] {
        Value::String(s) => s.clone(),
        Value::Object(_) => v["input"]["sd_jwt_presentation"].to_string(),
        _ => return harness("sd_jwt_presentation missing"),
    };
    let status_ref = status
        .as_ref()
        .map(|s| s as &dyn eidas_bridge::identity::StatusListSource);
    match verify_sd_jwt(&input, &policy, &keys, status_ref, now) {
        Err(e) => Got::Rejected(e),
        Ok(out) => match v["expected"].get("processed_payload") {
            Some(want) if *want != Value::Object(out.claims) => Got::WrongClaims,
            _ => Got::Accepted,
        },
    }
}

fn run_status_list(v: &Value) -> Got {
    let sl = &v["input"]["status_list"];
    let list = match StatusList::from_claim(sl) {
        Ok(l) => l,
        Err(e) => return Got::Rejected(e.into()),
    };
    let e = &v["expected"];
    if let Some(size) = e["size_entries"].as_u64() {
        if list.len() != size {
            return Got::Mismatch(format!("size {} != {size}", list.len()));
        }
    }
    let table = e["statuses"]
        .as_object()
        .or_else(|| e["non_zero_statuses"].as_object());
    for (idx, want) in table.into_iter().flatten() {
        let (Ok(i), Some(w)) = (idx.parse::<u64>(), want.as_u64()) else {
            return harness("bad status table");
        };
        if list.get(i).map(u64::from) != Some(w) {
            return Got::Mismatch(format!("index {i}"));
        }
    }
    if let Some(non_zero) = e["non_zero_statuses"].as_object() {
        // Everything not listed is 0.
        let count = (0..list.len()).filter(|i| list.get(*i) != Some(0)).count();
        if count != non_zero.len() {
            return Got::Mismatch(format!("{count} non-zero entries"));
        }
    }
    Got::Matched
}

fn hex_of(v: &Value) -> Option<Vec<u8>> {
    v.as_str().and_then(|h| hex::decode(h).ok())
}

fn handover_from(info: &Value) -> Option<Handover> {
    let thumb = match info
        .get("jwk_thumbprint_of")
        .or_else(|| info.get("response_encryption_jwk"))
    {
        Some(jwk) => Some(jwk_thumbprint_sha256(jwk).ok()?),
        None => None,
    };
    let nonce = info["nonce"].as_str()?.to_owned();
    if let Some(origin) = info["origin"].as_str() {
        return Some(Handover::DcApi {
            origin: origin.to_owned(),
            nonce,
            jwk_thumbprint: thumb,
        });
    }
    Some(Handover::OpenId4Vp {
        client_id: info["client_id"].as_str()?.to_owned(),
        nonce,
        jwk_thumbprint: thumb,
        response_uri: info["response_uri"].as_str()?.to_owned(),
    })
}

fn run_session_transcript(v: &Value) -> Got {
    let Some(h) = handover_from(&v["input"]) else {
        return harness("handover input");
    };
    let st = openid4vp_session_transcript(&h);
    let e = &v["expected"];
    let checks = [
        ("jwk_thumbprint_hex", h.jwk_thumbprint().map(|t| t.to_vec())),
        ("handover_info_cbor_hex", Some(st.handover_info.clone())),
        ("handover_cbor_hex", Some(st.handover.clone())),
        (
            "session_transcript_cbor_hex",
            Some(st.session_transcript.clone()),
        ),
    ];
    for (name, got) in checks {
        if e.get(name).is_some() && hex_of(&e[name]) != got {
            return Got::Mismatch(name.to_owned());
        }
    }
    Got::Matched
}

fn run_mdoc(v: &Value) -> Got {
    let p = &v["verifier_params"];
    let Some(now) = p["now"].as_i64() else {
        return harness("now missing");
    };
    let Some(bytes) = hex_of(&v["input"]["device_response_cbor_hex"]) else {
        return harness("device response hex");
    };
    let trust = match anchors(p) {
        Some(Ok(a)) => a,
        Some(Err(g)) => return g,
        None => return harness("trust anchors missing"),
    };
    let expected_doc_type = p["expected_doctype"].as_str().map(str::to_owned);
    if p["device_auth"] != "verify" {
        let policy = MdocPolicy {
            expected_doc_type,
            ..MdocPolicy::default()
        };
        return mdoc_outcome(v, verify_device_response(&bytes, &policy, &trust, now));
    }
    // The transaction may be given as handover inputs, as the transcript bytes, or both; when
    // both are given, the device authentication must hold for each (they describe one session).
    let mut transcripts = Vec::new();
    if let Some(h) = p.get("openid4vp_handover_info").and_then(handover_from) {
        transcripts.push(openid4vp_session_transcript(&h).session_transcript);
    }
    if let Some(t) = hex_of(&p["session_transcript_cbor_hex"]) {
        if !transcripts.contains(&t) {
            transcripts.push(t);
        }
    }
    if transcripts.is_empty() {
        return harness("session transcript missing");
    }
    let reader_key = match hex_of(&p["reader_ephemeral_private_d_hex"]) {
        Some(d) => match eidas_bridge::identity::p256_private_key_from_scalar(&d) {
            Ok(k) => Some(k),
            Err(e) => return Got::Harness(e.to_string()),
        },
        None => None,
    };
    let mut last = None;
    for session_transcript in transcripts {
        let policy = MdocPolicy {
            expected_doc_type: expected_doc_type.clone(),
            device_auth: DeviceAuthCheck::Verify {
                session_transcript,
                reader_ephemeral_key: reader_key.clone(),
            },
            ..MdocPolicy::default()
        };
        match verify_device_response(&bytes, &policy, &trust, now) {
            Err(e) => return Got::Rejected(e),
            ok => last = Some(ok),
        }
    }
    match last {
        Some(result) => mdoc_outcome(v, result),
        None => harness("session transcript missing"),
    }
}

fn mdoc_outcome(v: &Value, result: Result<Vec<VerifiedDocument>, IdentityError>) -> Got {
    match result {
        Err(e) => Got::Rejected(e),
        Ok(docs) => match v["expected"]["documents"].as_array() {
            Some(want) if !documents_match(want, &docs) => Got::WrongClaims,
            _ => Got::Accepted,
        },
    }
}

/// Converts an element value to the corpus notation: full-date / tdate as strings, byte strings as
/// `{bstr_sha256, len}`.
fn corpus_json(v: &ciborium::Value) -> Value {
    use ciborium::Value as C;
    match v {
        C::Integer(i) => i128::from(*i)
            .try_into()
            .map(|n: i64| json!(n))
            .unwrap_or(Value::Null),
        C::Bytes(b) => json!({"bstr_sha256": hex::encode(openssl::sha::sha256(b)), "len": b.len()}),
        C::Float(f) => json!(f),
        C::Text(t) => json!(t),
        C::Bool(b) => json!(b),
        C::Null => Value::Null,
        C::Tag(_, inner) => corpus_json(inner),
        C::Array(a) => Value::Array(a.iter().map(corpus_json).collect()),
        C::Map(m) => {
            let mut out = Map::new();
            for (k, val) in m {
                let key = match k {
                    C::Text(t) => t.clone(),
                    other => corpus_json(other).to_string(),
                };
                out.insert(key, corpus_json(val));
            }
            Value::Object(out)
        }
        _ => Value::Null,
    }
}

/// Every expected document must be present with every expected element value (the corpus lists a
/// subset of the elements for large documents).
fn documents_match(want: &[Value], got: &[VerifiedDocument]) -> bool {
    want.iter().all(|w| {
        got.iter().any(|d| {
            w["docType"].as_str() == Some(d.doc_type.as_str())
                && w["issuer_signed_claims"].as_object().is_some_and(|nss| {
                    nss.iter().all(|(ns, elems)| {
                        elems.as_object().is_some_and(|elems| {
                            elems.iter().all(|(name, val)| {
                                d.elements.iter().any(|e| {
                                    e.namespace == *ns
                                        && e.identifier == *name
                                        && e.value().is_ok_and(|v| corpus_json(&v) == *val)
                                })
                            })
                        })
                    })
                })
        })
    })
}

/// `conformance wallet DIR`: exit 0 iff every vector meets its expectation, 2 on usage errors.
pub fn run(args: &[String]) -> i32 {
    let [dir] = args else {
        eprintln!("usage: conformance wallet DIR");
        return 2;
    };
    let files = match collect_vectors(Path::new(dir)) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("cannot read {dir}: {e}");
            return 2;
        }
    };
    let exp = match Expectations::embedded() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("conformance wallet: {e}");
            return 2;
        }
    };
    let mut results = Vec::with_capacity(files.len());
    for f in files {
        let r = run_case(&f).to_case_result();
        let mut line = json!({"id": r.id, "expected": r.expected, "got": r.actual, "pass": r.pass});
        annotate_line(&mut line, &exp.verdict(&r));
        println!("{line}");
        results.push(r);
    }
    let (passed, failed) = tally(&results, &exp);
    println!("{passed} passed, {failed} failed");
    i32::from(failed != 0)
}
