//! Address spaces (XB-ADDR v0 §4) and participant roles (§2 `role`): the closed vocabularies that
//! translation requests name.

use super::error::AddressError;

/// An address space of XB-ADDR v0 §4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Space {
    /// `hcid:…` strings themselves.
    Canonical,
    /// France's MSSanté (`*.mssante.fr`).
    Mssante,
    /// Germany's KIM (`*.kim.telematik`).
    Kim,
    /// Belgium's eHealthBox (`ehbox:QUALITY:TYPE:ID`).
    Ehealthbox,
    /// Peppol participant identifiers (`iso6523-actorid-upis::ICD:id`).
    Peppol,
    /// MyHealth@EU NCP participant identifiers; a target only.
    Ehdsi,
}

impl Space {
    /// Every space, in the order of the spec's mapping table.
    pub const ALL: [Space; 6] = [
        Self::Canonical,
        Self::Mssante,
        Self::Kim,
        Self::Ehealthbox,
        Self::Peppol,
        Self::Ehdsi,
    ];

    /// The space's name as used on the wire and in the corpus.
    pub fn name(self) -> &'static str {
        match self {
            Self::Canonical => "canonical",
            Self::Mssante => "mssante",
            Self::Kim => "kim",
            Self::Ehealthbox => "ehealthbox",
            Self::Peppol => "peppol",
            Self::Ehdsi => "ehdsi",
        }
    }

    /// Parses a space name (exact, lower case).
    ///
    /// # Errors
    /// [`AddressError::UnsupportedSpace`] for any other name (§5 step 1).
    pub fn parse(name: &str) -> Result<Self, AddressError> {
        Self::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .ok_or(AddressError::UnsupportedSpace)
    }

    /// The country whose participants are native to this space (§4), if it is national.
    pub fn country(self) -> Option<&'static str> {
        match self {
            Self::Mssante => Some("FR"),
            Self::Kim => Some("DE"),
            Self::Ehealthbox => Some("BE"),
            _ => None,
        }
    }
}

impl std::fmt::Display for Space {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A professional role of §2 (`;role=`), carried to eHealthBox qualities and eHDSI ISCO-08 codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// `doctor`: eHealthBox `DOCTOR`, ISCO 221.
    Doctor,
    /// `nurse`: eHealthBox `NURSE`, ISCO 2221.
    Nurse,
    /// `pharmacist`: eHealthBox `PHARMACIST`, ISCO 2262.
    Pharmacist,
    /// `dentist`: eHealthBox `DENTIST`, ISCO 2261.
    Dentist,
    /// `midwife`: eHealthBox `MIDWIFE`, ISCO 2222.
    Midwife,
    /// `physiotherapist`: eHealthBox `PHYSIOTHERAPIST`, ISCO 2264.
    Physiotherapist,
}

impl Role {
    /// Every role of the grammar.
    pub const ALL: [Role; 6] = [
        Self::Doctor,
        Self::Nurse,
        Self::Pharmacist,
        Self::Dentist,
        Self::Midwife,
        Self::Physiotherapist,
    ];

    /// The grammar token (lower case).
    pub fn token(self) -> &'static str {
        match self {
            Self::Doctor => "doctor",
            Self::Nurse => "nurse",
            Self::Pharmacist => "pharmacist",
            Self::Dentist => "dentist",
            Self::Midwife => "midwife",
            Self::Physiotherapist => "physiotherapist",
        }
    }

    /// Parses a grammar token, case-insensitively.
    ///
    /// # Errors
    /// [`AddressError::UnknownRole`] for any other token (§5 step 5).
    pub fn parse(token: &str) -> Result<Self, AddressError> {
        Self::ALL
            .into_iter()
            .find(|r| r.token().eq_ignore_ascii_case(token))
            .ok_or(AddressError::UnknownRole)
    }

    /// The eHealthBox quality (§2: "maps to eHealthBox Quality (upper case)").
    pub fn ehbox_quality(self) -> &'static str {
        match self {
            Self::Doctor => "DOCTOR",
            Self::Nurse => "NURSE",
            Self::Pharmacist => "PHARMACIST",
            Self::Dentist => "DENTIST",
            Self::Midwife => "MIDWIFE",
            Self::Physiotherapist => "PHYSIOTHERAPIST",
        }
    }

    /// The ISCO-08 code used in eHDSI HCP assertions (§2; OpenNCP `XSPARole`).
    pub fn isco(self) -> &'static str {
        match self {
            Self::Doctor => "221",
            Self::Nurse => "2221",
            Self::Pharmacist => "2262",
            Self::Dentist => "2261",
            Self::Midwife => "2222",
            Self::Physiotherapist => "2264",
        }
    }

    /// The role of an Annuaire Santé profession code (§4 `mssante` row, TRE_G15; uncertain code list).
    pub fn from_mssante_profession(code: &str) -> Option<Self> {
        match code.trim() {
            "10" => Some(Self::Doctor),
            "21" => Some(Self::Pharmacist),
            "40" => Some(Self::Dentist),
            "50" => Some(Self::Midwife),
            "60" => Some(Self::Nurse),
            "70" => Some(Self::Physiotherapist),
            _ => None,
        }
    }

    /// The role of a VZD person `professionOID` (§4 `kim` row).
    pub fn from_profession_oid(oid: &str) -> Option<Self> {
        match oid.trim() {
            "1.2.276.0.76.4.30" => Some(Self::Doctor),
            "1.2.276.0.76.4.31" => Some(Self::Dentist),
            _ => None,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.token())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaces_round_trip_and_unknown_is_refused() {
        for s in Space::ALL {
            assert_eq!(Space::parse(s.name()), Ok(s));
        }
        assert_eq!(Space::parse("x400"), Err(AddressError::UnsupportedSpace));
        assert_eq!(Space::parse("KIM"), Err(AddressError::UnsupportedSpace));
    }

    #[test]
    fn roles_parse_and_map() {
        assert_eq!(Role::parse("Nurse"), Ok(Role::Nurse));
        assert_eq!(Role::parse("surgeon"), Err(AddressError::UnknownRole));
        assert_eq!(Role::Doctor.isco(), "221");
        assert_eq!(Role::from_mssante_profession("60"), Some(Role::Nurse));
        assert_eq!(Role::from_mssante_profession("99"), None);
        assert_eq!(
            Role::from_profession_oid("1.2.276.0.76.4.31"),
            Some(Role::Dentist)
        );
    }
}
