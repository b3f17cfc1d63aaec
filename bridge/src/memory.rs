//! Giving freed heap pages back to the operating system, and reporting the resident set (by
//! kind and by region) and what the allocator itself holds live and free.
//!
//! glibc's malloc returns memory to the kernel only from the top of each heap, and only past
//! `M_TRIM_THRESHOLD`. Pages freed in the middle of a heap stay resident until malloc reuses
//! them. A bridge's allocations come in bursts: a peer back from an outage delivers its backlog,
//! a retention sweep decodes a batch of records, the relay holds the payloads of
//! `exchange::MAX_BATCHES_IN_FLIGHT_PER_PEER` batches per peer at once. After each burst the
//! freed pages sit in heaps spread over the per-thread arenas. Then the resident set ratchets up
//! to the largest burst and stays there, although the live heap is flat: under heaptrack, the
//! 10-minute soak ended with 25.9 MB live after 150 s and 26.2 MB after 330 s, while RSS rose
//! 109 → 144 MB (deploy/OPERATIONS.md). The arena and trim tunables do not reach those pages
//! (`GLIBC_TUNABLES=glibc.malloc.trim_threshold=…` only moves the top-of-heap threshold).
//!
//! `malloc_trim(0)` does: since glibc 2.8 it walks every arena and advises the kernel
//! (`MADV_DONTNEED`) to drop every whole free page, wherever it lies. A task calls it every
//! `server.heap_release_interval` (default [`DEFAULT_HEAP_RELEASE_INTERVAL`]) on the blocking
//! pool, and exports the resident set and what each release gave back. On other C libraries
//! (musl, the BSDs) [`release_free_heap`] does nothing: their allocators unmap freed spans
//! themselves.

use std::time::Duration;

use std::time::Instant;

use prometheus::{Histogram, HistogramOpts, IntCounter, IntGauge, Opts, Registry};
use tokio::sync::watch;

/// Default `server.heap_release_interval`. One release walks the arenas' free lists under their
/// locks and costs about a millisecond for the soak's heap of 80 MB
/// (`eidas_bridge_heap_release_seconds`); the pages it gives back that malloc reuses fault in
/// again at first touch. Every ten seconds that is a tenth of a per mille of one core, and it
/// keeps the resident set within ten seconds of churn of the live heap.
pub const DEFAULT_HEAP_RELEASE_INTERVAL: Duration = Duration::from_secs(10);

/// Buckets of `heap_release_seconds`: from 100 µs (a small heap) to 100 ms (gigabytes of free
/// chunks, which would be a reason to release more often).
const RELEASE_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1,
];

/// Resident set size of this process in bytes, from `/proc/self/statm` (resident pages times
/// the page size); `None` where procfs is absent.
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let resident_pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(resident_pages * page_size())
}

/// The resident set by kind, KiB, from `/proc/self/status`: anonymous memory (heap, stacks,
/// anonymous mappings) and file-backed pages (the executable's and libraries' code and data as
/// it is touched). Growth of the first is memory the process holds; growth of the second is
/// code paths run for the first time, which the kernel may drop and reload.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ResidentKinds {
    /// `RssAnon`.
    pub anon_kib: u64,
    /// `RssFile`.
    pub file_kib: u64,
}

/// This process's [`ResidentKinds`]; `None` where procfs is absent.
pub fn resident_kinds() -> Option<ResidentKinds> {
    parse_resident_kinds(&std::fs::read_to_string("/proc/self/status").ok()?)
}

fn parse_resident_kinds(status: &str) -> Option<ResidentKinds> {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some(ResidentKinds {
        anon_kib: field("RssAnon:")?,
        file_kib: field("RssFile:")?,
    })
}

/// The anonymous resident set by region, KiB, from `/proc/self/smaps`: where growth is, when the
/// total grows. A leak in a long-lived structure grows one region steadily; heap fragmentation
/// shows as steps in the arenas of the threads that allocate. (This is how `bench soak` found
/// the sled tree that kept every checkpoint resident: two mappings, one per bridge, each growing
/// by 40 KiB a minute.)
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct AnonRegions {
    /// The main arena (`[heap]`).
    pub heap_kib: u64,
    /// glibc's other arenas: heaps of [`ARENA_HEAP_ALIGN`]-aligned mappings, one or more per
    /// arena, shared by the threads attached to it.
    pub arenas_kib: u64,
    /// Thread stacks: mappings right above a guard mapping, and the main `[stack]`.
    pub stacks_kib: u64,
    /// Every other anonymous mapping: large allocations served by `mmap`, and the allocations
    /// of libraries that map memory themselves.
    pub other_kib: u64,
}

/// Alignment of the heaps of glibc's non-main arenas on 64-bit systems (`HEAP_MAX_SIZE`, twice
/// the largest mmap threshold of 32 MiB): an anonymous mapping starting on it is an arena heap.
pub const ARENA_HEAP_ALIGN: u64 = 64 * 1024 * 1024;

/// This process's [`AnonRegions`]; `None` where procfs is absent.
pub fn anon_regions() -> Option<AnonRegions> {
    Some(parse_anon_regions(
        &std::fs::read_to_string("/proc/self/smaps").ok()?,
    ))
}

fn parse_anon_regions(smaps: &str) -> AnonRegions {
    let mut regions = AnonRegions::default();
    // The region of the mapping whose fields are being read, and where the one before ended
    // with no access rights (a guard), to recognise the stack above it.
    let mut current: Option<fn(&mut AnonRegions) -> &mut u64> = None;
    let mut guard_end: Option<u64> = None;
    for line in smaps.lines() {
        if let Some(kib) = line.strip_prefix("Anonymous:") {
            let kib: u64 = kib
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .unwrap_or(0);
            if let Some(region) = current {
                *region(&mut regions) += kib;
            }
            continue;
        }
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        let Some((start, end)) = range.split_once('-').and_then(|(a, b)| {
            Some((
                u64::from_str_radix(a, 16).ok()?,
                u64::from_str_radix(b, 16).ok()?,
            ))
        }) else {
            // A field line ("Rss:", "VmFlags:"…), not a mapping header.
            continue;
        };
        let name = fields.nth(3).unwrap_or("");
        let after_guard = guard_end == Some(start);
        guard_end = perms.starts_with("---p").then_some(end);
        current = match name {
            "[heap]" => Some(|r| &mut r.heap_kib),
            "[stack]" => Some(|r| &mut r.stacks_kib),
            "" if start % ARENA_HEAP_ALIGN == 0 => Some(|r| &mut r.arenas_kib),
            "" if after_guard => Some(|r| &mut r.stacks_kib),
            "" => Some(|r| &mut r.other_kib),
            _ => None,
        };
    }
    regions
}

/// What the allocator itself counts, KiB: the bytes handed out and not yet freed, and the free
/// bytes it keeps in its heaps. Next to the anonymous resident set this tells a growing live
/// heap (a structure that keeps more, or a collection that reached a new capacity) from
/// fragmentation (the same live bytes spread over more resident pages).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct HeapUsage {
    /// Live allocations: glibc's `uordblks` (in the arenas) plus `hblkhd` (mmap'd chunks).
    pub in_use_kib: u64,
    /// Free chunks kept in the arenas (`fordblks`), resident or not.
    pub free_kib: u64,
}

/// This process's [`HeapUsage`]; `None` where the allocator does not report it. It walks every
/// arena's free lists under their locks (`mallinfo2(3)`): a sampling call, not a hot-path one.
pub fn heap_usage() -> Option<HeapUsage> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallinfo2` only reads the allocator's own statistics under the arena locks
        // and returns them by value; it is safe to call from any thread (mallinfo2(3)).
        #[allow(unsafe_code)]
        let info = unsafe { libc::mallinfo2() };
        let kib = |bytes: usize| (bytes / 1024) as u64;
        Some(HeapUsage {
            in_use_kib: kib(info.uordblks) + kib(info.hblkhd),
            free_kib: kib(info.fordblks),
        })
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        None
    }
}

fn page_size() -> u64 {
    rustix::param::page_size() as u64
}

/// Asks the allocator to give every whole free page back to the kernel. Returns whether it
/// released anything (glibc's answer); always `false` where the allocator has no such call.
pub fn release_free_heap() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `malloc_trim` takes a padding value and touches only the allocator's own
        // state, under the arena locks; it is documented as safe to call from any thread at any
        // time (glibc manual, "Memory Allocation Tunables"; malloc_trim(3)).
        #[allow(unsafe_code)]
        let released = unsafe { libc::malloc_trim(0) };
        released == 1
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// The metrics of the heap release task, registered with the bridge's registry.
#[derive(Debug, Clone)]
pub struct HeapMetrics {
    /// `process_resident_memory_bytes`, sampled after each release.
    pub resident: IntGauge,
    /// Bytes by which the resident set shrank across releases, summed.
    pub released: IntCounter,
    /// How long each release took.
    pub seconds: Histogram,
}

impl HeapMetrics {
    /// Creates and registers the metrics.
    ///
    /// # Errors
    /// If a metric of the same name is already registered.
    pub fn register(registry: &Registry) -> Result<HeapMetrics, prometheus::Error> {
        let resident = IntGauge::with_opts(Opts::new(
            "process_resident_memory_bytes",
            "Resident set size, sampled after each heap release",
        ))?;
        let released = IntCounter::with_opts(Opts::new(
            "heap_released_bytes_total",
            "Resident bytes given back to the kernel by the periodic heap release",
        ))?;
        let seconds = Histogram::with_opts(
            HistogramOpts::new(
                "heap_release_seconds",
                "Duration of each periodic heap release",
            )
            .buckets(RELEASE_BUCKETS.to_vec()),
        )?;
        registry.register(Box::new(resident.clone()))?;
        registry.register(Box::new(released.clone()))?;
        registry.register(Box::new(seconds.clone()))?;
        Ok(HeapMetrics {
            resident,
            released,
            seconds,
        })
    }
}

/// One release: trims the heap and records the resident set before and after. Returns the
/// bytes given back (zero when the resident set did not shrink). Blocking.
pub fn release_and_record(metrics: &HeapMetrics) -> u64 {
    let before = resident_bytes();
    let started = Instant::now();
    release_free_heap();
    let took = started.elapsed();
    metrics.seconds.observe(took.as_secs_f64());
    let after = resident_bytes();
    if let Some(after) = after {
        metrics
            .resident
            .set(i64::try_from(after).unwrap_or(i64::MAX));
    }
    let released = match (before, after) {
        (Some(b), Some(a)) => b.saturating_sub(a),
        _ => 0,
    };
    metrics.released.inc_by(released);
    tracing::debug!(released, micros = took.as_micros() as u64, "heap release");
    released
}

/// Releases free heap pages every `interval` until `stop` turns true. An interval of zero
/// turns the task off (it then only waits for `stop`).
pub async fn release_periodically(
    interval: Duration,
    metrics: HeapMetrics,
    mut stop: watch::Receiver<bool>,
) {
    if interval.is_zero() {
        let _ = stop.wait_for(|s| *s).await;
        return;
    }
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick of a tokio interval is immediate; nothing has been freed yet at start.
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let m = metrics.clone();
        match tokio::task::spawn_blocking(move || release_and_record(&m)).await {
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "heap release task failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_memory_is_told_apart_by_region() {
        // Shapes from a bridge's smaps: the main heap, an arena heap (64 MiB-aligned) with its
        // reserved tail, a thread stack above its guard page, an mmap'd buffer, and a library's
        // data mapping (file-backed, not counted).
        let smaps = "\
55d0c0000000-55d0c0500000 rw-p 00000000 00:00 0                          [heap]
Anonymous:          4400 kB
7f1b68000000-7f1b68a00000 rw-p 00000000 00:00 0 
Anonymous:          9800 kB
7f1b68a00000-7f1b6c000000 ---p 00000000 00:00 0 
Anonymous:             0 kB
7f1b6fbff000-7f1b6fc00000 ---p 00000000 00:00 0 
Anonymous:             0 kB
7f1b6fc00000-7f1b6fe00000 rw-p 00000000 00:00 0 
Anonymous:            16 kB
7f1b70100000-7f1b70800000 rw-p 00000000 00:00 0 
Anonymous:            28 kB
7f1b71000000-7f1b71010000 rw-p 00020000 08:01 1234                       /usr/lib/libssl.so.3
Anonymous:             8 kB
7ffd10000000-7ffd10021000 rw-p 00000000 00:00 0                          [stack]
Anonymous:           132 kB
";
        assert_eq!(
            parse_anon_regions(smaps),
            AnonRegions {
                heap_kib: 4400,
                arenas_kib: 9800,
                stacks_kib: 16 + 132,
                other_kib: 28,
            }
        );
    }

    #[test]
    fn this_process_has_anonymous_memory_in_some_region() {
        let regions = anon_regions().expect("procfs");
        let total = regions.heap_kib + regions.arenas_kib + regions.stacks_kib + regions.other_kib;
        let anon = resident_kinds().expect("procfs").anon_kib;
        // smaps and status are read at different instants of a running test binary.
        assert!(
            total > 0 && total <= anon * 2,
            "{regions:?} against {anon} KiB"
        );
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn the_live_heap_counts_a_held_allocation() {
        // 64 MiB is above glibc's largest mmap threshold (32 MiB), so it is counted in `hblkhd`
        // whatever the threshold is now. Other tests allocate and free concurrently in this
        // process (one freed 20 MiB between the two readings once), hence the 16 MiB of slack
        // and a few tries: a heap that does not count the allocation fails every one.
        let mut seen = Vec::new();
        for _ in 0..5 {
            let before = heap_usage().expect("glibc reports its heap");
            let held = std::hint::black_box(vec![1u8; 64 << 20]);
            let during = heap_usage().expect("glibc reports its heap");
            drop(held);
            if during.in_use_kib >= before.in_use_kib + 48 * 1024 {
                return;
            }
            seen.push((before, during));
        }
        panic!("the held 64 MiB never showed: {seen:?}");
    }

    #[test]
    fn the_resident_set_is_read_and_plausible() {
        let rss = resident_bytes().expect("procfs is mounted on the test machines");
        // A test binary maps at least its own code; no test process here is near 64 GiB.
        assert!(rss > 1 << 20, "{rss}");
        assert!(rss < 64 << 30, "{rss}");
    }

    #[test]
    fn resident_kinds_are_read_from_proc_status() {
        let status = "Name:\tx\nVmRSS:\t  300 kB\nRssAnon:\t  200 kB\nRssFile:\t   100 kB\n";
        assert_eq!(
            parse_resident_kinds(status),
            Some(ResidentKinds {
                anon_kib: 200,
                file_kib: 100
            })
        );
        assert_eq!(parse_resident_kinds("VmRSS:\t300 kB\n"), None);
        let live = resident_kinds().expect("procfs is mounted on the test machines");
        assert!(live.anon_kib > 0 && live.file_kib > 0, "{live:?}");
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn freed_pages_in_the_middle_of_the_heap_are_given_back() {
        // Many allocations below the mmap threshold land in the heap; freeing all but the last
        // leaves free pages in the middle that glibc's automatic top trim cannot return.
        let blocks: Vec<Vec<u8>> = (0..4096).map(|i| vec![i as u8; 32 * 1024]).collect();
        let pin = vec![1u8; 32 * 1024];
        drop(blocks);
        let registry = Registry::new();
        let metrics = HeapMetrics::register(&registry).expect("fresh registry");
        let released = release_and_record(&metrics);
        std::hint::black_box(&pin);
        // 128 MiB were touched and freed; other test threads may allocate meanwhile, so ask
        // for a quarter of it back rather than all.
        assert!(released > 32 << 20, "released only {released} bytes");
        assert_eq!(metrics.released.get(), released);
        assert_eq!(metrics.seconds.get_sample_count(), 1);
        assert!(metrics.resident.get() > 0);
    }

    #[tokio::test]
    async fn a_zero_interval_turns_the_task_off_and_stop_ends_it() {
        let registry = Registry::new();
        let metrics = HeapMetrics::register(&registry).expect("fresh registry");
        let (tx, rx) = watch::channel(false);
        let task = tokio::spawn(release_periodically(Duration::ZERO, metrics.clone(), rx));
        tokio::task::yield_now().await;
        tx.send(true).expect("task alive");
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("stops")
            .expect("no panic");
        assert_eq!(metrics.released.get(), 0);
    }
}
