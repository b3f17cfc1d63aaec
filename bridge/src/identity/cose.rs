//! COSE (RFC 9052) as ISO/IEC 18013-5 uses it: COSE_Sign1 (IssuerAuth, DeviceSignature), COSE_Mac0
//! (DeviceMac) and COSE_Key (the MSO device key). Signatures use the JOSE layer's algorithm table
//! (RFC 9053 section 2.1: ECDSA signatures are fixed-length `r || s`, as in JWS); the
//! Sig_structure / MAC_structure are built here and verified with OpenSSL.

use ciborium::Value;
use openssl::bn::{BigNum, BigNumContext};
use openssl::derive::Deriver;
use openssl::ec::{EcGroup, EcKey, EcPoint};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Private, Public};
use openssl::sign::Signer;

use super::cbor::{decode, encode, get_label};
use super::jose::{ec_public_key, verify_signature, JoseErrorKind, JwsAlg};
use super::MdocErrorKind;

/// COSE header label `alg` (RFC 9052 section 3.1).
const LABEL_ALG: i64 = 1;
/// COSE header label `x5chain` (RFC 9360 section 2), where ISO 18013-5 puts the issuer chain.
pub(crate) const LABEL_X5CHAIN: i64 = 33;
/// COSE algorithm `HMAC 256/256` (RFC 9053 section 3.1), the DeviceMac algorithm of 18013-5 9.1.3.5.
const ALG_HMAC_256: i64 = 5;

/// A decoded COSE_Sign1 or COSE_Mac0 (both are `[protected, unprotected, payload, sig/tag]`).
#[derive(Debug, Clone)]
pub(crate) struct CoseMessage {
    /// The protected header bstr as received (it is signed as-is).
    pub(crate) protected_raw: Vec<u8>,
    /// Decoded protected header map.
    pub(crate) protected: Value,
    /// Unprotected header map.
    pub(crate) unprotected: Value,
    /// Payload, `None` when detached.
    pub(crate) payload: Option<Vec<u8>>,
    /// Signature or tag.
    pub(crate) signature: Vec<u8>,
}

impl CoseMessage {
    /// Reads a COSE_Sign1 / COSE_Mac0 (tag 18 / 17 optional).
    pub(crate) fn from_value(v: &Value, structure: &'static str) -> Result<Self, MdocErrorKind> {
        let bad = MdocErrorKind::Structure { structure };
        let v = match v {
            Value::Tag(17 | 18, inner) => inner.as_ref(),
            other => other,
        };
        let [p, u, payload, sig] = v.as_array().map(Vec::as_slice).ok_or(bad.clone())? else {
            return Err(bad);
        };
        let protected_raw = p.as_bytes().ok_or(bad.clone())?.clone();
        let protected = if protected_raw.is_empty() {
            Value::Map(Vec::new())
        } else {
            decode(&protected_raw)?
        };
        if protected.as_map().is_none() || u.as_map().is_none() {
            return Err(bad);
        }
        let payload = match payload {
            Value::Null => None,
            Value::Bytes(b) => Some(b.clone()),
            _ => return Err(bad),
        };
        let signature = sig.as_bytes().ok_or(bad)?.clone();
        Ok(Self {
            protected_raw,
            protected,
            unprotected: u.clone(),
            payload,
            signature,
        })
    }

    /// A header parameter, protected first (RFC 9052 section 3: a label appears in one bucket).
    pub(crate) fn header(&self, label: i64) -> Option<&Value> {
        get_label(&self.protected, label).or_else(|| get_label(&self.unprotected, label))
    }

    fn alg_id(&self) -> Result<i64, MdocErrorKind> {
        // The algorithm must be integrity protected (RFC 9052 section 3.1).
        get_label(&self.protected, LABEL_ALG)
            .and_then(Value::as_integer)
            .and_then(|i| i64::try_from(i).ok())
            .ok_or(MdocErrorKind::Structure {
                structure: "COSE protected header alg",
            })
    }

    /// The signature algorithm, checked against `allowed`.
    pub(crate) fn sign_alg(&self, allowed: &[JwsAlg]) -> Result<JwsAlg, MdocErrorKind> {
        let id = self.alg_id()?;
        JwsAlg::from_cose(id)
            .filter(|a| allowed.contains(a))
            .ok_or(MdocErrorKind::AlgNotAllowed { alg: id })
    }

    /// Sig_structure / MAC_structure bytes (RFC 9052 sections 4.4 and 6.3) with an empty external_aad.
    fn to_be_signed(&self, context: &str, payload: &[u8]) -> Vec<u8> {
        encode(&Value::Array(vec![
            Value::Text(context.to_owned()),
            Value::Bytes(self.protected_raw.clone()),
            Value::Bytes(Vec::new()),
            Value::Bytes(payload.to_vec()),
        ]))
    }

    /// Verifies a COSE_Sign1 over `payload` (the attached one, or a detached one).
    pub(crate) fn verify_sign1(
        &self,
        alg: JwsAlg,
        key: &PKey<Public>,
        payload: &[u8],
    ) -> Result<(), JoseErrorKind> {
        verify_signature(
            alg,
            key,
            &self.to_be_signed("Signature1", payload),
            &self.signature,
        )
    }

    /// Verifies a COSE_Mac0 with HMAC 256/256 over a detached `payload`.
    pub(crate) fn verify_mac0(&self, key: &[u8], payload: &[u8]) -> Result<(), MdocErrorKind> {
        let id = self.alg_id()?;
        if id != ALG_HMAC_256 {
            return Err(MdocErrorKind::AlgNotAllowed { alg: id });
        }
        let tag = hmac_sha256(key, &self.to_be_signed("MAC0", payload))
            .ok_or(MdocErrorKind::DeviceAuthFailed)?;
        if tag.len() == self.signature.len() && openssl::memcmp::eq(&tag, &self.signature) {
            Ok(())
        } else {
            Err(MdocErrorKind::DeviceAuthFailed)
        }
    }
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    let k = PKey::hmac(key).ok()?;
    let mut s = Signer::new(MessageDigest::sha256(), &k).ok()?;
    s.update(data).ok()?;
    s.sign_to_vec().ok()
}

/// HKDF-SHA256 (RFC 5869) producing 32 bytes: one expand block suffices.
pub(crate) fn hkdf_sha256_32(ikm: &[u8], salt: &[u8], info: &[u8]) -> Option<Vec<u8>> {
    let prk = hmac_sha256(salt, ikm)?;
    let mut t = info.to_vec();
    t.push(1);
    hmac_sha256(&prk, &t)
}

/// ECDH shared secret (the x coordinate, SEC 1 section 3.3.1) between `ours` and `theirs`.
pub(crate) fn ecdh(ours: &PKey<Private>, theirs: &PKey<Public>) -> Option<Vec<u8>> {
    let mut d = Deriver::new(ours).ok()?;
    d.set_peer(theirs).ok()?;
    d.derive_to_vec().ok()
}

/// Imports a COSE_Key (RFC 9053 section 7.1: EC2 P-256/384/521; OKP Ed25519/Ed448).
pub(crate) fn cose_key_to_public(k: &Value) -> Result<PKey<Public>, MdocErrorKind> {
    let int = |l| {
        get_label(k, l)
            .and_then(Value::as_integer)
            .and_then(|i| i64::try_from(i).ok())
    };
    let bytes = |l| get_label(k, l).and_then(Value::as_bytes);
    let bad = |_| MdocErrorKind::DeviceKey;
    match (int(1), int(-1)) {
        (Some(2), Some(crv)) => {
            let nid = match crv {
                1 => Nid::X9_62_PRIME256V1,
                2 => Nid::SECP384R1,
                3 => Nid::SECP521R1,
                _ => return Err(MdocErrorKind::DeviceKey),
            };
            let (x, y) = (
                bytes(-2).ok_or(MdocErrorKind::DeviceKey)?,
                bytes(-3).ok_or(MdocErrorKind::DeviceKey)?,
            );
            ec_public_key(nid, x, y).ok_or(MdocErrorKind::DeviceKey)
        }
        (Some(1), Some(crv)) => {
            let id = match crv {
                6 => Id::ED25519,
                7 => Id::ED448,
                _ => return Err(MdocErrorKind::DeviceKey),
            };
            PKey::public_key_from_raw_bytes(bytes(-2).ok_or(MdocErrorKind::DeviceKey)?, id)
                .map_err(bad)
        }
        _ => Err(MdocErrorKind::DeviceKey),
    }
}

/// A P-256 private key from its scalar `d` (for the reader's ephemeral key of a DeviceMac session).
///
/// # Errors
/// [`MdocErrorKind::ReaderKeyMissing`] when `d` is not a valid P-256 scalar.
pub fn p256_private_key_from_scalar(d: &[u8]) -> Result<PKey<Private>, MdocErrorKind> {
    let bad = |_| MdocErrorKind::ReaderKeyMissing;
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).map_err(bad)?;
    let d = BigNum::from_slice(d).map_err(bad)?;
    let mut ctx = BigNumContext::new().map_err(bad)?;
    let mut public = EcPoint::new(&group).map_err(bad)?;
    public.mul_generator2(&group, &d, &mut ctx).map_err(bad)?;
    let key = EcKey::from_private_components(&group, &d, &public).map_err(bad)?;
    key.check_key().map_err(bad)?;
    PKey::from_ec_key(key).map_err(bad)
}

/// Reads the x5chain header (a bstr, or an array of bstr; RFC 9360 section 2).
pub(crate) fn x5chain(msg: &CoseMessage) -> Result<Vec<Vec<u8>>, MdocErrorKind> {
    use super::trust::TrustErrorKind;
    match msg.header(LABEL_X5CHAIN) {
        Some(Value::Bytes(b)) => Ok(vec![b.clone()]),
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(index, c)| {
                c.as_bytes().cloned().ok_or(MdocErrorKind::IssuerTrust(
                    TrustErrorKind::CertificateMalformed { index },
                ))
            })
            .collect(),
        _ => Err(MdocErrorKind::IssuerTrust(TrustErrorKind::ChainMissing)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hkdf_rfc5869_case1_prefix() {
        // RFC 5869 A.1 (L = 42; the first 32 bytes are the first expand block).
        let ikm = [0x0bu8; 22];
        let salt = hex::decode("000102030405060708090a0b0c").unwrap();
        let info = hex::decode("f0f1f2f3f4f5f6f7f8f9").unwrap();
        let okm = hkdf_sha256_32(&ikm, &salt, &info).unwrap();
        assert_eq!(
            hex::encode(okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
        );
    }
}
