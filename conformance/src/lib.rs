//! Conformance: a deterministic test trust ecosystem and runners for the corpora.
//!
//! # Layout
//! - [`addressing`]: the addressing case runner (`conformance addressing`).
//! - [`ecosystem`]: the deterministic test trust ecosystem.
//! - [`trust`]: the trust-list corpus runner (`conformance trust`).

pub mod addressing;
pub use test_ecosystem as ecosystem;
pub mod trust;
