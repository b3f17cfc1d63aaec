//! Command-line subcommand groups of the `eidas-bridge` binary; `main.rs` wires them.

pub mod address;
