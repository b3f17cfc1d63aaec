//! `cargo fuzz run verify_lote`: arbitrary bytes as a compact-JWS list of trusted entities never
//! panic; and, so that mutations reach the payload parser behind the signature, the same bytes
//! taken as the JSON payload, signed ES256 by the fixed fuzz signer (`lote-signer.pem`, named in
//! `x5c`), verify and parse without panicking. Replayed by trust-lists/tests/fuzz_corpus.rs.
#![no_main]

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use openssl::x509::X509;

const SIGNER_PEM: &[u8] = include_bytes!("../lote-signer.pem");

/// `payload` as a compact JWS signed by the fuzz signer; `None` only if the fixture is broken.
fn signed(payload: &[u8]) -> Option<(String, X509)> {
    let key = PKey::private_key_from_pem(SIGNER_PEM).ok()?;
    let cert = X509::from_pem(SIGNER_PEM).ok()?;
    let header = format!(r#"{{"alg":"ES256","x5c":["{}"]}}"#, STANDARD.encode(cert.to_der().ok()?));
    let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload));
    let mut s = Signer::new(MessageDigest::sha256(), &key).ok()?;
    let der = s.sign_oneshot_to_vec(input.as_bytes()).ok()?;
    let sig = EcdsaSig::from_der(&der).ok()?;
    let mut raw = sig.r().to_vec_padded(32).ok()?;
    raw.extend(sig.s().to_vec_padded(32).ok()?);
    Some((format!("{input}.{}", URL_SAFE_NO_PAD.encode(raw)), cert))
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = trust_lists::verify_lote(data, &[]);
    if let Some((jws, cert)) = signed(data) {
        let _ = trust_lists::verify_lote(jws.as_bytes(), &[cert]);
    }
});
