//! Conformance: a deterministic test trust ecosystem and runners for the corpora.
//!
//! # Layout
//! - [`addressing`]: the addressing case runner (`conformance addressing`).
//! - [`ecosystem`]: the deterministic test trust ecosystem (OJ signer, LOTL, national lists, QTSPs).
//! - [`trust`]: the trusted-list corpus runner (`conformance trust`).

pub mod addressing;
pub mod ecosystem;
pub mod trust;
