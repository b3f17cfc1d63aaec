//! Conformance: a deterministic test trust ecosystem, runners for the corpora, and the
//! conformance report that runs every suite against the expectations file.
//!
//! # Layout
//! - `case`: the common [`CaseResult`] model and the [`Expectations`] file (known divergences).
//! - [`addressing`]: the addressing case runner (`conformance addressing`).
//! - [`ecosystem`]: the deterministic test trust ecosystem (OJ signer, LOTL, national lists, QTSPs).
//! - [`exchange`]: real bridges over mutual TLS exchanging through the gRPC API (`conformance exchange`).
//! - [`journal`]: RFC 9162 vectors and tamper detection of journal exports.
//! - [`report`]: the suite registry and `conformance report` (REPORT.md and its HTML page).
//! - [`trust`]: the trusted-list corpus runner (`conformance trust`).
//! - [`trust_ecosystem`]: the generated test ecosystem walked and used as a suite.
//! - [`wallet`]: the wallet vector runner (`conformance wallet`).

pub mod addressing;
mod case;
pub use test_ecosystem as ecosystem;
pub mod exchange;
pub mod journal;
pub mod report;
pub mod trust;
pub mod trust_ecosystem;
pub mod wallet;

pub use case::{
    annotate_line, tally, CaseResult, Expectations, ExpectationsError, ExpectedFailure, Verdict,
    EMBEDDED_EXPECTATIONS, MAX_EXPECTATIONS_LEN,
};
