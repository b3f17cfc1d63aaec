//! The ETSI TS 119 612 model (versions 5 and 6, LOTL and national lists) and its parser.
//!
//! The parser reads the same `roxmltree` tree that [`crate::xmldsig`] verified, so what is
//! used is exactly what was signed. Clause numbers refer to TS 119 612 v2.4.1.

use base64::Engine;
use roxmltree::Node;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::ParseErrorKind;
use crate::sie::{parse_qualifications, Qualification};

/// Root namespace of TS 119 612 lists (clause 5, XSD `ts_119612v*_xsd`).
pub const TSL_NS: &str = "http://uri.etsi.org/02231/v2#";

/// `TSLType` of the EU list of the lists (clause 5.3.3 and annex D).
pub const TSL_TYPE_EU_LOTL: &str =
    "http://uri.etsi.org/TrstSvc/TrustedList/TSLType/EUlistofthelists";

/// `TSLVersionIdentifier` values accepted: 5 (TS 119 612 v2.1/2.2), 6 (v2.3+), and 4 (the DE
/// 2015 list of the corpus, TS 102 231 v3 era, still signed the same way).
pub const ACCEPTED_TSL_VERSIONS: [u32; 3] = [4, 5, 6];

/// Most `OtherTSLPointer`s read from one list: the LOTL has about 45 (EU/EEA members plus the
/// LOTL itself and mirrors); 512 bounds it well above that.
pub const MAX_POINTERS: usize = 512;

/// Most services read from one list: FR 174, the largest, has about 400; 20 000 bounds work.
pub const MAX_SERVICES: usize = 20_000;

/// A parsed trusted list or list of the lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrustedList {
    /// `TSLVersionIdentifier` (clause 5.3.1).
    pub version: u32,
    /// `TSLSequenceNumber` (clause 5.3.2).
    pub sequence: u64,
    /// `TSLType` URI (clause 5.3.3).
    pub tsl_type: String,
    /// `SchemeOperatorName`, English form when present (clause 5.3.4).
    pub operator_name: String,
    /// `SchemeInformationURI`s (clause 5.3.7); on the LOTL these include the pivots.
    pub scheme_information_uris: Vec<String>,
    /// `SchemeTerritory` (clause 5.3.10), e.g. `EU`, `FR`, `EL`.
    pub territory: String,
    /// `ListIssueDateTime` (clause 5.3.14).
    pub issue_date: OffsetDateTime,
    /// `NextUpdate/dateTime` (clause 5.3.15); absent on a closed list.
    pub next_update: Option<OffsetDateTime>,
    /// `DistributionPoints` (clause 5.3.16).
    pub distribution_points: Vec<String>,
    /// `PointersToOtherTSL` (clause 5.3.13).
    pub pointers: Vec<OtherTslPointer>,
    /// `TrustServiceProviderList` (clause 5.3.18 / 5.4).
    pub providers: Vec<TrustServiceProvider>,
}

impl TrustedList {
    /// Whether this is the EU list of the lists (or one of its pivots).
    pub fn is_lotl(&self) -> bool {
        self.tsl_type == TSL_TYPE_EU_LOTL
    }

    /// Whether `at` is before `NextUpdate` (clause 5.3.15); a list without it is closed.
    pub fn is_fresh_at(&self, at: OffsetDateTime) -> bool {
        self.next_update.is_some_and(|n| at < n)
    }

    /// The certificates this list announces as signers of the lists of `territory`
    /// (`EU` gives the LOTL signers); undecodable ones are skipped.
    pub fn announced_signers(&self, territory: &str) -> Vec<openssl::x509::X509> {
        self.pointers_for(territory)
            .flat_map(|p| p.certificates.iter())
            .filter_map(|d| openssl::x509::X509::from_der(d).ok())
            .collect()
    }

    /// The pointers announcing lists of `territory` (for the EU territory: the LOTL's own
    /// pointers, whose certificates sign the LOTL and its successors).
    pub fn pointers_for<'a>(
        &'a self,
        territory: &'a str,
    ) -> impl Iterator<Item = &'a OtherTslPointer> + 'a {
        self.pointers
            .iter()
            .filter(move |p| p.territory.as_deref() == Some(territory))
    }
}

/// An `OtherTSLPointer` (clause 5.3.13): where another list lives and who signs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OtherTslPointer {
    /// `TSLLocation`.
    pub location: String,
    /// `SchemeTerritory` of the pointed list.
    pub territory: Option<String>,
    /// `TSLType` of the pointed list.
    pub tsl_type: Option<String>,
    /// `MimeType` (`application/vnd.etsi.tsl+xml` or `application/pdf`).
    pub mime_type: Option<String>,
    /// DER certificates of `ServiceDigitalIdentities`: the announced signers.
    pub certificates: Vec<Vec<u8>>,
}

/// A trust service provider (clause 5.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrustServiceProvider {
    /// `TSPName`, English form when present.
    pub name: String,
    /// `TSPTradeName`s.
    pub trade_names: Vec<String>,
    /// `TSPServices`.
    pub services: Vec<TrustService>,
}

/// A trust service (clause 5.5) with its status history (clause 5.6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrustService {
    /// `ServiceTypeIdentifier` of the current information (clause 5.5.1).
    pub service_type: String,
    /// `ServiceName`, English form when present (clause 5.5.2).
    pub name: String,
    /// DER certificates of `ServiceDigitalIdentity` (clause 5.5.3), over current and history.
    pub certificates: Vec<Vec<u8>>,
    /// Status periods, newest first: the current status then each `ServiceHistoryInstance`.
    pub history: Vec<StatusPeriod>,
}

impl TrustService {
    /// The status period in force at `at` (the newest period started at or before `at`).
    pub fn status_at(&self, at: OffsetDateTime) -> Option<&StatusPeriod> {
        self.history
            .iter()
            .filter(|p| p.start <= at)
            .max_by_key(|p| p.start)
    }
}

/// One period of a service's status history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusPeriod {
    /// `ServiceTypeIdentifier` during the period.
    pub service_type: String,
    /// `ServiceStatus` URI (clause 5.5.4).
    pub status: String,
    /// `StatusStartingTime` (clause 5.5.5).
    pub start: OffsetDateTime,
    /// `AdditionalServiceInformation/URI`s (clause 5.5.9.4), e.g. `ForeSeals`, `ForWebSiteAuthentication`.
    pub additional_info: Vec<String>,
    /// `Sie:Qualifications` extension entries (clause 5.5.9.2).
    pub qualifications: Vec<Qualification>,
}

/// Parses a list from its verified root element.
pub(crate) fn parse_root(root: Node<'_, '_>) -> Result<TrustedList, ParseErrorKind> {
    if !root.has_tag_name((TSL_NS, "TrustServiceStatusList")) {
        return Err(ParseErrorKind::WrongRoot);
    }
    let si = req(root, "SchemeInformation")?;
    let version: u32 = parse_num(req(si, "TSLVersionIdentifier")?, "TSLVersionIdentifier")?;
    if !ACCEPTED_TSL_VERSIONS.contains(&version) {
        return Err(ParseErrorKind::UnsupportedVersion { version });
    }
    let sequence = parse_num(req(si, "TSLSequenceNumber")?, "TSLSequenceNumber")?;
    let tsl_type = text(req(si, "TSLType")?);
    let operator_name = names(req(si, "SchemeOperatorName")?);
    let scheme_information_uris = opt(si, "SchemeInformationURI")
        .map(uris)
        .unwrap_or_default();
    let territory = text(req(si, "SchemeTerritory")?);
    let issue_date = date(req(si, "ListIssueDateTime")?, "ListIssueDateTime")?;
    let next_update = match opt(req(si, "NextUpdate")?, "dateTime") {
        Some(n) => Some(date(n, "NextUpdate")?),
        None => None,
    };
    let distribution_points = opt(si, "DistributionPoints").map(uris).unwrap_or_default();

    let mut pointers = Vec::new();
    if let Some(pts) = opt(si, "PointersToOtherTSL") {
        for p in elems(pts, "OtherTSLPointer") {
            if pointers.len() >= MAX_POINTERS {
                return Err(ParseErrorKind::TooMany {
                    what: "pointers",
                    limit: MAX_POINTERS,
                });
            }
            pointers.push(parse_pointer(p)?);
        }
    }

    let mut providers = Vec::new();
    let mut count = 0usize;
    if let Some(list) = opt(root, "TrustServiceProviderList") {
        for tsp in elems(list, "TrustServiceProvider") {
            let info = req(tsp, "TSPInformation")?;
            let mut services = Vec::new();
            for svc in opt(tsp, "TSPServices")
                .into_iter()
                .flat_map(|s| elems(s, "TSPService"))
            {
                count += 1;
                if count > MAX_SERVICES {
                    return Err(ParseErrorKind::TooMany {
                        what: "services",
                        limit: MAX_SERVICES,
                    });
                }
                services.push(parse_service(svc)?);
            }
            providers.push(TrustServiceProvider {
                name: names(req(info, "TSPName")?),
                trade_names: opt(info, "TSPTradeName")
                    .into_iter()
                    .flat_map(|n| elems(n, "Name"))
                    .map(text)
                    .collect(),
                services,
            });
        }
    }
    Ok(TrustedList {
        version,
        sequence,
        tsl_type,
        operator_name,
        scheme_information_uris,
        territory,
        issue_date,
        next_update,
        distribution_points,
        pointers,
        providers,
    })
}

fn parse_pointer(p: Node<'_, '_>) -> Result<OtherTslPointer, ParseErrorKind> {
    let mut ptr = OtherTslPointer {
        location: text(req(p, "TSLLocation")?),
        territory: None,
        tsl_type: None,
        mime_type: None,
        certificates: Vec::new(),
    };
    if let Some(sdis) = opt(p, "ServiceDigitalIdentities") {
        for sdi in elems(sdis, "ServiceDigitalIdentity") {
            ptr.certificates.extend(identity_certs(sdi)?);
        }
    }
    for oi in p
        .descendants()
        .filter(|n| n.tag_name().name() == "OtherInformation")
    {
        for c in oi.children().filter(|c| c.is_element()) {
            match c.tag_name().name() {
                "SchemeTerritory" => ptr.territory = Some(text(c)),
                "TSLType" => ptr.tsl_type = Some(text(c)),
                "MimeType" => ptr.mime_type = Some(text(c)),
                _ => {}
            }
        }
    }
    Ok(ptr)
}

fn parse_service(svc: Node<'_, '_>) -> Result<TrustService, ParseErrorKind> {
    let info = req(svc, "ServiceInformation")?;
    let mut certificates = Vec::new();
    let mut history = vec![parse_period(info, &mut certificates)?];
    if let Some(h) = opt(svc, "ServiceHistory") {
        for inst in elems(h, "ServiceHistoryInstance") {
            history.push(parse_period(inst, &mut certificates)?);
        }
    }
    history.sort_by_key(|p| std::cmp::Reverse(p.start));
    Ok(TrustService {
        service_type: text(req(info, "ServiceTypeIdentifier")?),
        name: names(req(info, "ServiceName")?),
        certificates,
        history,
    })
}

/// Reads one `ServiceInformation` or `ServiceHistoryInstance`.
fn parse_period(
    node: Node<'_, '_>,
    certs: &mut Vec<Vec<u8>>,
) -> Result<StatusPeriod, ParseErrorKind> {
    if let Some(sdi) = opt(node, "ServiceDigitalIdentity") {
        for c in identity_certs(sdi)? {
            if !certs.contains(&c) {
                certs.push(c);
            }
        }
    }
    let mut additional_info = Vec::new();
    let mut qualifications = Vec::new();
    if let Some(exts) = opt(node, "ServiceInformationExtensions") {
        for ext in elems(exts, "Extension") {
            for c in ext.children().filter(|c| c.is_element()) {
                match c.tag_name().name() {
                    "AdditionalServiceInformation" => {
                        additional_info.extend(opt(c, "URI").map(text));
                    }
                    "Qualifications" => qualifications.extend(parse_qualifications(c)?),
                    _ => {}
                }
            }
        }
    }
    Ok(StatusPeriod {
        service_type: text(req(node, "ServiceTypeIdentifier")?),
        status: text(req(node, "ServiceStatus")?),
        start: date(req(node, "StatusStartingTime")?, "StatusStartingTime")?,
        additional_info,
        qualifications,
    })
}

/// DER certificates of a `ServiceDigitalIdentity` (clause 5.5.3).
fn identity_certs(sdi: Node<'_, '_>) -> Result<Vec<Vec<u8>>, ParseErrorKind> {
    let mut out = Vec::new();
    for id in elems(sdi, "DigitalId") {
        if let Some(c) = opt(id, "X509Certificate") {
            let b64: String = text(c)
                .chars()
                .filter(|c| !c.is_ascii_whitespace())
                .collect();
            let der = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| ParseErrorKind::InvalidValue {
                    element: "X509Certificate",
                })?;
            out.push(der);
        }
    }
    Ok(out)
}

pub(crate) fn elems<'a, 'i>(
    node: Node<'a, 'i>,
    name: &'static str,
) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children()
        .filter(move |c| c.is_element() && c.tag_name().name() == name)
}

pub(crate) fn opt<'a, 'i>(node: Node<'a, 'i>, name: &'static str) -> Option<Node<'a, 'i>> {
    elems(node, name).next()
}

pub(crate) fn req<'a, 'i>(
    node: Node<'a, 'i>,
    name: &'static str,
) -> Result<Node<'a, 'i>, ParseErrorKind> {
    opt(node, name).ok_or(ParseErrorKind::MissingElement { element: name })
}

pub(crate) fn text(node: Node<'_, '_>) -> String {
    node.text().unwrap_or("").trim().to_string()
}

fn parse_num<T: std::str::FromStr>(
    node: Node<'_, '_>,
    element: &'static str,
) -> Result<T, ParseErrorKind> {
    text(node)
        .parse()
        .map_err(|_| ParseErrorKind::InvalidValue { element })
}

fn date(node: Node<'_, '_>, element: &'static str) -> Result<OffsetDateTime, ParseErrorKind> {
    crate::time::parse_datetime(&text(node)).ok_or(ParseErrorKind::InvalidValue { element })
}

/// A multilingual name: the `xml:lang="en"` form, else the first.
fn names(node: Node<'_, '_>) -> String {
    let all: Vec<Node<'_, '_>> = elems(node, "Name").collect();
    all.iter()
        .find(|n| n.attribute(("http://www.w3.org/XML/1998/namespace", "lang")) == Some("en"))
        .or(all.first())
        .map(|n| text(*n))
        .unwrap_or_default()
}

fn uris(node: Node<'_, '_>) -> Vec<String> {
    node.children()
        .filter(|c| c.is_element() && c.tag_name().name() == "URI")
        .map(text)
        .collect()
}
