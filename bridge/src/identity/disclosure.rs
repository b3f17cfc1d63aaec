//! Disclosure processing of RFC 9901 section 7.1 steps 3-5 and 7.3: the digests of the received
//! disclosures are matched against `_sd` arrays and `{"...": digest}` array elements of the
//! issuer-signed payload, recursively, producing the Processed SD-JWT Payload.
//!
//! Every rejection rule of section 7.1 is enforced here: a digest seen twice, a disclosure sent
//! twice or never referenced, a 2-element disclosure in an object or a 3-element one in an array,
//! the reserved claim names `_sd` and `...`, and a disclosed name that already exists. Digests that
//! match no disclosure are decoys or undisclosed claims and are dropped (section 4.2.5).

use std::collections::{HashMap, HashSet};

use openssl::hash::{hash, MessageDigest};
use serde_json::{Map, Value};

use super::jose::{b64url_decode, b64url_encode};
use super::SdJwtErrorKind;

/// Most disclosures accepted in one presentation. The richest EUDI PID carries about 40; 1024
/// bounds hashing and lookups on hostile input.
pub const MAX_DISCLOSURES: usize = 1024;

/// Deepest nesting of objects and arrays walked in the payload (serde_json itself stops at 128).
pub const MAX_DEPTH: usize = 64;

/// Hash algorithms of the IANA "Named Information Hash Algorithm" registry usable as `_sd_alg`
/// (RFC 9901 section 4.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SdAlg {
    /// `sha-256`, the default when `_sd_alg` is absent.
    Sha256,
    /// `sha-384`.
    Sha384,
    /// `sha-512`.
    Sha512,
    /// `sha3-256`.
    Sha3_256,
    /// `sha3-384`.
    Sha3_384,
    /// `sha3-512`.
    Sha3_512,
}

impl SdAlg {
    /// Every supported algorithm, the default allow-list.
    pub const ALL: [SdAlg; 6] = [
        SdAlg::Sha256,
        SdAlg::Sha384,
        SdAlg::Sha512,
        SdAlg::Sha3_256,
        SdAlg::Sha3_384,
        SdAlg::Sha3_512,
    ];

    /// Parses an IANA hash name.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "sha-256" => SdAlg::Sha256,
            "sha-384" => SdAlg::Sha384,
            "sha-512" => SdAlg::Sha512,
            "sha3-256" => SdAlg::Sha3_256,
            "sha3-384" => SdAlg::Sha3_384,
            "sha3-512" => SdAlg::Sha3_512,
            _ => return None,
        })
    }

    /// The IANA name.
    pub fn name(self) -> &'static str {
        match self {
            SdAlg::Sha256 => "sha-256",
            SdAlg::Sha384 => "sha-384",
            SdAlg::Sha512 => "sha-512",
            SdAlg::Sha3_256 => "sha3-256",
            SdAlg::Sha3_384 => "sha3-384",
            SdAlg::Sha3_512 => "sha3-512",
        }
    }

    fn md(self) -> MessageDigest {
        match self {
            SdAlg::Sha256 => MessageDigest::sha256(),
            SdAlg::Sha384 => MessageDigest::sha384(),
            SdAlg::Sha512 => MessageDigest::sha512(),
            SdAlg::Sha3_256 => MessageDigest::sha3_256(),
            SdAlg::Sha3_384 => MessageDigest::sha3_384(),
            SdAlg::Sha3_512 => MessageDigest::sha3_512(),
        }
    }

    /// base64url(H(ascii(input))), the digest form of RFC 9901 sections 4.2.3 and 4.3.1.
    pub fn digest_b64(self, input: &[u8]) -> String {
        // hash() only fails on OpenSSL allocation failure; an empty digest then matches nothing.
        hash(self.md(), input)
            .map(|d| b64url_encode(&d))
            .unwrap_or_default()
    }
}

/// One received disclosure, decoded.
#[derive(Debug)]
struct Disclosure {
    /// `Some(name)` for an object property (3 elements), `None` for an array element (2 elements).
    name: Option<String>,
    value: Value,
}

/// Decodes the disclosures and indexes them by digest (RFC 9901 section 7.1 step 3).
fn decode_disclosures(
    raw: &[&str],
    alg: SdAlg,
) -> Result<HashMap<String, Disclosure>, SdJwtErrorKind> {
    if raw.len() > MAX_DISCLOSURES {
        return Err(SdJwtErrorKind::TooManyDisclosures {
            count: raw.len(),
            max: MAX_DISCLOSURES,
        });
    }
    let mut by_digest = HashMap::with_capacity(raw.len());
    for (index, d) in raw.iter().enumerate() {
        let bytes = b64url_decode(d).ok_or(SdJwtErrorKind::DisclosureMalformed { index })?;
        let arr = match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Array(a)) => a,
            _ => return Err(SdJwtErrorKind::DisclosureMalformed { index }),
        };
        let mut it = arr.into_iter();
        let disclosure = match (it.next(), it.next(), it.next(), it.next()) {
            (Some(Value::String(_)), Some(Value::String(name)), Some(value), None) => {
                // Section 7.1 step 4.3.3 (a): the claim name must not be `_sd` or `...`.
                if name == "_sd" || name == "..." {
                    return Err(SdJwtErrorKind::ReservedClaimName { name });
                }
                Disclosure {
                    name: Some(name),
                    value,
                }
            }
            (Some(Value::String(_)), Some(value), None, None) => Disclosure { name: None, value },
            _ => return Err(SdJwtErrorKind::DisclosureMalformed { index }),
        };
        // Section 7.1 step 5: the same disclosure twice is rejected.
        if by_digest
            .insert(alg.digest_b64(d.as_bytes()), disclosure)
            .is_some()
        {
            return Err(SdJwtErrorKind::DuplicateDisclosure { index });
        }
    }
    Ok(by_digest)
}

struct Walker {
    disclosures: HashMap<String, Disclosure>,
    seen: HashSet<String>,
}

impl Walker {
    fn note_digest(&mut self, d: &str) -> Result<Option<Disclosure>, SdJwtErrorKind> {
        // Section 7.1 step 4.3.1 / 4.4.1: a digest may appear only once in payload and disclosures.
        if !self.seen.insert(d.to_owned()) {
            return Err(SdJwtErrorKind::DuplicateDigest);
        }
        Ok(self.disclosures.remove(d))
    }

    fn value(&mut self, v: Value, depth: usize) -> Result<Value, SdJwtErrorKind> {
        if depth > MAX_DEPTH {
            return Err(SdJwtErrorKind::TooDeep { max: MAX_DEPTH });
        }
        match v {
            Value::Object(m) => self.object(m, depth).map(Value::Object),
            Value::Array(a) => self.array(a, depth).map(Value::Array),
            other => Ok(other),
        }
    }

    fn object(
        &mut self,
        mut m: Map<String, Value>,
        depth: usize,
    ) -> Result<Map<String, Value>, SdJwtErrorKind> {
        if depth > 0 && m.contains_key("_sd_alg") {
            // Section 4.1.1: `_sd_alg` appears at the top level only.
            return Err(SdJwtErrorKind::NestedSdAlg);
        }
        let digests = match m.remove("_sd") {
            None => Vec::new(),
            Some(Value::Array(a)) => a,
            Some(_) => return Err(SdJwtErrorKind::SdNotArray),
        };
        let mut out = Map::new();
        for (k, v) in m {
            let v = self.value(v, depth + 1)?;
            out.insert(k, v);
        }
        for d in digests {
            let Value::String(d) = d else {
                return Err(SdJwtErrorKind::SdNotArray);
            };
            let Some(disc) = self.note_digest(&d)? else {
                continue;
            };
            // Section 7.1 step 4.3.2: an object digest must reference a 3-element disclosure.
            let Some(name) = disc.name else {
                return Err(SdJwtErrorKind::ArrayDisclosureInObject);
            };
            let value = self.value(disc.value, depth + 1)?;
            // Section 7.1 step 4.3.3 (b): the name must not already exist at this level.
            if out.contains_key(&name) {
                return Err(SdJwtErrorKind::ClaimNameCollision { name });
            }
            out.insert(name, value);
        }
        Ok(out)
    }

    fn array(&mut self, a: Vec<Value>, depth: usize) -> Result<Vec<Value>, SdJwtErrorKind> {
        let mut out = Vec::with_capacity(a.len());
        for el in a {
            let digest = match &el {
                Value::Object(o) if o.len() == 1 => o
                    .get("...")
                    .map(|d| d.as_str().ok_or(SdJwtErrorKind::SdNotArray)),
                _ => None,
            };
            match digest {
                Some(d) => {
                    let d = d?.to_owned();
                    let Some(disc) = self.note_digest(&d)? else {
                        continue;
                    };
                    // Section 7.1 step 4.4.2: an array digest must reference a 2-element disclosure.
                    if disc.name.is_some() {
                        return Err(SdJwtErrorKind::ObjectDisclosureInArray);
                    }
                    out.push(self.value(disc.value, depth + 1)?);
                }
                None => out.push(self.value(el, depth + 1)?),
            }
        }
        Ok(out)
    }
}

/// Replaces digests with the disclosed claims and returns the Processed SD-JWT Payload
/// (RFC 9901 section 7.1 steps 3-5), without `_sd` and `_sd_alg`.
///
/// # Errors
/// An [`SdJwtErrorKind`] for the first violated rule.
pub(crate) fn process_disclosures(
    mut payload: Map<String, Value>,
    disclosures: &[&str],
    alg: SdAlg,
) -> Result<Map<String, Value>, SdJwtErrorKind> {
    payload.remove("_sd_alg");
    let mut w = Walker {
        disclosures: decode_disclosures(disclosures, alg)?,
        seen: HashSet::new(),
    };
    let out = w.object(payload, 0)?;
    // Section 7.1 step 5: every disclosure must have been referenced.
    if !w.disclosures.is_empty() {
        return Err(SdJwtErrorKind::UnreferencedDisclosure {
            count: w.disclosures.len(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn disc(v: Value) -> String {
        b64url_encode(v.to_string().as_bytes())
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn object_and_array_disclosures_and_decoys() {
        let a = disc(json!(["s1", "given_name", "John"]));
        let b = disc(json!(["s2", "DE"]));
        let da = SdAlg::Sha256.digest_b64(a.as_bytes());
        let db = SdAlg::Sha256.digest_b64(b.as_bytes());
        let payload = obj(json!({"_sd": [da, "decoy"], "_sd_alg": "sha-256",
            "nat": [{"...": db}, {"...": "decoy2"}, "FR"]}));
        let out = process_disclosures(payload, &[&a, &b], SdAlg::Sha256).unwrap();
        assert_eq!(
            Value::Object(out),
            json!({"given_name": "John", "nat": ["DE", "FR"]})
        );
    }

    #[test]
    fn rejection_rules() {
        let a = disc(json!(["s1", "x", 1]));
        let da = SdAlg::Sha256.digest_b64(a.as_bytes());
        let dup = obj(json!({"_sd": [da.clone(), da.clone()]}));
        assert_eq!(
            process_disclosures(dup, &[&a], SdAlg::Sha256),
            Err(SdJwtErrorKind::DuplicateDigest)
        );
        let collide = obj(json!({"_sd": [da.clone()], "x": 2}));
        assert_eq!(
            process_disclosures(collide, &[&a], SdAlg::Sha256),
            Err(SdJwtErrorKind::ClaimNameCollision { name: "x".into() })
        );
        let in_array = obj(json!({"arr": [{"...": da.clone()}]}));
        assert_eq!(
            process_disclosures(in_array, &[&a], SdAlg::Sha256),
            Err(SdJwtErrorKind::ObjectDisclosureInArray)
        );
        let unref = obj(json!({}));
        assert_eq!(
            process_disclosures(unref, &[&a], SdAlg::Sha256),
            Err(SdJwtErrorKind::UnreferencedDisclosure { count: 1 })
        );
        let twice = obj(json!({"_sd": [da]}));
        assert_eq!(
            process_disclosures(twice, &[&a, &a], SdAlg::Sha256),
            Err(SdJwtErrorKind::DuplicateDisclosure { index: 1 })
        );
        let reserved = disc(json!(["s", "...", 1]));
        assert_eq!(
            process_disclosures(obj(json!({})), &[&reserved], SdAlg::Sha256),
            Err(SdJwtErrorKind::ReservedClaimName { name: "...".into() })
        );
        let nested = obj(json!({"a": {"_sd_alg": "sha-256"}}));
        assert_eq!(
            process_disclosures(nested, &[], SdAlg::Sha256),
            Err(SdJwtErrorKind::NestedSdAlg)
        );
    }
}
