//! Command-line subcommand groups of the `eidas-bridge` binary; each exposes a `clap` subcommand
//! enum and a `run` function that the binary wires in.

pub mod identity;
