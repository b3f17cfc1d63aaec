//! The sled-backed mailbox directory (XB-ADDR v0 §4 directories, issue 5 item 2): lower-cased mailbox
//! address → entry, hcid → its mailboxes, and hcid country → home peer bridge. It implements
//! [`Directory`] so the pure translator can read it.
//!
//! # Atomic, streaming imports: generations
//! A directory extraction is a full snapshot of its space (the Annuaire Santé file, a VZD dump), so an
//! import *replaces* the entries of each space present in the file. Rows are written in bounded batches
//! ([`IMPORT_BATCH_ROWS`]) to fresh trees `directory.addr.<space>.<gen>` / `directory.hcid.<space>.<gen>`,
//! never touching the live ones. Only when every row is good (or skip-bad-rows is asked) does one
//! `apply_batch` on the `directory.meta` tree point each imported space at the new generation: sled applies
//! a batch on one tree atomically, so readers see the old snapshot or the new one, never a mix, and a crash
//! mid-import leaves the live generation untouched (orphan trees are dropped at the next [`DirectoryStore::open`]).
//! A single sled transaction over 500,000 rows would hold every write in memory; a batch-per-row import
//! would not be atomic. The previous generation is dropped one import later, so a lookup that read the
//! old generation number just before the switch still finds its trees.

use std::collections::{BTreeMap, HashSet};

use crate::addressing::{
    BoxType, Directory, DirectoryUnavailable, Entry, Hcid, ImportFailure, ImportReport, Records,
    Role, Space,
};

/// Rows per sled batch: large enough to amortise sled's per-batch cost, small enough (a few MiB of
/// pending writes) to keep memory bounded whatever the file size.
pub const IMPORT_BATCH_ROWS: usize = 10_000;
/// Longest home-peer identifier accepted (a host name or peer id; RFC 1035 name length).
pub const MAX_PEER_ID_LEN: usize = 255;

const META_TREE: &str = "directory.meta";
const PEERS_TREE: &str = "directory.peers";
const TREE_PREFIX: &str = "directory.";

/// A fault of the directory store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DirectoryStoreError {
    /// sled failed (I/O, corruption).
    #[error("directory storage fault")]
    Storage(#[from] sled::Error),
    /// The import had bad rows (or a fatal error) and changed nothing.
    #[error(transparent)]
    Rejected(ImportFailure),
    /// A stored record does not decode (written by another version, or corrupted).
    #[error("corrupt directory record")]
    Corrupt,
    /// A home-peer country is not ISO 3166-1 alpha-2 upper case.
    #[error("invalid country code")]
    InvalidCountry,
    /// A home-peer identifier is empty or longer than [`MAX_PEER_ID_LEN`].
    #[error("invalid peer identifier")]
    InvalidPeer,
}

impl PartialEq for DirectoryStoreError {
    /// Storage faults compare equal to each other (sled errors are not comparable); others by value.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Storage(_), Self::Storage(_)) => true,
            (Self::Rejected(a), Self::Rejected(b)) => a == b,
            (Self::Corrupt, Self::Corrupt) | (Self::InvalidCountry, Self::InvalidCountry) => true,
            (Self::InvalidPeer, Self::InvalidPeer) => true,
            _ => false,
        }
    }
}

/// The directory in sled.
#[derive(Debug, Clone)]
pub struct DirectoryStore {
    db: sled::Db,
    meta: sled::Tree,
    peers: sled::Tree,
    /// Serialises imports: the garbage collection that ends an import must not drop the staging trees of
    /// another one in progress.
    import_lock: std::sync::Arc<std::sync::Mutex<()>>,
}

/// Pending writes of one space during an import.
#[derive(Debug)]
struct Staging {
    addr: sled::Tree,
    hcid: sled::Tree,
    addr_batch: sled::Batch,
    hcid_batch: sled::Batch,
    pending: HashSet<String>,
}

fn addr_tree_name(space: Space, gen: u64) -> String {
    format!("{TREE_PREFIX}addr.{}.{gen}", space.name())
}

fn hcid_tree_name(space: Space, gen: u64) -> String {
    format!("{TREE_PREFIX}hcid.{}.{gen}", space.name())
}

fn gen_key(space: Space) -> String {
    format!("gen/{}", space.name())
}

fn prev_key(space: Space) -> String {
    format!("prev/{}", space.name())
}

impl DirectoryStore {
    /// Opens the directory in `db` (the caller owns the database and its cache size) and drops the trees of
    /// interrupted imports. Open it once per database and share clones of the store (imports are serialised
    /// through the clones).
    ///
    /// # Errors
    /// [`DirectoryStoreError::Storage`].
    pub fn open(db: sled::Db) -> Result<Self, DirectoryStoreError> {
        let meta = db.open_tree(META_TREE)?;
        let peers = db.open_tree(PEERS_TREE)?;
        let store = Self {
            db,
            meta,
            peers,
            import_lock: std::sync::Arc::default(),
        };
        store.collect_garbage()?;
        Ok(store)
    }

    /// Drops every generation tree that is neither live nor the previous one.
    fn collect_garbage(&self) -> Result<(), DirectoryStoreError> {
        let mut keep = HashSet::new();
        for space in [Space::Mssante, Space::Kim] {
            for key in [gen_key(space), prev_key(space)] {
                if let Some(gen) = self.read_u64(&key)? {
                    keep.insert(addr_tree_name(space, gen));
                    keep.insert(hcid_tree_name(space, gen));
                }
            }
        }
        for name in self.db.tree_names() {
            let name = String::from_utf8_lossy(&name).into_owned();
            let generational =
                name.starts_with("directory.addr.") || name.starts_with("directory.hcid.");
            if generational && !keep.contains(&name) {
                self.db.drop_tree(name.as_bytes())?;
            }
        }
        Ok(())
    }

    fn read_u64(&self, key: &str) -> Result<Option<u64>, DirectoryStoreError> {
        match self.meta.get(key)? {
            None => Ok(None),
            Some(v) => {
                let bytes: [u8; 8] = v
                    .as_ref()
                    .try_into()
                    .map_err(|_| DirectoryStoreError::Corrupt)?;
                Ok(Some(u64::from_be_bytes(bytes)))
            }
        }
    }

    /// The live trees of `space`, if it was ever imported.
    fn live(&self, space: Space) -> Result<Option<(sled::Tree, sled::Tree)>, DirectoryStoreError> {
        match self.read_u64(&gen_key(space))? {
            None => Ok(None),
            Some(gen) => Ok(Some((
                self.db.open_tree(addr_tree_name(space, gen))?,
                self.db.open_tree(hcid_tree_name(space, gen))?,
            ))),
        }
    }

    /// Imports `records` atomically (see the module doc): each space present in the file is replaced.
    /// Duplicated addresses keep their first row. Without `skip_bad_rows`, one bad row refuses the whole
    /// file and every bad row is reported; a fatal parse error always refuses it.
    ///
    /// # Errors
    /// [`DirectoryStoreError::Rejected`] (nothing changed), [`DirectoryStoreError::Storage`].
    pub fn import(
        &self,
        records: Records<'_>,
        skip_bad_rows: bool,
    ) -> Result<ImportReport, DirectoryStoreError> {
        // A poisoned lock only means an earlier import panicked; its trees are collected below, so go on.
        let _guard = self
            .import_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let gen = self.db.generate_id()?;
        let mut staging: BTreeMap<Space, Staging> = BTreeMap::new();
        let result = self.stage(gen, records, skip_bad_rows, &mut staging);
        let report = match result {
            Ok(report) => report,
            Err(e) => {
                for space in staging.keys() {
                    self.db.drop_tree(addr_tree_name(*space, gen).as_bytes())?;
                    self.db.drop_tree(hcid_tree_name(*space, gen).as_bytes())?;
                }
                return Err(e);
            }
        };
        // The switch: one atomic batch on the meta tree.
        let mut switch = sled::Batch::default();
        for space in staging.keys() {
            if let Some(old) = self.read_u64(&gen_key(*space))? {
                switch.insert(prev_key(*space).as_bytes(), &old.to_be_bytes());
            }
            switch.insert(gen_key(*space).as_bytes(), &gen.to_be_bytes());
        }
        self.meta.apply_batch(switch)?;
        self.db.flush()?;
        self.collect_garbage()?;
        Ok(report)
    }

    fn stage(
        &self,
        gen: u64,
        records: Records<'_>,
        skip_bad_rows: bool,
        staging: &mut BTreeMap<Space, Staging>,
    ) -> Result<ImportReport, DirectoryStoreError> {
        let mut report = ImportReport::default();
        let mut fatal = false;
        for rec in records {
            let entry = match rec {
                Ok(e) => e,
                Err(e) => {
                    fatal |= e.kind.is_fatal();
                    report.note_bad_row(e);
                    continue;
                }
            };
            // Without skip-bad-rows a bad file is refused anyway: stop writing, keep collecting errors.
            if report.skipped_count > 0 && !skip_bad_rows {
                continue;
            }
            let st = match staging.entry(entry.space) {
                std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::btree_map::Entry::Vacant(v) => v.insert(Staging {
                    addr: self.db.open_tree(addr_tree_name(entry.space, gen))?,
                    hcid: self.db.open_tree(hcid_tree_name(entry.space, gen))?,
                    addr_batch: sled::Batch::default(),
                    hcid_batch: sled::Batch::default(),
                    pending: HashSet::new(),
                }),
            };
            if st.pending.contains(&entry.address) || st.addr.contains_key(&entry.address)? {
                report.duplicates += 1;
                continue;
            }
            st.addr_batch
                .insert(entry.address.as_bytes(), encode_entry(&entry));
            st.hcid_batch
                .insert(hcid_key(&entry.hcid, &entry.address), &[][..]);
            st.pending.insert(entry.address);
            report.imported += 1;
            if st.pending.len() >= IMPORT_BATCH_ROWS {
                flush_staging(st)?;
            }
        }
        for st in staging.values_mut() {
            flush_staging(st)?;
        }
        report
            .finish(skip_bad_rows, fatal)
            .map_err(DirectoryStoreError::Rejected)
    }

    /// Records `peer` as the home bridge of participants of `country` (ISO 3166-1 alpha-2).
    ///
    /// # Errors
    /// [`DirectoryStoreError::InvalidCountry`], [`DirectoryStoreError::InvalidPeer`], storage faults.
    pub fn set_home_peer(&self, country: &str, peer: &str) -> Result<(), DirectoryStoreError> {
        if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(DirectoryStoreError::InvalidCountry);
        }
        if peer.is_empty() || peer.len() > MAX_PEER_ID_LEN || peer.chars().any(char::is_control) {
            return Err(DirectoryStoreError::InvalidPeer);
        }
        self.peers.insert(country, peer.as_bytes())?;
        self.peers.flush()?;
        Ok(())
    }

    /// The home peer bridge of an hcid (by its country), if configured.
    ///
    /// # Errors
    /// Storage faults, [`DirectoryStoreError::Corrupt`].
    pub fn home_peer(&self, hcid: &Hcid) -> Result<Option<String>, DirectoryStoreError> {
        match self.peers.get(hcid.country())? {
            None => Ok(None),
            Some(v) => String::from_utf8(v.to_vec())
                .map(Some)
                .map_err(|_| DirectoryStoreError::Corrupt),
        }
    }

    /// Number of mailboxes of `space`.
    ///
    /// # Errors
    /// Storage faults.
    pub fn count(&self, space: Space) -> Result<usize, DirectoryStoreError> {
        Ok(self.live(space)?.map_or(0, |(addr, _)| addr.len()))
    }

    fn get_address(
        &self,
        space: Space,
        address: &str,
    ) -> Result<Option<Entry>, DirectoryStoreError> {
        let Some((addr, _)) = self.live(space)? else {
            return Ok(None);
        };
        addr.get(address)?
            .map(|v| decode_entry(space, address, &v))
            .transpose()
    }

    fn get_hcid(&self, space: Space, hcid: &Hcid) -> Result<Vec<Entry>, DirectoryStoreError> {
        let Some((addr, index)) = self.live(space)? else {
            return Ok(Vec::new());
        };
        let prefix = hcid_key(hcid, "");
        let mut out = Vec::new();
        for kv in index.scan_prefix(&prefix) {
            let (k, _) = kv?;
            let address = std::str::from_utf8(&k[prefix.len()..])
                .map_err(|_| DirectoryStoreError::Corrupt)?;
            if let Some(v) = addr.get(address)? {
                out.push(decode_entry(space, address, &v)?);
            }
        }
        Ok(out)
    }
}

fn flush_staging(st: &mut Staging) -> Result<(), sled::Error> {
    st.addr.apply_batch(std::mem::take(&mut st.addr_batch))?;
    st.hcid.apply_batch(std::mem::take(&mut st.hcid_batch))?;
    st.pending.clear();
    Ok(())
}

/// `<hcid>\0<address>`: `\0` cannot occur in an hcid (control characters are refused), so the prefix scan
/// of one hcid never matches another.
fn hcid_key(hcid: &Hcid, address: &str) -> Vec<u8> {
    format!("{hcid}\0{address}").into_bytes()
}

/// Value encoding: four fields (hcid, role token, box type code, source), each a u16 big-endian length
/// followed by UTF-8 bytes. Sources longer than 64 KiB are truncated at a character boundary.
fn encode_entry(e: &Entry) -> Vec<u8> {
    let hcid = e.hcid.to_string();
    let role = e.role.map_or("", Role::token);
    let box_type = e.box_type.map_or("", BoxType::code);
    let mut source = e.source.as_str();
    while source.len() > usize::from(u16::MAX) {
        let mut cut = usize::from(u16::MAX);
        while !source.is_char_boundary(cut) {
            cut -= 1;
        }
        source = &source[..cut];
    }
    let mut out = Vec::with_capacity(8 + hcid.len() + role.len() + box_type.len() + source.len());
    for field in [hcid.as_str(), role, box_type, source] {
        // Each field is at most u16::MAX octets: hcids are bounded by MAX_INPUT_LEN, source truncated above.
        let len = u16::try_from(field.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&field.as_bytes()[..usize::from(len)]);
    }
    out
}

fn decode_entry(
    space: Space,
    address: &str,
    mut bytes: &[u8],
) -> Result<Entry, DirectoryStoreError> {
    let mut fields = Vec::with_capacity(4);
    for _ in 0..4 {
        let (len, rest) = bytes
            .split_first_chunk::<2>()
            .ok_or(DirectoryStoreError::Corrupt)?;
        let len = usize::from(u16::from_be_bytes(*len));
        let field = rest.get(..len).ok_or(DirectoryStoreError::Corrupt)?;
        fields.push(std::str::from_utf8(field).map_err(|_| DirectoryStoreError::Corrupt)?);
        bytes = &rest[len..];
    }
    let hcid = Hcid::parse(fields[0]).map_err(|_| DirectoryStoreError::Corrupt)?;
    let role = match fields[1] {
        "" => None,
        r => Some(Role::parse(r).map_err(|_| DirectoryStoreError::Corrupt)?),
    };
    let box_type = match fields[2] {
        "" => None,
        b => Some(BoxType::parse(b).ok_or(DirectoryStoreError::Corrupt)?),
    };
    Ok(Entry {
        space,
        address: address.to_owned(),
        hcid,
        role,
        box_type,
        source: fields[3].to_owned(),
    })
}

impl Directory for DirectoryStore {
    fn lookup_address(
        &self,
        space: Space,
        address: &str,
    ) -> Result<Option<Entry>, DirectoryUnavailable> {
        self.get_address(space, address).map_err(|e| {
            tracing::debug!(error = %e, "directory lookup failed");
            DirectoryUnavailable
        })
    }

    fn lookup_hcid(&self, space: Space, hcid: &Hcid) -> Result<Vec<Entry>, DirectoryUnavailable> {
        self.get_hcid(space, hcid).map_err(|e| {
            tracing::debug!(error = %e, "directory lookup failed");
            DirectoryUnavailable
        })
    }
}

#[cfg(test)]
mod tests;
