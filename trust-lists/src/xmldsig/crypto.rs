//! Algorithm identifiers (XMLDSig 1.1 clause 6, RFC 9231) and their openssl implementations:
//! digests, RSA PKCS#1 v1.5, RSASSA-PSS (MGF1 with the same hash, salt = hash length, as
//! RFC 9231 clause 2.3.10 defines for the `*-rsa-MGF1` URIs) and ECDSA with the raw `r || s`
//! signature encoding of RFC 4050 / XMLDSig 1.1 clause 6.4.3.

use openssl::bn::BigNum;
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::pkey::{Id, PKey, Public};
use openssl::rsa::Padding;
use openssl::sign::{RsaPssSaltlen, Verifier};

use crate::error::SignatureErrorKind;

/// A digest algorithm accepted in references and certificate digests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Digest {
    /// SHA-1: only for XAdES `CertDigest` of legacy (v4/v5) lists, never for references.
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl Digest {
    /// Maps a `DigestMethod` URI.
    pub(crate) fn from_uri(uri: &str) -> Result<Self, SignatureErrorKind> {
        Ok(match uri {
            "http://www.w3.org/2000/09/xmldsig#sha1" => Digest::Sha1,
            "http://www.w3.org/2001/04/xmlenc#sha256" => Digest::Sha256,
            "http://www.w3.org/2001/04/xmldsig-more#sha384" => Digest::Sha384,
            "http://www.w3.org/2001/04/xmlenc#sha512" => Digest::Sha512,
            other => {
                return Err(SignatureErrorKind::UnsupportedAlgorithm {
                    uri: other.to_string(),
                })
            }
        })
    }

    fn md(self) -> MessageDigest {
        match self {
            Digest::Sha1 => MessageDigest::sha1(),
            Digest::Sha256 => MessageDigest::sha256(),
            Digest::Sha384 => MessageDigest::sha384(),
            Digest::Sha512 => MessageDigest::sha512(),
        }
    }

    /// Hashes `data`.
    pub(crate) fn hash(self, data: &[u8]) -> Result<Vec<u8>, SignatureErrorKind> {
        openssl::hash::hash(self.md(), data)
            .map(|d| d.to_vec())
            .map_err(|_| SignatureErrorKind::Crypto)
    }
}

/// The key family a signature method needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    RsaPkcs1,
    RsaPss,
    Ecdsa,
}

/// A signature method accepted for trusted lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SignatureMethod {
    family: Family,
    digest: Digest,
}

impl SignatureMethod {
    /// Maps a `SignatureMethod` URI. `pss_digest` is the `RSAPSSParams/DigestMethod` of the
    /// parameterised RFC 9231 `#rsa-pss` form, when present.
    pub(crate) fn from_uri(
        uri: &str,
        pss_digest: Option<Digest>,
    ) -> Result<Self, SignatureErrorKind> {
        let (family, digest) = match uri {
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" => {
                (Family::RsaPkcs1, Digest::Sha256)
            }
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384" => {
                (Family::RsaPkcs1, Digest::Sha384)
            }
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512" => {
                (Family::RsaPkcs1, Digest::Sha512)
            }
            "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1" => {
                (Family::RsaPss, Digest::Sha256)
            }
            "http://www.w3.org/2007/05/xmldsig-more#sha384-rsa-MGF1" => {
                (Family::RsaPss, Digest::Sha384)
            }
            "http://www.w3.org/2007/05/xmldsig-more#sha512-rsa-MGF1" => {
                (Family::RsaPss, Digest::Sha512)
            }
            // RFC 9231 clause 2.3.10: parameters in ds:RSAPSSParams; default digest SHA-256.
            "http://www.w3.org/2007/05/xmldsig-more#rsa-pss" => {
                (Family::RsaPss, pss_digest.unwrap_or(Digest::Sha256))
            }
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256" => {
                (Family::Ecdsa, Digest::Sha256)
            }
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384" => {
                (Family::Ecdsa, Digest::Sha384)
            }
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512" => {
                (Family::Ecdsa, Digest::Sha512)
            }
            other => {
                return Err(SignatureErrorKind::UnsupportedAlgorithm {
                    uri: other.to_string(),
                })
            }
        };
        if family == Family::RsaPss && digest == Digest::Sha1 {
            return Err(SignatureErrorKind::UnsupportedAlgorithm {
                uri: uri.to_string(),
            });
        }
        Ok(SignatureMethod { family, digest })
    }

    /// Verifies `sig` over `data` with `key`. `Ok(false)` is a mismatch; an `Err` is a key that
    /// does not fit the algorithm (algorithm confusion) or a library failure.
    pub(crate) fn verify(
        self,
        key: &PKey<Public>,
        data: &[u8],
        sig: &[u8],
    ) -> Result<bool, SignatureErrorKind> {
        let key_ok = match self.family {
            Family::RsaPkcs1 => key.id() == Id::RSA,
            Family::RsaPss => key.id() == Id::RSA || key.id() == Id::RSA_PSS,
            Family::Ecdsa => key.id() == Id::EC,
        };
        if !key_ok {
            return Err(SignatureErrorKind::KeyAlgorithmMismatch);
        }
        let crypto = |_| SignatureErrorKind::Crypto;
        let der;
        let sig = if self.family == Family::Ecdsa {
            match ecdsa_raw_to_der(sig) {
                Some(d) => {
                    der = d;
                    &der[..]
                }
                None => return Ok(false),
            }
        } else {
            sig
        };
        let mut verifier = Verifier::new(self.digest.md(), key).map_err(crypto)?;
        if self.family == Family::RsaPss {
            verifier
                .set_rsa_padding(Padding::PKCS1_PSS)
                .map_err(crypto)?;
            verifier.set_rsa_mgf1_md(self.digest.md()).map_err(crypto)?;
            verifier
                .set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)
                .map_err(crypto)?;
        }
        verifier.update(data).map_err(crypto)?;
        // openssl reports a malformed signature as an error, a wrong one as false: both mismatch.
        Ok(verifier.verify(sig).unwrap_or(false))
    }
}

/// Converts an XMLDSig ECDSA value (`r || s`, each half the length) to DER `ECDSA-Sig-Value`.
fn ecdsa_raw_to_der(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.is_empty() || !raw.len().is_multiple_of(2) {
        return None;
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    let r = BigNum::from_slice(r).ok()?;
    let s = BigNum::from_slice(s).ok()?;
    EcdsaSig::from_private_components(r, s).ok()?.to_der().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::nid::Nid;
    use openssl::sign::Signer;

    #[test]
    fn ecdsa_raw_signature_verifies() {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
        let mut signer = Signer::new(MessageDigest::sha256(), &key).unwrap();
        let der = signer.sign_oneshot_to_vec(b"data").unwrap();
        let sig = EcdsaSig::from_der(&der).unwrap();
        let mut raw = sig.r().to_vec_padded(32).unwrap();
        raw.extend(sig.s().to_vec_padded(32).unwrap());
        let public = PKey::public_key_from_der(&key.public_key_to_der().unwrap()).unwrap();
        let m =
            SignatureMethod::from_uri("http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256", None)
                .unwrap();
        assert!(m.verify(&public, b"data", &raw).unwrap());
        assert!(!m.verify(&public, b"datb", &raw).unwrap());
        let rsa =
            SignatureMethod::from_uri("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", None)
                .unwrap();
        assert_eq!(
            rsa.verify(&public, b"data", &raw),
            Err(SignatureErrorKind::KeyAlgorithmMismatch)
        );
    }

    #[test]
    fn unknown_algorithms_are_refused() {
        assert!(matches!(
            SignatureMethod::from_uri("http://www.w3.org/2000/09/xmldsig#hmac-sha1", None),
            Err(SignatureErrorKind::UnsupportedAlgorithm { .. })
        ));
        assert!(Digest::from_uri("http://www.w3.org/2001/04/xmldsig-more#md5").is_err());
    }
}
