//! Who is calling, and may they: the caller's role is resolved from its verified TLS certificate and
//! checked against the method's required roles here, in one place, before any handler runs.
//!
//! Handlers read the resolved [`Caller`] from the request extensions; they never look at
//! certificates themselves.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use openssl::x509::X509;
use sha2::{Digest, Sha256};
use tonic::body::Body;
use tower::{Layer, Service};

use crate::tls::PeerIdentity;

/// A role, as DESIGN.md defines them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// The local national operator or hospital system that submits and receives.
    Operator,
    /// A foreign bridge.
    Peer,
    /// Read-only journal access.
    Auditor,
    /// Directory and trust administration.
    Admin,
}

impl Role {
    /// All roles, in a fixed order.
    pub const ALL: [Role; 4] = [Role::Operator, Role::Peer, Role::Auditor, Role::Admin];

    /// The lower-case name used in configuration and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Peer => "peer",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How configuration names a caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// SHA-256 of the DER leaf certificate.
    Fingerprint([u8; 32]),
    /// The leaf's subject, rendered as [`subject_string`] renders it.
    Subject(String),
}

/// A principal entry that is neither `sha256:<64 hex>` nor `subject:<DN>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a principal: expected sha256:<64 hex> or subject:<DN>")]
pub struct BadPrincipal;

impl FromStr for Principal {
    type Err = BadPrincipal;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(hex_text) = s.strip_prefix("sha256:") {
            let bytes = hex::decode(hex_text.replace(':', "")).map_err(|_| BadPrincipal)?;
            let fp: [u8; 32] = bytes.try_into().map_err(|_| BadPrincipal)?;
            Ok(Principal::Fingerprint(fp))
        } else if let Some(dn) = s.strip_prefix("subject:") {
            let dn = normalise_dn(dn);
            if dn.is_empty() {
                return Err(BadPrincipal);
            }
            Ok(Principal::Subject(dn))
        } else {
            Err(BadPrincipal)
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::Fingerprint(fp) => write!(f, "sha256:{}", hex::encode(fp)),
            Principal::Subject(dn) => write!(f, "subject:{dn}"),
        }
    }
}

fn normalise_dn(dn: &str) -> String {
    dn.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(",")
}

/// Renders a certificate subject as `CN=...,O=...,C=...`: RFC 4514 order (most specific first), short
/// attribute names, no escaping beyond what the certificate holds. Used to match `subject:` principals.
pub fn subject_string(cert: &X509) -> String {
    let mut parts: Vec<String> = cert
        .subject_name()
        .entries()
        .map(|e| {
            let name = e.object().nid().short_name().unwrap_or("?");
            let value = e.data().to_string().unwrap_or_default();
            format!("{name}={value}")
        })
        .collect();
    parts.reverse();
    parts.join(",")
}

/// SHA-256 of a DER certificate.
pub fn fingerprint(der: &[u8]) -> [u8; 32] {
    Sha256::digest(der).into()
}

/// An authenticated caller: its certificate and the roles configuration grants it.
#[derive(Debug, Clone)]
pub struct Caller {
    /// SHA-256 of the leaf certificate.
    pub fingerprint: [u8; 32],
    /// The leaf's subject (for logs about operators; never personal data of patients).
    pub subject: String,
    /// The presented chain, DER, leaf first.
    pub chain: Arc<[Vec<u8>]>,
    /// Roles granted by configuration, or by the trusted lists for peer bridges.
    pub roles: Vec<Role>,
    /// For a peer bridge: the country whose trusted list vouches for its certificate.
    pub peer_country: Option<String>,
}

impl Caller {
    /// True when the caller holds `role`.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// Grants of [`Role::Peer`] computed from the trusted lists: a caller whose TLS chain is a
/// qualified website (or seal) certificate of a configured peer country, under a service granted
/// at the instant of the call, is that country's bridge (DESIGN.md, "Trust model and roles").
#[derive(Debug, Clone)]
pub struct PeerGrants {
    /// The trusted lists.
    pub trust: Arc<dyn crate::exchange::PeerTrust>,
    /// Countries of the configured peers.
    pub countries: Vec<String>,
}

impl PeerGrants {
    /// The peer country `chain` belongs to at `at`, if any.
    pub fn country_of(&self, chain: &[Vec<u8>], at: time::OffsetDateTime) -> Option<String> {
        [trust_lists::Usage::Qwac, trust_lists::Usage::QSeal]
            .into_iter()
            .map(|usage| self.trust.validate(chain, at, usage))
            .find(|r| r.trusted)
            .and_then(|r| r.territory)
            .filter(|t| self.countries.contains(t))
    }
}

/// Leaf subjects kept by an [`AccessPolicy`]: the operators, auditors and peers of one gateway
/// number in the tens; beyond this the cache is emptied and refilled.
const MAX_CACHED_SUBJECTS: usize = 1024;

/// The grants of `[access]`, resolved against callers' certificates.
#[derive(Debug, Clone, Default)]
pub struct AccessPolicy {
    grants: Vec<(Role, Principal)>,
    peers: Option<PeerGrants>,
    /// Subjects of leaves already seen, by fingerprint: decoding a certificate with OpenSSL 3
    /// costs more than the rest of a call's authorisation, and a connection presents the same
    /// leaf on every call. Only the subject is cached; roles and trust are decided per call.
    subjects: Arc<Mutex<HashMap<[u8; 32], Arc<str>>>>,
}

impl AccessPolicy {
    /// A policy from configuration grants.
    pub fn new(grants: Vec<(Role, Principal)>) -> AccessPolicy {
        AccessPolicy {
            grants,
            peers: None,
            subjects: Arc::default(),
        }
    }

    /// Adds [`Role::Peer`] grants from the trusted lists.
    pub fn with_peers(mut self, peers: PeerGrants) -> AccessPolicy {
        self.peers = Some(peers);
        self
    }

    /// The subject of the leaf `der` (fingerprint `fp`), decoded once per leaf.
    fn subject_of(&self, fp: [u8; 32], der: &[u8]) -> Option<String> {
        // A poisoned lock only means a thread panicked while holding it; the cached subjects
        // are still the subjects of their fingerprints.
        let lock = || self.subjects.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = lock().get(&fp) {
            return Some(s.to_string());
        }
        let subject = subject_string(&X509::from_der(der).ok()?);
        let mut cache = lock();
        if cache.len() >= MAX_CACHED_SUBJECTS {
            cache.clear();
        }
        cache.insert(fp, subject.as_str().into());
        Some(subject)
    }

    /// Resolves a verified TLS peer into a caller. `None` when the leaf does not parse, which the
    /// handshake has already excluded; it is handled rather than assumed.
    pub fn identify(&self, peer: &PeerIdentity) -> Option<Caller> {
        let leaf_der = peer.chain.first()?;
        let fp = fingerprint(leaf_der);
        let subject = self.subject_of(fp, leaf_der)?;
        let mut roles: Vec<Role> = self
            .grants
            .iter()
            .filter(|(_, p)| match p {
                Principal::Fingerprint(f) => *f == fp,
                Principal::Subject(s) => *s == subject,
            })
            .map(|(r, _)| *r)
            .collect();
        // The instant of the call is the validation instant (the validator itself reads no clock).
        let peer_country = self
            .peers
            .as_ref()
            .and_then(|p| p.country_of(&peer.chain, time::OffsetDateTime::now_utc()));
        if peer_country.is_some() {
            roles.push(Role::Peer);
        }
        roles.sort();
        roles.dedup();
        Some(Caller {
            fingerprint: fp,
            subject,
            chain: peer.chain.clone(),
            roles,
            peer_country,
        })
    }
}

/// The roles allowed to call a gRPC method, by its path `/package.Service/Method`. `None` for a
/// path that names no known service (tonic then answers UNIMPLEMENTED, but only to callers that
/// hold at least one role).
pub fn allowed_roles(path: &str) -> Option<&'static [Role]> {
    use Role::*;
    const ANY: &[Role] = &[Operator, Peer, Auditor, Admin];
    let (service, method) = path.trim_start_matches('/').split_once('/')?;
    Some(match (service, method) {
        ("grpc.health.v1.Health", _) => ANY,
        ("grpc.reflection.v1.ServerReflection", _) => ANY,
        ("grpc.reflection.v1alpha.ServerReflection", _) => ANY,
        ("eidas.bridge.v1.TrustService", "Refresh") => &[Admin],
        ("eidas.bridge.v1.TrustService", _) => ANY,
        ("eidas.bridge.v1.IdentityService", _) => &[Operator],
        ("eidas.bridge.v1.AddressingService", "ImportDirectory") => &[Admin],
        ("eidas.bridge.v1.AddressingService", _) => &[Operator, Peer, Admin],
        ("eidas.bridge.v1.ExchangeService", _) => &[Operator],
        ("eidas.bridge.v1.PeerService", _) => &[Peer],
        ("eidas.bridge.v1.JournalService", _) => &[Auditor],
        _ => return None,
    })
}

/// The tower layer that authorises every request before routing.
#[derive(Debug, Clone)]
pub struct AuthorizeLayer {
    policy: Arc<AccessPolicy>,
}

impl AuthorizeLayer {
    /// A layer enforcing `policy`.
    pub fn new(policy: Arc<AccessPolicy>) -> AuthorizeLayer {
        AuthorizeLayer { policy }
    }
}

impl<S> Layer<S> for AuthorizeLayer {
    type Service = Authorize<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authorize {
            inner,
            policy: self.policy.clone(),
        }
    }
}

/// See [`AuthorizeLayer`].
#[derive(Debug, Clone)]
pub struct Authorize<S> {
    inner: S,
    policy: Arc<AccessPolicy>,
}

/// Why a request was refused before reaching a handler.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Refusal {
    NoCertificate,
    NoRole {
        path: String,
    },
    WrongRole {
        path: String,
        allowed: &'static [Role],
    },
}

impl Refusal {
    fn into_status(self) -> tonic::Status {
        use crate::error::Error;
        let err = match self {
            Refusal::NoCertificate => Error::Unauthenticated,
            Refusal::NoRole { path } => Error::PermissionDenied {
                method: path,
                required: Vec::new(),
            },
            Refusal::WrongRole { path, allowed } => Error::PermissionDenied {
                method: path,
                required: allowed.to_vec(),
            },
        };
        err.into()
    }
}

fn authorize(policy: &AccessPolicy, req: &http::Request<Body>) -> Result<Caller, Refusal> {
    let peer = req
        .extensions()
        .get::<PeerIdentity>()
        .ok_or(Refusal::NoCertificate)?;
    let caller = policy.identify(peer).ok_or(Refusal::NoCertificate)?;
    let path = req.uri().path();
    match allowed_roles(path) {
        Some(allowed) if allowed.iter().any(|r| caller.has(*r)) => Ok(caller),
        Some(allowed) => Err(Refusal::WrongRole {
            path: path.to_owned(),
            allowed,
        }),
        None if !caller.roles.is_empty() => Ok(caller),
        None => Err(Refusal::NoRole {
            path: path.to_owned(),
        }),
    }
}

impl<S> Service<http::Request<Body>> for Authorize<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = futures_util::future::Either<
        S::Future,
        std::future::Ready<Result<http::Response<Body>, S::Error>>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<Body>) -> Self::Future {
        match authorize(&self.policy, &req) {
            Ok(caller) => {
                req.extensions_mut().insert(caller);
                futures_util::future::Either::Left(self.inner.call(req))
            }
            Err(refusal) => {
                tracing::info!(rpc = req.uri().path(), refusal = ?refusal, "call refused");
                let response = refusal.into_status().into_http::<Body>();
                futures_util::future::Either::Right(std::future::ready(Ok(response)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principal_parsing() {
        let fp = format!("sha256:{}", "ab".repeat(32));
        assert!(matches!(fp.parse(), Ok(Principal::Fingerprint(_))));
        assert_eq!(
            "subject: CN=x, O=y ".parse::<Principal>(),
            Ok(Principal::Subject("CN=x,O=y".into()))
        );
        assert_eq!("sha256:abcd".parse::<Principal>(), Err(BadPrincipal));
        assert_eq!("CN=x".parse::<Principal>(), Err(BadPrincipal));
        assert_eq!("subject:".parse::<Principal>(), Err(BadPrincipal));
    }

    #[test]
    fn method_roles() {
        assert_eq!(
            allowed_roles("/eidas.bridge.v1.JournalService/Replay"),
            Some(&[Role::Auditor][..])
        );
        assert_eq!(
            allowed_roles("/eidas.bridge.v1.TrustService/Refresh"),
            Some(&[Role::Admin][..])
        );
        assert_eq!(
            allowed_roles("/eidas.bridge.v1.PeerService/Deliver"),
            Some(&[Role::Peer][..])
        );
        // The streamed Submit takes Submit's role.
        for m in ["Submit", "SubmitStream"] {
            assert_eq!(
                allowed_roles(&format!("/eidas.bridge.v1.ExchangeService/{m}")),
                Some(&[Role::Operator][..])
            );
        }
        assert_eq!(
            allowed_roles("/grpc.health.v1.Health/Check").map(|r| r.len()),
            Some(4)
        );
        assert_eq!(allowed_roles("/unknown.Service/Method"), None);
        assert_eq!(allowed_roles("nonsense"), None);
    }

    fn leaf(cn: &str) -> Vec<u8> {
        use openssl::ec::{EcGroup, EcKey};
        use openssl::hash::MessageDigest;
        use openssl::nid::Nid;
        use openssl::pkey::PKey;
        use openssl::x509::{X509Builder, X509NameBuilder};
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("O", "Test").unwrap();
        name.append_entry_by_text("CN", cn).unwrap();
        let name = name.build();
        let mut b = X509Builder::new().unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&openssl::asn1::Asn1Time::from_unix(0).unwrap())
            .unwrap();
        b.set_not_after(&openssl::asn1::Asn1Time::from_unix(1 << 31).unwrap())
            .unwrap();
        b.sign(&key, MessageDigest::sha256()).unwrap();
        b.build().to_der().unwrap()
    }

    #[test]
    fn identify_grants_by_subject_with_the_subject_cached_per_leaf() {
        let (ops, other) = (leaf("ops"), leaf("other"));
        let policy = AccessPolicy::new(vec![(
            Role::Operator,
            "subject:CN=ops,O=Test".parse().unwrap(),
        )]);
        let peer = |der: &Vec<u8>| PeerIdentity {
            remote: "127.0.0.1:1".parse().unwrap(),
            chain: vec![der.clone()].into(),
        };
        for _ in 0..2 {
            let caller = policy.identify(&peer(&ops)).unwrap();
            assert_eq!(caller.subject, "CN=ops,O=Test");
            assert_eq!(caller.roles, vec![Role::Operator]);
            assert_eq!(caller.fingerprint, fingerprint(&ops));
        }
        let caller = policy.identify(&peer(&other)).unwrap();
        assert_eq!(caller.subject, "CN=other,O=Test");
        assert!(caller.roles.is_empty());
        assert_eq!(policy.subjects.lock().unwrap().len(), 2);
        // An undecodable leaf is refused, and not cached.
        assert!(policy.identify(&peer(&vec![0x30, 0])).is_none());
        assert_eq!(policy.subjects.lock().unwrap().len(), 2);
    }
}
