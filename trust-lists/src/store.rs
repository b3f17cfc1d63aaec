//! The trust store built from a verified [`Snapshot`], and certificate validation at an
//! instant: path from the leaf through the given intermediates to a service digital identity
//! of a national list, signatures and validity checked with openssl, the service status at the
//! instant from its history (TS 119 612 clause 5.6), then qualification and type from the
//! certificate's QC statements and the service's Sie qualifiers (a subset of TS 119 615).
//!
//! Path building and signature checks do not depend on the instant, so they are cached by
//! chain digest; a repeated chain costs one hash, a map lookup and the time-dependent checks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use openssl::asn1::{Asn1Time, Asn1TimeRef};
use openssl::x509::X509;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::der::{extensions, CertType, Extensions};
use crate::qualification::{
    additional_info_fits, qualification, type_fits, Qualification, ACCEPTABLE_STATUSES,
};
use crate::snapshot::{ListKind, Snapshot};
use crate::tsl::TrustService;

/// Longest chain accepted (leaf plus intermediates); RFC 5280 sets no limit, real QTSP
/// hierarchies have at most 4 levels, webpki budgets similarly.
pub const MAX_CHAIN_LEN: usize = 8;

/// Most chains whose path is cached; the cache is cleared when full (bounded memory).
pub const MAX_CACHED_PATHS: usize = 16_384;

/// What the certificate is to be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Usage {
    /// Qualified electronic seal (message seals, receipts).
    QSeal,
    /// Qualified website authentication (peer bridge TLS).
    Qwac,
    /// Qualified electronic signature.
    ESig,
    /// PID provider (wallet credential issuer).
    Pid,
    /// Any usage: only the path and the service status are checked.
    Any,
}

/// Why a certificate is not trusted or not qualified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationReason {
    /// No certificate was given.
    #[error("empty chain")]
    EmptyChain,
    /// More than [`MAX_CHAIN_LEN`] certificates.
    #[error("chain longer than {limit}")]
    ChainTooLong {
        /// The limit that applied.
        limit: usize,
    },
    /// A certificate is not DER X.509 (RFC 5280 clause 4.1).
    #[error("certificate {index} cannot be decoded")]
    UndecodableCertificate {
        /// Position in the chain.
        index: usize,
    },
    /// No path from the leaf to a service digital identity of a verified list (RFC 5280 clause 6.1,
    /// trust anchors from TS 119 612 clause 5.5.3).
    #[error("no path to a trusted service")]
    NoPathToTrustedService,
    /// A certificate of the path is not yet valid at the instant (RFC 5280 clause 4.1.2.5).
    #[error("certificate {index} not yet valid")]
    NotYetValid {
        /// Position in the path (0 = leaf).
        index: usize,
    },
    /// A certificate of the path has expired at the instant (RFC 5280 clause 4.1.2.5).
    #[error("certificate {index} expired")]
    Expired {
        /// Position in the path (0 = leaf).
        index: usize,
    },
    /// An intermediate of the path is not a CA certificate (RFC 5280 clause 4.2.1.9).
    #[error("certificate {index} is not a CA")]
    IntermediateNotCa {
        /// Position in the path.
        index: usize,
    },
    /// The service had no status yet at the instant (its history starts later).
    #[error("service has no status at the instant")]
    NoStatusAtInstant,
    /// The service status at the instant is not acceptable, e.g. withdrawn (TS 119 612 clause 5.5.4).
    #[error("service status {status} at the instant")]
    StatusNotAcceptable {
        /// The status URI in force.
        status: String,
    },
    /// The service type does not issue certificates for this usage.
    #[error("service type {service_type} does not fit the usage")]
    ServiceTypeNotForUsage {
        /// The service type in force.
        service_type: String,
    },
    /// The certificate is not qualified (no QcCompliance, or a NotQualified qualifier).
    #[error("certificate is not qualified")]
    NotQualified,
    /// The certificate's qualified type is not the one the usage needs (EN 319 412-5 QcType).
    #[error("certificate type {got:?} does not fit the usage")]
    TypeMismatch {
        /// The type determined, if any.
        got: Option<CertType>,
    },
}

/// The answer to one validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationResult {
    /// Chains to a service acceptable at the instant for the usage.
    pub trusted: bool,
    /// Trusted and qualified for the usage (eIDAS qualified certificate of the right type).
    pub qualified: bool,
    /// Name of the trust service provider of the anchor service.
    pub tsp: Option<String>,
    /// Name of the anchor service.
    pub service: Option<String>,
    /// Service type in force at the instant.
    pub service_type: Option<String>,
    /// Status in force at the instant.
    pub status: Option<String>,
    /// Territory of the list.
    pub territory: Option<String>,
    /// Qualified certificate type determined.
    pub cert_type: Option<CertType>,
    /// Whether the private key is on a QSCD (Sie QCWithQSCD / QCNoQSCD / StatusAsInCert /
    /// ManagedOnBehalf, else the certificate's QcSSCD statement); `None` when not qualified.
    pub qscd: Option<bool>,
    /// Why the answer is negative, or what weakened it.
    pub reasons: Vec<ValidationReason>,
}

struct ServiceRef {
    territory: String,
    tsp: String,
    service: TrustService,
}

/// A path found for one chain (independent of the instant).
struct PathFacts {
    /// Matching services, by index.
    services: Vec<usize>,
    /// (not_before, not_after) of each path certificate, in unix seconds, leaf first.
    validity: Vec<(i64, i64)>,
    leaf: Extensions,
}

/// A cached path outcome.
type CachedPath = Arc<Result<PathFacts, ValidationReason>>;

/// The trust anchors of every verified national list, with a path cache.
#[derive(Debug)]
pub struct TrustStore {
    services: Vec<ServiceRefDebug>,
    by_subject: HashMap<Vec<u8>, Vec<(usize, X509)>>,
    cache: Mutex<HashMap<[u8; 32], CachedPath>>,
}

/// Newtype so `ServiceRef` stays private but the store derives Debug.
struct ServiceRefDebug(ServiceRef);

impl std::fmt::Debug for ServiceRefDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}/{}",
            self.0.territory, self.0.tsp, self.0.service.name
        )
    }
}

impl std::fmt::Debug for PathFacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PathFacts")
            .field("services", &self.services)
            .finish()
    }
}

impl From<&Snapshot> for TrustStore {
    fn from(snapshot: &Snapshot) -> Self {
        let mut services = Vec::new();
        let mut by_subject: HashMap<Vec<u8>, Vec<(usize, X509)>> = HashMap::new();
        for entry in snapshot.entries.iter().filter(|e| e.kind == ListKind::Tl) {
            for tsp in &entry.list.providers {
                for svc in &tsp.services {
                    let idx = services.len();
                    for der in &svc.certificates {
                        let Ok(cert) = X509::from_der(der) else {
                            continue;
                        };
                        let Ok(subject) = cert.subject_name().to_der() else {
                            continue;
                        };
                        by_subject.entry(subject).or_default().push((idx, cert));
                    }
                    services.push(ServiceRefDebug(ServiceRef {
                        territory: entry.list.territory.clone(),
                        tsp: tsp.name.clone(),
                        service: svc.clone(),
                    }));
                }
            }
        }
        TrustStore {
            services,
            by_subject,
            cache: Mutex::new(HashMap::new()),
        }
    }
}

impl TrustStore {
    /// A store from configured anchors instead of trusted lists (local callers, wallet test
    /// anchors, tests): each certificate becomes a service of `service_type` in `territory`,
    /// granted since the Unix epoch, named after its subject.
    pub fn from_anchors(anchors: &[X509], service_type: &str, territory: &str) -> Self {
        let mut services = Vec::new();
        let mut by_subject: HashMap<Vec<u8>, Vec<(usize, X509)>> = HashMap::new();
        for cert in anchors {
            let (Ok(der), Ok(subject)) = (cert.to_der(), cert.subject_name().to_der()) else {
                continue;
            };
            let name = crate::snapshot::subject_of(cert);
            let idx = services.len();
            by_subject
                .entry(subject)
                .or_default()
                .push((idx, cert.clone()));
            services.push(ServiceRefDebug(ServiceRef {
                territory: territory.to_string(),
                tsp: name.clone(),
                service: TrustService {
                    service_type: service_type.to_string(),
                    name,
                    certificates: vec![der],
                    history: vec![crate::tsl::StatusPeriod {
                        service_type: service_type.to_string(),
                        status: ACCEPTABLE_STATUSES[0].to_string(),
                        start: OffsetDateTime::UNIX_EPOCH,
                        additional_info: Vec::new(),
                        qualifications: Vec::new(),
                    }],
                },
            }));
        }
        TrustStore {
            services,
            by_subject,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Number of services indexed.
    pub fn service_count(&self) -> usize {
        self.services.len()
    }

    /// Validates `chain` (DER, leaf first, then intermediates in any order) at `at` for `usage`.
    pub fn validate(
        &self,
        chain: &[Vec<u8>],
        at: OffsetDateTime,
        usage: Usage,
    ) -> ValidationResult {
        let mut result = ValidationResult {
            trusted: false,
            qualified: false,
            tsp: None,
            service: None,
            service_type: None,
            status: None,
            territory: None,
            cert_type: None,
            qscd: None,
            reasons: Vec::new(),
        };
        // 1. The path, from the cache or built now.
        let path = match self.path_for(chain) {
            Ok(p) => p,
            Err(reason) => {
                result.reasons.push(reason);
                return result;
            }
        };
        let path = match path.as_ref() {
            Ok(p) => p,
            Err(reason) => {
                result.reasons.push(reason.clone());
                return result;
            }
        };
        // 2. Validity of every path certificate at the instant.
        let t = at.unix_timestamp();
        for (index, (nb, na)) in path.validity.iter().enumerate() {
            if t < *nb {
                result.reasons.push(ValidationReason::NotYetValid { index });
            } else if t > *na {
                result.reasons.push(ValidationReason::Expired { index });
            }
        }
        // 3. The best matching service: acceptable status at the instant, fitting type.
        let mut best: Option<(usize, &crate::tsl::StatusPeriod, Vec<ValidationReason>)> = None;
        for &idx in &path.services {
            let svc = &self.services[idx].0;
            let mut why = Vec::new();
            let Some(period) = svc.service.status_at(at) else {
                if best.is_none() {
                    result.reasons.push(ValidationReason::NoStatusAtInstant);
                }
                continue;
            };
            if !ACCEPTABLE_STATUSES.contains(&period.status.as_str()) {
                why.push(ValidationReason::StatusNotAcceptable {
                    status: period.status.clone(),
                });
            }
            if !type_fits(&period.service_type, usage) {
                why.push(ValidationReason::ServiceTypeNotForUsage {
                    service_type: period.service_type.clone(),
                });
            }
            let better = match &best {
                None => true,
                Some((_, _, bw)) => why.len() < bw.len(),
            };
            if better {
                best = Some((idx, period, why));
            }
        }
        let Some((idx, period, why)) = best else {
            return result;
        };
        result
            .reasons
            .retain(|r| *r != ValidationReason::NoStatusAtInstant);
        let svc = &self.services[idx].0;
        result.tsp = Some(svc.tsp.clone());
        result.service = Some(svc.service.name.clone());
        result.service_type = Some(period.service_type.clone());
        result.status = Some(period.status.clone());
        result.territory = Some(svc.territory.clone());
        result.reasons.extend(why);
        let path_ok = result.reasons.is_empty();

        // 4. Qualification and type (TS 119 615 style, simplified; specs/trust-lists.md row 22).
        let Qualification {
            qualified,
            cert_type,
            qscd,
        } = qualification(period, &path.leaf);
        result.cert_type = cert_type;
        result.qscd = qualified.then_some(qscd);
        let usage_type = match usage {
            Usage::QSeal => Some(CertType::ESeal),
            Usage::Qwac => Some(CertType::Wsa),
            Usage::ESig => Some(CertType::ESig),
            Usage::Pid | Usage::Any => None,
        };
        match usage_type {
            Some(want) => {
                if !qualified {
                    result.reasons.push(ValidationReason::NotQualified);
                } else if cert_type != Some(want) {
                    result
                        .reasons
                        .push(ValidationReason::TypeMismatch { got: cert_type });
                }
                result.trusted =
                    path_ok && (cert_type == Some(want) || additional_info_fits(period, want));
                result.qualified = result.trusted && qualified && cert_type == Some(want);
            }
            None => {
                result.trusted = path_ok;
                result.qualified = path_ok && qualified;
            }
        }
        result
    }

    fn path_for(&self, chain: &[Vec<u8>]) -> Result<CachedPath, ValidationReason> {
        if chain.is_empty() {
            return Err(ValidationReason::EmptyChain);
        }
        if chain.len() > MAX_CHAIN_LEN {
            return Err(ValidationReason::ChainTooLong {
                limit: MAX_CHAIN_LEN,
            });
        }
        let mut h = Sha256::new();
        for c in chain {
            h.update((c.len() as u64).to_be_bytes());
            h.update(c);
        }
        let key: [u8; 32] = h.finalize().into();
        if let Some(hit) = self.cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok(hit);
        }
        let built = Arc::new(self.build_path(chain));
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= MAX_CACHED_PATHS {
                cache.clear();
            }
            cache.insert(key, built.clone());
        }
        Ok(built)
    }

    /// Builds the path: leaf, then intermediates by issuer name and signature, up to a
    /// certificate that is, or is issued by, a service digital identity.
    fn build_path(&self, chain: &[Vec<u8>]) -> Result<PathFacts, ValidationReason> {
        let mut certs = Vec::with_capacity(chain.len());
        for (index, der) in chain.iter().enumerate() {
            certs.push(
                X509::from_der(der)
                    .map_err(|_| ValidationReason::UndecodableCertificate { index })?,
            );
        }
        let leaf = extensions(&chain[0]);
        let mut validity = Vec::new();
        let mut used = vec![false; certs.len()];
        let mut current = 0usize;
        used[0] = true;
        for _ in 0..MAX_CHAIN_LEN {
            let cert = &certs[current];
            validity.push((unix(cert.not_before()), unix(cert.not_after())));
            let mut services = Vec::new();
            // The certificate is itself a service identity.
            if let Ok(subject) = cert.subject_name().to_der() {
                for (idx, anchor) in self.by_subject.get(&subject).into_iter().flatten() {
                    if anchor.to_der().ok().as_deref() == Some(chain[current].as_slice()) {
                        services.push(*idx);
                    }
                }
            }
            // Or it is issued by one.
            if let Ok(issuer) = cert.issuer_name().to_der() {
                for (idx, anchor) in self.by_subject.get(&issuer).into_iter().flatten() {
                    let ok =
                        anchor.public_key().ok().and_then(|k| cert.verify(&k).ok()) == Some(true);
                    if ok && !services.contains(idx) {
                        services.push(*idx);
                    }
                }
            }
            if !services.is_empty() {
                return Ok(PathFacts {
                    services,
                    validity,
                    leaf,
                });
            }
            // Otherwise climb to an unused intermediate that signed it.
            let next = (0..certs.len()).find(|&i| {
                !used[i]
                    && certs[i].subject_name().to_der().ok() == cert.issuer_name().to_der().ok()
                    && certs[i]
                        .public_key()
                        .ok()
                        .and_then(|k| cert.verify(&k).ok())
                        == Some(true)
            });
            match next {
                Some(i) => {
                    if !extensions(&chain[i]).ca {
                        return Err(ValidationReason::IntermediateNotCa {
                            index: validity.len(),
                        });
                    }
                    used[i] = true;
                    current = i;
                }
                None => break,
            }
        }
        Err(ValidationReason::NoPathToTrustedService)
    }
}

fn unix(t: &Asn1TimeRef) -> i64 {
    // Asn1Time::from_unix(0) only fails on allocation failure; then the check fails closed.
    let Ok(epoch) = Asn1Time::from_unix(0) else {
        return i64::MIN;
    };
    match epoch.diff(t) {
        Ok(d) => i64::from(d.days) * 86_400 + i64::from(d.secs),
        Err(_) => i64::MIN,
    }
}
