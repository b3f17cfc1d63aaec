//! The CAs a TLS acceptor needs so that the handshake lets peer bridges in: every certificate
//! of the services that the configured peer countries' trusted lists announce. The handshake only
//! builds a chain to one of them; whether the chain is a qualified website or seal certificate is
//! then judged by the trust store (`grpc::access`). When a refresh changes the lists, the
//! snapshot digest changes, and the gateway's TLS reloader rebuilds its acceptor.

use std::sync::Arc;

use openssl::x509::X509;

use super::PeerTrust;
use crate::tls::ExtraClientCas;

/// The peer countries' listed CAs, as seen through the trust snapshot in force.
#[derive(Debug, Clone)]
pub struct PeerCas {
    trust: Arc<dyn PeerTrust>,
    countries: Vec<String>,
}

impl PeerCas {
    /// The CAs of `countries` in `trust`.
    pub fn new(trust: Arc<dyn PeerTrust>, countries: Vec<String>) -> PeerCas {
        PeerCas { trust, countries }
    }
}

impl ExtraClientCas for PeerCas {
    fn version(&self) -> Option<[u8; 32]> {
        self.trust.snapshot_digest()
    }

    fn cas(&self) -> Vec<X509> {
        self.countries
            .iter()
            .flat_map(|cc| self.trust.anchors(cc))
            .collect()
    }
}
