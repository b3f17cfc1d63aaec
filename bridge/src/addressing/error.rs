//! The typed error of address translation: one variant per refusal of XB-ADDR v0 §5, each mapped by
//! [`AddressError::code`] to the exact reason string of the spec so callers (CLI `--json`, gRPC `ErrorInfo`,
//! the conformance runner) report the same machine-readable code.

use super::space::Space;

/// A translation refusal. Variants are grouped by the processing step of XB-ADDR v0 §5 that raises them;
/// several variants may share one spec code when the cause deserves a more specific type (e.g. the
/// different ways an e-mail address can be malformed all report `invalid_syntax`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// §5 step 1: the space name is not one of `canonical`, `mssante`, `kim`, `ehealthbox`, `peppol`, `ehdsi`.
    #[error("unsupported space")]
    UnsupportedSpace,
    /// §5 step 1 and §4 (`ehdsi` row): `ehdsi` is a target-only space.
    #[error("space {0} cannot be translated from")]
    UnsupportedDirection(Space),
    /// §5 step 2: the input does not follow the syntax of its form (hcid grammar §2, ehbox, peppol).
    #[error("invalid syntax: {0}")]
    InvalidSyntax(SyntaxErrorKind),
    /// §5 step 3: the address is well-formed but outside the space (e.g. a non-`mssante.fr` domain).
    #[error("address is not in space {0}")]
    NotInSpace(Space),
    /// §4 `kim` row, §5 step 3: a TI test-environment domain seen by a production bridge, or the reverse.
    #[error("address belongs to another TI environment")]
    WrongEnvironment,
    /// §4 gateway alias, §5 step 4: fewer than 3 labels, bad base32 or a non-canonical plain value.
    #[error("invalid gateway alias")]
    InvalidAlias,
    /// §4 `ehealthbox` row, §5 step 4: the eHealthBox quality does not go with the identifier type.
    #[error("eHealthBox quality does not match the identifier type")]
    QualityTypeMismatch,
    /// §5 step 4: an eHealthBox quality that XB-ADDR v0 does not map to a role or an organisation scheme.
    #[error("unsupported eHealthBox quality")]
    UnsupportedQuality,
    /// §1.5, §4, §5 steps 4 and 8: patients are representable but never relayed.
    #[error("patients are out of scope for relay")]
    PatientOutOfScope,
    /// §4 `peppol` row, §5 step 4: the ICD is not in the Peppol code list.
    #[error("unknown ISO 6523 ICD {0:04}")]
    UnknownIcd(u16),
    /// §3 last row, §5 step 4: the ICD has state `removed` in the Peppol code list.
    #[error("ISO 6523 ICD {0:04} is removed from the Peppol code list")]
    IcdRemoved(u16),
    /// §3, §5 step 5: no scheme of the registry has this token for this country.
    #[error("unknown scheme")]
    UnknownScheme,
    /// §3, §5 step 5: the value does not match the scheme's value rule.
    #[error("value does not match the scheme's format")]
    InvalidFormat,
    /// §3, §5 step 5: the value has the right shape but a wrong check digit or key.
    #[error("wrong check digit")]
    InvalidCheckDigit,
    /// §2 `role`, §5 step 5: the role is not one of the six roles of the grammar.
    #[error("unknown role")]
    UnknownRole,
    /// §2: a role is given on an organisation or patient scheme.
    #[error("role not applicable to this scheme")]
    RoleNotApplicable,
    /// §1.4, §5 step 6: a gateway alias names a participant of the alias's own space.
    #[error("gateway alias loops back into its own space")]
    AliasLoop,
    /// §5 step 7: a native e-mail address that the directory does not know.
    #[error("address not in directory")]
    NotInDirectory,
    /// §4, §5 step 8: the participant has no mailbox in the target space's directory.
    #[error("no mailbox in the target space")]
    NoMailboxInTargetSpace,
    /// §4, §5 step 8: several mailboxes for one participant; the caller must name the address.
    #[error("several mailboxes in the target space")]
    AmbiguousMailbox,
    /// §4 gateway alias, RFC 5321 §4.5.3.1.1: the alias local part would exceed 64 octets.
    #[error("gateway alias local part of {0} octets exceeds 64")]
    AliasTooLong(usize),
    /// §4 `ehealthbox` row: only Belgian participants have eHealthBoxes.
    #[error("foreign participant not addressable in the target space")]
    ForeignParticipantNotAddressable,
    /// §2, §4 `ehealthbox` row: eHealthBox person recipients need a quality, i.e. a role.
    #[error("a role is required in the target space")]
    RoleRequired,
    /// §4 `peppol` row: the scheme has no ISO 6523 ICD.
    #[error("scheme has no ISO 6523 ICD")]
    NoIcdForScheme,
    /// §4 `ehdsi` row: global (`INT`) identifiers have no NCP country.
    #[error("participant has no country")]
    NoCountry,
    /// The directory could not be read (storage fault). Not a spec code: it is the bridge's own fault.
    #[error("directory unavailable")]
    DirectoryUnavailable,
}

/// Why an input failed the syntax step (§5 step 2). All report the spec code `invalid_syntax`; the kind says
/// which rule was broken so that look-alike and injection attempts get a specific diagnosis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyntaxErrorKind {
    /// Empty input.
    Empty,
    /// Input longer than [`super::MAX_INPUT_LEN`] octets.
    TooLong,
    /// A control character (CR, LF, NUL, TAB, …) at this byte offset: header or protocol injection.
    ControlCharacter(usize),
    /// A non-ASCII character at this byte offset: addresses of v0 are ASCII, so Unicode look-alikes
    /// (Cyrillic `а`, fullwidth `＠`, …) are refused rather than folded.
    NonAscii(usize),
    /// Not of the form `hcid:cc:scheme:value[;role=r]`.
    Hcid,
    /// A malformed `%XX` escape in an hcid value.
    PercentEncoding,
    /// Not a bare RFC 5322 addr-spec (display names, quoted local parts, comments are refused).
    AddrSpec,
    /// The local part breaks the dot-atom rule (empty label, `..`, leading or trailing dot, special char).
    DotAtom,
    /// The local part exceeds 64 octets (RFC 5321 §4.5.3.1.1).
    LocalPartTooLong,
    /// The domain is not a valid host name.
    Domain,
    /// Not of the form `ehbox:QUALITY:TYPE[-SUBTYPE]:ID`.
    Ehbox,
    /// Not of the form `scheme::ICD:id` with a Peppol scheme token (≤ 25 chars) and a 4-digit ICD.
    Peppol,
}

impl std::fmt::Display for SyntaxErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Self::Empty => "empty input".to_owned(),
            Self::TooLong => "input too long".to_owned(),
            Self::ControlCharacter(at) => format!("control character at offset {at}"),
            Self::NonAscii(at) => format!("non-ASCII character at offset {at}"),
            Self::Hcid => "not an hcid".to_owned(),
            Self::PercentEncoding => "bad percent-encoding".to_owned(),
            Self::AddrSpec => "not a bare addr-spec".to_owned(),
            Self::DotAtom => "local part is not a dot-atom".to_owned(),
            Self::LocalPartTooLong => "local part longer than 64 octets".to_owned(),
            Self::Domain => "invalid domain".to_owned(),
            Self::Ehbox => "not an ehbox address".to_owned(),
            Self::Peppol => "not a peppol participant identifier".to_owned(),
        };
        f.write_str(&s)
    }
}

impl AddressError {
    /// The reason code of XB-ADDR v0 §5 (`invalid_syntax`, `alias_loop`, …), as printed by
    /// `address translate --json` and the conformance runner.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnsupportedSpace => "unsupported_space",
            Self::UnsupportedDirection(_) => "unsupported_direction",
            Self::InvalidSyntax(_) => "invalid_syntax",
            Self::NotInSpace(_) => "not_in_space",
            Self::WrongEnvironment => "wrong_environment",
            Self::InvalidAlias => "invalid_alias",
            Self::QualityTypeMismatch => "quality_type_mismatch",
            Self::UnsupportedQuality => "unsupported_quality",
            Self::PatientOutOfScope => "patient_out_of_scope",
            Self::UnknownIcd(_) => "unknown_icd",
            Self::IcdRemoved(_) => "icd_removed",
            Self::UnknownScheme => "unknown_scheme",
            Self::InvalidFormat => "invalid_format",
            Self::InvalidCheckDigit => "invalid_check_digit",
            Self::UnknownRole => "unknown_role",
            Self::RoleNotApplicable => "role_not_applicable",
            Self::AliasLoop => "alias_loop",
            Self::NotInDirectory => "not_in_directory",
            Self::NoMailboxInTargetSpace => "no_mailbox_in_target_space",
            Self::AmbiguousMailbox => "ambiguous_mailbox",
            Self::AliasTooLong(_) => "alias_too_long",
            Self::ForeignParticipantNotAddressable => "foreign_participant_not_addressable",
            Self::RoleRequired => "role_required",
            Self::NoIcdForScheme => "no_icd_for_scheme",
            Self::NoCountry => "no_country",
            Self::DirectoryUnavailable => "directory_unavailable",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_spec_codes() {
        // XB-ADDR v0 §5, every code once.
        let spec = [
            "unsupported_space",
            "unsupported_direction",
            "invalid_syntax",
            "not_in_space",
            "wrong_environment",
            "invalid_alias",
            "quality_type_mismatch",
            "unsupported_quality",
            "patient_out_of_scope",
            "unknown_icd",
            "icd_removed",
            "unknown_scheme",
            "invalid_format",
            "invalid_check_digit",
            "unknown_role",
            "role_not_applicable",
            "alias_loop",
            "not_in_directory",
            "no_mailbox_in_target_space",
            "ambiguous_mailbox",
            "alias_too_long",
            "foreign_participant_not_addressable",
            "role_required",
            "no_icd_for_scheme",
            "no_country",
        ];
        let errors = [
            AddressError::UnsupportedSpace,
            AddressError::UnsupportedDirection(Space::Ehdsi),
            AddressError::InvalidSyntax(SyntaxErrorKind::Empty),
            AddressError::NotInSpace(Space::Mssante),
            AddressError::WrongEnvironment,
            AddressError::InvalidAlias,
            AddressError::QualityTypeMismatch,
            AddressError::UnsupportedQuality,
            AddressError::PatientOutOfScope,
            AddressError::UnknownIcd(1),
            AddressError::IcdRemoved(9956),
            AddressError::UnknownScheme,
            AddressError::InvalidFormat,
            AddressError::InvalidCheckDigit,
            AddressError::UnknownRole,
            AddressError::RoleNotApplicable,
            AddressError::AliasLoop,
            AddressError::NotInDirectory,
            AddressError::NoMailboxInTargetSpace,
            AddressError::AmbiguousMailbox,
            AddressError::AliasTooLong(65),
            AddressError::ForeignParticipantNotAddressable,
            AddressError::RoleRequired,
            AddressError::NoIcdForScheme,
            AddressError::NoCountry,
        ];
        let codes: Vec<&str> = errors.iter().map(AddressError::code).collect();
        assert_eq!(codes, spec);
        assert_eq!(
            AddressError::DirectoryUnavailable.code(),
            "directory_unavailable"
        );
        assert_eq!(
            AddressError::AliasTooLong(70).to_string(),
            "gateway alias local part of 70 octets exceeds 64"
        );
    }
}
