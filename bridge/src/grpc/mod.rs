//! The gRPC surface: services, the access check, observation, and the one error-to-status mapping.
//! Proto types stop here: handlers convert requests into domain types and call the domain modules.

mod access;
mod addressing;
mod exchange;
mod identity;
mod journal;
mod observe;
mod peer;
mod status;
mod trust;

pub use access::{
    allowed_roles, fingerprint, subject_string, AccessPolicy, AuthorizeLayer, BadPrincipal, Caller,
    PeerGrants, Principal, Role,
};
pub use addressing::{AddressingApi, MAX_IMPORT_BYTES};
pub use exchange::{envelope_from_pb, ExchangeApi};
pub use identity::IdentityApi;
pub use journal::{entry_to_pb, JournalApi};
pub use observe::ObserveLayer;
pub use peer::PeerApi;
pub use status::ERROR_DOMAIN;
pub use trust::{TrustApi, ValidateRequest};
