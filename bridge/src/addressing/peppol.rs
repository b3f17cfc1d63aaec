//! Peppol participant identifiers `iso6523-actorid-upis::<ICD>:<id>` (XB-ADDR v0 §4 `peppol` row; Peppol
//! Policy for use of identifiers 4.0) and eHDSI NCP participant identifiers (§4 `ehdsi` row, target only).

use super::error::{AddressError, SyntaxErrorKind};
use super::hcid::{check_ascii_line, Hcid, Participant};
use super::scheme::{Scheme, MAX_ICD_VALUE_LEN};
use super::space::Space;

/// The only participant identifier scheme of the Peppol network (§4).
pub const PEPPOL_SCHEME: &str = "iso6523-actorid-upis";
/// Longest identifier scheme token: Peppol Policy for use of identifiers 4.0.
pub const MAX_PEPPOL_SCHEME_LEN: usize = 25;

/// Identifies the participant of a Peppol identifier.
///
/// # Errors
/// `invalid_syntax`; `not_in_space` for another identifier scheme; `unknown_icd`, `icd_removed`; then the
/// scheme errors of §5 step 5.
pub fn identify_peppol(input: &str) -> Result<Participant, AddressError> {
    check_ascii_line(input)?;
    let syntax = || AddressError::InvalidSyntax(SyntaxErrorKind::Peppol);
    let (scheme, value) = input.split_once("::").ok_or_else(syntax)?;
    let scheme = scheme.to_ascii_lowercase();
    let parts: Vec<&str> = scheme.split('-').collect();
    let scheme_ok = scheme.len() <= MAX_PEPPOL_SCHEME_LEN
        && parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    let (icd, id) = value.split_once(':').ok_or_else(syntax)?;
    if !scheme_ok || icd.len() != 4 || !icd.bytes().all(|b| b.is_ascii_digit()) || id.is_empty() {
        return Err(syntax());
    }
    if id.len() > MAX_ICD_VALUE_LEN {
        return Err(syntax());
    }
    if scheme != PEPPOL_SCHEME {
        return Err(AddressError::NotInSpace(Space::Peppol));
    }
    let icd: u16 = icd.parse().map_err(|_| syntax())?;
    let scheme = Scheme::from_icd(icd, id)?;
    Ok(Participant::new(Hcid::from_scheme(scheme, id)?))
}

/// Renders a participant as a Peppol identifier (value lower-cased, §4).
///
/// # Errors
/// `patient_out_of_scope`, `no_icd_for_scheme`.
pub fn render_peppol(hcid: &Hcid) -> Result<String, AddressError> {
    if hcid.is_patient() {
        return Err(AddressError::PatientOutOfScope);
    }
    let icd = hcid.scheme().icd().ok_or(AddressError::NoIcdForScheme)?;
    Ok(format!(
        "{PEPPOL_SCHEME}::{icd:04}:{}",
        hcid.value().to_lowercase()
    ))
}

/// Renders the eHDSI NCP participant identifier of the participant's country (OpenNCP naming).
///
/// # Errors
/// `patient_out_of_scope`, `no_country` for `INT` identifiers.
pub fn render_ehdsi(hcid: &Hcid) -> Result<String, AddressError> {
    if hcid.is_patient() {
        return Err(AddressError::PatientOutOfScope);
    }
    if hcid.country() == "INT" {
        return Err(AddressError::NoCountry);
    }
    Ok(format!(
        "ehealth-participantid-qns::urn:ehealth:{}:ncp-idp",
        hcid.country().to_ascii_lowercase()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Result<String, &'static str> {
        identify_peppol(s)
            .map(|p| p.to_string())
            .map_err(|e| e.code())
    }

    #[test]
    fn identify() {
        assert_eq!(
            id("iso6523-actorid-upis::0208:0403170701"),
            Ok("hcid:BE:cbe:0403170701".into())
        );
        assert_eq!(
            id("ISO6523-ACTORID-UPIS::0088:5790000130122"),
            Ok("hcid:INT:gln:5790000130122".into())
        );
        assert_eq!(
            id("iso6523-actorid-upis::0009:78430177200025"),
            Ok("hcid:FR:siret:78430177200025".into())
        );
        assert_eq!(
            id("iso6523-actorid-upis::0002:784301772"),
            Ok("hcid:FR:siren:784301772".into())
        );
        assert_eq!(
            id("iso6523-actorid-upis::0007:2120000787"),
            Ok("hcid:SE:icd-0007:2120000787".into())
        );
        assert_eq!(
            id("iso6523-actorid-upis::0204:04011000-1234512345-06"),
            Ok("hcid:DE:leitweg-id:04011000-1234512345-06".into())
        );
    }

    #[test]
    fn identify_errors() {
        assert_eq!(id("0208:0403170701"), Err("invalid_syntax"));
        assert_eq!(
            id("iso6523-actorid-upis::208:0403170701"),
            Err("invalid_syntax")
        );
        assert_eq!(
            id("iso6523-actorid-upis-extra-long-token::0208:0403170701"),
            Err("invalid_syntax")
        );
        assert_eq!(
            id("busdox-actorid-upis::0208:0403170701"),
            Err("not_in_space")
        );
        assert_eq!(
            id("iso6523-actorid-upis::9956:0899965307"),
            Err("icd_removed")
        );
        assert_eq!(id("iso6523-actorid-upis::1234:1"), Err("unknown_icd"));
        assert_eq!(
            id("iso6523-actorid-upis::0088:5790000130123"),
            Err("invalid_check_digit")
        );
        assert_eq!(
            id("iso6523-actorid-upis::0002:7843017"),
            Err("invalid_format")
        );
        assert_eq!(
            id("iso6523-actorid-upis::0007:21200007"),
            Err("invalid_format")
        );
    }

    #[test]
    fn render() {
        let h = Hcid::parse("hcid:BE:cbe:0403170701").unwrap();
        assert_eq!(
            render_peppol(&h).unwrap(),
            "iso6523-actorid-upis::0208:0403170701"
        );
        assert_eq!(
            render_ehdsi(&h).unwrap(),
            "ehealth-participantid-qns::urn:ehealth:be:ncp-idp"
        );
        let h = Hcid::parse("hcid:FR:siren:784301772").unwrap();
        assert_eq!(
            render_peppol(&h).unwrap(),
            "iso6523-actorid-upis::0002:784301772"
        );
        let h = Hcid::parse("hcid:INT:gln:5790000130122").unwrap();
        assert_eq!(render_ehdsi(&h), Err(AddressError::NoCountry));
        let h = Hcid::parse("hcid:FR:rpps:10003456789").unwrap();
        assert_eq!(render_peppol(&h), Err(AddressError::NoIcdForScheme));
        let h = Hcid::parse("hcid:FR:ins-nir:279035121518989").unwrap();
        assert_eq!(render_peppol(&h), Err(AddressError::PatientOutOfScope));
        assert_eq!(render_ehdsi(&h), Err(AddressError::PatientOutOfScope));
    }
}
