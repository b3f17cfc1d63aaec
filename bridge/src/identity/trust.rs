//! Issuer trust: the certificate chain carried by a credential (`x5c` in a JOSE header, `x5chain`
//! in a COSE header) is validated to a trust anchor at a given instant.
//!
//! The anchors come through the [`IssuerTrust`] trait so that the trust-list store (PID-provider and
//! attestation-provider services of ETSI TS 119 612 / TS 119 602 lists) can plug in; this module
//! ships the offline [`PemTrustAnchors`] implementation used by tests, the CLI and the corpus runner.
//! Path building, signatures, validity periods and basic constraints are OpenSSL's (RFC 5280
//! section 6); the time is a parameter, never the clock.

use std::collections::HashMap;
use std::sync::Mutex;

use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Public};
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::{X509VerifyFlags, X509VerifyParam};
use openssl::x509::{X509StoreContext, X509VerifyResult, X509};

/// Longest accepted certificate chain (leaf + intermediates). The EUDI ARF PKI is at most
/// anchor -> CA -> DS/leaf; 8 leaves room for bridge CAs while bounding signature checks.
pub const MAX_CHAIN_LEN: usize = 8;

/// Largest accepted DER certificate, in bytes (real-world issuer certificates are < 4 KiB).
pub const MAX_CERT_BYTES: usize = 16 * 1024;

/// Errors of the issuer-trust stage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrustErrorKind {
    /// No certificate chain where the policy requires one (SD-JWT VC "Issuer Verification Key
    /// Discovery": `x5c`; ISO 18013-5 section 9.1.2.4: x5chain label 33).
    #[error("no certificate chain")]
    ChainMissing,
    /// A certificate of the chain is not DER, not base64, or too large.
    #[error("certificate {index} of the chain is malformed")]
    CertificateMalformed {
        /// Position in the chain, 0 = leaf.
        index: usize,
    },
    /// More certificates than [`MAX_CHAIN_LEN`].
    #[error("chain of {len} certificates exceeds {max}")]
    ChainTooLong {
        /// Received length.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// A certificate of the path is outside its validity period at the instant (RFC 5280 section 6.1.3 (a)(2)).
    #[error("certificate not valid at the verification time")]
    CertificateExpired,
    /// A certificate of the path is not yet valid at the instant (RFC 5280 section 6.1.3 (a)(2)).
    #[error("certificate not yet valid at the verification time")]
    CertificateNotYetValid,
    /// The chain does not lead to a configured trust anchor (RFC 5280 section 6.1).
    #[error("chain does not lead to a trust anchor (openssl verify code {code})")]
    Untrusted {
        /// OpenSSL `X509_V_ERR_*` code, for diagnostics.
        code: i32,
    },
    /// No trust anchor is configured.
    #[error("no trust anchors configured")]
    NoAnchors,
    /// A configured anchor could not be read.
    #[error("trust anchor {index} is not a PEM certificate")]
    AnchorMalformed {
        /// Position in the configuration.
        index: usize,
    },
    /// The leaf certificate names neither the issuer's host (dNSName) nor its URI (SD-JWT VC
    /// draft, policy taken from eudi-lib-jvm-sdjwt-kt; enabled by `require_iss_matches_x5c_san`).
    #[error("issuer does not match the leaf certificate subjectAltName")]
    IssuerNameMismatch,
    /// OpenSSL failed internally while building the store.
    #[error("certificate store could not be built")]
    Store,
}

/// Who signed a credential, as established by the trust stage. It identifies the issuer (an
/// organisation), never the holder, so it may be logged and journaled.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TrustedIssuer {
    /// RFC 4514-like subject of the leaf (signing) certificate.
    pub subject: String,
    /// SHA-256 of the leaf certificate DER, lowercase hex.
    pub leaf_sha256: String,
    /// Subject of the trust anchor the path ended at.
    pub anchor_subject: String,
    /// What `journal verify --recheck` needs to re-run the decision, when a trust-list snapshot
    /// took it (issue 6 point 5); `None` for configured anchors, which no snapshot archives.
    #[serde(skip)]
    pub evidence: Option<IssuerEvidence>,
}

/// The chain a trust-list decision validated and the digest of the snapshot it used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerEvidence {
    /// The chain as validated, DER, leaf first.
    pub chain: Vec<Vec<u8>>,
    /// `trust_lists::Snapshot::digest` of the snapshot in force.
    pub trust_snapshot: [u8; 32],
}

/// A validated chain: who the issuer is and the leaf key to check its signature with.
#[derive(Debug, Clone)]
pub struct ValidatedChain {
    /// Issuer identification.
    pub issuer: TrustedIssuer,
    /// Public key of the leaf certificate.
    pub leaf_key: PKey<Public>,
}

/// A source of trust anchors for credential issuers.
pub trait IssuerTrust: Send + Sync + std::fmt::Debug {
    /// Validates `chain` (leaf first) to a trust anchor at `at` (Unix seconds).
    ///
    /// # Errors
    /// A [`TrustErrorKind`] saying why the chain is not trusted at `at`.
    fn verify_chain(&self, chain: &[X509], at: i64) -> Result<TrustedIssuer, TrustErrorKind>;

    /// Validates a DER chain as received (leaf first) and returns the leaf key. Implementations
    /// may cache parsed certificates and validated paths; the default parses and validates.
    ///
    /// # Errors
    /// As [`IssuerTrust::verify_chain`], plus malformed or oversized certificates.
    fn verify_der_chain(
        &self,
        ders: &[Vec<u8>],
        at: i64,
    ) -> Result<ValidatedChain, TrustErrorKind> {
        let chain = parse_der_chain(ders)?;
        let issuer = self.verify_chain(&chain, at)?;
        let leaf = chain.first().ok_or(TrustErrorKind::ChainMissing)?;
        Ok(ValidatedChain {
            issuer,
            leaf_key: fast_public_key(leaf)?,
        })
    }
}

/// The leaf key. An EC key is rebuilt on the library's named-curve group: the key OpenSSL 3
/// decodes from a certificate is a provider key whose legacy export may carry a generic curve
/// implementation, several times slower to verify with than the named-curve one.
fn fast_public_key(leaf: &X509) -> Result<PKey<Public>, TrustErrorKind> {
    let key = leaf
        .public_key()
        .map_err(|_| TrustErrorKind::CertificateMalformed { index: 0 })?;
    let rebuilt = key.ec_key().ok().and_then(|ec| {
        let nid = ec.group().curve_name()?;
        let mut ctx = openssl::bn::BigNumContext::new().ok()?;
        let octets = ec
            .public_key()
            .to_bytes(
                ec.group(),
                openssl::ec::PointConversionForm::UNCOMPRESSED,
                &mut ctx,
            )
            .ok()?;
        let n = octets.len().checked_sub(1)? / 2;
        super::jose::ec_public_key(nid, octets.get(1..1 + n)?, octets.get(1 + n..)?)
    });
    Ok(rebuilt.unwrap_or(key))
}

/// Most validated chains remembered by [`PemTrustAnchors`]. A deployment sees a few hundred
/// document-signer / issuer certificates (ARF: one or a few per provider and Member State); the
/// cache is cleared when full, so memory stays bounded under a flood of distinct chains.
pub const MAX_CACHED_CHAINS: usize = 1024;

/// A chain validated once: the result holds at any instant inside every certificate's validity
/// period, because the anchors of a [`PemTrustAnchors`] never change and revocation is not part
/// of this check (RFC 5280 section 6.1.3 (a)(2) is the only time-dependent step).
#[derive(Debug, Clone)]
struct CachedChain {
    validated: ValidatedChain,
    not_before: i64,
    not_after: i64,
}

fn unix(t: &openssl::asn1::Asn1TimeRef) -> Option<i64> {
    let epoch = openssl::asn1::Asn1Time::from_unix(0).ok()?;
    let d = epoch.diff(t).ok()?;
    Some(i64::from(d.days) * 86_400 + i64::from(d.secs))
}

/// Trust anchors given as PEM certificates (offline, for tests, the CLI and the corpus runner),
/// with a bounded cache of validated chains.
#[derive(Debug)]
pub struct PemTrustAnchors {
    anchors: Vec<X509>,
    cache: Mutex<HashMap<[u8; 32], CachedChain>>,
}

impl PemTrustAnchors {
    /// Reads each string as one or more PEM certificates.
    ///
    /// # Errors
    /// [`TrustErrorKind::AnchorMalformed`] for the first unreadable entry.
    pub fn from_pem<S: AsRef<[u8]>>(pems: &[S]) -> Result<Self, TrustErrorKind> {
        let mut anchors = Vec::new();
        for (index, pem) in pems.iter().enumerate() {
            let certs = X509::stack_from_pem(pem.as_ref())
                .map_err(|_| TrustErrorKind::AnchorMalformed { index })?;
            if certs.is_empty() {
                return Err(TrustErrorKind::AnchorMalformed { index });
            }
            anchors.extend(certs);
        }
        Ok(Self {
            anchors,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The configured anchors.
    pub fn anchors(&self) -> &[X509] {
        &self.anchors
    }
}

/// Formats a subject name as `C=..,O=..,CN=..` (order as encoded), for issuer identification.
pub(crate) fn subject_string(cert: &X509) -> String {
    let mut parts = Vec::new();
    for e in cert.subject_name().entries() {
        let key = e
            .object()
            .nid()
            .short_name()
            .map(str::to_owned)
            .unwrap_or_else(|_| e.object().to_string());
        let val = e.data().to_string().unwrap_or_default();
        parts.push(format!("{key}={val}"));
    }
    parts.join(",")
}

impl PemTrustAnchors {
    /// Validates `chain` at `at`; on success also returns the validity window of the built path
    /// (`None` when a date could not be converted, which disables caching for it).
    fn validate(
        &self,
        chain: &[X509],
        at: i64,
    ) -> Result<(TrustedIssuer, Option<(i64, i64)>), TrustErrorKind> {
        let leaf = chain.first().ok_or(TrustErrorKind::ChainMissing)?;
        if chain.len() > MAX_CHAIN_LEN {
            return Err(TrustErrorKind::ChainTooLong {
                len: chain.len(),
                max: MAX_CHAIN_LEN,
            });
        }
        if self.anchors.is_empty() {
            return Err(TrustErrorKind::NoAnchors);
        }
        let store_err = |_| TrustErrorKind::Store;
        let mut builder = X509StoreBuilder::new().map_err(store_err)?;
        for a in &self.anchors {
            builder.add_cert(a.clone()).map_err(store_err)?;
        }
        let mut param = X509VerifyParam::new().map_err(store_err)?;
        param.set_time(at as _);
        // PARTIAL_CHAIN: a configured anchor is trusted even when it is not self-signed (a trusted
        // list may publish an intermediate or the signing certificate itself, TS 119 612 5.5.3).
        param
            .set_flags(X509VerifyFlags::PARTIAL_CHAIN)
            .map_err(store_err)?;
        builder.set_param(&param).map_err(store_err)?;
        let store = builder.build();
        let mut untrusted = Stack::new().map_err(store_err)?;
        for c in &chain[1..] {
            untrusted.push(c.clone()).map_err(store_err)?;
        }
        let mut ctx = X509StoreContext::new().map_err(store_err)?;
        let outcome = ctx
            .init(&store, leaf, &untrusted, |c| {
                let ok = c.verify_cert()?;
                // The validity window common to every certificate of the built path.
                let anchor = c.chain().and_then(|s| {
                    let mut window = Some((i64::MIN, i64::MAX));
                    for cert in s.iter() {
                        window = match (window, unix(cert.not_before()), unix(cert.not_after())) {
                            (Some((nb, na)), Some(b), Some(a)) => Some((nb.max(b), na.min(a))),
                            _ => None,
                        };
                    }
                    s.iter().last().map(|a| (a.to_owned(), window))
                });
                Ok((ok, c.error(), anchor))
            })
            .map_err(store_err)?;
        match outcome {
            (true, _, Some((anchor, window))) => Ok((
                TrustedIssuer {
                    subject: subject_string(leaf),
                    leaf_sha256: leaf
                        .digest(MessageDigest::sha256())
                        .map(hex::encode)
                        .map_err(store_err)?,
                    anchor_subject: subject_string(&anchor),
                    evidence: None,
                },
                window,
            )),
            (_, err, _) => Err(map_verify_error(err)),
        }
    }
}

impl IssuerTrust for PemTrustAnchors {
    fn verify_chain(&self, chain: &[X509], at: i64) -> Result<TrustedIssuer, TrustErrorKind> {
        self.validate(chain, at).map(|(issuer, _)| issuer)
    }

    fn verify_der_chain(
        &self,
        ders: &[Vec<u8>],
        at: i64,
    ) -> Result<ValidatedChain, TrustErrorKind> {
        let mut h = openssl::sha::Sha256::new();
        for d in ders {
            h.update(&(d.len() as u64).to_be_bytes());
            h.update(d);
        }
        let key = h.finish();
        // A poisoned lock only means another thread panicked mid-insert; the map is still valid.
        let lock = || {
            self.cache
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some(hit) = lock().get(&key) {
            if hit.not_before <= at && at <= hit.not_after {
                return Ok(hit.validated.clone());
            }
        }
        let chain = parse_der_chain(ders)?;
        let (issuer, window) = self.validate(&chain, at)?;
        let leaf = chain.first().ok_or(TrustErrorKind::ChainMissing)?;
        let validated = ValidatedChain {
            issuer,
            leaf_key: fast_public_key(leaf)?,
        };
        if let Some((not_before, not_after)) = window {
            let mut cache = lock();
            if cache.len() >= MAX_CACHED_CHAINS {
                cache.clear();
            }
            cache.insert(
                key,
                CachedChain {
                    validated: validated.clone(),
                    not_before,
                    not_after,
                },
            );
        }
        Ok(validated)
    }
}

fn map_verify_error(err: X509VerifyResult) -> TrustErrorKind {
    // X509_V_ERR_CERT_NOT_YET_VALID = 9, X509_V_ERR_CERT_HAS_EXPIRED = 10 (openssl/x509_vfy.h).
    match err.as_raw() {
        9 => TrustErrorKind::CertificateNotYetValid,
        10 => TrustErrorKind::CertificateExpired,
        code => TrustErrorKind::Untrusted { code },
    }
}

/// Checks that the leaf names `iss`: a dNSName equal to the host of an `https` issuer, or a URI
/// equal to the issuer (SD-JWT VC, policy of eudi-lib-jvm-sdjwt-kt).
///
/// # Errors
/// [`TrustErrorKind::IssuerNameMismatch`].
pub fn check_issuer_san(leaf: &X509, iss: &str) -> Result<(), TrustErrorKind> {
    let host = iss
        .strip_prefix("https://")
        .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or_default())
        .map(|h| h.split(':').next().unwrap_or_default().to_ascii_lowercase());
    let names = leaf
        .subject_alt_names()
        .ok_or(TrustErrorKind::IssuerNameMismatch)?;
    for n in names.iter() {
        if let (Some(dns), Some(h)) = (n.dnsname(), host.as_deref()) {
            if dns.eq_ignore_ascii_case(h) {
                return Ok(());
            }
        }
        if n.uri() == Some(iss) {
            return Ok(());
        }
    }
    Err(TrustErrorKind::IssuerNameMismatch)
}

/// Parses a DER chain (leaf first) with the size and length bounds of this module.
///
/// # Errors
/// [`TrustErrorKind::ChainMissing`], [`TrustErrorKind::ChainTooLong`] or
/// [`TrustErrorKind::CertificateMalformed`].
pub fn parse_der_chain<B: AsRef<[u8]>>(ders: &[B]) -> Result<Vec<X509>, TrustErrorKind> {
    if ders.is_empty() {
        return Err(TrustErrorKind::ChainMissing);
    }
    if ders.len() > MAX_CHAIN_LEN {
        return Err(TrustErrorKind::ChainTooLong {
            len: ders.len(),
            max: MAX_CHAIN_LEN,
        });
    }
    ders.iter()
        .enumerate()
        .map(|(index, d)| {
            let d = d.as_ref();
            if d.len() > MAX_CERT_BYTES {
                return Err(TrustErrorKind::CertificateMalformed { index });
            }
            X509::from_der(d).map_err(|_| TrustErrorKind::CertificateMalformed { index })
        })
        .collect()
}
