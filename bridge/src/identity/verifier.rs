//! The verifier the gateway runs: single-use challenges and the verification of a presentation
//! answering one, for either format. Time is a parameter; the gRPC service and the exchange's
//! `Submit` (a sender's presentation) both call it.

use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use super::{
    map_health_professional, openid4vp_session_transcript, verify_device_response, verify_sd_jwt,
    Challenge, ChallengeErrorKind, ChallengeRegistry, DeviceAuthCheck, Handover,
    HealthProfessional, IdentityError, IssuerKeys, IssuerTrust, MdocPolicy, SdJwtPolicy,
    DEFAULT_KB_MAX_AGE_S,
};

/// Which serialisation a presentation uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresentationFormat {
    /// SD-JWT VC, compact or JSON serialisation (detected from the text).
    SdJwt,
    /// ISO 18013-5 DeviceResponse, CBOR.
    Mdoc,
}

/// Where an mdoc presentation was requested from, to rebuild its SessionTranscript (OpenID4VP 1.0
/// appendix B.2.6). The nonce and client_id come from the challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MdocSession {
    /// Redirect-based OpenID4VP: the request's `response_uri`.
    Redirect {
        /// `response_uri` (or `redirect_uri`).
        response_uri: String,
    },
    /// Digital Credentials API: the verifier's web origin.
    DcApi {
        /// The origin.
        origin: String,
    },
}

/// Why a presentation was not accepted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PresentationError {
    /// The challenge is unknown, already used, expired or bound to another audience.
    #[error("challenge: {0}")]
    Challenge(#[from] ChallengeErrorKind),
    /// The presentation failed verification.
    #[error(transparent)]
    Invalid(#[from] IdentityError),
    /// The presentation is not text where text is required.
    #[error("an SD-JWT presentation must be UTF-8 text")]
    NotText,
    /// An mdoc presentation needs the session it answers (response_uri or origin).
    #[error("an mdoc presentation needs its response_uri or origin")]
    MissingSession,
}

/// A verified presentation.
#[derive(Debug, Clone)]
pub struct VerifiedPresentation {
    /// The disclosed claims (for mdoc: one object per namespace of the first document).
    pub claims: Map<String, Value>,
    /// The health-professional view, when the claims carry one.
    pub health_professional: Option<HealthProfessional>,
    /// SHA-256 of the issuer's leaf certificate (or of its key), for the journal; no names.
    pub issuer_digest: Option<[u8; 32]>,
    /// The issuer chain and trust snapshot, when the trust lists anchored the issuer: archived
    /// and journaled so `journal verify --recheck` can re-run the decision.
    pub issuer_evidence: Option<super::IssuerEvidence>,
}

/// Challenges plus issuer trust.
#[derive(Debug)]
pub struct WalletVerifier {
    challenges: Mutex<ChallengeRegistry>,
    trust: Arc<dyn IssuerTrust>,
    accept_legacy_typ: bool,
}

impl WalletVerifier {
    /// A verifier whose issuers are trusted through `trust`.
    pub fn new(trust: Arc<dyn IssuerTrust>, accept_legacy_typ: bool) -> WalletVerifier {
        WalletVerifier {
            challenges: Mutex::new(ChallengeRegistry::default()),
            trust,
            accept_legacy_typ,
        }
    }

    /// Issues a single-use challenge for `audience`.
    ///
    /// # Errors
    /// See [`ChallengeErrorKind`].
    pub fn create_challenge(
        &self,
        audience: &str,
        now: i64,
    ) -> Result<Challenge, ChallengeErrorKind> {
        // A poisoned lock means a panic while holding it; the registry itself stays consistent
        // (each operation is a single map update), so keep serving.
        let mut registry = self
            .challenges
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        registry.create_challenge(audience, now)
    }

    /// Consumes the challenge `nonce` for `audience` (whatever the outcome, it cannot be used
    /// again) and verifies the presentation against it.
    ///
    /// # Errors
    /// See [`PresentationError`].
    pub fn verify(
        &self,
        format: PresentationFormat,
        presentation: &[u8],
        nonce: &str,
        audience: &str,
        session: Option<&MdocSession>,
        now: i64,
    ) -> Result<VerifiedPresentation, PresentationError> {
        let challenge = {
            let mut registry = self
                .challenges
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            registry.consume(nonce, audience, now)?
        };
        match format {
            PresentationFormat::SdJwt => {
                let text =
                    std::str::from_utf8(presentation).map_err(|_| PresentationError::NotText)?;
                let mut policy = SdJwtPolicy::sd_jwt_vc(self.accept_legacy_typ);
                policy.key_binding = Some(challenge.key_binding_policy(DEFAULT_KB_MAX_AGE_S));
                let keys = IssuerKeys::X5c(self.trust.clone());
                let verified = verify_sd_jwt(text, &policy, &keys, None, now)?;
                Ok(VerifiedPresentation {
                    health_professional: map_health_professional(&verified.claims),
                    issuer_digest: match &verified.issuer {
                        super::IssuerIdentity::Certificate(t) => leaf_digest(t),
                        super::IssuerIdentity::ConfiguredKey { .. } => None,
                    },
                    issuer_evidence: match &verified.issuer {
                        super::IssuerIdentity::Certificate(t) => t.evidence.clone(),
                        super::IssuerIdentity::ConfiguredKey { .. } => None,
                    },
                    claims: verified.claims,
                })
            }
            PresentationFormat::Mdoc => {
                let handover = match session.ok_or(PresentationError::MissingSession)? {
                    MdocSession::Redirect { response_uri } => Handover::OpenId4Vp {
                        client_id: challenge.audience.clone(),
                        nonce: challenge.nonce.clone(),
                        jwk_thumbprint: None,
                        response_uri: response_uri.clone(),
                    },
                    MdocSession::DcApi { origin } => Handover::DcApi {
                        origin: origin.clone(),
                        nonce: challenge.nonce.clone(),
                        jwk_thumbprint: None,
                    },
                };
                let policy = MdocPolicy {
                    device_auth: DeviceAuthCheck::Verify {
                        session_transcript: openid4vp_session_transcript(&handover)
                            .session_transcript,
                        reader_ephemeral_key: None,
                    },
                    ..MdocPolicy::default()
                };
                let documents =
                    verify_device_response(presentation, &policy, self.trust.as_ref(), now)?;
                let first = documents.into_iter().next();
                let issuer_digest = first.as_ref().and_then(|d| leaf_digest(&d.issuer));
                let claims = first
                    .as_ref()
                    .map(|d| d.claims_json())
                    .and_then(|v| v.as_object().cloned())
                    .unwrap_or_default();
                Ok(VerifiedPresentation {
                    health_professional: map_health_professional(&claims),
                    issuer_digest,
                    issuer_evidence: first.as_ref().and_then(|d| d.issuer.evidence.clone()),
                    claims,
                })
            }
        }
    }
}

fn leaf_digest(issuer: &super::TrustedIssuer) -> Option<[u8; 32]> {
    hex::decode(&issuer.leaf_sha256).ok()?.try_into().ok()
}
