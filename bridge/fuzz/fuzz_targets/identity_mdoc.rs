//! mdoc DeviceResponse parsing and verification on arbitrary input (seeds: `corpus/identity_mdoc`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| { eidas_bridge::identity::fuzzing::fuzz_mdoc(data); });
