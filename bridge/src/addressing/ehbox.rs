//! Belgium's eHealthBox recipients in the bridge's textual form `ehbox:<QUALITY>:<TYPE>[-<SUBTYPE>]:<ID>`
//! (XB-ADDR v0 §4 `ehealthbox` row; ehBox v3 `EhboxIdentifierType` = identifier type + quality).

use super::error::{AddressError, SyntaxErrorKind};
use super::hcid::{check_ascii_line, Hcid, Participant};
use super::scheme::{Scheme, NIHII_SUBTYPES};
use super::space::Role;

/// Identifies the participant behind an eHealthBox recipient.
///
/// # Errors
/// `invalid_syntax`; `patient_out_of_scope` for `CITIZEN`; `unsupported_quality` for a quality v0 does not
/// map; `quality_type_mismatch` when the type does not go with the quality (§5 step 4); then the scheme
/// errors of step 5 for the identifier.
pub fn identify_ehbox(input: &str) -> Result<Participant, AddressError> {
    check_ascii_line(input)?;
    let syntax = || AddressError::InvalidSyntax(SyntaxErrorKind::Ehbox);
    let parts: Vec<&str> = input.split(':').collect();
    let [prefix, quality, ty, id] = parts[..] else {
        return Err(syntax());
    };
    let token_ok = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    if !prefix.eq_ignore_ascii_case("ehbox") || !token_ok(quality) || !token_ok(ty) || id.is_empty()
    {
        return Err(syntax());
    }
    let quality = quality.to_ascii_uppercase();
    let ty = ty.to_ascii_uppercase();
    if quality == "CITIZEN" {
        return Err(AddressError::PatientOutOfScope);
    }
    let person_type = matches!(ty.as_str(), "NIHII" | "NIHII11" | "SSIN" | "INSS");
    if let Ok(role) = Role::parse(&quality) {
        if !person_type {
            return Err(AddressError::QualityTypeMismatch);
        }
        let scheme = if ty.starts_with("NIHII") {
            Scheme::Nihii
        } else {
            Scheme::Ssin
        };
        return Participant::with_role(Hcid::from_scheme(scheme, id)?, Some(role));
    }
    let scheme = match quality.as_str() {
        "INSTITUTION" => expect_type(&ty, "CBE", Scheme::Cbe)?,
        "INSTITUTION_EHP" => expect_type(&ty, "EHP", Scheme::Ehp)?,
        q => {
            let sub = q.to_ascii_lowercase().replace('_', "-");
            let Some(sub) = NIHII_SUBTYPES.iter().find(|s| **s == sub) else {
                return Err(AddressError::UnsupportedQuality);
            };
            expect_type(&ty, &format!("NIHII-{q}"), Scheme::NihiiOrg(sub))?
        }
    };
    Ok(Participant::new(Hcid::from_scheme(scheme, id)?))
}

/// `scheme` when the ehBox type is `want`, else `quality_type_mismatch`.
fn expect_type(ty: &str, want: &str, scheme: Scheme) -> Result<Scheme, AddressError> {
    if ty == want {
        Ok(scheme)
    } else {
        Err(AddressError::QualityTypeMismatch)
    }
}

/// Renders a Belgian participant as an eHealthBox recipient.
///
/// # Errors
/// `foreign_participant_not_addressable` outside BE, `role_required` for persons without a role,
/// `no_mailbox_in_target_space` for Belgian schemes eHealthBox has no type for.
pub fn render_ehbox(p: &Participant) -> Result<String, AddressError> {
    let hcid = &p.hcid;
    if hcid.country() != "BE" {
        return Err(AddressError::ForeignParticipantNotAddressable);
    }
    let id = hcid.value();
    match hcid.scheme() {
        Scheme::Nihii | Scheme::Ssin => {
            let role = p.role.ok_or(AddressError::RoleRequired)?;
            let ty = if hcid.scheme() == Scheme::Nihii {
                "NIHII"
            } else {
                "SSIN"
            };
            Ok(format!("ehbox:{}:{ty}:{id}", role.ehbox_quality()))
        }
        Scheme::NihiiOrg(sub) => {
            let q = sub.to_ascii_uppercase().replace('-', "_");
            Ok(format!("ehbox:{q}:NIHII-{q}:{id}"))
        }
        Scheme::Cbe => Ok(format!("ehbox:INSTITUTION:CBE:{id}")),
        Scheme::Ehp => Ok(format!("ehbox:INSTITUTION_EHP:EHP:{id}")),
        _ => Err(AddressError::NoMailboxInTargetSpace),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Result<String, &'static str> {
        identify_ehbox(s)
            .map(|p| p.to_string())
            .map_err(|e| e.code())
    }

    #[test]
    fn identify() {
        assert_eq!(
            id("ehbox:HOSPITAL:NIHII-HOSPITAL:71000436"),
            Ok("hcid:BE:nihii-hospital:71000436".into())
        );
        assert_eq!(
            id("ehbox:DOCTOR:NIHII:11478761004"),
            Ok("hcid:BE:nihii:11478761004;role=doctor".into())
        );
        assert_eq!(
            id("ehbox:NURSE:SSIN:85073003328"),
            Ok("hcid:BE:ssin:85073003328;role=nurse".into())
        );
        assert_eq!(
            id("ehbox:INSTITUTION:CBE:0403170701"),
            Ok("hcid:BE:cbe:0403170701".into())
        );
        assert_eq!(
            id("ehbox:MEDICAL_HOUSE:NIHII-MEDICAL_HOUSE:71000436"),
            Ok("hcid:BE:nihii-medical-house:71000436".into())
        );
    }

    #[test]
    fn identify_errors() {
        assert_eq!(
            id("ehbox:HOSPITAL:NIHII:71000436"),
            Err("quality_type_mismatch")
        );
        assert_eq!(
            id("ehbox:DOCTOR:CBE:0403170701"),
            Err("quality_type_mismatch")
        );
        assert_eq!(
            id("ehbox:INSTITUTION:EHP:0403170701"),
            Err("quality_type_mismatch")
        );
        assert_eq!(id("ehbox:DOCTOR:NIHII:71000436"), Err("invalid_format"));
        assert_eq!(
            id("ehbox:CITIZEN:SSIN:85073003328"),
            Err("patient_out_of_scope")
        );
        assert_eq!(
            id("ehbox:PSYCHOLOGIST:SSIN:85073003328"),
            Err("unsupported_quality")
        );
        assert_eq!(id("ehbox:DOCTOR:NIHII"), Err("invalid_syntax"));
        assert_eq!(
            id("mailbox:DOCTOR:NIHII:11478761004"),
            Err("invalid_syntax")
        );
        assert_eq!(
            id("ehbox:DOCTOR:NIHII:11478762004"),
            Err("invalid_check_digit")
        );
    }

    #[test]
    fn render() {
        let p = Participant::parse("hcid:BE:nihii-medical-house:71000436").unwrap();
        assert_eq!(
            render_ehbox(&p).unwrap(),
            "ehbox:MEDICAL_HOUSE:NIHII-MEDICAL_HOUSE:71000436"
        );
        let p = Participant::parse("hcid:BE:nihii:11478761004").unwrap();
        assert_eq!(render_ehbox(&p), Err(AddressError::RoleRequired));
        let p = Participant::parse("hcid:FR:rpps:10003456789;role=doctor").unwrap();
        assert_eq!(
            render_ehbox(&p),
            Err(AddressError::ForeignParticipantNotAddressable)
        );
        let p = Participant::parse("hcid:BE:ehp:1234567890").unwrap();
        assert_eq!(
            render_ehbox(&p).unwrap(),
            "ehbox:INSTITUTION_EHP:EHP:1234567890"
        );
    }
}
