//! ISO/IEC 18013-5 mdoc DeviceResponse verification (section 9.3.1 "Inspection procedure for issuer
//! data authentication" and 9.1.3 "mdoc authentication"), also used for OpenID4VP 1.0 Appendix B.2:
//!
//! 1. IssuerAuth COSE_Sign1: x5chain (label 33) validated to a trust anchor at the instant,
//!    signature by the leaf key; payload is tag-24 MobileSecurityObject bytes.
//! 2. MSO docType equals the document docType (and the requested one); validityInfo covers the instant.
//! 3. Each IssuerSignedItemBytes, hashed exactly as received, equals valueDigests[ns][digestID].
//! 4. DeviceAuth over DeviceAuthenticationBytes = tag24(["DeviceAuthentication", SessionTranscript,
//!    docType, DeviceNameSpacesBytes]): DeviceSignature with the MSO device key, or DeviceMac with
//!    EMacKey = HKDF-SHA256(ECDH(reader ephemeral key, device key), SHA-256(tag24(transcript)), "EMacKey").

use ciborium::Value;
use openssl::pkey::{PKey, Private};
use tracing::debug;

use super::cbor::{
    self, array_items, decode, encode_head, for_each_entry, int_at, key_bytes, tag24, text_raw,
    whole, Span,
};
use super::cose::{cose_key_to_public, ecdh, hkdf_sha256_32, x5chain, CoseMessage};
use super::jose::JwsAlg;
use super::mdoc_mso::Mso;
use super::trust::{IssuerTrust, TrustedIssuer};
use super::{IdentityError, MdocErrorKind};

/// Largest accepted DeviceResponse, in bytes. Real mDL/PID responses with a portrait are ~30 KiB;
/// 4 MiB bounds the work on hostile input.
pub const MAX_DEVICE_RESPONSE_BYTES: usize = 4 << 20;

/// Most documents accepted in one DeviceResponse (a PID plus a few attestations).
pub const MAX_DOCUMENTS: usize = 16;

/// Most IssuerSignedItems accepted per document (the mDL data model has ~40 elements).
pub const MAX_ELEMENTS: usize = 512;

/// Whether and how DeviceAuth is checked.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum DeviceAuthCheck {
    /// Not checked: only issuer data authentication (the caller must know why).
    #[default]
    Skip,
    /// Checked against this session.
    Verify {
        /// CBOR SessionTranscript (plain array, not tag-24 wrapped).
        session_transcript: Vec<u8>,
        /// The reader's ephemeral private key, needed only for DeviceMac.
        reader_ephemeral_key: Option<PKey<Private>>,
    },
}

/// Verifier policy for a DeviceResponse.
#[derive(Debug, Clone)]
pub struct MdocPolicy {
    /// The docType asked for; every document must have it.
    pub expected_doc_type: Option<String>,
    /// DeviceAuth handling.
    pub device_auth: DeviceAuthCheck,
    /// Accepted COSE signature algorithms.
    pub algorithms: Vec<JwsAlg>,
}

impl Default for MdocPolicy {
    fn default() -> Self {
        Self {
            expected_doc_type: None,
            device_auth: DeviceAuthCheck::Skip,
            algorithms: JwsAlg::ALL.to_vec(),
        }
    }
}

/// One issuer-signed data element whose digest matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerSignedElement {
    /// Namespace, e.g. `org.iso.18013.5.1`.
    pub namespace: String,
    /// Element identifier, e.g. `family_name`.
    pub identifier: String,
    /// The element value exactly as received (CBOR); decoded on demand by [`Self::value`], so
    /// that verification does not pay for decoding elements (a portrait is ~20 KiB) nobody reads.
    pub value_cbor: Vec<u8>,
}

impl IssuerSignedElement {
    /// The decoded element value.
    ///
    /// # Errors
    /// [`MdocErrorKind::Cbor`] if the value nests deeper than [`super::MAX_CBOR_DEPTH`].
    pub fn value(&self) -> Result<Value, MdocErrorKind> {
        decode(&self.value_cbor)
    }
}

/// A verified document.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedDocument {
    /// The docType.
    pub doc_type: String,
    /// The document signer, as validated.
    pub issuer: TrustedIssuer,
    /// Every issuer-signed element, digest-checked.
    pub elements: Vec<IssuerSignedElement>,
    /// Whether DeviceAuth was verified.
    pub device_authenticated: bool,
}

impl VerifiedDocument {
    /// The claims as JSON, `{namespace: {identifier: value}}`: byte strings become unpadded
    /// base64url text, tags are unwrapped (full-date, tag 1004, and tdate, tag 0, are text).
    /// Elements whose value cannot be decoded are left out.
    pub fn claims_json(&self) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        for e in &self.elements {
            let Ok(v) = e.value() else { continue };
            let ns = out
                .entry(e.namespace.clone())
                .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
            if let serde_json::Value::Object(m) = ns {
                m.insert(e.identifier.clone(), cbor_to_json(&v));
            }
        }
        serde_json::Value::Object(out)
    }
}

/// CBOR -> JSON for claim output (depth is bounded by [`super::MAX_CBOR_DEPTH`] at decode time).
fn cbor_to_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Integer(i) => i64::try_from(i128::from(*i))
            .map(J::from)
            .unwrap_or(J::Null),
        Value::Bytes(b) => J::String(super::jose::b64url_encode(b)),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(J::Number)
            .unwrap_or(J::Null),
        Value::Text(t) => J::String(t.clone()),
        Value::Bool(b) => J::Bool(*b),
        Value::Tag(_, inner) => cbor_to_json(inner),
        Value::Array(a) => J::Array(a.iter().map(cbor_to_json).collect()),
        Value::Map(m) => J::Object(
            m.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Value::Text(t) => t.clone(),
                        other => cbor_to_json(other).to_string(),
                    };
                    (key, cbor_to_json(v))
                })
                .collect(),
        ),
        _ => J::Null,
    }
}

fn structure(s: &'static str) -> MdocErrorKind {
    MdocErrorKind::Structure { structure: s }
}

/// Verifies a DeviceResponse at `now` (Unix seconds).
///
/// # Errors
/// [`IdentityError::Mdoc`] with the failed rule.
pub fn verify_device_response(
    bytes: &[u8],
    policy: &MdocPolicy,
    trust: &dyn IssuerTrust,
    now: i64,
) -> Result<Vec<VerifiedDocument>, IdentityError> {
    if bytes.len() > MAX_DEVICE_RESPONSE_BYTES {
        return Err(MdocErrorKind::TooLarge {
            len: bytes.len(),
            max: MAX_DEVICE_RESPONSE_BYTES,
        }
        .into());
    }
    // The response is navigated by span, in one pass over its top-level map.
    let (mut status, mut documents) = (None, None);
    for_each_entry(bytes, 0, |k, v| {
        let slot = match key_bytes(bytes, k) {
            Some(b"status") => &mut status,
            Some(b"documents") => &mut documents,
            _ => return Ok(()),
        };
        slot.get_or_insert(v);
        Ok(())
    })?;
    if let Some(span) = status {
        let s = int_at(bytes, span).ok_or(structure("DeviceResponse status"))?;
        if s != 0 {
            return Err(MdocErrorKind::ResponseStatus { status: s }.into());
        }
    }
    let docs = array_items(bytes, documents.ok_or(MdocErrorKind::NoDocuments)?.start)?;
    if docs.is_empty() {
        return Err(MdocErrorKind::NoDocuments.into());
    }
    if docs.len() > MAX_DOCUMENTS {
        return Err(structure("DeviceResponse documents (too many)").into());
    }
    docs.iter()
        .map(|d| verify_document(bytes, *d, policy, trust, now).map_err(IdentityError::from))
        .collect()
}

/// The members of one map item of `buf` named in `names`, first occurrence of each, in one pass.
fn members<const N: usize>(
    buf: &[u8],
    map: Span,
    names: [&'static str; N],
) -> Result<[Option<Span>; N], MdocErrorKind> {
    let mut out = [None; N];
    for_each_entry(buf, map.start, |k, v| {
        if let Some(i) =
            key_bytes(buf, k).and_then(|t| names.iter().position(|n| n.as_bytes() == t))
        {
            out[i].get_or_insert(v);
        }
        Ok(())
    })?;
    Ok(out)
}

fn verify_document(
    buf: &[u8],
    span: Span,
    policy: &MdocPolicy,
    trust: &dyn IssuerTrust,
    now: i64,
) -> Result<VerifiedDocument, MdocErrorKind> {
    // The document is navigated by span: nothing is decoded into a value tree or copied before
    // the checks have passed.
    let doc_buf = &buf[span.start..span.end];
    let [doc_type, issuer_signed, device_signed] = members(
        doc_buf,
        whole(doc_buf),
        ["docType", "issuerSigned", "deviceSigned"],
    )?;
    let doc_type = doc_type
        .and_then(|s| text_raw(doc_buf, s))
        .ok_or(structure("docType"))?;
    if policy
        .expected_doc_type
        .as_ref()
        .is_some_and(|e| e != doc_type)
    {
        return Err(MdocErrorKind::UnexpectedDocType);
    }
    let issuer_signed = issuer_signed.ok_or(structure("issuerSigned"))?;
    let [name_spaces, issuer_auth] = members(doc_buf, issuer_signed, ["nameSpaces", "issuerAuth"])?;

    // 1. IssuerAuth: chain to an anchor, then the signature (9.3.1 steps 1-4).
    let auth = CoseMessage::from_span(
        doc_buf,
        issuer_auth.ok_or(structure("issuerAuth"))?,
        "issuerAuth",
    )?;
    let alg = auth.sign_alg(&policy.algorithms)?;
    let validated = trust
        .verify_der_chain(&x5chain(&auth)?, now)
        .map_err(MdocErrorKind::IssuerTrust)?;
    let (issuer, leaf_key) = (validated.issuer, validated.leaf_key);
    let payload = auth.payload.ok_or(structure("issuerAuth payload"))?;
    auth.verify_sign1(alg, &leaf_key, payload)
        .map_err(MdocErrorKind::IssuerSignature)?;
    debug!(?alg, "issuerAuth verified");

    // 2. MSO: docType and validity (9.3.1 steps 6-7).
    let mso = Mso::from_payload(payload)?;
    if mso.doc_type() != Some(doc_type) {
        return Err(MdocErrorKind::DocTypeMismatch);
    }
    mso.check_validity(now)?;

    // 3. Digests over the received IssuerSignedItemBytes (9.3.1 step 5).
    let md = mso.digest_alg()?;
    let elements = mso.check_digests(doc_buf, name_spaces, md)?;
    debug!(elements = elements.len(), "issuer-signed items verified");

    // 4. DeviceAuth (9.1.3).
    let device_authenticated = match &policy.device_auth {
        DeviceAuthCheck::Skip => false,
        DeviceAuthCheck::Verify {
            session_transcript,
            reader_ephemeral_key,
        } => {
            let device_key = cose_key_to_public(mso.device_key()?)?;
            verify_device_auth(
                doc_buf,
                device_signed.ok_or(structure("DeviceSigned"))?,
                doc_type,
                session_transcript,
                reader_ephemeral_key.as_ref(),
                &device_key,
                policy,
            )?;
            true
        }
    };
    Ok(VerifiedDocument {
        doc_type: doc_type.to_owned(),
        issuer,
        elements,
        device_authenticated,
    })
}

/// DeviceAuthenticationBytes built from the received transcript and DeviceNameSpacesBytes (9.1.3.4).
fn device_authentication_bytes(transcript: &[u8], doc_type: &str, device_ns_raw: &[u8]) -> Vec<u8> {
    const CONTEXT: &str = "DeviceAuthentication";
    let mut da = Vec::with_capacity(32 + transcript.len() + doc_type.len() + device_ns_raw.len());
    da.push(0x84);
    encode_head(3, CONTEXT.len() as u64, &mut da);
    da.extend_from_slice(CONTEXT.as_bytes());
    da.extend_from_slice(transcript);
    encode_head(3, doc_type.len() as u64, &mut da);
    da.extend_from_slice(doc_type.as_bytes());
    da.extend_from_slice(device_ns_raw);
    tag24(&da)
}

fn verify_device_auth(
    doc_buf: &[u8],
    ds: Span,
    doc_type: &str,
    transcript: &[u8],
    reader_key: Option<&PKey<Private>>,
    device_key: &openssl::pkey::PKey<openssl::pkey::Public>,
    policy: &MdocPolicy,
) -> Result<(), MdocErrorKind> {
    let [ns, device_auth] = members(doc_buf, ds, ["nameSpaces", "deviceAuth"])?;
    let ns = ns.ok_or(structure("DeviceNameSpacesBytes"))?;
    let dab = device_authentication_bytes(transcript, doc_type, &doc_buf[ns.start..ns.end]);
    let device_auth = device_auth.ok_or(structure("DeviceAuth"))?;
    if cbor::major_at(doc_buf, device_auth) != Some(5) {
        return Err(structure("DeviceAuth"));
    }
    let [sig, mac] = members(doc_buf, device_auth, ["deviceSignature", "deviceMac"])?;
    if let Some(sig) = sig {
        let msg = CoseMessage::from_span(doc_buf, sig, "DeviceSignature")?;
        let alg = msg.sign_alg(&policy.algorithms)?;
        // The payload is detached (9.1.3.6); an attached one must equal DeviceAuthenticationBytes.
        if msg.payload.is_some_and(|p| *p != *dab) {
            return Err(MdocErrorKind::DeviceAuthFailed);
        }
        return msg
            .verify_sign1(alg, device_key, &dab)
            .map_err(|_| MdocErrorKind::DeviceAuthFailed);
    }
    if let Some(mac) = mac {
        let msg = CoseMessage::from_span(doc_buf, mac, "DeviceMac")?;
        let reader = reader_key.ok_or(MdocErrorKind::ReaderKeyMissing)?;
        let shared = ecdh(reader, device_key).ok_or(MdocErrorKind::DeviceAuthFailed)?;
        let salt = openssl::sha::sha256(&tag24(transcript));
        let emac =
            hkdf_sha256_32(&shared, &salt, b"EMacKey").ok_or(MdocErrorKind::DeviceAuthFailed)?;
        return msg.verify_mac0(&emac, &dab);
    }
    Err(structure("DeviceAuth"))
}
