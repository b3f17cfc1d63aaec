//! The only mapping from [`Error`] to gRPC status. Each error gets a standard code and a
//! machine-readable reason in `google.rpc.ErrorInfo` (domain `eidas-bridge`), and bad fields a
//! `google.rpc.BadRequest` field violation, so clients branch on data rather than on message text.
//! Our own faults say only "internal error" to the caller; their details go to the log.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::addressing::AddressError;
use crate::error::Error;
use crate::exchange::ExchangeError;
use crate::identity::{ChallengeErrorKind, PresentationError};
use crate::journal::{JournalError, ProofError};
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
        ExchangeError::Envelope(kind) => {
            let field = match kind {
                crate::exchange::EnvelopeErrorKind::MessageId { .. } => "envelope.message_id",
                crate::exchange::EnvelopeErrorKind::Space { field: "sender" }
                | crate::exchange::EnvelopeErrorKind::Address { field: "sender" } => {
                    "envelope.sender"
                }
                crate::exchange::EnvelopeErrorKind::Space { .. }
                | crate::exchange::EnvelopeErrorKind::Address { .. } => "envelope.recipient",
                crate::exchange::EnvelopeErrorKind::PayloadTooLarge { .. } => "envelope.payload",
                _ => "envelope.payload_sha256",
            };
            let reason = match kind {
                crate::exchange::EnvelopeErrorKind::PayloadTooLarge { .. } => "PAYLOAD_TOO_LARGE",
                crate::exchange::EnvelopeErrorKind::DigestMismatch => "PAYLOAD_DIGEST_MISMATCH",
                _ => "INVALID_FIELD",
            };
            let mut m = Mapped::new(Code::InvalidArgument, reason, text.clone());
            m.violation = Some((field, text));
            m
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
        ExchangeError::NotFound => Mapped::new(Code::NotFound, "MESSAGE_NOT_FOUND", text),
        ExchangeError::NoReceipt => Mapped::new(Code::FailedPrecondition, "NO_RECEIPT_YET", text),
        ExchangeError::Storage { .. } => Mapped::internal(e),
        #[allow(unreachable_patterns)]
        _ => Mapped::internal(e),
    }
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

fn map_journal(e: &JournalError) -> Mapped {
    match e {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grpc::Role;

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
}
