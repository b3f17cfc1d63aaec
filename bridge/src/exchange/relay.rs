//! The relay: a background task that takes due messages from the outbox, seals them for their
//! home peer, calls the peer's `PeerService.Deliver` over mutual TLS, verifies the signed receipt
//! and journals the outcome. Failed attempts are retried with exponential backoff and jitter
//! under the peer's [`super::RetryPolicy`] until its deadline, when the message fails, journaled.
//!
//! The task is owned by a [`RelayGuard`]: dropping it (or [`RelayGuard::stop`]) ends the loop;
//! attempts in flight are abandoned and retried after a restart, which the peer's dedupe makes
//! harmless.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openssl::pkey::{PKey, Private};
use openssl::x509::X509;

use bridge_proto::pb;
use bridge_proto::pb::peer_service_client::PeerServiceClient;

use crate::journal::Decision;
use tokio::sync::{watch, Semaphore};
use tonic::transport::Channel;
use trust_lists::Usage;

use super::deliver::verify_receipt_with;
use super::service::unix_nanos;
use super::trust::trusted_for;
use super::{Exchange, Peer, SealedContent};
use crate::journal::{EntryKind, JournalEntry, PayloadDigest};
use crate::slot::Slot;
use crate::store::outbox::{OutboxRecord, OutboxState, StoredReceipt};
use crate::tls::{self, ClientIdentity, ReloadFollower, ServerIdentity, TlsError};

/// Deliveries in flight at once across all peers: bounds memory (each holds a payload) and the
/// sockets a recovering peer receives at once.
pub const MAX_CONCURRENT_ATTEMPTS: usize = 256;
/// Pending messages looked at per scan of the outbox.
const SCAN_LIMIT: usize = 4096;
/// The loop rescans at least this often (for due retries and missed wake-ups).
const IDLE_RESCAN: Duration = Duration::from_millis(250);

/// Owns the relay task; dropping it stops the task.
#[derive(Debug)]
pub struct RelayGuard {
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RelayGuard {
    /// Stops the loop and waits for it to end.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RelayGuard {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The TLS client identity the relay presents to peers: the server's own certificate, so it is
/// replaced when a requested reload installs a new server identity. Cloning shares the slot.
#[derive(Clone, Debug)]
pub struct RelayIdentity(Slot<ClientIdentity>);

impl RelayIdentity {
    /// The slot, holding `client` (its server CAs are ignored: each peer's come from the trusted
    /// lists).
    pub fn new(client: ClientIdentity) -> RelayIdentity {
        RelayIdentity(Slot::from(client))
    }

    /// Presents `chain` with `key` from the next connection on.
    pub fn replace(&self, chain: Vec<X509>, key: PKey<Private>) {
        self.0.replace(ClientIdentity {
            chain,
            key: Some(key),
            server_cas: Vec::new(),
        });
    }
}

impl ReloadFollower for RelayIdentity {
    fn prepare(&self, identity: &ServerIdentity) -> Result<Box<dyn FnOnce() + Send>, TlsError> {
        let (slot, chain, key) = (self.clone(), identity.chain.clone(), identity.key.clone());
        Ok(Box::new(move || slot.replace(chain, key)))
    }
}

/// Channels to the peers by country, all made with the identity `made_with`.
#[derive(Default)]
struct Channels {
    made_with: Option<Arc<ClientIdentity>>,
    by_country: HashMap<String, PeerServiceClient<Channel>>,
}

struct Relay {
    ex: Arc<Exchange>,
    identity: RelayIdentity,
    channels: Mutex<Channels>,
    in_flight: Mutex<HashSet<Vec<u8>>>,
    permits: Arc<Semaphore>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay").finish_non_exhaustive()
    }
}

/// Starts the relay for `ex`, connecting to peers with the identity in `identity` (this bridge's
/// TLS client certificate; the server CAs are taken from the trust lists per peer country).
pub fn spawn_relay(ex: Arc<Exchange>, identity: RelayIdentity) -> RelayGuard {
    let (stop, mut stopped) = watch::channel(false);
    let relay = Arc::new(Relay {
        ex,
        identity,
        channels: Mutex::new(Channels::default()),
        in_flight: Mutex::new(HashSet::new()),
        permits: Arc::new(Semaphore::new(MAX_CONCURRENT_ATTEMPTS)),
    });
    let task = tokio::spawn(async move {
        let mut next_scan = tokio::time::Instant::now();
        loop {
            let wake = relay.ex.relay_wake.notified();
            tokio::pin!(wake);
            wake.as_mut().enable();
            // Fresh acceptances go straight to an attempt; the outbox is scanned only for due
            // retries and for what an earlier process left pending.
            let fresh = relay
                .ex
                .fresh
                .lock()
                .map(|mut f| std::mem::take(&mut *f))
                .unwrap_or_default();
            let now = unix_nanos(relay.ex.now());
            for key in fresh {
                if let Err(e) = relay.start(key, now).await {
                    tracing::warn!(error = %e, "relay start failed");
                }
            }
            if tokio::time::Instant::now() >= next_scan {
                let wait = relay.scan().await.unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "relay scan failed");
                    IDLE_RESCAN
                });
                next_scan = tokio::time::Instant::now() + wait.min(IDLE_RESCAN);
            }
            tokio::select! {
                _ = wake => {}
                _ = tokio::time::sleep_until(next_scan) => {}
                _ = stopped.wait_for(|s| *s) => break,
            }
        }
    });
    RelayGuard {
        stop,
        task: Some(task),
    }
}

fn jitter() -> f64 {
    let mut b = [0u8; 2];
    match openssl::rand::rand_bytes(&mut b) {
        Ok(()) => f64::from(u16::from_be_bytes(b)) / f64::from(u16::MAX),
        Err(_) => 0.5,
    }
}

impl Relay {
    /// Starts an attempt for every due pending message; returns how long until the next is due.
    async fn scan(self: &Arc<Self>) -> Result<Duration, crate::store::StoreError> {
        let now = unix_nanos(self.ex.now());
        let mut next = IDLE_RESCAN;
        for (key, next_at) in self.ex.outbox.pending(SCAN_LIMIT)? {
            // Not due, or already being attempted: no need to decode the record.
            if next_at > now && !self.clock_went_back(None, next_at, now) {
                let wait = u64::try_from(next_at - now).unwrap_or(0);
                next = next.min(Duration::from_nanos(wait));
                continue;
            }
            if self.in_flight.lock().is_ok_and(|s| s.contains(&key)) {
                continue;
            }
            if let Some(wait) = self.start(key, now).await? {
                next = next.min(wait);
            }
        }
        Ok(next)
    }

    /// Starts an attempt for `key` if it is due and not already in flight; otherwise returns
    /// how long until it is due (`None` when there is nothing to wait for).
    async fn start(
        self: &Arc<Self>,
        key: Vec<u8>,
        now: i64,
    ) -> Result<Option<Duration>, crate::store::StoreError> {
        let Some(record) = self.ex.outbox.get(&key)? else {
            return Ok(None);
        };
        if record.journal_indexes.is_empty() || record.state.is_terminal() {
            return Ok(None);
        }
        if record.next_attempt_at > now
            && !self.clock_went_back(Some(&record.peer), record.next_attempt_at, now)
        {
            let wait = u64::try_from(record.next_attempt_at - now).unwrap_or(0);
            return Ok(Some(Duration::from_nanos(wait)));
        }
        {
            let Ok(mut set) = self.in_flight.lock() else {
                return Ok(None);
            };
            if !set.insert(key.clone()) {
                return Ok(None);
            }
        }
        let Ok(permit) = self.permits.clone().acquire_owned().await else {
            return Ok(None);
        };
        let relay = self.clone();
        tokio::spawn(async move {
            relay.attempt(&key, record).await;
            if let Ok(mut set) = relay.in_flight.lock() {
                set.remove(&key);
            }
            drop(permit);
        });
        Ok(None)
    }

    /// True when `next_at` lies further ahead of `now` than any backoff towards `peer` (any
    /// peer when `None`) can put it: the wall clock went back since it was stored, so the stored
    /// time is stale and the attempt is due now. Without this a clock stepped back by a day
    /// would stall every retry for a day; backoff is meant to follow elapsed time, not the
    /// calendar (`RetryPolicy::deadline` is the one wall-clock rule).
    fn clock_went_back(&self, peer: Option<&str>, next_at: i64, now: i64) -> bool {
        let peers = &self.ex.settings.peers;
        let cap = match peer.and_then(|p| peers.get(p)) {
            Some(p) => p.retry.max,
            None => peers
                .countries()
                .filter_map(|c| peers.get(c))
                .map(|p| p.retry.max)
                .max()
                .unwrap_or_default(),
        };
        next_at.saturating_sub(now) > i64::try_from(cap.as_nanos()).unwrap_or(i64::MAX)
    }

    fn channel(&self, peer: &Peer) -> Result<PeerServiceClient<Channel>, String> {
        let client = self.identity.0.current();
        let mut channels = self.channels.lock().map_err(|_| "poisoned".to_owned())?;
        if !channels
            .made_with
            .as_ref()
            .is_some_and(|made_with| Arc::ptr_eq(made_with, &client))
        {
            // A rotated certificate (or the first call): new connections present it. Calls in
            // flight on the old channels finish on them.
            channels.by_country.clear();
            channels.made_with = Some(client.clone());
        }
        if let Some(c) = channels.by_country.get(&peer.country) {
            return Ok(c.clone());
        }
        let mut identity = (*client).clone();
        identity.server_cas = self.ex.trust.anchors(&peer.country);
        let trust = self.ex.trust.clone();
        let country = peer.country.clone();
        // The peer's server certificate must be a qualified website certificate from its own
        // country's list now; the address is configuration, the identity is the trust list's.
        let clock = self.ex.clock.clone();
        let check: tls::ServerCheck = Arc::new(move |chain: &[Vec<u8>]| {
            let at = clock.now();
            trusted_for(trust.as_ref(), chain, at, Usage::Qwac, &country).is_ok()
        });
        let channel =
            tls::connect_checked(&peer.address, &identity, check).map_err(|e| e.to_string())?;
        let client = PeerServiceClient::new(channel);
        channels
            .by_country
            .insert(peer.country.clone(), client.clone());
        Ok(client)
    }

    async fn attempt(&self, key: &[u8], mut record: OutboxRecord) {
        let now = unix_nanos(self.ex.now());
        let Some(peer) = self.ex.settings.peers.get(&record.peer).cloned() else {
            return self.fail(key, record, "peer_not_configured", now).await;
        };
        let deadline = i64::try_from(peer.retry.deadline.as_nanos()).unwrap_or(i64::MAX);
        if now.saturating_sub(record.accepted_at) > deadline {
            return self.fail(key, record, "deadline_exceeded", now).await;
        }
        record.attempts = record.attempts.saturating_add(1);
        let outcome = self.deliver_once(key, &record, &peer, now).await;
        let now = unix_nanos(self.ex.now());
        match outcome {
            Ok(receipt) => self.delivered(key, record, receipt, now).await,
            Err((reason, forwarded)) => {
                tracing::info!(message.id = %record.message_id, peer = %peer.country, attempt = record.attempts, reason = %reason, "delivery attempt failed");
                if forwarded {
                    record.state = OutboxState::Forwarded;
                }
                let delay = peer.retry.backoff(record.attempts, jitter());
                record.reason = Some(reason);
                record.updated_at = now;
                record.next_attempt_at =
                    now.saturating_add(i64::try_from(delay.as_nanos()).unwrap_or(i64::MAX));
                if let Err(e) = self.ex.outbox.update(key.to_vec(), &record).await {
                    tracing::warn!(error = %e, "outbox update failed");
                }
            }
        }
    }

    /// One Deliver call. `Err((reason, forwarded))`: `forwarded` when the peer answered but its
    /// receipt did not verify.
    async fn deliver_once(
        &self,
        key: &[u8],
        record: &OutboxRecord,
        peer: &Peer,
        now: i64,
    ) -> Result<StoredReceipt, (String, bool)> {
        let payload = match self.ex.outbox.payload(key) {
            Ok(Some(p)) => p,
            _ => return Err(("payload_unavailable".into(), false)),
        };
        let content = SealedContent {
            message_id: record.message_id.clone(),
            sender_hcid: record.sender.clone(),
            recipient_hcid: record.recipient.clone(),
            payload_sha256: record.payload_sha256,
            payload_size: record.payload_size,
            origin_peer: self.ex.settings.local_peer.clone(),
            destination_peer: peer.country.clone(),
            sealed_at: now,
        };
        let seal = self.ex.seal();
        let sealed = content
            .encode()
            .and_then(|c| Ok((seal.sign(&c)?, c)))
            .and_then(|(s, c)| Ok((s, c, seal.chain_der()?)));
        let (seal, sealed_content, seal_chain) =
            sealed.map_err(|e| (format!("seal: {e}"), false))?;
        let request = pb::SealedEnvelope {
            message_id: record.message_id.clone(),
            sender_hcid: record.sender.clone(),
            recipient_hcid: record.recipient.clone(),
            payload,
            payload_sha256: record.payload_sha256.to_vec(),
            origin_peer_id: self.ex.settings.local_peer.clone(),
            sealed_content,
            seal,
            seal_chain,
        };
        let mut client = self.channel(peer).map_err(|e| (e, false))?;
        let answer = tokio::time::timeout(peer.retry.attempt_timeout, client.deliver(request))
            .await
            .map_err(|_| ("timeout".to_owned(), false))?
            .map_err(|s| (format!("{:?}: {}", s.code(), s.message()), false))?
            .into_inner();
        let receipt = StoredReceipt {
            signed_content: answer.signed_content,
            signature: answer.signature,
            seal_chain: answer.seal_chain,
        };
        let at = self.ex.now();
        verify_receipt_with(
            &self.ex.signers,
            &receipt,
            record,
            &self.ex.settings.local_peer,
            self.ex.trust.as_ref(),
            at,
        )
        .map_err(|e| (format!("receipt refused: {e}"), true))?;
        Ok(receipt)
    }

    fn entry(&self, kind: EntryKind, record: &OutboxRecord, now: i64) -> JournalEntry {
        JournalEntry {
            kind,
            unix_nanos: now,
            message_id: Some(record.message_id.clone()),
            sender: Some(record.sender.clone()),
            recipient: Some(record.recipient.clone()),
            peer: Some(record.peer.clone()),
            payload: Some(PayloadDigest {
                sha256: record.payload_sha256,
                size: record.payload_size,
            }),
            trust_snapshot: self.ex.trust.snapshot_digest(),
            evidence: None,
            reason: None,
        }
    }

    async fn delivered(
        &self,
        key: &[u8],
        mut record: OutboxRecord,
        receipt: StoredReceipt,
        now: i64,
    ) {
        let forwarded = self.entry(EntryKind::Forwarded, &record, now);
        let mut receipted = self.entry(EntryKind::Receipt, &record, now);
        // The receipt's seal chain was just validated: it is the evidence of this decision.
        match self
            .ex
            .evidence_for(Decision::ReceiptSeal, &receipt.seal_chain)
            .await
        {
            Ok(evidence) => receipted.evidence = evidence,
            Err(e) => {
                tracing::warn!(error = %e, "evidence archive failed after delivery; retrying later");
                return;
            }
        }
        let (f, r) = tokio::join!(
            self.ex.journal.append_async(&forwarded),
            self.ex.journal.append_async(&receipted)
        );
        match (f, r) {
            (Ok(f), Ok(r)) => record.journal_indexes.extend([f.index, r.index]),
            (Err(e), _) | (_, Err(e)) => {
                // Not journaled: leave the message pending; the redelivery returns the same receipt.
                tracing::warn!(error = %e, "journal append failed after delivery");
                return;
            }
        }
        record.state = OutboxState::Delivered;
        record.receipt = Some(receipt);
        record.reason = None;
        record.updated_at = now;
        if let Err(e) = self.ex.outbox.update(key.to_vec(), &record).await {
            tracing::warn!(error = %e, "outbox update failed");
        }
        tracing::debug!(message.id = %record.message_id, peer = %record.peer, "delivered");
    }

    async fn fail(&self, key: &[u8], mut record: OutboxRecord, reason: &str, now: i64) {
        let mut entry = self.entry(EntryKind::Failed, &record, now);
        entry.reason = Some(reason.to_owned());
        match self.ex.journal.append_async(&entry).await {
            Ok(r) => record.journal_indexes.push(r.index),
            Err(e) => {
                tracing::warn!(error = %e, "journal append failed");
                return;
            }
        }
        record.state = OutboxState::Failed;
        record.reason = Some(reason.to_owned());
        record.updated_at = now;
        if let Err(e) = self.ex.outbox.update(key.to_vec(), &record).await {
            tracing::warn!(error = %e, "outbox update failed");
        }
        tracing::info!(message.id = %record.message_id, peer = %record.peer, reason, "message failed");
    }
}
