//! The scheme registry of XB-ADDR v0 §3: which schemes exist in which country, what kind of participant
//! each names, and the value rule (format and check digit) with its normalisation.

use std::sync::OnceLock;

use regex::Regex;

use super::checks::{cbe_ok, gs1_ok, is_digits, luhn_ok, nihii_ok, nir_ok, ssin_ok};
use super::error::AddressError;
use super::icd::{lookup_icd, IcdState};

/// Longest Telematik-ID: gemSpec_PKI GS-A_4587 (≤ 128 characters).
pub const MAX_TELEMATIK_ID_LEN: usize = 128;
/// Longest Peppol identifier value after the ICD: Peppol Policy for use of identifiers 4.0 (4+1+130).
pub const MAX_ICD_VALUE_LEN: usize = 130;

/// Sub-types of Belgian organisation NIHII numbers (§3, `nihii-<sub>`), as hcid tokens. The eHealthBox
/// form upper-cases them and swaps `-` for `_` (`medical-house` ↔ `MEDICAL_HOUSE`).
pub const NIHII_SUBTYPES: [&str; 14] = [
    "hospital",
    "pharmacy",
    "labo",
    "group",
    "group-doctors",
    "medical-house",
    "guard-post",
    "home-services",
    "palliative-care",
    "psych-house",
    "retirement",
    "otd-pharmacy",
    "office-doctors",
    "office-dentists",
];

/// What a scheme identifies (§3 `kind`); decides whether `;role=` is allowed (§2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A natural person acting as a professional.
    Person,
    /// An organisation.
    Org,
    /// Either (Telematik-ID, AGB).
    Any,
    /// A patient: representable, never relayed (§1.5).
    Patient,
}

/// A scheme of the registry (§3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    /// FR `rpps`: RPPS practitioner number, 11 digits, no check enforced.
    Rpps,
    /// FR `adeli`: legacy ADELI number, 9 digits.
    Adeli,
    /// FR `idnat-ps`: IdNat_PS whose identifier has no more specific scheme.
    IdnatPs,
    /// FR `finess`: FINESS establishment, 9 digits Luhn or Corsican `2A`/`2B`.
    Finess,
    /// FR `siren`: company, 9 digits Luhn (ICD 0002).
    Siren,
    /// FR `siret`: establishment, 14 digits Luhn (ICD 0009).
    Siret,
    /// FR `ins-nir`: patient INS (NIR with key); never relayed.
    InsNir,
    /// DE `telematik-id`: gemSpec_PKI Telematik-ID.
    TelematikId,
    /// DE `lanr`: physician number, 9 digits.
    Lanr,
    /// DE `bsnr`: practice site number, 9 digits.
    Bsnr,
    /// DE `leitweg-id`: Leitweg-ID (ICD 0204).
    LeitwegId,
    /// BE `nihii`: person NIHII, 11 digits, mod 97.
    Nihii,
    /// BE `nihii-<sub>`: organisation NIHII, 8 digits, mod 97; `<sub>` one of [`NIHII_SUBTYPES`].
    NihiiOrg(&'static str),
    /// BE `ssin`: national register number, 11 digits, mod 97.
    Ssin,
    /// BE `cbe`: enterprise number, 10 digits, mod 97 (ICD 0208).
    Cbe,
    /// BE `ehp`: eHealth partner number, 10 digits.
    Ehp,
    /// NL `agb`: AGB code, 8 digits.
    Agb,
    /// NL `uzi`: UZI number, 9 digits.
    Uzi,
    /// NL `ura`: URA number, 8 digits.
    Ura,
    /// NL `oin`: OIN, 20 digits (ICD 0190).
    Oin,
    /// LU `matricule`: national matricule, 13 digits.
    Matricule,
    /// INT `gln`: GS1 Global Location Number, 13 digits, GS1 mod 10 (ICD 0088).
    Gln,
    /// `icd-<nnnn>`: fallback for ICDs without a national mapping.
    Icd(u16),
}

/// National schemes with their country and token; `NihiiOrg` and `Icd` are handled apart.
const FIXED: [(Scheme, &str, &str); 21] = [
    (Scheme::Rpps, "FR", "rpps"),
    (Scheme::Adeli, "FR", "adeli"),
    (Scheme::IdnatPs, "FR", "idnat-ps"),
    (Scheme::Finess, "FR", "finess"),
    (Scheme::Siren, "FR", "siren"),
    (Scheme::Siret, "FR", "siret"),
    (Scheme::InsNir, "FR", "ins-nir"),
    (Scheme::TelematikId, "DE", "telematik-id"),
    (Scheme::Lanr, "DE", "lanr"),
    (Scheme::Bsnr, "DE", "bsnr"),
    (Scheme::LeitwegId, "DE", "leitweg-id"),
    (Scheme::Nihii, "BE", "nihii"),
    (Scheme::Ssin, "BE", "ssin"),
    (Scheme::Cbe, "BE", "cbe"),
    (Scheme::Ehp, "BE", "ehp"),
    (Scheme::Agb, "NL", "agb"),
    (Scheme::Uzi, "NL", "uzi"),
    (Scheme::Ura, "NL", "ura"),
    (Scheme::Oin, "NL", "oin"),
    (Scheme::Matricule, "LU", "matricule"),
    (Scheme::Gln, "INT", "gln"),
];

/// ICDs with a national mapping (§4 `peppol` row); `0002` is split by length into siren/siret.
const ICD_MAP: [(u16, Scheme); 5] = [
    (9, Scheme::Siret),
    (88, Scheme::Gln),
    (190, Scheme::Oin),
    (204, Scheme::LeitwegId),
    (208, Scheme::Cbe),
];

impl Scheme {
    /// Finds the scheme of `token` under country `cc` (upper case or `INT`).
    ///
    /// # Errors
    /// [`AddressError::UnknownScheme`] when the registry has no such scheme for that country;
    /// [`AddressError::UnknownIcd`] / [`AddressError::IcdRemoved`] for `icd-<nnnn>` tokens whose ICD is
    /// missing from, or removed in, the Peppol code list.
    pub fn lookup(cc: &str, token: &str) -> Result<Self, AddressError> {
        if let Some((s, _, _)) = FIXED.iter().find(|(_, c, t)| *c == cc && *t == token) {
            return Ok(*s);
        }
        if let Some(sub) = token.strip_prefix("nihii-") {
            return match NIHII_SUBTYPES.iter().find(|s| **s == sub) {
                Some(sub) if cc == "BE" => Ok(Self::NihiiOrg(sub)),
                _ => Err(AddressError::UnknownScheme),
            };
        }
        if let Some(n) = token.strip_prefix("icd-") {
            if !is_digits(n, 4) {
                return Err(AddressError::UnknownScheme);
            }
            let icd: u16 = n.parse().map_err(|_| AddressError::UnknownScheme)?;
            let entry = lookup_icd(icd).ok_or(AddressError::UnknownIcd(icd))?;
            if entry.state == IcdState::Removed {
                return Err(AddressError::IcdRemoved(icd));
            }
            if entry.country != cc {
                return Err(AddressError::UnknownScheme);
            }
            return Ok(Self::Icd(icd));
        }
        Err(AddressError::UnknownScheme)
    }

    /// The scheme of a Peppol ICD and value (§4 `peppol` row: 0002 by length, mapped ICDs, else `icd-<nnnn>`).
    ///
    /// # Errors
    /// [`AddressError::UnknownIcd`], [`AddressError::IcdRemoved`], and [`AddressError::InvalidFormat`] for an
    /// ICD 0002 value that is neither 9 nor 14 characters.
    pub fn from_icd(icd: u16, value: &str) -> Result<Self, AddressError> {
        let entry = lookup_icd(icd).ok_or(AddressError::UnknownIcd(icd))?;
        if entry.state == IcdState::Removed {
            return Err(AddressError::IcdRemoved(icd));
        }
        if icd == 2 {
            return match value.len() {
                9 => Ok(Self::Siren),
                14 => Ok(Self::Siret),
                _ => Err(AddressError::InvalidFormat),
            };
        }
        Ok(ICD_MAP
            .iter()
            .find(|(i, _)| *i == icd)
            .map_or(Self::Icd(icd), |(_, s)| *s))
    }

    /// The ISO 6523 ICD of the scheme, if it has one (§3, §4 `peppol` row).
    pub fn icd(self) -> Option<u16> {
        match self {
            Self::Siren => Some(2),
            Self::Icd(n) => Some(n),
            other => ICD_MAP.iter().find(|(_, s)| *s == other).map(|(i, _)| *i),
        }
    }

    /// The hcid token (`rpps`, `nihii-hospital`, `icd-0007`, …).
    pub fn token(self) -> String {
        match self {
            Self::NihiiOrg(sub) => format!("nihii-{sub}"),
            Self::Icd(n) => format!("icd-{n:04}"),
            other => FIXED
                .iter()
                .find(|(s, _, _)| *s == other)
                .map_or_else(String::new, |(_, _, t)| (*t).to_owned()),
        }
    }

    /// The short token used in gateway aliases (§4: telematik-id → `tid`).
    pub fn alias_token(self) -> String {
        match self {
            Self::TelematikId => "tid".to_owned(),
            other => other.token(),
        }
    }

    /// The issuing country (`INT` for global schemes).
    pub fn country(self) -> String {
        match self {
            Self::NihiiOrg(_) => "BE".to_owned(),
            Self::Icd(n) => lookup_icd(n).map_or_else(|| "INT".to_owned(), |e| e.country.clone()),
            other => FIXED
                .iter()
                .find(|(s, _, _)| *s == other)
                .map_or_else(String::new, |(_, c, _)| (*c).to_owned()),
        }
    }

    /// What the scheme identifies (§3 `kind`).
    pub fn kind(self) -> Kind {
        match self {
            Self::Rpps | Self::Adeli | Self::IdnatPs | Self::Lanr | Self::Nihii | Self::Ssin => {
                Kind::Person
            }
            Self::Uzi | Self::Matricule => Kind::Person,
            Self::InsNir => Kind::Patient,
            Self::TelematikId | Self::Agb => Kind::Any,
            _ => Kind::Org,
        }
    }

    /// Whether values compare case-insensitively and are lower-cased (§2: `icd-*`, `leitweg-id`).
    pub fn case_insensitive(self) -> bool {
        matches!(self, Self::Icd(_) | Self::LeitwegId)
    }

    /// Checks `value` against the scheme's rule and returns the normal form (§1.3): possibly a more
    /// specific scheme (`idnat-ps` `8…` → `rpps`, `0…` → `adeli`) and a case-folded value.
    ///
    /// # Errors
    /// [`AddressError::InvalidFormat`] or [`AddressError::InvalidCheckDigit`] (§5 step 5).
    pub fn normalise(self, value: &str) -> Result<(Self, String), AddressError> {
        use AddressError::{InvalidCheckDigit, InvalidFormat};
        let digits = |len: usize| {
            if is_digits(value, len) {
                Ok(())
            } else {
                Err(InvalidFormat)
            }
        };
        let check = |ok: bool| if ok { Ok(()) } else { Err(InvalidCheckDigit) };
        match self {
            Self::Rpps | Self::Nihii | Self::Ssin => digits(11)?,
            Self::Adeli | Self::Lanr | Self::Bsnr | Self::Uzi | Self::Siren => digits(9)?,
            Self::NihiiOrg(_) | Self::Agb | Self::Ura => digits(8)?,
            Self::Siret => digits(14)?,
            Self::Ehp => digits(10)?,
            Self::Oin => digits(20)?,
            Self::Matricule | Self::Gln => digits(13)?,
            Self::Cbe if !(is_digits(value, 10) && matches!(value.as_bytes()[0], b'0' | b'1')) => {
                return Err(InvalidFormat)
            }
            Self::IdnatPs => return normalise_idnat_ps(value),
            Self::Finess => return normalise_finess(value),
            Self::InsNir => {
                let v = value.to_ascii_uppercase();
                let ok = v.len() == 15
                    && v.bytes()
                        .enumerate()
                        .all(|(i, b)| b.is_ascii_digit() || (i == 6 && (b == b'A' || b == b'B')));
                if !ok || (v.as_bytes()[6].is_ascii_alphabetic() && v.as_bytes()[5] != b'2') {
                    return Err(InvalidFormat);
                }
                check(nir_ok(&v))?;
                return Ok((self, v));
            }
            Self::TelematikId => check_telematik_id(value)?,
            Self::LeitwegId => {
                let v = value.to_ascii_lowercase();
                if !leitweg_regex().is_match(&v) {
                    return Err(InvalidFormat);
                }
                return Ok((self, v));
            }
            Self::Icd(n) => {
                let entry = lookup_icd(n).ok_or(AddressError::UnknownIcd(n))?;
                if value.is_empty() || value.len() > MAX_ICD_VALUE_LEN {
                    return Err(InvalidFormat);
                }
                if entry.regex.as_ref().is_some_and(|rx| !rx.is_match(value)) {
                    return Err(InvalidFormat);
                }
                return Ok((self, value.to_lowercase()));
            }
            Self::Cbe => {}
        }
        match self {
            Self::Nihii | Self::NihiiOrg(_) => check(nihii_ok(value))?,
            Self::Ssin => check(ssin_ok(value))?,
            Self::Cbe => check(cbe_ok(value))?,
            Self::Siren | Self::Siret => check(luhn_ok(value))?,
            Self::Gln => check(gs1_ok(value))?,
            _ => {}
        }
        Ok((self, value.to_owned()))
    }
}

/// Leitweg-ID, Peppol ICD 0204 rule, on the lower-cased value.
fn leitweg_regex() -> &'static Regex {
    static RX: OnceLock<Regex> = OnceLock::new();
    // The pattern is a literal checked by the tests; `Regex::new` cannot fail on it.
    #[allow(clippy::expect_used)]
    RX.get_or_init(|| {
        Regex::new("^[0-9]{2,12}(-[0-9a-z]{0,30})?-[0-9]{2}$").expect("literal regex")
    })
}

/// Telematik-ID: gemSpec_PKI §4.7, prefixes of Tab_PKI_101 (6 is reserved), PrintableString Fortsatz,
/// ≤ 128 characters (GS-A_4587).
fn check_telematik_id(value: &str) -> Result<(), AddressError> {
    const PREFIXES: [&str; 10] = ["1", "2", "3", "4", "5", "7", "8", "9", "10", "11"];
    let (prefix, rest) = value.split_once('-').ok_or(AddressError::InvalidFormat)?;
    let printable = |c: char| c.is_ascii_alphanumeric() || " '()+,./:=?-".contains(c);
    if value.len() > MAX_TELEMATIK_ID_LEN
        || !PREFIXES.contains(&prefix)
        || rest.is_empty()
        || !rest.chars().all(printable)
    {
        return Err(AddressError::InvalidFormat);
    }
    Ok(())
}

/// FINESS: 9 digits with a Luhn key, or Corsican `2A`/`2B` + 7 digits (no check), §3.
fn normalise_finess(value: &str) -> Result<(Scheme, String), AddressError> {
    let v = value.to_ascii_uppercase();
    if is_digits(&v, 9) {
        return if luhn_ok(&v) {
            Ok((Scheme::Finess, v))
        } else {
            Err(AddressError::InvalidCheckDigit)
        };
    }
    if v.len() == 9
        && (v.starts_with("2A") || v.starts_with("2B"))
        && v[2..].bytes().all(|b| b.is_ascii_digit())
    {
        return Ok((Scheme::Finess, v));
    }
    Err(AddressError::InvalidFormat)
}

/// IdNat_PS (OID 1.2.250.1.71.4.2.1): `8`+RPPS → `rpps`, `0`+ADELI → `adeli`, `[13456]<id>/<internal>`
/// stays `idnat-ps` (§3; background §1 for the identifier behind each prefix and its length).
fn normalise_idnat_ps(value: &str) -> Result<(Scheme, String), AddressError> {
    let Some(rest) = value.get(1..) else {
        return Err(AddressError::InvalidFormat);
    };
    match value.as_bytes().first() {
        Some(b'8') if is_digits(rest, 11) => Ok((Scheme::Rpps, rest.to_owned())),
        Some(b'0') if is_digits(rest, 9) => Ok((Scheme::Adeli, rest.to_owned())),
        Some(p @ (b'1' | b'3' | b'4' | b'5' | b'6')) => {
            let (id, internal) = rest.split_once('/').ok_or(AddressError::InvalidFormat)?;
            let id_ok = match p {
                b'1' | b'4' => is_digits(id, 9),
                b'5' => is_digits(id, 14),
                b'6' => is_digits(id, 11),
                _ => id.len() == 9 && id.bytes().all(|b| b.is_ascii_alphanumeric()),
            };
            let internal_ok =
                !internal.is_empty() && internal.bytes().all(|b| b.is_ascii_graphic() && b != b'/');
            if id_ok && internal_ok {
                Ok((Scheme::IdnatPs, value.to_owned()))
            } else {
                Err(AddressError::InvalidFormat)
            }
        }
        _ => Err(AddressError::InvalidFormat),
    }
}

#[cfg(test)]
mod tests;
