//! Wallet credential issuers anchored in the trust lists (DESIGN.md point 2): an issuer chain is
//! trusted when it leads to a PID-provider service of the snapshot in force, at the instant of
//! verification (ETSI TS 119 612 service status history), or to a service of a configured list
//! of trusted entities (TS 119 602 PID providers list, `trust.lote`), and otherwise only when it
//! leads to a locally configured anchor (`identity.issuer_anchors`).

use std::sync::Arc;

use openssl::x509::X509;
use time::OffsetDateTime;
use trust_lists::{verify_lote, ListOfTrustedEntities, TrustStore, Usage};

use super::TrustState;
use crate::identity::{
    IssuerEvidence, IssuerTrust, PemTrustAnchors, TrustErrorKind, TrustedIssuer,
};

/// [`IssuerTrust`] over the trust state, with configured anchors as the fallback.
#[derive(Debug)]
pub struct TrustListIssuers {
    state: Arc<TrustState>,
    lotes: Option<TrustStore>,
    configured: PemTrustAnchors,
}

impl TrustListIssuers {
    /// Issuers trusted by the PID-provider services of `state`'s snapshot, or by `configured`.
    pub fn new(state: Arc<TrustState>, configured: PemTrustAnchors) -> TrustListIssuers {
        TrustListIssuers {
            state,
            lotes: None,
            configured,
        }
    }

    /// Also trusts the services of verified lists of trusted entities (TS 119 602), converted
    /// with [`trust_lists::ListOfTrustedEntities::to_trusted_list`].
    pub fn with_lotes(mut self, lists: &[ListOfTrustedEntities]) -> TrustListIssuers {
        let lists: Vec<_> = lists.iter().map(|l| l.to_trusted_list()).collect();
        self.lotes = Some(TrustStore::from_lists(&lists));
        self
    }
}

/// Reads and verifies the configured lists of trusted entities.
///
/// # Errors
/// A one-line reason naming the file that cannot be read or is refused.
pub fn load_lotes(
    files: &[std::path::PathBuf],
    signer_files: &[std::path::PathBuf],
) -> Result<Vec<ListOfTrustedEntities>, String> {
    let mut signers = Vec::new();
    for f in signer_files {
        let pem = std::fs::read(f).map_err(|e| format!("{}: {e}", f.display()))?;
        signers.extend(X509::stack_from_pem(&pem).map_err(|e| format!("{}: {e}", f.display()))?);
    }
    let mut out = Vec::new();
    for f in files {
        let len = std::fs::metadata(f)
            .map_err(|e| format!("{}: {e}", f.display()))?
            .len();
        if len > trust_lists::MAX_LIST_BYTES as u64 {
            return Err(format!(
                "{}: larger than {} bytes",
                f.display(),
                trust_lists::MAX_LIST_BYTES
            ));
        }
        let bytes = std::fs::read(f).map_err(|e| format!("{}: {e}", f.display()))?;
        out.push(verify_lote(&bytes, &signers).map_err(|e| format!("{}: {e}", f.display()))?);
    }
    Ok(out)
}

impl IssuerTrust for TrustListIssuers {
    fn verify_chain(&self, chain: &[X509], at: i64) -> Result<TrustedIssuer, TrustErrorKind> {
        let leaf = chain.first().ok_or(TrustErrorKind::ChainMissing)?;
        // 1. The trust lists: a PID-provider service in force at `at`.
        let ders: Vec<Vec<u8>> = chain.iter().filter_map(|c| c.to_der().ok()).collect();
        let instant = OffsetDateTime::from_unix_timestamp(at)
            .map_err(|_| TrustErrorKind::CertificateNotYetValid)?;
        if let Ok((result, snapshot)) = self.state.validate(&ders, instant, Usage::Pid) {
            if result.trusted {
                let evidence = IssuerEvidence {
                    chain: ders,
                    trust_snapshot: snapshot,
                };
                return trusted_issuer(leaf, result, Some(evidence));
            }
        }
        // 2. The configured lists of trusted entities.
        if let Some(store) = &self.lotes {
            let result = store.validate(&ders, instant, Usage::Pid);
            if result.trusted {
                return trusted_issuer(leaf, result, None);
            }
        }
        // 3. The configured anchors; with none configured, the chain is simply untrusted.
        match self.configured.verify_chain(chain, at) {
            Err(TrustErrorKind::NoAnchors) => Err(TrustErrorKind::Untrusted { code: 0 }),
            other => other,
        }
    }
}

/// The issuer record of a chain the trust store accepted: the leaf's subject and digest, and the
/// anchoring service named as `TSP / service (territory)`.
fn trusted_issuer(
    leaf: &X509,
    result: trust_lists::ValidationResult,
    evidence: Option<IssuerEvidence>,
) -> Result<TrustedIssuer, TrustErrorKind> {
    let leaf_der = leaf
        .to_der()
        .map_err(|_| TrustErrorKind::CertificateMalformed { index: 0 })?;
    Ok(TrustedIssuer {
        subject: crate::grpc::subject_string(leaf),
        leaf_sha256: hex::encode(openssl::sha::sha256(&leaf_der)),
        anchor_subject: format!(
            "{} / {} ({})",
            result.tsp.unwrap_or_default(),
            result.service.unwrap_or_default(),
            result.territory.unwrap_or_default()
        ),
        evidence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::Loaded;
    use openssl::asn1::Asn1Time;
    use openssl::bn::BigNum;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::{PKey, Private};
    use openssl::x509::extension::BasicConstraints;
    use openssl::x509::{X509Builder, X509NameBuilder};
    use trust_lists::{Snapshot, PID_SERVICE_TYPES};

    fn key() -> PKey<Private> {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
    }

    fn cert(cn: &str, k: &PKey<Private>, issuer: Option<(&X509, &PKey<Private>)>) -> X509 {
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", cn).unwrap();
        let name = name.build();
        let mut b = X509Builder::new().unwrap();
        b.set_version(2).unwrap();
        let serial = BigNum::from_u32(cn.len() as u32).unwrap();
        b.set_serial_number(&serial.to_asn1_integer().unwrap())
            .unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(issuer.map_or(&name, |(c, _)| c.subject_name()))
            .unwrap();
        b.set_pubkey(k).unwrap();
        b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&Asn1Time::days_from_now(30).unwrap())
            .unwrap();
        if issuer.is_none() {
            b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
                .unwrap();
        }
        b.sign(issuer.map_or(k, |(_, ik)| ik), MessageDigest::sha256())
            .unwrap();
        b.build()
    }

    #[test]
    fn pid_provider_services_of_the_snapshot_anchor_issuers() {
        let ca_key = key();
        let ca = cert("PID CA", &ca_key, None);
        let leaf = cert("PID issuer", &key(), Some((&ca, &ca_key)));
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let none = PemTrustAnchors::from_pem::<&[u8]>(&[]).unwrap();

        // No snapshot and no configured anchor: untrusted.
        let state = Arc::new(TrustState::new());
        let issuers = TrustListIssuers::new(state.clone(), none);
        assert_eq!(
            issuers
                .verify_chain(std::slice::from_ref(&leaf), now)
                .unwrap_err(),
            TrustErrorKind::Untrusted { code: 0 }
        );

        // A snapshot whose store holds the CA as a PID-provider service: trusted.
        let snapshot = Snapshot {
            at: OffsetDateTime::UNIX_EPOCH,
            entries: Vec::new(),
            reports: Vec::new(),
        };
        state.install(Arc::new(Loaded {
            digest: snapshot.digest(),
            snapshot,
            store: TrustStore::from_anchors(std::slice::from_ref(&ca), PID_SERVICE_TYPES[0], "EU"),
            loaded_at: OffsetDateTime::UNIX_EPOCH,
        }));
        let issuer = issuers
            .verify_chain(std::slice::from_ref(&leaf), now)
            .unwrap();
        assert_eq!(issuer.subject, "CN=PID issuer");
        assert!(issuer.anchor_subject.ends_with("(EU)"), "{issuer:?}");

        // The configured anchors still work when the lists do not know the issuer.
        let other_key = key();
        let other_ca = cert("Other CA", &other_key, None);
        let other_leaf = cert("Other issuer", &key(), Some((&other_ca, &other_key)));
        let pem = other_ca.to_pem().unwrap();
        let issuers = TrustListIssuers::new(state, PemTrustAnchors::from_pem(&[pem]).unwrap());
        assert!(issuers.verify_chain(&[other_leaf], now).is_ok());
    }

    #[test]
    fn services_of_a_list_of_trusted_entities_anchor_issuers() {
        use trust_lists::{StatusPeriod, TrustService, TrustServiceProvider};
        let ca_key = key();
        let ca = cert("LoTE PID CA", &ca_key, None);
        let leaf = cert("LoTE PID issuer", &key(), Some((&ca, &ca_key)));
        let now = OffsetDateTime::now_utc();
        let lote = ListOfTrustedEntities {
            version: 1,
            sequence: 1,
            lote_type: Some(trust_lists::LOTE_TYPE_EU_PID_PROVIDERS.into()),
            operator_name: "Test Commission".into(),
            territory: "EU".into(),
            issue_date: OffsetDateTime::UNIX_EPOCH,
            next_update: None,
            entities: vec![TrustServiceProvider {
                name: "Test PID Provider".into(),
                trade_names: Vec::new(),
                services: vec![TrustService {
                    service_type: PID_SERVICE_TYPES[0].into(),
                    name: "PID issuance".into(),
                    certificates: vec![ca.to_der().unwrap()],
                    history: vec![StatusPeriod {
                        service_type: PID_SERVICE_TYPES[0].into(),
                        status: "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/granted".into(),
                        start: OffsetDateTime::UNIX_EPOCH,
                        additional_info: Vec::new(),
                        qualifications: Vec::new(),
                    }],
                }],
            }],
            signer: ca.clone(),
        };
        let none = PemTrustAnchors::from_pem::<&[u8]>(&[]).unwrap();
        let issuers = TrustListIssuers::new(Arc::new(TrustState::new()), none).with_lotes(&[lote]);
        let issuer = issuers
            .verify_chain(std::slice::from_ref(&leaf), now.unix_timestamp())
            .unwrap();
        assert!(
            issuer.anchor_subject.starts_with("Test PID Provider"),
            "{issuer:?}"
        );

        let missing = std::path::PathBuf::from("/nonexistent/pid-providers.jwt");
        let err = load_lotes(&[missing], &[]).unwrap_err();
        assert!(err.starts_with("/nonexistent/pid-providers.jwt: "), "{err}");
    }
}
