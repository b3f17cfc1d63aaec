//! The qualification decision (a subset of ETSI TS 119 615 as DSS implements it,
//! specs/trust-lists.md rows 19, 20 and 22): which service statuses and types anchor trust
//! for a usage, and whether a certificate is qualified, of which type, and on a QSCD, from its
//! QC statements (EN 319 412-5) overruled by the Sie qualifiers that select it (TS 119 612
//! clause 5.5.9.2).

use crate::der::{CertType, Extensions};
use crate::sie::CertificateFacts;
use crate::store::Usage;

/// `ServiceTypeIdentifier` of a CA issuing qualified certificates (TS 119 612 clause 5.5.1.1).
pub const SERVICE_TYPE_CA_QC: &str = "http://uri.etsi.org/TrstSvc/Svctype/CA/QC";
/// `ServiceTypeIdentifier` of a CA issuing non-qualified certificates.
pub const SERVICE_TYPE_CA_PKC: &str = "http://uri.etsi.org/TrstSvc/Svctype/CA/PKC";
/// Service types of PID providers for wallet issuers (ETSI TS 119 602 / the EUDI ARF).
pub const PID_SERVICE_TYPES: [&str; 2] = [
    "http://uri.etsi.org/19602/SvcType/PID/Issuance",
    "http://uri.etsi.org/Svc/Svctype/Provider/PID",
];

/// Statuses under which a service is a trust anchor (TS 119 612 clause 5.5.4; DSS
/// `TrustServiceStatus` "acceptable" set, pre-eIDAS statuses included).
pub(crate) const ACCEPTABLE_STATUSES: [&str; 5] = [
    "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/granted",
    "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/recognisedatnationallevel",
    "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/undersupervision",
    "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/supervisionincessation",
    "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/accredited",
];

/// Prefix of Sie qualifier and additional-information URIs (TS 119 612 clause 5.5.9).
pub(crate) const SVC_INFO_EXT: &str = "http://uri.etsi.org/TrstSvc/TrustedList/SvcInfoExt/";

pub(crate) fn type_fits(service_type: &str, usage: Usage) -> bool {
    match usage {
        Usage::Pid => PID_SERVICE_TYPES.contains(&service_type),
        Usage::QSeal | Usage::Qwac | Usage::ESig => service_type == SERVICE_TYPE_CA_QC,
        Usage::Any => {
            service_type == SERVICE_TYPE_CA_QC
                || service_type == SERVICE_TYPE_CA_PKC
                || PID_SERVICE_TYPES.contains(&service_type)
        }
    }
}

/// `AdditionalServiceInformation` saying the service issues certificates of this type.
pub(crate) fn additional_info_fits(period: &crate::tsl::StatusPeriod, want: CertType) -> bool {
    let suffix = match want {
        CertType::ESig => "ForeSignatures",
        CertType::ESeal => "ForeSeals",
        CertType::Wsa => "ForWebSiteAuthentication",
    };
    period
        .additional_info
        .iter()
        .any(|u| u.strip_prefix(SVC_INFO_EXT) == Some(suffix))
}

/// The outcome of the qualification decision for one certificate under one status period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Qualification {
    pub(crate) qualified: bool,
    pub(crate) cert_type: Option<CertType>,
    pub(crate) qscd: bool,
}

/// Qualified? type? QSCD? from the Sie qualifiers that select the certificate (they overrule)
/// and otherwise from its QC statements (EN 319 412-5: QcCompliance; no QcType means eSig;
/// QcSSCD). TS 119 612 clause 5.5.9.2.3 lists the qualifier URIs.
pub(crate) fn qualification(period: &crate::tsl::StatusPeriod, leaf: &Extensions) -> Qualification {
    let facts = CertificateFacts {
        key_usage: leaf.key_usage.clone(),
        policies: leaf.policies.clone(),
    };
    let qualifiers: Vec<&str> = period
        .qualifications
        .iter()
        .filter(|q| q.criteria.matches(&facts))
        .flat_map(|q| q.qualifiers.iter())
        .filter_map(|u| u.strip_prefix(SVC_INFO_EXT))
        .collect();
    let qualified = if qualifiers.contains(&"NotQualified") {
        false
    } else {
        qualifiers.contains(&"QCStatement") || leaf.qc_compliance
    };
    let overrule = if qualifiers.contains(&"QCForESeal") {
        Some(CertType::ESeal)
    } else if qualifiers.contains(&"QCForWSA") {
        Some(CertType::Wsa)
    } else if qualifiers.contains(&"QCForESig") {
        Some(CertType::ESig)
    } else {
        None
    };
    let from_cert = match leaf.qc_types.as_slice() {
        [] if qualified => Some(CertType::ESig),
        [one] => Some(*one),
        _ => None,
    };
    let cert_type = overrule.or(from_cert);
    let has = |q: &str| qualifiers.contains(&q);
    let qscd = if has("QCNoQSCD") || has("QCNoSSCD") {
        false
    } else if has("QCWithQSCD") || has("QCWithSSCD") || has("QCQSCDManagedOnBehalf") {
        true
    } else {
        leaf.qc_sscd
    };
    Qualification {
        qualified,
        cert_type,
        qscd,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sie::{CriteriaList, Criterion, Qualification as SieQualification};
    use time::OffsetDateTime;

    fn period(qualifiers: &[&str], policy: &str) -> crate::tsl::StatusPeriod {
        crate::tsl::StatusPeriod {
            service_type: SERVICE_TYPE_CA_QC.into(),
            status: ACCEPTABLE_STATUSES[0].into(),
            start: OffsetDateTime::UNIX_EPOCH,
            additional_info: vec![],
            qualifications: vec![SieQualification {
                qualifiers: qualifiers
                    .iter()
                    .map(|q| format!("{SVC_INFO_EXT}{q}"))
                    .collect(),
                criteria: CriteriaList {
                    assert: "atLeastOne".into(),
                    criteria: vec![Criterion::PolicySet(vec![policy.into()])],
                },
            }],
        }
    }

    fn leaf(qc: bool, types: &[CertType], policy: &str) -> Extensions {
        Extensions {
            qc_compliance: qc,
            qc_types: types.to_vec(),
            policies: vec![policy.into()],
            ..Extensions::default()
        }
    }

    #[test]
    fn qualifiers_overrule_certificate_content() {
        // NotQualified wins over QcCompliance.
        let q = qualification(
            &period(&["NotQualified"], "1.2.3"),
            &leaf(true, &[CertType::ESig], "1.2.3"),
        );
        assert!(!q.qualified);
        // QCStatement + QCForESeal make a certificate without statements a qualified seal on a QSCD.
        let q = qualification(
            &period(&["QCStatement", "QCForESeal", "QCWithQSCD"], "1.2.3"),
            &leaf(false, &[], "1.2.3"),
        );
        assert_eq!(
            (q.qualified, q.cert_type, q.qscd),
            (true, Some(CertType::ESeal), true)
        );
        // Criteria that do not select the certificate leave its content in charge.
        let q = qualification(
            &period(&["NotQualified"], "9.9.9"),
            &leaf(true, &[], "1.2.3"),
        );
        assert_eq!(
            (q.qualified, q.cert_type, q.qscd),
            (true, Some(CertType::ESig), false)
        );
    }
}
