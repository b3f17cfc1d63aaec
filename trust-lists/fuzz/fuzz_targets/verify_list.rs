//! `cargo fuzz run verify_list`: parsing and verifying arbitrary bytes never panics.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = trust_lists::verify_list(data, &[]);
    let _ = trust_lists::parse_list(data);
});
