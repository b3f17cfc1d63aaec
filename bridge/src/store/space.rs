//! Free-space admission: new work (an operator's Submit, a peer's Deliver) is refused while the
//! file system under the store is nearly full, before sled or the journal meet `ENOSPC`.
//!
//! Why refuse early: work already accepted must still be written to finish (attempt counts,
//! receipts, delivery states, journal entries, checkpoints), and sled 0.34 does not survive a
//! full disk in the same process (see `durable`: a failed blob write can leave its log buffer
//! unflushable). Keeping a reserve free lets accepted work finish and lets the bridge take new
//! work again as soon as space is freed, without a restart. Elasticsearch's disk watermarks
//! (refuse writes at a "flood stage" of usage) follow the same idea.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::StoreError;

/// How long [`SpaceGuard::admit`] decides from one `statvfs`. Every Submit and every delivered
/// envelope is admitted: at a few thousand a second, one call each was a measurable share of
/// the exchange's system time. What it admits meanwhile is subtracted from the free space it
/// saw, so the reserve is never spent faster than with a call per admission.
const REPORT_TTL: Duration = Duration::from_millis(10);

/// Share of the file system kept free, in percent, as Elasticsearch's default high watermark
/// (90% used) does; bounded by [`RESERVE_FLOOR`] and [`RESERVE_CAP`].
pub const RESERVE_PERCENT: u64 = 10;

/// Most space kept free whatever the disk's size: 256 MiB is far more than accepted work still
/// needs to finish (records of a few KiB per message, journal entries of a few hundred bytes,
/// sled's 512 KiB log segments: thousands of in-flight messages), while a tenth of a large disk
/// would keep tens of gigabytes idle and refuse work on a disk that is merely well used (and
/// on shared build machines, whose disks are large and busy, refuse the test suite's work).
pub const RESERVE_CAP: u64 = 256 * 1024 * 1024;

/// Least space kept free whatever the disk's size: four sled segments of 512 KiB (sled 0.34's
/// default `segment_size`), room for the store's and the journal index's next log segments.
pub const RESERVE_FLOOR: u64 = 2 * 1024 * 1024;

/// Free space and size of the file system holding a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpaceReport {
    /// Bytes available to this (unprivileged) process.
    pub available: u64,
    /// Total bytes of the file system.
    pub total: u64,
}

impl SpaceReport {
    /// Bytes that must stay free: [`RESERVE_PERCENT`] of the total, at least [`RESERVE_FLOOR`]
    /// and at most [`RESERVE_CAP`].
    pub fn reserve(&self) -> u64 {
        (self.total / 100 * RESERVE_PERCENT).clamp(RESERVE_FLOOR, RESERVE_CAP)
    }

    /// True when writing `incoming` more bytes would eat into the reserve.
    pub fn refuses(&self, incoming: u64) -> bool {
        self.available < self.reserve().saturating_add(incoming)
    }
}

/// Checks free space under one directory.
#[derive(Debug, Clone)]
pub struct SpaceGuard {
    dir: PathBuf,
    /// The last report, when it was taken, and the bytes admitted since.
    seen: Arc<Mutex<Option<(Instant, SpaceReport, u64)>>>,
}

impl SpaceGuard {
    /// A guard for the file system holding `dir`.
    pub fn new(dir: &Path) -> SpaceGuard {
        SpaceGuard {
            dir: dir.to_owned(),
            seen: Arc::default(),
        }
    }

    /// The file system's free space and size, or `None` when `statvfs` fails (then nothing is
    /// refused on its account: a probe failure must not stop the bridge).
    pub fn report(&self) -> Option<SpaceReport> {
        let s = rustix::fs::statvfs(&self.dir).ok()?;
        Some(SpaceReport {
            available: s.f_bavail.saturating_mul(s.f_frsize),
            total: s.f_blocks.saturating_mul(s.f_frsize),
        })
    }

    /// Admits new work that will store about `incoming` bytes, deciding from a report at most
    /// `REPORT_TTL` old less what it admitted since.
    ///
    /// # Errors
    /// [`StoreError::NoSpace`] when the reserve would be eaten into.
    pub fn admit(&self, incoming: u64) -> Result<(), StoreError> {
        // A poisoned lock only means a panic between two plain assignments; the value is whole.
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let (taken, report, admitted) = match *seen {
            Some(s) if s.0.elapsed() < REPORT_TTL => s,
            _ => match self.report() {
                Some(r) => (Instant::now(), r, 0),
                // No report (an unsupported file system): nothing to decide from.
                None => return Ok(()),
            },
        };
        let left = SpaceReport {
            available: report.available.saturating_sub(admitted),
            ..report
        };
        if left.refuses(incoming) {
            *seen = Some((taken, report, admitted));
            return Err(StoreError::NoSpace {
                available: left.available,
                reserve: left.reserve(),
            });
        }
        *seen = Some((taken, report, admitted.saturating_add(incoming)));
        Ok(())
    }

    /// True when the file system is down to its reserve (used to tell a stalled flush on a
    /// full disk from a slow one).
    pub fn is_low(&self) -> bool {
        self.report().is_some_and(|r| r.refuses(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserve_is_a_tenth_with_a_floor_and_a_cap() {
        let mid = SpaceReport {
            available: 800 << 20,
            total: 2 << 30,
        };
        assert_eq!(mid.reserve(), (2 << 30) / 100 * 10);
        assert!(!mid.refuses(1 << 20));
        assert!(mid.refuses(1 << 30));
        // A large disk at 90% use still takes work: the reserve is capped.
        let big = SpaceReport {
            available: 24 << 30,
            total: 252 << 30,
        };
        assert_eq!(big.reserve(), RESERVE_CAP);
        assert!(!big.refuses(1 << 20));
        assert!(big.refuses(24 << 30));
        let small = SpaceReport {
            available: 3 << 20,
            total: 8 << 20,
        };
        assert_eq!(small.reserve(), RESERVE_FLOOR);
        assert!(!small.refuses(512 << 10));
        assert!(!small.refuses(1 << 20));
        assert!(small.refuses((1 << 20) + 1));
    }

    #[test]
    fn admissions_between_two_reports_are_counted_against_the_free_space() {
        let dir = tempfile::tempdir().unwrap();
        let guard = SpaceGuard::new(dir.path());
        let r = guard.report().unwrap();
        let room = r.available.saturating_sub(r.reserve());
        assert!(room > 4, "the test machine's disk is down to its reserve");
        // Half the room, twice, within one report's life: the second no longer fits.
        let half = room / 2 + 1;
        *guard.seen.lock().unwrap() = Some((Instant::now(), r, 0));
        guard.admit(half).unwrap();
        assert!(matches!(
            guard.admit(half),
            Err(StoreError::NoSpace { available, .. }) if available == r.available - half
        ));
        // A stale report is taken again: what was admitted is no longer assumed written.
        *guard.seen.lock().unwrap() = Some((Instant::now() - REPORT_TTL * 2, r, half));
        guard.admit(half).unwrap();
    }

    #[test]
    fn a_real_directory_has_a_report() {
        let dir = tempfile::tempdir().unwrap();
        let r = SpaceGuard::new(dir.path()).report().unwrap();
        assert!(r.total > 0 && r.available <= r.total);
        let err = SpaceGuard::new(dir.path()).admit(u64::MAX).unwrap_err();
        assert!(
            matches!(err, StoreError::NoSpace { reserve, .. } if reserve == r.reserve()),
            "{err:?}"
        );
        assert!(err.is_storage_full());
    }
}
