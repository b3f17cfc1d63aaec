//! Minimal JOSE layer for the wallet verifiers: compact JWS parsing, the signature-algorithm
//! allow-list, JWK import and signature verification, all on OpenSSL.
//!
//! Only what RFC 9901 and the SD-JWT VC draft need is implemented: the JWS Compact Serialization
//! (RFC 7515 section 7.1), the algorithms of RFC 7518 section 3 and RFC 8037 that the EUDI ARF
//! allows, and public JWKs (RFC 7517). `none` and the HMAC family are refused with their own error
//! (RFC 8725 sections 3.1 and 3.2: a verifier must pin asymmetric algorithms).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Public};
use openssl::rsa::{Padding, Rsa};
use openssl::sign::{RsaPssSaltlen, Verifier};
use serde_json::{Map, Value};
use std::sync::OnceLock;

/// Largest accepted compact JWS, in bytes. A PID with a portrait is about 100 KiB; 1 MiB leaves
/// room for large attestations while bounding the work done on hostile input.
pub const MAX_JWS_BYTES: usize = 1 << 20;

/// Smallest RSA modulus accepted, in bits (RFC 7518 section 3.3 and 3.5: "2048 bits or larger").
pub const MIN_RSA_BITS: u32 = 2048;

/// Errors of the JOSE layer, shared by the issuer-signed JWT, the KB-JWT and the status list token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JoseErrorKind {
    /// The token exceeds [`MAX_JWS_BYTES`].
    #[error("JWS of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Received size.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// Not three dot-separated parts (RFC 7515 section 7.1).
    #[error("JWS compact serialization must have three parts")]
    MalformedCompact,
    /// A part is not unpadded base64url (RFC 7515 section 2, "Base64url Encoding").
    #[error("JWS part {part} is not base64url")]
    Base64 {
        /// 0 header, 1 payload, 2 signature.
        part: u8,
    },
    /// The header or the payload is not a JSON object (RFC 7515 section 5.2 step 4; RFC 7519 section 7.2).
    #[error("JWS part {part} is not a JSON object")]
    NotJsonObject {
        /// 0 header, 1 payload.
        part: u8,
    },
    /// The protected header has no `alg` string (RFC 7515 section 4.1.1).
    #[error("JWS header has no alg")]
    MissingAlg,
    /// `alg` is `none` (RFC 8725 section 3.2; RFC 9901 section 7.1 step 2.2).
    #[error("alg none is refused")]
    AlgNone,
    /// `alg` is a MAC algorithm (RFC 9901 section 7.1: the signature must be asymmetric; RFC 8725 section 3.1).
    #[error("MAC algorithm {alg} is refused")]
    AlgMac {
        /// The refused algorithm.
        alg: String,
    },
    /// `alg` is not on the allow-list.
    #[error("algorithm {alg} is not allowed")]
    AlgNotAllowed {
        /// The refused algorithm.
        alg: String,
    },
    /// The key type or curve does not fit `alg` (RFC 8725 section 3.1, algorithm confusion).
    #[error("key does not match algorithm {alg:?}")]
    KeyAlgMismatch {
        /// The header algorithm.
        alg: JwsAlg,
    },
    /// An ECDSA signature does not have the fixed length of RFC 7518 section 3.4.
    #[error("signature length {len} is wrong for the algorithm")]
    SignatureLength {
        /// Received length.
        len: usize,
    },
    /// The signature does not verify (RFC 7515 section 5.2 step 8).
    #[error("signature invalid")]
    SignatureInvalid,
    /// A JWK is malformed or of an unsupported type (RFC 7517 section 4, RFC 7518 section 6).
    #[error("JWK invalid")]
    JwkInvalid,
    /// An RSA key is shorter than [`MIN_RSA_BITS`].
    #[error("RSA key of {bits} bits is too short")]
    RsaKeyTooShort {
        /// Modulus size.
        bits: u32,
    },
}

/// The JWS algorithms the allow-list can contain (RFC 7518 section 3.1, RFC 8037 section 3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JwsAlg {
    /// ECDSA P-256 SHA-256.
    Es256,
    /// ECDSA P-384 SHA-384.
    Es384,
    /// ECDSA P-521 SHA-512.
    Es512,
    /// Ed25519 / Ed448.
    EdDsa,
    /// RSASSA-PSS SHA-256.
    Ps256,
    /// RSASSA-PSS SHA-384.
    Ps384,
    /// RSASSA-PSS SHA-512.
    Ps512,
    /// RSASSA-PKCS1-v1_5 SHA-256.
    Rs256,
}

impl JwsAlg {
    /// Every supported algorithm, the default allow-list.
    pub const ALL: [JwsAlg; 8] = [
        JwsAlg::Es256,
        JwsAlg::Es384,
        JwsAlg::Es512,
        JwsAlg::EdDsa,
        JwsAlg::Ps256,
        JwsAlg::Ps384,
        JwsAlg::Ps512,
        JwsAlg::Rs256,
    ];

    /// Maps a JOSE `alg` name to an algorithm, refusing `none` and MACs with their own errors.
    ///
    /// # Errors
    /// [`JoseErrorKind::AlgNone`], [`JoseErrorKind::AlgMac`] or [`JoseErrorKind::AlgNotAllowed`].
    pub fn from_name(name: &str) -> Result<Self, JoseErrorKind> {
        Ok(match name {
            "ES256" => JwsAlg::Es256,
            "ES384" => JwsAlg::Es384,
            "ES512" => JwsAlg::Es512,
            "EdDSA" | "Ed25519" => JwsAlg::EdDsa,
            "PS256" => JwsAlg::Ps256,
            "PS384" => JwsAlg::Ps384,
            "PS512" => JwsAlg::Ps512,
            "RS256" => JwsAlg::Rs256,
            n if n.eq_ignore_ascii_case("none") => return Err(JoseErrorKind::AlgNone),
            n if n.starts_with("HS") => return Err(JoseErrorKind::AlgMac { alg: n.to_owned() }),
            n => return Err(JoseErrorKind::AlgNotAllowed { alg: n.to_owned() }),
        })
    }

    /// The COSE algorithm identifier (RFC 9053 / IANA COSE registry) for this algorithm.
    pub fn from_cose(id: i64) -> Option<Self> {
        match id {
            -7 => Some(JwsAlg::Es256),
            -35 => Some(JwsAlg::Es384),
            -36 => Some(JwsAlg::Es512),
            -8 => Some(JwsAlg::EdDsa),
            -37 => Some(JwsAlg::Ps256),
            -38 => Some(JwsAlg::Ps384),
            -39 => Some(JwsAlg::Ps512),
            -257 => Some(JwsAlg::Rs256),
            _ => None,
        }
    }

    fn digest(self) -> MessageDigest {
        match self {
            JwsAlg::Es256 | JwsAlg::Ps256 | JwsAlg::Rs256 | JwsAlg::EdDsa => {
                MessageDigest::sha256()
            }
            JwsAlg::Es384 | JwsAlg::Ps384 => MessageDigest::sha384(),
            JwsAlg::Es512 | JwsAlg::Ps512 => MessageDigest::sha512(),
        }
    }
}

/// A parsed compact JWS whose signature has not been checked yet.
#[derive(Debug, Clone)]
pub(crate) struct CompactJws<'a> {
    /// `BASE64URL(header) || '.' || BASE64URL(payload)`, the JWS Signing Input.
    pub(crate) signing_input: &'a str,
    /// Decoded protected header.
    pub(crate) header: Map<String, Value>,
    /// Decoded payload (a JWT claims set).
    pub(crate) payload: Map<String, Value>,
    /// Raw signature bytes.
    pub(crate) signature: Vec<u8>,
    /// Algorithm from the header, already checked against the refusal list.
    pub(crate) alg: JwsAlg,
}

/// Whether a JOSE `typ` header names the media type `expected` (RFC 7515 section 4.1.9: the
/// `application/` prefix may be omitted, and media type names compare case-insensitively,
/// RFC 2045 section 5.1).
pub(crate) fn typ_is(typ: Option<&str>, expected: &str) -> bool {
    typ.is_some_and(|t| {
        // `get` and `strip`: never slice a str at a byte offset that may split a character.
        let t = match t.get(..12) {
            Some(prefix) if prefix.eq_ignore_ascii_case("application/") => {
                t.get(12..).unwrap_or_default()
            }
            _ => t,
        };
        t.eq_ignore_ascii_case(expected)
    })
}

/// Decodes unpadded base64url (RFC 7515 section 2).
pub(crate) fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s.as_bytes()).ok()
}

/// Encodes unpadded base64url.
pub(crate) fn b64url_encode(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

fn decode_object(part: &str, idx: u8) -> Result<Map<String, Value>, JoseErrorKind> {
    let bytes = b64url_decode(part).ok_or(JoseErrorKind::Base64 { part: idx })?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(JoseErrorKind::NotJsonObject { part: idx }),
    }
}

/// Parses a compact JWS and checks `alg` against `allowed`.
///
/// # Errors
/// A [`JoseErrorKind`] naming the structural or algorithm fault.
pub(crate) fn parse_compact<'a>(
    token: &'a str,
    allowed: &[JwsAlg],
) -> Result<CompactJws<'a>, JoseErrorKind> {
    if token.len() > MAX_JWS_BYTES {
        return Err(JoseErrorKind::TooLarge {
            len: token.len(),
            max: MAX_JWS_BYTES,
        });
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JoseErrorKind::MalformedCompact);
    };
    let header = decode_object(h, 0)?;
    let alg_name = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(JoseErrorKind::MissingAlg)?;
    let alg = JwsAlg::from_name(alg_name)?;
    if !allowed.contains(&alg) {
        return Err(JoseErrorKind::AlgNotAllowed {
            alg: alg_name.to_owned(),
        });
    }
    let payload = decode_object(p, 1)?;
    let signature = b64url_decode(s).ok_or(JoseErrorKind::Base64 { part: 2 })?;
    let signing_input = &token[..h.len() + 1 + p.len()];
    Ok(CompactJws {
        signing_input,
        header,
        payload,
        signature,
        alg,
    })
}

impl CompactJws<'_> {
    /// Verifies the signature with `key`.
    ///
    /// # Errors
    /// [`JoseErrorKind::KeyAlgMismatch`], [`JoseErrorKind::SignatureLength`] or
    /// [`JoseErrorKind::SignatureInvalid`].
    pub(crate) fn verify(&self, key: &PKey<Public>) -> Result<(), JoseErrorKind> {
        verify_signature(
            self.alg,
            key,
            self.signing_input.as_bytes(),
            &self.signature,
        )
    }
}

/// SHA-2 through OpenSSL's low-level hashers: in OpenSSL 3 the one-shot `SHA256()` and the EVP
/// digests fetch the algorithm on every call, a cost comparable to hashing a few KiB (measured in
/// benches/identity.rs).
pub(crate) fn sha2(bits: u16, msg: &[u8]) -> Option<Vec<u8>> {
    use openssl::sha::{Sha256, Sha384, Sha512};
    Some(match bits {
        256 => {
            let mut h = Sha256::new();
            h.update(msg);
            h.finish().to_vec()
        }
        384 => {
            let mut h = Sha384::new();
            h.update(msg);
            h.finish().to_vec()
        }
        512 => {
            let mut h = Sha512::new();
            h.update(msg);
            h.finish().to_vec()
        }
        _ => return None,
    })
}

fn sha2_digest(alg: JwsAlg, msg: &[u8]) -> Result<Vec<u8>, JoseErrorKind> {
    let bits = match alg {
        JwsAlg::Es256 => 256,
        JwsAlg::Es384 => 384,
        JwsAlg::Es512 => 512,
        _ => return Err(JoseErrorKind::KeyAlgMismatch { alg }),
    };
    sha2(bits, msg).ok_or(JoseErrorKind::KeyAlgMismatch { alg })
}

/// Curve and coordinate length in bytes for an ECDSA algorithm (RFC 7518 section 3.4).
fn ec_curve(alg: JwsAlg) -> Option<(Nid, usize)> {
    match alg {
        JwsAlg::Es256 => Some((Nid::X9_62_PRIME256V1, 32)),
        JwsAlg::Es384 => Some((Nid::SECP384R1, 48)),
        JwsAlg::Es512 => Some((Nid::SECP521R1, 66)),
        _ => None,
    }
}

/// The named curve groups, built once: building one costs about a fifth of a verification.
fn ec_group(nid: Nid) -> Option<&'static EcGroup> {
    static P256: OnceLock<Option<EcGroup>> = OnceLock::new();
    static P384: OnceLock<Option<EcGroup>> = OnceLock::new();
    static P521: OnceLock<Option<EcGroup>> = OnceLock::new();
    let cell = match nid {
        Nid::X9_62_PRIME256V1 => &P256,
        Nid::SECP384R1 => &P384,
        Nid::SECP521R1 => &P521,
        _ => return None,
    };
    cell.get_or_init(|| EcGroup::from_curve_name(nid).ok())
        .as_ref()
}

/// Verifies `sig` over `msg` with `key` under `alg`; the key type must fit the algorithm.
/// ECDSA signatures are the fixed-length `r || s` of RFC 7518 section 3.4 and RFC 9053 section 2.1.
pub(crate) fn verify_signature(
    alg: JwsAlg,
    key: &PKey<Public>,
    msg: &[u8],
    sig: &[u8],
) -> Result<(), JoseErrorKind> {
    let mismatch = JoseErrorKind::KeyAlgMismatch { alg };
    let ok = match alg {
        JwsAlg::Es256 | JwsAlg::Es384 | JwsAlg::Es512 => {
            let (nid, len) = ec_curve(alg).ok_or(mismatch.clone())?;
            // Low-level ECDSA on the EC_KEY: in OpenSSL 3 it avoids the EVP fetch and provider
            // key export that cost about a third of a verification (see benches/identity.rs).
            let ec = key.ec_key().map_err(|_| mismatch.clone())?;
            if ec.group().curve_name() != Some(nid) {
                return Err(mismatch);
            }
            if sig.len() != 2 * len {
                return Err(JoseErrorKind::SignatureLength { len: sig.len() });
            }
            // JWS/COSE carry r || s; ECDSA_do_verify takes the two integers.
            let r = BigNum::from_slice(&sig[..len]).map_err(|_| JoseErrorKind::SignatureInvalid)?;
            let s = BigNum::from_slice(&sig[len..]).map_err(|_| JoseErrorKind::SignatureInvalid)?;
            let ecdsa = EcdsaSig::from_private_components(r, s)
                .map_err(|_| JoseErrorKind::SignatureInvalid)?;
            let digest = sha2_digest(alg, msg).map_err(|_| JoseErrorKind::SignatureInvalid)?;
            ecdsa.verify(&digest, &ec).unwrap_or(false)
        }
        JwsAlg::EdDsa => {
            if key.id() != Id::ED25519 && key.id() != Id::ED448 {
                return Err(mismatch);
            }
            let mut v = Verifier::new_without_digest(key).map_err(|_| mismatch)?;
            v.verify_oneshot(sig, msg).unwrap_or(false)
        }
        JwsAlg::Ps256 | JwsAlg::Ps384 | JwsAlg::Ps512 | JwsAlg::Rs256 => {
            let rsa = key.rsa().map_err(|_| mismatch.clone())?;
            let bits = rsa.n().num_bits().unsigned_abs();
            if bits < MIN_RSA_BITS {
                return Err(JoseErrorKind::RsaKeyTooShort { bits });
            }
            rsa_verify(alg, key, msg, sig).unwrap_or(false)
        }
    };
    if ok {
        Ok(())
    } else {
        Err(JoseErrorKind::SignatureInvalid)
    }
}

fn rsa_verify(
    alg: JwsAlg,
    key: &PKey<Public>,
    msg: &[u8],
    sig: &[u8],
) -> Result<bool, openssl::error::ErrorStack> {
    let md = alg.digest();
    let mut v = Verifier::new(md, key)?;
    if alg != JwsAlg::Rs256 {
        // RFC 7518 section 3.5: MGF1 with the same hash, salt as long as the hash output.
        v.set_rsa_padding(Padding::PKCS1_PSS)?;
        v.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)?;
        v.set_rsa_mgf1_md(md)?;
    }
    v.update(msg)?;
    v.verify(sig)
}

fn jwk_b64(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, JoseErrorKind> {
    jwk.get(name)
        .and_then(Value::as_str)
        .and_then(b64url_decode)
        .ok_or(JoseErrorKind::JwkInvalid)
}

/// Imports a public JWK (EC P-256/384/521, OKP Ed25519/Ed448, RSA).
///
/// # Errors
/// [`JoseErrorKind::JwkInvalid`] when a member is missing, malformed or the point is not on the curve.
pub fn jwk_to_public_key(jwk: &Value) -> Result<PKey<Public>, JoseErrorKind> {
    let jwk = jwk.as_object().ok_or(JoseErrorKind::JwkInvalid)?;
    let bad = |_| JoseErrorKind::JwkInvalid;
    match jwk.get("kty").and_then(Value::as_str) {
        Some("EC") => {
            let nid = match jwk.get("crv").and_then(Value::as_str) {
                Some("P-256") => Nid::X9_62_PRIME256V1,
                Some("P-384") => Nid::SECP384R1,
                Some("P-521") => Nid::SECP521R1,
                _ => return Err(JoseErrorKind::JwkInvalid),
            };
            ec_public_key(nid, &jwk_b64(jwk, "x")?, &jwk_b64(jwk, "y")?)
                .ok_or(JoseErrorKind::JwkInvalid)
        }
        Some("OKP") => {
            let id = match jwk.get("crv").and_then(Value::as_str) {
                Some("Ed25519") => Id::ED25519,
                Some("Ed448") => Id::ED448,
                _ => return Err(JoseErrorKind::JwkInvalid),
            };
            PKey::public_key_from_raw_bytes(&jwk_b64(jwk, "x")?, id).map_err(bad)
        }
        Some("RSA") => {
            let n = BigNum::from_slice(&jwk_b64(jwk, "n")?).map_err(bad)?;
            let e = BigNum::from_slice(&jwk_b64(jwk, "e")?).map_err(bad)?;
            let rsa = Rsa::from_public_components(n, e).map_err(bad)?;
            PKey::from_rsa(rsa).map_err(bad)
        }
        _ => Err(JoseErrorKind::JwkInvalid),
    }
}

/// Builds an EC public key from affine coordinates of the curve's field size.
///
/// The point is decoded as an uncompressed SEC 1 octet string, which OpenSSL checks to lie on the
/// curve. That suffices for the prime-order NIST curves accepted here (cofactor 1: every curve point
/// other than infinity has full order), and avoids `EC_KEY_check_key`'s extra scalar multiplication
/// by the group order, which would cost as much as half a signature verification per key import.
pub(crate) fn ec_public_key(nid: Nid, x: &[u8], y: &[u8]) -> Option<PKey<Public>> {
    let group = ec_group(nid)?;
    let len = usize::try_from(group.degree().div_ceil(8)).ok()?;
    if x.len() != len || y.len() != len {
        return None;
    }
    let mut octets = Vec::with_capacity(1 + 2 * len);
    octets.push(0x04);
    octets.extend_from_slice(x);
    octets.extend_from_slice(y);
    let mut ctx = openssl::bn::BigNumContext::new().ok()?;
    let point = openssl::ec::EcPoint::from_bytes(group, &octets, &mut ctx).ok()?;
    let ec = EcKey::from_public_key(group, &point).ok()?;
    PKey::from_ec_key(ec).ok()
}

/// RFC 7638 JWK SHA-256 thumbprint over the required members in lexicographic order.
///
/// # Errors
/// [`JoseErrorKind::JwkInvalid`] when a required member is missing or not a string.
pub fn jwk_thumbprint_sha256(jwk: &Value) -> Result<[u8; 32], JoseErrorKind> {
    let obj = jwk.as_object().ok_or(JoseErrorKind::JwkInvalid)?;
    let members: &[&str] = match obj.get("kty").and_then(Value::as_str) {
        Some("EC") => &["crv", "kty", "x", "y"],
        Some("OKP") => &["crv", "kty", "x"],
        Some("RSA") => &["e", "kty", "n"],
        _ => return Err(JoseErrorKind::JwkInvalid),
    };
    let mut canonical = Map::new();
    for m in members {
        let v = obj
            .get(*m)
            .and_then(Value::as_str)
            .ok_or(JoseErrorKind::JwkInvalid)?;
        canonical.insert((*m).to_owned(), Value::String(v.to_owned()));
    }
    // serde_json's Map is a BTreeMap (no preserve_order feature), so keys serialise sorted and
    // without whitespace, as RFC 7638 section 3.3 requires.
    let text = Value::Object(canonical).to_string();
    Ok(openssl::sha::sha256(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typ_comparison_follows_rfc7515() {
        assert!(typ_is(Some("application/DC+SD-JWT"), "dc+sd-jwt"));
        assert!(typ_is(Some("kb+jwt"), "kb+jwt"));
        assert!(!typ_is(Some("JWT"), "kb+jwt"));
        assert!(!typ_is(None, "kb+jwt"));
        assert!(!typ_is(Some("applicatio\u{20ac}/kb+jwt"), "kb+jwt"));
    }

    #[test]
    fn refuses_none_and_hmac_with_specific_errors() {
        assert_eq!(JwsAlg::from_name("none"), Err(JoseErrorKind::AlgNone));
        assert_eq!(
            JwsAlg::from_name("HS256"),
            Err(JoseErrorKind::AlgMac {
                alg: "HS256".into()
            })
        );
        assert_eq!(
            JwsAlg::from_name("ES256K"),
            Err(JoseErrorKind::AlgNotAllowed {
                alg: "ES256K".into()
            })
        );
    }

    #[test]
    fn parse_compact_rejects_structure_faults() {
        assert_eq!(
            parse_compact("a.b", &JwsAlg::ALL).unwrap_err(),
            JoseErrorKind::MalformedCompact
        );
        assert_eq!(
            parse_compact("a.b.c.d", &JwsAlg::ALL).unwrap_err(),
            JoseErrorKind::MalformedCompact
        );
        let h = b64url_encode(br#"{"alg":"none"}"#);
        assert_eq!(
            parse_compact(&format!("{h}.e30."), &JwsAlg::ALL).unwrap_err(),
            JoseErrorKind::AlgNone
        );
        let h = b64url_encode(br#"{"alg":"ES256"}"#);
        assert_eq!(
            parse_compact(&format!("{h}.e30.",), &[JwsAlg::EdDsa]).unwrap_err(),
            JoseErrorKind::AlgNotAllowed {
                alg: "ES256".into()
            }
        );
    }

    #[test]
    fn es256_roundtrip_and_curve_confusion() {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let sk = EcKey::generate(&group).unwrap();
        let pk =
            PKey::from_ec_key(EcKey::from_public_key(&group, sk.public_key()).unwrap()).unwrap();
        let msg = b"hello";
        let d = openssl::sha::sha256(msg);
        let sig = EcdsaSig::sign(&d, &sk).unwrap();
        let mut raw = sig.r().to_vec_padded(32).unwrap();
        raw.extend(sig.s().to_vec_padded(32).unwrap());
        assert_eq!(verify_signature(JwsAlg::Es256, &pk, msg, &raw), Ok(()));
        assert_eq!(
            verify_signature(JwsAlg::Es384, &pk, msg, &raw),
            Err(JoseErrorKind::KeyAlgMismatch { alg: JwsAlg::Es384 })
        );
        raw[5] ^= 1;
        assert_eq!(
            verify_signature(JwsAlg::Es256, &pk, msg, &raw),
            Err(JoseErrorKind::SignatureInvalid)
        );
    }

    #[test]
    fn rfc7638_thumbprint_example() {
        // RFC 7638 section 3.1 example key and thumbprint.
        let jwk = serde_json::json!({"kty":"RSA","e":"AQAB","alg":"RS256","kid":"2011-04-29",
          "n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"});
        assert_eq!(
            b64url_encode(&jwk_thumbprint_sha256(&jwk).unwrap()),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }
}
