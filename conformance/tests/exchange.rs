//! The exchange suite in CI: real bridges over mutual TLS on loopback; every case must meet its
//! expectation (the listed expected failures included, with the outcome they pin), and the
//! suite must cover each rule of issue 8's exchange list.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use conformance::exchange::{run_suite, SUITE};
use conformance::{tally, Expectations, Verdict};

#[test]
fn every_exchange_case_meets_its_expectation() {
    let cases = run_suite().unwrap();
    let exp = Expectations::embedded().unwrap();
    let unexpected: Vec<_> = cases
        .iter()
        .filter(|c| exp.verdict(c).is_unexpected())
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:#?}");
    assert_eq!(tally(&cases, &exp), (cases.len(), 0));
    // Every listed expectation of the suite names a case that ran (no stale entry).
    for e in exp.for_suite(SUITE) {
        assert!(cases.iter().any(|c| c.id == e.case), "stale: {}", e.case);
    }
    // Ids are unique, every case cites the rule it checks, and refusals are exact (a code and
    // an ErrorInfo reason), never a bare "refused".
    for (i, c) in cases.iter().enumerate() {
        assert!(cases[i + 1..].iter().all(|o| o.id != c.id), "{}", c.id);
        assert!(
            c.note.as_deref().is_some_and(|n| n.contains("DESIGN.md")),
            "{}",
            c.id
        );
        assert_ne!(c.expected, "refused", "{}", c.id);
    }
    // The rules of issue 8's exchange list are all covered.
    for id in [
        "e2e/fr-to-be/accepted",
        "e2e/fr-to-be/forwarded-and-receipted",
        "e2e/fr-to-be/receipt-verifies",
        "e2e/fr-to-be/be-operator-receives",
        "e2e/be-to-fr/reply",
        "resend/same-sender-same-id",
        "resend/same-id-other-payload",
        "resend/same-id-other-sender",
        "peer-down-then-up",
        "deadline-passed-peer-down",
        "submit/unknown-recipient",
        "submit/recipient-without-home-peer",
        "submit/invalid-recipient-address",
        "submit/payload-digest-mismatch",
        "submit/oversize-payload",
        "submit/missing-message-id",
        "peer/tls-not-in-lists",
        "peer/tls-withdrawn-service",
        "peer/seal-payload-tampered",
        "peer/seal-header-tampered",
        "peer/seal-withdrawn-service",
        "receipt/rcpt-badsig-1",
        "receipt/rcpt-wrongkey-1",
        "receipt/rcpt-othermsg-1",
        "receive/unacked-redelivered-after-reconnect",
        "receive/acked-never-again",
        "receive/unacked-survives-restart",
        "journal/fr",
        "journal/be",
        "journal/fr-deadline",
        "journal/fr-receipts",
        "outbound/peer-with-seal-certificate",
        "outbound/peer-not-in-lists",
        "roles/operator-calls-peer-service",
        "roles/peer-calls-exchange-service",
        "status/unknown-message",
    ] {
        let c = cases
            .iter()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("missing case {id}"));
        let v = exp.verdict(c);
        assert!(
            matches!(v, Verdict::Pass | Verdict::ExpectedFailure(_)),
            "{id}: {v:?}"
        );
    }
}
