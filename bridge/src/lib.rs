//! eidas-bridge: a gRPC gateway at the edge of a national health secure-messaging space.
//!
//! # Layout
//! - [`config`]: the one configuration, from a TOML file and `BRIDGE_*` variables.
//! - [`gateway`]: assembles and runs the server (mutual TLS, services, metrics, graceful shutdown).
//! - [`tls`]: OpenSSL mutual TLS, server and client side.
//! - [`clock`]: the wall clock behind a trait, so tests can make it jump.
//! - [`grpc`]: tonic services, the role check, observation, and the error-to-status mapping.
//! - [`addressing`]: canonical participant identifiers (`hcid`) and translation between national
//!   address spaces. Pure: no I/O.
//! - [`identity`]: EUDI-wallet presentations (SD-JWT VC, ISO 18013-5 mdoc) anchored in the trust lists.
//! - [`journal`]: the tamper-evident exchange journal (RFC 9162 tree, signed checkpoints, proofs, export).
//! - [`exchange`]: submit, relay to peer bridges, receipts, retries.
//! - [`trust`]: the trust-list snapshot in force, its sources (files, directory, HTTPS), refresh
//!   and persistence.
//! - [`store`]: the only module that opens databases (sled, and redb for the exchange's queues);
//!   hands typed trees and tables to the others.
//! - [`demo`]: two bridges on loopback from the generated test ecosystem (demo, tests, bench).
//! - [`devpki`]: the development PKI generated on first run.
//! - [`metrics`]: Prometheus registry and `/metrics` endpoint.
//! - [`cli`]: the `eidas-bridge` command line.
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod addressing;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod devpki;
pub mod error;
pub mod exchange;
pub mod gateway;
pub mod grpc;
pub mod identity;
pub mod journal;
pub mod memory;
pub mod metrics;
pub mod shutdown;
pub mod slot;
pub mod store;
pub mod tls;
pub mod trust;

pub use error::{Error, Result};
