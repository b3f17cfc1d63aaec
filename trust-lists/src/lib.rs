//! Trusted lists (ETSI TS 119 612): parsing, XAdES verification, the LOTL walk, the trust
//! store and certificate validation at an instant; and the JSON lists of trusted entities of
//! ETSI TS 119 602 signed as compact JAdES ([`verify_lote`]), whose PID-provider services feed
//! the same store ([`TrustStore::from_lists`]).
//!
//! This crate knows nothing of gRPC, tokio or sled: it turns list bytes into a validated
//! model and answers "is this certificate trusted, at this instant, for this usage".
//!
//! Typical use: [`walk`] from the Official Journal anchors over a [`ListSource`] gives a
//! [`Snapshot`] (persist it with [`Snapshot::to_bytes`]); [`TrustStore::from`] the snapshot
//! answers [`TrustStore::validate`]. Single files: [`verify_list`] / [`verify_announced`].
//!
//! # Layout
//! - `xml`: bounded XML intake (size, nodes, depth; DOCTYPE refused).
//! - `xmldsig`: enveloped XMLDSig / XAdES-BES verification (C14N, digests, openssl signatures).
//! - `tsl`: the TS 119 612 model and parser; `sie`: Sie qualifications and their criteria.
//! - `list`: the entry points that tie parsing and verification to one tree.
//! - `store`, `qualification`, `der`: the trust store and certificate validation at an instant.
//! - `lote`: TS 119 602 lists of trusted entities (JSON, compact JAdES).
//! - `source`, `walk`, `snapshot`: OJ anchors -> pivots -> LOTL -> national lists, with reports.
#![deny(missing_docs)]
#![allow(deprecated)] // openssl Asn1StringRef::as_utf8: values are displayed only, NUL truncation is harmless

mod der;
mod error;
mod list;
mod lote;
mod qualification;
mod sie;
mod snapshot;
mod source;
mod store;
mod time;
mod tsl;
mod walk;
mod xml;
mod xmldsig;

pub use der::CertType;
pub use error::{Error, ParseErrorKind, SignatureErrorKind, XmlErrorKind};
pub use list::{parse_list, verify_announced, verify_list, VerifiedList};
pub use lote::{
    verify_lote, ListOfTrustedEntities, LoteErrorKind, LOTE_TYPE_EU_PID_PROVIDERS, MAX_ENTITIES,
};
pub use qualification::{PID_SERVICE_TYPES, SERVICE_TYPE_CA_PKC, SERVICE_TYPE_CA_QC};
pub use sie::{CertificateFacts, CriteriaList, Criterion, Qualification, MAX_CRITERIA_DEPTH};
pub use snapshot::{
    ListKind, ListReport, Snapshot, SnapshotEntry, SnapshotErrorKind, SnapshotParts, StageState,
    MANIFEST_FORMAT, SNAPSHOT_FORMAT,
};
pub use source::{DirectorySource, ListRequest, ListSource, SourceErrorKind, MAX_DIRECTORY_FILES};
pub use store::{
    TrustStore, Usage, ValidationReason, ValidationResult, MAX_CACHED_PATHS, MAX_CHAIN_LEN,
};
pub use tsl::{
    OtherTslPointer, StatusPeriod, TrustService, TrustServiceProvider, TrustedList,
    ACCEPTED_TSL_VERSIONS, MAX_POINTERS, MAX_SERVICES, TSL_NS, TSL_TYPE_EU_LOTL,
};
pub use walk::{walk, WalkConfig, MAX_PIVOTS};
pub use xml::{MAX_LIST_BYTES, MAX_XML_DEPTH, MAX_XML_NODES};
pub use xmldsig::{SignatureInfo, MAX_REFERENCES};
