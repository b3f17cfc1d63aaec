//! Trust in peer bridges comes from the trusted lists only, through the [`PeerTrust`] trait: the
//! gateway hands in whatever holds the current snapshot; tests and the demo hand in a
//! [`SnapshotTrust`] built from a walked test ecosystem. Nothing here reads the clock.

use std::collections::BTreeMap;

use openssl::x509::X509;
use time::OffsetDateTime;
use trust_lists::{Snapshot, TrustStore, Usage, ValidationResult};

/// What the exchange asks of the trust lists.
pub trait PeerTrust: Send + Sync + std::fmt::Debug {
    /// Validates `chain` (DER, leaf first) at `at` for `usage`.
    fn validate(&self, chain: &[Vec<u8>], at: OffsetDateTime, usage: Usage) -> ValidationResult;

    /// The certificates of every service of `territory`'s list: the anchors a TLS verify store
    /// needs so that the handshake accepts chains the trust store then judges.
    fn anchors(&self, territory: &str) -> Vec<X509>;

    /// SHA-256 of the snapshot decisions are taken against (journaled with each decision).
    fn snapshot_digest(&self) -> Option<[u8; 32]>;
}

/// A [`PeerTrust`] over one verified snapshot.
#[derive(Debug)]
pub struct SnapshotTrust {
    store: TrustStore,
    anchors: BTreeMap<String, Vec<X509>>,
    digest: [u8; 32],
}

impl SnapshotTrust {
    /// Indexes the snapshot's national lists.
    pub fn new(snapshot: &Snapshot) -> SnapshotTrust {
        let mut anchors: BTreeMap<String, Vec<X509>> = BTreeMap::new();
        for list in snapshot.national_lists() {
            let certs = anchors.entry(list.territory.clone()).or_default();
            for tsp in &list.providers {
                for svc in &tsp.services {
                    certs.extend(
                        svc.certificates
                            .iter()
                            .filter_map(|d| X509::from_der(d).ok()),
                    );
                }
            }
        }
        SnapshotTrust {
            store: TrustStore::from(snapshot),
            anchors,
            digest: snapshot.digest(),
        }
    }
}

impl PeerTrust for SnapshotTrust {
    fn validate(&self, chain: &[Vec<u8>], at: OffsetDateTime, usage: Usage) -> ValidationResult {
        self.store.validate(chain, at, usage)
    }

    fn anchors(&self, territory: &str) -> Vec<X509> {
        self.anchors.get(territory).cloned().unwrap_or_default()
    }

    fn snapshot_digest(&self) -> Option<[u8; 32]> {
        Some(self.digest)
    }
}

/// True when `chain` is trusted for `usage` at `at` and anchored in `territory`'s list.
pub fn trusted_for(
    trust: &dyn PeerTrust,
    chain: &[Vec<u8>],
    at: OffsetDateTime,
    usage: Usage,
    territory: &str,
) -> Result<(), Vec<trust_lists::ValidationReason>> {
    let result = trust.validate(chain, at, usage);
    if result.trusted && result.territory.as_deref() == Some(territory) {
        Ok(())
    } else {
        Err(result.reasons)
    }
}
