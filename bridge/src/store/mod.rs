//! placeholder
pub mod directory;
