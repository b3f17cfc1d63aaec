//! Writers for the generated TS 119 612 v6 lists, in exclusive canonical form (see `xades`).

use base64::Engine;

use crate::certs::Party;
use crate::xades::esc;

/// TS 119 612 namespace.
const TSL: &str = "http://uri.etsi.org/02231/v2#";
/// Namespace of `MimeType` (TS 119 612 annex C, additional types).
const ADDITIONAL_TYPES: &str = "http://uri.etsi.org/02231/v2/additionaltypes#";
/// `TSLType` of the EU LOTL.
pub const TYPE_LOTL: &str = "http://uri.etsi.org/TrstSvc/TrustedList/TSLType/EUlistofthelists";
/// `TSLType` of an EU member state list.
pub const TYPE_TL: &str = "http://uri.etsi.org/TrstSvc/TrustedList/TSLType/EUgeneric";
/// Status granted.
pub const GRANTED: &str = "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/granted";
/// Status withdrawn.
pub const WITHDRAWN: &str = "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/withdrawn";

/// Scheme information of a list to write.
#[derive(Debug, Clone)]
pub struct Scheme<'a> {
    /// Root `Id`.
    pub id: &'a str,
    /// `TSLType`.
    pub tsl_type: &'a str,
    /// `TSLSequenceNumber`.
    pub sequence: u64,
    /// `SchemeOperatorName`.
    pub operator: &'a str,
    /// `SchemeTerritory`.
    pub territory: &'a str,
    /// `ListIssueDateTime`.
    pub issued: &'a str,
    /// `NextUpdate/dateTime`.
    pub next_update: &'a str,
    /// `SchemeInformationURI`s.
    pub info_uris: Vec<String>,
}

/// A pointer to write.
#[derive(Debug, Clone)]
pub struct Pointer<'a> {
    /// `TSLLocation`.
    pub location: String,
    /// Pointed territory.
    pub territory: &'a str,
    /// Pointed `TSLType`.
    pub tsl_type: &'a str,
    /// Announced signer certificates.
    pub signers: Vec<&'a Party>,
}

/// One status period of a service to write (newest first: the first is the current one).
#[derive(Debug, Clone)]
pub struct Period<'a> {
    /// `ServiceStatus`.
    pub status: &'a str,
    /// `StatusStartingTime`.
    pub start: &'a str,
}

/// A service to write.
#[derive(Debug, Clone)]
pub struct Service<'a> {
    /// `ServiceTypeIdentifier`.
    pub service_type: &'a str,
    /// `ServiceName`.
    pub name: &'a str,
    /// `ServiceDigitalIdentity` certificate.
    pub identity: &'a Party,
    /// Status history, current first.
    pub periods: Vec<Period<'a>>,
    /// `AdditionalServiceInformation` URIs of the current period.
    pub additional: Vec<&'a str>,
}

/// A TSP to write.
#[derive(Debug, Clone)]
pub struct Tsp<'a> {
    /// `TSPName`.
    pub name: &'a str,
    /// Services.
    pub services: Vec<Service<'a>>,
}

fn name(lang_name: &str) -> String {
    format!("<Name xml:lang=\"en\">{}</Name>", esc(lang_name))
}

fn cert_b64(p: &Party) -> String {
    base64::engine::general_purpose::STANDARD.encode(p.der())
}

/// Writes an unsigned list in canonical form.
pub fn write(scheme: &Scheme<'_>, pointers: &[Pointer<'_>], tsps: &[Tsp<'_>]) -> String {
    let mut x = format!(
        "<TrustServiceStatusList xmlns=\"{TSL}\" Id=\"{}\" TSLTag=\"http://uri.etsi.org/19612/TSLTag\"><SchemeInformation><TSLVersionIdentifier>6</TSLVersionIdentifier><TSLSequenceNumber>{}</TSLSequenceNumber><TSLType>{}</TSLType><SchemeOperatorName>{}</SchemeOperatorName>",
        scheme.id, scheme.sequence, scheme.tsl_type, name(scheme.operator)
    );
    if !scheme.info_uris.is_empty() {
        x.push_str("<SchemeInformationURI>");
        for u in &scheme.info_uris {
            x.push_str(&format!("<URI xml:lang=\"en\">{}</URI>", esc(u)));
        }
        x.push_str("</SchemeInformationURI>");
    }
    x.push_str(&format!(
        "<SchemeTerritory>{}</SchemeTerritory>",
        scheme.territory
    ));
    if !pointers.is_empty() {
        x.push_str("<PointersToOtherTSL>");
        for p in pointers {
            x.push_str("<OtherTSLPointer><ServiceDigitalIdentities>");
            for s in &p.signers {
                x.push_str(&format!(
                    "<ServiceDigitalIdentity><DigitalId><X509Certificate>{}</X509Certificate></DigitalId></ServiceDigitalIdentity>",
                    cert_b64(s)
                ));
            }
            x.push_str(&format!(
                "</ServiceDigitalIdentities><TSLLocation>{}</TSLLocation><AdditionalInformation><OtherInformation><TSLType>{}</TSLType></OtherInformation><OtherInformation><SchemeTerritory>{}</SchemeTerritory></OtherInformation><OtherInformation><MimeType xmlns=\"{ADDITIONAL_TYPES}\">application/vnd.etsi.tsl+xml</MimeType></OtherInformation></AdditionalInformation></OtherTSLPointer>",
                esc(&p.location), p.tsl_type, p.territory
            ));
        }
        x.push_str("</PointersToOtherTSL>");
    }
    x.push_str(&format!(
        "<ListIssueDateTime>{}</ListIssueDateTime><NextUpdate><dateTime>{}</dateTime></NextUpdate></SchemeInformation>",
        scheme.issued, scheme.next_update
    ));
    if !tsps.is_empty() {
        x.push_str("<TrustServiceProviderList>");
        for t in tsps {
            x.push_str(&format!(
                "<TrustServiceProvider><TSPInformation><TSPName>{}</TSPName></TSPInformation><TSPServices>",
                name(t.name)
            ));
            for s in &t.services {
                x.push_str("<TSPService>");
                for (i, p) in s.periods.iter().enumerate() {
                    let (open, close) = if i == 0 {
                        ("<ServiceInformation>", "</ServiceInformation>")
                    } else {
                        ("<ServiceHistoryInstance>", "</ServiceHistoryInstance>")
                    };
                    if i == 1 {
                        x.push_str("<ServiceHistory>");
                    }
                    x.push_str(open);
                    x.push_str(&format!(
                        "<ServiceTypeIdentifier>{}</ServiceTypeIdentifier><ServiceName>{}</ServiceName><ServiceDigitalIdentity><DigitalId><X509Certificate>{}</X509Certificate></DigitalId></ServiceDigitalIdentity><ServiceStatus>{}</ServiceStatus><StatusStartingTime>{}</StatusStartingTime>",
                        s.service_type, name(s.name), cert_b64(s.identity), p.status, p.start
                    ));
                    if i == 0 && !s.additional.is_empty() {
                        x.push_str("<ServiceInformationExtensions>");
                        for a in &s.additional {
                            x.push_str(&format!(
                                "<Extension Critical=\"false\"><AdditionalServiceInformation><URI xml:lang=\"en\">{a}</URI></AdditionalServiceInformation></Extension>"
                            ));
                        }
                        x.push_str("</ServiceInformationExtensions>");
                    }
                    x.push_str(close);
                }
                if s.periods.len() > 1 {
                    x.push_str("</ServiceHistory>");
                }
                x.push_str("</TSPService>");
            }
            x.push_str("</TSPServices></TrustServiceProvider>");
        }
        x.push_str("</TrustServiceProviderList>");
    }
    x.push_str("</TrustServiceStatusList>");
    x
}
