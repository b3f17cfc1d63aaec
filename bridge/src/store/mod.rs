//! placeholder
pub mod journal;
