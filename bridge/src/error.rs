//! The bridge's error type: one enum composed from each stage's own errors, mapped to gRPC status in
//! exactly one place (`grpc/status.rs`).

use crate::addressing::AddressError;
use crate::exchange::ExchangeError;
use crate::grpc::Role;
use crate::journal::JournalError;
use crate::store::directory::DirectoryStoreError;

/// Everything a bridge operation can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The caller presented no usable certificate (the handshake normally refuses it first).
    #[error("no verified client certificate")]
    Unauthenticated,
    /// The caller's roles do not include one that the method requires (DESIGN.md, roles).
    #[error("method {method} requires one of the roles {required:?}")]
    PermissionDenied {
        /// The gRPC method path.
        method: String,
        /// Roles that would be allowed; empty when the caller holds no role at all.
        required: Vec<Role>,
    },
    /// A request field is missing or malformed.
    #[error("invalid field {field}: {reason}")]
    InvalidField {
        /// Field path in the request message, e.g. `envelope.message_id`.
        field: &'static str,
        /// What is wrong, for the caller.
        reason: String,
    },
    /// An address or identifier was refused by the addressing rules (XB-ADDR v0 reason codes).
    #[error("address refused: {0}")]
    Address(#[from] AddressError),
    /// The journal refused or failed an operation.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The participant directory failed or refused an import.
    #[error(transparent)]
    Directory(#[from] DirectoryStoreError),
    /// No trust snapshot is loaded (first start offline, or every refresh failed): nothing can be
    /// trusted (DESIGN.md "Configuration and first run": say so rather than guess).
    #[error("no trust snapshot is loaded")]
    NoTrustSnapshot,
    /// A wallet presentation or its challenge was refused.
    #[error(transparent)]
    Presentation(#[from] crate::identity::PresentationError),
    /// An exchange was refused or failed (DESIGN.md, "Exchange semantics").
    #[error(transparent)]
    Exchange(#[from] ExchangeError),
    /// The named thing does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for, e.g. `message` or `hcid`.
        what: &'static str,
    },
    /// The caller is over one of its per-caller limits (`[limits]`); trying again after
    /// `retry_after` may succeed (DESIGN.md "Bad input": no unbounded work for one caller).
    #[error("over the caller's {} limit; retry after {retry_after:?}", .limit.reason())]
    CallerLimit {
        /// The limit that refused the call.
        limit: crate::grpc::CallerLimitKind,
        /// When a retry may succeed.
        retry_after: std::time::Duration,
    },
    /// The call did not complete within its deadline: the smaller of the client's `grpc-timeout`
    /// and `server.rpc_timeout` (gRPC over HTTP/2, "Timeout").
    #[error("deadline of {after:?} exceeded")]
    DeadlineExceeded {
        /// The deadline that applied.
        after: std::time::Duration,
    },
    /// A response stream sent nothing for `server.stream_idle_timeout` and was ended; the
    /// client reconnects to resume (acknowledged messages are not sent again).
    #[error("stream idle for {idle:?}")]
    StreamIdle {
        /// The idle timeout that applied.
        idle: std::time::Duration,
    },
    /// Something the bridge needs locally failed (storage, our own key). Details are logged, not sent.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Short alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
