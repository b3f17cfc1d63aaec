//! `cargo fuzz run snapshot`: decoding stored trust-snapshot bytes (read back from the store,
//! so outside input once the disk is not trusted) never panics. Replayed by
//! trust-lists/tests/fuzz_corpus.rs.
#![no_main]
libfuzzer_sys::fuzz_target!(|d: &[u8]| { let _ = trust_lists::Snapshot::from_bytes(d); });
