//! Health-professional view of a verified attestation (contract notes `specs/wallet.md` section 5):
//! identifier scheme and value, profession, country of registration, and the canonical `hcid` of
//! `specs/addressing.md` where the scheme is one of its registry (section 3). Only the mapping from
//! attestation scheme names to registry tokens lives here; the addressing module owns the full
//! value validation and normal form, and a caller routing on the `hcid` passes it through it.

use serde_json::{Map, Value};

/// A health professional's registration as attested.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HealthProfessional {
    /// Identifier scheme as attested (URN/OID or name).
    pub identifier_scheme: String,
    /// Identifier value.
    pub identifier: String,
    /// Country of registration, ISO 3166-1 alpha-2.
    pub country: String,
    /// Profession code.
    pub profession_code: Option<String>,
    /// Code system of the profession code.
    pub profession_system: Option<String>,
    /// EU sectoral profession (Directive 2005/36/EC), if attested.
    pub eu_sectoral_profession: Option<String>,
    /// Registration status (`active`, `suspended`, ...), if attested.
    pub registration_status: Option<String>,
    /// `hcid:<CC>:<scheme>:<value>` when the scheme is in the addressing registry.
    pub hcid: Option<String>,
}

/// Attested scheme (OID/URN or name, case-insensitive) -> (country, addressing scheme token).
/// OIDs: ANS nomenclature for RPPS `1.2.250.1.71.4.2.1` (wallet.md section 5) and ADELI
/// `1.2.250.1.71.4.2.2` (same ANS arc).
const SCHEMES: &[(&str, &str, &str)] = &[
    ("urn:oid:1.2.250.1.71.4.2.1", "FR", "rpps"),
    ("1.2.250.1.71.4.2.1", "FR", "rpps"),
    ("rpps", "FR", "rpps"),
    ("urn:oid:1.2.250.1.71.4.2.2", "FR", "adeli"),
    ("adeli", "FR", "adeli"),
    ("telematik-id", "DE", "telematik-id"),
    ("lanr", "DE", "lanr"),
    ("nihii", "BE", "nihii"),
    ("riziv", "BE", "nihii"),
    ("inami", "BE", "nihii"),
    ("uzi", "NL", "uzi"),
    ("agb", "NL", "agb"),
    ("matricule", "LU", "matricule"),
];

fn text(m: &Map<String, Value>, k: &str) -> Option<String> {
    m.get(k).and_then(Value::as_str).map(str::to_owned)
}

/// Percent-encodes everything outside RFC 3986 unreserved characters (addressing.md section 2).
fn pct(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Maps verified claims carrying a `registration` object to a [`HealthProfessional`].
pub fn map_health_professional(claims: &Map<String, Value>) -> Option<HealthProfessional> {
    let reg = claims.get("registration")?.as_object()?;
    let identifier = text(reg, "identifier")?;
    let identifier_scheme =
        text(reg, "identifier_scheme").or_else(|| text(reg, "identifier_scheme_name"))?;
    let country = text(reg, "country").or_else(|| text(claims, "practice_country"))?;
    let profession = claims.get("profession").and_then(Value::as_object);
    let pf = |k| profession.and_then(|p| text(p, k));
    let candidates = [
        Some(identifier_scheme.clone()),
        text(reg, "identifier_scheme_name"),
    ];
    let hcid = candidates.iter().flatten().find_map(|s| {
        SCHEMES
            .iter()
            .find(|(name, cc, _)| name.eq_ignore_ascii_case(s) && cc.eq_ignore_ascii_case(&country))
            .map(|(_, cc, token)| format!("hcid:{cc}:{token}:{}", pct(&identifier)))
    });
    Some(HealthProfessional {
        identifier_scheme,
        identifier,
        country,
        profession_code: pf("code"),
        profession_system: pf("system"),
        eu_sectoral_profession: pf("eu_sectoral_profession"),
        registration_status: text(reg, "status"),
        hcid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rpps_maps_to_hcid() {
        let claims = json!({"registration": {"country": "FR", "identifier_scheme": "urn:oid:1.2.250.1.71.4.2.1",
            "identifier": "10101234564", "status": "active"}, "profession": {"code": "10", "system": "urn:oid:1.2.250.1.71.1.2.7"}});
        let hp = map_health_professional(claims.as_object().unwrap()).unwrap();
        assert_eq!(hp.hcid.as_deref(), Some("hcid:FR:rpps:10101234564"));
        assert_eq!(hp.profession_code.as_deref(), Some("10"));
        let unknown = json!({"registration": {"country": "IT", "identifier_scheme": "x", "identifier": "a/b"}});
        assert_eq!(
            map_health_professional(unknown.as_object().unwrap())
                .unwrap()
                .hcid,
            None
        );
        assert_eq!(pct("a/b"), "a%2Fb");
    }
}
