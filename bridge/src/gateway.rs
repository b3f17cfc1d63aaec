//! The gateway: everything `eidas-bridge serve` runs, assembled from a [`Config`]. `prepare` does
//! the fallible set-up (TLS material, development PKI, store); `run` serves on given listeners until
//! the shutdown future completes, then drains in-flight calls within the grace period.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use bridge_proto::pb::addressing_service_server::AddressingServiceServer;
use bridge_proto::pb::exchange_service_server::ExchangeServiceServer;
use bridge_proto::pb::identity_service_server::IdentityServiceServer;
use bridge_proto::pb::journal_service_server::JournalServiceServer;
use bridge_proto::pb::peer_service_server::PeerServiceServer;
use bridge_proto::pb::trust_service_server::TrustServiceServer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::transport::Server;

use crate::addressing::Translator;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::devpki::DevPki;
use crate::exchange::{
    spawn_relay, spawn_retention, Exchange, ExchangeSettings, Peer, PeerCas, PeerSet, PeerTrust,
    PresentationPolicy, RelayIdentity, SealKey,
};
use crate::grpc::{
    fingerprint, max_exchange_message, max_peer_message, AccessPolicy, AddressingApi,
    AuthorizeLayer, DeadlineLayer, ExchangeApi, IdentityApi, JournalApi, Limiter, LimitsLayer,
    ObserveLayer, PeerApi, PeerGrants, Principal, Role, TrustApi, ENVELOPE_OVERHEAD_BYTES,
    MAX_IMPORT_BYTES,
};
use crate::identity::{PemTrustAnchors, WalletVerifier};
use crate::journal::{
    journal_dir, load_or_create_key, Journal, JournalConfig, JournalError, KeyFileError,
};
use crate::metrics::Metrics;
use crate::store::journal::FileJournalStorage;
use crate::store::{Store, StoreError};
use crate::tls::{
    self, AcceptorSlot, ExtraClientCas, ReloadFollower, ReloadHandle, Reloader, ServerIdentity,
    TlsError, TlsFiles,
};
use crate::trust::{Loaded, Refresher, TrustListIssuers, TrustState};

/// Interval of HTTP/2 PING frames on idle connections: a client that vanished without closing
/// (power loss, a dropped NAT mapping) is found within a minute and a half, and its streams end.
const HTTP2_KEEPALIVE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);
/// How long a PING may stay unanswered before the connection is closed.
const HTTP2_KEEPALIVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);
/// Largest decoded `IdentityService` request: the larger of the presentation bounds (an mdoc
/// DeviceResponse, an SD-JWT presentation) plus framing.
const MAX_IDENTITY_MESSAGE: usize = {
    let (a, b) = (
        crate::identity::MAX_DEVICE_RESPONSE_BYTES,
        crate::identity::MAX_PRESENTATION_BYTES,
    );
    (if a > b { a } else { b }) + ENVELOPE_OVERHEAD_BYTES
};

/// Why the gateway could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// TLS material is missing or unusable.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Only part of the TLS identity is configured.
    #[error("tls.cert, tls.key and tls.client_ca must be configured together")]
    PartialTls,
    /// The journal's key files cannot be read or created.
    #[error("journal key: {0}")]
    JournalKey(#[from] KeyFileError),
    /// The journal disagrees with its kept checkpoint, or its storage failed: the bridge refuses
    /// to accept work rather than extend a journal it cannot vouch for.
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
    /// The directory's trees cannot be opened.
    #[error("directory: {0}")]
    Directory(#[from] crate::store::directory::DirectoryStoreError),
    /// A configured wallet issuer anchor is not a PEM certificate.
    #[error("identity.issuer_anchors: {0}")]
    IssuerAnchors(crate::identity::TrustErrorKind),
    /// The metrics registry refused a metric.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The reflection service refused the embedded descriptor sets (a build defect).
    #[error("reflection: {0}")]
    Reflection(#[source] tonic_reflection::server::Error),
    /// The trust settings are unusable (LOTL location, anchor files).
    #[error("trust: {reason}")]
    Trust {
        /// What is wrong, naming the file or key.
        reason: String,
    },
    /// The gRPC server failed.
    #[error("grpc server: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The exchange needs `exchange.seal_cert` and `exchange.seal_key`.
    #[error("exchange.seal_cert and exchange.seal_key must be configured to enable exchanges")]
    NoSeal,
    /// The plain-text health listener could not be bound.
    #[error("cannot listen for health on {addr}: {source}")]
    HealthListen {
        /// The configured address.
        addr: std::net::SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// In-flight calls were still running when the grace period ended; they were cut.
    #[error("in-flight calls did not finish within the {0:?} grace period")]
    GraceExpired(std::time::Duration),
}

/// A prepared gateway, ready to serve.
#[derive(Debug)]
pub struct Gateway {
    config: Config,
    identity: ServerIdentity,
    /// Where `identity` was read from, read again on reload.
    tls_files: TlsFiles,
    /// The peers' listed CAs, added to the client anchors while exchanges are enabled.
    peer_cas: Option<Arc<dyn ExtraClientCas>>,
    reload: ReloadHandle,
    policy: Arc<AccessPolicy>,
    store: Store,
    journal: Arc<Journal>,
    wallet: Arc<WalletVerifier>,
    translator: Arc<Translator<crate::store::directory::DirectoryStore>>,
    metrics: Arc<Metrics>,
    dev_pki: Option<DevPki>,
    trust: Arc<Refresher>,
    exchange: Option<ExchangeParts>,
    /// The wall clock handed to the exchange (`clock`); the system clock unless a test sets one.
    clock: Arc<dyn Clock>,
}

/// What `prepare` set up, for the operator to read.
#[derive(Debug, Clone)]
pub struct StartupReport {
    /// Set when the development PKI is in use: its directory and whether it was created now.
    pub dev_pki: Option<(PathBuf, bool)>,
    /// Files of the development PKI (CA, then one certificate and key per role).
    pub dev_files: Vec<(String, PathBuf)>,
    /// The sled directory.
    pub store: PathBuf,
    /// Digest of the trust snapshot loaded from the store, if any (serving offline is possible).
    pub trust_snapshot: Option<[u8; 32]>,
}

impl Gateway {
    /// Loads TLS material (generating the development PKI when none is configured), opens the store
    /// and builds the access policy.
    ///
    /// # Errors
    /// See [`ServeError`].
    pub fn prepare(config: Config) -> Result<(Gateway, StartupReport), ServeError> {
        std::fs::create_dir_all(&config.server.data_dir).map_err(|source| TlsError::Read {
            path: config.server.data_dir.clone(),
            source,
        })?;
        let mut grants = config.access.grants.clone();
        let mut report = StartupReport {
            dev_pki: None,
            dev_files: Vec::new(),
            store: PathBuf::new(),
            trust_snapshot: None,
        };
        let (tls_files, dev_pki) = if config.tls.is_development() {
            let pki = DevPki::new(&config.server.data_dir);
            let created = pki.ensure()?;
            report.dev_pki = Some((pki.dir.clone(), created));
            report.dev_files.push(("ca".into(), pki.ca_cert()));
            for role in Role::ALL {
                let cert_path = pki.client_cert(role);
                let leaf = tls::read_certs(&cert_path)?.remove(0);
                grants.push((
                    role,
                    Principal::Fingerprint(fingerprint(&leaf.to_der().map_err(TlsError::from)?)),
                ));
                report
                    .dev_files
                    .push((format!("{role} certificate"), cert_path));
                report
                    .dev_files
                    .push((format!("{role} key"), pki.client_key(role)));
            }
            let files = TlsFiles {
                chain: pki.server_cert(),
                key: pki.server_key(),
                client_ca: vec![pki.ca_cert()],
            };
            (files, Some(pki))
        } else {
            let (Some(cert), Some(key)) = (&config.tls.cert, &config.tls.key) else {
                return Err(ServeError::PartialTls);
            };
            if config.tls.client_ca.is_empty() {
                return Err(ServeError::PartialTls);
            }
            let files = TlsFiles {
                chain: cert.clone(),
                key: key.clone(),
                client_ca: config.tls.client_ca.clone(),
            };
            (files, None)
        };
        let identity = tls_files.load(&[])?;
        let store = Store::open(&config.server.data_dir)?;
        report.store = store.path().to_owned();
        let journal_path = journal_dir(&config.server.data_dir);
        let key = load_or_create_key(&journal_path, &config.journal_origin())?;
        let storage =
            Arc::new(FileJournalStorage::open(&journal_path).map_err(JournalError::Storage)?);
        let journal = Journal::open(
            storage,
            key,
            &JournalConfig {
                checkpoint_interval: config.journal.checkpoint_interval,
                ..JournalConfig::default()
            },
        )?;
        let translator = Translator::new(config.addressing.clone(), store.directory()?);
        let journal = Arc::new(journal);
        let trust = Self::prepare_trust(&config, &store, &journal)?;
        report.trust_snapshot = trust.state().current().map(|l| l.digest);
        let mut anchor_pems = Vec::new();
        for path in &config.identity.issuer_anchors {
            anchor_pems.push(std::fs::read(path).map_err(|source| TlsError::Read {
                path: path.clone(),
                source,
            })?);
        }
        let issuer_trust =
            PemTrustAnchors::from_pem(&anchor_pems).map_err(ServeError::IssuerAnchors)?;
        // Issuers chain to a PID-provider service of the trust lists, or to a configured anchor.
        let lotes = crate::trust::load_lotes(&config.trust.lote, &config.trust.lote_signers)
            .map_err(|reason| ServeError::Trust { reason })?;
        let issuer_trust =
            TrustListIssuers::new(trust.state().clone(), issuer_trust).with_lotes(&lotes);
        let wallet = WalletVerifier::new(Arc::new(issuer_trust), config.identity.accept_legacy_typ);
        let gateway = Gateway {
            policy: Arc::new(AccessPolicy::new(grants)),
            identity,
            tls_files,
            peer_cas: None,
            reload: ReloadHandle::default(),
            store,
            journal,
            trust,
            wallet: Arc::new(wallet),
            translator: Arc::new(translator),
            metrics: Arc::new(Metrics::new()?),
            dev_pki,
            exchange: None,
            clock: Arc::new(SystemClock),
            config,
        };
        Ok((gateway, report))
    }

    /// The trust state and its refresher, with the stored snapshot loaded so a restart works
    /// offline. A stored snapshot that does not decode is logged and ignored (the next refresh
    /// replaces it).
    fn prepare_trust(
        config: &Config,
        store: &Store,
        journal: &Arc<Journal>,
    ) -> Result<Arc<Refresher>, ServeError> {
        let snapshots = store.trust()?;
        let state = Arc::new(TrustState::new());
        match snapshots.current() {
            Ok(Some(s)) => {
                let loaded = Loaded::new(s, time::OffsetDateTime::now_utc());
                tracing::info!(trust.snapshot = %hex::encode(loaded.digest), "stored trust snapshot loaded");
                state.install(Arc::new(loaded));
            }
            Ok(None) => tracing::info!("no stored trust snapshot"),
            Err(e) => tracing::warn!(error = %e, "stored trust snapshot unusable; ignored"),
        }
        let refresher = Refresher::new(
            state,
            Some(snapshots),
            Some(journal.clone()),
            config.trust.clone(),
        )
        .map_err(|reason| ServeError::Trust { reason })?;
        Ok(Arc::new(refresher))
    }

    /// The trust refresher and state.
    pub fn trust(&self) -> &Arc<Refresher> {
        &self.trust
    }

    /// Reads wall time from `clock` in the exchange (acceptance and journal times, deadlines,
    /// seal and receipt validation) and in `IdentityService` (challenge expiry, presentation
    /// checks); call before [`Gateway::enable_exchange`]. Fault tests pass
    /// an [`crate::clock::OffsetClock`] to make it jump.
    pub fn set_clock(&mut self, clock: Arc<dyn Clock>) {
        self.clock = clock;
    }

    /// Enables `ExchangeService`, `PeerService` and the relay, with `trust` (the trusted lists)
    /// as the only source of trust in peer bridges: callers whose chain is a qualified website or
    /// seal certificate of a configured peer country get [`Role::Peer`], the TLS acceptor accepts
    /// chains of those countries' listed services, and the relay connects with this gateway's own
    /// TLS certificate (its QWAC in production).
    ///
    /// # Errors
    /// [`ServeError::NoSeal`], unreadable seal material, store failures.
    pub fn enable_exchange(&mut self, trust: Arc<dyn PeerTrust>) -> Result<(), ServeError> {
        let (Some(cert), Some(key)) = (
            &self.config.exchange.seal_cert,
            &self.config.exchange.seal_key,
        ) else {
            return Err(ServeError::NoSeal);
        };
        let seal_files = SealFiles {
            cert: cert.clone(),
            key: key.clone(),
        };
        let seal = seal_files.load()?;
        let peers = PeerSet::new(self.config.exchange.peers.iter().map(|(cc, addr)| Peer {
            country: cc.clone(),
            address: addr.clone(),
            retry: self.config.exchange.retry_for(cc),
        }));
        let countries: Vec<String> = peers.countries().map(str::to_owned).collect();
        let peer_cas = PeerCas::new(trust.clone(), countries.clone());
        let server_cas = peer_cas.cas();
        self.identity.client_cas.extend(server_cas.iter().cloned());
        self.peer_cas = Some(Arc::new(peer_cas));
        self.policy = Arc::new((*self.policy).clone().with_peers(PeerGrants {
            trust: trust.clone(),
            countries,
        }));
        let settings = ExchangeSettings {
            local_peer: self.config.bridge.country.clone(),
            max_payload: self.config.exchange.max_payload,
            peers,
        };
        let exchange = Exchange::new(
            settings,
            self.translator.clone(),
            self.store.outbox()?,
            self.store.inbox()?,
            self.journal.clone(),
            seal,
            trust,
        )
        .with_evidence(self.store.evidence()?)
        .with_presentations(
            self.wallet.clone(),
            PresentationPolicy {
                required: self.config.exchange.require_presentation,
                audience: self.config.presentation_audience(),
            },
        )
        .with_clock(self.clock.clone());
        let relay_identity = RelayIdentity::new(tls::ClientIdentity {
            chain: self.identity.chain.clone(),
            key: Some(self.identity.key.clone()),
            server_cas,
        });
        let exchange = Arc::new(exchange);
        self.exchange = Some(ExchangeParts {
            seal: Arc::new(SealReload {
                files: seal_files,
                exchange: exchange.clone(),
            }),
            exchange,
            relay_identity,
        });
        Ok(())
    }

    /// The exchange, when enabled.
    pub fn exchange(&self) -> Option<&Arc<Exchange>> {
        self.exchange.as_ref().map(|parts| &parts.exchange)
    }

    /// Requests that `run` read its TLS certificate, key and client CAs again (the binary calls
    /// it on SIGHUP). New handshakes use the new material; a reload that fails keeps the old.
    pub fn reload_handle(&self) -> ReloadHandle {
        self.reload.clone()
    }

    /// The address translator.
    pub fn translator(&self) -> &Arc<Translator<crate::store::directory::DirectoryStore>> {
        &self.translator
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The development PKI, when in use.
    pub fn dev_pki(&self) -> Option<&DevPki> {
        self.dev_pki.as_ref()
    }

    /// The opened store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The running journal.
    pub fn journal(&self) -> &Arc<Journal> {
        &self.journal
    }

    /// Serves gRPC on `listener` (mutual TLS) and metrics on `metrics_listener` until `shutdown`
    /// completes; then stops accepting, lets in-flight calls finish for at most
    /// `server.shutdown_grace`, and returns.
    ///
    /// # Errors
    /// See [`ServeError`].
    pub async fn run(
        self,
        listener: TcpListener,
        metrics_listener: Option<TcpListener>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let slot = AcceptorSlot::from(self.identity.acceptor()?);
        let incoming = tls::incoming(listener, slot.clone(), self.config.server.handshake_timeout);

        let (health_reporter, health_service) = tonic_health::server::health_reporter();
        // The empty service name is the server as a whole (grpc.health.v1 semantics).
        health_reporter
            .set_service_status("", tonic_health::ServingStatus::Serving)
            .await;
        // TrustService is SERVING only while a snapshot is loaded (refreshes update it).
        self.trust.set_health(health_reporter.clone()).await;
        if self.trust.state().current().is_none() {
            tracing::warn!("no trust snapshot loaded: foreign peers and issuers cannot be trusted until a refresh succeeds");
        }
        let refresh_guard = if self.config.trust.refresh {
            Some(self.trust.spawn())
        } else {
            tracing::info!("trust refresh is off: serving the stored snapshot only");
            None
        };
        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(bridge_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .map_err(ServeError::Reflection)?;
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(bridge_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()
            .map_err(ServeError::Reflection)?;

        let (stop_tx, stop_rx) = watch::channel(false);
        let signal = async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        };

        // Rotation without downtime: SIGHUP (through the reload handle) or a trust refresh that
        // changes the peers' CAs rebuilds the acceptor for new handshakes.
        // A requested reload also reads the seal again and gives the relay the new certificate.
        let mut reloader = Reloader::new(
            self.tls_files.clone(),
            self.peer_cas.clone(),
            slot,
            self.reload.clone(),
        );
        if let Some(parts) = &self.exchange {
            reloader = reloader
                .with_follower(Arc::new(parts.relay_identity.clone()))
                .with_follower(parts.seal.clone());
        }
        let reload_task = tokio::spawn(reloader.run(stop_rx.clone()));

        // Plain-text health, when configured: the same reporter, no other service, no TLS.
        let health_task = match self.config.metrics.health_listen {
            Some(addr) => {
                let listener = TcpListener::bind(addr)
                    .await
                    .map_err(|source| ServeError::HealthListen { addr, source })?;
                let mut rx = stop_rx.clone();
                let health = health_service.clone();
                Some(tokio::spawn(async move {
                    let served = Server::builder()
                        .add_service(health)
                        .serve_with_incoming_shutdown(
                            tokio_stream::wrappers::TcpListenerStream::new(listener),
                            async move {
                                let _ = rx.wait_for(|stop| *stop).await;
                            },
                        )
                        .await;
                    if let Err(e) = served {
                        tracing::warn!(error = %e, "plain-text health listener stopped");
                    }
                }))
            }
            None => None,
        };

        let metrics_task = metrics_listener.map(|l| {
            let mut rx = stop_rx.clone();
            tokio::spawn(crate::metrics::serve(l, self.metrics.clone(), async move {
                let _ = rx.wait_for(|stop| *stop).await;
            }))
        });

        // The relay lives as long as the server: its guard is dropped when `run` returns.
        let relay = self
            .exchange
            .as_ref()
            .map(|parts| spawn_relay(parts.exchange.clone(), parts.relay_identity.clone()));
        // So does the retention sweep of done outbox and inbox records.
        let retention = self.exchange.as_ref().map(|parts| {
            spawn_retention(
                parts.exchange.clone(),
                self.config.exchange.retention,
                self.metrics.records_purged.clone(),
            )
        });
        // Freed heap pages go back to the kernel on a timer, for the process's lifetime here.
        // The release is process-wide: where one process runs two gateways (the demo, the
        // benchmarks), each releases, which costs a millisecond more per interval.
        let heap_task = tokio::spawn(crate::memory::release_periodically(
            self.config.server.heap_release_interval,
            self.metrics.heap.clone(),
            stop_rx.clone(),
        ));
        let max_payload = self.config.exchange.max_payload;
        let (exchange_api, peer_api) = match &self.exchange {
            Some(ExchangeParts { exchange: ex, .. }) => (
                Some(
                    ExchangeServiceServer::new(ExchangeApi::new(ex.clone()))
                        .max_decoding_message_size(max_exchange_message(max_payload)),
                ),
                Some(
                    PeerServiceServer::new(PeerApi::new(ex.clone()))
                        .max_decoding_message_size(max_peer_message(max_payload)),
                ),
            ),
            None => (None, None),
        };
        let limiter = Limiter::new(self.config.limits.clone(), std::time::Instant::now());

        // Outermost first: observe everything (refusals included), resolve the caller, apply its
        // limits, then bound the call in time. HTTP/2 keepalive finds vanished clients whose
        // streams would otherwise hold their concurrency slots.
        let server = Server::builder()
            .http2_keepalive_interval(Some(HTTP2_KEEPALIVE_INTERVAL))
            .http2_keepalive_timeout(Some(HTTP2_KEEPALIVE_TIMEOUT))
            .layer(ObserveLayer::new(self.metrics.clone()))
            .layer(AuthorizeLayer::new(self.policy.clone()))
            .layer(LimitsLayer::new(
                limiter,
                self.metrics.limit_refusals.clone(),
            ))
            .layer(DeadlineLayer::new(
                self.config.server.rpc_timeout,
                self.config.server.stream_idle_timeout,
            ))
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(JournalServiceServer::new(JournalApi::new(
                self.journal.clone(),
            )))
            .add_service(
                IdentityServiceServer::new(
                    IdentityApi::new(self.wallet.clone(), self.journal.clone())
                        .with_evidence(self.store.evidence()?)
                        .with_clock(self.clock.clone()),
                )
                .max_decoding_message_size(MAX_IDENTITY_MESSAGE),
            )
            .add_service(
                AddressingServiceServer::new(AddressingApi::new(self.translator.clone()))
                    .max_decoding_message_size(MAX_IMPORT_BYTES + ENVELOPE_OVERHEAD_BYTES),
            )
            .add_service(TrustServiceServer::new(TrustApi::new(self.trust.clone())))
            .add_optional_service(exchange_api)
            .add_optional_service(peer_api)
            .serve_with_incoming_shutdown(incoming, signal);

        let grace = self.config.server.shutdown_grace;
        let mut grace_rx = stop_rx.clone();
        let grace_timer = async move {
            let _ = grace_rx.wait_for(|stop| *stop).await;
            tokio::time::sleep(grace).await;
        };

        let result = tokio::select! {
            served = server => served.map_err(ServeError::from),
            _ = grace_timer => Err(ServeError::GraceExpired(grace)),
        };
        if let Some(task) = metrics_task {
            task.abort();
        }
        if let Some(task) = health_task {
            task.abort();
        }
        reload_task.abort();
        heap_task.abort();
        if let Some(guard) = refresh_guard {
            guard.shutdown().await;
        }
        if let Some(relay) = relay {
            relay.stop().await;
        }
        if let Some(retention) = retention {
            retention.stop().await;
        }
        // Durable state is flushed by its owners on every write; this final flush only shortens
        // sled's recovery on the next start.
        let _ = self.store.flush();
        result
    }
}

/// What [`Gateway::enable_exchange`] sets up for `run`: the exchange, the identity its relay
/// presents, and the seal's files to read again on a reload.
#[derive(Debug)]
struct ExchangeParts {
    exchange: Arc<Exchange>,
    relay_identity: RelayIdentity,
    seal: Arc<SealReload>,
}

/// Where the seal is read from (`exchange.seal_cert`, `exchange.seal_key`).
#[derive(Debug)]
struct SealFiles {
    cert: PathBuf,
    key: PathBuf,
}

impl SealFiles {
    /// The seal; a key that does not match its certificate is refused.
    fn load(&self) -> Result<SealKey, TlsError> {
        let (chain, key) = tls::read_key_pair(&self.cert, &self.key)?;
        Ok(SealKey::new(key, chain))
    }
}

/// Reads the seal again on a requested reload, so a seal rotates without a restart; a refused
/// seal keeps the one in force.
#[derive(Debug)]
struct SealReload {
    files: SealFiles,
    exchange: Arc<Exchange>,
}

impl ReloadFollower for SealReload {
    fn prepare(&self, _: &ServerIdentity) -> Result<Box<dyn FnOnce() + Send>, TlsError> {
        let seal = self.files.load()?;
        let exchange = self.exchange.clone();
        Ok(Box::new(move || exchange.replace_seal(seal)))
    }
}
