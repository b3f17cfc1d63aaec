//! The relay: a background task that takes due messages from the outbox, queues them by home
//! peer, seals each peer's queue in batches (one signature over the batch's Merkle tree, module
//! `batch`), calls the peer's `PeerService.DeliverBatch` over mutual TLS, verifies the signed
//! receipts and journals the outcome of each message. Failed attempts are retried with
//! exponential backoff and jitter under the peer's [`super::RetryPolicy`] until its deadline,
//! when the message fails, journaled.
//!
//! Batches form by themselves: at most [`MAX_BATCHES_IN_FLIGHT_PER_PEER`] are in flight towards
//! a peer, and what arrives meanwhile waits in the queue for the next one, so a quiet bridge
//! sends each message at once, alone, and a busy one sends up to [`MAX_BATCH_ENVELOPES`] per call.
//! While a batch is in flight, another one starts only once the queue holds most of a batch
//! ([`FOLLOW_ON_ENVELOPES`], or most of the payload budget); otherwise the queue waits for the
//! answer, at most one round trip. A batch's seals, commits and wake-ups cost the same whatever
//! its size, so at moderate load this halves the CPU they take per message, and under a backlog
//! all the batches in flight still go out full.
//! At most [`MAX_QUEUED_PER_PEER`] messages wait in memory per peer; a larger backlog stays in the
//! outbox, where the scan finds it again.
//!
//! The task is owned by a [`RelayGuard`]: dropping it (or [`RelayGuard::stop`]) ends the loop;
//! attempts in flight are abandoned and retried after a restart, which the peer's dedupe makes
//! harmless.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::join_all;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;

use bridge_proto::pb;
use bridge_proto::pb::batch_outcome::Outcome as WireOutcome;
use bridge_proto::pb::peer_service_client::PeerServiceClient;

use crate::journal::{Decision, Evidence};
use tokio::sync::watch;
use tonic::transport::Channel;
use trust_lists::Usage;

use super::batch::{BatchKind, SignedBatch};
use super::deliver::ReceiptCheck;
use super::service::unix_nanos;
use super::trust::trusted_for;
use super::{Exchange, Peer, SealedContent, MAX_BATCH_ENVELOPES};
use crate::journal::{EntryKind, JournalEntry, PayloadDigest};
use crate::slot::Slot;
use crate::store::outbox::{OutboxRecord, OutboxState, StoredReceipt};
use crate::tls::{self, ClientIdentity, ReloadFollower, ServerIdentity, TlsError};

/// Batches in flight at once towards one peer: enough to keep the link busy while the next
/// batch fills, few enough that messages queue into larger batches under load. With
/// [`MAX_BATCH_ENVELOPES`] and the payload bound per batch it also bounds the payloads held in
/// memory per peer.
pub const MAX_BATCHES_IN_FLIGHT_PER_PEER: usize = 4;
/// Messages that must be queued for a batch to start while another is in flight towards the same
/// peer (module doc): three quarters of a full batch. Under `bench submit` with 64 submitters
/// batches went from about 24 envelopes to about 54 and the CPU per message down by about 8%.
pub const FOLLOW_ON_ENVELOPES: usize = 3 * MAX_BATCH_ENVELOPES / 4;
/// Messages waiting in memory for a batch, per peer: the next batches in flight, twice over.
/// Beyond it a due message stays in the outbox alone, where the next scan (at most
/// `IDLE_RESCAN` later) finds it again, so a backlog costs disk, not memory.
pub const MAX_QUEUED_PER_PEER: usize = 2 * MAX_BATCHES_IN_FLIGHT_PER_PEER * MAX_BATCH_ENVELOPES;
/// Pending messages looked at per scan of the outbox.
const SCAN_LIMIT: usize = 4096;
/// The loop rescans at least this often (for due retries and missed wake-ups).
const IDLE_RESCAN: Duration = Duration::from_millis(250);
/// Least time between two scans fed by a backlog: once due messages were left in the outbox
/// because the queues were full, the loop scans again as soon as a batch has finished (made
/// room), but not more often than this, since each scan reads up to [`SCAN_LIMIT`] keys. So a
/// backlog drains at the peer's pace instead of one queueful per [`IDLE_RESCAN`], and a stalled
/// peer (no batch finishes) costs no more scans than an idle one.
const BACKLOG_RESCAN: Duration = Duration::from_millis(20);

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

/// A due message, waiting for a batch.
struct Due {
    key: Vec<u8>,
    record: OutboxRecord,
    /// The payload, when Submit handed it over (a first attempt); else read from the outbox.
    payload: Option<Vec<u8>>,
}

/// Due messages by peer, and the batches in flight towards each.
#[derive(Default)]
struct Queues {
    by_peer: HashMap<String, VecDeque<Due>>,
    batches_in_flight: HashMap<String, usize>,
}

/// What became of one message of a batch.
enum Outcome {
    /// The peer's receipt verified.
    Delivered(StoredReceipt),
    /// Not this time; `forwarded` when the peer answered but its receipt did not verify.
    Retry { reason: String, forwarded: bool },
    /// Given up, journaled with the reason.
    Fail(&'static str),
}

struct Relay {
    ex: Arc<Exchange>,
    identity: RelayIdentity,
    channels: Mutex<Channels>,
    /// Keys queued or in a batch: the scan skips them.
    in_flight: Mutex<HashSet<Vec<u8>>>,
    queues: Mutex<Queues>,
    /// Set when a due message was left in the outbox because its queue was full.
    left_behind: AtomicBool,
    /// Set when a batch finished (its messages left the queues' count) since the last scan.
    room_made: AtomicBool,
}

impl Drop for Relay {
    fn drop(&mut self) {
        // What is still queued goes back to the outbox alone: it no longer counts.
        let queued: usize = match self.queues.get_mut() {
            Ok(q) => q.by_peer.values().map(VecDeque::len).sum(),
            Err(p) => p.get_ref().by_peer.values().map(VecDeque::len).sum(),
        };
        self.ex
            .relay_counts
            .queued
            .fetch_sub(queued as u64, Ordering::Relaxed);
    }
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
        queues: Mutex::new(Queues::default()),
        left_behind: AtomicBool::new(false),
        room_made: AtomicBool::new(false),
    });
    let task = tokio::spawn(async move {
        let mut next_scan = tokio::time::Instant::now();
        let mut last_scan = next_scan;
        loop {
            let wake = relay.ex.relay_wake.notified();
            tokio::pin!(wake);
            wake.as_mut().enable();
            // Fresh acceptances go straight to their peer's queue; the outbox is scanned only
            // for due retries and for what an earlier process left pending.
            let fresh = relay
                .ex
                .fresh
                .lock()
                .map(|mut f| std::mem::take(&mut *f))
                .unwrap_or_default();
            let now = unix_nanos(relay.ex.now());
            for f in fresh {
                relay.enqueue_record(f.key, f.record, Some(f.payload), now);
            }
            if relay.left_behind.load(Ordering::Relaxed) && relay.room_made.load(Ordering::Relaxed)
            {
                next_scan = next_scan.min(last_scan + BACKLOG_RESCAN);
            }
            if tokio::time::Instant::now() >= next_scan {
                // The scan sets `left_behind` again if the queues fill up before it is done.
                relay.left_behind.store(false, Ordering::Relaxed);
                relay.room_made.store(false, Ordering::Relaxed);
                let wait = relay.scan().unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "relay scan failed");
                    IDLE_RESCAN
                });
                last_scan = tokio::time::Instant::now();
                next_scan = last_scan + wait.min(IDLE_RESCAN);
            }
            relay.dispatch();
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

/// True when `queue` holds [`FOLLOW_ON_ENVELOPES`] messages, or payloads of three quarters of
/// `budget` (the payload bound of one batch): a batch started now would be mostly full.
fn fills_most_of_a_batch(queue: &VecDeque<Due>, budget: u64) -> bool {
    if queue.len() >= FOLLOW_ON_ENVELOPES {
        return true;
    }
    let mut bytes = 0u64;
    queue.iter().any(|due| {
        bytes = bytes.saturating_add(due.record.payload_size);
        bytes >= budget / 4 * 3
    })
}

impl Relay {
    /// Queues every due pending message; returns how long until the next is due.
    fn scan(&self) -> Result<Duration, crate::store::StoreError> {
        let now = unix_nanos(self.ex.now());
        let mut next = IDLE_RESCAN;
        for (key, next_at) in self.ex.outbox.pending(SCAN_LIMIT)? {
            // Not due, or already queued: no need to decode the record.
            if next_at > now && !self.clock_went_back(None, next_at, now) {
                let wait = u64::try_from(next_at - now).unwrap_or(0);
                next = next.min(Duration::from_nanos(wait));
                continue;
            }
            if self.in_flight.lock().is_ok_and(|s| s.contains(&key)) {
                continue;
            }
            if let Some(wait) = self.enqueue(key, now)? {
                next = next.min(wait);
            }
        }
        Ok(next)
    }

    /// Queues `key` for its peer if it is due and not already queued; otherwise returns how
    /// long until it is due (`None` when there is nothing to wait for).
    fn enqueue(
        &self,
        key: Vec<u8>,
        now: i64,
    ) -> Result<Option<Duration>, crate::store::StoreError> {
        if self.queues_full() {
            // Left in the outbox: a scan finds it once there is room.
            self.left_behind.store(true, Ordering::Relaxed);
            return Ok(None);
        }
        let Some(record) = self.ex.outbox.get(&key)? else {
            return Ok(None);
        };
        Ok(self.enqueue_record(key, record, None, now))
    }

    /// [`Relay::enqueue`] for a record already read (or just stored by Submit, with its
    /// `payload`).
    fn enqueue_record(
        &self,
        key: Vec<u8>,
        record: OutboxRecord,
        payload: Option<Vec<u8>>,
        now: i64,
    ) -> Option<Duration> {
        if self.queues_full() {
            self.left_behind.store(true, Ordering::Relaxed);
            return None;
        }
        if record.journal_indexes.is_empty() || record.state.is_terminal() {
            return None;
        }
        if record.next_attempt_at > now
            && !self.clock_went_back(Some(&record.peer), record.next_attempt_at, now)
        {
            let wait = u64::try_from(record.next_attempt_at - now).unwrap_or(0);
            return Some(Duration::from_nanos(wait));
        }
        let Ok(mut queues) = self.queues.lock() else {
            return None;
        };
        let queue = queues.by_peer.entry(record.peer.clone()).or_default();
        if queue.len() >= MAX_QUEUED_PER_PEER {
            self.left_behind.store(true, Ordering::Relaxed);
            return None;
        }
        // Lock order: `queues`, then `in_flight` (nowhere the other way round).
        let newly = self
            .in_flight
            .lock()
            .is_ok_and(|mut set| set.insert(key.clone()));
        if !newly {
            return None;
        }
        queue.push_back(Due {
            key,
            record,
            payload,
        });
        self.ex.relay_counts.queued.fetch_add(1, Ordering::Relaxed);
        None
    }

    /// True when every configured peer could have a full queue: checked before a record is
    /// read, so that a backlog is not read from the outbox only to be left there.
    fn queues_full(&self) -> bool {
        let peers = self.ex.settings.peers.countries().count().max(1);
        let queued = self.ex.relay_counts.queued.load(Ordering::Relaxed);
        queued >= (peers * MAX_QUEUED_PER_PEER) as u64
    }

    /// Starts a batch for every peer with queued messages and fewer than
    /// [`MAX_BATCHES_IN_FLIGHT_PER_PEER`] batches in flight: at once when none is in flight,
    /// otherwise once the queue holds most of a batch ([`fills_most_of_a_batch`]). A batch takes
    /// up to [`MAX_BATCH_ENVELOPES`] messages whose payloads fit `exchange.max_payload` together
    /// (a message alone always fits: it was accepted under that bound).
    fn dispatch(self: &Arc<Self>) {
        let Ok(mut queues) = self.queues.lock() else {
            return;
        };
        let Queues {
            by_peer,
            batches_in_flight,
        } = &mut *queues;
        let budget = self.ex.settings.max_payload;
        for (peer, queue) in by_peer.iter_mut() {
            let in_flight = batches_in_flight.entry(peer.clone()).or_default();
            while *in_flight < MAX_BATCHES_IN_FLIGHT_PER_PEER
                && !queue.is_empty()
                && (*in_flight == 0 || fills_most_of_a_batch(queue, budget))
            {
                let mut batch = Vec::new();
                let mut bytes = 0u64;
                while let Some(next) = queue.front() {
                    let size = next.record.payload_size;
                    if batch.len() == MAX_BATCH_ENVELOPES
                        || (!batch.is_empty() && bytes.saturating_add(size) > budget)
                    {
                        break;
                    }
                    bytes = bytes.saturating_add(size);
                    batch.extend(queue.pop_front());
                }
                let counts = &self.ex.relay_counts;
                counts
                    .queued
                    .fetch_sub(batch.len() as u64, Ordering::Relaxed);
                *in_flight += 1;
                let relay = self.clone();
                let peer = peer.clone();
                tokio::spawn(async move {
                    let keys: Vec<Vec<u8>> = batch.iter().map(|d| d.key.clone()).collect();
                    relay.attempt(&peer, batch).await;
                    if let Ok(mut set) = relay.in_flight.lock() {
                        for key in &keys {
                            set.remove(key);
                        }
                    }
                    if let Ok(mut queues) = relay.queues.lock() {
                        if let Some(n) = queues.batches_in_flight.get_mut(&peer) {
                            *n = n.saturating_sub(1);
                        }
                    }
                    relay.room_made.store(true, Ordering::Relaxed);
                    // The queue may hold what arrived meanwhile: the loop sends it now.
                    relay.ex.relay_wake.notify_one();
                });
            }
        }
        by_peer.retain(|_, queue| !queue.is_empty());
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
        let client =
            PeerServiceClient::new(channel).max_decoding_message_size(crate::grpc::MAX_PEER_ANSWER);
        channels
            .by_country
            .insert(peer.country.clone(), client.clone());
        Ok(client)
    }

    /// One DeliverBatch attempt for `batch`, all towards `country`, then each message's outcome
    /// settled: delivered, retried later, or failed at its deadline.
    async fn attempt(&self, country: &str, batch: Vec<Due>) {
        let now = unix_nanos(self.ex.now());
        let Some(peer) = self.ex.settings.peers.get(country).cloned() else {
            let failed = batch
                .into_iter()
                .map(|d| (d, Outcome::Fail("peer_not_configured")));
            return self.settle_all(failed, None, now).await;
        };
        let deadline = i64::try_from(peer.retry.deadline.as_nanos()).unwrap_or(i64::MAX);
        let (expired, mut live): (Vec<Due>, Vec<Due>) = batch
            .into_iter()
            .partition(|d| now.saturating_sub(d.record.accepted_at) > deadline);
        for d in &mut live {
            d.record.attempts = d.record.attempts.saturating_add(1);
        }
        let outcomes = self.deliver_batch(&mut live, &peer, now).await;
        let now = unix_nanos(self.ex.now());
        let settled = expired
            .into_iter()
            .map(|d| (d, Outcome::Fail("deadline_exceeded")))
            .chain(live.into_iter().zip(outcomes));
        self.settle_all(settled, Some(&peer), now).await;
    }

    /// Seals `batch` for `peer`, calls DeliverBatch and checks each answer: one outcome per
    /// message, in order. A message whose payload or content cannot be read or encoded is left
    /// out of the call and retried later; the others go.
    async fn deliver_batch(&self, batch: &mut [Due], peer: &Peer, now: i64) -> Vec<Outcome> {
        let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(batch.len());
        let (mut sent, mut envelopes) = (Vec::new(), Vec::new());
        for due in batch.iter_mut() {
            match self.envelope(due, peer, now) {
                Ok(envelope) => {
                    outcomes.push(None);
                    sent.push(&*due);
                    envelopes.push(envelope);
                }
                Err(reason) => outcomes.push(Some(Outcome::Retry {
                    reason,
                    forwarded: false,
                })),
            }
        }
        if !envelopes.is_empty() {
            let mut answers = self.call(&sent, envelopes, peer, now).await.into_iter();
            for slot in outcomes.iter_mut().filter(|o| o.is_none()) {
                *slot = answers.next();
            }
        }
        outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or(Outcome::Retry {
                    reason: "batch answer missing".into(),
                    forwarded: false,
                })
            })
            .collect()
    }

    /// The wire envelope of `due` for `peer`, sealed content included; `Err` with the reason to
    /// retry it later.
    fn envelope(
        &self,
        due: &mut Due,
        peer: &Peer,
        now: i64,
    ) -> Result<pb::BatchedEnvelope, String> {
        let payload = match due.payload.take() {
            Some(p) => p,
            None => match self.ex.outbox.payload(&due.key) {
                Ok(Some(p)) => p,
                _ => return Err("payload_unavailable".into()),
            },
        };
        let record = &due.record;
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
        let sealed_content = content.encode().map_err(|e| format!("seal: {e}"))?;
        Ok(pb::BatchedEnvelope {
            message_id: record.message_id.clone(),
            sender_hcid: record.sender.clone(),
            recipient_hcid: record.recipient.clone(),
            payload,
            payload_sha256: record.payload_sha256.to_vec(),
            sealed_content,
        })
    }

    /// Seals `envelopes` (those of `batch`, in order) under one batch head, calls DeliverBatch
    /// and checks each answer: one outcome per envelope.
    async fn call(
        &self,
        batch: &[&Due],
        envelopes: Vec<pb::BatchedEnvelope>,
        peer: &Peer,
        now: i64,
    ) -> Vec<Outcome> {
        let retry_all = |reason: String, forwarded: bool| {
            batch
                .iter()
                .map(|_| Outcome::Retry {
                    reason: reason.clone(),
                    forwarded,
                })
                .collect::<Vec<_>>()
        };
        let local = &self.ex.settings.local_peer;
        let leaves: Vec<Vec<u8>> = envelopes.iter().map(|e| e.sealed_content.clone()).collect();
        let seal = self.ex.seal();
        let signed =
            match SignedBatch::sign(&seal, BatchKind::Seal, local, &peer.country, now, &leaves) {
                Ok(s) => s,
                Err(e) => return retry_all(format!("seal: {e}"), false),
            };
        let request = pb::SealedBatch {
            origin_peer_id: local.clone(),
            envelopes,
            batch_head: signed.head,
            seal: signed.signature,
            seal_chain: signed.seal_chain,
        };
        let mut client = match self.channel(peer) {
            Ok(c) => c,
            Err(e) => return retry_all(e, false),
        };
        let counts = &self.ex.relay_counts;
        counts.batches.fetch_add(1, Ordering::Relaxed);
        counts
            .envelopes
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        let answer =
            match tokio::time::timeout(peer.retry.attempt_timeout, client.deliver_batch(request))
                .await
            {
                Err(_) => return retry_all("timeout".into(), false),
                Ok(Err(s)) => return retry_all(format!("{:?}: {}", s.code(), s.message()), false),
                Ok(Ok(answer)) => {
                    let mut answer = answer.into_inner();
                    crate::grpc::peer::unpack_signed_heads(&mut answer);
                    answer.outcomes
                }
            };
        if answer.len() != batch.len() {
            let reason = format!(
                "batch answer has {} outcomes for {} envelopes",
                answer.len(),
                batch.len()
            );
            return retry_all(reason, true);
        }
        let at = self.ex.now();
        let mut check = ReceiptCheck::new(&self.ex.signers, self.ex.trust.as_ref(), local, at);
        batch
            .iter()
            .zip(answer)
            .map(|(due, outcome)| match outcome.outcome {
                Some(WireOutcome::Receipt(r)) => {
                    let receipt = StoredReceipt::from(r);
                    match check.check(&receipt, &due.record) {
                        Ok(_) => Outcome::Delivered(receipt),
                        Err(e) => Outcome::Retry {
                            reason: format!("receipt refused: {e}"),
                            forwarded: true,
                        },
                    }
                }
                Some(WireOutcome::Refusal(r)) => Outcome::Retry {
                    reason: format!("{:?}: {}", tonic::Code::from(r.code), r.message),
                    forwarded: false,
                },
                None => Outcome::Retry {
                    reason: "batch answer without an outcome".into(),
                    forwarded: true,
                },
            })
            .collect()
    }

    /// Records every message's outcome, concurrently so that their writes share commits. The
    /// receipts' chains are archived once per distinct chain, as the evidence of their
    /// decisions. `peer` is `None` when it is no longer configured.
    async fn settle_all(
        &self,
        settled: impl Iterator<Item = (Due, Outcome)>,
        peer: Option<&Peer>,
        now: i64,
    ) {
        let settled: Vec<(Due, Outcome)> = settled.collect();
        // Usually one chain per answer: compared whole, archived once.
        let mut evidence: Vec<(&[Vec<u8>], Option<Evidence>)> = Vec::new();
        for (_, outcome) in &settled {
            let Outcome::Delivered(receipt) = outcome else {
                continue;
            };
            let chain = receipt.seal_chain.as_slice();
            if evidence.iter().any(|(c, _)| *c == chain) {
                continue;
            }
            match self.ex.evidence_for(Decision::ReceiptSeal, chain).await {
                Ok(e) => evidence.push((chain, e)),
                Err(e) => {
                    // Not recorded: the messages stay pending; the redelivery returns the same
                    // receipts.
                    tracing::warn!(error = %e, "evidence archive failed after delivery; retrying later");
                }
            }
        }
        let evidence: Vec<(Vec<Vec<u8>>, Option<Evidence>)> = evidence
            .into_iter()
            .map(|(chain, e)| (chain.to_vec(), e))
            .collect();
        // Delivered messages are journaled together (one request to the writer, `forwarded`
        // and `receipt` of each message side by side) and recorded in one outbox job; the rare
        // failures and retries go one by one.
        let mut delivered = Vec::new();
        let mut others = Vec::new();
        for (Due { key, record, .. }, outcome) in settled {
            match outcome {
                Outcome::Delivered(receipt) => {
                    let archived = evidence.iter().find(|(c, _)| *c == receipt.seal_chain);
                    if let Some((_, e)) = archived {
                        delivered.push((key, record, receipt, *e));
                    }
                }
                other => others.push((key, record, other)),
            }
        }
        let settle_others = join_all(others.into_iter().map(|(key, record, outcome)| async move {
            match outcome {
                Outcome::Fail(reason) => self.fail(&key, record, reason, now).await,
                Outcome::Retry { reason, forwarded } => {
                    self.retry_later(&key, record, reason, forwarded, peer, now)
                        .await;
                }
                // Sorted into `delivered` above.
                Outcome::Delivered(_) => {}
            }
        }));
        tokio::join!(self.delivered(delivered, now), settle_others);
    }

    /// Records a failed attempt and when to try again.
    async fn retry_later(
        &self,
        key: &[u8],
        mut record: OutboxRecord,
        reason: String,
        forwarded: bool,
        peer: Option<&Peer>,
        now: i64,
    ) {
        tracing::info!(message.id = %record.message_id, peer = %record.peer, attempt = record.attempts, reason = %reason, "delivery attempt failed");
        if forwarded {
            record.state = OutboxState::Forwarded;
        }
        let delay = peer.map_or(IDLE_RESCAN, |p| p.retry.backoff(record.attempts, jitter()));
        record.reason = Some(reason);
        record.updated_at = now;
        record.next_attempt_at =
            now.saturating_add(i64::try_from(delay.as_nanos()).unwrap_or(i64::MAX));
        if let Err(e) = self.ex.outbox.update(key.to_vec(), &record).await {
            tracing::warn!(error = %e, "outbox update failed");
        }
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

    /// Journals `forwarded` and `receipt` for each delivered message, then records them
    /// delivered with their receipts. When the journal refuses, nothing is recorded: the messages
    /// stay pending and their redelivery returns the same receipts.
    async fn delivered(
        &self,
        delivered: Vec<(Vec<u8>, OutboxRecord, StoredReceipt, Option<Evidence>)>,
        now: i64,
    ) {
        if delivered.is_empty() {
            return;
        }
        let mut entries = Vec::with_capacity(2 * delivered.len());
        for (_, record, _, evidence) in &delivered {
            entries.push(self.entry(EntryKind::Forwarded, record, now));
            let mut receipted = self.entry(EntryKind::Receipt, record, now);
            // The receipt's seal chain was just validated: it is the evidence of this decision.
            receipted.evidence = *evidence;
            entries.push(receipted);
        }
        let indexes = match self.ex.journal.append_all_async(&entries).await {
            Ok(receipts) => receipts,
            Err(e) => {
                tracing::warn!(error = %e, "journal append failed after delivery");
                return;
            }
        };
        let records: Vec<(Vec<u8>, OutboxRecord)> = delivered
            .into_iter()
            .zip(indexes.chunks(2))
            .map(|((key, mut record, receipt, _), journaled)| {
                record
                    .journal_indexes
                    .extend(journaled.iter().map(|r| r.index));
                record.state = OutboxState::Delivered;
                record.receipt = Some(receipt);
                record.reason = None;
                record.updated_at = now;
                (key, record)
            })
            .collect();
        let updates = records.iter().map(|(k, r)| (k.clone(), r)).collect();
        if let Err(e) = self.ex.outbox.update_all(updates).await {
            tracing::warn!(error = %e, "outbox update failed");
            return;
        }
        for (_, record) in &records {
            tracing::debug!(message.id = %record.message_id, peer = %record.peer, "delivered");
        }
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
