//! `cargo fuzz run checkpoint`: verifying a signed checkpoint note against a fixed journal key
//! (the public half of `fuzz-journal-key.pem`, which signed the seeds) never panics.
#![no_main]
const VKEY: &str = "fuzz.example/journal+34af96f8+ARq9fTCF0glqG8XKF1bopqpbx14vo77GnFCFO1fXArVq";
libfuzzer_sys::fuzz_target!(|d: &[u8]| if let (Ok(v), Ok(s)) = (eidas_bridge::journal::NoteVerifier::parse(VKEY), std::str::from_utf8(d)) { let _ = v.verify_checkpoint(s); });
