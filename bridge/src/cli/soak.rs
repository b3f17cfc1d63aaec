//! `eidas-bridge bench soak`: the memory soak. Starts the demo's FR and BE bridges in this process
//! (mutual TLS, durable journals and stores on both sides, as `bench submit` does), with BE's
//! operator receiving and acknowledging every message on a `Receive` stream, then:
//! 1. measures the maximum end-to-end rate (closed loop: submits at FR until BE's operator has
//!    received each one), unless `--rate` gives it;
//! 2. submits at 80% of that rate for `--warm-up` then `--seconds` more (open loop, at most
//!    [`MAX_IN_FLIGHT`] submits outstanding), probing the process's resident set size (both
//!    bridges and the load generator) every [`RSS_PROBE_INTERVAL`], and sampling every
//!    `--interval` seconds the resident set by region, the allocator's live and free bytes, the
//!    stores' size on disk, and the counts submitted, delivered and pending;
//! 3. drains: waits until every acknowledged submit has reached BE's operator exactly once;
//! 4. reports the series, the least-squares slope of the RSS probes over the measured window
//!    (the `--seconds` after warm-up) with its standard error, and a verdict: the slope must
//!    stay below [`GROWTH_LIMIT`] of the mean RSS per ten minutes.
//!
//! Why a warm-up of its own, and ten minutes of it by default ([`DEFAULT_WARM_UP`]): the stores
//! fill to rate x retention in the first two minutes, but glibc's arenas take longer to reach
//! their working size. A 30-minute run showed it: the resident set still rose 299 ± 44 KiB/min
//! from minute 5 to 10, then −5 ± 11 and −24 ± 15 KiB/min over minutes 10–20 and 20–30
//! (deploy/OPERATIONS.md). A fit over the second half of a ten-minute run, which is what this
//! soak did before, catches the tail of that settling: the allocator's warm-up, not a leak. A
//! leak does not settle: it shows over any window, this one included.
//!
//! Both bridges run with a short `exchange.retention` (`--retention`, [`DEFAULT_SOAK_RETENTION`]),
//! so that the run reaches the steady state in which records expire as fast as they are made:
//! the store, and sled's resident pages with it, is then bounded by rate x retention, which a
//! flat RSS shows. With the 30-day default that plateau lies beyond any test.
//!
//! Exit status: 0 when memory is flat and nothing was lost or duplicated, 1 otherwise.

use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bridge_proto::pb;
use bridge_proto::pb::exchange_service_client::ExchangeServiceClient;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, Semaphore};

use super::bench::unthrottled;
use crate::config::Config;
use crate::demo::{start_pair_with, Node, Pair, DEMO_SEED};
use crate::exchange::RetryPolicy;

/// Fraction of the measured maximum rate the soak runs at: loaded, yet with headroom so that
/// queues stay short and what is measured is steady-state memory, not a backlog.
pub const LOAD_FRACTION: f64 = 0.8;
/// Verdict threshold: the RSS slope over the measured window must stay below 1% of the mean RSS
/// per ten minutes. A leak of one small allocation per message (tens of bytes at hundreds of
/// messages per second) exceeds it; the sawtooth of allocation and heap release does not.
pub const GROWTH_LIMIT: f64 = 0.01;
/// Submits outstanding at once in the open-loop phase: below the default per-caller concurrency
/// limit (256), so the soak measures the bridges rather than its own refusals.
pub const MAX_IN_FLIGHT: usize = 192;
/// Payload of every message: a typical small S/MIME message, as `bench submit` sends.
pub const PAYLOAD_BYTES: usize = 4096;
/// Concurrent submitters while measuring the maximum rate: the first level of `bench submit`.
/// Higher levels reach a higher maximum (about a quarter more), and 80% of it would be a
/// different soak from the one whose figures deploy/OPERATIONS.md reports.
const CALIBRATION_CONCURRENCY: usize = 64;
/// How long the drain may take before undelivered messages count as lost.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(180);
/// Granularity of the open-loop scheduler: each tick submits what the rate owes since the start.
const TICK: Duration = Duration::from_millis(10);
/// Time between two probes of the resident set, which the trend is fitted on. The resident set
/// moves by megabytes within seconds (bursts of allocation, then `server.heap_release_interval`
/// giving pages back), so a slope fitted on one sample per `--interval` depends on where those
/// few samples fall in that sawtooth; a probe a second makes the fit average over every cycle.
/// Reading `/proc/self/statm` costs microseconds.
pub const RSS_PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// Default `--retention`, in seconds: two minutes, so that records made in the first minute have
/// expired, and expire as fast as they are made, long before the warm-up ends.
pub const DEFAULT_SOAK_RETENTION: u64 = 120;

/// Default `--warm-up`, in seconds: the loaded time before the measured window (see the module
/// documentation for why ten minutes).
pub const DEFAULT_WARM_UP: u64 = 600;

const NURSE: &str = "jean-marie.dupont@infirmier.mssante.fr";
const RECIPIENT: &str = "hcid:BE:nihii-hospital:71000436";

/// Arguments of `bench soak`.
#[derive(Debug, Clone, clap::Args)]
pub struct SoakArgs {
    /// Length of the measured window, in seconds, after the warm-up: the trend is fitted on it.
    #[arg(long, default_value_t = 600)]
    pub seconds: u64,
    /// Loaded seconds before the measured window, at the same rate: stores fill, retention
    /// sweeps start, the allocator settles. Sampled and reported, not fitted.
    #[arg(long, default_value_t = DEFAULT_WARM_UP)]
    pub warm_up: u64,
    /// Seconds between two samples.
    #[arg(long, default_value_t = 10)]
    pub interval: u64,
    /// Maximum end-to-end rate in messages per second; measured first when absent.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Messages submitted to measure the maximum rate.
    #[arg(long, default_value_t = 2000)]
    pub calibrate_messages: u64,
    /// `exchange.retention` of both bridges, in seconds (at least 1). Records of delivered and
    /// acknowledged messages are purged after it, so memory and disk are bounded by rate x
    /// retention: a short retention lets the soak reach that plateau and show it flat, which the
    /// 30-day default would only reach after a month. Each bridge's deadline becomes half of it
    /// and its retry_max at most a quarter, as the configuration check requires.
    #[arg(long, default_value_t = DEFAULT_SOAK_RETENTION)]
    pub retention: u64,
}

/// The soak's configuration of both bridges: the load generators' [`unthrottled`] limits and
/// `retention`, with a retry policy it outlasts (deadline half of it, retry_max at most a
/// quarter: their sum stays below it, as `exchange.retention` requires). Messages are delivered
/// in milliseconds at the soak's load, so the shorter deadline fails none of them.
pub(crate) fn soak_config(retention: Duration) -> impl Fn(&mut Config) {
    move |config: &mut Config| {
        unthrottled(config);
        config.exchange.retention = retention;
        config.exchange.retry.deadline = retention / 2;
        config.exchange.retry.max = config.exchange.retry.max.min(retention / 4);
    }
}

/// One sample of the series.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Sample {
    /// Seconds since the loaded phase (warm-up included) started.
    pub t: f64,
    /// Resident set size of the process, KiB.
    pub rss_kib: u64,
    /// The same resident set by kind: anonymous (heap, stacks) and file-backed (code).
    pub rss_kinds: crate::memory::ResidentKinds,
    /// The anonymous part by region (main heap, other arenas, stacks, other mappings).
    pub anon_regions: crate::memory::AnonRegions,
    /// What the allocator holds live and free: a live heap that steps with the resident set is
    /// a structure that grew, a flat one under a stepping resident set is fragmentation.
    pub heap: crate::memory::HeapUsage,
    /// Size of both bridges' data directories on disk, KiB.
    pub store_kib: u64,
    /// Submits acknowledged by FR so far.
    pub submitted: u64,
    /// Messages received by BE's operator so far.
    pub delivered: u64,
    /// Submitted but not yet received.
    pub pending: u64,
}

/// One probe of the resident set: seconds since the loaded phase started, and KiB.
pub type Probe = (f64, u64);

/// The memory trend over the measured window of a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trend {
    /// Least-squares slope of RSS, KiB per minute.
    pub slope_kib_per_min: f64,
    /// Standard error of that slope (KiB per minute), from the residuals around the fitted
    /// line: how far the slope could move with the noise alone. The probes are not independent
    /// (the sawtooth of allocation and release), so read it as a scale, not a confidence bound.
    pub stderr_kib_per_min: f64,
    /// Mean RSS over the same samples, KiB.
    pub mean_rss_kib: f64,
    /// The largest slope accepted: [`GROWTH_LIMIT`] of the mean per ten minutes, in KiB/min.
    pub limit_kib_per_min: f64,
    /// Samples the trend was fitted on.
    pub samples: usize,
}

impl Trend {
    /// True when memory did not grow beyond the limit.
    pub fn is_flat(&self) -> bool {
        self.slope_kib_per_min < self.limit_kib_per_min
    }
}

/// A least-squares line: its slope and the standard error of the slope.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    /// Slope of `y` over `x`.
    pub slope: f64,
    /// Standard error of the slope: sqrt(residual variance / Sxx); zero for two points.
    pub stderr: f64,
}

/// The least-squares line of `y` over `x`; `None` for fewer than two distinct `x`.
pub fn fit(points: &[(f64, f64)]) -> Option<Fit> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let slope = sxy / sxx;
    let residuals: f64 = points
        .iter()
        .map(|p| (p.1 - my - slope * (p.0 - mx)).powi(2))
        .sum();
    let stderr = if points.len() > 2 {
        (residuals / (n - 2.0) / sxx).sqrt()
    } else {
        0.0
    };
    Some(Fit { slope, stderr })
}

/// The RSS trend of the probes taken from `warm_up` seconds on, to the end of the run.
pub fn trend(probes: &[Probe], warm_up: f64) -> Option<Trend> {
    let measured: Vec<(f64, f64)> = probes
        .iter()
        .filter(|p| p.0 >= warm_up)
        .map(|&(t, kib)| (t / 60.0, kib as f64))
        .collect();
    let line = fit(&measured)?;
    let mean_rss_kib = measured.iter().map(|p| p.1).sum::<f64>() / measured.len() as f64;
    Some(Trend {
        slope_kib_per_min: line.slope,
        stderr_kib_per_min: line.stderr,
        mean_rss_kib,
        limit_kib_per_min: GROWTH_LIMIT * mean_rss_kib / 10.0,
        samples: measured.len(),
    })
}

/// Resident set of this process in KiB; 0 where there is no procfs.
pub fn rss_kib() -> u64 {
    crate::memory::resident_bytes().unwrap_or(0) / 1024
}

/// Bytes of the regular files under `dir`, recursively (symbolic links are not followed).
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

/// Which message numbers BE's operator has received. Messages arrive almost in submission order,
/// so a floor (every number below it was received) and the few numbers received above it are
/// enough: the load generator's own memory stays constant over the run instead of growing with
/// it, which would show up in the resident set being measured.
#[derive(Debug, Default)]
struct Seen {
    /// Every message number below this one was received.
    floor: u64,
    /// Numbers received at or above `floor`.
    ahead: std::collections::BTreeSet<u64>,
    received: u64,
    duplicates: u64,
}

impl Seen {
    fn mark(&mut self, n: u64) {
        if n < self.floor || !self.ahead.insert(n) {
            self.duplicates += 1;
            return;
        }
        self.received += 1;
        self.advance();
    }

    /// Passes over a number whose submit was refused, so the floor does not wait for it. Should
    /// it arrive after all (a refusal after acceptance, such as a client-side timeout), it counts
    /// as a duplicate, and `submit_errors` in the report says why.
    fn skip(&mut self, n: u64) {
        if n >= self.floor {
            self.ahead.insert(n);
            self.advance();
        }
    }

    fn advance(&mut self) {
        while self.ahead.remove(&self.floor) {
            self.floor += 1;
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    next: AtomicU64,
    submitted: AtomicU64,
    errors: AtomicU64,
    seen: Mutex<Seen>,
    /// Asks the consumer to reopen its Receive stream (see [`drain`]).
    reopen: tokio::sync::Notify,
    /// How often the drain had to reopen the stream to see every message.
    reopens: AtomicU64,
}

impl Counters {
    fn received(&self) -> u64 {
        self.seen.lock().map(|s| s.received).unwrap_or(0)
    }
}

fn request(n: u64, payload: &[u8]) -> pb::SubmitRequest {
    pb::SubmitRequest {
        envelope: Some(pb::Envelope {
            message_id: format!("soak-{n}"),
            sender: Some(pb::Address {
                space: "mssante".into(),
                value: NURSE.into(),
            }),
            recipient: Some(pb::Address {
                space: "canonical".into(),
                value: RECIPIENT.into(),
            }),
            payload: payload.to_vec(),
            payload_sha256: Sha256::digest(payload).to_vec(),
            ..Default::default()
        }),
    }
}

/// Submits one new message; counts it when FR acknowledged it.
async fn submit_one(
    client: &mut ExchangeServiceClient<tonic::transport::Channel>,
    counters: &Counters,
    payload: &[u8],
) {
    let n = counters.next.fetch_add(1, Ordering::Relaxed);
    match client.submit(request(n, payload)).await {
        Ok(_) => {
            counters.submitted.fetch_add(1, Ordering::Relaxed);
        }
        Err(status) => {
            counters.errors.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut seen) = counters.seen.lock() {
                seen.skip(n);
            }
            tracing::warn!(code = ?status.code(), "soak submit refused");
        }
    }
}

/// BE's operator: receives every message and acknowledges it, reconnecting when the stream ends
/// (for instance at the stream idle timeout), until `stop` is set.
async fn consume(be: &Node, counters: Arc<Counters>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let Ok(channel) = be.operator_channel() else {
        return;
    };
    while !*stop.borrow() {
        let mut client = ExchangeServiceClient::new(channel.clone());
        let (ack_tx, ack_rx) = mpsc::channel(1024);
        let start = pb::ReceiveRequest {
            action: Some(pb::receive_request::Action::Start(pb::ReceiveStart {})),
        };
        if ack_tx.send(start).await.is_err() {
            return;
        }
        let opened = client
            .receive(tokio_stream::wrappers::ReceiverStream::new(ack_rx))
            .await;
        let mut stream = match opened {
            Ok(s) => s.into_inner(),
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        loop {
            let msg = tokio::select! {
                m = stream.message() => m,
                _ = counters.reopen.notified() => break,
                _ = stop.wait_for(|s| *s) => return,
            };
            let msg = match msg {
                Ok(Some(m)) => m,
                Ok(None) => {
                    eprintln!("soak: receive stream closed by the bridge; reopening");
                    break;
                }
                Err(status) => {
                    eprintln!(
                        "soak: receive stream ended with {:?}: {}; reopening",
                        status.code(),
                        status.message()
                    );
                    break;
                }
            };
            if let Some(n) = msg
                .message_id
                .strip_prefix("soak-")
                .and_then(|n| n.parse::<u64>().ok())
            {
                if let Ok(mut seen) = counters.seen.lock() {
                    seen.mark(n);
                }
            }
            let ack = pb::ReceiveRequest {
                action: Some(pb::receive_request::Action::AckJournalIndex(
                    msg.journal_index,
                )),
            };
            if ack_tx.send(ack).await.is_err() {
                break;
            }
        }
    }
}

/// Closed loop: `messages` submits from [`CALIBRATION_CONCURRENCY`] callers, timed until BE's
/// operator has received them all. Returns messages per second.
async fn calibrate(pair: &Pair, counters: &Arc<Counters>, messages: u64) -> Result<f64, String> {
    let channel = pair.fr.operator_channel().map_err(|e| e.to_string())?;
    let payload = Arc::new(vec![0x5au8; PAYLOAD_BYTES]);
    let base = counters.submitted.load(Ordering::Relaxed);
    let started = Instant::now();
    let mut tasks = Vec::new();
    let quota = Arc::new(AtomicU64::new(messages));
    for _ in 0..CALIBRATION_CONCURRENCY {
        let mut client = ExchangeServiceClient::new(channel.clone());
        let (counters, payload, quota) = (counters.clone(), payload.clone(), quota.clone());
        tasks.push(tokio::spawn(async move {
            while quota
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |q| q.checked_sub(1))
                .is_ok()
            {
                submit_one(&mut client, &counters, &payload).await;
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())?;
    }
    let target = counters.submitted.load(Ordering::Relaxed);
    if target == base {
        return Err("every calibration submit was refused".into());
    }
    drain(counters, target, DRAIN_TIMEOUT).await?;
    Ok((target - base) as f64 / started.elapsed().as_secs_f64())
}

/// No progress for this long during a drain reopens the Receive stream.
const STALL: Duration = Duration::from_secs(2);

/// Waits until BE's operator has received `target` messages. When nothing arrives for [`STALL`],
/// the consumer reopens its stream: an open `Receive` stream walks the inbox by arrival sequence,
/// and a message whose sequence number was drawn before, but committed after, a later one's is
/// behind the stream's cursor until the stream is reopened (counted as `receive_reopens`).
async fn drain(counters: &Counters, target: u64, within: Duration) -> Result<(), String> {
    let started = Instant::now();
    let (mut last, mut since) = (counters.received(), Instant::now());
    while counters.received() < target {
        if started.elapsed() > within {
            return Err(format!(
                "{} of {target} messages not received within {within:?}",
                target - counters.received()
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = counters.received();
        if now != last {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() > STALL {
            counters.reopens.fetch_add(1, Ordering::Relaxed);
            counters.reopen.notify_waiters();
            since = Instant::now();
        }
    }
    Ok(())
}

/// What the loaded phase recorded.
#[derive(Debug)]
struct Recorded {
    /// One sample every `--interval`.
    series: Vec<Sample>,
    /// One resident-set probe every [`RSS_PROBE_INTERVAL`].
    probes: Vec<Probe>,
}

/// The open-loop phase: `rate` submits per second for `d`, sampling every `interval`.
async fn load(
    pair: &Pair,
    counters: &Arc<Counters>,
    rate: f64,
    d: Duration,
    interval: Duration,
) -> Result<Recorded, String> {
    let channel = pair.fr.operator_channel().map_err(|e| e.to_string())?;
    let payload = Arc::new(vec![0xa5u8; PAYLOAD_BYTES]);
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let dirs = [pair.fr.data_dir.clone(), pair.be.data_dir.clone()];
    let sample = |t: f64| {
        let submitted = counters.submitted.load(Ordering::Relaxed);
        let delivered = counters.received();
        Sample {
            t,
            rss_kib: rss_kib(),
            rss_kinds: crate::memory::resident_kinds().unwrap_or_default(),
            anon_regions: crate::memory::anon_regions().unwrap_or_default(),
            heap: crate::memory::heap_usage().unwrap_or_default(),
            store_kib: dirs.iter().map(|d| dir_bytes(d)).sum::<u64>() / 1024,
            submitted,
            delivered,
            pending: submitted.saturating_sub(delivered),
        }
    };
    let mut series = vec![sample(0.0)];
    let mut probes = vec![(0.0, rss_kib())];
    let started = Instant::now();
    let mut next_sample = interval;
    let mut next_probe = RSS_PROBE_INTERVAL;
    let mut issued = 0u64;
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    while started.elapsed() < d {
        ticker.tick().await;
        let elapsed = started.elapsed();
        let owed = (rate * elapsed.as_secs_f64()) as u64;
        while issued < owed {
            // Waits when MAX_IN_FLIGHT submits are outstanding: the achieved rate then drops
            // below the target, which the report shows.
            let permit = slots
                .clone()
                .acquire_owned()
                .await
                .map_err(|e| e.to_string())?;
            let mut client = ExchangeServiceClient::new(channel.clone());
            let (counters, payload) = (counters.clone(), payload.clone());
            tokio::spawn(async move {
                submit_one(&mut client, &counters, &payload).await;
                drop(permit);
            });
            issued += 1;
        }
        if elapsed >= next_probe {
            probes.push((elapsed.as_secs_f64(), rss_kib()));
            next_probe += RSS_PROBE_INTERVAL;
        }
        if elapsed >= next_sample {
            let s = sample(elapsed.as_secs_f64());
            eprintln!(
                "soak t={:.0}s rss={} KiB (anon {}: heap {}, arenas {}, stacks {}, other {}; file {}; malloc live {} free {}) store={} KiB submitted={} delivered={} pending={}",
                s.t,
                s.rss_kib,
                s.rss_kinds.anon_kib,
                s.anon_regions.heap_kib,
                s.anon_regions.arenas_kib,
                s.anon_regions.stacks_kib,
                s.anon_regions.other_kib,
                s.rss_kinds.file_kib,
                s.heap.in_use_kib,
                s.heap.free_kib,
                s.store_kib,
                s.submitted,
                s.delivered,
                s.pending
            );
            series.push(s);
            next_sample += interval;
        }
    }
    // Every outstanding submit has answered once all slots are free again.
    let _all = slots
        .acquire_many(MAX_IN_FLIGHT as u32)
        .await
        .map_err(|e| e.to_string())?;
    series.push(sample(started.elapsed().as_secs_f64()));
    Ok(Recorded { series, probes })
}

/// What the phases measured.
#[derive(Debug)]
struct Phases {
    max_rate: f64,
    rate: f64,
    warm_up: u64,
    seconds: u64,
    /// Submits acknowledged before the loaded phase (calibration).
    base: u64,
    recorded: Recorded,
    submitted: u64,
    drained: Result<(), String>,
}

async fn phases(args: &SoakArgs, pair: &Pair, counters: &Arc<Counters>) -> Result<Phases, String> {
    let max_rate = match args.rate {
        Some(r) if r > 0.0 => r,
        _ => calibrate(pair, counters, args.calibrate_messages.max(1)).await?,
    };
    let rate = max_rate * LOAD_FRACTION;
    let seconds = args.seconds.max(1);
    let warm_up = args.warm_up;
    let base = counters.submitted.load(Ordering::Relaxed);
    let recorded = load(
        pair,
        counters,
        rate,
        Duration::from_secs(warm_up + seconds),
        Duration::from_secs(args.interval.max(1)),
    )
    .await?;
    let submitted = counters.submitted.load(Ordering::Relaxed);
    let drained = drain(counters, submitted, DRAIN_TIMEOUT).await;
    Ok(Phases {
        max_rate,
        rate,
        warm_up,
        seconds,
        base,
        recorded,
        submitted,
        drained,
    })
}

/// Runs the soak and returns its report and whether it passed.
async fn soak(args: &SoakArgs) -> Result<(serde_json::Value, bool), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let eco = test_ecosystem::Ecosystem::generate(DEMO_SEED).map_err(|e| e.to_string())?;
    let retention = Duration::from_secs(args.retention.max(1));
    let pair = start_pair_with(
        &eco,
        dir.path(),
        RetryPolicy::default(),
        soak_config(retention),
    )
    .await
    .map_err(|e| e.to_string())?;
    let counters = Arc::new(Counters::default());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // BE's operator consumes on this task, concurrently with the phases; it stops when they end,
    // whatever their outcome.
    let consumer = consume(&pair.be, counters.clone(), stop_rx);
    let measured = async {
        let outcome = phases(args, &pair, &counters).await;
        let _ = stop_tx.send(true);
        outcome
    };
    let (outcome, ()) = tokio::join!(measured, consumer);
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            pair.fr.stop().await;
            pair.be.stop().await;
            return Err(e);
        }
    };
    let Phases {
        max_rate,
        rate,
        warm_up,
        seconds,
        base,
        recorded: Recorded { series, probes },
        submitted,
        drained,
    } = outcome;
    let (received, duplicates) = counters
        .seen
        .lock()
        .map(|s| (s.received, s.duplicates))
        .unwrap_or((0, 0));
    let trend = trend(&probes, warm_up as f64);
    let flat = trend.is_some_and(|t| t.is_flat());
    let lost = submitted.saturating_sub(received);
    // A reopened stream sends again what the operator received but had not yet acknowledged on
    // the old one (explicit acknowledgement is at-least-once towards the operator), so a message
    // seen twice is a bridge duplicate only when the stream was never reopened.
    let reopens = counters.reopens.load(Ordering::Relaxed);
    let passed = flat && lost == 0 && (duplicates == 0 || reopens > 0);
    let report = json!({
        "payload_bytes": PAYLOAD_BYTES,
        "max_rate_msgs_per_s": (max_rate * 10.0).round() / 10.0,
        "target_rate_msgs_per_s": (rate * 10.0).round() / 10.0,
        "achieved_rate_msgs_per_s":
            ((submitted - base) as f64 / (warm_up + seconds) as f64 * 10.0).round() / 10.0,
        "warm_up_seconds": warm_up,
        "seconds": seconds,
        "interval": args.interval.max(1),
        "retention_seconds": args.retention.max(1),
        "series": series,
        "rss_probe_interval_seconds": RSS_PROBE_INTERVAL.as_secs_f64(),
        "rss_probes_kib": probes.iter().map(|p| p.1).collect::<Vec<_>>(),
        "rss_slope_kib_per_min": trend.map(|t| (t.slope_kib_per_min * 100.0).round() / 100.0),
        "rss_slope_stderr_kib_per_min":
            trend.map(|t| (t.stderr_kib_per_min * 100.0).round() / 100.0),
        "rss_mean_kib_measured": trend.map(|t| t.mean_rss_kib.round()),
        "rss_slope_limit_kib_per_min": trend.map(|t| (t.limit_kib_per_min * 100.0).round() / 100.0),
        "trend_samples": trend.map(|t| t.samples),
        "growth_measured_kib": measured_growth(&series, warm_up as f64),
        "memory": if flat { "flat" } else { "growing" },
        "submitted": submitted,
        "submit_errors": counters.errors.load(Ordering::Relaxed),
        "received": received,
        "lost": lost,
        "duplicates": duplicates,
        "receive_reopens": reopens,
        "drain": match &drained { Ok(()) => "complete".to_owned(), Err(e) => e.clone() },
        "verdict": if passed { "pass" } else { "fail" },
    });
    pair.fr.stop().await;
    pair.be.stop().await;
    Ok((report, passed))
}

/// How much each anonymous region, and the allocator's live and free bytes, grew over the
/// measured window (from the first sample at or after `warm_up` to the last one): a leak grows
/// the live heap, fragmentation grows the regions while the live heap stays.
fn measured_growth(series: &[Sample], warm_up: f64) -> Option<serde_json::Value> {
    let from = series.iter().find(|s| s.t >= warm_up)?;
    let to = series.last()?;
    let delta = |a: u64, b: u64| i128::from(b) - i128::from(a);
    let (r0, r1) = (from.anon_regions, to.anon_regions);
    Some(json!({
        "heap": delta(r0.heap_kib, r1.heap_kib),
        "arenas": delta(r0.arenas_kib, r1.arenas_kib),
        "stacks": delta(r0.stacks_kib, r1.stacks_kib),
        "other": delta(r0.other_kib, r1.other_kib),
        "malloc_live": delta(from.heap.in_use_kib, to.heap.in_use_kib),
        "malloc_free": delta(from.heap.free_kib, to.heap.free_kib),
    }))
}

/// Runs `bench soak`.
pub fn run(args: SoakArgs, json: bool) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(super::EXIT_USAGE);
        }
    };
    match rt.block_on(soak(&args)) {
        Ok((report, passed)) => {
            if json {
                println!("{report}");
            } else if let Some(map) = report.as_object() {
                for (k, v) in map {
                    println!("{k}: {v}");
                }
            }
            ExitCode::from(if passed { 0 } else { super::EXIT_INVALID })
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(super::EXIT_INVALID)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(rss: impl Fn(f64) -> u64, seconds: u64, interval: u64) -> Vec<Probe> {
        (0..=seconds / interval)
            .map(|i| {
                let t = (i * interval) as f64;
                (t, rss(t))
            })
            .collect()
    }

    fn slope(points: &[(f64, f64)]) -> Option<f64> {
        fit(points).map(|f| f.slope)
    }

    #[test]
    fn slope_of_known_lines() {
        let line: Vec<(f64, f64)> = (0..10).map(|x| (x as f64, 2.0 * x as f64 + 3.0)).collect();
        assert_eq!(slope(&line), Some(2.0));
        assert_eq!(fit(&line).unwrap().stderr, 0.0, "no residuals on a line");
        let flat: Vec<(f64, f64)> = (0..10).map(|x| (x as f64, 7.0)).collect();
        assert_eq!(slope(&flat), Some(0.0));
        // Symmetric noise around a flat line has zero slope.
        let zigzag = [
            (0.0, 10.0),
            (1.0, 12.0),
            (2.0, 10.0),
            (3.0, 12.0),
            (4.0, 10.0),
        ];
        assert_eq!(slope(&zigzag), Some(0.0));
        assert_eq!(slope(&[(1.0, 1.0)]), None);
        assert_eq!(slope(&[(1.0, 1.0), (1.0, 5.0)]), None);
    }

    #[test]
    fn the_slope_error_is_the_textbook_one() {
        // x = 0..4, y = 0, 2, 1, 3, 4: slope 0.9, residuals sum 1.9 over n - 2 = 3, Sxx = 10.
        let points = [(0.0, 0.0), (1.0, 2.0), (2.0, 1.0), (3.0, 3.0), (4.0, 4.0)];
        let f = fit(&points).unwrap();
        assert!((f.slope - 0.9).abs() < 1e-12);
        assert!((f.stderr - (1.9f64 / 3.0 / 10.0).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn a_sawtooth_probed_every_second_is_flat() {
        // A heap released every 10 s: the resident set climbs 3.6 MiB, then drops back. Probed
        // every second, the fit's slope is the sawtooth's edge effect only, well under the
        // limit; the same sawtooth on a rising floor (a leak of 2 KiB per second, 120 KiB/min)
        // is caught.
        let saw = |t: f64| 80_000 + ((t as u64 % 10) * 400);
        let trend_flat = trend(&series(saw, 600, 1), 300.0).unwrap();
        assert!(
            trend_flat.slope_kib_per_min.abs() < trend_flat.limit_kib_per_min / 2.0,
            "{trend_flat:?}"
        );
        assert!(trend_flat.is_flat());
        let leak = |t: f64| saw(t) + 2 * t as u64;
        let trend_leak = trend(&series(leak, 600, 1), 300.0).unwrap();
        // The same edge effect (19 KiB/min here) rides on the leak's 120.
        assert!(
            (trend_leak.slope_kib_per_min - 120.0).abs() < 25.0,
            "{trend_leak:?}"
        );
        assert!(!trend_leak.is_flat());
    }

    #[test]
    fn a_short_flat_run_passes_after_warm_up() {
        // 20 s sampled every second: memory grows during warm-up, then stays at 100 MiB.
        let s = series(
            |t| {
                if t < 10.0 {
                    50_000 + 5_000 * t as u64
                } else {
                    102_400
                }
            },
            20,
            1,
        );
        let trend = trend(&s, 10.0).unwrap();
        assert_eq!(trend.samples, 11, "t = 10..=20");
        assert_eq!(trend.slope_kib_per_min, 0.0);
        assert_eq!(trend.mean_rss_kib, 102_400.0);
        // 1% of 100 MiB per ten minutes.
        assert!((trend.limit_kib_per_min - 102.4).abs() < 1e-9);
        assert!(trend.is_flat());
    }

    #[test]
    fn a_leak_fails() {
        // 600 s every 10 s: 4 KiB per second is 240 KiB/min, against a limit of 1% of ~100 MiB
        // per ten minutes (about 100 KiB/min).
        let s = series(|t| 100_000 + t as u64 * 4, 600, 10);
        let trend = trend(&s, 300.0).unwrap();
        assert!((trend.slope_kib_per_min - 240.0).abs() < 1e-6);
        assert!((trend.limit_kib_per_min - 101.8).abs() < 1e-6);
        assert!(!trend.is_flat());
        assert_eq!(trend.samples, 31);
    }

    #[test]
    fn growth_is_counted_over_the_measured_window_only() {
        let sample = |t: f64, arenas_kib: u64, live: u64| Sample {
            t,
            rss_kib: 0,
            rss_kinds: crate::memory::ResidentKinds::default(),
            anon_regions: crate::memory::AnonRegions {
                arenas_kib,
                ..Default::default()
            },
            heap: crate::memory::HeapUsage {
                in_use_kib: live,
                free_kib: 0,
            },
            store_kib: 0,
            submitted: 0,
            delivered: 0,
            pending: 0,
        };
        // The arenas grow 5 MB during warm-up, then 300 KiB; the live heap comes back.
        let series = [
            sample(0.0, 1_000, 50_000),
            sample(590.0, 6_000, 52_000),
            sample(600.0, 6_100, 52_000),
            sample(1200.0, 6_400, 51_000),
        ];
        let g = measured_growth(&series, 600.0).unwrap();
        assert_eq!(g["arenas"], 300);
        assert_eq!(g["malloc_live"], -1000);
        assert_eq!(g["heap"], 0);
        assert!(measured_growth(&series, 1300.0).is_none());
    }

    #[test]
    fn too_few_samples_give_no_trend() {
        let s = series(|_| 1, 1, 1);
        assert!(trend(&s, 5.0).is_none());
    }

    #[test]
    fn the_soak_configuration_passes_the_retention_check() {
        for secs in [1, 10, DEFAULT_SOAK_RETENTION, 3600] {
            let mut config = Config::defaults();
            config.exchange.peers = vec![("BE".into(), "127.0.0.1:1".into())];
            soak_config(Duration::from_secs(secs))(&mut config);
            assert_eq!(config.exchange.retention, Duration::from_secs(secs));
            assert_eq!(config.exchange.retention_conflicts(), [], "{secs} s");
        }
        let mut config = Config::defaults();
        soak_config(Duration::from_secs(DEFAULT_SOAK_RETENTION))(&mut config);
        assert_eq!(config.exchange.retry.deadline, Duration::from_secs(60));
        assert_eq!(config.exchange.retry.max, Duration::from_secs(30));
        assert_eq!(
            config.limits.role_mut(crate::grpc::Role::Operator).rate,
            Some(crate::grpc::MAX_RATE_LIMIT)
        );
    }

    #[test]
    fn seen_counts_each_message_once() {
        let mut seen = Seen::default();
        for n in [0, 2, 1, 1000, 1, 1000, 3] {
            seen.mark(n);
        }
        assert_eq!((seen.received, seen.duplicates), (5, 2));
        // 0..=3 arrived: only 1000 is kept apart.
        assert_eq!(seen.floor, 4);
        assert_eq!(seen.ahead.iter().copied().collect::<Vec<_>>(), vec![1000]);
        // A refused number is passed over, so the floor moves on to 1000.
        for n in 5..1000 {
            seen.mark(n);
        }
        seen.skip(4);
        assert_eq!((seen.floor, seen.ahead.len()), (1001, 0));
        assert_eq!((seen.received, seen.duplicates), (1000, 2));
    }
}
