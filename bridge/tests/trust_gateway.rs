//! The trust state in the gateway: `TrustService` over mutual TLS (status, validation, the
//! admin-only refresh), its health status, a failed refresh that keeps the last good snapshot,
//! and a restart that serves the stored snapshot offline.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bridge_proto::pb::trust_service_client::TrustServiceClient;
use bridge_proto::pb::{
    CertificateUsage, Freshness, GetTrustStatusRequest, RefreshTrustRequest, SignatureState,
    ValidateCertificateRequest,
};
use eidas_bridge::config::Config;
use eidas_bridge::devpki::DevPki;
use eidas_bridge::gateway::Gateway;
use eidas_bridge::grpc::Role;
use eidas_bridge::store::Store;
use eidas_bridge::tls::{self, ClientIdentity};
use eidas_bridge::trust::{Refresher, TrustState, TRUST_SERVICE_NAME};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_types::StatusExt;

/// 2026-08-20T00:00:00Z: every 2026 list of the corpus is issued, NL 76 has expired.
const AT_SECONDS: i64 = 1_787_184_000;

fn corpus() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    loop {
        let c = dir.join("shared/corpus/trust-lists/real");
        if c.is_dir() {
            return c;
        }
        assert!(
            dir.pop(),
            "shared/corpus not found above CARGO_MANIFEST_DIR"
        );
    }
}

fn lotl_390() -> PathBuf {
    corpus().join("EU-lotl-seq390-2026-08-03.xml")
}

/// DER of the certificate that signs the French list (a qualified e-signature certificate
/// issued by a CA of the French list).
fn fr_signer_der() -> Vec<u8> {
    let text = std::fs::read_to_string(corpus().join("FR-tl-seq174-2026-04-16.xml")).unwrap();
    let sig = text.rfind("<ds:Signature").unwrap();
    let tag = "X509Certificate>";
    let start = sig + text[sig..].find(tag).unwrap() + tag.len();
    let end = start + text[start..].find('<').unwrap();
    let b64: String = text[start..end].split_whitespace().collect();
    openssl::base64::decode_block(&b64).unwrap()
}

fn config(data: &Path, lotl: &Path, refresh: bool) -> Config {
    let mut config = Config::defaults();
    config.server.data_dir = data.to_owned();
    config.metrics.listen = None;
    config.trust.lotl = lotl.display().to_string();
    config.trust.tl_dir = Some(corpus());
    config.trust.refresh = refresh;
    config
}

struct Running {
    addr: SocketAddr,
    pki: DevPki,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), eidas_bridge::gateway::ServeError>>,
}

async fn start(config: Config) -> (Running, Option<[u8; 32]>) {
    let (gateway, report) = Gateway::prepare(config).unwrap();
    let pki = gateway.dev_pki().unwrap().clone();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(gateway.run(listener, None, async move {
        let _ = stopped.await;
    }));
    (
        Running {
            addr,
            pki,
            stop: Some(stop),
            task,
        },
        report.trust_snapshot,
    )
}

impl Running {
    fn client(&self, role: Role) -> ClientIdentity {
        ClientIdentity {
            chain: tls::read_certs(&self.pki.client_cert(role)).unwrap(),
            key: Some(tls::read_key(&self.pki.client_key(role)).unwrap()),
            server_cas: tls::read_certs(&self.pki.ca_cert()).unwrap(),
        }
    }

    fn trust(&self, role: Role) -> TrustServiceClient<tonic::transport::Channel> {
        TrustServiceClient::new(tls::connect(&self.addr.to_string(), &self.client(role)).unwrap())
    }

    async fn trust_health(&self) -> i32 {
        let channel = tls::connect(&self.addr.to_string(), &self.client(Role::Operator)).unwrap();
        HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: TRUST_SERVICE_NAME.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status
    }

    async fn stop(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

fn validate_request(usage: CertificateUsage) -> ValidateCertificateRequest {
    ValidateCertificateRequest {
        chain: vec![fr_signer_der()],
        at: Some(prost_types::Timestamp {
            seconds: AT_SECONDS,
            nanos: 0,
        }),
        usage: usage as i32,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_service_over_mutual_tls_then_offline_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    // 1. Start with refresh on: the background walk loads the corpus chain. Wait for the
    //    refresh that the gateway starts (an admin refresh waits for it, one at a time).
    let (gw, stored) = start(config(&data, &lotl_390(), true)).await;
    assert_eq!(stored, None, "nothing stored before the first refresh");
    let refreshed = gw
        .trust(Role::Admin)
        .refresh(RefreshTrustRequest {})
        .await
        .unwrap()
        .into_inner()
        .status
        .unwrap();
    assert_eq!(refreshed.snapshot_digest.len(), 32);
    assert_eq!(refreshed.last_refresh_error, "");
    assert!(refreshed.last_refresh_success.is_some());
    assert_eq!(gw.trust_health().await, ServingStatus::Serving as i32);

    // 2. GetStatus: every list with its state; the LOTL verified and fresh, NL 76 expired now.
    let mut client = gw.trust(Role::Operator);
    let status = client
        .get_status(GetTrustStatusRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.snapshot_digest, refreshed.snapshot_digest);
    let lotl = status.lists.iter().find(|l| l.kind == "lotl").unwrap();
    assert_eq!(lotl.sequence_number, 390);
    assert_eq!(lotl.signature, SignatureState::Valid as i32);
    assert_eq!(lotl.digest.len(), 32);
    assert!(lotl.signer.contains("C=LU"), "{}", lotl.signer);
    assert_eq!(status.lists.iter().filter(|l| l.kind == "pivot").count(), 5);
    let fr = client
        .get_status(GetTrustStatusRequest {
            territory: "FR".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fr.lists.len(), 1);
    assert_eq!(fr.lists[0].sequence_number, 174);
    assert_eq!(fr.lists[0].signature, SignatureState::Valid as i32);
    let de = status.lists.iter().find(|l| l.territory == "DE").unwrap();
    assert_eq!(de.signature, SignatureState::Invalid as i32);
    assert_eq!(de.error, "signature.SignerNotAnnounced");
    let nl = status.lists.iter().find(|l| l.territory == "NL").unwrap();
    assert_eq!(nl.freshness, Freshness::Expired as i32);

    // 3. ValidateCertificate: the FR signer is trusted and qualified for e-signatures.
    let decision = client
        .validate_certificate(validate_request(CertificateUsage::Esig))
        .await
        .unwrap()
        .into_inner();
    assert!(decision.trusted && decision.qualified, "{decision:?}");
    assert_eq!(decision.territory, "FR");
    assert!(!decision.tsp_name.is_empty());
    assert_eq!(
        decision.service_type,
        "http://uri.etsi.org/TrstSvc/Svctype/CA/QC"
    );
    assert_eq!(decision.snapshot_digest, status.snapshot_digest);
    let seal = client
        .validate_certificate(validate_request(CertificateUsage::Qseal))
        .await
        .unwrap()
        .into_inner();
    // An e-signature certificate does not fit a seal usage.
    assert!(!seal.trusted && !seal.qualified, "{seal:?}");
    assert_eq!(
        seal.reasons,
        ["certificate type Some(ESig) does not fit the usage"]
    );

    // 4. Bad input names its field; Refresh is admin only.
    let err = client
        .validate_certificate(ValidateCertificateRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        err.get_details_bad_request().unwrap().field_violations[0].field,
        "chain"
    );
    let err = client
        .validate_certificate(ValidateCertificateRequest {
            usage: 99,
            ..validate_request(CertificateUsage::Esig)
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.get_details_bad_request().unwrap().field_violations[0].field,
        "usage"
    );
    let err = client.refresh(RefreshTrustRequest {}).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    gw.stop().await;

    // 5. The installed snapshot was journaled once, with its digest.
    {
        let storage = eidas_bridge::store::journal::FileJournalStorage::open(
            &eidas_bridge::journal::journal_dir(&data),
        )
        .unwrap();
        let storage: Arc<dyn eidas_bridge::journal::JournalStorage> = Arc::new(storage);
        let mut replay = eidas_bridge::journal::Replay::new(storage.clone(), 0, storage.len());
        let mut loaded = Vec::new();
        while let Some(item) = replay.next_raw() {
            let (_, bytes) = item.unwrap();
            let e = eidas_bridge::journal::JournalEntry::decode(&bytes).unwrap();
            if e.kind == eidas_bridge::journal::EntryKind::TrustListLoaded {
                loaded.push(e.trust_snapshot.unwrap().to_vec());
            }
        }
        assert_eq!(loaded, vec![status.snapshot_digest.clone()]);
    }

    // 6. Restart offline (refresh off, LOTL location unreachable): the stored snapshot serves.
    let (gw, stored) = start(config(&data, Path::new("/nonexistent/lotl.xml"), false)).await;
    assert_eq!(
        stored.map(|d| d.to_vec()),
        Some(status.snapshot_digest.clone())
    );
    assert_eq!(gw.trust_health().await, ServingStatus::Serving as i32);
    let decision = gw
        .trust(Role::Operator)
        .validate_certificate(validate_request(CertificateUsage::Esig))
        .await
        .unwrap()
        .into_inner();
    assert!(decision.trusted && decision.qualified);
    assert_eq!(decision.snapshot_digest, status.snapshot_digest);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_snapshot_the_trust_service_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (gw, stored) = start(config(&dir.path().join("data"), &lotl_390(), false)).await;
    assert_eq!(stored, None);
    assert_eq!(gw.trust_health().await, ServingStatus::NotServing as i32);
    let err = gw
        .trust(Role::Operator)
        .validate_certificate(validate_request(CertificateUsage::Esig))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(
        err.get_details_error_info().unwrap().reason,
        "NO_TRUST_SNAPSHOT"
    );
    let status = gw
        .trust(Role::Operator)
        .get_status(GetTrustStatusRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(status.lists.is_empty() && status.snapshot_digest.is_empty());
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_refresh_keeps_the_last_good_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let state = Arc::new(TrustState::new());
    let settings = config(dir.path(), &lotl_390(), true).trust;

    // 1. A good refresh installs and stores a snapshot.
    let good = Refresher::new(
        state.clone(),
        Some(store.trust().unwrap()),
        None,
        settings.clone(),
    )
    .unwrap();
    let first = good.refresh_now().await;
    assert!(
        first.installed && first.changed && first.error.is_none(),
        "{first:?}"
    );
    let digest = first.digest.unwrap();

    // 2. The LOTL is now a tampered copy: the refresh fails, the snapshot stays, reported stale.
    let mut tampered = settings.clone();
    tampered.lotl = corpus()
        .join("broken/EU-seq390--tampered-schemeoperatorname.xml")
        .display()
        .to_string();
    let bad = Refresher::new(state.clone(), Some(store.trust().unwrap()), None, tampered).unwrap();
    let second = bad.refresh_now().await;
    assert_eq!(
        second.error.as_deref(),
        Some("lotl: signature.ReferenceDigestMismatch")
    );
    assert!(!second.changed);
    assert_eq!(second.digest, Some(digest));
    let current = state.current().unwrap();
    assert_eq!(current.digest, digest);
    assert!(current
        .snapshot
        .reports
        .iter()
        .filter(|r| r.kind == trust_lists::ListKind::Tl && r.error.is_none())
        .all(|r| r.kept_previous));
    let status = state.status();
    assert_eq!(
        status.last_error.as_deref(),
        Some("lotl: signature.ReferenceDigestMismatch")
    );
    assert!(status.last_success.is_some());

    // 3. An unreachable LOTL: same, the snapshot stays.
    let mut missing = settings;
    missing.lotl = "/nonexistent/lotl.xml".into();
    missing.tl_dir = None;
    let gone = Refresher::new(state.clone(), Some(store.trust().unwrap()), None, missing).unwrap();
    let third = gone.refresh_now().await;
    assert_eq!(third.error.as_deref(), Some("lotl: source.Unavailable"));
    assert_eq!(state.current().unwrap().digest, digest);

    // 4. The store still holds the good snapshot, archived by its digest.
    let stored = store.trust().unwrap();
    assert_eq!(stored.current().unwrap().unwrap().digest(), digest);
    assert!(stored.archived(&digest).unwrap().is_some());
}

#[test]
fn unusable_trust_settings_stop_the_start_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut bad_anchor = config(&dir.path().join("a"), &lotl_390(), false);
    bad_anchor.trust.anchors = vec![PathBuf::from("/nonexistent/oj.pem")];
    match Gateway::prepare(bad_anchor) {
        Err(eidas_bridge::gateway::ServeError::Trust { reason }) => {
            assert!(reason.starts_with("/nonexistent/oj.pem: "), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    let mut bad_lote = config(&dir.path().join("b"), &lotl_390(), false);
    bad_lote.trust.lote = vec![PathBuf::from("/nonexistent/pid.jwt")];
    match Gateway::prepare(bad_lote) {
        Err(eidas_bridge::gateway::ServeError::Trust { reason }) => {
            assert!(reason.starts_with("/nonexistent/pid.jwt: "), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}
