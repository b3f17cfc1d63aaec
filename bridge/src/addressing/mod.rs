//! Addressing: the canonical participant identifier `hcid` and translation between national secure-messaging
//! address spaces (XB-ADDR v0, `specs/addressing.md`). Pure: no I/O, no clock, no storage; the directory
//! comes in through the [`Directory`] trait and importers read from any `BufRead`.
//!
//! # Layout
//! - `hcid`, `scheme`, `checks`, `icd`: the identifier, the scheme registry (§3) with its check digits and
//!   the embedded Peppol code list.
//! - `space`: space and role vocabularies.
//! - `email`, `alias`, `ehbox`, `peppol`: the address form of each space and gateway aliases (§4).
//! - `translate`: the [`Translator`] and the processing order (§5).
//! - `directory`: the [`Directory`] trait and [`MemoryDirectory`].
//! - `import`: streaming parsers of the directory formats (fixture TSV, Annuaire Santé MSSanté extraction,
//!   VZD FHIR bundles, LDIF).
//! - `error`: [`AddressError`] with the spec's reason codes.
//!
//! # Decisions where XB-ADDR v0 is silent
//! - Patients (`ins-nir`) render in `canonical` (representable, §1.5) and are refused with
//!   `patient_out_of_scope` in every other target.
//! - `icd-<nnnn>` with a national mapping is normalised to it (`hcid:BE:icd-0208:…` → `hcid:BE:cbe:…`,
//!   §1.3 "most specific scheme"); an `icd-<nnnn>` whose ICD is not in the code list is `unknown_icd` and a
//!   removed one `icd_removed`, in `canonical` as in `peppol`; a known ICD under another country is
//!   `unknown_scheme`. Deprecated ICDs stay usable.
//! - A gateway alias value that is neither plain-safe nor `b32-` (e.g. upper case or a leading letter) is
//!   `invalid_alias`: each hcid has exactly one alias, and base32 with non-zero trailing bits is refused.
//! - A role label in an alias is any first label that is not a country (`xx` or `int`); an unknown one is
//!   `unknown_role` (step 5), not `invalid_alias`.
//! - Belgian schemes without an eHealthBox type (`icd-*` of BE) are `no_mailbox_in_target_space`.
//! - Addresses are ASCII: any non-ASCII character is `invalid_syntax` (Unicode look-alikes), as are
//!   control characters, raw or percent-encoded (CR/LF/NUL injection).
//! - A bridge in the TI test environment accepts `*.kim.telematik-test` (and the legacy
//!   `*.komle.telematik-test`) and refuses production domains with `wrong_environment`; the configured
//!   gateway domain is always in its space.
//! - A native e-mail address is looked up lower-cased; an MSSanté domain is `mssante.fr` or a sub-domain.

mod alias;
mod checks;
mod directory;
mod ehbox;
mod email;
mod error;
mod hcid;
mod icd;
mod import;
mod peppol;
mod scheme;
mod space;
mod translate;

pub use alias::{decode_alias, encode_alias};
pub use directory::{BoxType, Directory, DirectoryUnavailable, Entry, MemoryDirectory};
pub use ehbox::{identify_ehbox, render_ehbox};
pub use email::{AddrSpec, MAX_DOMAIN_LEN, MAX_LOCAL_PART_LEN};
pub use error::{AddressError, SyntaxErrorKind};
pub use hcid::{Hcid, Participant};
pub use icd::{lookup_icd, IcdEntry, IcdState};
pub use import::{
    import_into_memory, parse_records, ImportErrorKind, ImportFailure, ImportFormat, ImportReport,
    Records, RowError, MAX_FHIR_BYTES, MAX_LDIF_ATTRIBUTES, MAX_LINE_LEN, MAX_REPORTED_ERRORS,
};
pub use peppol::{
    identify_peppol, render_ehdsi, render_peppol, MAX_PEPPOL_SCHEME_LEN, PEPPOL_SCHEME,
};
pub use scheme::{Kind, Scheme, MAX_ICD_VALUE_LEN, MAX_TELEMATIK_ID_LEN, NIHII_SUBTYPES};
pub use space::{Role, Space};
pub use translate::{
    TiEnvironment, Translator, TranslatorConfig, DEFAULT_KIM_GATEWAY, DEFAULT_MSSANTE_GATEWAY,
};

/// Longest input of any space: a 254-octet e-mail path (RFC 5321 §4.5.3.1.3) or a Peppol identifier
/// (25 + 2 + 4 + 1 + 130 octets) fit; 512 leaves room for hcids with percent-encoded values.
pub const MAX_INPUT_LEN: usize = 512;
