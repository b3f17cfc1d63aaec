//! Property tests for every journal parser of outside input (entries, notes, exports, proofs):
//! no panic on arbitrary bytes, and whatever decodes re-encodes to the same bytes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use eidas_bridge::journal::merkle::{verify_consistency, verify_inclusion};
use eidas_bridge::journal::{verify_export, JournalEntry, JournalKey};
use proptest::prelude::*;

proptest! {
    #[test]
    fn entry_decode_is_total_and_canonical(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(e) = JournalEntry::decode(&bytes) {
            prop_assert_eq!(e.encode().unwrap(), bytes);
        }
    }

    #[test]
    fn entry_decode_of_mutated_valid_entries(flip in 0usize..120, bit in 0u8..8) {
        let e = JournalEntry {
            kind: eidas_bridge::journal::EntryKind::Receipt,
            unix_nanos: 7,
            message_id: Some("m-1".into()),
            sender: Some("hcid:fr:x".into()),
            recipient: Some("hcid:be:y".into()),
            peer: Some("BE".into()),
            payload: Some(eidas_bridge::journal::PayloadDigest { sha256: [1; 32], size: 9 }),
            trust_snapshot: Some([2; 32]),
            evidence: None,
            reason: Some("ok".into()),
        };
        let mut b = e.encode().unwrap();
        let i = flip % b.len();
        b[i] ^= 1 << bit;
        if let Ok(d) = JournalEntry::decode(&b) {
            prop_assert_eq!(d.encode().unwrap(), b);
        }
    }

    #[test]
    fn note_verification_is_total(s in "\\PC{0,300}", body in "[a-z/]{1,10}\n[0-9]{1,5}\n[A-Za-z0-9+/=]{0,50}\n\n\u{2014} [a-z]{1,5} [A-Za-z0-9+/=]{0,100}\n") {
        let k = JournalKey::generate("j").unwrap();
        let _ = k.verifier().verify_checkpoint(&s);
        let _ = k.verifier().verify_checkpoint(&body);
    }

    #[test]
    fn export_verification_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut with_magic = b"EBJX\x01".to_vec();
        with_magic.extend_from_slice(&bytes);
        let _ = verify_export(&bytes, None);
        let _ = verify_export(&with_magic, None);
    }

    #[test]
    fn proof_verification_is_total(
        index in any::<u64>(), size in any::<u64>(), old in any::<u64>(),
        proof in proptest::collection::vec(any::<[u8; 32]>(), 0..70),
    ) {
        let _ = verify_inclusion(&[0; 32], index, size, &proof, &[1; 32]);
        let _ = verify_consistency(old, size, &[0; 32], &[1; 32], &proof);
    }
}
