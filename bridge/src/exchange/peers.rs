//! The configured peer bridges (`exchange.peers`): one per country, with its address and its
//! retry policy. A peer's identity is its country: its certificates must come from that
//! country's trusted list.

use std::collections::BTreeMap;
use std::time::Duration;

/// First retry delay: long enough for a restarting peer to come back, short enough that a
/// transient failure costs little latency.
pub const DEFAULT_RETRY_INITIAL: Duration = Duration::from_millis(500);
/// Longest delay between two attempts: a recovered peer is reached within a minute.
pub const DEFAULT_RETRY_MAX: Duration = Duration::from_secs(60);
/// After this long without a receipt the message fails: one day, eDelivery's customary
/// reception-awareness retry window.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(24 * 3600);
/// Timeout of one Deliver call.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// When to try again and when to give up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delay after the first failure; doubled after each further one.
    pub initial: Duration,
    /// Cap on the delay.
    pub max: Duration,
    /// Time after acceptance at which the message fails. Measured on the wall clock against the
    /// stored acceptance time (so it holds across restarts): a forward jump of the clock past the
    /// deadline fails the message at its next attempt (`deadline_exceeded`, journaled); a
    /// backward jump extends it. Backoff between attempts is monotonic and ignores jumps.
    pub deadline: Duration,
    /// Timeout of one attempt.
    pub attempt_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial: DEFAULT_RETRY_INITIAL,
            max: DEFAULT_RETRY_MAX,
            deadline: DEFAULT_DEADLINE,
            attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
        }
    }
}

impl RetryPolicy {
    /// The delay before attempt `attempts + 1`, with "equal jitter": half fixed, half random
    /// (`jitter` in 0..=1), so that many messages to one recovered peer do not retry in step.
    pub fn backoff(&self, attempts: u32, jitter: f64) -> Duration {
        let exp = self
            .initial
            .saturating_mul(1u32 << attempts.saturating_sub(1).min(20));
        let capped = exp.min(self.max);
        capped / 2 + capped.mul_f64(jitter.clamp(0.0, 1.0) / 2.0)
    }
}

/// One peer bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// Its country (its peer id).
    pub country: String,
    /// Where its PeerService listens, `host:port`.
    pub address: String,
    /// How to retry towards it.
    pub retry: RetryPolicy,
}

/// The configured peers, by country.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerSet {
    peers: BTreeMap<String, Peer>,
}

impl PeerSet {
    /// A set from peers (a later peer of the same country replaces an earlier one).
    pub fn new(peers: impl IntoIterator<Item = Peer>) -> PeerSet {
        PeerSet {
            peers: peers.into_iter().map(|p| (p.country.clone(), p)).collect(),
        }
    }

    /// The peer of `country`.
    pub fn get(&self, country: &str) -> Option<&Peer> {
        self.peers.get(country)
    }

    /// Every configured country.
    pub fn countries(&self) -> impl Iterator<Item = &str> {
        self.peers.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(8),
            ..RetryPolicy::default()
        };
        assert_eq!(p.backoff(1, 1.0), Duration::from_secs(1));
        assert_eq!(p.backoff(2, 1.0), Duration::from_secs(2));
        assert_eq!(p.backoff(3, 0.0), Duration::from_secs(2));
        assert_eq!(p.backoff(10, 1.0), Duration::from_secs(8));
        assert_eq!(p.backoff(100, 1.0), Duration::from_secs(8));
    }
}
