#![no_main]
libfuzzer_sys::fuzz_target!(|d: &[u8]| if let Ok(s) = std::str::from_utf8(d) { let _ = eidas_bridge::addressing::AddrSpec::parse(s); });
