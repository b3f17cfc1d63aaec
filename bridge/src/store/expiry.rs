//! Keys of the expiry indexes (`outbox.done`, `inbox.acked`): the instant a record became
//! removable, then the record's key, so that a range scan from the start visits records oldest
//! first and stops at the retention cutoff without reading any record that is not yet due.
//!
//! The instant is Unix nanoseconds as 8 big-endian bytes with the sign bit flipped (offset by
//! 2^63), so that byte order is numeric order for every `i64`: a time before 1970 (a badly set
//! clock) sorts before every later one instead of after them, as plain two's complement would.

use redb::ReadableTable;

use super::StoreError;

/// What one purge batch did to an expiry index.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Index entries read and removed (at most the batch size). Entries whose record was
    /// changed or removed since (stale) are removed without purging anything, so a batch can
    /// examine its full size and purge less: only this count says whether more may be due.
    pub examined: usize,
    /// Records removed.
    pub purged: usize,
}

/// One purge batch over an expiry index: reads the first `max` entries removable before
/// `cutoff`, oldest first, and removes each after asking `purge_if_due` with its instant and
/// record key. The callback checks the record (an entry is stale once its record changed or
/// went) and removes it when due, returning whether it did. Entries too short to hold an
/// instant are dropped without a call.
pub(super) fn sweep(
    index: &mut redb::Table<'_, &'static [u8], &'static [u8]>,
    cutoff: i64,
    max: usize,
    mut purge_if_due: impl FnMut(i64, &[u8]) -> Result<bool, StoreError>,
) -> Result<Swept, StoreError> {
    let end = at_bytes(cutoff);
    let mut due_entries: Vec<Vec<u8>> = Vec::new();
    for item in index.range::<&[u8]>(..&end[..])?.take(max) {
        due_entries.push(item?.0.value().to_vec());
    }
    let mut swept = Swept {
        examined: due_entries.len(),
        purged: 0,
    };
    for index_key in due_entries {
        if let Some((at, key)) = split(&index_key) {
            if purge_if_due(at, key)? {
                swept.purged += 1;
            }
        }
        index.remove(index_key.as_slice())?;
    }
    Ok(swept)
}

/// Bytes of the instant prefix.
const AT_LEN: usize = 8;

/// The order-preserving 8-byte form of `at`.
pub(super) fn at_bytes(at: i64) -> [u8; AT_LEN] {
    ((at as u64) ^ (1 << 63)).to_be_bytes()
}

/// The index key of `key`, removable from `at`.
pub(super) fn index_key(at: i64, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(AT_LEN + key.len());
    out.extend_from_slice(&at_bytes(at));
    out.extend_from_slice(key);
    out
}

/// The instant and record key of an index key; `None` when it is too short to hold an instant
/// (written by something else: the caller drops it).
pub(super) fn split(index_key: &[u8]) -> Option<(i64, &[u8])> {
    let (at, key) = index_key.split_at_checked(AT_LEN)?;
    let at = <[u8; AT_LEN]>::try_from(at).ok()?;
    Some(((u64::from_be_bytes(at) ^ (1 << 63)) as i64, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_by_instant_and_split_back() {
        let times = [i64::MIN, -1, 0, 1, 1_700_000_000_000_000_000, i64::MAX];
        let keys: Vec<Vec<u8>> = times.iter().map(|t| index_key(*t, b"k")).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(sorted, keys);
        for (t, k) in times.iter().zip(&keys) {
            assert_eq!(split(k), Some((*t, &b"k"[..])));
        }
        // The sign bit flipped over big-endian bytes (module doc).
        assert_eq!(at_bytes(5), {
            let mut b = 5u64.to_be_bytes();
            b[0] ^= 0x80;
            b
        });
        assert_eq!(split(b"short"), None);
    }
}
