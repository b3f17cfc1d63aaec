//! `cargo fuzz run verify_list`: parsing a trusted list, and verifying it against a fixed signer
//! (the CY TL signer certificate, so the CY seeds reach the C14N, digest and signature code),
//! never panics. Replayed by trust-lists/tests/fuzz_corpus.rs.
#![no_main]

fn signer() -> Vec<openssl::x509::X509> {
    openssl::x509::X509::from_pem(include_bytes!("../cy-signer.pem")).into_iter().collect()
}

libfuzzer_sys::fuzz_target!(|d: &[u8]| {
    let _ = trust_lists::verify_list(d, &signer());
    let _ = trust_lists::parse_list(d);
});
