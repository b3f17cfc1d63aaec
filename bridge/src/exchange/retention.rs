//! Retention of exchange records (`exchange.retention`): the outbox record of a message that
//! was delivered or failed, and the inbox record of a message the operator acknowledged, are
//! removed once they are older than the retention period. The journal is the permanent
//! evidence and is never touched; the records are working state that answers resends, peers'
//! redeliveries and GetStatus/GetReceipt, so the retention period is also the dedupe window: a
//! message id resent after its record expired is a new message. As Domibus' retention per MPC
//! and X-Road's `keep-records-for`, it bounds what the exchange database holds to the messages
//! of one retention period (redb reuses the pages the purge frees: `store::exchange_db`).
//!
//! Records not yet done are never purged: an outbox message the relay still works on, an inbox
//! message the operator has not acknowledged (DESIGN.md: nothing acknowledged is lost).
//!
//! The sweep runs in a background task owned by a [`RetentionGuard`], as the relay is owned by
//! its `RelayGuard`: every [`sweep_interval`] it purges what expired, in batches of
//! [`RETENTION_BATCH`] index entries on the blocking pool, yielding between batches so that a
//! backlog (a first start after an upgrade, a bridge that was down) never stalls the runtime.

use std::sync::Arc;
use std::time::Duration;

use prometheus::IntCounterVec;
use tokio::sync::watch;

use super::service::unix_nanos;
use super::{Exchange, ExchangeError};
use crate::error::Result;

/// Index entries examined per batch and per box. One batch is one transaction of the exchange
/// database's committer, so the committer is shared with Submit and Deliver between batches and
/// no writer waits behind a whole backlog. Records are keyed by sender and message id, not by
/// time, so each removal dirties its own leaf pages, which the transaction holds in memory
/// until it commits: with 1,024 entries a batch, under `bench soak` (240,000 records per box)
/// each sweep raised the resident set by 5 to 8 MB in a second; with 128 the rise is within the
/// 3 MB of ordinary traffic (deploy/OPERATIONS.md).
pub const RETENTION_BATCH: usize = 128;
/// Longest time between two sweeps: a minute makes records outlive their period by at most a
/// minute, which no reader of a 30-day retention notices, and costs one range read a minute.
pub const MAX_SWEEP_INTERVAL: Duration = Duration::from_secs(60);
/// Shortest time between two sweeps, for the short retention periods of tests and soaks.
pub const MIN_SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Default `exchange.retention`: 30 days. Long enough for an operator to look up the status and
/// receipt of last month's messages, and far above any peer's `deadline + retry_max` (one day
/// by default), which the configuration requires (a peer's late retry of a message must still
/// find its record here); the journal keeps the evidence beyond it.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// Time between sweeps for `retention`: a tenth of it (a record outlives its period by at most
/// 10%), within [`MIN_SWEEP_INTERVAL`] and [`MAX_SWEEP_INTERVAL`].
pub fn sweep_interval(retention: Duration) -> Duration {
    (retention / 10).clamp(MIN_SWEEP_INTERVAL, MAX_SWEEP_INTERVAL)
}

/// Records removed by one purge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Delivered or failed outbox records.
    pub outbox: usize,
    /// Acknowledged inbox records.
    pub inbox: usize,
    /// True when either index had at least the batch's size of entries before the cutoff:
    /// more may be due (stale entries count, which the record counts above do not show).
    pub more: bool,
}

impl Exchange {
    /// Removes the outbox records that became terminal, and the inbox records acknowledged,
    /// before `cutoff` (Unix nanoseconds), examining at most `max` index entries of each box,
    /// oldest first. Blocking (it waits for its commit): call it from the blocking pool.
    ///
    /// # Errors
    /// Storage failures.
    pub fn purge_before(&self, cutoff: i64, max: usize) -> Result<Purged> {
        let outbox = self
            .outbox
            .purge_terminal_before(cutoff, max)
            .map_err(ExchangeError::from)?;
        let inbox = self
            .inbox
            .purge_acked_before(cutoff, max)
            .map_err(ExchangeError::from)?;
        Ok(Purged {
            outbox: outbox.purged,
            inbox: inbox.purged,
            more: outbox.examined >= max || inbox.examined >= max,
        })
    }
}

/// Owns the retention task; dropping it stops the task.
#[derive(Debug)]
pub struct RetentionGuard {
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RetentionGuard {
    /// Stops the task and waits for it to end (a batch in progress finishes first).
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RetentionGuard {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Starts the retention sweep for `ex`: records older than `retention` (by the exchange's
/// clock) are purged at start and then every [`sweep_interval`], counted in `purged` by `box`
/// (`outbox`, `inbox`).
pub fn spawn_retention(
    ex: Arc<Exchange>,
    retention: Duration,
    purged: IntCounterVec,
) -> RetentionGuard {
    let (stop, mut stopped) = watch::channel(false);
    let every = sweep_interval(retention);
    let task = tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stopped.wait_for(|s| *s) => break,
            }
            sweep(&ex, retention, &purged, &stopped).await;
        }
    });
    RetentionGuard {
        stop,
        task: Some(task),
    }
}

/// One sweep: batches until a batch comes back short (nothing more is due) or a stop is asked.
async fn sweep(
    ex: &Arc<Exchange>,
    retention: Duration,
    counter: &IntCounterVec,
    stopped: &watch::Receiver<bool>,
) {
    let span = i64::try_from(retention.as_nanos()).unwrap_or(i64::MAX);
    let cutoff = unix_nanos(ex.now()).saturating_sub(span);
    let (mut outbox, mut inbox) = (0, 0);
    loop {
        let batch = {
            let ex = ex.clone();
            tokio::task::spawn_blocking(move || ex.purge_before(cutoff, RETENTION_BATCH)).await
        };
        let purged = match batch {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "retention sweep failed; retrying at the next one");
                break;
            }
            Err(e) => {
                tracing::warn!(error = %e, "retention sweep did not finish");
                break;
            }
        };
        counter
            .with_label_values(&["outbox"])
            .inc_by(purged.outbox as u64);
        counter
            .with_label_values(&["inbox"])
            .inc_by(purged.inbox as u64);
        outbox += purged.outbox;
        inbox += purged.inbox;
        if !purged.more || *stopped.borrow() {
            break;
        }
        tokio::task::yield_now().await;
    }
    if outbox + inbox > 0 {
        tracing::info!(
            outbox,
            inbox,
            retention_secs = retention.as_secs(),
            "expired exchange records purged"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweeps_every_tenth_of_the_period_within_bounds() {
        assert_eq!(sweep_interval(DEFAULT_RETENTION), MAX_SWEEP_INTERVAL);
        assert_eq!(
            sweep_interval(Duration::from_secs(120)),
            Duration::from_secs(12)
        );
        assert_eq!(sweep_interval(Duration::from_secs(2)), MIN_SWEEP_INTERVAL);
        assert_eq!(sweep_interval(Duration::ZERO), MIN_SWEEP_INTERVAL);
    }
}
