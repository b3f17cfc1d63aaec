//! A complete test trust ecosystem, deterministic from a seed (issue 3): an Official Journal
//! signer, a test LOTL and national lists for FR (RSA), BE (ECDSA) and DE (RSASSA-PSS) signed
//! as real ones are, QTSP CAs issuing qualified seal and website certificates for bridges, a
//! PID provider, and a BE service granted then withdrawn. Keys and certificates depend only on
//! the seed; ECDSA and PSS signature values are randomised by nature.
//!
//! It is its own package (depending only on openssl) so that both `conformance` and the
//! `eidas-bridge demo` command can use it without a dependency cycle.
//!
//! # Layout
//! - [`keys`]: deterministic RSA and EC keys from the seed.
//! - [`certs`]: certificate profiles (CA, list signer, QSeal, QWAC, PID issuer) and issuance.
//! - [`tsl`]: TS 119 612 list text (scheme, pointers, TSPs, services).
//! - [`xades`]: enveloped XAdES-BES signing of the lists.

pub mod certs;
pub mod keys;
pub mod tsl;
pub mod xades;

use std::collections::BTreeMap;
use std::path::Path;

use openssl::error::ErrorStack;
use openssl::nid::Nid;

use certs::{issue, Party, Profile, Spec};
use tsl::{Period, Pointer, Scheme, Service, Tsp, GRANTED, TYPE_LOTL, TYPE_TL, WITHDRAWN};
use xades::{sign, RefStyle, SigAlg};

/// The territories of the generated lists.
pub const TERRITORIES: [&str; 3] = ["FR", "BE", "DE"];
/// `ListIssueDateTime` of every generated list.
pub const ISSUED: &str = "2026-08-01T00:00:00Z";
/// `NextUpdate` of the generated lists.
pub const NEXT_UPDATE: &str = "2027-02-01T00:00:00Z";
/// `NextUpdate` of the expired variant (before the 2026-08-20 fixture instant).
pub const EXPIRED_NEXT_UPDATE: &str = "2026-08-10T00:00:00Z";
/// When the BE "old" CA service was granted.
pub const GRANTED_AT: &str = "2025-01-01T00:00:00Z";
/// When the BE "old" CA service was withdrawn.
pub const WITHDRAWN_AT: &str = "2026-06-01T00:00:00Z";
/// Location of the test LOTL.
pub const LOTL_LOCATION: &str = "https://lotl.test/eu-lotl.xml";
/// URI of the test Official Journal notice that publishes the OJ signer.
pub const OJ_URI: &str = "https://oj.test/C/2026/1";
/// Service type of a PID provider (see `trust_lists::PID_SERVICE_TYPES`).
pub const PID_SERVICE_TYPE: &str = "http://uri.etsi.org/19602/SvcType/PID/Issuance";

const CA_QC: &str = "http://uri.etsi.org/TrstSvc/Svctype/CA/QC";
const SIGNING_TIME: &str = "2026-08-01T00:00:00Z";
/// notBefore of every generated certificate, 2025-01-01T00:00:00Z, unix seconds.
pub const NOT_BEFORE: i64 = 1_735_689_600;
/// notAfter of every generated certificate, 2030-01-01T00:00:00Z, unix seconds.
pub const NOT_AFTER: i64 = 1_893_456_000;

/// The generated ecosystem.
#[derive(Debug, Clone)]
pub struct Ecosystem {
    /// The Official Journal LOTL signer (the walk's anchor).
    pub oj: Party,
    /// Signer of each national list.
    pub signers: BTreeMap<&'static str, Party>,
    /// QTSP CA of each territory (a granted CA/QC service).
    pub cas: BTreeMap<&'static str, Party>,
    /// A qualified seal certificate for the bridge of each territory.
    pub seals: BTreeMap<&'static str, Party>,
    /// A qualified website certificate for the bridge of each territory.
    pub qwacs: BTreeMap<&'static str, Party>,
    /// The BE CA whose service was withdrawn at [`WITHDRAWN_AT`].
    pub withdrawn_ca: Party,
    /// A qualified seal issued by the withdrawn CA.
    pub withdrawn_seal: Party,
    /// The DE PID provider CA.
    pub pid_ca: Party,
    /// A PID issuer certificate under the PID provider CA.
    pub pid_issuer: Party,
    /// The signed LOTL.
    pub lotl: Vec<u8>,
    /// The signed national lists.
    pub tls: BTreeMap<&'static str, Vec<u8>>,
    seed: Vec<u8>,
}

fn spec<'a>(
    cn: &'a str,
    country: &'a str,
    org: &'a str,
    serial: u32,
    profile: Profile,
) -> Spec<'a> {
    Spec {
        cn,
        country,
        org,
        serial,
        not_before: NOT_BEFORE,
        not_after: NOT_AFTER,
        profile,
        dns: None,
    }
}

impl Ecosystem {
    /// Generates the ecosystem from `seed`.
    ///
    /// # Errors
    /// An openssl failure (not expected with valid parameters).
    pub fn generate(seed: &[u8]) -> Result<Self, ErrorStack> {
        let rsa = |label: &str| keys::rsa_key(seed, label, 2048);
        let ec = |label: &str| keys::ec_key(seed, label, Nid::X9_62_PRIME256V1);
        let oj = issue(
            &spec(
                "Test OJ LOTL signer",
                "BE",
                "Test European Commission",
                1,
                Profile::ListSigner,
            ),
            rsa("oj")?,
            None,
        )?;
        let mut signers = BTreeMap::new();
        let mut cas = BTreeMap::new();
        let mut seals = BTreeMap::new();
        let mut qwacs = BTreeMap::new();
        for (i, t) in TERRITORIES.iter().enumerate() {
            let n = 10 * (i as u32 + 1);
            let org = format!("Test supervisory body {t}");
            let signer_key = if *t == "BE" {
                ec(&format!("signer-{t}"))?
            } else {
                rsa(&format!("signer-{t}"))?
            };
            signers.insert(
                *t,
                issue(
                    &spec(
                        &format!("Test TL signer {t}"),
                        t,
                        &org,
                        n,
                        Profile::ListSigner,
                    ),
                    signer_key,
                    None,
                )?,
            );
            let qtsp = format!("Test QTSP {t}");
            let ca = issue(
                &spec(&format!("Test QTSP CA {t}"), t, &qtsp, n + 1, Profile::Ca),
                rsa(&format!("ca-{t}"))?,
                None,
            )?;
            let seal = issue(
                &spec(
                    &format!("bridge.{}.test seal", t.to_lowercase()),
                    t,
                    &format!("Test bridge {t}"),
                    n + 2,
                    Profile::QSeal,
                ),
                ec(&format!("seal-{t}"))?,
                Some(&ca),
            )?;
            let dns = format!("bridge.{}.test", t.to_lowercase());
            let bridge_org = format!("Test bridge {t}");
            let mut wspec = spec(&dns, t, &bridge_org, n + 3, Profile::Qwac);
            wspec.dns = Some(&dns);
            let qwac = issue(&wspec, ec(&format!("qwac-{t}"))?, Some(&ca))?;
            cas.insert(*t, ca);
            seals.insert(*t, seal);
            qwacs.insert(*t, qwac);
        }
        let withdrawn_ca = issue(
            &spec(
                "Test QTSP CA BE old",
                "BE",
                "Test QTSP BE",
                100,
                Profile::Ca,
            ),
            rsa("ca-BE-old")?,
            None,
        )?;
        let withdrawn_seal = issue(
            &spec("old seal", "BE", "Test bridge BE", 101, Profile::QSeal),
            ec("seal-BE-old")?,
            Some(&withdrawn_ca),
        )?;
        let pid_ca = issue(
            &spec(
                "Test PID provider CA",
                "DE",
                "Test PID provider",
                200,
                Profile::Ca,
            ),
            rsa("pid-ca")?,
            None,
        )?;
        let pid_issuer = issue(
            &spec(
                "Test PID issuer",
                "DE",
                "Test PID provider",
                201,
                Profile::PidIssuer,
            ),
            ec("pid-issuer")?,
            Some(&pid_ca),
        )?;
        let mut eco = Ecosystem {
            oj,
            signers,
            cas,
            seals,
            qwacs,
            withdrawn_ca,
            withdrawn_seal,
            pid_ca,
            pid_issuer,
            lotl: Vec::new(),
            tls: BTreeMap::new(),
            seed: seed.to_vec(),
        };
        for t in TERRITORIES {
            let tl = eco.signed_tl(t, NEXT_UPDATE, RefStyle::Empty)?;
            eco.tls.insert(t, tl.into_bytes());
        }
        eco.lotl = eco.signed_lotl()?.into_bytes();
        Ok(eco)
    }

    /// The seed the ecosystem was generated from.
    pub fn seed(&self) -> &[u8] {
        &self.seed
    }

    /// The signature algorithm each territory signs with.
    pub fn algorithm(territory: &str) -> SigAlg {
        match territory {
            "BE" => SigAlg::EcdsaSha256,
            "DE" => SigAlg::RsaPssSha256,
            _ => SigAlg::RsaSha256,
        }
    }

    /// The unsigned canonical text of a national list.
    pub fn unsigned_tl(&self, territory: &str, next_update: &str) -> String {
        let id = format!("tsl-{territory}");
        let operator = format!("Test supervisory body {territory}");
        let ca_name = format!("Test QTSP CA {territory}");
        let tsp_name = format!("Test QTSP {territory}");
        let scheme = Scheme {
            id: &id,
            tsl_type: TYPE_TL,
            sequence: 1,
            operator: &operator,
            territory,
            issued: ISSUED,
            next_update,
            info_uris: Vec::new(),
        };
        let granted = vec![Period {
            status: GRANTED,
            start: GRANTED_AT,
        }];
        let mut services = Vec::new();
        if let Some(ca) = self.cas.get(territory) {
            services.push(Service {
                service_type: CA_QC,
                name: &ca_name,
                identity: ca,
                periods: granted.clone(),
                additional: vec![],
            });
        }
        let mut tsps = vec![Tsp {
            name: &tsp_name,
            services,
        }];
        let withdrawn_name = "Test QTSP CA BE old";
        if territory == "BE" {
            tsps[0].services.push(Service {
                service_type: CA_QC,
                name: withdrawn_name,
                identity: &self.withdrawn_ca,
                periods: vec![
                    Period {
                        status: WITHDRAWN,
                        start: WITHDRAWN_AT,
                    },
                    Period {
                        status: GRANTED,
                        start: GRANTED_AT,
                    },
                ],
                additional: vec![],
            });
        }
        if territory == "DE" {
            tsps.push(Tsp {
                name: "Test PID provider",
                services: vec![Service {
                    service_type: PID_SERVICE_TYPE,
                    name: "Test PID provider CA",
                    identity: &self.pid_ca,
                    periods: granted.clone(),
                    additional: vec![],
                }],
            });
        }
        tsl::write(&scheme, &[], &tsps)
    }

    /// A signed national list.
    ///
    /// # Errors
    /// An openssl failure, or an unknown territory (as an empty error stack).
    pub fn signed_tl(
        &self,
        territory: &str,
        next_update: &str,
        style: RefStyle,
    ) -> Result<String, ErrorStack> {
        let signer = self.signers.get(territory).ok_or_else(ErrorStack::get)?;
        let text = self.unsigned_tl(territory, next_update);
        sign(
            &text,
            &format!("tsl-{territory}"),
            signer,
            Self::algorithm(territory),
            style,
            SIGNING_TIME,
        )
    }

    /// The signed LOTL: pointers to itself (announcing the OJ signer) and to each national list.
    fn signed_lotl(&self) -> Result<String, ErrorStack> {
        let mut pointers = vec![Pointer {
            location: LOTL_LOCATION.to_string(),
            territory: "EU",
            tsl_type: TYPE_LOTL,
            signers: vec![&self.oj],
        }];
        for (t, s) in &self.signers {
            pointers.push(Pointer {
                location: format!("https://tl.test/{t}.xml"),
                territory: t,
                tsl_type: TYPE_TL,
                signers: vec![s],
            });
        }
        let scheme = Scheme {
            id: "lotl",
            tsl_type: TYPE_LOTL,
            sequence: 1,
            operator: "Test European Commission",
            territory: "EU",
            issued: ISSUED,
            next_update: NEXT_UPDATE,
            info_uris: vec![OJ_URI.to_string()],
        };
        let text = tsl::write(&scheme, &pointers, &[]);
        sign(
            &text,
            "lotl",
            &self.oj,
            SigAlg::RsaSha256,
            RefStyle::Empty,
            SIGNING_TIME,
        )
    }

    /// Writes the LOTL, the lists, the OJ anchor and the bridge keys/certificates as PEM into `dir`.
    ///
    /// # Errors
    /// I/O failures.
    pub fn write_to(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("eu-lotl.xml"), &self.lotl)?;
        for (t, b) in &self.tls {
            std::fs::write(dir.join(format!("{t}.xml")), b)?;
        }
        let pem = |p: &Party| p.cert.to_pem().unwrap_or_default();
        std::fs::write(dir.join("oj-anchor.pem"), pem(&self.oj))?;
        for (t, p) in &self.signers {
            std::fs::write(dir.join(format!("signer-{t}.pem")), pem(p))?;
        }
        for (kind, map) in [("seal", &self.seals), ("qwac", &self.qwacs)] {
            for (t, p) in map {
                let mut out = pem(p);
                if let Some(ca) = self.cas.get(t) {
                    out.extend(pem(ca));
                }
                std::fs::write(dir.join(format!("{kind}-{t}.chain.pem")), out)?;
                let key = p.key.private_key_to_pem_pkcs8().unwrap_or_default();
                std::fs::write(dir.join(format!("{kind}-{t}.key.pem")), key)?;
            }
        }
        Ok(())
    }
}
