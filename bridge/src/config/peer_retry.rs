//! Per-peer retry overrides: a `[exchange.peer.CC]` table (or `BRIDGE_EXCHANGE_PEER_CC_FIELD`)
//! sets `retry_initial`, `retry_max`, `deadline` or `attempt_timeout` for the peer bridge of
//! country `CC`; a field it leaves out keeps the exchange-wide value (`exchange.retry_initial`,
//! ...). A peer's deadline is part of its agreement with this bridge (eDelivery's reception
//! awareness is configured per P-Mode, that is per partner), hence per peer.
//!
//! The keys are a pattern rather than lines of `KEYS`, since the countries are the operator's.
//! Every override must name a country of `exchange.peers`: an override for a peer that does not
//! exist is a typo, reported like an unknown key.

use std::time::Duration;

use crate::exchange::RetryPolicy;

/// The fields a peer table takes, all durations.
pub(super) const PEER_FIELDS: [&str; 4] =
    ["retry_initial", "retry_max", "deadline", "attempt_timeout"];

const KEY_PREFIX: &str = "exchange.peer.";
const ENV_PREFIX: &str = "BRIDGE_EXCHANGE_PEER_";

fn country(cc: &str) -> Option<String> {
    (cc.len() == 2 && cc.bytes().all(|b| b.is_ascii_uppercase())).then(|| cc.to_owned())
}

/// `exchange.peer.CC.FIELD` -> (CC, FIELD); `None` for anything else (an unknown key).
pub(super) fn peer_key(key: &str) -> Option<(String, &'static str)> {
    let (cc, field) = key.strip_prefix(KEY_PREFIX)?.split_once('.')?;
    let field = PEER_FIELDS.into_iter().find(|f| *f == field)?;
    Some((country(cc)?, field))
}

/// `BRIDGE_EXCHANGE_PEER_CC_FIELD` -> (CC, FIELD); `None` for anything else.
pub(super) fn peer_env(var: &str) -> Option<(String, &'static str)> {
    let (cc, field) = var.strip_prefix(ENV_PREFIX)?.split_once('_')?;
    let field = PEER_FIELDS.into_iter().find(|f| {
        f.eq_ignore_ascii_case(field) && field.bytes().all(|b| !b.is_ascii_lowercase())
    })?;
    Some((country(cc)?, field))
}

/// The overrides of one peer; `None` keeps the exchange-wide value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PeerRetry {
    /// `retry_initial`.
    pub initial: Option<Duration>,
    /// `retry_max`.
    pub max: Option<Duration>,
    /// `deadline`.
    pub deadline: Option<Duration>,
    /// `attempt_timeout`.
    pub attempt_timeout: Option<Duration>,
}

impl PeerRetry {
    /// Sets `field` (one of [`PEER_FIELDS`]).
    pub(super) fn set(&mut self, field: &str, d: Duration) {
        match field {
            "retry_initial" => self.initial = Some(d),
            "retry_max" => self.max = Some(d),
            "deadline" => self.deadline = Some(d),
            _ => self.attempt_timeout = Some(d),
        }
    }

    /// `base` with these overrides applied.
    pub fn over(&self, base: RetryPolicy) -> RetryPolicy {
        RetryPolicy {
            initial: self.initial.unwrap_or(base.initial),
            max: self.max.unwrap_or(base.max),
            deadline: self.deadline.unwrap_or(base.deadline),
            attempt_timeout: self.attempt_timeout.unwrap_or(base.attempt_timeout),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_env_names() {
        assert_eq!(
            peer_key("exchange.peer.BE.deadline"),
            Some(("BE".into(), "deadline"))
        );
        assert_eq!(peer_key("exchange.peer.be.deadline"), None);
        assert_eq!(peer_key("exchange.peer.BEL.deadline"), None);
        assert_eq!(peer_key("exchange.peer.BE.retries"), None);
        assert_eq!(peer_key("exchange.peer.BE"), None);
        assert_eq!(
            peer_env("BRIDGE_EXCHANGE_PEER_DE_RETRY_INITIAL"),
            Some(("DE".into(), "retry_initial"))
        );
        assert_eq!(peer_env("BRIDGE_EXCHANGE_PEER_DE_retry_initial"), None);
        assert_eq!(peer_env("BRIDGE_EXCHANGE_PEER_DE"), None);
        assert_eq!(peer_env("BRIDGE_EXCHANGE_PEERS"), None);
    }

    #[test]
    fn overrides_fall_back_to_the_base() {
        let mut p = PeerRetry::default();
        p.set("deadline", Duration::from_secs(5));
        p.set("retry_max", Duration::from_secs(2));
        let out = p.over(RetryPolicy::default());
        assert_eq!(out.deadline, Duration::from_secs(5));
        assert_eq!(out.max, Duration::from_secs(2));
        assert_eq!(out.initial, RetryPolicy::default().initial);
        assert_eq!(out.attempt_timeout, RetryPolicy::default().attempt_timeout);
    }
}
