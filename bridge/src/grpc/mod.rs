//! The gRPC surface: services, the access check, observation, and the one error-to-status mapping.
//! Proto types stop here: handlers convert requests into domain types and call the domain modules.

mod access;
mod addressing;
mod deadline;
mod exchange;
mod identity;
mod journal;
mod limits;
mod observe;
pub mod peer;
mod status;
mod trust;

pub use access::{
    allowed_roles, fingerprint, subject_string, AccessPolicy, AuthorizeLayer, BadPrincipal, Caller,
    PeerGrants, Principal, Role,
};
pub use addressing::{AddressingApi, MAX_IMPORT_BYTES};
pub use deadline::{effective_deadline, parse_grpc_timeout, DeadlineLayer};
pub use exchange::{envelope_from_pb, ExchangeApi};
pub use identity::IdentityApi;
pub use journal::{entry_to_pb, JournalApi};
pub use limits::{
    is_exempt, max_exchange_message, max_peer_message, CallerLimitKind, CallerLimits, Limiter,
    LimitsConfig, LimitsLayer, Permit, Refused, RoleLimits, TokenBucket,
    BATCH_ENVELOPE_OVERHEAD_BYTES, CONCURRENCY_RETRY_DELAY, DEFAULT_BURST_PER_CALLER,
    DEFAULT_MAX_CONCURRENT_PER_CALLER, DEFAULT_RATE_PER_CALLER, ENVELOPE_OVERHEAD_BYTES,
    MAX_CONCURRENT_LIMIT, MAX_PEER_ANSWER, MAX_RATE_LIMIT, MAX_TRACKED_CALLERS, SWEEP_INTERVAL,
};
pub use observe::ObserveLayer;
pub use peer::PeerApi;
pub use status::ERROR_DOMAIN;
pub use trust::{TrustApi, ValidateRequest};
