//! Where list bytes come from. The walk asks a [`ListSource`] for each list by the pointer
//! that announces it; fetching URLs is the caller's job (the bridge), and [`DirectorySource`]
//! serves files from a directory, matched by the territory, type and sequence read from each
//! file rather than its name (DESIGN.md, `trust load --tl-dir`).

use std::path::Path;

use crate::tsl::TSL_TYPE_EU_LOTL;

/// Most files a [`DirectorySource`] indexes: one per EU/EEA territory plus pivots, with room.
pub const MAX_DIRECTORY_FILES: usize = 512;

/// A request for one list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRequest<'a> {
    /// The announced location (`TSLLocation` or pivot URI).
    pub location: &'a str,
    /// The territory the pointer announces (`EU` for the LOTL and pivots).
    pub territory: &'a str,
    /// Whether a list of the lists (LOTL or pivot) is wanted.
    pub lotl: bool,
    /// The sequence number when known (pivots carry it in their name, `eu-lotl-pivot-NNN.xml`).
    pub sequence: Option<u64>,
}

/// Why a source could not give a list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SourceErrorKind {
    /// No list matches the request.
    #[error("no list for {territory} at {location}")]
    NotFound {
        /// Requested territory.
        territory: String,
        /// Requested location.
        location: String,
    },
    /// The source failed to read or download (I/O, network, size limit).
    #[error("source unavailable: {reason}")]
    Unavailable {
        /// What failed, without payload data.
        reason: String,
    },
}

/// A source of list bytes.
pub trait ListSource {
    /// Returns the bytes of the requested list.
    ///
    /// # Errors
    /// [`SourceErrorKind`] when the list cannot be provided.
    fn fetch(&self, request: &ListRequest<'_>) -> Result<Vec<u8>, SourceErrorKind>;
}

/// Files of a directory, indexed by the territory, type and sequence read from each.
#[derive(Debug, Default)]
pub struct DirectorySource {
    files: Vec<IndexedFile>,
}

#[derive(Debug)]
struct IndexedFile {
    territory: String,
    lotl: bool,
    sequence: u64,
    bytes: Vec<u8>,
}

impl DirectorySource {
    /// Reads every `*.xml` file of `dir` (not recursive) that parses as a TS 119 612 list.
    /// Files that do not parse are skipped: the walk reports lists it cannot find.
    ///
    /// # Errors
    /// [`SourceErrorKind::Unavailable`] when the directory cannot be read.
    pub fn open(dir: &Path) -> Result<Self, SourceErrorKind> {
        let unavailable = |e: std::io::Error| SourceErrorKind::Unavailable {
            reason: e.kind().to_string(),
        };
        let mut files = Vec::new();
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .map_err(unavailable)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "xml"))
            .collect();
        paths.sort();
        for path in paths.into_iter().take(MAX_DIRECTORY_FILES) {
            let bytes = std::fs::read(&path).map_err(unavailable)?;
            files.push(bytes);
        }
        Ok(Self::from_bytes(files))
    }

    /// Adds one list (e.g. a LOTL loaded from elsewhere); `false` if it does not parse.
    pub fn add(&mut self, bytes: Vec<u8>) -> bool {
        let before = self.files.len();
        self.files.extend(Self::from_bytes([bytes]).files);
        self.files.len() > before
    }

    /// Indexes lists given as bytes.
    pub fn from_bytes(lists: impl IntoIterator<Item = Vec<u8>>) -> Self {
        let files = lists
            .into_iter()
            .filter_map(|bytes| {
                let l = crate::list::parse_list(&bytes).ok()?;
                Some(IndexedFile {
                    territory: l.territory.clone(),
                    lotl: l.tsl_type == TSL_TYPE_EU_LOTL,
                    sequence: l.sequence,
                    bytes,
                })
            })
            .collect();
        DirectorySource { files }
    }
}

impl ListSource for DirectorySource {
    fn fetch(&self, request: &ListRequest<'_>) -> Result<Vec<u8>, SourceErrorKind> {
        self.files
            .iter()
            .filter(|f| f.territory == request.territory && f.lotl == request.lotl)
            .filter(|f| request.sequence.is_none_or(|s| s == f.sequence))
            .max_by_key(|f| f.sequence)
            .map(|f| f.bytes.clone())
            .ok_or_else(|| SourceErrorKind::NotFound {
                territory: request.territory.to_string(),
                location: request.location.to_string(),
            })
    }
}

/// The sequence number of a pivot URI (`.../eu-lotl-pivot-378.xml` gives 378).
pub(crate) fn pivot_sequence(uri: &str) -> Option<u64> {
    let name = uri.rsplit('/').next()?;
    let stem = name.strip_suffix(".xml")?;
    let (_, digits) = stem.rsplit_once("pivot-")?;
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pivot_sequence_from_uri() {
        assert_eq!(
            pivot_sequence("https://ec.europa.eu/tools/lotl/eu-lotl-pivot-378.xml"),
            Some(378)
        );
        assert_eq!(
            pivot_sequence("https://ec.europa.eu/tools/lotl/pivot-lotl-explanation.html"),
            None
        );
        assert_eq!(
            pivot_sequence("https://eur-lex.europa.eu/eli/C/2026/1944/oj"),
            None
        );
    }
}
