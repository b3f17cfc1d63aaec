//! `eidas-bridge identity verify FILE`: verifies an SD-JWT VC (compact or JWS JSON) or an mdoc
//! DeviceResponse (binary CBOR or hex) offline, against issuer keys (JWK or PEM) or trust-anchor
//! certificates, at a given instant. Prints `{"valid": true, "claims": {...}}` or
//! `{"valid": false, "error": ...}`. Exit 0 valid, 1 invalid, 2 usage or input error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use openssl::pkey::{PKey, Public};
use openssl::x509::X509;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::identity::{
    jwk_to_public_key, map_health_professional, verify_device_response, verify_sd_jwt, IssuerKeys,
    KeyBindingPolicy, MdocPolicy, PemTrustAnchors, SdJwtPolicy, DEFAULT_KB_MAX_AGE_S,
};

/// `identity` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum IdentityCommand {
    /// Verify a wallet presentation (SD-JWT VC or mdoc DeviceResponse).
    Verify {
        /// Presentation file: compact SD-JWT, JWS JSON, binary CBOR or hex CBOR.
        file: PathBuf,
        /// Expected KB-JWT nonce; key binding is required when given.
        #[arg(long)]
        nonce: Option<String>,
        /// Expected KB-JWT audience (the verifier's client_id).
        #[arg(long)]
        aud: Option<String>,
        /// Issuer public key: a JWK, a JWK Set, a PEM public key or a PEM certificate (repeatable).
        #[arg(long = "issuer-key")]
        issuer_key: Vec<PathBuf>,
        /// Trust anchor PEM certificate(s) for x5c / x5chain validation (repeatable).
        #[arg(long = "trust-anchor")]
        trust_anchor: Vec<PathBuf>,
        /// Verification instant: RFC 3339 or Unix seconds (default: now).
        #[arg(long)]
        at: Option<String>,
    },
}

/// An input problem (exit 2).
#[derive(Debug)]
struct UsageError(String);

fn read(path: &PathBuf) -> Result<Vec<u8>, UsageError> {
    std::fs::read(path).map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))
}

fn parse_at(at: Option<&str>) -> Result<i64, UsageError> {
    match at {
        // The CLI is the one place that reads the clock; validation receives the instant.
        None => Ok(OffsetDateTime::now_utc().unix_timestamp()),
        Some(s) => s
            .parse::<i64>()
            .ok()
            .or_else(|| {
                OffsetDateTime::parse(s, &Rfc3339)
                    .ok()
                    .map(OffsetDateTime::unix_timestamp)
            })
            .ok_or_else(|| UsageError(format!("--at {s}: not RFC 3339 nor Unix seconds"))),
    }
}

fn load_keys(paths: &[PathBuf]) -> Result<Vec<PKey<Public>>, UsageError> {
    let mut keys = Vec::new();
    for p in paths {
        let bytes = read(p)?;
        let bad = || UsageError(format!("{}: not a JWK, JWK Set or PEM key", p.display()));
        if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
            let list = match v.get("keys").and_then(Value::as_array) {
                Some(a) => a.clone(),
                None => vec![v],
            };
            for jwk in &list {
                keys.push(jwk_to_public_key(jwk).map_err(|_| bad())?);
            }
        } else if let Ok(k) = PKey::public_key_from_pem(&bytes) {
            keys.push(k);
        } else {
            let cert = X509::from_pem(&bytes).map_err(|_| bad())?;
            keys.push(cert.public_key().map_err(|_| bad())?);
        }
    }
    Ok(keys)
}

/// Verifies and returns the JSON report, or a usage error.
fn verify(cmd: &IdentityCommand) -> Result<Value, UsageError> {
    let IdentityCommand::Verify {
        file,
        nonce,
        aud,
        issuer_key,
        trust_anchor,
        at,
    } = cmd;
    let now = parse_at(at.as_deref())?;
    let input = read(file)?;
    let anchors = if trust_anchor.is_empty() {
        None
    } else {
        let pems = trust_anchor
            .iter()
            .map(read)
            .collect::<Result<Vec<_>, _>>()?;
        Some(
            PemTrustAnchors::from_pem(&pems)
                .map_err(|e| UsageError(format!("trust anchors: {e}")))?,
        )
    };
    let text = String::from_utf8(input.clone()).ok();
    let cbor = match text.as_deref().map(str::trim) {
        Some(t) if !t.is_empty() && t.bytes().all(|b| b.is_ascii_hexdigit()) => hex::decode(t).ok(),
        Some(_) => None,
        None => Some(input),
    };
    if let Some(bytes) = cbor {
        let trust = anchors.ok_or_else(|| UsageError("an mdoc needs --trust-anchor".into()))?;
        // Device authentication needs the session transcript of the transaction, which this
        // offline command does not have: only issuer data authentication is checked.
        return Ok(
            match verify_device_response(&bytes, &MdocPolicy::default(), &trust, now) {
                Ok(docs) => {
                    let mut claims = serde_json::Map::new();
                    let mut issuers = Vec::new();
                    for d in &docs {
                        claims.insert(d.doc_type.clone(), d.claims_json());
                        issuers.push(json!({"doc_type": d.doc_type, "issuer": d.issuer}));
                    }
                    json!({"valid": true, "claims": claims, "documents": issuers, "device_authenticated": false})
                }
                Err(e) => json!({"valid": false, "error": e.code(), "detail": e.to_string()}),
            },
        );
    }
    let text = text.unwrap_or_default();
    let keys = match anchors {
        Some(a) => IssuerKeys::X5c(Arc::new(a)),
        None if !issuer_key.is_empty() => IssuerKeys::Keys(load_keys(issuer_key)?),
        None => return Err(UsageError("give --issuer-key or --trust-anchor".into())),
    };
    let mut policy = SdJwtPolicy::sd_jwt();
    if let Some(nonce) = nonce {
        let aud = aud
            .clone()
            .ok_or_else(|| UsageError("--nonce needs --aud".into()))?;
        policy.key_binding = Some(KeyBindingPolicy {
            nonce: nonce.clone(),
            aud,
            max_age_s: DEFAULT_KB_MAX_AGE_S,
        });
    }
    Ok(
        match verify_sd_jwt(text.trim(), &policy, &keys, None, now) {
            Ok(v) => {
                let hp = map_health_professional(&v.claims);
                json!({"valid": true, "claims": v.claims, "issuer": v.issuer, "key_bound": v.key_bound,
                   "health_professional": hp})
            }
            Err(e) => json!({"valid": false, "error": e.code(), "detail": e.to_string()}),
        },
    )
}

/// Runs an `identity` subcommand.
pub fn run(cmd: IdentityCommand, json: bool) -> ExitCode {
    match verify(&cmd) {
        Err(UsageError(reason)) => {
            eprintln!("{reason}");
            ExitCode::from(2)
        }
        Ok(report) => {
            let valid = report["valid"] == Value::Bool(true);
            if json {
                println!("{report}");
            } else if valid {
                println!("valid");
                if let Ok(pretty) = serde_json::to_string_pretty(&report) {
                    println!("{pretty}");
                }
            } else {
                println!("invalid: {}", report["detail"].as_str().unwrap_or_default());
            }
            if valid {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
    }
}
