//! Conformance: a deterministic test trust ecosystem and runners for the corpora.
//!
//! # Layout
//! - [`addressing`]: the addressing case runner (`conformance addressing`).

pub mod addressing;
