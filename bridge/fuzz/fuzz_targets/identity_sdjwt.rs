//! SD-JWT presentation parsing and verification on arbitrary input (seeds: `corpus/identity_sdjwt`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| { eidas_bridge::identity::fuzzing::fuzz_sd_jwt(data); });
