#![no_main]
libfuzzer_sys::fuzz_target!(|d: &[u8]| { eidas_bridge::addressing::parse_records(eidas_bridge::addressing::ImportFormat::Ldif, d).for_each(drop); });
