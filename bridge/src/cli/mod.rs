//! Command-line subcommand groups; the lead wires them into `main.rs`.
pub mod journal;
