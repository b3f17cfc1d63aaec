//! `journal verify --recheck` over the generated test ecosystem (issue 6 point 5): a journal
//! written through the bridge's real journal, with its trust snapshot and the validated chains
//! archived in the bridge's real store, rechecks without divergence; once the archived snapshot
//! is swapped for one in which the BE QTSP CA service (the peer's) is withdrawn, the recheck names
//! exactly the entries whose decisions rested on that service.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a failing test

use std::collections::HashMap;
use std::sync::Arc;

use conformance::ecosystem::tsl::{GRANTED, WITHDRAWN};
use conformance::ecosystem::xades::{sign, RefStyle};
use conformance::ecosystem::{Ecosystem, LOTL_LOCATION, NEXT_UPDATE, OJ_URI};
use eidas_bridge::journal::{
    journal_dir, load_or_create_key, read_verifier, recheck, verify_export, Decision, EntryKind,
    Evidence, ExportFile, Journal, JournalConfig, JournalEntry, RecheckFinding, Verdict,
};
use eidas_bridge::store::journal::FileJournalStorage;
use eidas_bridge::store::Store;
use time::macros::datetime;
use time::OffsetDateTime;
use trust_lists::{
    walk, DirectorySource, Snapshot, TrustStore, Usage, ValidationReason, WalkConfig,
};

const AT: OffsetDateTime = datetime!(2026-08-20 00:00:00 UTC);
const SIGNING_TIME: &str = "2026-08-01T00:00:00Z";

fn snapshot(e: &Ecosystem, be: Vec<u8>) -> Snapshot {
    let mut files = vec![e.lotl.clone(), be];
    files.extend(
        e.tls
            .iter()
            .filter(|(t, _)| **t != "BE")
            .map(|(_, b)| b.clone()),
    );
    let config = WalkConfig {
        anchors: vec![e.oj.cert.clone()],
        lotl_location: LOTL_LOCATION.into(),
        oj_uri: Some(OJ_URI.into()),
    };
    walk(&DirectorySource::from_bytes(files), &config, AT, None)
}

/// The BE list, re-signed by the BE list signer, with the current status of the BE QTSP CA
/// service (the first service of the list, the only one whose current status is granted)
/// changed to withdrawn.
fn be_list_with_ca_withdrawn(e: &Ecosystem) -> Vec<u8> {
    let text = e.unsigned_tl("BE", NEXT_UPDATE);
    let granted = format!(">{GRANTED}<");
    let at = text.find(&granted).expect("the BE CA service is granted");
    let modified = format!(
        "{}>{WITHDRAWN}<{}",
        &text[..at],
        &text[at + granted.len()..]
    );
    sign(
        &modified,
        "tsl-BE",
        &e.signers["BE"],
        Ecosystem::algorithm("BE"),
        RefStyle::Empty,
        SIGNING_TIME,
    )
    .unwrap()
    .into_bytes()
}

fn at_nanos(i: i64) -> i64 {
    i64::try_from(AT.unix_timestamp_nanos()).unwrap() + i
}

#[test]
fn recheck_is_clean_then_names_the_entries_of_the_withdrawn_service() {
    let e = Ecosystem::generate(b"eidas-bridge test seed").unwrap();
    let good = snapshot(&e, e.tls["BE"].clone());
    let swapped = snapshot(&e, be_list_with_ca_withdrawn(&e));
    assert_ne!(good.digest(), swapped.digest());

    // The decisions a FR bridge takes, each with the chain it validated and the usage.
    let decisions: Vec<(EntryKind, Decision, Vec<Vec<u8>>)> = vec![
        (
            EntryKind::Received,
            Decision::PeerTls,
            vec![e.qwacs["BE"].der()],
        ),
        (
            EntryKind::Received,
            Decision::Seal,
            vec![e.seals["BE"].der(), e.cas["BE"].der()],
        ),
        (
            EntryKind::Receipt,
            Decision::ReceiptSeal,
            vec![e.seals["BE"].der()],
        ),
        (
            EntryKind::Received,
            Decision::Seal,
            vec![e.seals["DE"].der()],
        ),
        (
            EntryKind::IdentityVerified,
            Decision::WalletIssuer,
            vec![e.pid_issuer.der()],
        ),
        // Refused: the old BE CA was withdrawn on 2026-06-01, before AT.
        (
            EntryKind::Failed,
            Decision::Seal,
            vec![e.withdrawn_seal.der()],
        ),
    ];
    // The live decisions against the good snapshot: what the journal records must be true.
    let live = TrustStore::from(&good);
    for (kind, decision, chain) in &decisions {
        let trusted = live.validate(chain, AT, decision.usage()).trusted;
        assert_eq!(trusted, *kind != EntryKind::Failed, "{kind:?} {decision:?}");
    }

    // 1. Archive the snapshot and the chains in the bridge's store, journal the decisions.
    let data = tempfile::tempdir().unwrap();
    let chains: HashMap<[u8; 32], Vec<u8>> = {
        let store = Store::open(data.path()).unwrap();
        let digest = store.trust().unwrap().save(&good).unwrap();
        assert_eq!(digest, good.digest());
        let evidence = store.evidence().unwrap();
        let dir = journal_dir(data.path());
        let key = load_or_create_key(&dir, "bridge.fr.test/journal").unwrap();
        let storage = Arc::new(FileJournalStorage::open(&dir).unwrap());
        let journal = Journal::open(storage, key, &JournalConfig::default()).unwrap();
        journal
            .append(&JournalEntry {
                kind: EntryKind::TrustListLoaded,
                unix_nanos: at_nanos(0),
                message_id: None,
                sender: None,
                recipient: None,
                peer: None,
                payload: None,
                trust_snapshot: Some(digest),
                evidence: None,
                reason: None,
            })
            .unwrap();
        let mut chains = HashMap::new();
        for (i, (kind, decision, chain)) in decisions.iter().enumerate() {
            let chain_digest = evidence.archive(chain).unwrap();
            chains.insert(chain_digest, evidence.get(&chain_digest).unwrap().unwrap());
            journal
                .append(&JournalEntry {
                    kind: *kind,
                    unix_nanos: at_nanos(i as i64 + 1),
                    message_id: Some(format!("msg-{i}")),
                    sender: None,
                    recipient: None,
                    peer: Some("BE:bridge.be.test".into()),
                    payload: None,
                    trust_snapshot: Some(digest),
                    evidence: Some(Evidence {
                        decision: *decision,
                        chain: chain_digest,
                    }),
                    reason: (*kind == EntryKind::Failed).then(|| "seal_untrusted".into()),
                })
                .unwrap();
        }
        chains
    };

    // 2. Export, verify offline, recheck against the bridge's own archives: no divergence.
    let dir = journal_dir(data.path());
    let verifier = read_verifier(&dir).unwrap();
    let mut bytes = Vec::new();
    {
        let storage = Arc::new(FileJournalStorage::open(&dir).unwrap());
        eidas_bridge::journal::export(storage, &verifier, &mut bytes).unwrap();
    }
    assert!(verify_export(&bytes, None).unwrap().is_valid());
    let file = ExportFile::parse(&bytes).unwrap();
    let entries: Vec<(u64, JournalEntry)> = file
        .records
        .iter()
        .map(|r| (r.index, JournalEntry::decode(&r.entry).unwrap()))
        .collect();
    let store = Store::open(data.path()).unwrap();
    let (snapshots, evidence) = (store.trust().unwrap(), store.evidence().unwrap());
    let report = recheck(entries.iter().map(|(i, e)| (*i, e)), &snapshots, &evidence);
    assert!(report.is_clean(), "{:?}", report.findings);
    assert_eq!((report.entries, report.rechecked, report.agreed), (7, 6, 6));

    // 3. The archived snapshot swapped for the one where the BE CA service is withdrawn.
    let archive = HashMap::from([(good.digest(), swapped.clone())]);
    let report = recheck(entries.iter().map(|(i, e)| (*i, e)), &archive, &chains);
    assert_eq!(
        report.findings[0],
        RecheckFinding::SnapshotSubstituted {
            index: 1,
            snapshot: good.digest(),
            found: swapped.digest()
        }
    );
    let divergent: Vec<u64> = report.divergences().map(|d| d.index).collect();
    // Entries 1-3: BE website certificate, BE seal with its CA, BE receipt seal. The DE seal,
    // the PID issuer and the already refused old BE seal are unaffected.
    assert_eq!(divergent, vec![1, 2, 3]);
    for d in report.divergences() {
        assert_eq!(
            (d.recorded, d.recheck),
            (Verdict::Trusted, Verdict::Untrusted)
        );
        assert_eq!(d.snapshot, good.digest());
        assert!(
            d.reasons.iter().any(|r| matches!(
                r,
                ValidationReason::StatusNotAcceptable { status } if status == WITHDRAWN
            )),
            "{:?}",
            d.reasons
        );
    }
    assert_eq!(
        report.divergences().next().map(|d| d.decision),
        Some(Decision::PeerTls)
    );
    assert_eq!((report.rechecked, report.agreed), (6, 3));
    // The usage is what the decision names: the BE seal is not a website certificate.
    assert!(
        !live
            .validate(&[e.seals["BE"].der()], AT, Usage::Qwac)
            .trusted
    );
}

/// The wallet-issuer decision of the identity verifier yields the evidence the journal needs:
/// the chain it validated and the digest of the snapshot in force.
#[test]
fn trust_list_issuer_decision_carries_its_evidence() {
    use eidas_bridge::identity::{IssuerEvidence, IssuerTrust, PemTrustAnchors};
    use eidas_bridge::trust::{Loaded, TrustListIssuers, TrustState};

    let e = Ecosystem::generate(b"eidas-bridge test seed").unwrap();
    let good = snapshot(&e, e.tls["BE"].clone());
    let state = Arc::new(TrustState::new());
    state.install(Arc::new(Loaded::new(good.clone(), AT)));
    let none: [&[u8]; 0] = [];
    let issuers = TrustListIssuers::new(state, PemTrustAnchors::from_pem(&none).unwrap());
    let trusted = issuers
        .verify_chain(
            std::slice::from_ref(&e.pid_issuer.cert),
            AT.unix_timestamp(),
        )
        .unwrap();
    assert_eq!(
        trusted.evidence,
        Some(IssuerEvidence {
            chain: vec![e.pid_issuer.der()],
            trust_snapshot: good.digest(),
        })
    );
}
