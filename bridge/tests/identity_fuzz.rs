//! Robustness of the identity parsers: the cargo-fuzz seed corpora replayed as plain tests, plus
//! property tests feeding truncations, bit flips, re-encodings and random bytes derived from the
//! wallet corpus. The property is "no panic, no hang"; seeds of valid presentations must verify,
//! which proves the fuzz entry points reach the deep checks.
// Test code: a failing unwrap or panic is a failing test (clippy.toml allows it inside #[test] only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use eidas_bridge::identity::fuzzing::{fuzz_mdoc, fuzz_sd_jwt};
use proptest::prelude::*;

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

fn seed(target: &str, name: &str) -> Vec<u8> {
    seeds(target)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, b)| b)
        .unwrap()
}

#[test]
fn sd_jwt_seed_corpus_replays() {
    let all = seeds("identity_sdjwt");
    assert!(all.len() >= 5);
    for (name, bytes) in &all {
        let ok = fuzz_sd_jwt(bytes);
        let expect = !name.starts_with("neg-")
            && name != "rfc9901-main-example-as-published"
            && name != "sdjwtpy-array-recursive-sd";
        assert_eq!(ok, expect, "{name}");
    }
}

#[test]
fn mdoc_seed_corpus_replays() {
    for (name, bytes) in seeds("identity_mdoc") {
        // Only the Annex D response is signed by the pinned Annex D document signer.
        assert_eq!(
            fuzz_mdoc(&bytes),
            name == "mdoc-iso18013-5-annexd",
            "{name}"
        );
    }
}

#[test]
fn every_truncation_of_an_sd_jwt_is_handled() {
    let s = seed("identity_sdjwt", "rfc9901-simple");
    for n in 0..s.len() {
        assert!(!fuzz_sd_jwt(&s[..n]) || n + 1 >= s.len());
    }
}

#[test]
fn re_encoded_mdoc_is_handled() {
    let bytes = seed("identity_mdoc", "mdoc-iso18013-5-annexd");
    let v: ciborium::Value = ciborium::de::from_reader(bytes.as_slice()).unwrap();
    let mut again = Vec::new();
    ciborium::ser::into_writer(&v, &mut again).unwrap();
    // Annex D is already in preferred serialisation, so the re-encoding is byte-identical and verifies.
    assert_eq!(again, bytes);
    assert!(fuzz_mdoc(&again));
    // Indefinite-length outer map: different bytes, same content; the digests cover only the
    // embedded IssuerSignedItemBytes, which are unchanged, so it still verifies.
    let mut indefinite = vec![0xbf];
    assert_eq!(bytes[0], 0xa3, "a definite map of three entries");
    indefinite.extend_from_slice(&bytes[1..]);
    indefinite.push(0xff);
    assert!(fuzz_mdoc(&indefinite));
}

fn mutate(base: &[u8], cut: usize, flips: &[(usize, u8)]) -> Vec<u8> {
    let mut b = base[..cut.min(base.len())].to_vec();
    for (i, x) in flips {
        if !b.is_empty() {
            let n = b.len();
            b[i % n] ^= x;
        }
    }
    b
}

fn corpus_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(name)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn sd_jwt_mutations_do_not_panic(cut in 0usize..2000, flips in prop::collection::vec((0usize..2000, 1u8..=255), 0..4)) {
        for (_, s) in seeds("identity_sdjwt") {
            fuzz_sd_jwt(&mutate(&s, cut, &flips));
        }
    }

    #[test]
    fn mdoc_mutations_do_not_panic(cut in 0usize..40000, flips in prop::collection::vec((0usize..40000, 1u8..=255), 0..4)) {
        let s = std::fs::read(corpus_file("identity_mdoc/mdoc-iso18013-5-annexd")).unwrap();
        let m = mutate(&s, cut, &flips);
        // A flipped byte can only be accepted if it changed nothing signed or hashed.
        let _ = fuzz_mdoc(&m);
        let s = std::fs::read(corpus_file("identity_mdoc/mdoc-eudi-openid4vp-mdl-devicesignature")).unwrap();
        prop_assert!(!fuzz_mdoc(&mutate(&s, cut, &flips)));
    }

    #[test]
    fn random_bytes_do_not_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        prop_assert!(!fuzz_sd_jwt(&bytes));
        prop_assert!(!fuzz_mdoc(&bytes));
    }
}

#[test]
fn status_list_decompression_is_bounded() {
    use eidas_bridge::identity::{StatusErrorKind, StatusList, MAX_STATUS_LIST_BYTES};
    use std::io::Write as _;
    // 4 MiB of zeros compress to a few KiB: a zlib bomb must stop at the limit.
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(&vec![0u8; 4 << 20]).unwrap();
    let lst = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        z.finish().unwrap(),
    );
    assert_eq!(
        StatusList::decode(1, &lst),
        Err(StatusErrorKind::ListTooLarge {
            max: MAX_STATUS_LIST_BYTES
        })
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn status_list_random_input_does_not_panic(bits in 0u64..16, lst in "[A-Za-z0-9_-]{0,64}", idx in any::<u64>()) {
        if let Ok(list) = eidas_bridge::identity::StatusList::decode(bits, &lst) {
            let _ = list.get(idx);
        }
    }
}
