//! The bridge's configuration: one TOML file plus `BRIDGE_*` environment overrides, read once at
//! start-up into a typed [`Config`] that is passed down. Nothing reads the environment later.
//!
//! Every key is declared once in `KEYS` with its kind, default and the environment variable that
//! overrides it (`server.listen` -> `BRIDGE_SERVER_LISTEN`). Loading collects every problem (unknown
//! keys in the file or the environment, wrong types, bad values) before failing, so an operator fixes
//! a file in one pass; the binary then exits 64 (`EX_USAGE`).
//!
//! Per-peer retry overrides (`[exchange.peer.CC]`, module `peer_retry`) are the one family of
//! keys matched by pattern rather than listed, since the countries are the operator's; they are
//! checked the same way, and must name a country of `exchange.peers`.
//!
//! One check spans keys: `exchange.retention` must outlast every retry policy (module
//! `retention`), reported as a problem of `exchange.retention`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

mod keys;
mod peer_retry;
mod retention;

pub use keys::env_name;
pub use peer_retry::PeerRetry;

use keys::{flatten, parse_default_addr, parse_text, parse_toml, Value, KEYS};

use crate::addressing::TranslatorConfig;
use crate::grpc::{LimitsConfig, Principal, Role};

/// Where the gateway listens when nothing is configured: loopback only, so a first `make run`
/// never exposes a development PKI to the network. 7443 is unassigned by IANA and easy to remember.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7443";
/// Prometheus' exporter port range starts at 9100; 9464 is the OpenTelemetry Prometheus exporter's
/// customary port, so scrapers configured for it find the bridge.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9464";
/// Data under the working directory, as DESIGN.md's first-run contract says.
pub const DEFAULT_DATA_DIR: &str = "./data";
/// Long enough for in-flight submits to reach their durable journal flush; short enough for
/// Kubernetes' default 30 s termination grace period to cover it with margin.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// A TLS handshake that has not finished in this time is dropped, so a slow-loris client cannot hold
/// an accept slot. Matches nginx's default `ssl_handshake_timeout`-like budget of tens of seconds.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Upper bound on any single RPC until its response headers (the client's smaller `grpc-timeout`
/// wins); streams are then bounded by [`DEFAULT_STREAM_IDLE_TIMEOUT`] instead.
pub const DEFAULT_RPC_TIMEOUT: Duration = Duration::from_secs(30);
/// A response stream (`Receive`, `Replay`) that sends nothing for this long is ended with
/// DEADLINE_EXCEEDED and the client reconnects: five minutes is well inside the idle timeouts of
/// common load balancers (AWS ALB 60 s by default but raised for gRPC, GCP 10 min, nginx
/// `grpc_read_timeout` 60 s but usually raised), so a stream is never cut by a middlebox first
/// without the bridge knowing, and a vanished client frees its slot within minutes.
pub const DEFAULT_STREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// One signed checkpoint per second at most: what an auditor's copy of the latest checkpoint may lag,
/// and it keeps checkpoint writes off most group commits (see the journal benchmark).
pub const DEFAULT_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);
/// Territory of the national space this bridge serves when none is configured.
pub const DEFAULT_COUNTRY: &str = "FR";

/// How often the gateway walks the LOTL again: the lists are reissued at most every few days
/// (NextUpdate at most six months ahead, TS 119 612 clause 5.3.14), and DSS warns when the last
/// successful load is older than 6 h (`TLFreshness`); hourly attempts leave several retries within
/// that window, and cost little because unchanged lists are not re-verified.
pub const DEFAULT_TRUST_REFRESH_INTERVAL: Duration = Duration::from_secs(3600);
/// Connect and read timeout of one list download: the largest national list (FR, 2.35 MB) takes
/// about a second; OmniTrustILM measured 31 lists (27.7 MB) in about 20 s sequentially, so 30 s per
/// list is generous for a slow server and still bounds a hung one.
pub const DEFAULT_TRUST_FETCH_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest list accepted: the XML intake limit of the trust-lists crate (the current German list is
/// over 4 MiB; 32 MiB leaves room).
pub const DEFAULT_TRUST_MAX_LIST_BYTES: u64 = trust_lists::MAX_LIST_BYTES as u64;

/// Environment variables read by the binary itself, not configuration keys.
const RESERVED_ENV: &[&str] = &["BRIDGE_LOG", "BRIDGE_LOG_FORMAT"];

/// The typed configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The gRPC listener and the data directory.
    pub server: ServerConfig,
    /// The Prometheus endpoint.
    pub metrics: MetricsConfig,
    /// The server's TLS identity and the CAs that issue local client certificates.
    pub tls: TlsConfig,
    /// Which callers hold which role.
    pub access: AccessConfig,
    /// Who this bridge is.
    pub bridge: BridgeConfig,
    /// The exchange journal.
    pub journal: JournalSettings,
    /// Address translation deployment facts.
    pub addressing: TranslatorConfig,
    /// Trusted lists: where from, with which anchors, how often.
    pub trust: TrustSettings,
    /// Wallet presentations.
    pub identity: IdentitySettings,
    /// Exchanges with peer bridges.
    pub exchange: ExchangeConfig,
    /// Per-caller concurrency and rate limits.
    pub limits: LimitsConfig,
}

/// `[identity]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IdentitySettings {
    /// PEM trust anchors for wallet credential issuers, in addition to the PID-provider services of
    /// the trusted lists.
    pub issuer_anchors: Vec<PathBuf>,
    /// Accept the legacy `vc+sd-jwt` media type besides `dc+sd-jwt`.
    pub accept_legacy_typ: bool,
}

/// `[trust]`.
#[derive(Debug, Clone, PartialEq)]
pub struct TrustSettings {
    /// The LOTL: an `https://` URL, `file:PATH` or a path. Default: the official location.
    pub lotl: String,
    /// PEM files of the LOTL signing certificates announced in the Official Journal; empty means
    /// the embedded OJ C 276 (2019) set.
    pub anchors: Vec<PathBuf>,
    /// URI of the Official Journal notice that announced `anchors` (pivots older than it are not
    /// followed).
    pub oj_uri: String,
    /// A directory of lists used before any download, matched by their content.
    pub tl_dir: Option<PathBuf>,
    /// Time between background refreshes.
    pub refresh_interval: Duration,
    /// Connect and read timeout of one download.
    pub fetch_timeout: Duration,
    /// Largest list accepted, in bytes.
    pub max_list_bytes: u64,
    /// Whether the gateway refreshes at all (`off`: serve the stored snapshot only, no fetching).
    pub refresh: bool,
    /// Lists of trusted entities (ETSI TS 119 602, compact JAdES files), e.g. the EU PID
    /// providers list, read and verified at start; their services anchor wallet issuers.
    pub lote: Vec<PathBuf>,
    /// PEM certificates announced for signing the `lote` lists.
    pub lote_signers: Vec<PathBuf>,
}

impl Default for TrustSettings {
    fn default() -> TrustSettings {
        TrustSettings {
            lotl: crate::trust::OFFICIAL_LOTL_URL.to_owned(),
            anchors: Vec::new(),
            oj_uri: crate::trust::OJ_2019_URI.to_owned(),
            tl_dir: None,
            refresh_interval: DEFAULT_TRUST_REFRESH_INTERVAL,
            fetch_timeout: DEFAULT_TRUST_FETCH_TIMEOUT,
            max_list_bytes: DEFAULT_TRUST_MAX_LIST_BYTES,
            refresh: true,
            lote: Vec::new(),
            lote_signers: Vec::new(),
        }
    }
}

/// `[exchange]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExchangeConfig {
    /// PEM seal certificate chain (a qualified seal certificate in production), leaf first.
    pub seal_cert: Option<PathBuf>,
    /// PEM private key of the seal.
    pub seal_key: Option<PathBuf>,
    /// Peer bridges: (country, `host:port`), from entries `"CC=host:port"`.
    pub peers: Vec<(String, String)>,
    /// Largest accepted payload in bytes.
    pub max_payload: u64,
    /// Retry policy of every peer without its own (`exchange.retry_initial`, ...).
    pub retry: crate::exchange::RetryPolicy,
    /// Per-peer overrides of `retry`, by country (`[exchange.peer.CC]`).
    pub peer_retry: BTreeMap<String, PeerRetry>,
    /// How long delivered or failed outbox records and acknowledged inbox records are kept
    /// (`exchange.retention`; the journal keeps its entries regardless). Also the dedupe window:
    /// a message id resent after its record expired is a new message.
    pub retention: Duration,
    /// Refuse envelopes without a wallet presentation of their sender.
    pub require_presentation: bool,
    /// The audience challenges for Submit presentations are issued for; empty means
    /// `eidas-bridge.<country in lower case>` (see [`Config::presentation_audience`]).
    pub presentation_audience: String,
}

impl ExchangeConfig {
    /// The retry policy towards the peer of `country`: its overrides over the exchange-wide one.
    pub fn retry_for(&self, country: &str) -> crate::exchange::RetryPolicy {
        self.peer_retry
            .get(country)
            .map_or(self.retry, |p| p.over(self.retry))
    }
}

/// `[journal]`.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalSettings {
    /// The checkpoint origin line (C2SP tlog-checkpoint): a name unique to this journal. Empty means
    /// `eidas-bridge.<country>/journal`.
    pub origin: String,
    /// Minimum time between signed checkpoints; zero signs one at every group commit.
    pub checkpoint_interval: Duration,
}

impl Config {
    /// The audience (verifier client_id) of the challenges a Submit presentation must answer:
    /// `exchange.presentation_audience`, defaulted from the country like the journal origin.
    pub fn presentation_audience(&self) -> String {
        if self.exchange.presentation_audience.is_empty() {
            format!("eidas-bridge.{}", self.bridge.country.to_ascii_lowercase())
        } else {
            self.exchange.presentation_audience.clone()
        }
    }

    /// The journal's checkpoint origin, defaulted from the country.
    pub fn journal_origin(&self) -> String {
        if self.journal.origin.is_empty() {
            format!(
                "eidas-bridge.{}/journal",
                self.bridge.country.to_ascii_lowercase()
            )
        } else {
            self.journal.origin.clone()
        }
    }
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Address of the mutual-TLS gRPC listener.
    pub listen: SocketAddr,
    /// Root of the sled store, the development PKI and the journal files.
    pub data_dir: PathBuf,
    /// How long in-flight calls may run after SIGINT/SIGTERM before they are cut.
    pub shutdown_grace: Duration,
    /// How long a TLS handshake may take.
    pub handshake_timeout: Duration,
    /// Deadline applied to every RPC until its response headers.
    pub rpc_timeout: Duration,
    /// How long a response stream may send nothing before it is ended.
    pub stream_idle_timeout: Duration,
    /// How often freed heap pages are given back to the kernel (`memory`); zero turns it off.
    pub heap_release_interval: Duration,
}

/// `[metrics]`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsConfig {
    /// Address of the plain-HTTP `/metrics` endpoint; `None` when set to `off`.
    pub listen: Option<SocketAddr>,
    /// Address of a plain-text listener serving only `grpc.health.v1` (for Kubernetes' native
    /// gRPC probes and load balancers that cannot present a client certificate); `None` (`off`,
    /// the default) serves health only behind mutual TLS.
    pub health_listen: Option<SocketAddr>,
}

/// `[tls]`. When `cert`, `key` and `client_ca` are all absent, a development PKI is generated under
/// `<data_dir>/pki` on first run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TlsConfig {
    /// PEM certificate chain of the server, leaf first.
    pub cert: Option<PathBuf>,
    /// PEM private key of the server.
    pub key: Option<PathBuf>,
    /// PEM CA certificates that issue local (operator, auditor, admin) client certificates.
    pub client_ca: Vec<PathBuf>,
}

impl TlsConfig {
    /// True when no TLS material is configured and the development PKI applies.
    pub fn is_development(&self) -> bool {
        self.cert.is_none() && self.key.is_none() && self.client_ca.is_empty()
    }
}

/// `[access]`: principals per role.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AccessConfig {
    /// Callers granted each role.
    pub grants: Vec<(Role, Principal)>,
}

/// `[bridge]`.
#[derive(Debug, Clone, PartialEq)]
pub struct BridgeConfig {
    /// ISO 3166 territory of the national space served (as written in the trusted lists: EL, not GR).
    pub country: String,
}

/// One configuration problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The dotted key (or environment variable) at fault.
    pub key: String,
    /// Where the bad value came from.
    pub origin: Origin,
    /// What is wrong.
    pub kind: ConfigErrorKind,
}

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The TOML file.
    File,
    /// A `BRIDGE_*` environment variable.
    Env,
}

/// What is wrong with a key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// The file is not TOML at all.
    Syntax {
        /// The parser's message, with line and column.
        message: String,
    },
    /// No such key (a typo, or a key from another version).
    UnknownKey,
    /// The value has the wrong TOML type.
    WrongType {
        /// What the key takes.
        expected: &'static str,
    },
    /// The value has the right type but does not parse.
    BadValue {
        /// The value as given.
        value: String,
        /// What the key takes.
        expected: &'static str,
    },
    /// A per-peer key (`exchange.peer.CC.*`) names a country that `exchange.peers` does not
    /// configure.
    UnknownPeer {
        /// The country named.
        country: String,
    },
    /// `exchange.retention` is not longer than a retry policy's `deadline + retry_max`: a late
    /// retry could reach a side that has already purged the message's record and be delivered
    /// twice (module `retention`).
    RetentionTooShort {
        /// The retention configured.
        retention: Duration,
        /// The peer whose own policy it is; `None` for the exchange-wide policy.
        peer: Option<String>,
        /// That policy's deadline.
        deadline: Duration,
        /// That policy's retry_max.
        retry_max: Duration,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let origin = match self.origin {
            Origin::File => "config file",
            Origin::Env => "environment",
        };
        match &self.kind {
            ConfigErrorKind::Syntax { message } => write!(f, "{origin}: not valid TOML: {message}"),
            ConfigErrorKind::UnknownKey => write!(f, "{origin}: unknown key `{}`", self.key),
            ConfigErrorKind::WrongType { expected } => {
                write!(f, "{origin}: `{}` must be {expected}", self.key)
            }
            ConfigErrorKind::BadValue { value, expected } => {
                write!(f, "{origin}: `{}` = {value:?} is not {expected}", self.key)
            }
            ConfigErrorKind::UnknownPeer { country } => write!(
                f,
                "{origin}: `{}` names {country}, which is not in exchange.peers",
                self.key
            ),
            ConfigErrorKind::RetentionTooShort {
                retention,
                peer,
                deadline,
                retry_max,
            } => retention::describe(
                f,
                origin,
                &self.key,
                *retention,
                peer.as_deref(),
                *deadline,
                *retry_max,
            ),
        }
    }
}

/// Every problem found while loading, in file order then environment order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} configuration error(s):\n{}", .0.len(), .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigErrors(pub Vec<ConfigError>);

/// A source of environment variables, so tests pass a map instead of mutating the process.
pub trait EnvSource {
    /// All variables whose name starts with `BRIDGE_`.
    fn bridge_vars(&self) -> Vec<(String, String)>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn bridge_vars(&self) -> Vec<(String, String)> {
        std::env::vars()
            .filter(|(k, _)| k.starts_with("BRIDGE_"))
            .collect()
    }
}

impl EnvSource for BTreeMap<String, String> {
    fn bridge_vars(&self) -> Vec<(String, String)> {
        self.iter()
            .filter(|(k, _)| k.starts_with("BRIDGE_"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

impl Config {
    /// The embedded defaults: what `eidas-bridge serve` runs with when given no file.
    pub fn defaults() -> Config {
        Config {
            server: ServerConfig {
                listen: parse_default_addr(DEFAULT_LISTEN),
                data_dir: PathBuf::from(DEFAULT_DATA_DIR),
                shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
                handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
                rpc_timeout: DEFAULT_RPC_TIMEOUT,
                stream_idle_timeout: DEFAULT_STREAM_IDLE_TIMEOUT,
                heap_release_interval: crate::memory::DEFAULT_HEAP_RELEASE_INTERVAL,
            },
            metrics: MetricsConfig {
                listen: Some(parse_default_addr(DEFAULT_METRICS_LISTEN)),
                health_listen: None,
            },
            tls: TlsConfig::default(),
            access: AccessConfig::default(),
            bridge: BridgeConfig {
                country: DEFAULT_COUNTRY.to_owned(),
            },
            journal: JournalSettings {
                origin: String::new(),
                checkpoint_interval: DEFAULT_CHECKPOINT_INTERVAL,
            },
            addressing: TranslatorConfig::default(),
            trust: TrustSettings::default(),
            identity: IdentitySettings::default(),
            exchange: ExchangeConfig {
                seal_cert: None,
                seal_key: None,
                peers: Vec::new(),
                max_payload: crate::exchange::DEFAULT_MAX_PAYLOAD,
                retry: crate::exchange::RetryPolicy::default(),
                peer_retry: BTreeMap::new(),
                retention: crate::exchange::DEFAULT_RETENTION,
                require_presentation: false,
                presentation_audience: String::new(),
            },
            limits: LimitsConfig::default(),
        }
    }

    /// Builds the configuration from an optional TOML text and the environment.
    ///
    /// # Errors
    /// Every problem found, at once.
    pub fn load(toml_text: Option<&str>, env: &dyn EnvSource) -> Result<Config, ConfigErrors> {
        let mut errors = Vec::new();
        let mut values: BTreeMap<&'static str, Value> = BTreeMap::new();
        // Per-peer overrides: (key as written, origin, country, field, value), file then env.
        let mut peers: Vec<(String, Origin, String, &'static str, Duration)> = Vec::new();

        if let Some(text) = toml_text {
            match text.parse::<toml::Table>() {
                Ok(table) => {
                    let mut flat = Vec::new();
                    flatten("", &table, &mut flat);
                    for (key, raw) in flat {
                        if let Some((cc, field)) = peer_retry::peer_key(&key) {
                            match parse_toml(keys::Kind::Duration, raw) {
                                Ok(Value::Duration(d)) => {
                                    peers.push((key, Origin::File, cc, field, d))
                                }
                                Ok(_) => {}
                                Err(kind) => errors.push(ConfigError {
                                    key,
                                    origin: Origin::File,
                                    kind,
                                }),
                            }
                            continue;
                        }
                        match KEYS.iter().find(|(k, _)| *k == key) {
                            None => errors.push(ConfigError {
                                key,
                                origin: Origin::File,
                                kind: ConfigErrorKind::UnknownKey,
                            }),
                            Some((name, kind)) => match parse_toml(*kind, raw) {
                                Ok(v) => {
                                    values.insert(name, v);
                                }
                                Err(kind) => errors.push(ConfigError {
                                    key,
                                    origin: Origin::File,
                                    kind,
                                }),
                            },
                        }
                    }
                }
                Err(e) => errors.push(ConfigError {
                    key: String::new(),
                    origin: Origin::File,
                    kind: ConfigErrorKind::Syntax {
                        message: e.to_string().trim().replace('\n', " "),
                    },
                }),
            }
        }

        let mut vars = env.bridge_vars();
        vars.sort();
        for (var, text) in vars {
            if RESERVED_ENV.contains(&var.as_str()) {
                continue;
            }
            if let Some((cc, field)) = peer_retry::peer_env(&var) {
                match parse_text(keys::Kind::Duration, &text) {
                    Ok(Value::Duration(d)) => peers.push((var, Origin::Env, cc, field, d)),
                    Ok(_) => {}
                    Err(kind) => errors.push(ConfigError {
                        key: var,
                        origin: Origin::Env,
                        kind,
                    }),
                }
                continue;
            }
            match KEYS.iter().find(|(k, _)| env_name(k) == var) {
                None => errors.push(ConfigError {
                    key: var,
                    origin: Origin::Env,
                    kind: ConfigErrorKind::UnknownKey,
                }),
                Some((name, kind)) => match parse_text(*kind, &text) {
                    Ok(v) => {
                        values.insert(name, v);
                    }
                    Err(kind) => errors.push(ConfigError {
                        key: var,
                        origin: Origin::Env,
                        kind,
                    }),
                },
            }
        }

        let mut config = Config::defaults();
        for (key, value) in values {
            config.apply(key, value);
        }
        // Overrides apply to configured peers only (module `peer_retry`); when the peer list is
        // itself wrong, that is the error to report, not every override after it.
        let peers_bad = errors
            .iter()
            .any(|e| e.key == "exchange.peers" || e.key == env_name("exchange.peers"));
        for (key, origin, cc, field, d) in peers {
            if peers_bad || config.exchange.peers.iter().any(|(c, _)| *c == cc) {
                config
                    .exchange
                    .peer_retry
                    .entry(cc)
                    .or_default()
                    .set(field, d);
            } else {
                errors.push(ConfigError {
                    key,
                    origin,
                    kind: ConfigErrorKind::UnknownPeer { country: cc },
                });
            }
        }
        let retention_from_env = env
            .bridge_vars()
            .iter()
            .any(|(v, _)| *v == env_name("exchange.retention"));
        let conflicts = retention::check(&config, &errors, retention_from_env);
        errors.extend(conflicts);
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        Ok(config)
    }

    fn apply(&mut self, key: &str, value: Value) {
        match (key, value) {
            ("server.listen", Value::Addr(a)) => self.server.listen = a,
            ("server.data_dir", Value::Path(p)) => self.server.data_dir = p,
            ("server.shutdown_grace", Value::Duration(d)) => self.server.shutdown_grace = d,
            ("server.handshake_timeout", Value::Duration(d)) => self.server.handshake_timeout = d,
            ("server.rpc_timeout", Value::Duration(d)) => self.server.rpc_timeout = d,
            ("server.heap_release_interval", Value::Duration(d)) => {
                self.server.heap_release_interval = d
            }
            ("server.stream_idle_timeout", Value::Duration(d)) => {
                self.server.stream_idle_timeout = d
            }
            ("limits.max_concurrent_per_caller", Value::Count(n)) => {
                self.limits.default.max_concurrent = n
            }
            ("limits.rate_per_caller", Value::Count(n)) => self.limits.default.rate = n,
            ("limits.burst_per_caller", Value::Count(n)) => self.limits.default.burst = n,
            (role_key, Value::Count(n)) => {
                // `limits.<role>.<setting>`: KEYS declares only the four roles' three settings.
                let mut parts = role_key.split('.').skip(1);
                let name = parts.next();
                let role = Role::ALL.into_iter().find(|r| Some(r.as_str()) == name);
                if let Some(role) = role {
                    let limits = self.limits.role_mut(role);
                    match parts.next() {
                        Some("max_concurrent") => limits.max_concurrent = Some(n),
                        Some("rate") => limits.rate = Some(n),
                        Some("burst") => limits.burst = Some(n),
                        _ => {}
                    }
                }
            }
            ("metrics.listen", Value::OptionalAddr(a)) => self.metrics.listen = a,
            ("metrics.health_listen", Value::OptionalAddr(a)) => self.metrics.health_listen = a,
            ("tls.cert", Value::Path(p)) => self.tls.cert = Some(p),
            ("tls.key", Value::Path(p)) => self.tls.key = Some(p),
            ("tls.client_ca", Value::Paths(p)) => self.tls.client_ca = p,
            ("bridge.country", Value::Country(c)) => self.bridge.country = c,
            ("journal.origin", Value::Text(t)) => self.journal.origin = t,
            ("journal.checkpoint_interval", Value::Duration(d)) => {
                self.journal.checkpoint_interval = d
            }
            ("addressing.mssante_gateway", Value::Text(t)) => {
                self.addressing.mssante_gateway = t.to_ascii_lowercase()
            }
            ("addressing.kim_gateway", Value::Text(t)) => {
                self.addressing.kim_gateway = t.to_ascii_lowercase()
            }
            ("addressing.ti_environment", Value::Ti(t)) => self.addressing.ti_environment = t,
            ("trust.lotl", Value::Text(t)) => self.trust.lotl = t,
            ("trust.anchors", Value::Paths(p)) => self.trust.anchors = p,
            ("trust.oj_uri", Value::Text(t)) => self.trust.oj_uri = t,
            ("trust.tl_dir", Value::Path(p)) => self.trust.tl_dir = Some(p),
            ("trust.refresh_interval", Value::Duration(d)) => self.trust.refresh_interval = d,
            ("trust.fetch_timeout", Value::Duration(d)) => self.trust.fetch_timeout = d,
            ("trust.max_list_bytes", Value::Bytes(n)) => self.trust.max_list_bytes = n,
            ("trust.refresh", Value::Switch(b)) => self.trust.refresh = b,
            ("trust.lote", Value::Paths(p)) => self.trust.lote = p,
            ("trust.lote_signers", Value::Paths(p)) => self.trust.lote_signers = p,
            ("identity.issuer_anchors", Value::Paths(p)) => self.identity.issuer_anchors = p,
            ("identity.accept_legacy_typ", Value::Bool(b)) => self.identity.accept_legacy_typ = b,
            ("exchange.seal_cert", Value::Path(p)) => self.exchange.seal_cert = Some(p),
            ("exchange.seal_key", Value::Path(p)) => self.exchange.seal_key = Some(p),
            ("exchange.peers", Value::Peers(p)) => self.exchange.peers = p,
            ("exchange.max_payload", Value::Bytes(n)) => self.exchange.max_payload = n,
            ("exchange.retry_initial", Value::Duration(d)) => self.exchange.retry.initial = d,
            ("exchange.retry_max", Value::Duration(d)) => self.exchange.retry.max = d,
            ("exchange.deadline", Value::Duration(d)) => self.exchange.retry.deadline = d,
            ("exchange.attempt_timeout", Value::Duration(d)) => {
                self.exchange.retry.attempt_timeout = d
            }
            ("exchange.retention", Value::Duration(d)) => self.exchange.retention = d,
            ("exchange.require_presentation", Value::Bool(b)) => {
                self.exchange.require_presentation = b
            }
            ("exchange.presentation_audience", Value::Text(t)) => {
                self.exchange.presentation_audience = t
            }
            (access, Value::Principals(list)) => {
                let role = match access {
                    "access.operator" => Role::Operator,
                    "access.peer" => Role::Peer,
                    "access.auditor" => Role::Auditor,
                    _ => Role::Admin,
                };
                self.access.grants.retain(|(r, _)| *r != role);
                self.access
                    .grants
                    .extend(list.into_iter().map(|p| (role, p)));
            }
            // Unreachable by construction: `parse_*` returns the variant that `KEYS` declares for the key.
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
