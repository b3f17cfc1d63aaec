//! The directory as the translator sees it: a lookup trait over national mailboxes (XB-ADDR v0 §4: the
//! Annuaire Santé MSSanté extraction, the VZD), so that translation stays pure. The sled-backed
//! implementation lives in `store::directory`; [`MemoryDirectory`] serves tests and one-shot CLI runs.

use std::collections::{BTreeMap, HashMap};

use super::hcid::Hcid;
use super::space::{Role, Space};

/// MSSanté box type (`TRE_R257-TypeBAL`): the directory says what kind of box an address is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BoxType {
    /// `PER`: personal box of a practitioner.
    Per,
    /// `ORG`: organisational box of a structure's service.
    Org,
    /// `APP`: applicative box (software).
    App,
    /// `CAB`: shared box of a liberal practice.
    Cab,
}

impl BoxType {
    /// The code of `TRE_R257-TypeBAL`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Per => "PER",
            Self::Org => "ORG",
            Self::App => "APP",
            Self::Cab => "CAB",
        }
    }

    /// Parses a `TRE_R257-TypeBAL` code (case-insensitive).
    pub fn parse(code: &str) -> Option<Self> {
        [Self::Per, Self::Org, Self::App, Self::Cab]
            .into_iter()
            .find(|b| b.code().eq_ignore_ascii_case(code.trim()))
    }
}

/// One mailbox of a national space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The space of the mailbox (`mssante` or `kim`).
    pub space: Space,
    /// The lower-cased address, the directory key ("le discriminant d'une BAL est son adresse mail").
    pub address: String,
    /// The participant behind it.
    pub hcid: Hcid,
    /// The role the directory gives (profession code, professionOID), if any.
    pub role: Option<Role>,
    /// The MSSanté box type, if the source has one.
    pub box_type: Option<BoxType>,
    /// Where the entry came from (file format or note), for operators; never personal data beyond the source.
    pub source: String,
}

/// The directory could not be read (a storage fault of the implementation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("directory unavailable")]
pub struct DirectoryUnavailable;

/// Read access to the mailbox directory.
pub trait Directory {
    /// The entry of a lower-cased address in `space`.
    ///
    /// # Errors
    /// [`DirectoryUnavailable`] on a storage fault.
    fn lookup_address(
        &self,
        space: Space,
        address: &str,
    ) -> Result<Option<Entry>, DirectoryUnavailable>;

    /// Every mailbox of `hcid` in `space`, in address order.
    ///
    /// # Errors
    /// [`DirectoryUnavailable`] on a storage fault.
    fn lookup_hcid(&self, space: Space, hcid: &Hcid) -> Result<Vec<Entry>, DirectoryUnavailable>;
}

impl<D: Directory + ?Sized> Directory for &D {
    fn lookup_address(
        &self,
        space: Space,
        address: &str,
    ) -> Result<Option<Entry>, DirectoryUnavailable> {
        (**self).lookup_address(space, address)
    }
    fn lookup_hcid(&self, space: Space, hcid: &Hcid) -> Result<Vec<Entry>, DirectoryUnavailable> {
        (**self).lookup_hcid(space, hcid)
    }
}

/// An in-memory directory (tests, fixtures, one-shot CLI translation). The first entry of an address wins,
/// as in the stores' deduplication.
#[derive(Debug, Default, Clone)]
pub struct MemoryDirectory {
    by_address: HashMap<(Space, String), Entry>,
    by_hcid: BTreeMap<(Space, Hcid), Vec<String>>,
}

impl MemoryDirectory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an entry; returns `false` (and keeps the first) when the address is already present.
    pub fn insert(&mut self, entry: Entry) -> bool {
        let key = (entry.space, entry.address.clone());
        if self.by_address.contains_key(&key) {
            return false;
        }
        let list = self
            .by_hcid
            .entry((entry.space, entry.hcid.clone()))
            .or_default();
        list.push(entry.address.clone());
        list.sort();
        self.by_address.insert(key, entry);
        true
    }

    /// Replaces, for every space that `fresh` has entries in, this directory's entries by `fresh`'s.
    pub fn replace_spaces(&mut self, fresh: MemoryDirectory) {
        let spaces: std::collections::BTreeSet<Space> =
            fresh.by_address.keys().map(|(s, _)| *s).collect();
        self.by_address.retain(|(s, _), _| !spaces.contains(s));
        self.by_hcid.retain(|(s, _), _| !spaces.contains(s));
        self.by_address.extend(fresh.by_address);
        self.by_hcid.extend(fresh.by_hcid);
    }

    /// Number of mailboxes.
    pub fn len(&self) -> usize {
        self.by_address.len()
    }

    /// Whether there is no mailbox.
    pub fn is_empty(&self) -> bool {
        self.by_address.is_empty()
    }
}

impl Directory for MemoryDirectory {
    fn lookup_address(
        &self,
        space: Space,
        address: &str,
    ) -> Result<Option<Entry>, DirectoryUnavailable> {
        Ok(self.by_address.get(&(space, address.to_owned())).cloned())
    }

    fn lookup_hcid(&self, space: Space, hcid: &Hcid) -> Result<Vec<Entry>, DirectoryUnavailable> {
        let addrs = self
            .by_hcid
            .get(&(space, hcid.clone()))
            .map(Vec::as_slice)
            .unwrap_or_default();
        Ok(addrs
            .iter()
            .filter_map(|a| self.by_address.get(&(space, a.clone())).cloned())
            .collect())
    }
}
