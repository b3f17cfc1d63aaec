//! Two bridges on loopback, built from the generated test trust ecosystem: the pieces behind
//! `eidas-bridge demo`, the exchange integration tests and the submit benchmark.
//!
//! Each [`Node`] is a full [`Gateway`] with its own data directory and sled store, a QWAC as its
//! TLS certificate, a qualified seal, and a development PKI for its local operator. The nodes trust
//! each other only through the generated LOTL and national lists, walked and verified by
//! `trust-lists` ([`walk_ecosystem`]): no certificate of one node is configured in the other.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openssl::x509::X509;
use test_ecosystem::{Ecosystem, LOTL_LOCATION, OJ_URI};
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::Channel;
use trust_lists::{walk, DirectorySource, Snapshot, StageState, Usage, WalkConfig};

use crate::addressing::{parse_records, ImportFormat};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::devpki::DevPki;
use crate::exchange::{trusted_for, Exchange, PeerTrust, RetryPolicy, SnapshotTrust};
use crate::gateway::{Gateway, ServeError};
use crate::grpc::{fingerprint, Principal, Role};
use crate::journal::Journal;
use crate::tls::{self, ClientIdentity, ReloadHandle, TlsError};

/// Seed of the demo's ecosystem: fixed, so the demo's certificates are the same on every run.
pub const DEMO_SEED: &[u8] = b"eidas-bridge demo";

/// The French sender's directory row (corpus `addressing/directory.tsv`, from the ANS FHIR
/// messaging IG example practitioner): the FR bridge needs it to identify the sender.
pub const FR_DIRECTORY: &str = "space\taddress\thcid\trole\tbal_type\tsource\n\
mssante\tjean-marie.dupont@infirmier.mssante.fr\thcid:FR:rpps:10003456789\tnurse\tPER\tdemo\n";

/// Why the demo set-up failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// Generating the ecosystem failed.
    #[error("ecosystem: {0}")]
    Ecosystem(#[from] openssl::error::ErrorStack),
    /// Files could not be written.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// TLS material is unusable.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// A gateway could not be prepared.
    #[error(transparent)]
    Serve(#[from] ServeError),
    /// A generated list did not verify (the walk report's territory).
    #[error("trusted list {0} did not verify")]
    ListNotVerified(String),
    /// The directory import failed.
    #[error("directory: {0}")]
    Directory(String),
}

/// Walks the ecosystem's LOTL and national lists from its OJ anchor at `at`.
///
/// # Errors
/// [`DemoError::ListNotVerified`] when any list fails its signature or freshness check.
pub fn walk_ecosystem(eco: &Ecosystem, at: OffsetDateTime) -> Result<Snapshot, DemoError> {
    let mut files = vec![eco.lotl.clone()];
    files.extend(eco.tls.values().cloned());
    let config = WalkConfig {
        anchors: vec![eco.oj.cert.clone()],
        lotl_location: LOTL_LOCATION.into(),
        oj_uri: Some(OJ_URI.into()),
    };
    let snapshot = walk(&DirectorySource::from_bytes(files), &config, at, None);
    if let Some(bad) = snapshot
        .reports
        .iter()
        .find(|r| r.signature != StageState::Ok)
    {
        return Err(DemoError::ListNotVerified(bad.territory.clone()));
    }
    Ok(snapshot)
}

/// How to start one node.
#[derive(Debug)]
pub struct NodeOptions {
    /// Its country (and peer id).
    pub country: String,
    /// Its data directory (created).
    pub data_dir: PathBuf,
    /// Its bound listener.
    pub listener: TcpListener,
    /// Its peers: (country, `host:port`).
    pub peers: Vec<(String, String)>,
    /// The trusted lists.
    pub trust: Arc<dyn PeerTrust>,
    /// Directory rows to import (fixture TSV).
    pub directory_tsv: Option<String>,
    /// Retry policy towards every peer.
    pub retry: RetryPolicy,
    /// TLS certificate chain and key (PEM paths); `None` uses the ecosystem's QWAC of the country.
    pub tls_identity: Option<(PathBuf, PathBuf)>,
}

/// A running bridge.
#[derive(Debug)]
pub struct Node {
    /// Its country.
    pub country: String,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its journal.
    pub journal: Arc<Journal>,
    /// Its exchange.
    pub exchange: Arc<Exchange>,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Asks it to read its TLS identity and seal again (what SIGHUP does to `serve`).
    pub reload: ReloadHandle,
    operator: ClientIdentity,
    trust: Arc<dyn PeerTrust>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), ServeError>>>,
}

/// Writes the ecosystem's files under `dir/ecosystem` and returns that directory.
///
/// # Errors
/// I/O failures.
pub fn write_ecosystem(eco: &Ecosystem, dir: &Path) -> Result<PathBuf, DemoError> {
    let out = dir.join("ecosystem");
    eco.write_to(&out)?;
    Ok(out)
}

/// A client identity from PEM files, verifying servers against `server_cas`.
///
/// # Errors
/// Unreadable material.
pub fn client_identity(
    cert: &Path,
    key: &Path,
    server_cas: Vec<X509>,
) -> Result<ClientIdentity, TlsError> {
    Ok(ClientIdentity {
        chain: tls::read_certs(cert)?,
        key: Some(tls::read_key(key)?),
        server_cas,
    })
}

/// A channel to `addr` whose server must hold a QWAC of `country` (checked against `trust`).
///
/// # Errors
/// Unusable TLS material.
pub fn channel_to(
    addr: SocketAddr,
    country: &str,
    identity: &ClientIdentity,
    trust: Arc<dyn PeerTrust>,
) -> Result<Channel, TlsError> {
    let mut identity = identity.clone();
    identity.server_cas = trust.anchors(country);
    let country = country.to_owned();
    let check: tls::ServerCheck = Arc::new(move |chain: &[Vec<u8>]| {
        trusted_for(
            trust.as_ref(),
            chain,
            OffsetDateTime::now_utc(),
            Usage::Qwac,
            &country,
        )
        .is_ok()
    });
    tls::connect_checked(&addr.to_string(), &identity, check)
}

/// Starts a node: configuration, development PKI for its operator, gateway with the exchange
/// enabled, directory import, then serving in a task.
///
/// # Errors
/// See [`DemoError`].
pub async fn start_node(eco_dir: &Path, opts: NodeOptions) -> Result<Node, DemoError> {
    start_node_with(eco_dir, opts, |_| {}).await
}

/// As [`start_node`], with `configure` applied to the node's configuration last (policies and
/// per-peer settings that [`NodeOptions`] does not name).
///
/// # Errors
/// See [`DemoError`].
pub async fn start_node_with(
    eco_dir: &Path,
    opts: NodeOptions,
    configure: impl FnOnce(&mut Config),
) -> Result<Node, DemoError> {
    start_configured(eco_dir, opts, Arc::new(SystemClock), configure).await
}

/// [`start_node`] with the exchange reading wall time from `clock` (fault tests jump it).
///
/// # Errors
/// See [`DemoError`].
pub async fn start_node_with_clock(
    eco_dir: &Path,
    opts: NodeOptions,
    clock: Arc<dyn Clock>,
) -> Result<Node, DemoError> {
    start_configured(eco_dir, opts, clock, |_| {}).await
}

async fn start_configured(
    eco_dir: &Path,
    opts: NodeOptions,
    clock: Arc<dyn Clock>,
    configure: impl FnOnce(&mut Config),
) -> Result<Node, DemoError> {
    let cc = opts.country.clone();
    std::fs::create_dir_all(&opts.data_dir)?;
    let pki = DevPki::new(&opts.data_dir);
    pki.ensure()?;
    let operator_cert = pki.client_cert(Role::Operator);
    let leaf = tls::read_certs(&operator_cert)?.remove(0);
    let mut config = Config::defaults();
    config.server.listen = opts.listener.local_addr()?;
    config.server.data_dir = opts.data_dir.clone();
    config.server.shutdown_grace = std::time::Duration::from_secs(5);
    config.metrics.listen = None;
    config.bridge.country = cc.clone();
    // The demo's trust comes from the generated lists only; never fetch the official LOTL.
    config.trust.refresh = false;
    let (cert, key) = opts.tls_identity.clone().unwrap_or_else(|| {
        (
            eco_dir.join(format!("qwac-{cc}.chain.pem")),
            eco_dir.join(format!("qwac-{cc}.key.pem")),
        )
    });
    config.tls.cert = Some(cert);
    config.tls.key = Some(key);
    config.tls.client_ca = vec![pki.ca_cert()];
    let operator_fp = fingerprint(&leaf.to_der().map_err(TlsError::from)?);
    config.access.grants = vec![
        (Role::Operator, Principal::Fingerprint(operator_fp)),
        (Role::Auditor, Principal::Fingerprint(operator_fp)),
    ];
    config.exchange.seal_cert = Some(eco_dir.join(format!("seal-{cc}.chain.pem")));
    config.exchange.seal_key = Some(eco_dir.join(format!("seal-{cc}.key.pem")));
    config.exchange.peers = opts.peers.clone();
    config.exchange.retry = opts.retry;
    configure(&mut config);
    let (mut gateway, _) = Gateway::prepare(config)?;
    gateway.set_clock(clock);
    gateway.enable_exchange(opts.trust.clone())?;
    if let Some(tsv) = &opts.directory_tsv {
        let records = parse_records(
            ImportFormat::Tsv,
            std::io::Cursor::new(tsv.clone().into_bytes()),
        );
        gateway
            .translator()
            .directory()
            .import(records, false)
            .map_err(|e| DemoError::Directory(e.to_string()))?;
    }
    let journal = gateway.journal().clone();
    let reload = gateway.reload_handle();
    let exchange = gateway
        .exchange()
        .cloned()
        .ok_or(DemoError::Serve(ServeError::NoSeal))?;
    let addr = opts.listener.local_addr()?;
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(gateway.run(opts.listener, None, async move {
        let _ = rx.await;
    }));
    let operator = client_identity(&operator_cert, &pki.client_key(Role::Operator), Vec::new())?;
    Ok(Node {
        country: cc,
        addr,
        journal,
        exchange,
        data_dir: opts.data_dir,
        reload,
        operator,
        trust: opts.trust,
        shutdown: Some(tx),
        task: Some(task),
    })
}

impl Node {
    /// A channel for this node's local operator.
    ///
    /// # Errors
    /// Unusable TLS material.
    pub fn operator_channel(&self) -> Result<Channel, TlsError> {
        channel_to(self.addr, &self.country, &self.operator, self.trust.clone())
    }

    /// Stops serving and waits for the gateway to return.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// The trust handle for a walked snapshot.
pub fn trust_of(snapshot: &Snapshot) -> Arc<dyn PeerTrust> {
    Arc::new(SnapshotTrust::new(snapshot))
}

/// Two nodes, FR and BE, peered with each other.
#[derive(Debug)]
pub struct Pair {
    /// The French bridge (MSSanté space).
    pub fr: Node,
    /// The Belgian bridge (eHealthBox space).
    pub be: Node,
    /// The ecosystem's files.
    pub eco_dir: PathBuf,
    /// The trusted lists both use.
    pub trust: Arc<dyn PeerTrust>,
    /// The verified snapshot behind `trust`, for archiving with kept data.
    pub snapshot: Snapshot,
}

/// Starts FR and BE under `root` with the ecosystem `eco` and `retry` towards each other.
///
/// # Errors
/// See [`DemoError`].
pub async fn start_pair(
    eco: &Ecosystem,
    root: &Path,
    retry: RetryPolicy,
) -> Result<Pair, DemoError> {
    start_pair_with(eco, root, retry, |_| {}).await
}

/// As [`start_pair`], with `configure` applied last to both nodes' configurations (the load
/// generators lift the per-caller limits, which are policy rather than what they measure).
///
/// # Errors
/// See [`DemoError`].
pub async fn start_pair_with(
    eco: &Ecosystem,
    root: &Path,
    retry: RetryPolicy,
    configure: impl Fn(&mut Config),
) -> Result<Pair, DemoError> {
    let eco_dir = write_ecosystem(eco, root)?;
    let snapshot = walk_ecosystem(eco, OffsetDateTime::now_utc())?;
    let trust = trust_of(&snapshot);
    let fr_listener = TcpListener::bind("127.0.0.1:0").await?;
    let be_listener = TcpListener::bind("127.0.0.1:0").await?;
    let (fr_addr, be_addr) = (fr_listener.local_addr()?, be_listener.local_addr()?);
    let fr = start_node_with(
        &eco_dir,
        NodeOptions {
            country: "FR".into(),
            data_dir: root.join("fr"),
            listener: fr_listener,
            peers: vec![("BE".into(), be_addr.to_string())],
            trust: trust.clone(),
            directory_tsv: Some(FR_DIRECTORY.into()),
            retry,
            tls_identity: None,
        },
        &configure,
    )
    .await?;
    let be = start_node_with(
        &eco_dir,
        NodeOptions {
            country: "BE".into(),
            data_dir: root.join("be"),
            listener: be_listener,
            peers: vec![("FR".into(), fr_addr.to_string())],
            trust: trust.clone(),
            directory_tsv: None,
            retry,
            tls_identity: None,
        },
        &configure,
    )
    .await?;
    Ok(Pair {
        fr,
        be,
        eco_dir,
        trust,
        snapshot,
    })
}
