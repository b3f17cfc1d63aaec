//! Conformance: a deterministic test trust ecosystem and runners for the corpora.
pub mod wallet;
