//! The journal's Merkle nodes in flat files, one per tree level: node `(level, index)` is the 32
//! bytes at offset `32 * index` of `nodes/level-LL`. Every node has a computable place, so
//! writing is appending (nodes close left to right) and reading is one positional read, with no
//! index and nothing held in memory, as in the tile layout of transparency logs (C2SP
//! tlog-tiles).
//!
//! # Why not sled
//! The nodes used to live in a sled tree, two keys per entry. sled 0.34 keeps the pages it has
//! written resident whatever its cache capacity: under `bench soak`, heaptrack attributed 121 MB
//! of a 170 MB process to the node inserts after 48,000 messages, and RSS grew linearly with the
//! journal. Flat files leave that memory to the kernel's page cache, which can drop it.
//!
//! # Durability
//! Nodes are derived data: the journal rebuilds them from its segment from [`NodeFiles::len`]
//! on. Writes are not synced one by one; [`NodeFiles::sync`] (at each checkpoint) syncs the level
//! files and then records the size they cover in `nodes/len`. After a crash, nodes past that
//! watermark may be missing or zero and are rebuilt; nodes before it are durable. An all-zero
//! node reads as missing: it is a hole of a write that never reached the disk, not a SHA-256.
//! A failed `fdatasync` is never followed by a watermark: Linux may have dropped the dirty pages
//! it could not write ("fsyncgate"), so after one the watermark stays where it was until the
//! journal is reopened, and the reopen rebuilds everything past it.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::journal::merkle::Hash;
use crate::journal::storage::{StorageError, StorageOp};

/// Levels of a tree of at most 2^64 leaves.
const LEVELS: usize = 64;

/// Bytes of one node.
const NODE_LEN: u64 = 32;

/// The watermark file: the tree size whose nodes are durable, big-endian.
const LEN_FILE: &str = "len";

/// Merkle nodes by level in `dir` (see the module doc).
#[derive(Debug)]
pub(super) struct NodeFiles {
    dir: PathBuf,
    /// Level files opened so far (a level is created by its first node).
    levels: RwLock<Vec<Option<Arc<File>>>>,
    /// Leaves covered by the nodes written (durable up to the watermark only).
    len: AtomicU64,
    /// Set by a failed sync: the watermark is not advanced again until reopened.
    sync_failed: AtomicBool,
}

fn io(op: StorageOp) -> impl Fn(std::io::Error) -> StorageError {
    move |e| StorageError::io(op, &e)
}

impl NodeFiles {
    /// Opens (or creates) the node files in `dir`; the covered size is the durable watermark.
    ///
    /// # Errors
    /// I/O failures.
    pub(super) fn open(dir: &Path) -> Result<NodeFiles, StorageError> {
        std::fs::create_dir_all(dir).map_err(io(StorageOp::Open))?;
        let len = match std::fs::read(dir.join(LEN_FILE)) {
            Ok(bytes) => <[u8; 8]>::try_from(bytes.as_slice()).map_or(0, u64::from_be_bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(StorageError::io(StorageOp::Open, &e)),
        };
        Ok(NodeFiles {
            dir: dir.to_owned(),
            levels: RwLock::new(vec![None; LEVELS]),
            len: AtomicU64::new(len),
            sync_failed: AtomicBool::new(false),
        })
    }

    fn path(&self, level: usize) -> PathBuf {
        self.dir.join(format!("level-{level:02}"))
    }

    /// The file of `level`, opened (and with `create`, created) on first use.
    fn level(&self, level: u8, create: bool) -> Result<Option<Arc<File>>, StorageError> {
        let level = usize::from(level);
        if level >= LEVELS {
            return Ok(None);
        }
        // A poisoned lock means a panic while opening a file; the table itself is whole.
        if let Some(f) = &self.levels.read().unwrap_or_else(|p| p.into_inner())[level] {
            return Ok(Some(f.clone()));
        }
        let mut levels = self.levels.write().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = &levels[level] {
            return Ok(Some(f.clone()));
        }
        let opened = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(false)
            .open(self.path(level));
        match opened {
            Ok(f) => {
                let f = Arc::new(f);
                levels[level] = Some(f.clone());
                Ok(Some(f))
            }
            Err(e) if !create && e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StorageError::io(StorageOp::Index, &e)),
        }
    }

    /// Leaves covered by the nodes written.
    pub(super) fn len(&self) -> u64 {
        self.len.load(Ordering::Acquire)
    }

    /// Writes `nodes` and records that they cover `size` leaves (not durable until
    /// [`NodeFiles::sync`]).
    ///
    /// # Errors
    /// I/O failures.
    pub(super) fn put(&self, nodes: &[(u8, u64, Hash)], size: u64) -> Result<(), StorageError> {
        for (level, first, run) in runs(nodes) {
            let Some(file) = self.level(level, true)? else {
                continue;
            };
            file.write_all_at(&run, first.saturating_mul(NODE_LEN))
                .map_err(io(StorageOp::Index))?;
        }
        self.len.store(size, Ordering::Release);
        Ok(())
    }

    /// The node `(level, index)`, or `None` when it was never written (or its write was lost).
    ///
    /// # Errors
    /// I/O failures other than reading past the end.
    pub(super) fn get(&self, level: u8, index: u64) -> Result<Option<Hash>, StorageError> {
        let Some(file) = self.level(level, false)? else {
            return Ok(None);
        };
        let mut hash = [0u8; 32];
        match file.read_exact_at(&mut hash, index.saturating_mul(NODE_LEN)) {
            Ok(()) if hash == [0u8; 32] => Ok(None),
            Ok(()) => Ok(Some(hash)),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
            Err(e) => Err(StorageError::io(StorageOp::Index, &e)),
        }
    }

    /// Makes the nodes written so far durable, then records the size they cover as the
    /// watermark a restart starts from.
    ///
    /// # Errors
    /// I/O failures.
    pub(super) fn sync(&self) -> Result<(), StorageError> {
        let size = self.len();
        let files: Vec<Arc<File>> = self
            .levels
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .flatten()
            .cloned()
            .collect();
        if self.sync_failed.load(Ordering::Acquire) {
            return Err(StorageError::SyncFailed {
                kind: std::io::ErrorKind::Other,
            });
        }
        for f in files {
            if let Err(e) = f.sync_data() {
                self.sync_failed.store(true, Ordering::Release);
                return Err(StorageError::SyncFailed { kind: e.kind() });
            }
        }
        self.write_len(size)
    }

    fn write_len(&self, size: u64) -> Result<(), StorageError> {
        let f = File::create(self.dir.join(LEN_FILE)).map_err(io(StorageOp::Index))?;
        f.write_all_at(&size.to_be_bytes(), 0)
            .map_err(io(StorageOp::Index))?;
        f.sync_data().map_err(io(StorageOp::Index))
    }

    /// Forgets every node (the journal then rebuilds them from its first entry).
    ///
    /// # Errors
    /// I/O failures.
    pub(super) fn reset(&self) -> Result<(), StorageError> {
        let mut levels = self.levels.write().unwrap_or_else(|p| p.into_inner());
        for (level, slot) in levels.iter_mut().enumerate() {
            *slot = None;
            match std::fs::remove_file(self.path(level)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StorageError::io(StorageOp::Index, &e)),
            }
        }
        self.len.store(0, Ordering::Release);
        self.write_len(0)
    }
}

/// `nodes` as runs of consecutive indices on one level: `(level, first index, their bytes)`.
///
/// A group commit of n entries closes about 2n nodes, each level's in a row, so a write per run
/// instead of per node takes `bench submit`'s journal from about 44 `pwrite` calls per commit to
/// one per level.
fn runs(nodes: &[(u8, u64, Hash)]) -> Vec<(u8, u64, Vec<u8>)> {
    let mut sorted: Vec<&(u8, u64, Hash)> = nodes.iter().collect();
    sorted.sort_by_key(|(level, index, _)| (*level, *index));
    let mut out: Vec<(u8, u64, Vec<u8>)> = Vec::new();
    for (level, index, hash) in sorted {
        match out.last_mut() {
            Some((l, first, bytes))
                if *l == *level && *first + (bytes.len() as u64 / NODE_LEN) == *index =>
            {
                bytes.extend_from_slice(hash);
            }
            // The same node twice (a retried commit's nodes, then the new ones) keeps the last.
            Some((l, first, bytes))
                if *l == *level && *index < *first + (bytes.len() as u64 / NODE_LEN) =>
            {
                let at = usize::try_from((*index - *first) * NODE_LEN).unwrap_or(usize::MAX);
                if let Some(slot) = bytes.get_mut(at..at + NODE_LEN as usize) {
                    slot.copy_from_slice(hash);
                }
            }
            _ => out.push((*level, *index, hash.to_vec())),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(n: u8) -> Hash {
        [n; 32]
    }

    #[test]
    fn nodes_are_found_where_they_were_written_and_missing_ones_are_none() {
        let dir = tempfile::tempdir().unwrap();
        let nodes = NodeFiles::open(dir.path()).unwrap();
        assert_eq!(nodes.len(), 0);
        nodes
            .put(&[(0, 0, h(1)), (0, 1, h(2)), (1, 0, h(3))], 2)
            .unwrap();
        nodes.put(&[(0, 2, h(4))], 3).unwrap();
        assert_eq!(nodes.len(), 3);
        assert_eq!(nodes.get(0, 1).unwrap(), Some(h(2)));
        assert_eq!(nodes.get(1, 0).unwrap(), Some(h(3)));
        assert_eq!(nodes.get(0, 3).unwrap(), None, "past the end");
        assert_eq!(nodes.get(5, 0).unwrap(), None, "a level never written");
        assert_eq!(nodes.get(200, 0).unwrap(), None, "beyond any tree");
        // A hole left by a lost write reads as missing, not as a hash of zeros.
        nodes.put(&[(0, 9, h(7))], 10).unwrap();
        assert_eq!(nodes.get(0, 5).unwrap(), None);
    }

    #[test]
    fn nodes_are_written_as_runs_per_level() {
        // The order `edge.push` produces: levels interleaved, a repeated node, a gap.
        let nodes = [
            (0, 4, h(1)),
            (0, 5, h(2)),
            (1, 2, h(3)),
            (0, 6, h(4)),
            (0, 7, h(5)),
            (1, 3, h(6)),
            (2, 1, h(7)),
            (0, 7, h(5)),
            (0, 9, h(8)),
        ];
        let got = runs(&nodes);
        let shape: Vec<(u8, u64, usize)> = got
            .iter()
            .map(|(l, first, bytes)| (*l, *first, bytes.len() / 32))
            .collect();
        assert_eq!(shape, [(0, 4, 4), (0, 9, 1), (1, 2, 2), (2, 1, 1)]);
        assert_eq!(got[0].2[96..], h(5));

        let dir = tempfile::tempdir().unwrap();
        let files = NodeFiles::open(dir.path()).unwrap();
        files.put(&nodes, 10).unwrap();
        for (level, index, hash) in nodes {
            assert_eq!(
                files.get(level, index).unwrap(),
                Some(hash),
                "({level}, {index})"
            );
        }
        assert_eq!(files.get(0, 8).unwrap(), None, "the gap stays a hole");
    }

    #[test]
    fn a_restart_starts_from_the_synced_watermark() {
        let dir = tempfile::tempdir().unwrap();
        {
            let nodes = NodeFiles::open(dir.path()).unwrap();
            nodes
                .put(&[(0, 0, h(1)), (0, 1, h(2)), (1, 0, h(3))], 2)
                .unwrap();
            nodes.sync().unwrap();
            nodes.put(&[(0, 2, h(4))], 3).unwrap();
        }
        let nodes = NodeFiles::open(dir.path()).unwrap();
        assert_eq!(nodes.len(), 2, "only the synced size is trusted");
        assert_eq!(nodes.get(1, 0).unwrap(), Some(h(3)));
        nodes.reset().unwrap();
        assert_eq!(nodes.len(), 0);
        assert_eq!(nodes.get(0, 0).unwrap(), None);
        assert_eq!(NodeFiles::open(dir.path()).unwrap().len(), 0);
    }
}
