//! Where the bridge's list bytes come from: the configured LOTL (an HTTPS URL or a local file),
//! an optional directory of lists matched by their content (`--tl-dir`, `trust.tl_dir`), and
//! HTTPS downloads of the locations the LOTL announces, with connect/read timeouts, a size limit
//! and no redirect away from HTTPS (specs/trust-lists.md section 2: follow pointers only over
//! https). Plain `http://` is never fetched.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use openssl::x509::X509;
use trust_lists::{DirectorySource, ListRequest, ListSource, SourceErrorKind};

/// The official location of the EU LOTL (Commission Implementing Decision (EU) 2015/1505 and the
/// Official Journal notices that announce its signing certificates).
pub const OFFICIAL_LOTL_URL: &str = "https://ec.europa.eu/tools/lotl/eu-lotl.xml";

/// The Official Journal notice C 276 of 16.8.2019 that published the LOTL signing certificates
/// embedded in [`OJ_2019_ANCHORS_PEM`]; pivots listed after it in the LOTL are older and not
/// followed (DSS `OfficialJournalSchemeInformationURI`).
pub const OJ_2019_URI: &str =
    "https://eur-lex.europa.eu/legal-content/EN/TXT/?uri=uriserv:OJ.C_.2019.276.01.0001.01.ENG";

/// The 8 LOTL signing certificates of OJ C 276 (2019), exported from the DSS keystore. They
/// anchor the pivot chain up to the current LOTL; `trust.anchors` replaces them after a rotation.
pub const OJ_2019_ANCHORS_PEM: &str = include_str!("anchors/OJ-C276-2019-lotl-signing-certs.pem");

/// Most redirects followed for one download: the Commission and national servers use at most one
/// (http -> https or a CDN hop); more suggests a loop.
pub const MAX_REDIRECTS: usize = 3;

/// Where the LOTL is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LotlLocation {
    /// An `https://` URL.
    Url(String),
    /// A local file (`file:` prefix stripped).
    File(PathBuf),
}

impl LotlLocation {
    /// Reads a configured location: `https://...`, `file:PATH`, `file://PATH` or a plain path.
    /// `None` for `http://` (lists are fetched over HTTPS only) and empty text.
    pub fn parse(text: &str) -> Option<LotlLocation> {
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("https://") {
            return Some(LotlLocation::Url(text.to_owned()));
        }
        if text.is_empty() || lower.contains("://") && !lower.starts_with("file://") {
            return None;
        }
        let path = text
            .strip_prefix("file://")
            .or_else(|| text.strip_prefix("file:"))
            .unwrap_or(text);
        (!path.is_empty()).then(|| LotlLocation::File(PathBuf::from(path)))
    }

    /// The text passed to the walk as the LOTL location (reports show it).
    pub fn as_text(&self) -> String {
        match self {
            LotlLocation::Url(u) => u.clone(),
            LotlLocation::File(p) => p.display().to_string(),
        }
    }
}

/// Limits on one download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchLimits {
    /// Connect timeout and read timeout (each).
    pub timeout: Duration,
    /// Largest list accepted, in bytes.
    pub max_bytes: u64,
}

/// The bridge's [`ListSource`]: the configured LOTL (falling back to the directory's LOTL when
/// its download fails); pivots and national lists from the directory first (an operator's
/// mirror takes precedence), then from their announced HTTPS locations.
#[derive(Debug)]
pub struct BridgeSource {
    lotl: LotlLocation,
    dir: Option<DirectorySource>,
    limits: FetchLimits,
    network: bool,
    agent: Option<ureq::Agent>,
}

impl BridgeSource {
    /// A source reading the LOTL from `lotl`, national lists and pivots from `dir` when it holds
    /// them, and otherwise, when `network` is set, from their announced HTTPS locations.
    pub fn new(
        lotl: LotlLocation,
        dir: Option<DirectorySource>,
        limits: FetchLimits,
        network: bool,
    ) -> BridgeSource {
        let agent = build_agent(limits, &[]);
        BridgeSource {
            lotl,
            dir,
            limits,
            network,
            agent,
        }
    }

    /// Also trusts `roots` for HTTPS downloads (a private mirror of the lists, tests), on top of
    /// the platform's roots.
    pub fn with_root_certificates(mut self, roots: &[X509]) -> BridgeSource {
        self.agent = build_agent(self.limits, roots);
        self
    }

    /// Downloads `url` over HTTPS within the limits, following at most [`MAX_REDIRECTS`]
    /// redirects, each to an `https://` location.
    fn download(&self, url: &str) -> Result<Vec<u8>, SourceErrorKind> {
        let unavailable = |reason: String| SourceErrorKind::Unavailable { reason };
        let agent = self
            .agent
            .as_ref()
            .ok_or_else(|| unavailable("no TLS connector".into()))?;
        let mut url = url.to_owned();
        for _ in 0..=MAX_REDIRECTS {
            if !url.to_ascii_lowercase().starts_with("https://") {
                return Err(unavailable("not an https location".into()));
            }
            let resp = match agent.get(&url).call() {
                Ok(r) => r,
                Err(ureq::Error::Status(code, _)) => {
                    return Err(unavailable(format!("http status {code}")))
                }
                Err(ureq::Error::Transport(t)) => {
                    return Err(unavailable(format!("transport: {}", t.kind())))
                }
            };
            if (300..400).contains(&resp.status()) {
                url = resp
                    .header("location")
                    .ok_or_else(|| unavailable("redirect without location".into()))?
                    .to_owned();
                continue;
            }
            if let Some(len) = resp
                .header("content-length")
                .and_then(|l| l.parse::<u64>().ok())
            {
                if len > self.limits.max_bytes {
                    return Err(unavailable(format!(
                        "{len} bytes exceed the limit of {}",
                        self.limits.max_bytes
                    )));
                }
            }
            let mut body = Vec::new();
            resp.into_reader()
                .take(self.limits.max_bytes.saturating_add(1))
                .read_to_end(&mut body)
                .map_err(|e| unavailable(format!("read: {}", e.kind())))?;
            if body.len() as u64 > self.limits.max_bytes {
                return Err(unavailable(format!(
                    "more than the limit of {} bytes",
                    self.limits.max_bytes
                )));
            }
            return Ok(body);
        }
        Err(unavailable("too many redirects".into()))
    }

    fn read_file(&self, path: &Path) -> Result<Vec<u8>, SourceErrorKind> {
        let unavailable = |reason: String| SourceErrorKind::Unavailable { reason };
        let meta = std::fs::metadata(path).map_err(|e| unavailable(e.kind().to_string()))?;
        if meta.len() > self.limits.max_bytes {
            return Err(unavailable(format!(
                "{} bytes exceed the limit of {}",
                meta.len(),
                self.limits.max_bytes
            )));
        }
        std::fs::read(path).map_err(|e| unavailable(e.kind().to_string()))
    }
}

/// A blocking HTTPS client: the platform's TLS roots (OpenSSL through native-tls) plus `roots`,
/// connect and read timeouts, redirects handled by the caller. `None` when OpenSSL cannot build
/// a connector: HTTPS locations are then reported unavailable.
fn build_agent(limits: FetchLimits, roots: &[X509]) -> Option<ureq::Agent> {
    let mut builder = native_tls::TlsConnector::builder();
    for root in roots {
        let cert = root
            .to_der()
            .ok()
            .and_then(|der| native_tls::Certificate::from_der(&der).ok())?;
        builder.add_root_certificate(cert);
    }
    let tls = builder.build().ok()?;
    Some(
        ureq::AgentBuilder::new()
            .tls_connector(Arc::new(tls))
            .timeout_connect(limits.timeout)
            .timeout_read(limits.timeout)
            .redirects(0)
            .build(),
    )
}

impl ListSource for BridgeSource {
    fn fetch(&self, request: &ListRequest<'_>) -> Result<Vec<u8>, SourceErrorKind> {
        // 1. The current LOTL comes from the configured location; when its download fails, a
        //    LOTL in the directory (an operator's mirror) stands in.
        if request.lotl && request.sequence.is_none() {
            return match &self.lotl {
                LotlLocation::File(p) => self.read_file(p),
                LotlLocation::Url(u) if self.network => self.download(u).or_else(|e| {
                    self.dir
                        .as_ref()
                        .and_then(|d| d.fetch(request).ok())
                        .ok_or(e)
                }),
                LotlLocation::Url(u) => {
                    self.dir
                        .as_ref()
                        .map(|d| d.fetch(request))
                        .unwrap_or_else(|| {
                            Err(SourceErrorKind::NotFound {
                                territory: request.territory.to_owned(),
                                location: u.clone(),
                            })
                        })
                }
            };
        }
        // 2. Pivots and national lists: the directory first (matched by content), then HTTPS.
        let from_dir = self.dir.as_ref().map(|d| d.fetch(request));
        match from_dir {
            Some(Ok(bytes)) => Ok(bytes),
            _ if self.network => self.download(request.location),
            Some(Err(e)) => Err(e),
            None => Err(SourceErrorKind::NotFound {
                territory: request.territory.to_owned(),
                location: request.location.to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        assert_eq!(
            LotlLocation::parse(OFFICIAL_LOTL_URL),
            Some(LotlLocation::Url(OFFICIAL_LOTL_URL.into()))
        );
        assert_eq!(
            LotlLocation::parse("file:///tmp/lotl.xml"),
            Some(LotlLocation::File("/tmp/lotl.xml".into()))
        );
        assert_eq!(
            LotlLocation::parse("file:lotl.xml"),
            Some(LotlLocation::File("lotl.xml".into()))
        );
        assert_eq!(
            LotlLocation::parse("./lotl.xml"),
            Some(LotlLocation::File("./lotl.xml".into()))
        );
        assert_eq!(
            LotlLocation::parse("http://ec.europa.eu/tools/lotl/eu-lotl.xml"),
            None
        );
        assert_eq!(LotlLocation::parse("ftp://x/y"), None);
        assert_eq!(LotlLocation::parse(""), None);
    }

    #[test]
    fn embedded_anchors_are_the_eight_oj_certificates() {
        let certs = openssl::x509::X509::stack_from_pem(OJ_2019_ANCHORS_PEM.as_bytes()).unwrap();
        assert_eq!(certs.len(), 8);
    }

    #[test]
    fn plain_http_and_oversized_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.xml");
        std::fs::write(&big, vec![b' '; 100]).unwrap();
        let source = BridgeSource::new(
            LotlLocation::File(big),
            None,
            FetchLimits {
                timeout: Duration::from_secs(1),
                max_bytes: 10,
            },
            true,
        );
        let lotl = ListRequest {
            location: "x",
            territory: "EU",
            lotl: true,
            sequence: None,
        };
        assert!(matches!(
            source.fetch(&lotl),
            Err(SourceErrorKind::Unavailable { .. })
        ));
        let tl = ListRequest {
            location: "http://example.invalid/tl.xml",
            territory: "FR",
            lotl: false,
            sequence: None,
        };
        assert_eq!(
            source.fetch(&tl),
            Err(SourceErrorKind::Unavailable {
                reason: "not an https location".into()
            })
        );
    }
}
