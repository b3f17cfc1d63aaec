//! Reading entries back in order, in bounded chunks: [`Replay`] serves `JournalService.Replay`,
//! `journal replay`, exports and rebuilds.

use std::collections::VecDeque;
use std::sync::Arc;

use super::entry::JournalEntry;
use super::log::{JournalError, REPLAY_CHUNK};
use super::storage::JournalStorage;

/// Iterator over stored entries; see [`Journal::replay`](super::Journal::replay).
#[derive(Debug)]
pub struct Replay {
    storage: Arc<dyn JournalStorage>,
    next: u64,
    to: u64,
    buf: VecDeque<Vec<u8>>,
}

impl Replay {
    /// Replays `from..to` of `storage` directly (used by the CLI on a stopped bridge).
    pub fn new(storage: Arc<dyn JournalStorage>, from: u64, to: u64) -> Self {
        Self {
            storage,
            next: from,
            to,
            buf: Default::default(),
        }
    }

    /// Next raw entry with its index.
    pub fn next_raw(&mut self) -> Option<Result<(u64, Vec<u8>), JournalError>> {
        if self.next >= self.to {
            return None;
        }
        if self.buf.is_empty() {
            let end = (self.next + REPLAY_CHUNK).min(self.to);
            match self.storage.read_range(self.next, end) {
                Ok(v) => self.buf.extend(v),
                Err(e) => {
                    self.next = self.to;
                    return Some(Err(e.into()));
                }
            }
        }
        let bytes = self.buf.pop_front()?;
        let i = self.next;
        self.next += 1;
        Some(Ok((i, bytes)))
    }
}

impl Iterator for Replay {
    type Item = Result<(u64, JournalEntry), JournalError>;
    fn next(&mut self) -> Option<Self::Item> {
        Some(
            self.next_raw()?
                .and_then(|(i, b)| Ok((i, JournalEntry::decode(&b)?))),
        )
    }
}
