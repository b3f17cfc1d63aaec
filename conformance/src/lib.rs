//! Conformance: a deterministic test trust ecosystem and runners for the corpora.
//!
//! # Layout
//! - [`addressing`]: the addressing case runner (`conformance addressing`).
//! - [`ecosystem`]: the deterministic test trust ecosystem (OJ signer, LOTL, national lists, QTSPs).
//! - [`trust`]: the trusted-list corpus runner (`conformance trust`).
//! - [`wallet`]: the wallet vector runner (`conformance wallet`).

pub mod addressing;
pub mod ecosystem;
pub mod trust;
pub mod wallet;
