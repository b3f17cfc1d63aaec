//! Exchanges between bridges: envelopes accepted from the local operator, sealed and relayed to
//! the recipient's home bridge with retries, answered with signed receipts, and delivered to the
//! receiving side's operator with explicit acknowledgement. Knows nothing of gRPC.

mod seal;

pub use seal::{
    verify_signature, ReceiptContent, SealErrorKind, SealKey, SealedContent, MAX_FIELD_LEN,
};
