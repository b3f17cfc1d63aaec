//! IETF Token Status List (draft-ietf-oauth-status-list): decoding of the compressed list and the
//! check of a credential's `status.status_list {idx, uri}` reference against a Status List Token
//! verified like the credential itself (same key source, `typ` `statuslist+jwt`, `sub` equal to
//! the uri, `exp`). Tokens come through [`StatusListSource`]; nothing here touches the network.

use std::collections::HashMap;
use std::io::Read as _;

use serde_json::{Map, Value};

use super::issuer::{verify_issuer_signature, IssuerFailure, IssuerKeys};
use super::jose::{b64url_decode, parse_compact, JwsAlg};
use super::StatusErrorKind;

/// Largest decompressed status list, in bytes: 2^20 entries of 8 bits (the draft's largest test
/// vector has 2^20 entries); bounds zlib expansion ("zip bombs").
pub const MAX_STATUS_LIST_BYTES: usize = 1 << 20;

/// Supplies Status List Tokens by uri (a cache filled by a fetcher, or a fixed map in tests).
pub trait StatusListSource: Send + Sync + std::fmt::Debug {
    /// The compact Status List Token published at `uri`, if available.
    fn status_list_token(&self, uri: &str) -> Option<String>;
}

/// A fixed map uri -> token.
#[derive(Debug, Clone, Default)]
pub struct StaticStatusLists(pub HashMap<String, String>);

impl StatusListSource for StaticStatusLists {
    fn status_list_token(&self, uri: &str) -> Option<String> {
        self.0.get(uri).cloned()
    }
}

/// A decoded status list (section 4.1): `bits` per entry, packed LSB-first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusList {
    bits: u8,
    bytes: Vec<u8>,
}

impl StatusList {
    /// Decodes `{bits, lst}` where `lst` is base64url(zlib(bytes)).
    ///
    /// # Errors
    /// [`StatusErrorKind::ListMalformed`] or [`StatusErrorKind::ListTooLarge`].
    pub fn decode(bits: u64, lst: &str) -> Result<Self, StatusErrorKind> {
        let bits = match bits {
            1 | 2 | 4 | 8 => bits as u8,
            _ => return Err(StatusErrorKind::ListMalformed),
        };
        let compressed = b64url_decode(lst).ok_or(StatusErrorKind::ListMalformed)?;
        let mut bytes = Vec::new();
        let limit = MAX_STATUS_LIST_BYTES as u64 + 1;
        flate2::read::ZlibDecoder::new(compressed.as_slice())
            .take(limit)
            .read_to_end(&mut bytes)
            .map_err(|_| StatusErrorKind::ListMalformed)?;
        if bytes.len() > MAX_STATUS_LIST_BYTES {
            return Err(StatusErrorKind::ListTooLarge {
                max: MAX_STATUS_LIST_BYTES,
            });
        }
        Ok(Self { bits, bytes })
    }

    /// Decodes the `status_list` claim object.
    ///
    /// # Errors
    /// As [`StatusList::decode`].
    pub fn from_claim(v: &Value) -> Result<Self, StatusErrorKind> {
        let bits = v
            .get("bits")
            .and_then(Value::as_u64)
            .ok_or(StatusErrorKind::ListMalformed)?;
        let lst = v
            .get("lst")
            .and_then(Value::as_str)
            .ok_or(StatusErrorKind::ListMalformed)?;
        Self::decode(bits, lst)
    }

    /// Number of entries.
    pub fn len(&self) -> u64 {
        self.bytes.len() as u64 * 8 / u64::from(self.bits)
    }

    /// True when the list has no entries.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The status at `idx` (section 4.1: entry i occupies bits i*bits.. of the byte array, LSB first).
    pub fn get(&self, idx: u64) -> Option<u8> {
        let bit = idx.checked_mul(u64::from(self.bits))?;
        let byte = *self.bytes.get(usize::try_from(bit / 8).ok()?)?;
        let mask = ((1u16 << self.bits) - 1) as u8;
        Some((byte >> (bit % 8)) & mask)
    }
}

/// Checks the credential's status reference (section 6.2 / 8.3); status 0 (VALID) is required.
pub(crate) fn check_status(
    status_claim: &Value,
    source: &dyn StatusListSource,
    keys: &IssuerKeys,
    algorithms: &[JwsAlg],
    now: i64,
    skew: i64,
) -> Result<(), StatusErrorKind> {
    let r = status_claim
        .get("status_list")
        .ok_or(StatusErrorKind::ReferenceMalformed)?;
    let idx = r
        .get("idx")
        .and_then(Value::as_u64)
        .ok_or(StatusErrorKind::ReferenceMalformed)?;
    let uri = r
        .get("uri")
        .and_then(Value::as_str)
        .ok_or(StatusErrorKind::ReferenceMalformed)?;
    let token = source
        .status_list_token(uri)
        .ok_or(StatusErrorKind::Unavailable)?;
    let jws = parse_compact(&token, algorithms).map_err(StatusErrorKind::TokenJws)?;
    // 1. typ (section 5.1).
    let typ = jws.header.get("typ").and_then(Value::as_str);
    if !super::jose::typ_is(typ, "statuslist+jwt") {
        return Err(StatusErrorKind::WrongTyp {
            got: typ.map(str::to_owned),
        });
    }
    // 2. signature, same trust as the credential (section 8.3 step 3).
    verify_issuer_signature(&jws, keys, now, None).map_err(|f| match f {
        IssuerFailure::Trust(t) => StatusErrorKind::TokenTrust(t),
        IssuerFailure::Jose(j) => StatusErrorKind::TokenJws(j),
    })?;
    let claims: &Map<String, Value> = &jws.payload;
    // 3. sub equals the referenced uri (section 8.3 step 4).
    if claims.get("sub").and_then(Value::as_str) != Some(uri) {
        return Err(StatusErrorKind::SubjectMismatch);
    }
    // 4. exp (section 8.3 step 5).
    if let Some(exp) = claims.get("exp") {
        let exp = exp.as_i64().ok_or(StatusErrorKind::ListMalformed)?;
        if now >= exp.saturating_add(skew) {
            return Err(StatusErrorKind::Expired { exp, now });
        }
    }
    // 5. the entry (section 8.3 steps 6-7).
    let list = StatusList::from_claim(
        claims
            .get("status_list")
            .ok_or(StatusErrorKind::ListMalformed)?,
    )?;
    match list.get(idx) {
        None => Err(StatusErrorKind::IndexOutOfRange { idx }),
        Some(0) => Ok(()),
        Some(status) => Err(StatusErrorKind::NotValid { status }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draft_worked_example() {
        // draft-ietf-oauth-status-list section 4.1: bytes [0xb9, 0xa3] with 1 bit per entry.
        let list = StatusList::decode(1, "eNrbuRgAAhcBXQ").unwrap();
        let got: Vec<u8> = (0..16).map(|i| list.get(i).unwrap()).collect();
        assert_eq!(got, vec![1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1]);
        assert_eq!(list.get(16), None);
        assert_eq!(
            StatusList::decode(3, "eNrbuRgAAhcBXQ"),
            Err(StatusErrorKind::ListMalformed)
        );
    }
}
