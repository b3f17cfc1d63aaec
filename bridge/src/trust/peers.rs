//! The running gateway's trust in peer bridges: [`PeerTrust`] over the refreshing [`TrustState`],
//! so every decision about a peer (its TLS certificate, its seal, its receipts) is taken against
//! the snapshot in force at that moment and journaled with that snapshot's digest.

use openssl::x509::X509;
use time::OffsetDateTime;
use trust_lists::{Usage, ValidationReason, ValidationResult};

use super::TrustState;
use crate::exchange::PeerTrust;

impl PeerTrust for TrustState {
    fn validate(&self, chain: &[Vec<u8>], at: OffsetDateTime, usage: Usage) -> ValidationResult {
        match self.current() {
            Some(loaded) => loaded.store.validate(chain, at, usage),
            // No snapshot: no service can anchor anything (DESIGN.md: nothing is trusted through
            // a shortcut, so the answer is "no path", never a fallback).
            None => ValidationResult {
                trusted: false,
                qualified: false,
                tsp: None,
                service: None,
                service_type: None,
                status: None,
                territory: None,
                cert_type: None,
                qscd: None,
                reasons: vec![ValidationReason::NoPathToTrustedService],
            },
        }
    }

    fn anchors(&self, territory: &str) -> Vec<X509> {
        let Some(loaded) = self.current() else {
            return Vec::new();
        };
        loaded
            .snapshot
            .national_lists()
            .filter(|list| list.territory == territory)
            .flat_map(|list| list.providers.iter())
            .flat_map(|tsp| tsp.services.iter())
            .flat_map(|svc| svc.certificates.iter())
            .filter_map(|der| X509::from_der(der).ok())
            .collect()
    }

    fn snapshot_digest(&self) -> Option<[u8; 32]> {
        self.current().map(|loaded| loaded.digest)
    }
}
