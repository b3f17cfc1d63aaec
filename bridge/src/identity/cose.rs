//! COSE (RFC 9052) as ISO/IEC 18013-5 uses it: COSE_Sign1 (IssuerAuth, DeviceSignature), COSE_Mac0
//! (DeviceMac) and COSE_Key (the MSO device key). Signatures use the JOSE layer's algorithm table
//! (RFC 9053 section 2.1: ECDSA signatures are fixed-length `r || s`, as in JWS); the
//! Sig_structure / MAC_structure are built here and verified with OpenSSL.

use openssl::bn::{BigNum, BigNumContext};
use openssl::derive::Deriver;
use openssl::ec::{EcGroup, EcKey, EcPoint};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Private, Public};
use openssl::sign::Signer;

use super::cbor::{
    bytes_raw, encode_head, int_at, is_null, items, major_at, map_get_label, skip, untag, whole,
    Span,
};
use super::jose::{ec_public_key, verify_signature, JoseErrorKind, JwsAlg};
use super::MdocErrorKind;

/// COSE header label `alg` (RFC 9052 section 3.1).
const LABEL_ALG: i64 = 1;
/// COSE header label `x5chain` (RFC 9360 section 2), where ISO 18013-5 puts the issuer chain.
pub(crate) const LABEL_X5CHAIN: i64 = 33;
/// COSE algorithm `HMAC 256/256` (RFC 9053 section 3.1), the DeviceMac algorithm of 18013-5 9.1.3.5.
const ALG_HMAC_256: i64 = 5;

/// A COSE_Sign1 or COSE_Mac0 (both are `[protected, unprotected, payload, sig/tag]`), borrowed
/// from the received bytes: nothing is copied or decoded beyond the header lookups.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CoseMessage<'a> {
    /// The protected header bstr content as received (it is signed as-is).
    pub(crate) protected_raw: &'a [u8],
    /// The unprotected header map item.
    unprotected: &'a [u8],
    /// Payload, `None` when detached.
    pub(crate) payload: Option<&'a [u8]>,
    /// Signature or tag.
    pub(crate) signature: &'a [u8],
}

impl<'a> CoseMessage<'a> {
    /// Reads the COSE_Sign1 / COSE_Mac0 (tag 18 / 17 optional) at `span` of `buf`.
    pub(crate) fn from_span(
        buf: &'a [u8],
        span: Span,
        structure: &'static str,
    ) -> Result<Self, MdocErrorKind> {
        let bad = MdocErrorKind::Structure { structure };
        let span = match untag(buf, span) {
            Some((17 | 18, inner)) => inner,
            Some(_) => return Err(bad),
            None => span,
        };
        if major_at(buf, span) != Some(4) {
            return Err(bad);
        }
        let mut it = items(buf, span.start, 4)?;
        let mut next = || it.next().transpose();
        let (Some(p), Some(u), Some(payload), Some(sig), None) =
            (next()?, next()?, next()?, next()?, next()?)
        else {
            return Err(bad);
        };
        let protected_raw = bytes_raw(buf, p).ok_or(bad.clone())?;
        // An empty bstr stands for an empty map (RFC 9052 section 3); otherwise one whole map.
        if !protected_raw.is_empty()
            && (skip(protected_raw, 0, 0)? != protected_raw.len()
                || major_at(protected_raw, whole(protected_raw)) != Some(5))
        {
            return Err(bad);
        }
        if major_at(buf, u) != Some(5) {
            return Err(bad);
        }
        let payload = if is_null(buf, payload) {
            None
        } else {
            Some(bytes_raw(buf, payload).ok_or(bad.clone())?)
        };
        Ok(Self {
            protected_raw,
            unprotected: &buf[u.start..u.end],
            payload,
            signature: bytes_raw(buf, sig).ok_or(bad)?,
        })
    }

    fn protected_get(&self, label: i64) -> Result<Option<&'a [u8]>, MdocErrorKind> {
        if self.protected_raw.is_empty() {
            return Ok(None);
        }
        let p = self.protected_raw;
        Ok(map_get_label(p, 0, label)?.map(|s| &p[s.start..s.end]))
    }

    /// A header parameter item, protected first (RFC 9052 section 3: a label appears in one bucket).
    pub(crate) fn header(&self, label: i64) -> Result<Option<&'a [u8]>, MdocErrorKind> {
        if let Some(v) = self.protected_get(label)? {
            return Ok(Some(v));
        }
        let u = self.unprotected;
        Ok(map_get_label(u, 0, label)?.map(|s| &u[s.start..s.end]))
    }

    fn alg_id(&self) -> Result<i64, MdocErrorKind> {
        // The algorithm must be integrity protected (RFC 9052 section 3.1).
        self.protected_get(LABEL_ALG)?
            .and_then(|v| int_at(v, whole(v)))
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

    /// Sig_structure / MAC_structure bytes (RFC 9052 sections 4.4 and 6.3) with an empty
    /// external_aad, written directly (preferred serialisation, as ciborium would encode it).
    fn to_be_signed(self, context: &str, payload: &[u8]) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(32 + context.len() + self.protected_raw.len() + payload.len());
        out.push(0x84);
        encode_head(3, context.len() as u64, &mut out);
        out.extend_from_slice(context.as_bytes());
        encode_head(2, self.protected_raw.len() as u64, &mut out);
        out.extend_from_slice(self.protected_raw);
        out.push(0x40);
        encode_head(2, payload.len() as u64, &mut out);
        out.extend_from_slice(payload);
        out
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
            self.signature,
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
        if tag.len() == self.signature.len() && openssl::memcmp::eq(&tag, self.signature) {
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

/// Imports the COSE_Key item `k` (RFC 9053 section 7.1: EC2 P-256/384/521; OKP Ed25519/Ed448).
pub(crate) fn cose_key_to_public(k: &[u8]) -> Result<PKey<Public>, MdocErrorKind> {
    if major_at(k, whole(k)) != Some(5) {
        return Err(MdocErrorKind::DeviceKey);
    }
    let label = |l| -> Result<Option<Span>, MdocErrorKind> { map_get_label(k, 0, l) };
    let int =
        |l| -> Result<Option<i64>, MdocErrorKind> { Ok(label(l)?.and_then(|s| int_at(k, s))) };
    let bytes = |l| -> Result<&[u8], MdocErrorKind> {
        label(l)?
            .and_then(|s| bytes_raw(k, s))
            .ok_or(MdocErrorKind::DeviceKey)
    };
    let bad = |_| MdocErrorKind::DeviceKey;
    match (int(1)?, int(-1)?) {
        (Some(2), Some(crv)) => {
            let nid = match crv {
                1 => Nid::X9_62_PRIME256V1,
                2 => Nid::SECP384R1,
                3 => Nid::SECP521R1,
                _ => return Err(MdocErrorKind::DeviceKey),
            };
            ec_public_key(nid, bytes(-2)?, bytes(-3)?).ok_or(MdocErrorKind::DeviceKey)
        }
        (Some(1), Some(crv)) => {
            let id = match crv {
                6 => Id::ED25519,
                7 => Id::ED448,
                _ => return Err(MdocErrorKind::DeviceKey),
            };
            PKey::public_key_from_raw_bytes(bytes(-2)?, id).map_err(bad)
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

/// Reads the x5chain header (a bstr, or an array of bstr; RFC 9360 section 2), copying the
/// certificates out for the trust stage.
pub(crate) fn x5chain(msg: &CoseMessage<'_>) -> Result<Vec<Vec<u8>>, MdocErrorKind> {
    use super::trust::TrustErrorKind;
    let Some(v) = msg.header(LABEL_X5CHAIN)? else {
        return Err(MdocErrorKind::IssuerTrust(TrustErrorKind::ChainMissing));
    };
    let all = whole(v);
    if let Some(b) = bytes_raw(v, all) {
        return Ok(vec![b.to_vec()]);
    }
    if major_at(v, all) != Some(4) {
        return Err(MdocErrorKind::IssuerTrust(TrustErrorKind::ChainMissing));
    }
    items(v, 0, 4)?
        .enumerate()
        .map(|(index, c)| {
            bytes_raw(v, c?)
                .map(<[u8]>::to_vec)
                .ok_or(MdocErrorKind::IssuerTrust(
                    TrustErrorKind::CertificateMalformed { index },
                ))
        })
        .collect()
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
