//! The sender's wallet presentation in Submit (DESIGN.md "Exchange semantics": an envelope
//! optionally carries the sender's wallet presentation; issue 7 point 1: a policy can require one).
//!
//! The presentation goes through the identity pipeline exactly as `IdentityService` runs it: the
//! nonce must be one this bridge issued with `CreateChallenge` for its own audience
//! ([`PresentationPolicy::audience`]), unexpired, and it is used up by the attempt whatever the
//! outcome; the SD-JWT VC must carry a key binding over that nonce and audience, and its issuer
//! must chain to a PID-provider service of the trust lists (or a configured anchor).
//!
//! # Binding rule
//! The verified holder is the sender when the `hcid` derived from the attested registration
//! (`identity::map_health_professional`) equals the sender address's canonical `hcid`, compared
//! in normal form and without the `;role=` parameter: the attestation proves a registration, not
//! the capacity in which the person writes. An attestation without a registration that maps to an
//! `hcid` proves no sender, and is refused the same way ([`ExchangeError::SenderNotHolder`]).
//!
//! Both formats of `IdentityService` are accepted: SD-JWT VC (compact or JSON serialisation)
//! and ISO 18013-5 mdoc, whose envelope names the session it answers (`response_uri` or origin)
//! so the SessionTranscript signed by the device can be rebuilt.

use std::sync::Arc;

use super::{ExchangeError, SenderPresentation};
use crate::addressing::Hcid;
use crate::error::{Error, Result};
use crate::identity::{IssuerEvidence, WalletVerifier};

/// What Submit asks of the sender's presentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentationPolicy {
    /// Refuse envelopes without a presentation (`exchange.require_presentation`).
    pub required: bool,
    /// The audience (verifier client_id) the challenges for Submit are issued for
    /// (`exchange.presentation_audience`): a nonce issued for another audience is refused.
    pub audience: String,
}

/// The verified holder of a presentation, bound to one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedHolder {
    /// The holder's hcid in normal form (equal to the sender's, roles aside).
    pub hcid: String,
    /// SHA-256 of the issuer's leaf certificate, when the issuer was identified by one.
    pub issuer_digest: Option<[u8; 32]>,
    /// The issuer chain and the trust snapshot, when the trust lists anchored the issuer: archived
    /// and journaled with the `accepted` entry so `journal verify --recheck` re-runs it.
    pub issuer_evidence: Option<IssuerEvidence>,
}

/// The verifier and policy Submit checks presentations with.
#[derive(Debug, Clone)]
pub(super) struct SenderCheck {
    pub(super) verifier: Arc<WalletVerifier>,
    pub(super) policy: PresentationPolicy,
}

impl SenderCheck {
    /// Verifies `presentation` (when given) at `now` (Unix nanoseconds) and binds its holder to
    /// `sender`. `Ok(None)`: no presentation, and none required.
    ///
    /// # Errors
    /// [`ExchangeError::PresentationRequired`], [`Error::Presentation`] with the identity
    /// pipeline's own error, [`ExchangeError::SenderNotHolder`].
    pub(super) async fn check(
        &self,
        presentation: Option<&SenderPresentation>,
        sender: &Hcid,
        now: i64,
    ) -> Result<Option<VerifiedHolder>> {
        let Some(p) = presentation else {
            if self.policy.required {
                return Err(ExchangeError::PresentationRequired.into());
            }
            return Ok(None);
        };
        // 1. The nonce is consumed and the presentation verified, off the async threads
        //    (signature and chain checks are OpenSSL's, blocking).
        let verifier = self.verifier.clone();
        let audience = self.policy.audience.clone();
        let p = p.clone();
        let seconds = now.div_euclid(1_000_000_000);
        let verified = tokio::task::spawn_blocking(move || {
            verifier.verify(
                p.format,
                &p.presentation,
                &p.nonce,
                &audience,
                p.session.as_ref(),
                seconds,
            )
        })
        .await
        .map_err(|e| Error::Internal(format!("presentation check: {e}")))?
        .map_err(Error::Presentation)?;
        tracing::debug!("sender presentation verified");
        // 2. The holder is the sender (module doc, binding rule).
        let holder = verified
            .health_professional
            .and_then(|h| h.hcid)
            .and_then(|h| Hcid::parse(&h).ok());
        match holder {
            Some(h) if h == *sender => Ok(Some(VerifiedHolder {
                hcid: h.to_string(),
                issuer_digest: verified.issuer_digest,
                issuer_evidence: verified.issuer_evidence,
            })),
            other => Err(ExchangeError::SenderNotHolder {
                sender: sender.to_string(),
                holder: other.map(|h| h.to_string()),
            }
            .into()),
        }
    }
}
