//! `Sie:Qualifications` (TS 119 612 clause 5.5.9.2): qualifiers applied to the certificates a
//! criteria list selects, and the evaluation of those criteria against a certificate.

use serde::{Deserialize, Serialize};

use crate::error::ParseErrorKind;
use crate::tsl::{elems, opt, text};

/// Most criteria nested in one qualification element; real lists use one or two levels.
pub const MAX_CRITERIA_DEPTH: usize = 8;

/// One `QualificationElement`: qualifier URIs applying to certificates matching `criteria`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Qualification {
    /// `Qualifier/@uri` values, e.g. `.../SvcInfoExt/QCForESig`.
    pub qualifiers: Vec<String>,
    /// The `CriteriaList`.
    pub criteria: CriteriaList,
}

/// A `CriteriaList` with its `assert` mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CriteriaList {
    /// `assert`: `all`, `atLeastOne` or `none`.
    pub assert: String,
    /// The criteria.
    pub criteria: Vec<Criterion>,
}

/// One criterion of a criteria list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Criterion {
    /// `KeyUsage`: every named bit has the stated value.
    KeyUsage(Vec<(String, bool)>),
    /// `PolicySet`: the certificate carries every policy OID of the set.
    PolicySet(Vec<String>),
    /// A nested `CriteriaList`.
    Nested(CriteriaList),
    /// A criterion this crate does not evaluate (`otherCriteriaList`); never matches.
    Unsupported,
}

/// What a certificate offers to the criteria.
#[derive(Debug, Clone, Default)]
pub struct CertificateFacts {
    /// Key usage bit names set in the certificate (TS 119 612 names: `digitalSignature`, ...).
    pub key_usage: Vec<String>,
    /// Certificate policy OIDs, dotted.
    pub policies: Vec<String>,
}

impl CriteriaList {
    /// Whether the certificate described by `facts` matches.
    pub fn matches(&self, facts: &CertificateFacts) -> bool {
        let hit = |c: &Criterion| match c {
            Criterion::KeyUsage(bits) => bits
                .iter()
                .all(|(name, want)| facts.key_usage.iter().any(|k| k == name) == *want),
            Criterion::PolicySet(oids) => {
                oids.iter().all(|o| facts.policies.iter().any(|p| p == o))
            }
            Criterion::Nested(list) => list.matches(facts),
            Criterion::Unsupported => false,
        };
        match self.assert.as_str() {
            "all" => self.criteria.iter().all(hit),
            "atLeastOne" => self.criteria.iter().any(hit),
            "none" => !self.criteria.iter().any(hit),
            _ => false,
        }
    }
}

/// Parses a `Qualifications` element.
pub(crate) fn parse_qualifications(
    node: roxmltree::Node<'_, '_>,
) -> Result<Vec<Qualification>, ParseErrorKind> {
    let mut out = Vec::new();
    for qe in elems(node, "QualificationElement") {
        let qualifiers = opt(qe, "Qualifiers")
            .into_iter()
            .flat_map(|q| elems(q, "Qualifier"))
            .filter_map(|q| q.attribute("uri").map(str::to_string))
            .collect();
        let criteria = match opt(qe, "CriteriaList") {
            Some(cl) => parse_criteria(cl, 0)?,
            None => CriteriaList {
                assert: "all".to_string(),
                criteria: vec![Criterion::Unsupported],
            },
        };
        out.push(Qualification {
            qualifiers,
            criteria,
        });
    }
    Ok(out)
}

fn parse_criteria(
    node: roxmltree::Node<'_, '_>,
    depth: usize,
) -> Result<CriteriaList, ParseErrorKind> {
    if depth > MAX_CRITERIA_DEPTH {
        return Err(ParseErrorKind::TooMany {
            what: "nested criteria",
            limit: MAX_CRITERIA_DEPTH,
        });
    }
    let mut criteria = Vec::new();
    for c in node.children().filter(|c| c.is_element()) {
        criteria.push(match c.tag_name().name() {
            "KeyUsage" => Criterion::KeyUsage(
                elems(c, "KeyUsageBit")
                    .filter_map(|b| {
                        b.attribute("name")
                            .map(|n| (n.to_string(), text(b) == "true"))
                    })
                    .collect(),
            ),
            "PolicySet" => Criterion::PolicySet(
                elems(c, "PolicyIdentifier")
                    .filter_map(|p| opt(p, "Identifier"))
                    .map(|i| text(i).trim_start_matches("urn:oid:").to_string())
                    .collect(),
            ),
            "CriteriaList" => Criterion::Nested(parse_criteria(c, depth + 1)?),
            "Description" => continue,
            _ => Criterion::Unsupported,
        });
    }
    Ok(CriteriaList {
        assert: node.attribute("assert").unwrap_or("all").to_string(),
        criteria,
    })
}
