//! Replays byte mutations of a real list (the fuzz target's job in miniature): every outcome
//! is an `Err` with a specific kind, never a panic, and a mutated list never verifies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers: a failure is a failing test

use std::path::PathBuf;

use proptest::prelude::*;
use trust_lists::{parse_list, verify_list};

fn corpus_file(name: &str) -> Vec<u8> {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    loop {
        let c = dir.join("shared/corpus/trust-lists/real").join(name);
        if c.is_file() {
            return std::fs::read(c).unwrap();
        }
        assert!(
            dir.pop(),
            "shared/corpus not found above CARGO_MANIFEST_DIR"
        );
    }
}

fn signers(bytes: &[u8]) -> Vec<openssl::x509::X509> {
    let lotl = parse_list(&corpus_file("EU-lotl-seq390-2026-08-03.xml")).unwrap();
    lotl.announced_signers(&parse_list(bytes).unwrap().territory)
}

/// Whether `pos` lies in an `xmlns:p="..."` declaration whose prefix `p` no name uses.
fn unused_ns_decl(text: &str, pos: usize) -> bool {
    let Some(start) = text[..pos.min(text.len())].rfind("xmlns:") else {
        return false;
    };
    let Some(eq) = text[start..].find('=') else {
        return false;
    };
    let Some(close) = text[start + eq + 2..].find('"') else {
        return false;
    };
    let end = start + eq + 2 + close;
    let prefix = &text[start + 6..start + eq];
    pos <= end && !text.contains(&format!("<{prefix}:")) && !text.contains(&format!(" {prefix}:"))
}

proptest! {
    // A fixed seed keeps CI deterministic; change it to explore other mutations.
    #![proptest_config(ProptestConfig {
        cases: 48,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x7457_1961_2001),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_list_never_verifies(pos in 0usize..63_000, byte in 0u8..=255) {
        let mut bytes = corpus_file("CY-tl-seq53-2026-03-31.xml");
        let signers = signers(&bytes);
        let pos = pos % bytes.len();
        prop_assume!(bytes[pos] != byte);
        let original = bytes[pos];
        bytes[pos] = byte;
        // Whitespace inside tags and some attribute quoting changes are canonicalised away, and
        // ds:KeyInfo is not signed (it only names the signer, whose key must still be announced);
        // anything else must be refused.
        // The XML declaration and namespace declarations that no name uses are not part of the
        // exclusive canonical form either.
        let text = String::from_utf8_lossy(&bytes);
        let key_info = text.find("<ds:KeyInfo>").unwrap()..text.find("</ds:KeyInfo>").unwrap();
        let unsigned = |pos: usize| key_info.contains(&pos) || pos < text.find("<TrustServiceStatusList").unwrap() || unused_ns_decl(&text, pos);
        if let Ok(v) = verify_list(&bytes, &signers) {
            prop_assert!(
                unsigned(pos) || original.is_ascii_whitespace() || byte.is_ascii_whitespace() || original == b'"' || original == b'\'',
                "mutation at {pos} verified: {:?}",
                v.list.sequence
            );
        }
    }

    #[test]
    fn truncated_list_is_refused(len in 0usize..63_000) {
        let bytes = corpus_file("CY-tl-seq53-2026-03-31.xml");
        let len = len % bytes.len();
        prop_assert!(verify_list(&bytes[..len], &[]).is_err());
    }
}
