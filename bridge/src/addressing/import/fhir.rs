//! VZD FHIR-Directory bundles (gemSpec_VZD_FHIR_Directory; background §2): KIM mailboxes are `Endpoint`s
//! with `connectionType.code = kim` and the address in `address` (optionally `mailto:`). The owner's
//! Telematik-ID comes from the `OwnerTelematikIdEx` extension, else from a `PractitionerRole` that lists
//! the endpoint (its `Practitioner`'s identifier), else from a `HealthcareService` that lists it (its
//! `providedBy` `Organization`'s identifier). The role comes from the practitioner's `professionOID`
//! (qualification or PractitionerRole code). Row numbers are 1-based bundle entry indexes.

use std::collections::HashMap;
use std::io::{BufRead, Read};

use serde_json::Value;

use super::{ImportErrorKind, RowError};
use crate::addressing::directory::Entry;
use crate::addressing::email::AddrSpec;
use crate::addressing::hcid::{Hcid, Participant};
use crate::addressing::scheme::Scheme;
use crate::addressing::space::{Role, Space};

/// Largest bundle read: a bundle is one JSON document and must be held whole; 64 MiB holds ~100,000
/// endpoints with their resources while bounding memory. Larger dumps are imported in several bundles
/// (or as LDIF, which streams).
pub const MAX_FHIR_BYTES: u64 = 64 * 1024 * 1024;

/// Value of [`Entry::source`] for rows of this format.
const SOURCE: &str = "vzd-fhir";
/// FHIR naming system of the Telematik-ID.
const TELEMATIK_ID_SYSTEM: &str = "https://gematik.de/fhir/sid/telematik-id";

/// Parses a bundle (or a single Endpoint) into records.
pub(crate) fn parse_bundle<R: BufRead>(reader: R) -> Vec<Result<Entry, RowError>> {
    let fatal = |kind| vec![Err(RowError { line: 1, kind })];
    let mut bytes = Vec::new();
    if let Err(e) = reader.take(MAX_FHIR_BYTES + 1).read_to_end(&mut bytes) {
        return fatal(ImportErrorKind::Io(e.kind()));
    }
    if bytes.len() as u64 > MAX_FHIR_BYTES {
        return fatal(ImportErrorKind::TooLarge(MAX_FHIR_BYTES));
    }
    let doc: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            let kind = ImportErrorKind::Malformed {
                line: e.line() as u64,
                column: e.column() as u64,
            };
            return fatal(kind);
        }
    };
    drop(bytes);
    let resources: Vec<(&str, &Value)> = match doc.get("resourceType").and_then(Value::as_str) {
        Some("Bundle") => doc
            .get("entry")
            .and_then(Value::as_array)
            .map(|entries| {
                entries
                    .iter()
                    .filter_map(|e| {
                        Some((
                            e.get("fullUrl").and_then(Value::as_str).unwrap_or(""),
                            e.get("resource")?,
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default(),
        Some(_) => vec![("", &doc)],
        None => return fatal(ImportErrorKind::Malformed { line: 1, column: 1 }),
    };
    let index = Index::new(&resources);
    resources
        .iter()
        .enumerate()
        .filter(|(_, (_, r))| is_kim_endpoint(r))
        .map(|(i, (_, r))| {
            endpoint(&index, r).map_err(|kind| RowError {
                line: i as u64 + 1,
                kind,
            })
        })
        .collect()
}

/// Resources by `Type/id` and by full URL, and the resources that list each endpoint (built once, so
/// resolving every endpoint stays linear in the bundle size).
struct Index<'a> {
    by_ref: HashMap<String, &'a Value>,
    /// `(resourceType, endpoint key)` → resources of that type whose `endpoint` list has the key.
    by_endpoint: HashMap<(&'a str, String), Vec<&'a Value>>,
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn array<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key).and_then(Value::as_array).into_iter().flatten()
}

/// `Type/id` from a relative or absolute reference (its last two path segments).
fn ref_key(reference: &str) -> Option<String> {
    let mut it = reference.rsplit('/');
    let (id, ty) = (it.next()?, it.next()?);
    Some(format!("{ty}/{id}"))
}

impl<'a> Index<'a> {
    fn new(resources: &[(&'a str, &'a Value)]) -> Self {
        let mut by_ref = HashMap::new();
        let mut by_endpoint: HashMap<(&'a str, String), Vec<&'a Value>> = HashMap::new();
        for (url, r) in resources {
            let ty = str_at(r, "resourceType").unwrap_or("");
            if let Some(id) = str_at(r, "id") {
                by_ref.insert(format!("{ty}/{id}"), *r);
            }
            if !url.is_empty() {
                by_ref.insert((*url).to_owned(), *r);
            }
            for reference in array(r, "endpoint").filter_map(|e| str_at(e, "reference")) {
                if let Some(key) = ref_key(reference) {
                    by_endpoint.entry((ty, key)).or_default().push(*r);
                }
            }
        }
        Self {
            by_ref,
            by_endpoint,
        }
    }

    fn resolve(&self, reference: Option<&Value>) -> Option<&'a Value> {
        let r = reference.and_then(|r| str_at(r, "reference"))?;
        self.by_ref
            .get(r)
            .copied()
            .or_else(|| self.by_ref.get(&ref_key(r)?).copied())
    }

    /// Resources of `ty` whose `endpoint` list references this endpoint.
    fn referencing(&self, ty: &'a str, ep: &Value) -> &[&'a Value] {
        str_at(ep, "id")
            .and_then(|id| self.by_endpoint.get(&(ty, format!("Endpoint/{id}"))))
            .map_or(&[], Vec::as_slice)
    }
}

fn is_kim_endpoint(r: &Value) -> bool {
    str_at(r, "resourceType") == Some("Endpoint")
        && r.get("connectionType").and_then(|c| str_at(c, "code")) == Some("kim")
        && !matches!(str_at(r, "status"), Some("off" | "entered-in-error"))
}

/// The Telematik-ID among FHIR identifiers.
fn telematik_id(v: &Value) -> Option<&str> {
    array(v, "identifier")
        .find(|i| str_at(i, "system") == Some(TELEMATIK_ID_SYSTEM))
        .and_then(|i| str_at(i, "value"))
}

/// A role from any `professionOID` coding under `key` (qualification[].code or code[]).
fn role_of(v: &Value) -> Option<Role> {
    let codings = array(v, "qualification")
        .filter_map(|q| q.get("code"))
        .chain(array(v, "code"))
        .flat_map(|c| array(c, "coding"))
        .filter_map(|c| str_at(c, "code"));
    codings.into_iter().find_map(Role::from_profession_oid)
}

fn endpoint(index: &Index<'_>, ep: &Value) -> Result<Entry, ImportErrorKind> {
    let raw = str_at(ep, "address").ok_or(ImportErrorKind::NoIdentifier)?;
    let raw = raw.strip_prefix("mailto:").unwrap_or(raw);
    let address = AddrSpec::parse(raw)
        .map_err(ImportErrorKind::Address)?
        .address();
    let owner = array(ep, "extension")
        .find(|e| str_at(e, "url").is_some_and(|u| u.ends_with("OwnerTelematikIdEx")))
        .and_then(|e| e.get("valueIdentifier"))
        .and_then(|i| str_at(i, "value"));
    let roles = index.referencing("PractitionerRole", ep);
    let practitioner = roles
        .iter()
        .find_map(|pr| index.resolve(pr.get("practitioner")));
    let role = roles
        .iter()
        .find_map(|pr| role_of(pr))
        .or_else(|| practitioner.and_then(role_of));
    let tid = owner
        .or_else(|| practitioner.and_then(telematik_id))
        .or_else(|| roles.iter().find_map(|pr| telematik_id(pr)))
        .or_else(|| {
            index
                .referencing("HealthcareService", ep)
                .iter()
                .find_map(|hs| index.resolve(hs.get("providedBy")).and_then(telematik_id))
        })
        .ok_or(ImportErrorKind::NoIdentifier)?;
    let hcid = Hcid::from_scheme(Scheme::TelematikId, tid).map_err(ImportErrorKind::Identifier)?;
    let p = Participant::with_role(hcid, role).map_err(ImportErrorKind::Identifier)?;
    Ok(Entry {
        space: Space::Kim,
        address,
        hcid: p.hcid,
        role: p.role,
        box_type: None,
        source: SOURCE.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addressing::error::AddressError;

    const BUNDLE: &str = r#"{"resourceType":"Bundle","type":"searchset","entry":[
      {"fullUrl":"https://vzd/Endpoint/e1","resource":{"resourceType":"Endpoint","id":"e1","status":"active",
        "extension":[{"url":"https://gematik.de/fhir/directory/StructureDefinition/OwnerTelematikIdEx",
          "valueIdentifier":{"system":"https://gematik.de/fhir/sid/telematik-id","value":"1-1.58.00000040"}}],
        "connectionType":{"code":"kim"},"address":"Dr.Mustermann@praxis-mustermann.kim.telematik"}},
      {"resource":{"resourceType":"PractitionerRole","id":"pr1","practitioner":{"reference":"Practitioner/p1"},
        "endpoint":[{"reference":"Endpoint/e1"},{"reference":"Endpoint/e2"}]}},
      {"resource":{"resourceType":"Practitioner","id":"p1",
        "identifier":[{"system":"https://gematik.de/fhir/sid/telematik-id","value":"2-2.58.00000040"}],
        "qualification":[{"code":{"coding":[{"code":"1.2.276.0.76.4.31"}]}}]}},
      {"resource":{"resourceType":"Endpoint","id":"e2","connectionType":{"code":"kim"},"address":"mailto:zahn@x.kim.telematik"}},
      {"resource":{"resourceType":"Endpoint","id":"e3","connectionType":{"code":"tim"},"address":"@x:matrix"}},
      {"resource":{"resourceType":"Endpoint","id":"e4","connectionType":{"code":"kim"},"address":"orphan@x.kim.telematik"}},
      {"resource":{"resourceType":"HealthcareService","id":"hs","providedBy":{"reference":"Organization/o1"},
        "endpoint":[{"reference":"Endpoint/e5"}]}},
      {"resource":{"resourceType":"Organization","id":"o1",
        "identifier":[{"system":"https://gematik.de/fhir/sid/telematik-id","value":"6-bad"}]}},
      {"resource":{"resourceType":"Endpoint","id":"e5","connectionType":{"code":"kim"},"address":"kh@x.kim.telematik"}}
    ]}"#;

    #[test]
    fn endpoints_are_resolved() {
        let out = parse_bundle(BUNDLE.as_bytes());
        assert_eq!(out.len(), 4);
        let e1 = out[0].as_ref().unwrap();
        assert_eq!(e1.address, "dr.mustermann@praxis-mustermann.kim.telematik");
        assert_eq!(e1.hcid.to_string(), "hcid:DE:telematik-id:1-1.58.00000040");
        assert_eq!(e1.role, Some(Role::Dentist));
        let e2 = out[1].as_ref().unwrap();
        assert_eq!(
            (e2.address.as_str(), e2.hcid.value()),
            ("zahn@x.kim.telematik", "2-2.58.00000040")
        );
        assert_eq!(
            out[2],
            Err(RowError {
                line: 6,
                kind: ImportErrorKind::NoIdentifier
            })
        );
        assert_eq!(
            out[3],
            Err(RowError {
                line: 9,
                kind: ImportErrorKind::Identifier(AddressError::InvalidFormat)
            })
        );
    }

    #[test]
    fn malformed_json_is_fatal() {
        let out = parse_bundle(&b"{\"resourceType\": \n ["[..]);
        assert!(matches!(
            &out[..],
            [Err(RowError {
                kind: ImportErrorKind::Malformed { line: 2, .. },
                ..
            })]
        ));
        let out = parse_bundle(&b"[]"[..]);
        assert!(matches!(
            &out[..],
            [Err(RowError {
                kind: ImportErrorKind::Malformed { .. },
                ..
            })]
        ));
    }
}
