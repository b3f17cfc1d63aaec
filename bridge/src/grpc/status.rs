//! The only mapping from [`Error`] to gRPC status. Each error gets a standard code and a
//! machine-readable reason in `google.rpc.ErrorInfo` (domain `eidas-bridge`), and bad fields a
//! `google.rpc.BadRequest` field violation, so clients branch on data rather than on message text.
//! Our own faults say only "internal error" to the caller; their details go to the log.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::addressing::AddressError;
use crate::error::Error;
use crate::exchange::{EnvelopeErrorKind, ExchangeError};
use crate::identity::{ChallengeErrorKind, PresentationError};
use crate::journal::{JournalError, ProofError, StorageError};
use crate::store::directory::DirectoryStoreError;

/// `ErrorInfo.domain` for every status the bridge produces.
pub const ERROR_DOMAIN: &str = "eidas-bridge";

/// The parts of a status before it is built.
struct Mapped {
    code: Code,
    reason: String,
    message: String,
    metadata: Vec<(String, String)>,
    violation: Option<(&'static str, String)>,
    retry_after: Option<std::time::Duration>,
}

impl Mapped {
    fn new(code: Code, reason: &str, message: String) -> Mapped {
        Mapped {
            code,
            reason: reason.to_owned(),
            message,
            metadata: Vec::new(),
            violation: None,
            retry_after: None,
        }
    }

    fn internal(detail: &dyn std::fmt::Display) -> Mapped {
        tracing::error!(error = %detail, "internal error");
        Mapped::new(Code::Internal, "INTERNAL", "internal error".to_owned())
    }
}

fn map(err: &Error) -> Mapped {
    match err {
        Error::Unauthenticated => Mapped::new(
            Code::Unauthenticated,
            "NO_CLIENT_CERTIFICATE",
            err.to_string(),
        ),
        Error::PermissionDenied { method, required } => {
            let required: Vec<&str> = required.iter().map(|r| r.as_str()).collect();
            let mut m = Mapped::new(Code::PermissionDenied, "ROLE_NOT_GRANTED", err.to_string());
            m.metadata = vec![
                ("method".to_owned(), method.clone()),
                ("required_roles".to_owned(), required.join(",")),
            ];
            m
        }
        Error::InvalidField { field, reason } => {
            let mut m = Mapped::new(Code::InvalidArgument, "INVALID_FIELD", err.to_string());
            m.violation = Some((field, reason.clone()));
            m
        }
        Error::Address(e) => map_address(e),
        Error::Journal(e) => map_journal(e),
        Error::Directory(DirectoryStoreError::Rejected(failure)) => {
            let mut m = Mapped::new(Code::InvalidArgument, "IMPORT_REJECTED", err.to_string());
            m.metadata = vec![("bad_rows".to_owned(), failure.count.to_string())];
            m.violation = Some(("content", failure.to_string()));
            m
        }
        Error::Directory(DirectoryStoreError::InvalidCountry) => {
            let mut m = Mapped::new(Code::InvalidArgument, "INVALID_COUNTRY", err.to_string());
            m.violation = Some(("country", err.to_string()));
            m
        }
        Error::Directory(e) => Mapped::internal(e),
        Error::NoTrustSnapshot => Mapped::new(
            Code::FailedPrecondition,
            "NO_TRUST_SNAPSHOT",
            err.to_string(),
        ),
        Error::Presentation(e) => map_presentation(e),
        Error::Exchange(e) => map_exchange(e),
        Error::NotFound { what } => Mapped::new(
            Code::NotFound,
            &format!("{}_NOT_FOUND", what.to_ascii_uppercase()),
            err.to_string(),
        ),
        Error::CallerLimit { limit, retry_after } => {
            let mut m = Mapped::new(Code::ResourceExhausted, limit.reason(), err.to_string());
            m.metadata = match limit {
                crate::grpc::CallerLimitKind::Concurrency { max } => {
                    vec![("max_concurrent".to_owned(), max.to_string())]
                }
                crate::grpc::CallerLimitKind::Rate { rate, burst } => vec![
                    ("rate_per_second".to_owned(), rate.to_string()),
                    ("burst".to_owned(), burst.to_string()),
                ],
                _ => Vec::new(),
            };
            m.retry_after = Some(*retry_after);
            m
        }
        Error::DeadlineExceeded { after } => {
            let mut m = Mapped::new(Code::DeadlineExceeded, "DEADLINE_EXCEEDED", err.to_string());
            m.metadata = vec![("deadline_ms".to_owned(), after.as_millis().to_string())];
            m
        }
        Error::StreamIdle { idle } => {
            let mut m = Mapped::new(Code::DeadlineExceeded, "STREAM_IDLE", err.to_string());
            m.metadata = vec![("idle_ms".to_owned(), idle.as_millis().to_string())];
            m
        }
        Error::Internal(detail) => Mapped::internal(detail),
    }
}

fn map_exchange(e: &ExchangeError) -> Mapped {
    let text = e.to_string();
    match e {
        ExchangeError::Envelope(kind) => map_envelope(kind, text),
        ExchangeError::PresentationRequired => {
            let mut m = Mapped::new(Code::InvalidArgument, "PRESENTATION_REQUIRED", text.clone());
            m.violation = Some(("envelope.sender_presentation", text));
            m
        }
        ExchangeError::SenderNotHolder { .. } => {
            Mapped::new(Code::PermissionDenied, "SENDER_NOT_HOLDER", text)
        }
        ExchangeError::NoHomePeer { country } => {
            let mut m = Mapped::new(Code::FailedPrecondition, "NO_HOME_PEER", text);
            m.metadata = vec![("country".to_owned(), country.clone())];
            m
        }
        ExchangeError::IdempotencyConflict => {
            Mapped::new(Code::AlreadyExists, "MESSAGE_ID_REUSED", text)
        }
        ExchangeError::InProgress => Mapped::new(Code::Aborted, "IN_PROGRESS", text),
        ExchangeError::UnknownPeer => Mapped::new(Code::PermissionDenied, "UNKNOWN_PEER", text),
        ExchangeError::Untrusted {
            what,
            peer,
            reasons,
        } => {
            let reason = if *what == "seal" {
                "SEAL_UNTRUSTED"
            } else {
                "RECEIPT_UNTRUSTED"
            };
            let mut m = Mapped::new(Code::PermissionDenied, reason, text);
            let reasons: Vec<String> = reasons.iter().map(|r| r.to_string()).collect();
            m.metadata = vec![
                ("peer".to_owned(), peer.clone()),
                ("reasons".to_owned(), reasons.join("; ")),
            ];
            m
        }
        ExchangeError::Seal { what, kind } => {
            let reason = if *what == "seal" {
                "SEAL_INVALID"
            } else {
                "RECEIPT_INVALID"
            };
            let mut m = Mapped::new(Code::InvalidArgument, reason, text);
            m.metadata = vec![("check".to_owned(), kind.to_string())];
            m
        }
        ExchangeError::WrongPeer { field, .. } => {
            let mut m = Mapped::new(Code::PermissionDenied, "WRONG_PEER", text.clone());
            m.metadata = vec![("field".to_owned(), (*field).to_owned())];
            m
        }
        ExchangeError::BatchSize { .. } => {
            let mut m = Mapped::new(Code::InvalidArgument, "BATCH_SIZE", text.clone());
            m.violation = Some(("envelopes", text));
            m
        }
        ExchangeError::NotFound => Mapped::new(Code::NotFound, "MESSAGE_NOT_FOUND", text),
        ExchangeError::NoReceipt => Mapped::new(Code::FailedPrecondition, "NO_RECEIPT_YET", text),
        ExchangeError::AmbiguousAck { .. } => {
            Mapped::new(Code::FailedPrecondition, "ACK_AMBIGUOUS", text)
        }
        ExchangeError::StorageFull => storage_full(),
        ExchangeError::Storage { .. } => Mapped::internal(e),
        #[allow(unreachable_patterns)]
        _ => Mapped::internal(e),
    }
}

fn map_envelope(kind: &EnvelopeErrorKind, text: String) -> Mapped {
    use EnvelopeErrorKind as K;
    let field = match kind {
        K::MessageId { .. } => "envelope.message_id",
        K::Space { field: "sender" } | K::Address { field: "sender" } => "envelope.sender",
        K::Space { .. } | K::Address { .. } => "envelope.recipient",
        K::PayloadTooLarge { .. } | K::StreamTooLarge { .. } => "envelope.payload",
        K::StreamHeaderMissing | K::StreamHeaderMisplaced => "header",
        K::Presentation {
            field: "presentation_nonce",
        } => "envelope.presentation_nonce",
        K::Presentation {
            field: "presentation_response_uri",
        } => "envelope.presentation_response_uri",
        K::Presentation {
            field: "presentation_origin",
        } => "envelope.presentation_origin",
        K::Presentation { .. } => "envelope.sender_presentation",
        _ => "envelope.payload_sha256",
    };
    let (code, reason) = match kind {
        K::PayloadTooLarge { .. } => (Code::InvalidArgument, "PAYLOAD_TOO_LARGE"),
        // A stream is refused while it runs: the client is sending more than the bridge takes.
        K::StreamTooLarge { .. } => (Code::ResourceExhausted, "PAYLOAD_TOO_LARGE"),
        K::DigestMismatch => (Code::InvalidArgument, "PAYLOAD_DIGEST_MISMATCH"),
        K::StreamHeaderMissing => (Code::InvalidArgument, "STREAM_HEADER_MISSING"),
        K::StreamHeaderMisplaced => (Code::InvalidArgument, "STREAM_HEADER_MISPLACED"),
        _ => (Code::InvalidArgument, "INVALID_FIELD"),
    };
    let mut m = Mapped::new(code, reason, text.clone());
    if let K::StreamTooLarge { limit } | K::PayloadTooLarge { limit, .. } = kind {
        m.metadata = vec![("limit".to_owned(), limit.to_string())];
    }
    m.violation = Some((field, text));
    m
}

fn map_address(e: &AddressError) -> Mapped {
    if *e == AddressError::DirectoryUnavailable {
        return Mapped::new(
            Code::Unavailable,
            "DIRECTORY_UNAVAILABLE",
            "the directory cannot be read".to_owned(),
        );
    }
    let code = match e {
        AddressError::NotInDirectory => Code::NotFound,
        _ => Code::InvalidArgument,
    };
    // The reason is the XB-ADDR code in upper case; the spec's own spelling is in the metadata.
    let mut m = Mapped::new(code, &e.code().to_ascii_uppercase(), e.to_string());
    m.metadata = vec![("code".to_owned(), e.code().to_owned())];
    if code == Code::InvalidArgument {
        m.violation = Some(("address", e.code().to_owned()));
    }
    m
}

fn map_presentation(e: &PresentationError) -> Mapped {
    match e {
        PresentationError::Challenge(c) => {
            let reason = match c {
                ChallengeErrorKind::UnknownOrUsed => "CHALLENGE_UNKNOWN_OR_USED",
                ChallengeErrorKind::Expired { .. } => "CHALLENGE_EXPIRED",
                ChallengeErrorKind::AudienceMismatch => "CHALLENGE_AUDIENCE_MISMATCH",
                ChallengeErrorKind::Full { .. } => {
                    return Mapped::new(
                        Code::ResourceExhausted,
                        "TOO_MANY_CHALLENGES",
                        e.to_string(),
                    )
                }
                _ => "CHALLENGE_REFUSED",
            };
            Mapped::new(Code::FailedPrecondition, reason, e.to_string())
        }
        PresentationError::Invalid(inner) => {
            let mut m = Mapped::new(Code::InvalidArgument, "PRESENTATION_REFUSED", e.to_string());
            m.metadata = vec![("code".to_owned(), inner.code())];
            m.violation = Some(("presentation", inner.code()));
            m
        }
        PresentationError::NotText | PresentationError::MissingSession => {
            let mut m = Mapped::new(Code::InvalidArgument, "INVALID_FIELD", e.to_string());
            m.violation = Some(("presentation", e.to_string()));
            m
        }
    }
}

/// A full disk is not our code's fault and not the caller's: RESOURCE_EXHAUSTED (the resource
/// is the bridge's disk), reason `STORAGE_FULL`, so operators alert on it and callers retry later.
fn storage_full() -> Mapped {
    tracing::error!("storage full: refusing new work");
    Mapped::new(
        Code::ResourceExhausted,
        "STORAGE_FULL",
        "the bridge's storage is full; nothing was acknowledged, retry later".to_owned(),
    )
}

fn map_journal(e: &JournalError) -> Mapped {
    match e {
        JournalError::Storage(StorageError::Io { kind, .. }) if crate::store::is_full(*kind) => {
            storage_full()
        }
        JournalError::Proof(
            p @ (ProofError::IndexOutOfRange { .. }
            | ProofError::InvalidSizes { .. }
            | ProofError::BeyondTree { .. }),
        ) => {
            let mut m = Mapped::new(Code::OutOfRange, "PROOF_OUT_OF_RANGE", p.to_string());
            m.violation = Some(("tree_size", p.to_string()));
            m
        }
        JournalError::CheckpointInvalid(_)
        | JournalError::CheckpointAhead { .. }
        | JournalError::CheckpointMismatch { .. }
        | JournalError::CheckpointMissing { .. } => Mapped::new(
            Code::FailedPrecondition,
            "JOURNAL_DISAGREES_WITH_CHECKPOINT",
            e.to_string(),
        ),
        JournalError::Failed | JournalError::Closed => Mapped::new(
            Code::Unavailable,
            "JOURNAL_UNAVAILABLE",
            "the journal is not accepting entries".to_owned(),
        ),
        other => Mapped::internal(other),
    }
}

impl From<Error> for Status {
    fn from(err: Error) -> Status {
        let m = map(&err);
        let mut details = ErrorDetails::new();
        details.set_error_info(
            m.reason,
            ERROR_DOMAIN,
            m.metadata
                .into_iter()
                .collect::<std::collections::HashMap<_, _>>(),
        );
        if let Some((field, description)) = m.violation {
            details.add_bad_request_violation(field, description);
        }
        if let Some(delay) = m.retry_after {
            details.set_retry_info(Some(delay));
        }
        Status::with_error_details(m.code, m.message, details)
    }
}

/// The `ErrorInfo.reason` of a status this module built (empty for one without).
pub(super) fn error_reason(status: &Status) -> String {
    status
        .get_details_error_info()
        .map(|info| info.reason)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grpc::Role;
    use crate::journal::StorageOp;

    #[test]
    fn permission_denied_carries_reason_and_roles() {
        let status: Status = Error::PermissionDenied {
            method: "/eidas.bridge.v1.JournalService/Replay".into(),
            required: vec![Role::Auditor],
        }
        .into();
        assert_eq!(status.code(), Code::PermissionDenied);
        let info = status.get_details_error_info().unwrap();
        assert_eq!(info.reason, "ROLE_NOT_GRANTED");
        assert_eq!(info.domain, ERROR_DOMAIN);
        assert_eq!(
            info.metadata.get("required_roles").map(String::as_str),
            Some("auditor")
        );
    }

    #[test]
    fn invalid_field_has_violation() {
        let status: Status = Error::InvalidField {
            field: "address",
            reason: "empty".into(),
        }
        .into();
        assert_eq!(status.code(), Code::InvalidArgument);
        let br = status.get_details_bad_request().unwrap();
        assert_eq!(br.field_violations[0].field, "address");
        assert_eq!(
            status.get_details_error_info().unwrap().reason,
            "INVALID_FIELD"
        );
    }

    #[test]
    fn address_errors_carry_the_spec_code() {
        let status: Status = Error::Address(AddressError::InvalidCheckDigit).into();
        assert_eq!(status.code(), Code::InvalidArgument);
        let info = status.get_details_error_info().unwrap();
        assert_eq!(info.reason, "INVALID_CHECK_DIGIT");
        assert_eq!(info.metadata["code"], "invalid_check_digit");
        let status: Status = Error::Address(AddressError::NotInDirectory).into();
        assert_eq!(status.code(), Code::NotFound);
    }

    #[test]
    fn journal_refusal_is_failed_precondition() {
        let status: Status = Error::Journal(JournalError::CheckpointMismatch { size: 3 }).into();
        assert_eq!(status.code(), Code::FailedPrecondition);
        let status: Status = Error::Journal(JournalError::Proof(ProofError::IndexOutOfRange {
            index: 9,
            size: 3,
        }))
        .into();
        assert_eq!(status.code(), Code::OutOfRange);
    }

    #[test]
    fn no_trust_snapshot_is_failed_precondition() {
        let status: Status = Error::NoTrustSnapshot.into();
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(
            status.get_details_error_info().unwrap().reason,
            "NO_TRUST_SNAPSHOT"
        );
    }

    #[test]
    fn full_disk_is_resource_exhausted_with_reason() {
        let journal: Status = Error::Journal(JournalError::Storage(StorageError::Io {
            op: StorageOp::Append,
            kind: std::io::ErrorKind::StorageFull,
        }))
        .into();
        let store: Status =
            Error::Exchange(ExchangeError::from(crate::store::StoreError::Failed {
                kind: std::io::ErrorKind::QuotaExceeded,
            }))
            .into();
        for status in [journal, store] {
            assert_eq!(status.code(), Code::ResourceExhausted);
            assert_eq!(
                status.get_details_error_info().unwrap().reason,
                "STORAGE_FULL"
            );
        }
        // Any other journal i/o failure stays our own fault.
        let eio: Status = Error::Journal(JournalError::Storage(StorageError::Io {
            op: StorageOp::Append,
            kind: std::io::ErrorKind::Other,
        }))
        .into();
        assert_eq!(eio.code(), Code::Internal);
    }

    #[test]
    fn caller_limits_are_resource_exhausted_with_a_retry_delay() {
        let status: Status = Error::CallerLimit {
            limit: crate::grpc::CallerLimitKind::Rate { rate: 5, burst: 10 },
            retry_after: std::time::Duration::from_millis(200),
        }
        .into();
        assert_eq!(status.code(), Code::ResourceExhausted);
        let info = status.get_details_error_info().unwrap();
        assert_eq!(info.reason, "CALLER_RATE_LIMIT");
        assert_eq!(info.metadata["rate_per_second"], "5");
        assert_eq!(
            status.get_details_retry_info().unwrap().retry_delay,
            Some(std::time::Duration::from_millis(200))
        );
        let status: Status = Error::CallerLimit {
            limit: crate::grpc::CallerLimitKind::Concurrency { max: 3 },
            retry_after: std::time::Duration::from_millis(50),
        }
        .into();
        assert_eq!(
            status.get_details_error_info().unwrap().reason,
            "CALLER_CONCURRENCY_LIMIT"
        );
    }

    #[test]
    fn deadlines_are_deadline_exceeded() {
        let status: Status = Error::DeadlineExceeded {
            after: std::time::Duration::from_secs(2),
        }
        .into();
        assert_eq!(status.code(), Code::DeadlineExceeded);
        assert_eq!(
            status.get_details_error_info().unwrap().metadata["deadline_ms"],
            "2000"
        );
        let status: Status = Error::StreamIdle {
            idle: std::time::Duration::from_secs(1),
        }
        .into();
        assert_eq!(status.code(), Code::DeadlineExceeded);
        assert_eq!(
            status.get_details_error_info().unwrap().reason,
            "STREAM_IDLE"
        );
    }

    #[test]
    fn internal_hides_details() {
        let status: Status = Error::Internal("sled: disk on fire".into()).into();
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.message(), "internal error");
    }

    #[test]
    fn submit_refusals_have_their_own_reasons() {
        use crate::exchange::EnvelopeErrorKind as K;
        let check = |e: ExchangeError, code: Code, reason: &str| {
            let status: Status = Error::from(e).into();
            assert_eq!(status.code(), code, "{reason}");
            assert_eq!(status.get_details_error_info().unwrap().reason, reason);
            status
        };
        let s = check(
            K::StreamTooLarge { limit: 10 }.into(),
            Code::ResourceExhausted,
            "PAYLOAD_TOO_LARGE",
        );
        assert_eq!(s.get_details_error_info().unwrap().metadata["limit"], "10");
        check(
            K::StreamHeaderMissing.into(),
            Code::InvalidArgument,
            "STREAM_HEADER_MISSING",
        );
        check(
            K::StreamHeaderMisplaced.into(),
            Code::InvalidArgument,
            "STREAM_HEADER_MISPLACED",
        );
        let s = check(
            K::Presentation {
                field: "presentation_nonce",
            }
            .into(),
            Code::InvalidArgument,
            "INVALID_FIELD",
        );
        assert_eq!(
            s.get_details_bad_request().unwrap().field_violations[0].field,
            "envelope.presentation_nonce"
        );
        check(
            ExchangeError::PresentationRequired,
            Code::InvalidArgument,
            "PRESENTATION_REQUIRED",
        );
        check(
            ExchangeError::SenderNotHolder {
                sender: "hcid:FR:rpps:10003456789".into(),
                holder: None,
            },
            Code::PermissionDenied,
            "SENDER_NOT_HOLDER",
        );
    }
}
