//! Per-caller load limits: at most `max_concurrent` calls in flight and a token bucket of `rate`
//! calls per second with a `burst`, for each authenticated caller (keyed by the SHA-256 of its leaf
//! certificate, which [`super::AuthorizeLayer`] resolved into a [`Caller`]). One noisy operator or
//! peer then cannot starve the others of the bridge's two resources that matter: worker time and
//! the journal's group commits.
//!
//! A refused call gets RESOURCE_EXHAUSTED with a `RetryInfo` delay (mapped in `grpc/status.rs`).
//! A streaming call (`Receive`, `Replay`) holds its concurrency slot until its response body is
//! dropped, i.e. for its whole lifetime. Health checking and reflection are exempt, so probes and
//! grpcurl keep working under load. The table of callers is bounded ([`MAX_TRACKED_CALLERS`]):
//! callers with nothing in flight and a full bucket carry no state and are swept out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use prometheus::IntCounterVec;
use tonic::body::Body;
use tower::{Layer, Service};

use super::access::{Caller, Role};

/// Default in-flight calls per caller: four times the 64 concurrent submitters of `bench submit`,
/// so a busy operator system is never refused in normal work, while a runaway client cannot hold
/// more than a bounded share of the runtime.
pub const DEFAULT_MAX_CONCURRENT_PER_CALLER: u32 = 256;
/// Default sustained calls per second per caller: about four times the end-to-end exchange rate a
/// two-core bridge sustains with durable journals (`bench submit`), so the limit bites on abuse,
/// not on a legitimate peak.
pub const DEFAULT_RATE_PER_CALLER: u32 = 2000;
/// Default burst per caller: one second of the default rate on top of it, enough for a reconnecting
/// operator to flush its local queue at once.
pub const DEFAULT_BURST_PER_CALLER: u32 = 2000;
/// Largest accepted concurrency setting: HTTP/2 servers commonly allow a few hundred streams per
/// connection; 65 536 is far above anything a caller can use, so the bound only catches typos.
pub const MAX_CONCURRENT_LIMIT: u32 = 65_536;
/// Largest accepted rate or burst setting: a million calls per second is two orders of magnitude
/// beyond a bridge's capacity; the bound catches typos and keeps the bucket arithmetic exact.
pub const MAX_RATE_LIMIT: u32 = 1_000_000;
/// Callers tracked at once. Callers are certificates granted a role by configuration or listed
/// peer bridges: a few hundred in the largest national deployments. 4096 entries of about 100
/// bytes bound the table to well under a megabyte.
pub const MAX_TRACKED_CALLERS: usize = 4096;
/// How often idle callers are swept out even when the table is not full, so that memory returns to
/// its floor after a burst of distinct callers.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(60);
/// Retry delay suggested to a caller over its concurrency limit: its own calls free slots as they
/// complete, and a unary call completes in milliseconds (`bench submit` p50), so a short delay is
/// enough and keeps a well-behaved client from spinning.
pub const CONCURRENCY_RETRY_DELAY: Duration = Duration::from_millis(50);

/// Bytes a request may carry besides the exchanged payload: a seal chain of up to eight
/// certificates of 16 KiB (`identity::MAX_CHAIN_LEN`, `identity::MAX_CERT_BYTES`), the sealed
/// content, identifiers, digests and protobuf framing, with room to spare. Submits may also carry
/// the sender's wallet presentation, counted separately.
pub const ENVELOPE_OVERHEAD_BYTES: usize = 256 * 1024;

/// Bytes each envelope of a sealed batch may carry besides its payload: its sealed content (five
/// text fields of at most `exchange::MAX_FIELD_LEN` bytes, digests, sizes and times) and the
/// unsigned copies of three of them, with protobuf framing and room to spare. The batch's seal
/// chain is counted once, in [`ENVELOPE_OVERHEAD_BYTES`].
pub const BATCH_ENVELOPE_OVERHEAD_BYTES: usize = 5 * 1024;

/// Largest decoded `PeerService` request: the configured `exchange.max_payload` (a unary
/// envelope's payload, or a batch's payloads together: the relay fills a batch up to that bound)
/// plus [`ENVELOPE_OVERHEAD_BYTES`] and [`BATCH_ENVELOPE_OVERHEAD_BYTES`] for each envelope a
/// batch may hold. Larger messages are refused by the codec with OUT_OF_RANGE before they are
/// buffered whole.
pub fn max_peer_message(max_payload: u64) -> usize {
    usize::try_from(max_payload)
        .unwrap_or(usize::MAX)
        .saturating_add(ENVELOPE_OVERHEAD_BYTES)
        .saturating_add(crate::exchange::MAX_BATCH_ENVELOPES * BATCH_ENVELOPE_OVERHEAD_BYTES)
}

/// Largest `PeerService` answer the relay decodes: a batch's receipts, each with its chain and
/// audit path, within [`ENVELOPE_OVERHEAD_BYTES`] apiece.
pub const MAX_PEER_ANSWER: usize = crate::exchange::MAX_BATCH_ENVELOPES * ENVELOPE_OVERHEAD_BYTES;

/// Largest decoded `ExchangeService` request: [`max_peer_message`] plus a wallet presentation of
/// at most `identity::MAX_PRESENTATION_BYTES` in the envelope.
pub fn max_exchange_message(max_payload: u64) -> usize {
    max_peer_message(max_payload).saturating_add(crate::identity::MAX_PRESENTATION_BYTES)
}

/// The limits applied to one caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallerLimits {
    /// Calls in flight at once (a stream counts for its lifetime).
    pub max_concurrent: u32,
    /// Sustained calls per second.
    pub rate: u32,
    /// Calls that may arrive at once above the sustained rate.
    pub burst: u32,
}

impl Default for CallerLimits {
    fn default() -> CallerLimits {
        CallerLimits {
            max_concurrent: DEFAULT_MAX_CONCURRENT_PER_CALLER,
            rate: DEFAULT_RATE_PER_CALLER,
            burst: DEFAULT_BURST_PER_CALLER,
        }
    }
}

/// A role's overrides of the default limits; `None` keeps the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RoleLimits {
    /// Overrides [`CallerLimits::max_concurrent`].
    pub max_concurrent: Option<u32>,
    /// Overrides [`CallerLimits::rate`].
    pub rate: Option<u32>,
    /// Overrides [`CallerLimits::burst`].
    pub burst: Option<u32>,
}

/// `[limits]`: the default per-caller limits and per-role overrides.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LimitsConfig {
    /// Limits of a caller none of whose roles overrides them.
    pub default: CallerLimits,
    /// Overrides by role.
    pub roles: Vec<(Role, RoleLimits)>,
}

impl LimitsConfig {
    /// The limits of a caller holding `roles`: for each setting, the most generous override among
    /// its roles (a bridge that is both operator and auditor is not throttled by the auditor's
    /// tighter budget), else the default.
    pub fn for_roles(&self, roles: &[Role]) -> CallerLimits {
        let pick = |get: fn(&RoleLimits) -> Option<u32>, default: u32| {
            self.roles
                .iter()
                .filter(|(r, _)| roles.contains(r))
                .filter_map(|(_, l)| get(l))
                .max()
                .unwrap_or(default)
        };
        CallerLimits {
            max_concurrent: pick(|l| l.max_concurrent, self.default.max_concurrent),
            rate: pick(|l| l.rate, self.default.rate),
            burst: pick(|l| l.burst, self.default.burst),
        }
    }

    /// The override entry of `role`, created empty when absent.
    pub fn role_mut(&mut self, role: Role) -> &mut RoleLimits {
        let at = match self.roles.iter().position(|(r, _)| *r == role) {
            Some(i) => i,
            None => {
                self.roles.push((role, RoleLimits::default()));
                self.roles.len() - 1
            }
        };
        &mut self.roles[at].1
    }
}

/// Which limit refused a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallerLimitKind {
    /// The caller already has `max` calls in flight.
    Concurrency {
        /// The caller's concurrency limit.
        max: u32,
    },
    /// The caller's token bucket is empty.
    Rate {
        /// The caller's sustained rate, calls per second.
        rate: u32,
        /// The caller's burst.
        burst: u32,
    },
    /// [`MAX_TRACKED_CALLERS`] other callers all have calls in flight: a new caller cannot be
    /// tracked without forgetting an active one.
    Tracking,
}

impl CallerLimitKind {
    /// The `ErrorInfo` reason and the metric label.
    pub fn reason(self) -> &'static str {
        match self {
            CallerLimitKind::Concurrency { .. } => "CALLER_CONCURRENCY_LIMIT",
            CallerLimitKind::Rate { .. } => "CALLER_RATE_LIMIT",
            CallerLimitKind::Tracking => "CALLER_TABLE_FULL",
        }
    }
}

/// A refusal: which limit, and when a retry may succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// The limit that refused.
    pub kind: CallerLimitKind,
    /// When trying again may succeed.
    pub retry_after: Duration,
}

/// A generic cell rate algorithm (GCRA) token bucket: the theoretical arrival time `tat` of the
/// next call moves `1/rate` forward with each admitted call; a call is admitted while `tat` stays
/// within `burst` emission intervals of now. Equivalent to a bucket of `burst` tokens refilled at
/// `rate` per second, with exact integer arithmetic and one timestamp of state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenBucket {
    tat: Instant,
}

impl TokenBucket {
    /// A full bucket at `now`.
    pub fn new(now: Instant) -> TokenBucket {
        TokenBucket { tat: now }
    }

    /// Takes one token at `now`, or says how long until one is available.
    pub fn take(&mut self, now: Instant, rate: u32, burst: u32) -> Result<(), Duration> {
        // Emission interval in nanoseconds; `rate` is at least 1 (config bounds), `.max(1)` keeps
        // a zero from dividing anyway.
        let interval = Duration::from_nanos(1_000_000_000 / u64::from(rate.max(1)));
        let window = interval.saturating_mul(burst.max(1));
        let next = self.tat.max(now) + interval;
        let ahead = next.saturating_duration_since(now);
        if ahead > window {
            return Err(ahead - window);
        }
        self.tat = next;
        Ok(())
    }

    /// True when the bucket is full at `now`: forgetting it loses nothing.
    pub fn is_full(&self, now: Instant) -> bool {
        self.tat <= now
    }
}

#[derive(Debug)]
struct Entry {
    in_flight: u32,
    bucket: TokenBucket,
    last_seen: Instant,
}

#[derive(Debug)]
struct Table {
    callers: HashMap<[u8; 32], Entry>,
    last_sweep: Instant,
    capacity: usize,
}

impl Table {
    /// Removes callers that carry no state (nothing in flight, full bucket).
    fn sweep(&mut self, now: Instant) {
        self.callers
            .retain(|_, e| e.in_flight > 0 || !e.bucket.is_full(now));
        self.last_sweep = now;
    }

    /// Makes room for one more caller; false when every tracked caller has calls in flight.
    fn make_room(&mut self, now: Instant) -> bool {
        if self.callers.len() < self.capacity {
            return true;
        }
        self.sweep(now);
        if self.callers.len() < self.capacity {
            return true;
        }
        // Still full: forget the least recently seen caller with nothing in flight. Its bucket
        // restarts full, a bounded leniency that only a table of thousands of callers can reach.
        let victim = self
            .callers
            .iter()
            .filter(|(_, e)| e.in_flight == 0)
            .min_by_key(|(_, e)| e.last_seen)
            .map(|(k, _)| *k);
        match victim {
            Some(k) => {
                self.callers.remove(&k);
                true
            }
            None => false,
        }
    }
}

/// The per-caller limit state shared by every connection.
#[derive(Debug, Clone)]
pub struct Limiter {
    config: Arc<LimitsConfig>,
    table: Arc<Mutex<Table>>,
}

/// A caller's slot: releases the concurrency count when dropped.
#[derive(Debug)]
pub struct Permit {
    table: Arc<Mutex<Table>>,
    key: [u8; 32],
}

impl Drop for Permit {
    fn drop(&mut self) {
        // A poisoned lock means a panic elsewhere while holding it; the count is then moot.
        if let Ok(mut t) = self.table.lock() {
            if let Some(e) = t.callers.get_mut(&self.key) {
                e.in_flight = e.in_flight.saturating_sub(1);
            }
        }
    }
}

impl Limiter {
    /// A limiter enforcing `config`, tracking at most [`MAX_TRACKED_CALLERS`] callers.
    pub fn new(config: LimitsConfig, now: Instant) -> Limiter {
        Limiter::with_capacity(config, MAX_TRACKED_CALLERS, now)
    }

    fn with_capacity(config: LimitsConfig, capacity: usize, now: Instant) -> Limiter {
        Limiter {
            config: Arc::new(config),
            table: Arc::new(Mutex::new(Table {
                callers: HashMap::new(),
                last_sweep: now,
                capacity: capacity.max(1),
            })),
        }
    }

    /// Admits one call of `caller` at `now`, or refuses it. Concurrency is checked first so that a
    /// call refused for concurrency does not also spend a token.
    pub fn admit(&self, caller: &Caller, now: Instant) -> Result<Permit, Refused> {
        let limits = self.config.for_roles(&caller.roles);
        let Ok(mut t) = self.table.lock() else {
            // Poisoned by a panic in another call: fail open rather than refuse everyone; the
            // limits are a protection, not a security boundary (roles are).
            return Ok(Permit {
                table: self.table.clone(),
                key: caller.fingerprint,
            });
        };
        if now.saturating_duration_since(t.last_sweep) >= SWEEP_INTERVAL {
            t.sweep(now);
        }
        if !t.callers.contains_key(&caller.fingerprint) {
            if !t.make_room(now) {
                return Err(Refused {
                    kind: CallerLimitKind::Tracking,
                    retry_after: CONCURRENCY_RETRY_DELAY,
                });
            }
            t.callers.insert(
                caller.fingerprint,
                Entry {
                    in_flight: 0,
                    bucket: TokenBucket::new(now),
                    last_seen: now,
                },
            );
        }
        let Some(entry) = t.callers.get_mut(&caller.fingerprint) else {
            // Inserted just above under the same lock.
            return Err(Refused {
                kind: CallerLimitKind::Tracking,
                retry_after: CONCURRENCY_RETRY_DELAY,
            });
        };
        entry.last_seen = now;
        if entry.in_flight >= limits.max_concurrent {
            return Err(Refused {
                kind: CallerLimitKind::Concurrency {
                    max: limits.max_concurrent,
                },
                retry_after: CONCURRENCY_RETRY_DELAY,
            });
        }
        entry
            .bucket
            .take(now, limits.rate, limits.burst)
            .map_err(|retry_after| Refused {
                kind: CallerLimitKind::Rate {
                    rate: limits.rate,
                    burst: limits.burst,
                },
                retry_after,
            })?;
        entry.in_flight += 1;
        Ok(Permit {
            table: self.table.clone(),
            key: caller.fingerprint,
        })
    }

    /// Callers currently tracked (for tests and the soak).
    pub fn tracked(&self) -> usize {
        self.table.lock().map(|t| t.callers.len()).unwrap_or(0)
    }
}

/// True for the standard services that are never limited: health checking (load balancers and
/// Kubernetes probes must see a busy bridge as alive) and reflection (grpcurl).
pub fn is_exempt(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.") || path.starts_with("/grpc.reflection.")
}

/// The tower layer enforcing a [`Limiter`]; it sits after [`super::AuthorizeLayer`], whose
/// [`Caller`] it reads from the request extensions.
#[derive(Debug, Clone)]
pub struct LimitsLayer {
    limiter: Limiter,
    refusals: IntCounterVec,
}

impl LimitsLayer {
    /// A layer enforcing `limiter`, counting refusals by reason into `refusals`.
    pub fn new(limiter: Limiter, refusals: IntCounterVec) -> LimitsLayer {
        LimitsLayer { limiter, refusals }
    }
}

impl<S> Layer<S> for LimitsLayer {
    type Service = Limits<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Limits {
            inner,
            limiter: self.limiter.clone(),
            refusals: self.refusals.clone(),
        }
    }
}

/// See [`LimitsLayer`].
#[derive(Debug, Clone)]
pub struct Limits<S> {
    inner: S,
    limiter: Limiter,
    refusals: IntCounterVec,
}

type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S> Service<http::Request<Body>> for Limits<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<http::Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let caller = match req.extensions().get::<Caller>() {
            Some(c) if !is_exempt(req.uri().path()) => c,
            // Exempt, or no caller: the access layer refuses callers it cannot resolve, so only
            // exempt paths (and unit tests without that layer) reach this arm.
            _ => return Box::pin(self.inner.call(req)),
        };
        match self.limiter.admit(caller, Instant::now()) {
            Ok(permit) => {
                let fut = self.inner.call(req);
                Box::pin(async move {
                    let resp = fut.await?;
                    // The permit lives in the body: a stream holds its slot until it ends.
                    Ok(resp.map(|body| {
                        Body::new(body.map_frame(move |frame| {
                            let _slot = &permit;
                            frame
                        }))
                    }))
                })
            }
            Err(refused) => {
                self.refusals
                    .with_label_values(&[refused.kind.reason()])
                    .inc();
                tracing::info!(
                    rpc = req.uri().path(),
                    reason = refused.kind.reason(),
                    "call over the caller's limit"
                );
                let status: tonic::Status = crate::error::Error::CallerLimit {
                    limit: refused.kind,
                    retry_after: refused.retry_after,
                }
                .into();
                Box::pin(std::future::ready(Ok(status.into_http::<Body>())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(n: u8, roles: Vec<Role>) -> Caller {
        Caller {
            fingerprint: [n; 32],
            subject: format!("CN=caller-{n}"),
            chain: Arc::from(Vec::new()),
            roles,
            peer_country: None,
        }
    }

    fn limits(max_concurrent: u32, rate: u32, burst: u32) -> LimitsConfig {
        LimitsConfig {
            default: CallerLimits {
                max_concurrent,
                rate,
                burst,
            },
            roles: Vec::new(),
        }
    }

    #[test]
    fn bucket_allows_the_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(t0);
        // 10 per second, burst 3: three at once, the fourth waits one interval (100 ms).
        for _ in 0..3 {
            assert_eq!(b.take(t0, 10, 3), Ok(()));
        }
        assert_eq!(b.take(t0, 10, 3), Err(Duration::from_millis(100)));
        // 40 ms later: 60 ms still to wait.
        let t = t0 + Duration::from_millis(40);
        assert_eq!(b.take(t, 10, 3), Err(Duration::from_millis(60)));
        // After one interval exactly one more is admitted.
        let t = t0 + Duration::from_millis(100);
        assert_eq!(b.take(t, 10, 3), Ok(()));
        assert_eq!(b.take(t, 10, 3), Err(Duration::from_millis(100)));
        assert!(!b.is_full(t));
        // After a long pause the bucket is full again, and only `burst` calls pass.
        let t = t0 + Duration::from_secs(10);
        assert!(b.is_full(t));
        for _ in 0..3 {
            assert_eq!(b.take(t, 10, 3), Ok(()));
        }
        assert!(b.take(t, 10, 3).is_err());
    }

    #[test]
    fn bucket_sustains_exactly_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(t0);
        // 1000 calls at 100/s, one every 10 ms: all pass, burst 1 or not.
        for i in 0..1000u64 {
            let t = t0 + Duration::from_millis(10 * i);
            assert_eq!(b.take(t, 100, 1), Ok(()), "call {i}");
        }
        // A call 5 ms after the last one is early by 5 ms.
        let t = t0 + Duration::from_millis(9995);
        assert_eq!(b.take(t, 100, 1), Err(Duration::from_millis(5)));
    }

    #[test]
    fn concurrency_gate_counts_in_flight_calls() {
        let t0 = Instant::now();
        let limiter = Limiter::new(limits(2, 1000, 1000), t0);
        let a = caller(1, vec![Role::Operator]);
        let first = limiter.admit(&a, t0).unwrap();
        let second = limiter.admit(&a, t0).unwrap();
        assert_eq!(
            limiter.admit(&a, t0).unwrap_err(),
            Refused {
                kind: CallerLimitKind::Concurrency { max: 2 },
                retry_after: CONCURRENCY_RETRY_DELAY
            }
        );
        // Another caller has its own slots.
        let b = caller(2, vec![Role::Operator]);
        let _other = limiter.admit(&b, t0).unwrap();
        drop(first);
        let _third = limiter.admit(&a, t0).unwrap();
        assert!(limiter.admit(&a, t0).is_err());
        drop(second);
        assert!(limiter.admit(&a, t0).is_ok());
    }

    #[test]
    fn rate_refusal_names_the_limit_and_the_delay() {
        let t0 = Instant::now();
        let limiter = Limiter::new(limits(100, 4, 2), t0);
        let a = caller(1, vec![Role::Operator]);
        drop(limiter.admit(&a, t0).unwrap());
        drop(limiter.admit(&a, t0).unwrap());
        assert_eq!(
            limiter.admit(&a, t0).unwrap_err(),
            Refused {
                kind: CallerLimitKind::Rate { rate: 4, burst: 2 },
                retry_after: Duration::from_millis(250)
            }
        );
        // A concurrency refusal does not spend a token.
        let limiter = Limiter::new(limits(1, 4, 1), t0);
        let held = limiter.admit(&a, t0).unwrap();
        let later = t0 + Duration::from_millis(250);
        assert!(matches!(
            limiter.admit(&a, later).unwrap_err().kind,
            CallerLimitKind::Concurrency { max: 1 }
        ));
        drop(held);
        assert!(limiter.admit(&a, later).is_ok());
    }

    #[test]
    fn role_overrides_take_the_most_generous() {
        let mut config = limits(10, 100, 100);
        config.role_mut(Role::Peer).rate = Some(500);
        config.role_mut(Role::Auditor).rate = Some(5);
        config.role_mut(Role::Auditor).max_concurrent = Some(2);
        assert_eq!(
            config.for_roles(&[Role::Auditor]),
            CallerLimits {
                max_concurrent: 2,
                rate: 5,
                burst: 100
            }
        );
        assert_eq!(config.for_roles(&[Role::Auditor, Role::Peer]).rate, 500);
        assert_eq!(config.for_roles(&[Role::Operator]), config.default);
        assert_eq!(config.roles.len(), 2);
    }

    #[test]
    fn idle_callers_are_evicted_and_the_table_stays_bounded() {
        let t0 = Instant::now();
        let limiter = Limiter::with_capacity(limits(1, 10, 1), 3, t0);
        // Three callers with a call in flight fill the table; a fourth cannot be tracked.
        let held: Vec<Permit> = (1..=3)
            .map(|n| limiter.admit(&caller(n, vec![]), t0).unwrap())
            .collect();
        assert_eq!(
            limiter.admit(&caller(4, vec![]), t0).unwrap_err().kind,
            CallerLimitKind::Tracking
        );
        assert_eq!(limiter.tracked(), 3);
        drop(held);
        // Their buckets are still refilling: no lossless eviction yet, so the least recently
        // seen one makes room.
        let t1 = t0 + Duration::from_millis(10);
        assert!(limiter.admit(&caller(4, vec![]), t1).is_ok());
        assert_eq!(limiter.tracked(), 3);
        // A full sweep interval later, every idle caller with a full bucket is forgotten.
        let t2 = t1 + SWEEP_INTERVAL;
        assert!(limiter.admit(&caller(5, vec![]), t2).is_ok());
        assert_eq!(limiter.tracked(), 1);
    }

    #[test]
    fn exempt_paths() {
        assert!(is_exempt("/grpc.health.v1.Health/Check"));
        assert!(is_exempt(
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
        ));
        assert!(!is_exempt("/eidas.bridge.v1.ExchangeService/Submit"));
    }
}
