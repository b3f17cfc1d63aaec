//! The configuration keys: each dotted key with the kind of value it takes, and the parsing of
//! values from TOML and from environment variables. Adding a key is one line in [`KEYS`] plus its
//! place in `Config::apply`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::ConfigErrorKind;
use crate::addressing::TiEnvironment;
use crate::grpc::{Principal, MAX_CONCURRENT_LIMIT, MAX_RATE_LIMIT};
/// The kind of value a key takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    SocketAddr,
    OptionalSocketAddr,
    Path,
    PathList,
    Duration,
    PrincipalList,
    Country,
    Text,
    TiEnvironment,
    Location,
    Bytes,
    Switch,
    Bool,
    PeerList,
    /// Calls in flight, 1 to [`MAX_CONCURRENT_LIMIT`].
    Concurrency,
    /// Calls per second (or a burst of calls), 1 to [`MAX_RATE_LIMIT`].
    Rate,
}

impl Kind {
    pub(super) fn expected(self) -> &'static str {
        match self {
            Kind::SocketAddr => "a socket address such as \"127.0.0.1:7443\"",
            Kind::OptionalSocketAddr => "a socket address or \"off\"",
            Kind::Path => "a file path",
            Kind::PathList => "a list of file paths",
            Kind::Duration => "a duration such as \"10s\", \"500ms\", \"2m\" or \"30d\"",
            Kind::PrincipalList => {
                "a list of \"sha256:<64 hex>\" fingerprints or \"subject:<RFC 4514 DN>\" entries"
            }
            Kind::Country => "a two-letter upper-case territory code",
            Kind::Text => "a non-empty printable ASCII string without spaces",
            Kind::TiEnvironment => "\"production\" or \"test\"",
            Kind::Location => "an https:// URL, file:PATH or a path (never http://)",
            Kind::Bytes => "a positive number of bytes",
            Kind::Switch => "\"on\" or \"off\" (or a boolean)",
            Kind::Bool => "true or false",
            Kind::PeerList => "a list of \"CC=host:port\" entries",
            Kind::Concurrency => "a whole number of calls from 1 to 65536",
            Kind::Rate => "a whole number of calls from 1 to 1000000",
        }
    }
}

/// Every configuration key: dotted name and kind. The environment variable is derived from the name.
pub(super) const KEYS: &[(&str, Kind)] = &[
    ("server.listen", Kind::SocketAddr),
    ("server.data_dir", Kind::Path),
    ("server.shutdown_grace", Kind::Duration),
    ("server.handshake_timeout", Kind::Duration),
    ("server.rpc_timeout", Kind::Duration),
    ("server.stream_idle_timeout", Kind::Duration),
    ("server.heap_release_interval", Kind::Duration),
    ("metrics.listen", Kind::OptionalSocketAddr),
    ("metrics.health_listen", Kind::OptionalSocketAddr),
    ("tls.cert", Kind::Path),
    ("tls.key", Kind::Path),
    ("tls.client_ca", Kind::PathList),
    ("access.operator", Kind::PrincipalList),
    ("access.peer", Kind::PrincipalList),
    ("access.auditor", Kind::PrincipalList),
    ("access.admin", Kind::PrincipalList),
    ("bridge.country", Kind::Country),
    ("journal.origin", Kind::Text),
    ("journal.checkpoint_interval", Kind::Duration),
    ("addressing.mssante_gateway", Kind::Text),
    ("addressing.kim_gateway", Kind::Text),
    ("addressing.ti_environment", Kind::TiEnvironment),
    ("trust.lotl", Kind::Location),
    ("trust.anchors", Kind::PathList),
    ("trust.oj_uri", Kind::Text),
    ("trust.tl_dir", Kind::Path),
    ("trust.refresh_interval", Kind::Duration),
    ("trust.fetch_timeout", Kind::Duration),
    ("trust.max_list_bytes", Kind::Bytes),
    ("trust.refresh", Kind::Switch),
    ("trust.lote", Kind::PathList),
    ("trust.lote_signers", Kind::PathList),
    ("identity.issuer_anchors", Kind::PathList),
    ("identity.accept_legacy_typ", Kind::Bool),
    ("exchange.seal_cert", Kind::Path),
    ("exchange.seal_key", Kind::Path),
    ("exchange.peers", Kind::PeerList),
    ("exchange.max_payload", Kind::Bytes),
    ("exchange.retry_initial", Kind::Duration),
    ("exchange.retry_max", Kind::Duration),
    ("exchange.deadline", Kind::Duration),
    ("exchange.attempt_timeout", Kind::Duration),
    ("exchange.retention", Kind::Duration),
    ("exchange.require_presentation", Kind::Bool),
    ("exchange.presentation_audience", Kind::Text),
    ("limits.max_concurrent_per_caller", Kind::Concurrency),
    ("limits.rate_per_caller", Kind::Rate),
    ("limits.burst_per_caller", Kind::Rate),
    ("limits.operator.max_concurrent", Kind::Concurrency),
    ("limits.operator.rate", Kind::Rate),
    ("limits.operator.burst", Kind::Rate),
    ("limits.peer.max_concurrent", Kind::Concurrency),
    ("limits.peer.rate", Kind::Rate),
    ("limits.peer.burst", Kind::Rate),
    ("limits.auditor.max_concurrent", Kind::Concurrency),
    ("limits.auditor.rate", Kind::Rate),
    ("limits.auditor.burst", Kind::Rate),
    ("limits.admin.max_concurrent", Kind::Concurrency),
    ("limits.admin.rate", Kind::Rate),
    ("limits.admin.burst", Kind::Rate),
];

/// The environment variable that overrides a dotted key.
pub fn env_name(key: &str) -> String {
    format!("BRIDGE_{}", key.replace('.', "_").to_ascii_uppercase())
}

/// A parsed value before it is placed in the typed config.
#[derive(Debug, Clone)]
pub(super) enum Value {
    Addr(SocketAddr),
    OptionalAddr(Option<SocketAddr>),
    Path(PathBuf),
    Paths(Vec<PathBuf>),
    Duration(Duration),
    Principals(Vec<Principal>),
    Country(String),
    Text(String),
    Ti(TiEnvironment),
    Bytes(u64),
    Switch(bool),
    Bool(bool),
    Peers(Vec<(String, String)>),
    Count(u32),
}

pub(super) fn parse_default_addr(text: &str) -> SocketAddr {
    // The constants above are literal socket addresses; a failure here is a typo caught by the unit tests.
    text.parse()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
}

pub(super) fn flatten<'a>(
    prefix: &str,
    table: &'a toml::Table,
    out: &mut Vec<(String, &'a toml::Value)>,
) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => flatten(&key, t, out),
            other => out.push((key, other)),
        }
    }
}

pub(super) fn parse_toml(kind: Kind, raw: &toml::Value) -> Result<Value, ConfigErrorKind> {
    let wrong = ConfigErrorKind::WrongType {
        expected: kind.expected(),
    };
    match kind {
        Kind::PathList | Kind::PrincipalList | Kind::PeerList => {
            let items = raw.as_array().ok_or(wrong.clone())?;
            let mut texts = Vec::with_capacity(items.len());
            for item in items {
                texts.push(item.as_str().ok_or(wrong.clone())?);
            }
            parse_list(kind, &texts)
        }
        Kind::Bytes => match raw {
            toml::Value::Integer(n) if *n > 0 => Ok(Value::Bytes(*n as u64)),
            toml::Value::Integer(n) => Err(ConfigErrorKind::BadValue {
                value: n.to_string(),
                expected: kind.expected(),
            }),
            toml::Value::String(t) => parse_text(kind, t),
            _ => Err(wrong),
        },
        Kind::Switch => match raw {
            toml::Value::Boolean(b) => Ok(Value::Switch(*b)),
            toml::Value::String(t) => parse_text(kind, t),
            _ => Err(wrong),
        },
        Kind::Bool => raw.as_bool().map(Value::Bool).ok_or(wrong),
        Kind::Concurrency | Kind::Rate => match raw {
            toml::Value::Integer(n) => parse_text(kind, &n.to_string()),
            toml::Value::String(t) => parse_text(kind, t),
            _ => Err(wrong),
        },
        _ => parse_text(kind, raw.as_str().ok_or(wrong)?),
    }
}

pub(super) fn parse_text(kind: Kind, text: &str) -> Result<Value, ConfigErrorKind> {
    let bad = || ConfigErrorKind::BadValue {
        value: text.to_owned(),
        expected: kind.expected(),
    };
    match kind {
        Kind::SocketAddr => text.parse().map(Value::Addr).map_err(|_| bad()),
        Kind::OptionalSocketAddr if text == "off" => Ok(Value::OptionalAddr(None)),
        Kind::OptionalSocketAddr => text
            .parse()
            .map(|a| Value::OptionalAddr(Some(a)))
            .map_err(|_| bad()),
        Kind::Path if text.is_empty() || text.contains('\0') => Err(bad()),
        Kind::Path => Ok(Value::Path(PathBuf::from(text))),
        Kind::Duration => parse_duration(text).map(Value::Duration).ok_or_else(bad),
        Kind::Country if text.len() == 2 && text.bytes().all(|b| b.is_ascii_uppercase()) => {
            Ok(Value::Country(text.to_owned()))
        }
        Kind::Country => Err(bad()),
        Kind::Text
            if !text.is_empty()
                && text.len() <= 255
                && text.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok(Value::Text(text.to_owned()))
        }
        Kind::Text => Err(bad()),
        Kind::Location => match crate::trust::LotlLocation::parse(text) {
            Some(_) if !text.contains('\0') => Ok(Value::Text(text.to_owned())),
            _ => Err(bad()),
        },
        Kind::Bytes => match text.parse::<u64>() {
            Ok(n) if n > 0 => Ok(Value::Bytes(n)),
            _ => Err(bad()),
        },
        Kind::Switch => match text {
            "on" | "true" => Ok(Value::Switch(true)),
            "off" | "false" => Ok(Value::Switch(false)),
            _ => Err(bad()),
        },
        Kind::Bool => match text {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(bad()),
        },
        Kind::Concurrency | Kind::Rate => {
            let max = if kind == Kind::Rate {
                MAX_RATE_LIMIT
            } else {
                MAX_CONCURRENT_LIMIT
            };
            match text.parse::<u32>() {
                Ok(n) if (1..=max).contains(&n) => Ok(Value::Count(n)),
                _ => Err(bad()),
            }
        }
        Kind::TiEnvironment => match text {
            "production" => Ok(Value::Ti(TiEnvironment::Production)),
            "test" => Ok(Value::Ti(TiEnvironment::Test)),
            _ => Err(bad()),
        },
        // In the environment a list is comma-separated.
        Kind::PathList | Kind::PrincipalList | Kind::PeerList => {
            let items: Vec<&str> = text
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            parse_list(kind, &items)
        }
    }
}

pub(super) fn parse_list(kind: Kind, items: &[&str]) -> Result<Value, ConfigErrorKind> {
    match kind {
        Kind::PathList => {
            let mut paths = Vec::new();
            for item in items {
                if item.is_empty() || item.contains('\0') {
                    return Err(ConfigErrorKind::BadValue {
                        value: (*item).to_owned(),
                        expected: kind.expected(),
                    });
                }
                paths.push(PathBuf::from(item));
            }
            Ok(Value::Paths(paths))
        }
        Kind::PeerList => {
            let mut peers = Vec::new();
            for item in items {
                let bad = || ConfigErrorKind::BadValue {
                    value: (*item).to_owned(),
                    expected: kind.expected(),
                };
                let (cc, addr) = item.split_once('=').ok_or_else(bad)?;
                let country_ok = cc.len() == 2 && cc.bytes().all(|b| b.is_ascii_uppercase());
                let addr_ok = addr.rsplit_once(':').is_some_and(|(h, p)| {
                    !h.is_empty()
                        && p.parse::<u16>().is_ok()
                        && addr.bytes().all(|b| b.is_ascii_graphic())
                });
                if !country_ok || !addr_ok {
                    return Err(bad());
                }
                peers.push((cc.to_owned(), addr.to_owned()));
            }
            Ok(Value::Peers(peers))
        }
        _ => {
            let mut principals = Vec::new();
            for item in items {
                principals.push(item.parse().map_err(|_| ConfigErrorKind::BadValue {
                    value: (*item).to_owned(),
                    expected: kind.expected(),
                })?);
            }
            Ok(Value::Principals(principals))
        }
    }
}

/// Parses `"10s"`, `"500ms"`, `"2m"`, `"1h"`, `"30d"` or a bare number of seconds.
pub(super) fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    match unit {
        "" | "s" => Some(Duration::from_secs(n)),
        "ms" => Some(Duration::from_millis(n)),
        "m" => n.checked_mul(60).map(Duration::from_secs),
        "h" => n.checked_mul(3600).map(Duration::from_secs),
        "d" => n.checked_mul(86_400).map(Duration::from_secs),
        _ => None,
    }
}
