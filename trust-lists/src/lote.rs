//! Lists of trusted entities (ETSI TS 119 602, JSON form) signed as a compact JAdES baseline-B
//! JWS (TS 119 602 clause 6.8; ETSI TS 119 182-1): the wallet ecosystem's lists, such as the EU
//! list of PID providers, whose issuance services anchor wallet credential issuers.
//!
//! Verification pins the signer as the XML path does: the certificate in `x5c` (or named by
//! `x5t#S256`) must be one of the certificates announced for the list, and the algorithm must
//! match that certificate's key (no `none`, no HMAC, no algorithm confusion). The verified
//! payload is the one parsed. The model converts to a [`TrustedList`] so the [`crate::TrustStore`]
//! answers [`crate::Usage::Pid`] from it.

use base64::Engine;
use openssl::bn::BigNum;
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::pkey::{Id, PKey, Public};
use openssl::rsa::Padding;
use openssl::sign::{RsaPssSaltlen, Verifier};
use openssl::x509::X509;
use serde_json::Value;
use time::OffsetDateTime;

use crate::qualification::ACCEPTABLE_STATUSES;
use crate::tsl::{StatusPeriod, TrustService, TrustServiceProvider, TrustedList, MAX_SERVICES};
use crate::xml::MAX_LIST_BYTES;

/// Most trusted entities read from one list: the EU PID providers list has one or a few per
/// Member State; 4,096 bounds a hostile list well above any real one.
pub const MAX_ENTITIES: usize = 4_096;

/// `LoTEType` of the EU list of PID providers (TS 119 602 annex D).
pub const LOTE_TYPE_EU_PID_PROVIDERS: &str =
    "http://uri.etsi.org/19602/LoTEType/EUPIDProvidersList";

/// JWS algorithms accepted (RFC 7518 clause 3.1, minus `none` and the HMAC family, which a
/// public list cannot use; TS 119 312 key sizes are left to openssl's key checks).
const ALGORITHMS: [&str; 9] = [
    "ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
];

/// Header parameters a verifier may be asked to understand (`crit`, RFC 7515 clause 4.1.11):
/// JAdES `sigT` (claimed signing time, TS 119 182-1 clause 5.2.1) is understood; anything
/// else, notably `sigD` (detached payload), is refused.
const UNDERSTOOD_CRITICAL: [&str; 1] = ["sigT"];

/// Why a list of trusted entities was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoteErrorKind {
    /// Larger than [`MAX_LIST_BYTES`].
    #[error("list of {size} bytes exceeds {limit}")]
    TooLarge {
        /// Bytes received.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Not a compact JWS of three base64url parts (RFC 7515 clause 7.1).
    #[error("not a compact JWS")]
    NotCompactJws,
    /// The protected header or payload is not base64url-encoded JSON (RFC 7515 clause 5.2).
    #[error("{part} is not base64url JSON")]
    BadEncoding {
        /// `header` or `payload`.
        part: &'static str,
    },
    /// `alg` missing, `none`, HMAC or unknown (RFC 7518 clause 3.1; RFC 8725 clause 3.1).
    #[error("algorithm {alg:?} not accepted")]
    AlgorithmNotAccepted {
        /// The `alg` value.
        alg: Option<String>,
    },
    /// `crit` names a parameter this verifier does not understand (RFC 7515 clause 4.1.11).
    #[error("critical header parameter {name} not understood")]
    UnsupportedCritical {
        /// The parameter.
        name: String,
    },
    /// Neither `x5c` nor `x5t#S256` identifies an announced certificate (TS 119 182-1
    /// clause 5.1.7, signing certificate reference).
    #[error("the signer is not among the announced certificates")]
    SignerNotAnnounced,
    /// The algorithm does not fit the signer's key type or curve (algorithm confusion).
    #[error("algorithm {alg} does not fit the signer key")]
    AlgorithmKeyMismatch {
        /// The `alg` value.
        alg: String,
    },
    /// The signature does not verify (RFC 7515 clause 5.2 step 8).
    #[error("signature does not verify")]
    SignatureInvalid,
    /// A mandatory field is missing or has the wrong JSON type (TS 119 602 clause 6).
    #[error("field {field} missing or malformed")]
    MissingField {
        /// The field path.
        field: &'static str,
    },
    /// More than [`MAX_ENTITIES`] entities or [`MAX_SERVICES`] services.
    #[error("more than {limit} {what}")]
    TooMany {
        /// `entities` or `services`.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
}

/// A verified list of trusted entities.
#[derive(Debug, Clone, PartialEq)]
pub struct ListOfTrustedEntities {
    /// `LoTEVersionIdentifier`.
    pub version: u64,
    /// `LoTESequenceNumber`.
    pub sequence: u64,
    /// `LoTEType`, when present.
    pub lote_type: Option<String>,
    /// `SchemeOperatorName`, English form when present.
    pub operator_name: String,
    /// `SchemeTerritory`.
    pub territory: String,
    /// `ListIssueDateTime`.
    pub issue_date: OffsetDateTime,
    /// `NextUpdate`, absent for a closed list.
    pub next_update: Option<OffsetDateTime>,
    /// The entities with their services (TS 119 612 model: entity = provider).
    pub entities: Vec<TrustServiceProvider>,
    /// The announced certificate that verified the signature.
    pub signer: X509,
}

impl ListOfTrustedEntities {
    /// The list as a [`TrustedList`] for [`crate::TrustStore::from_lists`].
    pub fn to_trusted_list(&self) -> TrustedList {
        TrustedList {
            version: u32::try_from(self.version).unwrap_or(u32::MAX),
            sequence: self.sequence,
            tsl_type: self.lote_type.clone().unwrap_or_default(),
            operator_name: self.operator_name.clone(),
            scheme_information_uris: Vec::new(),
            territory: self.territory.clone(),
            issue_date: self.issue_date,
            next_update: self.next_update,
            distribution_points: Vec::new(),
            pointers: Vec::new(),
            providers: self.entities.clone(),
        }
    }
}

fn b64url(part: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .ok()
}

/// Verifies a compact-JWS list of trusted entities against the announced `signers`, then
/// parses the verified payload.
///
/// # Errors
/// [`LoteErrorKind`] naming the first check that failed.
pub fn verify_lote(bytes: &[u8], signers: &[X509]) -> Result<ListOfTrustedEntities, LoteErrorKind> {
    // 1. Bounded, three ASCII parts.
    if bytes.len() > MAX_LIST_BYTES {
        return Err(LoteErrorKind::TooLarge {
            size: bytes.len(),
            limit: MAX_LIST_BYTES,
        });
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| LoteErrorKind::NotCompactJws)?
        .trim();
    let parts: Vec<&str> = text.split('.').collect();
    let [h64, p64, s64] = parts.as_slice() else {
        return Err(LoteErrorKind::NotCompactJws);
    };
    let header: Value = b64url(h64)
        .and_then(|h| serde_json::from_slice(&h).ok())
        .filter(Value::is_object)
        .ok_or(LoteErrorKind::BadEncoding { part: "header" })?;
    let signature = b64url(s64).ok_or(LoteErrorKind::NotCompactJws)?;

    // 2. Algorithm allow-list and critical parameters, before any cryptography.
    let alg = header["alg"].as_str();
    let alg = match alg {
        Some(a) if ALGORITHMS.contains(&a) => a,
        other => {
            return Err(LoteErrorKind::AlgorithmNotAccepted {
                alg: other.map(str::to_owned),
            })
        }
    };
    if let Some(crit) = header.get("crit") {
        let names = crit.as_array().ok_or(LoteErrorKind::UnsupportedCritical {
            name: crit.to_string(),
        })?;
        for n in names {
            let name = n.as_str().unwrap_or_default();
            if !UNDERSTOOD_CRITICAL.contains(&name) || header.get(name).is_none() {
                return Err(LoteErrorKind::UnsupportedCritical {
                    name: name.to_owned(),
                });
            }
        }
    }

    // 3. The signer: an announced certificate named by x5c[0] or x5t#S256.
    let signer = find_signer(&header, signers).ok_or(LoteErrorKind::SignerNotAnnounced)?;
    let key = signer
        .public_key()
        .map_err(|_| LoteErrorKind::SignerNotAnnounced)?;

    // 4. The signature over ASCII(header.payload) with the key's own algorithm.
    let input = format!("{h64}.{p64}");
    if !verify_jws(alg, &key, input.as_bytes(), &signature)? {
        return Err(LoteErrorKind::SignatureInvalid);
    }
    tracing::debug!(alg, "lote signature verified");

    // 5. The verified payload is the one parsed.
    let payload: Value = b64url(p64)
        .and_then(|p| serde_json::from_slice(&p).ok())
        .ok_or(LoteErrorKind::BadEncoding { part: "payload" })?;
    parse_payload(&payload, signer)
}

fn find_signer(header: &Value, signers: &[X509]) -> Option<X509> {
    let std64 = base64::engine::general_purpose::STANDARD;
    if let Some(first) = header["x5c"].as_array().and_then(|a| a.first()) {
        let der = std64.decode(first.as_str()?).ok()?;
        return signers
            .iter()
            .find(|s| s.to_der().ok().as_deref() == Some(der.as_slice()))
            .cloned();
    }
    let thumb = b64url(header["x5t#S256"].as_str()?)?;
    signers
        .iter()
        .find(|s| {
            s.to_der()
                .map(|d| openssl::sha::sha256(&d).as_slice() == thumb.as_slice())
                .unwrap_or(false)
        })
        .cloned()
}

fn verify_jws(
    alg: &str,
    key: &PKey<Public>,
    input: &[u8],
    signature: &[u8],
) -> Result<bool, LoteErrorKind> {
    let mismatch = || LoteErrorKind::AlgorithmKeyMismatch {
        alg: alg.to_owned(),
    };
    let (digest, bits) = match &alg[2..] {
        "256" => (MessageDigest::sha256(), 256),
        "384" => (MessageDigest::sha384(), 384),
        _ => (MessageDigest::sha512(), 521),
    };
    let der_sig;
    let sig: &[u8] = if alg.starts_with("ES") {
        // JWS carries R || S of the curve's size (RFC 7518 clause 3.4); openssl wants DER.
        let ec = key.ec_key().map_err(|_| mismatch())?;
        let curve_bits = ec.group().degree();
        if curve_bits != bits {
            return Err(mismatch());
        }
        let n = (curve_bits as usize).div_ceil(8);
        if signature.len() != 2 * n {
            return Ok(false);
        }
        let r = BigNum::from_slice(&signature[..n]).map_err(|_| LoteErrorKind::SignatureInvalid)?;
        let s = BigNum::from_slice(&signature[n..]).map_err(|_| LoteErrorKind::SignatureInvalid)?;
        der_sig = EcdsaSig::from_private_components(r, s)
            .and_then(|e| e.to_der())
            .map_err(|_| LoteErrorKind::SignatureInvalid)?;
        &der_sig
    } else {
        if key.id() != Id::RSA {
            return Err(mismatch());
        }
        signature
    };
    let mut v = Verifier::new(digest, key).map_err(|_| mismatch())?;
    if alg.starts_with("PS") {
        v.set_rsa_padding(Padding::PKCS1_PSS)
            .and_then(|()| v.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH))
            .and_then(|()| v.set_rsa_mgf1_md(digest))
            .map_err(|_| mismatch())?;
    }
    v.update(input)
        .map_err(|_| LoteErrorKind::SignatureInvalid)?;
    Ok(v.verify(sig).unwrap_or(false))
}

/// The English (else first) `value` of a multilingual array.
fn multilang(v: &Value) -> Option<String> {
    let items = v.as_array()?;
    items
        .iter()
        .find(|i| i["lang"].as_str().is_some_and(|l| l.starts_with("en")))
        .or_else(|| items.first())
        .and_then(|i| i["value"].as_str())
        .map(str::to_owned)
}

fn datetime(v: &Value) -> Option<OffsetDateTime> {
    crate::time::parse_datetime(v.as_str()?)
}

fn parse_payload(payload: &Value, signer: X509) -> Result<ListOfTrustedEntities, LoteErrorKind> {
    let missing = |field: &'static str| LoteErrorKind::MissingField { field };
    let lote = payload.get("LoTE").ok_or(missing("LoTE"))?;
    let info = &lote["ListAndSchemeInformation"];
    let entities_json = lote["TrustedEntitiesList"].as_array();
    let entities_json = entities_json.map(Vec::as_slice).unwrap_or_default();
    if entities_json.len() > MAX_ENTITIES {
        return Err(LoteErrorKind::TooMany {
            what: "entities",
            limit: MAX_ENTITIES,
        });
    }
    let mut entities = Vec::with_capacity(entities_json.len());
    let mut service_count = 0usize;
    for e in entities_json {
        let name = multilang(&e["TrustedEntityInformation"]["TEName"])
            .ok_or(missing("TrustedEntityInformation.TEName"))?;
        let mut services = Vec::new();
        for s in e["TrustedEntityServices"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            service_count += 1;
            if service_count > MAX_SERVICES {
                return Err(LoteErrorKind::TooMany {
                    what: "services",
                    limit: MAX_SERVICES,
                });
            }
            services.push(parse_service(s)?);
        }
        entities.push(TrustServiceProvider {
            name,
            trade_names: Vec::new(),
            services,
        });
    }
    Ok(ListOfTrustedEntities {
        version: info["LoTEVersionIdentifier"]
            .as_u64()
            .ok_or(missing("LoTEVersionIdentifier"))?,
        sequence: info["LoTESequenceNumber"]
            .as_u64()
            .ok_or(missing("LoTESequenceNumber"))?,
        lote_type: info["LoTEType"].as_str().map(str::to_owned),
        operator_name: multilang(&info["SchemeOperatorName"])
            .ok_or(missing("SchemeOperatorName"))?,
        territory: info["SchemeTerritory"]
            .as_str()
            .filter(|t| t.len() == 2)
            .ok_or(missing("SchemeTerritory"))?
            .to_owned(),
        issue_date: datetime(&info["ListIssueDateTime"]).ok_or(missing("ListIssueDateTime"))?,
        next_update: datetime(&info["NextUpdate"]),
        entities,
        signer,
    })
}

/// Maps a LoTE status to the store's vocabulary: the last path segment `granted` or `notified`
/// (PID providers are notified by Member States, eIDAS art. 5a(18)) is in force; any other
/// status is kept as written, which the store does not accept.
fn status_of(uri: &str) -> String {
    match uri.rsplit('/').next() {
        Some("granted" | "notified") => ACCEPTABLE_STATUSES[0].to_owned(),
        _ => uri.to_owned(),
    }
}

fn parse_service(s: &Value) -> Result<TrustService, LoteErrorKind> {
    let missing = |field: &'static str| LoteErrorKind::MissingField { field };
    let info = &s["ServiceInformation"];
    let service_type = info["ServiceTypeIdentifier"]
        .as_str()
        .ok_or(missing("ServiceInformation.ServiceTypeIdentifier"))?
        .to_owned();
    let name = multilang(&info["ServiceName"]).unwrap_or_default();
    let std64 = base64::engine::general_purpose::STANDARD;
    let mut certificates = Vec::new();
    for c in info["ServiceDigitalIdentity"]["X509Certificates"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let der = c["val"]
            .as_str()
            .and_then(|v| std64.decode(v).ok())
            .ok_or(missing("ServiceDigitalIdentity.X509Certificates.val"))?;
        certificates.push(der);
    }
    // Implicit status determination (TS 119 602 clause 6.3.10): being listed means in force,
    // from the status starting time when given, else since ever.
    let start = datetime(&info["StatusStartingTime"]).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let status = info["ServiceStatus"]
        .as_str()
        .map_or_else(|| ACCEPTABLE_STATUSES[0].to_owned(), status_of);
    let mut history = vec![StatusPeriod {
        service_type: service_type.clone(),
        status,
        start,
        additional_info: Vec::new(),
        qualifications: Vec::new(),
    }];
    for h in s["ServiceHistory"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        if let (Some(st), Some(start)) = (
            h["ServiceStatus"].as_str(),
            datetime(&h["StatusStartingTime"]),
        ) {
            history.push(StatusPeriod {
                service_type: h["ServiceTypeIdentifier"]
                    .as_str()
                    .unwrap_or(&service_type)
                    .to_owned(),
                status: status_of(st),
                start,
                additional_info: Vec::new(),
                qualifications: Vec::new(),
            });
        }
    }
    Ok(TrustService {
        service_type,
        name,
        certificates,
        history,
    })
}
