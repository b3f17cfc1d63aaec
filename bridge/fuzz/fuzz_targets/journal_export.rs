//! `cargo fuzz run journal_export`: parsing (`ExportFile::parse`) and verifying an auditor's
//! journal export offline never panics. Seeds are real exports (tests/fuzz_corpus.rs writes them).
#![no_main]
libfuzzer_sys::fuzz_target!(|d: &[u8]| { let _ = eidas_bridge::journal::verify_export(d, None); });
