//! eidas-bridge: a gRPC gateway at the edge of a national health secure-messaging space.
//!
//! # Layout
//! - [`addressing`]: canonical participant identifiers (`hcid`) and translation between national
//!   address spaces. Pure: no I/O.
//! - [`identity`]: EUDI-wallet presentations (SD-JWT VC, ISO 18013-5 mdoc) anchored in the trust lists.
//! - [`journal`]: the tamper-evident exchange journal (RFC 9162 tree, signed checkpoints, proofs, export).
//! - [`exchange`]: submit, relay to peer bridges, receipts, retries.
//! - [`store`]: the only module that opens sled; hands typed trees to the others.
//! - [`grpc`]: tonic services and the one mapping from [`Error`] to gRPC status.
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod addressing;
pub mod cli;
pub mod exchange;
pub mod grpc;
pub mod identity;
pub mod journal;
pub mod store;
