//! The check that ties `exchange.retention` to the retry policies: records must outlive every
//! retry. A peer retries a message until its deadline, and an attempt scheduled just before it
//! may wait `retry_max` more; if the receiving side had already purged its inbox record by then,
//! the late retry would be stored and delivered to the operator a second time (and a sender's
//! resend answered from a purged outbox record would be relayed again). So the retention must be
//! longer than `deadline + retry_max` of the exchange-wide policy and of every peer's own one.
//!
//! Both sides of a peering usually run the same policy; this bridge can only check its own
//! configuration, which is also the policy its peers agreed with it (eDelivery P-Modes).

use std::fmt;
use std::time::Duration;

use super::{env_name, Config, ConfigError, ConfigErrorKind, ExchangeConfig, Origin};

impl ExchangeConfig {
    /// The retry policies `retention` does not outlast, as configuration problems: the
    /// exchange-wide one (`peer: None`), then each configured peer whose own overrides make
    /// its policy differ. Empty when the retention is long enough.
    pub fn retention_conflicts(&self) -> Vec<ConfigErrorKind> {
        let base = self.retry;
        let peers = self.peers.iter().filter_map(|(cc, _)| {
            let own = self.retry_for(cc);
            (own != base).then(|| (Some(cc.clone()), own))
        });
        std::iter::once((None, base))
            .chain(peers)
            .filter_map(|(peer, policy)| {
                let needed = policy.deadline.saturating_add(policy.max);
                (self.retention <= needed).then_some(ConfigErrorKind::RetentionTooShort {
                    retention: self.retention,
                    peer,
                    deadline: policy.deadline,
                    retry_max: policy.max,
                })
            })
            .collect()
    }
}

/// The retention problems of `config` as errors of `exchange.retention` (of its variable when
/// the environment set it), unless `errors` already holds a problem of an exchange key: that
/// is the one to fix first, and the values compared would be defaults.
pub(super) fn check(config: &Config, errors: &[ConfigError], from_env: bool) -> Vec<ConfigError> {
    let exchange_bad = errors
        .iter()
        .any(|e| e.key.starts_with("exchange.") || e.key.starts_with("BRIDGE_EXCHANGE_"));
    if exchange_bad {
        return Vec::new();
    }
    let (key, origin) = if from_env {
        (env_name("exchange.retention"), Origin::Env)
    } else {
        ("exchange.retention".to_owned(), Origin::File)
    };
    config
        .exchange
        .retention_conflicts()
        .into_iter()
        .map(|kind| ConfigError {
            key: key.clone(),
            origin,
            kind,
        })
        .collect()
}

/// The text of [`ConfigErrorKind::RetentionTooShort`]: both values and the keys they come from.
pub(super) fn describe(
    f: &mut fmt::Formatter<'_>,
    origin: &str,
    key: &str,
    retention: Duration,
    peer: Option<&str>,
    deadline: Duration,
    retry_max: Duration,
) -> fmt::Result {
    let (deadline_key, max_key) = match peer {
        Some(cc) => (
            format!("exchange.peer.{cc}.deadline"),
            format!("exchange.peer.{cc}.retry_max"),
        ),
        None => (
            "exchange.deadline".to_owned(),
            "exchange.retry_max".to_owned(),
        ),
    };
    write!(
        f,
        "{origin}: `{key}` = {} must be longer than `{deadline_key}` = {} plus `{max_key}` = {}, \
         or a late retry of a message whose record was purged is delivered twice",
        human(retention),
        human(deadline),
        human(retry_max),
    )
}

/// A duration as an operator writes it: whole days, hours, minutes or seconds when exact,
/// milliseconds otherwise (the units `exchange.*` keys take); finer ones only come from code.
pub(super) fn human(d: Duration) -> String {
    if !d.subsec_nanos().is_multiple_of(1_000_000) {
        return format!("{d:?}");
    }
    if d.subsec_nanos() != 0 {
        return format!("{}ms", d.as_millis());
    }
    match d.as_secs() {
        0 => "0s".to_owned(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn durations_read_as_written() {
        assert_eq!(human(Duration::from_secs(30 * 86_400)), "30d");
        assert_eq!(human(Duration::from_secs(7200)), "2h");
        assert_eq!(human(Duration::from_secs(90)), "90s");
        assert_eq!(human(Duration::from_secs(120)), "2m");
        assert_eq!(human(Duration::from_millis(1500)), "1500ms");
        assert_eq!(human(Duration::ZERO), "0s");
    }

    #[test]
    fn defaults_have_no_conflict() {
        assert_eq!(Config::defaults().exchange.retention_conflicts(), []);
    }
}
