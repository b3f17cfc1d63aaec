//! The bridge's trust state: the validated trust-list snapshot in force, the trust store built
//! from it, and the refresh status (DESIGN.md "Trust model"; specs/trust-lists.md clause 7.3).
//!
//! The snapshot is swapped atomically: a validation takes an `Arc` of the snapshot in force and
//! answers against it, with its digest, even while a refresh installs the next one. A failed
//! refresh never replaces a good snapshot (the walk keeps previous lists, reported as stale).
//!
//! - `source`: where list bytes come from (files, a directory, HTTPS with limits).
//! - `issuers`: wallet credential issuers anchored in PID-provider services of the lists.
//! - `refresh`: walk, persist, install and journal; the background task and its drop guard.

mod issuers;
mod peers;
mod refresh;
mod source;

pub use issuers::{load_lotes, TrustListIssuers};
pub use refresh::{
    load_anchors, lotl_error, RefreshGuard, RefreshOutcome, Refresher, TRUST_SERVICE_NAME,
};
pub use source::{
    BridgeSource, FetchLimits, LotlLocation, MAX_REDIRECTS, OFFICIAL_LOTL_URL, OJ_2019_ANCHORS_PEM,
    OJ_2019_URI,
};

use std::sync::{Arc, Mutex, RwLock};

use time::OffsetDateTime;
use trust_lists::{Snapshot, TrustStore, Usage, ValidationResult};

use crate::error::Error;

/// A snapshot in force with the trust store built from it.
#[derive(Debug)]
pub struct Loaded {
    /// The validated snapshot.
    pub snapshot: Snapshot,
    /// Its trust store.
    pub store: TrustStore,
    /// [`Snapshot::digest`], computed once.
    pub digest: [u8; 32],
    /// When the bridge installed it (wall clock of the installing process).
    pub loaded_at: OffsetDateTime,
}

impl Loaded {
    /// Builds the trust store of `snapshot`.
    pub fn new(snapshot: Snapshot, loaded_at: OffsetDateTime) -> Loaded {
        let store = TrustStore::from(&snapshot);
        let digest = snapshot.digest();
        Loaded {
            snapshot,
            store,
            digest,
            loaded_at,
        }
    }
}

/// What the last refreshes did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefreshStatus {
    /// When the last refresh started.
    pub last_attempt: Option<OffsetDateTime>,
    /// When a refresh last installed a snapshot whose LOTL verified.
    pub last_success: Option<OffsetDateTime>,
    /// Why the last refresh failed (error code of the LOTL, or the storage fault); `None` after a
    /// success.
    pub last_error: Option<String>,
}

/// The snapshot in force and the refresh status, shared by the gRPC services and the refresher.
#[derive(Debug, Default)]
pub struct TrustState {
    current: RwLock<Option<Arc<Loaded>>>,
    status: Mutex<RefreshStatus>,
}

impl TrustState {
    /// No snapshot loaded yet.
    pub fn new() -> TrustState {
        TrustState::default()
    }

    /// The snapshot in force, if any.
    pub fn current(&self) -> Option<Arc<Loaded>> {
        // A poisoned lock only means a panic elsewhere while swapping an Arc: the value is whole.
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Installs `loaded` as the snapshot in force.
    pub fn install(&self, loaded: Arc<Loaded>) {
        match self.current.write() {
            Ok(mut g) => *g = Some(loaded),
            Err(p) => *p.into_inner() = Some(loaded),
        }
    }

    /// The refresh status.
    pub fn status(&self) -> RefreshStatus {
        match self.status.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Updates the refresh status.
    pub fn update_status(&self, f: impl FnOnce(&mut RefreshStatus)) {
        match self.status.lock() {
            Ok(mut g) => f(&mut g),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// Validates `chain` (DER, leaf first) at `at` for `usage` against the snapshot in force,
    /// returning the answer and the digest of the snapshot used (for the journal).
    ///
    /// # Errors
    /// [`Error::NoTrustSnapshot`] when no snapshot is loaded: nothing can be trusted then.
    pub fn validate(
        &self,
        chain: &[Vec<u8>],
        at: OffsetDateTime,
        usage: Usage,
    ) -> Result<(ValidationResult, [u8; 32]), Error> {
        let loaded = self.current().ok_or(Error::NoTrustSnapshot)?;
        Ok((loaded.store.validate(chain, at, usage), loaded.digest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_snapshot_refuses_validation() {
        let state = TrustState::new();
        let err = state
            .validate(&[vec![0x30]], OffsetDateTime::UNIX_EPOCH, Usage::Any)
            .unwrap_err();
        assert!(matches!(err, Error::NoTrustSnapshot));
    }

    #[test]
    fn installed_snapshot_answers_with_its_digest() {
        let state = TrustState::new();
        let snapshot = Snapshot {
            at: OffsetDateTime::UNIX_EPOCH,
            entries: Vec::new(),
            reports: Vec::new(),
        };
        let digest = snapshot.digest();
        state.install(Arc::new(Loaded::new(snapshot, OffsetDateTime::UNIX_EPOCH)));
        let (result, used) = state
            .validate(&[vec![0x30]], OffsetDateTime::UNIX_EPOCH, Usage::Any)
            .unwrap();
        assert_eq!(used, digest);
        assert!(!result.trusted);
    }
}
