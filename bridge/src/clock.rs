//! Wall-clock time for the gateway, behind the [`Clock`] trait so that fault tests can make it
//! jump (an NTP step, a VM resumed from suspend, an operator's mistake) while messages are in
//! flight.
//!
//! Only the wall clock goes through here: the instants that are recorded or judged (journal
//! entry times, acceptance times and deadlines in the outbox, the instant at which a seal or
//! receipt chain is validated against the trusted lists). Timeouts, retry backoff and
//! checkpoint intervals use the monotonic clock (`tokio::time`, `std::time::Instant`), which no
//! wall-clock jump moves. Validators still take the instant as a parameter (DESIGN.md: "Time is
//! an input to every validation"); the clock is read by the callers that hand it in.

use std::sync::atomic::{AtomicI64, Ordering};

use time::{Duration, OffsetDateTime};

/// A source of wall-clock time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current wall-clock instant (UTC).
    fn now(&self) -> OffsetDateTime;
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// The system clock shifted by an offset that can be changed at any time: a wall clock that
/// jumps forward or back. For tests.
#[derive(Debug, Default)]
pub struct OffsetClock {
    /// The offset in nanoseconds; an `i64` covers ±292 years.
    offset_nanos: AtomicI64,
}

impl OffsetClock {
    /// A clock with no offset yet.
    pub fn new() -> OffsetClock {
        OffsetClock::default()
    }

    /// Makes the clock read the system time plus `offset` from now on (saturating at the `i64`
    /// nanosecond range).
    pub fn set_offset(&self, offset: Duration) {
        let nanos = i64::try_from(offset.whole_nanoseconds()).unwrap_or(if offset.is_negative() {
            i64::MIN
        } else {
            i64::MAX
        });
        self.offset_nanos.store(nanos, Ordering::SeqCst);
    }

    /// The offset in force.
    pub fn offset(&self) -> Duration {
        Duration::nanoseconds(self.offset_nanos.load(Ordering::SeqCst))
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc().saturating_add(self.offset())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_clock_jumps_both_ways() {
        let clock = OffsetClock::new();
        let real = OffsetDateTime::now_utc();
        clock.set_offset(Duration::days(2));
        assert!(clock.now() - real >= Duration::days(2));
        clock.set_offset(Duration::hours(-1));
        assert!(clock.now() < OffsetDateTime::now_utc() - Duration::minutes(59));
        assert_eq!(clock.offset(), Duration::hours(-1));
        // An absurd offset saturates instead of overflowing.
        clock.set_offset(Duration::MAX);
        assert_eq!(clock.offset(), Duration::nanoseconds(i64::MAX));
        let _ = clock.now();
    }
}
