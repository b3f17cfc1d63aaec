//! Trusted lists (ETSI TS 119 612) and lists of trusted entities (ETSI TS 119 602).
//!
//! This crate knows nothing of gRPC, tokio or sled: it turns list bytes into a validated
//! model and answers "is this certificate trusted, at this instant, for this usage".
#![deny(missing_docs)]
