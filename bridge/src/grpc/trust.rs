//! `TrustService`: the status of every list of the snapshot in force (DSS `TLValidationJobSummary`
//! style: signature state, freshness, STALE when a failed refresh kept the previous copy), a
//! refresh on demand (admin only, see `access.rs`), and certificate validation at an instant.

use std::sync::Arc;

use bridge_proto::pb;
use bridge_proto::pb::trust_service_server::TrustService;
use time::OffsetDateTime;
use tonic::{Request, Response, Status};
use trust_lists::{ListKind, ListReport, StageState, Usage, MAX_CHAIN_LEN};

use crate::error::Error;
use crate::trust::{Loaded, Refresher};

/// The service over the bridge's refresher and trust state.
#[derive(Debug, Clone)]
pub struct TrustApi {
    refresher: Arc<Refresher>,
}

impl TrustApi {
    /// Serves the trust state of `refresher`.
    pub fn new(refresher: Arc<Refresher>) -> TrustApi {
        TrustApi { refresher }
    }

    fn status(&self, territory: &str) -> pb::GetTrustStatusResponse {
        let state = self.refresher.state();
        let refresh = state.status();
        let current = state.current();
        let now = OffsetDateTime::now_utc();
        let lists = current
            .as_ref()
            .map(|loaded| {
                loaded
                    .snapshot
                    .reports
                    .iter()
                    .filter(|r| territory.is_empty() || r.territory == territory)
                    .map(|r| list_status(loaded, r, now))
                    .collect()
            })
            .unwrap_or_default();
        pb::GetTrustStatusResponse {
            lists,
            snapshot_digest: current.map(|c| c.digest.to_vec()).unwrap_or_default(),
            last_refresh_attempt: refresh.last_attempt.map(timestamp),
            last_refresh_success: refresh.last_success.map(timestamp),
            last_refresh_error: refresh.last_error.unwrap_or_default(),
        }
    }
}

/// A validated `ValidateCertificate` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidateRequest {
    /// DER chain, leaf first.
    pub chain: Vec<Vec<u8>>,
    /// The instant, `None` for now.
    pub at: Option<OffsetDateTime>,
    /// The usage.
    pub usage: Usage,
}

impl TryFrom<pb::ValidateCertificateRequest> for ValidateRequest {
    type Error = Error;

    fn try_from(req: pb::ValidateCertificateRequest) -> Result<Self, Error> {
        let bad = |field: &'static str, reason: String| Error::InvalidField { field, reason };
        if req.chain.is_empty() {
            return Err(bad("chain", "empty".into()));
        }
        if req.chain.len() > MAX_CHAIN_LEN {
            return Err(bad(
                "chain",
                format!("more than {MAX_CHAIN_LEN} certificates"),
            ));
        }
        if let Some(i) = req
            .chain
            .iter()
            .position(|c| openssl::x509::X509::from_der(c).is_err())
        {
            return Err(bad("chain", format!("certificate {i} is not DER X.509")));
        }
        let at = match req.at {
            None => None,
            Some(ts) => Some(
                OffsetDateTime::from_unix_timestamp_nanos(
                    i128::from(ts.seconds) * 1_000_000_000 + i128::from(ts.nanos),
                )
                .map_err(|_| bad("at", "out of range".into()))?,
            ),
        };
        let usage = match pb::CertificateUsage::try_from(req.usage) {
            Ok(pb::CertificateUsage::Unspecified) => Usage::Any,
            Ok(pb::CertificateUsage::Qseal) => Usage::QSeal,
            Ok(pb::CertificateUsage::Qwac) => Usage::Qwac,
            Ok(pb::CertificateUsage::Esig) => Usage::ESig,
            Ok(pb::CertificateUsage::Pid) => Usage::Pid,
            Err(_) => return Err(bad("usage", format!("unknown value {}", req.usage))),
        };
        Ok(ValidateRequest {
            chain: req.chain,
            at,
            usage,
        })
    }
}

fn timestamp(t: OffsetDateTime) -> prost_types::Timestamp {
    let nanos = t.unix_timestamp_nanos();
    prost_types::Timestamp {
        seconds: t.unix_timestamp(),
        // In 0..1e9 by construction of rem_euclid.
        nanos: nanos.rem_euclid(1_000_000_000) as i32,
    }
}

fn kind_name(kind: ListKind) -> &'static str {
    match kind {
        ListKind::Pivot => "pivot",
        ListKind::Lotl => "lotl",
        ListKind::Tl => "tl",
    }
}

fn list_status(loaded: &Loaded, r: &ListReport, now: OffsetDateTime) -> pb::TrustListStatus {
    let signature = match r.signature {
        StageState::Ok | StageState::Unchanged => pb::SignatureState::Valid,
        StageState::Failed => pb::SignatureState::Invalid,
        StageState::Skipped => pb::SignatureState::NotChecked,
    };
    let freshness = if r.kept_previous {
        pb::Freshness::Stale
    } else if r.error.is_some() {
        pb::Freshness::Unspecified
    } else if r.next_update.is_none_or(|n| n > now) {
        pb::Freshness::Fresh
    } else {
        pb::Freshness::Expired
    };
    let digest = loaded
        .snapshot
        .entries
        .iter()
        .find(|e| {
            e.kind == r.kind
                && e.list.territory == r.territory
                && (r.kind != ListKind::Pivot || Some(e.list.sequence) == r.sequence)
        })
        .map(|e| e.canonical_digest.to_vec())
        .unwrap_or_default();
    pb::TrustListStatus {
        territory: r.territory.clone(),
        kind: kind_name(r.kind).to_owned(),
        sequence_number: r.sequence.unwrap_or_default(),
        issued: r.issued.map(timestamp),
        next_update: r.next_update.map(timestamp),
        signature: signature as i32,
        freshness: freshness as i32,
        signer: r.signer.clone().unwrap_or_default(),
        source: r.location.clone(),
        digest,
        error: r.error.clone().unwrap_or_default(),
        loaded_at: Some(timestamp(loaded.loaded_at)),
    }
}

#[tonic::async_trait]
impl TrustService for TrustApi {
    async fn get_status(
        &self,
        req: Request<pb::GetTrustStatusRequest>,
    ) -> Result<Response<pb::GetTrustStatusResponse>, Status> {
        Ok(Response::new(self.status(&req.into_inner().territory)))
    }

    async fn refresh(
        &self,
        _req: Request<pb::RefreshTrustRequest>,
    ) -> Result<Response<pb::RefreshTrustResponse>, Status> {
        // On its own task: a client that gives up (deadline, cancel) must not cut a refresh
        // between storing a snapshot and installing it.
        let refresher = self.refresher.clone();
        tokio::spawn(async move { refresher.refresh_now().await })
            .await
            .map_err(|e| Error::Internal(format!("refresh task: {e}")))?;
        Ok(Response::new(pb::RefreshTrustResponse {
            status: Some(self.status("")),
        }))
    }

    async fn validate_certificate(
        &self,
        req: Request<pb::ValidateCertificateRequest>,
    ) -> Result<Response<pb::TrustDecision>, Status> {
        let req = ValidateRequest::try_from(req.into_inner())?;
        let at = req.at.unwrap_or_else(OffsetDateTime::now_utc);
        let (result, digest) = self.refresher.state().validate(&req.chain, at, req.usage)?;
        Ok(Response::new(pb::TrustDecision {
            trusted: result.trusted,
            qualified: result.qualified,
            tsp_name: result.tsp.unwrap_or_default(),
            service_name: result.service.unwrap_or_default(),
            service_type: result.service_type.unwrap_or_default(),
            territory: result.territory.unwrap_or_default(),
            service_status: result.status.unwrap_or_default(),
            reasons: result.reasons.iter().map(ToString::to_string).collect(),
            snapshot_digest: digest.to_vec(),
            validated_at: Some(timestamp(at)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_requests_name_their_field() {
        let field = |r: pb::ValidateCertificateRequest| match ValidateRequest::try_from(r) {
            Err(Error::InvalidField { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(pb::ValidateCertificateRequest::default()), "chain");
        assert_eq!(
            field(pb::ValidateCertificateRequest {
                chain: vec![vec![1, 2, 3]],
                ..Default::default()
            }),
            "chain"
        );
    }
}
