//! Presentation challenges: a nonce bound to an audience with an expiry, consumed once (RFC 9901
//! section 7.3 and OpenID4VP 1.0 section 14.1: the nonce gives freshness and prevents replay).
//! Pure apart from the random nonce: time is a parameter, and the registry is bounded.

use std::collections::HashMap;

use super::jose::b64url_encode;

/// Default challenge lifetime in seconds: as long as the KB-JWT freshness window
/// ([`super::DEFAULT_KB_MAX_AGE_S`]), so a challenge never outlives the proof it asks for.
pub const DEFAULT_CHALLENGE_TTL_S: i64 = 300;

/// Most outstanding challenges (each ~100 bytes, so 1 MiB of state). A wallet answers within
/// seconds; 10 000 open challenges covers a large hospital's peak with room to spare.
pub const MAX_OUTSTANDING_CHALLENGES: usize = 10_000;

/// Nonce entropy in bytes (128 bits, OpenID4VP 1.0 section 14.1 asks for sufficient entropy).
pub const NONCE_BYTES: usize = 16;

/// Errors of the challenge registry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChallengeErrorKind {
    /// The audience is empty.
    #[error("audience is empty")]
    EmptyAudience,
    /// [`MAX_OUTSTANDING_CHALLENGES`] unexpired challenges are outstanding.
    #[error("{max} challenges outstanding")]
    Full {
        /// Limit.
        max: usize,
    },
    /// The random generator failed.
    #[error("random generator failed")]
    Random,
    /// The nonce was never issued, or was already used (single use: RFC 9901 section 7.3 replay).
    #[error("unknown or already used nonce")]
    UnknownOrUsed,
    /// The nonce was issued for another audience.
    #[error("nonce issued for another audience")]
    AudienceMismatch,
    /// The challenge has expired.
    #[error("challenge expired at {expires_at}, now {now}")]
    Expired {
        /// Expiry.
        expires_at: i64,
        /// Time of use.
        now: i64,
    },
}

/// An issued challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// base64url nonce of [`NONCE_BYTES`] random bytes.
    pub nonce: String,
    /// The audience (verifier client_id) it is bound to.
    pub audience: String,
    /// Unix seconds after which it is refused.
    pub expires_at: i64,
}

impl Challenge {
    /// The key-binding requirements a presentation answering this challenge must meet
    /// (RFC 9901 section 7.3: `nonce` and `aud` of the KB-JWT).
    pub fn key_binding_policy(&self, max_age_s: i64) -> super::KeyBindingPolicy {
        super::KeyBindingPolicy {
            nonce: self.nonce.clone(),
            aud: self.audience.clone(),
            max_age_s,
        }
    }
}

/// Outstanding challenges, bounded; each is consumed at most once.
#[derive(Debug)]
pub struct ChallengeRegistry {
    ttl_s: i64,
    max: usize,
    open: HashMap<String, Challenge>,
}

impl Default for ChallengeRegistry {
    fn default() -> Self {
        Self::new(DEFAULT_CHALLENGE_TTL_S, MAX_OUTSTANDING_CHALLENGES)
    }
}

impl ChallengeRegistry {
    /// A registry with the given lifetime and capacity.
    pub fn new(ttl_s: i64, max: usize) -> Self {
        Self {
            ttl_s,
            max,
            open: HashMap::new(),
        }
    }

    /// Number of outstanding (possibly expired, not yet swept) challenges.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    /// True when no challenge is outstanding.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Issues a challenge for `audience` at `now`.
    ///
    /// # Errors
    /// [`ChallengeErrorKind::EmptyAudience`], [`ChallengeErrorKind::Full`] or [`ChallengeErrorKind::Random`].
    pub fn create_challenge(
        &mut self,
        audience: &str,
        now: i64,
    ) -> Result<Challenge, ChallengeErrorKind> {
        if audience.is_empty() {
            return Err(ChallengeErrorKind::EmptyAudience);
        }
        if self.open.len() >= self.max {
            // Sweep expired entries before refusing; live ones are never evicted (evicting would
            // let a flood of requests invalidate challenges that wallets are answering).
            self.open.retain(|_, c| c.expires_at >= now);
            if self.open.len() >= self.max {
                return Err(ChallengeErrorKind::Full { max: self.max });
            }
        }
        let mut raw = [0u8; NONCE_BYTES];
        openssl::rand::rand_bytes(&mut raw).map_err(|_| ChallengeErrorKind::Random)?;
        let c = Challenge {
            nonce: b64url_encode(&raw),
            audience: audience.to_owned(),
            expires_at: now.saturating_add(self.ttl_s),
        };
        self.open.insert(c.nonce.clone(), c.clone());
        Ok(c)
    }

    /// Consumes `nonce` for `audience` at `now`. Any attempt uses the nonce up, so a failed or
    /// replayed presentation cannot be retried with it.
    ///
    /// # Errors
    /// [`ChallengeErrorKind::UnknownOrUsed`], [`ChallengeErrorKind::AudienceMismatch`] or
    /// [`ChallengeErrorKind::Expired`].
    pub fn consume(
        &mut self,
        nonce: &str,
        audience: &str,
        now: i64,
    ) -> Result<Challenge, ChallengeErrorKind> {
        let c = self
            .open
            .remove(nonce)
            .ok_or(ChallengeErrorKind::UnknownOrUsed)?;
        if c.audience != audience {
            return Err(ChallengeErrorKind::AudienceMismatch);
        }
        if now > c.expires_at {
            return Err(ChallengeErrorKind::Expired {
                expires_at: c.expires_at,
                now,
            });
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_use_audience_and_expiry() {
        let mut r = ChallengeRegistry::new(60, 2);
        let c = r.create_challenge("x509_san_dns:gw.example", 1000).unwrap();
        assert_eq!(c.expires_at, 1060);
        assert_eq!(c.key_binding_policy(300).nonce, c.nonce);
        assert_eq!(c.nonce.len(), 22, "16 random bytes in unpadded base64url");
        assert_eq!(
            r.consume(&c.nonce, "x509_san_dns:gw.example", 1010),
            Ok(c.clone())
        );
        assert_eq!(
            r.consume(&c.nonce, "x509_san_dns:gw.example", 1011),
            Err(ChallengeErrorKind::UnknownOrUsed)
        );
        let c = r.create_challenge("a", 1000).unwrap();
        assert_eq!(
            r.consume(&c.nonce, "b", 1001),
            Err(ChallengeErrorKind::AudienceMismatch)
        );
        let c = r.create_challenge("a", 1000).unwrap();
        assert_eq!(
            r.consume(&c.nonce, "a", 1061),
            Err(ChallengeErrorKind::Expired {
                expires_at: 1060,
                now: 1061
            })
        );
        assert_eq!(
            r.create_challenge("", 0),
            Err(ChallengeErrorKind::EmptyAudience)
        );
    }

    #[test]
    fn bounded_with_sweep_of_expired() {
        let mut r = ChallengeRegistry::new(10, 2);
        r.create_challenge("a", 0).unwrap();
        r.create_challenge("a", 0).unwrap();
        assert_eq!(
            r.create_challenge("a", 5),
            Err(ChallengeErrorKind::Full { max: 2 })
        );
        assert!(r.create_challenge("a", 11).is_ok());
        assert_eq!(r.len(), 1);
    }
}
