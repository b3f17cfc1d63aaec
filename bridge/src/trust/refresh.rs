//! Refreshing the trust state: walk (blocking, on the blocking pool) from the Official Journal
//! anchors with the previous snapshot, so unchanged lists are not re-verified; persist the result
//! durably; install it; journal a `TrustListLoaded` entry when the trust material changed; and
//! set the health of `TrustService` (SERVING only while a snapshot is loaded).
//!
//! A failed refresh keeps the last good snapshot (the walk keeps previous lists and flags them
//! `kept_previous`); it is reported in the logs, the status and the health detail.

use std::sync::Arc;
use std::time::Duration;

use openssl::x509::X509;
use time::OffsetDateTime;
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;
use trust_lists::{walk, DirectorySource, ListKind, Snapshot, WalkConfig};

use super::source::{BridgeSource, FetchLimits, LotlLocation, OJ_2019_ANCHORS_PEM};
use super::{Loaded, TrustState};
use crate::config::TrustSettings;
use crate::journal::{EntryKind, Journal, JournalEntry};
use crate::store::trust::TrustSnapshotStore;

/// The gRPC health service name of the trust service.
pub const TRUST_SERVICE_NAME: &str = "eidas.bridge.v1.TrustService";

/// What one refresh did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshOutcome {
    /// A snapshot was installed (the LOTL verified, or previous lists were kept).
    pub installed: bool,
    /// The installed snapshot's digest differs from the previous one (a journal entry was made).
    pub changed: bool,
    /// Digest of the snapshot in force after the refresh.
    pub digest: Option<[u8; 32]>,
    /// Why the refresh failed, when it did.
    pub error: Option<String>,
}

/// Reads the configured anchor PEM files, or the embedded OJ 2019 set when none is configured.
///
/// # Errors
/// A one-line reason naming the file that cannot be read or holds no certificate.
pub fn load_anchors(files: &[std::path::PathBuf]) -> Result<Vec<X509>, String> {
    if files.is_empty() {
        return X509::stack_from_pem(OJ_2019_ANCHORS_PEM.as_bytes())
            .map_err(|e| format!("embedded anchors: {e}"));
    }
    let mut out = Vec::new();
    for f in files {
        let pem = std::fs::read(f).map_err(|e| format!("{}: {e}", f.display()))?;
        let certs = X509::stack_from_pem(&pem).map_err(|e| format!("{}: {e}", f.display()))?;
        if certs.is_empty() {
            return Err(format!("{}: no certificate", f.display()));
        }
        out.extend(certs);
    }
    Ok(out)
}

/// Walks, persists, installs and journals; shared by the background task and `Refresh`.
#[derive(Debug)]
pub struct Refresher {
    state: Arc<TrustState>,
    store: Option<TrustSnapshotStore>,
    journal: Option<Arc<Journal>>,
    settings: TrustSettings,
    walk: WalkConfig,
    lotl: LotlLocation,
    health: std::sync::Mutex<Option<HealthReporter>>,
    running: tokio::sync::Mutex<()>,
}

impl Refresher {
    /// A refresher over `state`, persisting to `store` and journaling to `journal` when given.
    ///
    /// # Errors
    /// A one-line reason when the LOTL location or the anchors are unusable.
    pub fn new(
        state: Arc<TrustState>,
        store: Option<TrustSnapshotStore>,
        journal: Option<Arc<Journal>>,
        settings: TrustSettings,
    ) -> Result<Refresher, String> {
        let lotl = LotlLocation::parse(&settings.lotl)
            .ok_or_else(|| format!("trust.lotl {:?} is not usable", settings.lotl))?;
        let walk = WalkConfig {
            anchors: load_anchors(&settings.anchors)?,
            lotl_location: lotl.as_text(),
            oj_uri: Some(settings.oj_uri.clone()),
        };
        Ok(Refresher {
            state,
            store,
            journal,
            settings,
            walk,
            lotl,
            health: std::sync::Mutex::new(None),
            running: tokio::sync::Mutex::new(()),
        })
    }

    /// The trust state this refresher installs into.
    pub fn state(&self) -> &Arc<TrustState> {
        &self.state
    }

    /// The settings in force.
    pub fn settings(&self) -> &TrustSettings {
        &self.settings
    }

    /// Reports health to `reporter` from now on, starting with the current state.
    pub async fn set_health(&self, reporter: HealthReporter) {
        if let Ok(mut g) = self.health.lock() {
            *g = Some(reporter);
        }
        self.report_health().await;
    }

    async fn report_health(&self) {
        let reporter = self.health.lock().ok().and_then(|g| g.clone());
        if let Some(r) = reporter {
            let status = if self.state.current().is_some() {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            r.set_service_status(TRUST_SERVICE_NAME, status).await;
        }
    }

    /// Refreshes now (one at a time): walks at the current instant, then persists and installs.
    pub async fn refresh_now(&self) -> RefreshOutcome {
        let _one = self.running.lock().await;
        let now = OffsetDateTime::now_utc();
        self.state.update_status(|s| s.last_attempt = Some(now));
        let previous = self.state.current();
        let previous_digest = previous.as_ref().map(|p| p.digest);
        let job = BlockingRefresh {
            settings: self.settings.clone(),
            walk: self.walk.clone(),
            lotl: self.lotl.clone(),
            store: self.store.clone(),
        };
        let done = tokio::task::spawn_blocking(move || job.run(now, previous)).await;
        let (loaded, error) = match done {
            Ok(r) => r,
            Err(e) => (None, Some(format!("refresh task: {e}"))),
        };
        let mut outcome = RefreshOutcome {
            installed: loaded.is_some(),
            changed: false,
            digest: previous_digest,
            error: error.clone(),
        };
        if let Some(loaded) = loaded {
            let digest = loaded.digest;
            outcome.digest = Some(digest);
            outcome.changed = previous_digest != Some(digest);
            let lists = loaded.snapshot.entries.len();
            self.state.install(loaded);
            if outcome.changed {
                tracing::info!(trust.snapshot = %hex::encode(digest), trust.lists = lists, "trust snapshot installed");
                self.journal_loaded(digest, now).await;
            }
        }
        self.state.update_status(|s| {
            if error.is_none() {
                s.last_success = Some(now);
            }
            s.last_error = error.clone();
        });
        if let Some(e) = &error {
            match self.state.current() {
                Some(cur) => tracing::warn!(
                    error = %e,
                    trust.snapshot = %hex::encode(cur.digest),
                    "trust refresh failed; serving the last good snapshot"
                ),
                None => tracing::warn!(
                    error = %e,
                    "trust refresh failed; no trust snapshot: peers and issuers cannot be trusted"
                ),
            }
        }
        self.report_health().await;
        outcome
    }

    async fn journal_loaded(&self, digest: [u8; 32], now: OffsetDateTime) {
        let Some(journal) = &self.journal else {
            return;
        };
        let entry = JournalEntry {
            kind: EntryKind::TrustListLoaded,
            unix_nanos: i64::try_from(now.unix_timestamp_nanos()).unwrap_or(i64::MAX),
            message_id: None,
            sender: None,
            recipient: None,
            peer: None,
            payload: None,
            trust_snapshot: Some(digest),
            evidence: None,
            reason: None,
        };
        if let Err(e) = journal.append_async(&entry).await {
            tracing::error!(error = %e, "cannot journal the trust snapshot");
        }
    }

    /// Starts the background refresh: now, then every `trust.refresh_interval`. The task stops
    /// when the returned guard is dropped.
    pub fn spawn(self: &Arc<Self>) -> RefreshGuard {
        let me = self.clone();
        let interval = self.settings.refresh_interval.max(Duration::from_secs(1));
        let task = tokio::spawn(async move {
            loop {
                me.refresh_now().await;
                tokio::time::sleep(interval).await;
            }
        });
        RefreshGuard { task }
    }
}

/// Owns the background refresh task; dropping it aborts the task (gateway shutdown).
#[derive(Debug)]
pub struct RefreshGuard {
    task: tokio::task::JoinHandle<()>,
}

impl RefreshGuard {
    /// Stops the task and waits until it is gone, so that what it holds (the journal, the
    /// store) is released before the caller goes on (a restart in the same process reopens
    /// them). A walk already on the blocking pool finishes there; its result is dropped.
    pub async fn shutdown(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for RefreshGuard {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The blocking part of a refresh, moved to the blocking pool.
struct BlockingRefresh {
    settings: TrustSettings,
    walk: WalkConfig,
    lotl: LotlLocation,
    store: Option<TrustSnapshotStore>,
}

impl BlockingRefresh {
    /// Walks and persists; returns the snapshot to install, if any, and the failure, if any.
    fn run(
        self,
        now: OffsetDateTime,
        previous: Option<Arc<Loaded>>,
    ) -> (Option<Arc<Loaded>>, Option<String>) {
        let dir = match &self.settings.tl_dir {
            Some(d) => match DirectorySource::open(d) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!(error = %e, "trust.tl_dir unreadable; downloading instead");
                    None
                }
            },
            None => None,
        };
        let source = BridgeSource::new(
            self.lotl,
            dir,
            FetchLimits {
                timeout: self.settings.fetch_timeout,
                max_bytes: self.settings.max_list_bytes,
            },
            true,
        );
        let snapshot = walk(
            &source,
            &self.walk,
            now,
            previous.as_ref().map(|p| &p.snapshot),
        );
        let error = lotl_error(&snapshot);
        if snapshot.lotl().is_none() {
            return (None, error.or_else(|| Some("lotl: not loaded".into())));
        }
        if let Some(store) = &self.store {
            if let Err(e) = store.save(&snapshot) {
                return (None, Some(format!("store: {e}")));
            }
        }
        (Some(Arc::new(Loaded::new(snapshot, now))), error)
    }
}

/// The LOTL's failure in a walk, as `lotl: <code>`.
pub fn lotl_error(snapshot: &Snapshot) -> Option<String> {
    snapshot
        .reports
        .iter()
        .find(|r| r.kind == ListKind::Lotl)
        .and_then(|r| r.error.as_ref())
        .map(|e| format!("lotl: {e}"))
}
