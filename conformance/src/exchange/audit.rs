//! The closing journal checks: each bridge's journal is exported and verified offline as an
//! auditor would (DESIGN.md "Journal": recompute the tree, check every checkpoint signature), and
//! its entries, grouped by message id and canonical sender, hold exactly the expected kinds.
//!
//! The expected tables below follow from DESIGN.md: the sending bridge journals `accepted`, then
//! `forwarded` and the peer's `receipt` once the receipt verifies, or `failed` at the deadline;
//! the receiving bridge journals `received`, then `delivered` when its operator acknowledges.
//! Refused submits and refused deliveries leave no entry.

use std::collections::BTreeMap;

use eidas_bridge::demo::Node;
use eidas_bridge::journal::{export, verify_export, EntryKind};

use super::Cases;

/// Expected kinds per `message id from canonical sender` (role stripped), in the order of
/// [`ORDER`], joined by `+`.
pub(super) type Expected = &'static [(&'static str, &'static str)];

const SENT: &str = "accepted+forwarded+receipt";
const RECEIVED: &str = "received+delivered";

/// The main FR bridge.
pub(super) const MAIN_FR: Expected = &[
    ("down-1 from hcid:FR:rpps:10003456789", SENT),
    ("e2e-1 from hcid:FR:rpps:10003456789", SENT),
    ("e2e-1 from hcid:FR:rpps:10101201234", SENT),
    ("reply-1 from hcid:BE:nihii-hospital:71000436", RECEIVED),
    ("rx-1 from hcid:FR:rpps:10003456789", SENT),
    ("rx-2 from hcid:FR:rpps:10003456789", SENT),
];

/// The main BE bridge (`seal-ok-1` is the baseline of the inbound seal cases).
pub(super) const MAIN_BE: Expected = &[
    ("down-1 from hcid:FR:rpps:10003456789", RECEIVED),
    ("e2e-1 from hcid:FR:rpps:10003456789", RECEIVED),
    ("e2e-1 from hcid:FR:rpps:10101201234", RECEIVED),
    ("reply-1 from hcid:BE:nihii-hospital:71000436", SENT),
    ("rx-1 from hcid:FR:rpps:10003456789", RECEIVED),
    ("rx-2 from hcid:FR:rpps:10003456789", RECEIVED),
    ("seal-ok-1 from hcid:FR:rpps:10003456789", RECEIVED),
];

/// The FR bridge of the deadline case.
pub(super) const DEADLINE_FR: Expected =
    &[("fail-1 from hcid:FR:rpps:10003456789", "accepted+failed")];

/// The FR bridge of the impostor cases: accepted, never forwarded.
pub(super) const IMPOSTORS_FR: Expected = &[
    ("imp-be-1 from hcid:FR:rpps:10003456789", "accepted"),
    ("imp-de-1 from hcid:FR:rpps:10003456789", "accepted"),
];

/// The FR bridge of the receipt cases: only the honest receipt is journaled.
pub(super) const RECEIPTS_FR: Expected = &[
    (
        "rcpt-badcontent-1 from hcid:FR:rpps:10003456789",
        "accepted",
    ),
    ("rcpt-badsig-1 from hcid:FR:rpps:10003456789", "accepted"),
    ("rcpt-honest-1 from hcid:FR:rpps:10003456789", SENT),
    ("rcpt-othermsg-1 from hcid:FR:rpps:10003456789", "accepted"),
    ("rcpt-wrongkey-1 from hcid:FR:rpps:10003456789", "accepted"),
];

/// The order kinds are listed in.
const ORDER: [EntryKind; 8] = [
    EntryKind::Accepted,
    EntryKind::Forwarded,
    EntryKind::Receipt,
    EntryKind::Received,
    EntryKind::Delivered,
    EntryKind::Failed,
    EntryKind::TrustListLoaded,
    EntryKind::IdentityVerified,
];

fn name(k: EntryKind) -> String {
    format!("{k:?}").to_ascii_lowercase()
}

/// The journal's entries grouped as in [`Expected`].
fn grouped(node: &Node) -> Result<BTreeMap<String, String>, String> {
    let size = node.journal.head().size;
    let mut groups: BTreeMap<String, Vec<EntryKind>> = BTreeMap::new();
    for item in node.journal.replay(0, size) {
        let (_, e) = item.map_err(|e| format!("replay: {e}"))?;
        let key = match &e.message_id {
            Some(id) => {
                let sender = e.sender.as_deref().unwrap_or("?");
                let sender = sender.split(';').next().unwrap_or(sender);
                format!("{id} from {sender}")
            }
            None => "(no message)".to_owned(),
        };
        groups.entry(key).or_default().push(e.kind);
    }
    Ok(groups
        .into_iter()
        .map(|(k, mut kinds)| {
            kinds.sort_by_key(|k| ORDER.iter().position(|o| o == k));
            let kinds: Vec<String> = kinds.into_iter().map(name).collect();
            (k, kinds.join("+"))
        })
        .collect())
}

fn check(node: &Node, expected: Expected) -> Result<String, String> {
    let mut bytes = Vec::new();
    export(node.journal.storage(), node.journal.verifier(), &mut bytes)
        .map_err(|e| format!("export: {e}"))?;
    let report = verify_export(&bytes, None).map_err(|e| format!("verify: {e}"))?;
    let verified = if report.is_valid() {
        "export verifies".to_owned()
    } else {
        format!("export INVALID: {:?}", report.findings)
    };
    let got = grouped(node)?;
    let want: BTreeMap<String, String> = expected
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let mut diffs = Vec::new();
    for key in got
        .keys()
        .chain(want.keys().filter(|k| !got.contains_key(*k)))
    {
        let (g, w) = (got.get(key), want.get(key));
        if g != w {
            diffs.push(format!(
                "{key}: {} instead of {}",
                g.map_or("nothing", String::as_str),
                w.map_or("nothing", String::as_str)
            ));
        }
    }
    Ok(if diffs.is_empty() {
        format!("{verified}; entry kinds as expected")
    } else {
        format!("{verified}; {}", diffs.join("; "))
    })
}

/// Records the journal case `id` for `node`.
pub(super) fn journal(c: &mut Cases, id: &str, node: &Node, expected: Expected) {
    c.push(
        id,
        "DESIGN.md \"Journal\": append-only, verifiable offline, one entry per step of each exchange (accepted, forwarded, receipt, received, delivered, failed) and none for refused input",
        "export verifies; entry kinds as expected",
        check(node, expected),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_place_in_the_order() {
        for k in ORDER {
            assert_eq!(ORDER.iter().filter(|o| **o == k).count(), 1, "{k:?}");
        }
        assert_eq!(name(EntryKind::TrustListLoaded), "trustlistloaded");
    }

    #[test]
    fn expected_tables_use_known_kinds_and_unique_keys() {
        let names: Vec<String> = ORDER.into_iter().map(name).collect();
        for table in [MAIN_FR, MAIN_BE, DEADLINE_FR, IMPOSTORS_FR, RECEIPTS_FR] {
            for (i, (key, kinds)) in table.iter().enumerate() {
                assert!(table[i + 1..].iter().all(|(k, _)| k != key), "{key}");
                for kind in kinds.split('+') {
                    assert!(names.iter().any(|n| n == kind), "{key}: {kind}");
                }
            }
        }
    }
}
