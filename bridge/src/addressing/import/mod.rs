//! Streaming parsers of directory files into [`Entry`] records, one record or one [`RowError`] (with its
//! line number) at a time, so that an import of a 500,000-row extraction holds one line in memory. The
//! caller decides atomicity: [`import_into_memory`] here, `store::directory` for the sled directory.

mod fhir;
mod ldif;
mod lines;
mod mssante;
mod tsv;

use std::io::BufRead;

use super::directory::{Entry, MemoryDirectory};
use super::error::AddressError;

pub use fhir::MAX_FHIR_BYTES;
pub use ldif::MAX_LDIF_ATTRIBUTES;
pub use lines::MAX_LINE_LEN;

/// At most this many bad rows are kept in a report: enough to fix a file, bounded for a file of bad rows.
pub const MAX_REPORTED_ERRORS: usize = 1000;

/// A directory file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportFormat {
    /// The corpus fixture: `space, address, hcid, role, bal_type, source`, tab-separated, one header.
    Tsv,
    /// Annuaire Santé `Extraction_Correspondance_MSSante` (31 `|`-separated columns, one header).
    Mssante,
    /// VZD FHIR-Directory bundle (Endpoint, PractitionerRole, Practitioner, Organization, HealthcareService).
    Fhir,
    /// VZD LDAP entries as LDIF (`telematikID`, `mail`, `komLeData`, `professionOID`).
    Ldif,
}

impl ImportFormat {
    /// Parses a CLI format name (`tsv`, `mssante`, `fhir`, `ldif`).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "tsv" => Some(Self::Tsv),
            "mssante" => Some(Self::Mssante),
            "fhir" => Some(Self::Fhir),
            "ldif" => Some(Self::Ldif),
            _ => None,
        }
    }
}

/// Why a row (or the whole file) could not be imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImportErrorKind {
    /// The reader failed; fatal.
    #[error("read error: {0:?}")]
    Io(std::io::ErrorKind),
    /// The file is larger than the format allows to hold in memory (FHIR bundles); fatal.
    #[error("file larger than {0} octets")]
    TooLarge(u64),
    /// A line longer than [`MAX_LINE_LEN`].
    #[error("line longer than the limit")]
    LineTooLong,
    /// An LDIF entry with more than [`ldif::MAX_LDIF_ATTRIBUTES`] attribute lines.
    #[error("entry has too many attributes")]
    EntryTooLarge,
    /// A line that is not UTF-8 (the extraction is UTF-8, background §1).
    #[error("line is not UTF-8")]
    NotUtf8,
    /// No header line; fatal.
    #[error("missing header line")]
    MissingHeader,
    /// A required column is absent from the header; fatal.
    #[error("missing column {0}")]
    MissingColumn(&'static str),
    /// A row with the wrong number of columns.
    #[error("{got} columns, expected {want}")]
    ColumnCount {
        /// Columns found.
        got: usize,
        /// Columns in the header.
        want: usize,
    },
    /// The space column names no e-mail space.
    #[error("unknown or non-mailbox space")]
    UnknownSpace,
    /// The address is not a valid address of its space.
    #[error("bad address: {0}")]
    Address(AddressError),
    /// The participant identifier is invalid.
    #[error("bad identifier: {0}")]
    Identifier(AddressError),
    /// The role column is not a role of §2.
    #[error("unknown role")]
    UnknownRole,
    /// The box type is not a `TRE_R257-TypeBAL` code.
    #[error("unknown box type")]
    UnknownBoxType,
    /// The row has no identifier v0 can map (e.g. an IdNat_Struct RPPS-rang structure).
    #[error("no mappable identifier")]
    NoIdentifier,
    /// Malformed JSON or LDIF structure; fatal for JSON.
    #[error("malformed document at line {line}, column {column}")]
    Malformed {
        /// Line of the fault.
        line: u64,
        /// Column of the fault.
        column: u64,
    },
}

impl ImportErrorKind {
    /// Whether the error stops the parse (as opposed to one bad row).
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            Self::Io(_)
                | Self::TooLarge(_)
                | Self::MissingHeader
                | Self::MissingColumn(_)
                | Self::Malformed { .. }
        )
    }
}

/// A bad row with its 1-based line number (for FHIR, the bundle entry index).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct RowError {
    /// 1-based line number.
    pub line: u64,
    /// What is wrong.
    pub kind: ImportErrorKind,
}

/// A stream of records from a directory file.
pub type Records<'a> = Box<dyn Iterator<Item = Result<Entry, RowError>> + 'a>;

/// Parses `reader` in `format`, lazily.
pub fn parse_records<'a, R: BufRead + 'a>(format: ImportFormat, reader: R) -> Records<'a> {
    match format {
        ImportFormat::Tsv => Box::new(tsv::TsvRecords::new(reader)),
        ImportFormat::Mssante => Box::new(mssante::MssanteRecords::new(reader)),
        ImportFormat::Fhir => Box::new(fhir::parse_bundle(reader).into_iter()),
        ImportFormat::Ldif => Box::new(ldif::LdifRecords::new(reader)),
    }
}

/// Outcome of a successful import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Mailboxes written.
    pub imported: u64,
    /// Rows whose address was already imported from the same file (first one kept; the extraction has
    /// ~169 addresses on several lines, background §1).
    pub duplicates: u64,
    /// Bad rows skipped (only with skip-bad-rows), at most [`MAX_REPORTED_ERRORS`] of them.
    pub skipped: Vec<RowError>,
    /// Number of bad rows skipped, including those beyond the reported ones.
    pub skipped_count: u64,
}

/// A refused import: nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("import refused: {count} bad rows")]
pub struct ImportFailure {
    /// The first bad rows (at most [`MAX_REPORTED_ERRORS`]).
    pub errors: Vec<RowError>,
    /// Total number of bad rows (or 1 for a fatal error).
    pub count: u64,
}

impl ImportReport {
    /// Accounts for a bad row; `Err` when the import must stop (fatal error or, without `skip`, any).
    /// Without skip, the parse continues to collect every bad row, so the report lists them all at once.
    pub(crate) fn note_bad_row(&mut self, err: RowError) {
        self.skipped_count += 1;
        if self.skipped.len() < MAX_REPORTED_ERRORS {
            self.skipped.push(err);
        }
    }

    /// Turns the collected bad rows into a failure when they may not be skipped.
    pub(crate) fn finish(self, skip_bad_rows: bool, fatal: bool) -> Result<Self, ImportFailure> {
        if fatal || (!skip_bad_rows && self.skipped_count > 0) {
            return Err(ImportFailure {
                errors: self.skipped,
                count: self.skipped_count,
            });
        }
        Ok(self)
    }
}

/// Imports records into `dir` atomically. The file replaces the snapshot of each space it contains (a
/// directory extraction is a full snapshot); spaces absent from the file are untouched. On any bad row (unless `skip_bad_rows`) or a fatal error, `dir`
/// is left unchanged and every bad row is reported.
///
/// # Errors
/// [`ImportFailure`] listing the bad rows.
pub fn import_into_memory(
    dir: &mut MemoryDirectory,
    records: Records<'_>,
    skip_bad_rows: bool,
) -> Result<ImportReport, ImportFailure> {
    let mut staged = MemoryDirectory::new();
    let mut report = ImportReport::default();
    let mut fatal = false;
    for rec in records {
        match rec {
            Ok(entry) => {
                if staged.insert(entry) {
                    report.imported += 1;
                } else {
                    report.duplicates += 1;
                }
            }
            Err(e) => {
                fatal |= e.kind.is_fatal();
                report.note_bad_row(e);
            }
        }
    }
    let report = report.finish(skip_bad_rows, fatal)?;
    dir.replace_spaces(staged);
    Ok(report)
}
