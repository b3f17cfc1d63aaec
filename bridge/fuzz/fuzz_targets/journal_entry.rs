//! `cargo fuzz run journal_entry`: decoding a journal entry never panics, and whatever decodes
//! re-encodes to the same bytes (the leaf hash is over exactly these bytes).
#![no_main]
use eidas_bridge::journal::JournalEntry;
libfuzzer_sys::fuzz_target!(|d: &[u8]| if let Ok(e) = JournalEntry::decode(d) { assert_eq!(e.encode().ok().as_deref(), Some(d)) });
