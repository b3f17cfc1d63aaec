//! `cargo fuzz run envelope`: exchange messages as received from an operator or a peer bridge
//! (`SubmitRequest`, `SealedEnvelope`, `Receipt`, `SealedBatch`, `ReceiveRequest`), decoded from protobuf and put
//! through the bridge's own checks, never panic. The calls are in `../common/envelope.rs`,
//! shared with the replay in bridge/tests/fuzz_corpus.rs.
#![no_main]

#[path = "../common/envelope.rs"]
mod envelope;

// The trusted lists are walked before the first input, outside its time budget.
libfuzzer_sys::fuzz_target!(init: { let _ = envelope::trust(); }, |data: &[u8]| {
    let _ = envelope::check(data);
});
