//! `IdentityService` (operators): single-use challenges and the verification of a wallet
//! presentation answering one; each accepted presentation is journaled as `identity_verified`
//! with no claim values.

use std::sync::Arc;

use bridge_proto::pb;
use bridge_proto::pb::identity_service_server::IdentityService;
use tonic::{Request, Response, Status};

use crate::clock::{Clock, SystemClock};
use crate::error::Error;
use crate::identity::{MdocSession, PresentationFormat, WalletVerifier, MAX_PRESENTATION_BYTES};
use crate::journal::{Decision, EntryKind, Evidence, Journal, JournalEntry};
use crate::store::evidence::EvidenceStore;

/// Longest audience (verifier client_id) accepted: client_ids are URLs or DNS names with a prefix.
const MAX_AUDIENCE_LEN: usize = 512;

/// The service.
#[derive(Debug, Clone)]
pub struct IdentityApi {
    verifier: Arc<WalletVerifier>,
    journal: Arc<Journal>,
    evidence: Option<EvidenceStore>,
    /// The wall clock: challenge issue and expiry, presentation checks, journal times.
    clock: Arc<dyn Clock>,
}

impl IdentityApi {
    /// Serves `verifier`, journaling into `journal`.
    pub fn new(verifier: Arc<WalletVerifier>, journal: Arc<Journal>) -> IdentityApi {
        IdentityApi {
            verifier,
            journal,
            evidence: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// Reads wall time from `clock` (fault tests jump it).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> IdentityApi {
        self.clock = clock;
        self
    }

    /// Archives the issuer chain of each trust-list decision in `evidence` and journals its
    /// digest with the snapshot's, so `journal verify --recheck` can re-run it.
    pub fn with_evidence(mut self, evidence: EvidenceStore) -> IdentityApi {
        self.evidence = Some(evidence);
        self
    }
}

/// The clock's instant as Unix seconds and nanoseconds.
fn now_unix(clock: &dyn Clock) -> (i64, i64) {
    let t = clock.now();
    let nanos = i64::try_from(t.unix_timestamp_nanos()).unwrap_or(i64::MAX);
    (t.unix_timestamp(), nanos)
}

fn audience(value: &str) -> Result<&str, Error> {
    if value.is_empty() || value.len() > MAX_AUDIENCE_LEN || value.chars().any(char::is_control) {
        return Err(Error::InvalidField {
            field: "audience",
            reason: format!("1 to {MAX_AUDIENCE_LEN} printable characters"),
        });
    }
    Ok(value)
}

#[tonic::async_trait]
impl IdentityService for IdentityApi {
    async fn create_challenge(
        &self,
        req: Request<pb::CreateChallengeRequest>,
    ) -> Result<Response<pb::Challenge>, Status> {
        let req = req.into_inner();
        let aud = audience(&req.audience)?;
        let (now, _) = now_unix(self.clock.as_ref());
        let challenge = self
            .verifier
            .create_challenge(aud, now)
            .map_err(|e| Error::Presentation(e.into()))?;
        Ok(Response::new(pb::Challenge {
            nonce: challenge.nonce,
            audience: challenge.audience,
            expires_at: Some(prost_types::Timestamp {
                seconds: challenge.expires_at,
                nanos: 0,
            }),
        }))
    }

    async fn verify_presentation(
        &self,
        req: Request<pb::VerifyPresentationRequest>,
    ) -> Result<Response<pb::VerifyPresentationResponse>, Status> {
        let req = req.into_inner();
        let aud = audience(&req.audience)?.to_owned();
        if req.presentation.is_empty() || req.presentation.len() > MAX_PRESENTATION_BYTES {
            return Err(Error::InvalidField {
                field: "presentation",
                reason: format!("1 to {MAX_PRESENTATION_BYTES} bytes"),
            }
            .into());
        }
        let format = match pb::PresentationFormat::try_from(req.format) {
            Ok(pb::PresentationFormat::SdJwtVc | pb::PresentationFormat::SdJwtJson) => {
                PresentationFormat::SdJwt
            }
            Ok(pb::PresentationFormat::Mdoc) => PresentationFormat::Mdoc,
            _ => {
                return Err(Error::InvalidField {
                    field: "format",
                    reason: "SD_JWT_VC, SD_JWT_JSON or MDOC".into(),
                }
                .into())
            }
        };
        let session = match (req.response_uri.is_empty(), req.origin.is_empty()) {
            (false, true) => Some(MdocSession::Redirect {
                response_uri: req.response_uri,
            }),
            (true, false) => Some(MdocSession::DcApi { origin: req.origin }),
            (true, true) => None,
            (false, false) => {
                return Err(Error::InvalidField {
                    field: "origin",
                    reason: "give response_uri or origin, not both".into(),
                }
                .into())
            }
        };
        let (now, now_nanos) = now_unix(self.clock.as_ref());
        let verifier = self.verifier.clone();
        let nonce = req.nonce;
        let verified = tokio::task::spawn_blocking(move || {
            verifier.verify(
                format,
                &req.presentation,
                &nonce,
                &aud,
                session.as_ref(),
                now,
            )
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .map_err(Error::Presentation)?;

        let hcid = verified
            .health_professional
            .as_ref()
            .and_then(|h| h.hcid.clone());
        // The decision's evidence is archived (durably) before the entry that names it.
        let (trust_snapshot, evidence) = match (&self.evidence, &verified.issuer_evidence) {
            (Some(store), Some(ev)) => {
                let chain = store
                    .archive_async(&ev.chain)
                    .await
                    .map_err(|e| Error::Internal(e.to_string()))?;
                let evidence = Evidence {
                    decision: Decision::WalletIssuer,
                    chain,
                };
                (Some(ev.trust_snapshot), Some(evidence))
            }
            _ => (None, None),
        };
        let receipt = self
            .journal
            .append_async(&JournalEntry {
                kind: EntryKind::IdentityVerified,
                unix_nanos: now_nanos,
                message_id: None,
                sender: hcid.clone(),
                recipient: None,
                peer: None,
                payload: None,
                trust_snapshot,
                evidence,
                reason: None,
            })
            .await
            .map_err(Error::from)?;
        let claims = prost_struct(verified.claims);
        Ok(Response::new(pb::VerifyPresentationResponse {
            claims: Some(claims),
            issuer_trust: Some(pb::TrustDecision {
                trusted: true,
                reasons: vec![match verified.issuer_digest {
                    Some(d) => format!("issuer certificate sha256:{}", hex::encode(d)),
                    None => "issuer key configured".to_owned(),
                }],
                ..Default::default()
            }),
            health_professional: verified
                .health_professional
                .map(|h| pb::HealthProfessional {
                    identifier_scheme: h.identifier_scheme,
                    identifier_value: h.identifier,
                    profession: h.profession_code.unwrap_or_default(),
                    country: h.country,
                    hcid: h.hcid.unwrap_or_default(),
                }),
            journal_index: receipt.index,
        }))
    }
}

fn prost_struct(map: serde_json::Map<String, serde_json::Value>) -> prost_types::Struct {
    prost_types::Struct {
        fields: map.into_iter().map(|(k, v)| (k, prost_value(v))).collect(),
    }
}

fn prost_value(v: serde_json::Value) -> prost_types::Value {
    use prost_types::value::Kind;
    let kind = match v {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(b) => Kind::BoolValue(b),
        serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        serde_json::Value::String(s) => Kind::StringValue(s),
        serde_json::Value::Array(a) => Kind::ListValue(prost_types::ListValue {
            values: a.into_iter().map(prost_value).collect(),
        }),
        serde_json::Value::Object(o) => Kind::StructValue(prost_struct(o)),
    };
    prost_types::Value { kind: Some(kind) }
}
