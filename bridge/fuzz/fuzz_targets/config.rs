//! `cargo fuzz run config`: loading any TOML text as the bridge configuration never panics.
#![no_main]
libfuzzer_sys::fuzz_target!(|d: &[u8]| if let Ok(s) = std::str::from_utf8(d) { let _ = eidas_bridge::config::Config::load(Some(s), &std::collections::BTreeMap::new()); });
