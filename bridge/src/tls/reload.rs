//! Certificate rotation without downtime: the acceptor in force is held in a slot that the
//! handshake of every new connection reads, and a reloader replaces it when asked (SIGHUP, through
//! [`ReloadHandle`]) or when the set of extra client CAs changes (a trusted-list refresh that adds
//! or withdraws a peer's CA).
//!
//! Connections already established keep the session they negotiated; only new handshakes see the
//! new certificate and CA set. A reload that fails (unreadable file, key that does not match the
//! certificate) keeps the acceptor in force and says why: a typo during a rotation must not take
//! the gateway off the air.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use openssl::ssl::SslAcceptor;
use openssl::x509::X509;
use tokio::sync::{watch, Notify};

use super::{read_certs, read_key, ServerIdentity, TlsError};
use crate::slot::Slot;

/// How often the reloader compares the extra client CAs with those in force. A trusted-list
/// refresh runs every few hours, so a few seconds of lag before a new peer CA is accepted is
/// immaterial, and the comparison is a digest check.
pub const CA_POLL_INTERVAL: Duration = Duration::from_secs(5);

/// The acceptor in force, which the handshake of every new connection reads.
pub type AcceptorSlot = Slot<SslAcceptor>;

/// Where the server's TLS identity is read from, so that it can be read again.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Certificate chain, leaf first (PEM).
    pub chain: PathBuf,
    /// The leaf's private key (PEM).
    pub key: PathBuf,
    /// Anchors for client certificates (PEM files).
    pub client_ca: Vec<PathBuf>,
}

impl TlsFiles {
    /// Reads the identity, with `extra_cas` appended to the client anchors.
    ///
    /// # Errors
    /// A file that cannot be read or holds no certificate or key.
    pub fn load(&self, extra_cas: &[X509]) -> Result<ServerIdentity, TlsError> {
        let mut client_cas = Vec::new();
        for path in &self.client_ca {
            client_cas.extend(read_certs(path)?);
        }
        client_cas.extend(extra_cas.iter().cloned());
        Ok(ServerIdentity {
            chain: read_certs(&self.chain)?,
            key: read_key(&self.key)?,
            client_cas,
        })
    }
}

/// Client CAs that come from elsewhere than files (the peers' CAs announced by the trusted
/// lists), with a version that changes when they do.
pub trait ExtraClientCas: Send + Sync + std::fmt::Debug {
    /// A value that changes whenever [`ExtraClientCas::cas`] would answer differently (the trust
    /// snapshot's digest, say).
    fn version(&self) -> Option<[u8; 32]>;
    /// The CAs in force now.
    fn cas(&self) -> Vec<X509>;
}

/// Asks the reloader to read the TLS files again. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ReloadHandle {
    notify: Arc<Notify>,
    /// Outcome of the last reload: `Ok(generation)` or the reason it was refused.
    outcome: Arc<watch::Sender<Result<u64, String>>>,
}

impl Default for ReloadHandle {
    fn default() -> ReloadHandle {
        ReloadHandle {
            notify: Arc::new(Notify::new()),
            outcome: Arc::new(watch::Sender::new(Ok(0))),
        }
    }
}

impl ReloadHandle {
    /// Requests a reload; returns at once. Requests made while one runs are merged.
    pub fn reload(&self) {
        self.notify.notify_one();
    }

    /// Watches the outcome of reloads: `Ok(n)` after the n-th acceptor was installed (0 is the
    /// one built at start), `Err(reason)` after a refused reload.
    pub fn outcomes(&self) -> watch::Receiver<Result<u64, String>> {
        self.outcome.subscribe()
    }
}

/// Material read again, with the server's TLS identity, on a requested reload: the relay's
/// client certificate (the server's own) and the exchange's seal. Every follower prepares its new
/// material before anything is installed, so a reload that fails anywhere leaves all of the
/// material in force, never half of a rotation.
pub trait ReloadFollower: Send + Sync + std::fmt::Debug {
    /// Reads and checks the new material, given the server identity just read; the closure
    /// returned installs it.
    ///
    /// # Errors
    /// Why the material cannot be used; nothing is installed.
    fn prepare(&self, identity: &ServerIdentity) -> Result<Box<dyn FnOnce() + Send>, TlsError>;
}

/// Rebuilds the acceptor on request or when the extra CAs change.
#[derive(Debug)]
pub struct Reloader {
    files: TlsFiles,
    extra: Option<Arc<dyn ExtraClientCas>>,
    slot: AcceptorSlot,
    handle: ReloadHandle,
    followers: Vec<Arc<dyn ReloadFollower>>,
}

impl Reloader {
    /// A reloader for `slot`, reading `files` and adding `extra` CAs.
    pub fn new(
        files: TlsFiles,
        extra: Option<Arc<dyn ExtraClientCas>>,
        slot: AcceptorSlot,
        handle: ReloadHandle,
    ) -> Reloader {
        Reloader {
            files,
            extra,
            slot,
            handle,
            followers: Vec::new(),
        }
    }

    /// Also reloads `follower` on every requested reload.
    #[must_use]
    pub fn with_follower(mut self, follower: Arc<dyn ReloadFollower>) -> Reloader {
        self.followers.push(follower);
        self
    }

    /// Builds a new acceptor from the files and the extra CAs, prepares the followers' material,
    /// and installs it all.
    ///
    /// # Errors
    /// Unreadable material or an OpenSSL refusal; everything in force is kept.
    pub fn reload_now(&self) -> Result<(), TlsError> {
        self.reload(true)
    }

    /// A reload; `with_followers` is false when only the client CAs changed, so that a seal file
    /// in the middle of its own rotation does not hold back a peer's new CA.
    fn reload(&self, with_followers: bool) -> Result<(), TlsError> {
        let extra = self.extra.as_ref().map(|e| e.cas()).unwrap_or_default();
        let identity = self.files.load(&extra)?;
        let acceptor = identity.acceptor()?;
        let mut installs = Vec::new();
        if with_followers {
            for follower in &self.followers {
                installs.push(follower.prepare(&identity)?);
            }
        }
        self.slot.replace(acceptor);
        for install in installs {
            install();
        }
        Ok(())
    }

    /// Serves reload requests and CA changes until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut seen = self.extra.as_ref().and_then(|e| e.version());
        let mut generation = 0_u64;
        let mut poll = tokio::time::interval(CA_POLL_INTERVAL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let requested = tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                () = self.handle.notify.notified() => true,
                _ = poll.tick() => false,
            };
            let version = self.extra.as_ref().and_then(|e| e.version());
            if !requested && version == seen {
                continue;
            }
            match self.reload(requested) {
                Ok(()) => {
                    generation += 1;
                    seen = version;
                    let why = if requested {
                        "requested"
                    } else {
                        "client CAs changed"
                    };
                    tracing::info!(generation, why, "tls identity reloaded");
                    let _previous = self.handle.outcome.send_replace(Ok(generation));
                }
                Err(e) => {
                    // Keep serving with the acceptor in force; retry on the next change or request.
                    seen = version;
                    tracing::warn!(error = %e, "tls reload refused; keeping the identity in force");
                    let _previous = self.handle.outcome.send_replace(Err(e.to_string()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_reported_with_its_path() {
        let files = TlsFiles {
            chain: PathBuf::from("/nonexistent/chain.pem"),
            key: PathBuf::from("/nonexistent/key.pem"),
            client_ca: vec![],
        };
        match files.load(&[]) {
            Err(TlsError::Read { path, .. }) => {
                assert_eq!(path, PathBuf::from("/nonexistent/chain.pem"));
            }
            other => panic!("expected a read error, got {other:?}"),
        }
    }
}
