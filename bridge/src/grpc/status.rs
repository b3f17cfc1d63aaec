//! The only mapping from [`Error`] to gRPC status. Each error gets a standard code and a
//! machine-readable reason in `google.rpc.ErrorInfo` (domain `eidas-bridge`), and bad fields a
//! `google.rpc.BadRequest` field violation, so clients branch on data rather than on message text.
//! Our own faults say only "internal error" to the caller; their details go to the log.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::error::Error;

/// `ErrorInfo.domain` for every status the bridge produces.
pub const ERROR_DOMAIN: &str = "eidas-bridge";

impl From<Error> for Status {
    fn from(err: Error) -> Status {
        let (code, reason, message, mut details) = match &err {
            Error::Unauthenticated => (
                Code::Unauthenticated,
                "NO_CLIENT_CERTIFICATE",
                err.to_string(),
                ErrorDetails::new(),
            ),
            Error::PermissionDenied { method, required } => {
                let required: Vec<&str> = required.iter().map(|r| r.as_str()).collect();
                let mut d = ErrorDetails::new();
                d.set_error_info(
                    "ROLE_NOT_GRANTED",
                    ERROR_DOMAIN,
                    [
                        ("method".to_owned(), method.clone()),
                        ("required_roles".to_owned(), required.join(",")),
                    ],
                );
                (
                    Code::PermissionDenied,
                    "ROLE_NOT_GRANTED",
                    err.to_string(),
                    d,
                )
            }
            Error::InvalidField { field, reason } => {
                let mut d = ErrorDetails::new();
                d.add_bad_request_violation(*field, reason.clone());
                (Code::InvalidArgument, "INVALID_FIELD", err.to_string(), d)
            }
            Error::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                (
                    Code::Internal,
                    "INTERNAL",
                    "internal error".to_owned(),
                    ErrorDetails::new(),
                )
            }
        };
        if details.error_info().is_none() {
            details.set_error_info(reason, ERROR_DOMAIN, []);
        }
        Status::with_error_details(code, message, details)
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
    fn internal_hides_details() {
        let status: Status = Error::Internal("sled: disk on fire".into()).into();
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.message(), "internal error");
    }
}
