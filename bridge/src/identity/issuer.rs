//! Issuer key resolution for JOSE-signed objects (the issuer-signed JWT and the Status List
//! Token): either configured public keys, or the `x5c` chain of the protected header validated
//! through an [`IssuerTrust`] (SD-JWT VC draft, "Issuer Verification Key Discovery").

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use openssl::pkey::{PKey, Public};
use serde_json::Value;

use openssl::x509::X509;

use super::jose::{CompactJws, JoseErrorKind};

use super::trust::{check_issuer_san, IssuerTrust, TrustErrorKind, TrustedIssuer};

/// Where the verifier takes issuer keys from.
#[derive(Debug, Clone)]
pub enum IssuerKeys {
    /// Configured keys (for instance from JWT VC Issuer Metadata); each is tried in turn.
    Keys(Vec<PKey<Public>>),
    /// The `x5c` header, validated to the anchors of this trust source.
    X5c(Arc<dyn IssuerTrust>),
}

/// How the issuer was identified.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum IssuerIdentity {
    /// A configured key, by position in the configuration.
    ConfiguredKey {
        /// Index in [`IssuerKeys::Keys`].
        index: usize,
    },
    /// A certificate chain to a trust anchor.
    Certificate(TrustedIssuer),
}

/// Failure of [`verify_issuer_signature`]: either the trust stage or the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IssuerFailure {
    /// Chain or name checks failed.
    Trust(TrustErrorKind),
    /// Signature (or key/alg) failed.
    Jose(JoseErrorKind),
}

/// Verifies `jws` with the issuer key, at `now`. With `san_iss` set, the leaf certificate must
/// name that issuer.
pub(crate) fn verify_issuer_signature(
    jws: &CompactJws<'_>,
    keys: &IssuerKeys,
    now: i64,
    san_iss: Option<&str>,
) -> Result<IssuerIdentity, IssuerFailure> {
    match keys {
        IssuerKeys::Keys(list) => {
            let mut last = JoseErrorKind::SignatureInvalid;
            for (index, k) in list.iter().enumerate() {
                match jws.verify(k) {
                    Ok(()) => return Ok(IssuerIdentity::ConfiguredKey { index }),
                    // Keep the most telling failure: a signature check beats a type mismatch.
                    Err(e) if last != JoseErrorKind::SignatureInvalid || index == 0 => last = e,
                    Err(_) => {}
                }
            }
            Err(IssuerFailure::Jose(last))
        }
        IssuerKeys::X5c(trust) => {
            let x5c = match jws.header.get("x5c") {
                Some(Value::Array(a)) => a,
                _ => return Err(IssuerFailure::Trust(TrustErrorKind::ChainMissing)),
            };
            // RFC 7515 section 4.1.6: standard (not url-safe) base64 of DER.
            let ders = x5c
                .iter()
                .enumerate()
                .map(|(index, c)| {
                    c.as_str()
                        .and_then(|s| STANDARD.decode(s).ok())
                        .ok_or(TrustErrorKind::CertificateMalformed { index })
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(IssuerFailure::Trust)?;
            let validated = trust
                .verify_der_chain(&ders, now)
                .map_err(IssuerFailure::Trust)?;
            if let Some(iss) = san_iss {
                let leaf = ders.first().and_then(|d| X509::from_der(d).ok()).ok_or(
                    IssuerFailure::Trust(TrustErrorKind::CertificateMalformed { index: 0 }),
                )?;
                check_issuer_san(&leaf, iss).map_err(IssuerFailure::Trust)?;
            }
            let key = validated.leaf_key;
            let trusted = validated.issuer;
            jws.verify(&key).map_err(IssuerFailure::Jose)?;
            Ok(IssuerIdentity::Certificate(trusted))
        }
    }
}
