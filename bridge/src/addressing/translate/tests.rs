//! Translation over a small in-memory directory: every error code of §5 and the mapping rows of §4.

use super::*;
use crate::addressing::directory::{BoxType, MemoryDirectory};
use crate::addressing::space::Role;

fn entry(space: Space, address: &str, hcid: &str, role: Option<Role>) -> Entry {
    Entry {
        space,
        address: address.to_owned(),
        hcid: Hcid::parse(hcid).unwrap(),
        role,
        box_type: (space == Space::Mssante).then_some(BoxType::Per),
        source: "test".to_owned(),
    }
}

fn translator(env: TiEnvironment) -> Translator<MemoryDirectory> {
    let mut dir = MemoryDirectory::new();
    for e in [
        entry(
            Space::Mssante,
            "jean-marie.dupont@infirmier.mssante.fr",
            "hcid:FR:rpps:10003456789",
            Some(Role::Nurse),
        ),
        entry(
            Space::Mssante,
            "cardiologie@chu-exemple.mssante.fr",
            "hcid:FR:finess:990000036",
            None,
        ),
        entry(
            Space::Mssante,
            "urgences@chu-exemple.mssante.fr",
            "hcid:FR:finess:990000036",
            None,
        ),
        entry(
            Space::Kim,
            "dr.mustermann@praxis-mustermann.kim.telematik",
            "hcid:DE:telematik-id:1-1.58.00000040",
            Some(Role::Doctor),
        ),
        entry(
            Space::Kim,
            "tk-dt03@akquinet.kim.telematik-test",
            "hcid:DE:telematik-id:8-01-0000000090",
            None,
        ),
    ] {
        dir.insert(e);
    }
    Translator::new(
        TranslatorConfig {
            ti_environment: env,
            ..TranslatorConfig::default()
        },
        dir,
    )
}

fn tr(input: &str, from: &str, to: &str) -> Result<String, &'static str> {
    translator(TiEnvironment::Production)
        .translate(input, from, to)
        .map_err(|e| e.code())
}

#[test]
fn mapping_rows() {
    assert_eq!(
        tr("hcid:FR:rpps:10003456789", "canonical", "mssante"),
        Ok("jean-marie.dupont@infirmier.mssante.fr".into())
    );
    assert_eq!(
        tr(
            "Jean-Marie.Dupont@infirmier.mssante.fr",
            "mssante",
            "canonical"
        ),
        Ok("hcid:FR:rpps:10003456789;role=nurse".into())
    );
    assert_eq!(
        tr("jean-marie.dupont@infirmier.mssante.fr", "mssante", "kim"),
        Ok("nurse.fr.rpps.10003456789@xb-gw.kim.telematik".into())
    );
    assert_eq!(
        tr(
            "nurse.fr.rpps.10003456789@xb-gw.kim.telematik",
            "kim",
            "mssante"
        ),
        Ok("jean-marie.dupont@infirmier.mssante.fr".into())
    );
    assert_eq!(
        tr(
            "dr.mustermann@praxis-mustermann.kim.telematik",
            "kim",
            "mssante"
        ),
        Ok("doctor.de.tid.1-1.58.00000040@xb-gw.mssante.fr".into())
    );
    assert_eq!(
        tr("ehbox:DOCTOR:NIHII:11478761004", "ehealthbox", "kim"),
        Ok("doctor.be.nihii.11478761004@xb-gw.kim.telematik".into())
    );
    assert_eq!(
        tr(
            "iso6523-actorid-upis::0208:0403170701",
            "peppol",
            "ehealthbox"
        ),
        Ok("ehbox:INSTITUTION:CBE:0403170701".into())
    );
    assert_eq!(
        tr("hcid:FR:rpps:10003456789", "canonical", "ehdsi"),
        Ok("ehealth-participantid-qns::urn:ehealth:fr:ncp-idp".into())
    );
    assert_eq!(
        tr("hcid:INT:gln:5790000130122", "canonical", "mssante"),
        Ok("int.gln.5790000130122@xb-gw.mssante.fr".into())
    );
    assert_eq!(
        tr("279035121518989@patient.mssante.fr", "mssante", "canonical"),
        Ok("hcid:FR:ins-nir:279035121518989".into())
    );
    assert_eq!(
        tr(
            "be.nihii-hospital.71000436@xb-gw.mssante.fr",
            "mssante",
            "ehealthbox"
        ),
        Ok("ehbox:HOSPITAL:NIHII-HOSPITAL:71000436".into())
    );
}

#[test]
fn step1_spaces() {
    assert_eq!(tr("x", "x400", "canonical"), Err("unsupported_space"));
    assert_eq!(
        tr("hcid:FR:rpps:10003456789", "canonical", "smtp"),
        Err("unsupported_space")
    );
    assert_eq!(
        tr(
            "ehealth-participantid-qns::urn:ehealth:fr:ncp-idp",
            "ehdsi",
            "canonical"
        ),
        Err("unsupported_direction")
    );
}

#[test]
fn step2_syntax() {
    assert_eq!(
        tr("jean..dupont@medecin.mssante.fr", "mssante", "canonical"),
        Err("invalid_syntax")
    );
    assert_eq!(
        tr("Dr X <x@medecin.mssante.fr>", "mssante", "canonical"),
        Err("invalid_syntax")
    );
    assert_eq!(
        tr(
            "Dr. M <dr.mustermann@praxis-mustermann.kim.telematik>",
            "kim",
            "canonical"
        ),
        Err("invalid_syntax")
    );
    assert_eq!(
        tr("ehbox:DOCTOR", "ehealthbox", "canonical"),
        Err("invalid_syntax")
    );
    assert_eq!(
        tr("0208:0403170701", "peppol", "canonical"),
        Err("invalid_syntax")
    );
    assert_eq!(
        tr("rpps:10003456789", "canonical", "canonical"),
        Err("invalid_syntax")
    );
}

#[test]
fn step3_membership() {
    assert_eq!(
        tr("jean.dupont@gmail.com", "mssante", "canonical"),
        Err("not_in_space")
    );
    assert_eq!(
        tr(
            "dr.mustermann@praxis-mustermann.kim.telematik.de",
            "kim",
            "canonical"
        ),
        Err("not_in_space")
    );
    assert_eq!(
        tr("x@fakemssante.fr", "mssante", "canonical"),
        Err("not_in_space")
    );
    assert_eq!(
        tr(
            "busdox-actorid-upis::0208:0403170701",
            "peppol",
            "canonical"
        ),
        Err("not_in_space")
    );
    assert_eq!(
        tr("tk-dt03@akquinet.kim.telematik-test", "kim", "canonical"),
        Err("wrong_environment")
    );
    let test_env = translator(TiEnvironment::Test);
    assert_eq!(
        test_env
            .translate("tk-dt03@akquinet.kim.telematik-test", "kim", "canonical")
            .map_err(|e| e.code()),
        Ok("hcid:DE:telematik-id:8-01-0000000090".into())
    );
    assert_eq!(
        test_env
            .translate(
                "dr.mustermann@praxis-mustermann.kim.telematik",
                "kim",
                "canonical"
            )
            .map_err(|e| e.code()),
        Err("wrong_environment")
    );
}

#[test]
fn step4_alias_ehbox_icd() {
    assert_eq!(
        tr("fr.rpps@xb-gw.kim.telematik", "kim", "canonical"),
        Err("invalid_alias")
    );
    assert_eq!(
        tr("fr.rpps.b32-1@xb-gw.kim.telematik", "kim", "canonical"),
        Err("invalid_alias")
    );
    assert_eq!(
        tr("ehbox:HOSPITAL:NIHII:71000436", "ehealthbox", "canonical"),
        Err("quality_type_mismatch")
    );
    assert_eq!(
        tr(
            "ehbox:PSYCHOLOGIST:SSIN:85073003328",
            "ehealthbox",
            "canonical"
        ),
        Err("unsupported_quality")
    );
    assert_eq!(
        tr("ehbox:CITIZEN:SSIN:85073003328", "ehealthbox", "canonical"),
        Err("patient_out_of_scope")
    );
    assert_eq!(
        tr(
            "iso6523-actorid-upis::9956:0899965307",
            "peppol",
            "canonical"
        ),
        Err("icd_removed")
    );
    assert_eq!(
        tr("iso6523-actorid-upis::4321:1", "peppol", "canonical"),
        Err("unknown_icd")
    );
}

#[test]
fn step5_scheme_value_role() {
    assert_eq!(
        tr("hcid:FR:nope:1", "canonical", "canonical"),
        Err("unknown_scheme")
    );
    assert_eq!(
        tr("hcid:DE:telematik-id:6-123456", "canonical", "canonical"),
        Err("invalid_format")
    );
    assert_eq!(
        tr("hcid:BE:nihii-hospital:71000437", "canonical", "canonical"),
        Err("invalid_check_digit")
    );
    assert_eq!(
        tr("288091234567823@patient.mssante.fr", "mssante", "canonical"),
        Err("invalid_check_digit")
    );
    assert_eq!(
        tr(
            "hcid:FR:rpps:10003456789;role=vet",
            "canonical",
            "canonical"
        ),
        Err("unknown_role")
    );
    assert_eq!(
        tr(
            "hcid:FR:finess:750712184;role=doctor",
            "canonical",
            "canonical"
        ),
        Err("role_not_applicable")
    );
    assert_eq!(
        tr(
            "doctor.be.cbe.0403170701@xb-gw.mssante.fr",
            "mssante",
            "canonical"
        ),
        Err("role_not_applicable")
    );
}

#[test]
fn step6_to_8() {
    assert_eq!(
        tr("fr.rpps.10003456789@xb-gw.mssante.fr", "mssante", "kim"),
        Err("alias_loop")
    );
    assert_eq!(
        tr(
            "de.tid.1-1.58.00000040@xb-gw.kim.telematik",
            "kim",
            "mssante"
        ),
        Err("alias_loop")
    );
    assert_eq!(
        tr("nobody@medecin.mssante.fr", "mssante", "canonical"),
        Err("not_in_directory")
    );
    assert_eq!(
        tr("279035121518989@patient.mssante.fr", "mssante", "kim"),
        Err("patient_out_of_scope")
    );
    assert_eq!(
        tr("hcid:FR:ins-nir:279035121518989", "canonical", "peppol"),
        Err("patient_out_of_scope")
    );
    assert_eq!(
        tr("hcid:FR:rpps:10101201234", "canonical", "mssante"),
        Err("no_mailbox_in_target_space")
    );
    assert_eq!(
        tr("hcid:FR:finess:990000036", "canonical", "mssante"),
        Err("ambiguous_mailbox")
    );
    let tid = format!("hcid:DE:telematik-id:1-{}", "A".repeat(40));
    assert_eq!(tr(&tid, "canonical", "mssante"), Err("alias_too_long"));
    assert_eq!(
        tr("hcid:FR:rpps:10003456789", "canonical", "ehealthbox"),
        Err("foreign_participant_not_addressable")
    );
    assert_eq!(
        tr("hcid:BE:nihii:11478761004", "canonical", "ehealthbox"),
        Err("role_required")
    );
    assert_eq!(
        tr("hcid:FR:rpps:10003456789", "canonical", "peppol"),
        Err("no_icd_for_scheme")
    );
    assert_eq!(
        tr("hcid:INT:gln:5790000130122", "canonical", "ehdsi"),
        Err("no_country")
    );
}

#[test]
fn gateway_domain_is_in_space_in_any_environment() {
    let t = translator(TiEnvironment::Test);
    assert_eq!(
        t.translate(
            "nurse.fr.rpps.10003456789@xb-gw.kim.telematik",
            "kim",
            "canonical"
        )
        .map_err(|e| e.code()),
        Ok("hcid:FR:rpps:10003456789;role=nurse".into())
    );
    // A foreign participant rendered then identified in the same space comes back unchanged.
    let p = Participant::parse("hcid:NL:agb:06020101;role=doctor").unwrap();
    let alias = t.render(&p, Space::Mssante).unwrap();
    assert_eq!(alias, "doctor.nl.agb.06020101@xb-gw.mssante.fr");
    assert_eq!(t.identify(Space::Mssante, &alias).unwrap(), p);
}

#[test]
fn directory_faults_are_reported() {
    struct Broken;
    impl Directory for Broken {
        fn lookup_address(
            &self,
            _: Space,
            _: &str,
        ) -> Result<Option<Entry>, crate::addressing::DirectoryUnavailable> {
            Err(crate::addressing::DirectoryUnavailable)
        }
        fn lookup_hcid(
            &self,
            _: Space,
            _: &Hcid,
        ) -> Result<Vec<Entry>, crate::addressing::DirectoryUnavailable> {
            Err(crate::addressing::DirectoryUnavailable)
        }
    }
    let t = Translator::new(TranslatorConfig::default(), Broken);
    assert_eq!(
        t.translate("a@medecin.mssante.fr", "mssante", "canonical"),
        Err(AddressError::DirectoryUnavailable)
    );
    assert_eq!(
        t.translate("hcid:FR:rpps:10003456789", "canonical", "mssante"),
        Err(AddressError::DirectoryUnavailable)
    );
}
