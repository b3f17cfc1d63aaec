//! `cargo fuzz run seal`: decoding sealed-envelope and receipt content, and seal and receipt
//! batch heads, from a peer bridge never panics, and whatever decodes re-encodes to the same
//! bytes (the signature is over them).
#![no_main]
use eidas_bridge::exchange::{BatchHead, BatchKind, ReceiptContent, SealedContent};
libfuzzer_sys::fuzz_target!(|d: &[u8]| {
    if let Ok(c) = SealedContent::decode(d) { assert_eq!(c.encode().ok().as_deref(), Some(d)) }
    if let Ok(c) = ReceiptContent::decode(d) { assert_eq!(c.encode().ok().as_deref(), Some(d)) }
    for kind in [BatchKind::Seal, BatchKind::Receipt] {
        if let Ok(h) = BatchHead::decode(d, kind) { assert_eq!(h.encode().ok().as_deref(), Some(d)) }
    }
});
