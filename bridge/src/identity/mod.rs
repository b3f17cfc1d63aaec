//! Wallet-based identity verification: EUDI-wallet presentations of the person who sends, as
//! SD-JWT VC with key binding (RFC 9901, draft-ietf-oauth-sd-jwt-vc) or ISO/IEC 18013-5 mdoc,
//! whose issuer chains to a trust anchor. Every signature and certificate check is OpenSSL's;
//! time is always a parameter.
//!
//! # Layout
//! - `jose`: compact JWS, algorithm allow-list, JWK import.
//! - `trust`: [`IssuerTrust`] and the offline [`PemTrustAnchors`].
//! - `presentation`, `disclosure`, `sdjwt`, `kb`, `issuer`: the SD-JWT pipeline.
//! - `status`: Token Status List.
//! - `cbor`, `cose`, `mdoc`, `transcript`: ISO/IEC 18013-5 DeviceResponse and OpenID4VP handovers.
//! - `challenge`: single-use nonces bound to an audience.
//! - `verifier`: [`WalletVerifier`], challenges plus verification as the gateway runs them.
//! - `health`: health-professional mapping and `hcid`.
//! - `error`: one error enum per stage.
//! - [`fuzzing`]: entry points of the fuzz targets and their seed replay test.

mod cbor;
mod challenge;
mod cose;
mod disclosure;
mod error;
pub mod fuzzing;
mod health;
mod issuer;
mod jose;
mod kb;
mod mdoc;
mod mdoc_mso;
mod presentation;
mod sdjwt;
mod status;
mod transcript;
mod trust;
mod verifier;

pub use cbor::MAX_CBOR_DEPTH;
pub use challenge::{
    Challenge, ChallengeErrorKind, ChallengeRegistry, DEFAULT_CHALLENGE_TTL_S,
    MAX_OUTSTANDING_CHALLENGES, NONCE_BYTES,
};
pub use cose::p256_private_key_from_scalar;
pub use disclosure::{SdAlg, MAX_DEPTH, MAX_DISCLOSURES};
pub use error::{
    IdentityError, KeyBindingErrorKind, MdocErrorKind, SdJwtErrorKind, StatusErrorKind,
};
pub use health::{map_health_professional, HealthProfessional};
pub use issuer::{IssuerIdentity, IssuerKeys};
pub use jose::{
    jwk_thumbprint_sha256, jwk_to_public_key, JoseErrorKind, JwsAlg, MAX_JWS_BYTES, MIN_RSA_BITS,
};
pub use kb::{KB_IAT_FUTURE_TOLERANCE_S, TYP_KB_JWT};
pub use mdoc::{
    verify_device_response, DeviceAuthCheck, IssuerSignedElement, MdocPolicy, VerifiedDocument,
    MAX_DEVICE_RESPONSE_BYTES, MAX_DOCUMENTS, MAX_ELEMENTS,
};
pub use presentation::{SdJwtPresentation, MAX_JSON_SIGNATURES, MAX_PRESENTATION_BYTES};
pub use sdjwt::{
    verify_sd_jwt, KeyBindingPolicy, SdJwtPolicy, VerifiedSdJwt, DEFAULT_CLOCK_SKEW_S,
    DEFAULT_KB_MAX_AGE_S, TYP_DC_SD_JWT, TYP_VC_SD_JWT_LEGACY,
};
pub use status::{StaticStatusLists, StatusList, StatusListSource, MAX_STATUS_LIST_BYTES};
pub use transcript::{openid4vp_session_transcript, Handover, SessionTranscriptBytes};
pub use trust::{
    check_issuer_san, parse_der_chain, IssuerEvidence, IssuerTrust, PemTrustAnchors,
    TrustErrorKind, TrustedIssuer, ValidatedChain, MAX_CACHED_CHAINS, MAX_CERT_BYTES,
    MAX_CHAIN_LEN,
};
pub use verifier::{
    MdocSession, PresentationError, PresentationFormat, VerifiedPresentation, WalletVerifier,
};
