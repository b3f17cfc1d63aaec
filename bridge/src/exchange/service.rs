//! The exchange core shared by the gRPC handlers and the relay: accepting envelopes (Submit), their
//! status and receipts. Delivery from peers and the inbox are in `deliver.rs`; the relay in
//! `relay.rs`. Time comes in as a parameter (`now`, Unix nanoseconds).

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use time::OffsetDateTime;
use tokio::sync::Notify;

use super::holder::{PresentationPolicy, SenderCheck, VerifiedHolder};
use super::{Envelope, ExchangeError, PeerSet, PeerTrust, SealKey, SignerKeys};
use crate::addressing::{Participant, Space, Translator};
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::identity::WalletVerifier;
use crate::journal::{Decision, EntryKind, Evidence, Journal, JournalEntry, PayloadDigest};
use crate::slot::Slot;
use crate::store::directory::DirectoryStore;
use crate::store::evidence::EvidenceStore;
use crate::store::inbox::InboxStore;
use crate::store::outbox::{outbox_key, Inserted, OutboxRecord, OutboxState, OutboxStore};

/// Unix nanoseconds of an instant (journal and record times).
pub fn unix_nanos(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

/// Most accepted messages waiting for the relay loop to take them, with their payloads: twice
/// what the relay queues for one peer.
const MAX_FRESH: usize = 2 * super::relay::MAX_QUEUED_PER_PEER;

/// A message Submit has just stored, handed to the relay with the record and payload it stored,
/// so that the first attempt reads neither back from the outbox. What the relay cannot queue at
/// once (its queues are full) it drops, and its scan reads it from the outbox later.
#[derive(Debug)]
pub(super) struct Fresh {
    pub(super) key: Vec<u8>,
    pub(super) record: OutboxRecord,
    pub(super) payload: Vec<u8>,
}

/// Who this bridge is and what it accepts.
#[derive(Debug, Clone)]
pub struct ExchangeSettings {
    /// This bridge's peer id: its country.
    pub local_peer: String,
    /// Payload bound in bytes (`exchange.max_payload`).
    pub max_payload: u64,
    /// The peer bridges.
    pub peers: PeerSet,
}

/// The answer to a Submit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The message id.
    pub message_id: String,
    /// Its state when answered.
    pub state: OutboxState,
    /// Index of its `accepted` journal entry.
    pub journal_index: u64,
    /// Canonical recipient.
    pub recipient: String,
    /// Home peer of the recipient.
    pub peer: String,
    /// True when this repeats the first answer.
    pub duplicate: bool,
}

/// The exchange: outbox, inbox, journal, seal and trust of one bridge.
#[derive(Debug)]
pub struct Exchange {
    pub(super) settings: ExchangeSettings,
    pub(super) translator: Arc<Translator<DirectoryStore>>,
    pub(super) outbox: OutboxStore,
    pub(super) inbox: InboxStore,
    pub(super) journal: Arc<Journal>,
    /// The seal in force; replaced whole when the seal is rotated ([`Exchange::replace_seal`]).
    seal: Slot<SealKey>,
    pub(super) trust: Arc<dyn PeerTrust>,
    /// Keys of the peers' seal certificates, parsed once (see [`SignerKeys`]).
    pub(super) signers: SignerKeys,
    in_flight: Mutex<HashSet<Vec<u8>>>,
    pub(super) arrivals: Notify,
    pub(super) relay_wake: Notify,
    /// Messages accepted since the relay last looked: attempted at once, without an outbox scan.
    pub(super) fresh: Mutex<Vec<Fresh>>,
    /// DeliverBatch calls the relay made, and the envelopes they carried.
    pub(super) relay_counts: RelayCounts,
    /// Where the certificate chains behind journaled trust decisions are archived, so that
    /// `journal verify --recheck` can re-run them; `None` journals decisions without evidence.
    evidence: Option<EvidenceStore>,
    /// How Submit checks the sender's wallet presentation; `None` refuses envelopes that carry one
    /// (nothing could verify it).
    sender_check: Option<SenderCheck>,
    /// The wall clock: acceptance times, journal entry times, deadlines and the instant at which
    /// seals and receipts are validated (`clock`).
    pub(super) clock: Arc<dyn Clock>,
}

/// The relay's DeliverBatch calls and the envelopes they carried, since start: their ratio is the
/// mean batch size (`bench submit` reports it).
#[derive(Debug, Default)]
pub(super) struct RelayCounts {
    pub(super) batches: AtomicU64,
    pub(super) envelopes: AtomicU64,
    /// Messages waiting in the relay's queues now.
    pub(super) queued: AtomicU64,
}

/// DeliverBatch calls made by the relay since start, and the envelopes they carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RelayStats {
    /// Calls made (answered or not).
    pub batches: u64,
    /// Envelopes sent in them.
    pub envelopes: u64,
    /// Messages waiting in memory for a batch now (at most `MAX_QUEUED_PER_PEER` per peer).
    pub queued: u64,
}

/// Releases an in-flight key when the submit or delivery ends, however it ends.
pub(super) struct InFlight<'a> {
    set: &'a Mutex<HashSet<Vec<u8>>>,
    key: Vec<u8>,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Ok(mut s) = self.set.lock() {
            s.remove(&self.key);
        }
    }
}

impl Exchange {
    /// Assembles the exchange.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        settings: ExchangeSettings,
        translator: Arc<Translator<DirectoryStore>>,
        outbox: OutboxStore,
        inbox: InboxStore,
        journal: Arc<Journal>,
        seal: SealKey,
        trust: Arc<dyn PeerTrust>,
    ) -> Exchange {
        Exchange {
            settings,
            translator,
            outbox,
            inbox,
            journal,
            seal: Slot::from(seal),
            trust,
            signers: SignerKeys::new(),
            in_flight: Mutex::new(HashSet::new()),
            arrivals: Notify::new(),
            relay_wake: Notify::new(),
            fresh: Mutex::new(Vec::new()),
            relay_counts: RelayCounts::default(),
            evidence: None,
            sender_check: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// The seal in force. Take it once per signature: its key and its chain go together.
    pub(super) fn seal(&self) -> Arc<SealKey> {
        self.seal.current()
    }

    /// Makes `seal` the one envelopes and receipts are sealed with from now on (a rotation:
    /// SIGHUP after the seal files were replaced). Seals already made stay as they were.
    pub fn replace_seal(&self, seal: SealKey) {
        self.seal.replace(seal);
    }

    /// Verifies the sender's wallet presentation in Submit with `verifier` (the one
    /// `IdentityService` issues challenges from) under `policy`.
    pub fn with_presentations(
        mut self,
        verifier: Arc<WalletVerifier>,
        policy: PresentationPolicy,
    ) -> Exchange {
        self.sender_check = Some(SenderCheck { verifier, policy });
        self
    }

    /// Reads wall time from `clock` instead of the system clock (fault tests jump it).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Exchange {
        self.clock = clock;
        self
    }

    /// The wall-clock instant now, from the exchange's clock.
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Archives the chains of trust decisions in `evidence` and journals their digests.
    pub fn with_evidence(mut self, evidence: EvidenceStore) -> Exchange {
        self.evidence = Some(evidence);
        self
    }

    /// Archives `chain` (durably, before the entry that cites it is appended) and returns the
    /// evidence to journal with `decision`; `None` when no archive is configured.
    ///
    /// # Errors
    /// Archive failures: the decision must then not be journaled as taken.
    pub(super) async fn evidence_for(
        &self,
        decision: Decision,
        chain: &[Vec<u8>],
    ) -> Result<Option<Evidence>> {
        let Some(store) = &self.evidence else {
            return Ok(None);
        };
        let digest = store
            .archive_async(chain)
            .await
            .map_err(|e| ExchangeError::Storage {
                reason: format!("evidence archive: {e}"),
            })?;
        Ok(Some(Evidence {
            decision,
            chain: digest,
        }))
    }

    /// Checks the envelope's presentation (module `holder`) and, when it binds a holder, returns
    /// the evidence to journal with `accepted`: the issuer chain archived under
    /// [`Decision::SenderHolder`] with its trust snapshot, when the trust lists anchored it.
    ///
    /// # Errors
    /// See `SenderCheck::check`; archive failures.
    async fn check_sender(
        &self,
        env: &Envelope,
        sender: &crate::addressing::Hcid,
        now: i64,
    ) -> Result<Option<(Evidence, [u8; 32])>> {
        let holder = match &self.sender_check {
            Some(check) => check.check(env.presentation.as_ref(), sender, now).await?,
            // No verifier wired: a presentation cannot be checked, so it is not silently accepted.
            None if env.presentation.is_some() => {
                return Err(Error::Internal("no wallet verifier for Submit".into()))
            }
            None => None,
        };
        let Some(VerifiedHolder {
            issuer_evidence: Some(ev),
            ..
        }) = holder
        else {
            return Ok(None);
        };
        Ok(self
            .evidence_for(Decision::SenderHolder, &ev.chain)
            .await?
            .map(|e| (e, ev.trust_snapshot)))
    }

    /// The settings in force.
    pub fn settings(&self) -> &ExchangeSettings {
        &self.settings
    }

    /// The trust in force.
    pub fn trust(&self) -> &Arc<dyn PeerTrust> {
        &self.trust
    }

    /// The space native to this bridge's country (canonical when it has none).
    pub fn local_space(&self) -> Space {
        Space::ALL
            .into_iter()
            .find(|s| s.country() == Some(self.settings.local_peer.as_str()))
            .unwrap_or(Space::Canonical)
    }

    pub(super) fn enter(&self, key: &[u8]) -> Result<InFlight<'_>> {
        let mut set = self
            .in_flight
            .lock()
            .map_err(|_| Error::Internal("in-flight set poisoned".into()))?;
        if !set.insert(key.to_vec()) {
            return Err(ExchangeError::InProgress.into());
        }
        Ok(InFlight {
            set: &self.in_flight,
            key: key.to_vec(),
        })
    }

    fn identify(&self, space: Space, value: &str) -> Result<Participant> {
        Ok(self.translator.identify(space, value)?)
    }

    /// Accepts an envelope: translates both addresses, finds the recipient's home peer, dedupes
    /// by (sender, message id), verifies the sender's wallet presentation and binds its holder to
    /// the sender (module `holder`), journals `accepted` (with the holder's issuer decision as
    /// [`Decision::SenderHolder`] evidence), stores durably in the outbox, then answers. A resend
    /// of an accepted message gets the first answer without a second presentation check.
    ///
    /// # Errors
    /// Address refusals, [`ExchangeError::NoHomePeer`], [`ExchangeError::PresentationRequired`],
    /// [`Error::Presentation`], [`ExchangeError::SenderNotHolder`] (then nothing is stored or
    /// journaled), [`ExchangeError::IdempotencyConflict`], [`ExchangeError::InProgress`],
    /// storage and journal failures (then nothing is acknowledged).
    pub async fn submit(&self, env: Envelope, now: i64) -> Result<Accepted> {
        // 1. Canonical sender and recipient.
        let sender = self.identify(env.sender.space, &env.sender.value)?;
        let recipient = self.identify(env.recipient.space, &env.recipient.value)?;
        // 2. The recipient's home peer: the directory's, else the configured peer of its country.
        let country = recipient.hcid.country().to_owned();
        let peer = self
            .translator
            .directory()
            .home_peer(&recipient.hcid)?
            .unwrap_or_else(|| country.clone());
        if peer == self.settings.local_peer || self.settings.peers.get(&peer).is_none() {
            return Err(ExchangeError::NoHomePeer { country }.into());
        }
        let sender_hcid = sender.hcid.clone();
        let (sender, recipient) = (sender.to_string(), recipient.to_string());
        // 3. Dedupe: one submit per key at a time; a finished one answers again (with its first
        //    answer, without a second presentation check: nothing new is accepted).
        let key = outbox_key(&sender, &env.message_id);
        let _guard = self.enter(&key)?;
        let existing = self.outbox.get(&key).map_err(ExchangeError::from)?;
        let journaled = existing
            .as_ref()
            .is_some_and(|r| !r.journal_indexes.is_empty());
        // 4. The sender's presentation, before anything is stored or journaled.
        let holder_evidence = if journaled {
            None
        } else {
            self.check_sender(&env, &sender_hcid, now).await?
        };
        if let Some(rec) = &existing {
            if rec.payload_sha256 != env.payload_sha256 {
                return Err(ExchangeError::IdempotencyConflict.into());
            }
            if let Some(&index) = rec.journal_indexes.first() {
                return Ok(Accepted {
                    message_id: rec.message_id.clone(),
                    state: rec.state,
                    journal_index: index,
                    recipient: rec.recipient.clone(),
                    peer: rec.peer.clone(),
                    duplicate: true,
                });
            }
        }
        // 5. Journal `accepted` (durable when it resolves), with the bound holder's evidence.
        //    A crash after it and before step 6 leaves the entry without a stored message; the
        //    caller, unanswered, resends, and the resend is journaled again: nothing
        //    acknowledged is lost.
        let stored_before = existing.is_some();
        let mut record = existing.unwrap_or_else(|| OutboxRecord {
            message_id: env.message_id.clone(),
            sender: sender.clone(),
            recipient: recipient.clone(),
            peer: peer.clone(),
            payload_sha256: env.payload_sha256,
            payload_size: env.payload.len() as u64,
            state: OutboxState::Accepted,
            attempts: 0,
            accepted_at: now,
            updated_at: now,
            next_attempt_at: now,
            reason: None,
            journal_indexes: Vec::new(),
            receipt: None,
        });
        let entry = JournalEntry {
            kind: EntryKind::Accepted,
            unix_nanos: now,
            message_id: Some(record.message_id.clone()),
            sender: Some(record.sender.clone()),
            recipient: Some(record.recipient.clone()),
            peer: Some(record.peer.clone()),
            payload: Some(PayloadDigest {
                sha256: record.payload_sha256,
                size: record.payload_size,
            }),
            evidence: holder_evidence.map(|(e, _)| e),
            trust_snapshot: holder_evidence.map(|(_, s)| s),
            reason: None,
        };
        let receipt = self.journal.append_async(&entry).await?;
        record.journal_indexes.push(receipt.index);
        // 6. Store the record with its journal index, relayable, and its payload, durably, in
        //    one commit; only then answer. (A record stored by an earlier version without a
        //    journal index is updated instead: its payload is already stored.)
        let inserted = if !stored_before {
            self.outbox
                .insert(key.clone(), &record, env.payload.clone())
                .await
                .map_err(ExchangeError::from)?
        } else {
            self.outbox
                .update(key.clone(), &record)
                .await
                .map_err(ExchangeError::from)?;
            Inserted::New
        };
        if let Inserted::Existing(old) = inserted {
            // Unreachable while `enter` holds the key; answered from the stored record anyway.
            let index = old
                .journal_indexes
                .first()
                .copied()
                .unwrap_or(receipt.index);
            return Ok(Accepted {
                message_id: old.message_id,
                state: old.state,
                journal_index: index,
                recipient: old.recipient,
                peer: old.peer,
                duplicate: true,
            });
        }
        // Beyond the bound (the relay is behind: its queues are full too) the message waits in
        // the outbox for the relay's next scan, instead of in memory with its payload.
        if let Ok(mut fresh) = self.fresh.lock() {
            if fresh.len() < MAX_FRESH {
                fresh.push(Fresh {
                    key,
                    record: record.clone(),
                    payload: env.payload,
                });
            }
        }
        self.relay_wake.notify_one();
        tracing::debug!(message.id = %record.message_id, journal.index = receipt.index, peer = %record.peer, "accepted");
        Ok(Accepted {
            message_id: record.message_id,
            state: OutboxState::Accepted,
            journal_index: receipt.index,
            recipient: record.recipient,
            peer: record.peer,
            duplicate: false,
        })
    }

    /// The relay's calls and envelopes since start.
    pub fn relay_stats(&self) -> RelayStats {
        RelayStats {
            batches: self.relay_counts.batches.load(Ordering::Relaxed),
            envelopes: self.relay_counts.envelopes.load(Ordering::Relaxed),
            queued: self.relay_counts.queued.load(Ordering::Relaxed),
        }
    }

    /// The outbox record of `(sender, message_id)`.
    ///
    /// # Errors
    /// Address refusals, [`ExchangeError::NotFound`], storage failures.
    pub fn status(&self, sender: &super::Address, message_id: &str) -> Result<OutboxRecord> {
        let sender = self.identify(sender.space, &sender.value)?.to_string();
        self.outbox
            .get(&outbox_key(&sender, message_id))
            .map_err(ExchangeError::from)?
            .ok_or_else(|| ExchangeError::NotFound.into())
    }
}
