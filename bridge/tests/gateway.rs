//! The gateway over real mutual TLS on 127.0.0.1:0: handshake refusals, role checks, health,
//! reflection, metrics and graceful shutdown.

use std::net::SocketAddr;
use std::path::Path;

use bridge_proto::pb::addressing_service_client::AddressingServiceClient;
use bridge_proto::pb::identity_service_client::IdentityServiceClient;
use bridge_proto::pb::journal_service_client::JournalServiceClient;
use bridge_proto::pb::{
    CreateChallengeRequest, GetCheckpointRequest, PresentationFormat, TranslateRequest,
    VerifyPresentationRequest,
};
use eidas_bridge::config::Config;
use eidas_bridge::devpki::DevPki;
use eidas_bridge::gateway::Gateway;
use eidas_bridge::grpc::Role;
use eidas_bridge::tls::{self, ClientIdentity};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_types::StatusExt;

struct Running {
    addr: SocketAddr,
    metrics: SocketAddr,
    pki: DevPki,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), eidas_bridge::gateway::ServeError>>,
    _dir: tempfile::TempDir,
}

async fn start() -> Running {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::defaults();
    config.server.data_dir = dir.path().join("data");
    let (gateway, report) = Gateway::prepare(config).unwrap();
    assert!(
        report.dev_pki.as_ref().unwrap().1,
        "PKI generated on first run"
    );
    let pki = gateway.dev_pki().unwrap().clone();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let metrics = metrics_listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(gateway.run(listener, Some(metrics_listener), async move {
        let _ = stopped.await;
    }));
    Running {
        addr,
        metrics,
        pki,
        stop: Some(stop),
        task,
        _dir: dir,
    }
}

fn client_for(pki: &DevPki, server_ca: &Path, role: Option<Role>) -> ClientIdentity {
    let (chain, key) = match role {
        Some(role) => (
            tls::read_certs(&pki.client_cert(role)).unwrap(),
            Some(tls::read_key(&pki.client_key(role)).unwrap()),
        ),
        None => (Vec::new(), None),
    };
    ClientIdentity {
        chain,
        key,
        server_cas: tls::read_certs(server_ca).unwrap(),
    }
}

async fn health(addr: SocketAddr, id: &ClientIdentity) -> Result<i32, tonic::Status> {
    let channel = tls::connect(&addr.to_string(), id).unwrap();
    let mut client = HealthClient::new(channel);
    client
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .map(|r| r.into_inner().status)
}

#[tokio::test]
async fn mutual_tls_health_roles_and_metrics() {
    let mut gw = start().await;
    let ca = gw.pki.ca_cert();

    // 1. Every role's client answers a health check.
    for role in Role::ALL {
        let status = health(gw.addr, &client_for(&gw.pki, &ca, Some(role)))
            .await
            .unwrap_or_else(|e| panic!("{role}: {e}"));
        assert_eq!(status, ServingStatus::Serving as i32);
    }

    // 2. No client certificate: refused at the handshake, so the call never reaches a handler.
    // With TLS 1.3 the client learns of the refusal from the server's alert on its first read.
    let err = health(gw.addr, &client_for(&gw.pki, &ca, None))
        .await
        .unwrap_err();
    assert_refused_by_tls(&err, "certificate required");

    // 3. A certificate from another CA: refused at the handshake too.
    let other_dir = tempfile::tempdir().unwrap();
    let other = DevPki::new(other_dir.path());
    other.ensure().unwrap();
    let err = health(gw.addr, &client_for(&other, &ca, Some(Role::Operator)))
        .await
        .unwrap_err();
    // Both CAs carry the same name, so OpenSSL finds the issuer by name and the signature check
    // fails: "decrypt error" rather than "unknown ca". Either way the handshake refuses.
    assert_refused_by_tls(&err, "decrypt error");

    // 4. The wrong role: PERMISSION_DENIED with a machine-readable reason.
    let channel = tls::connect(
        &gw.addr.to_string(),
        &client_for(&gw.pki, &ca, Some(Role::Operator)),
    )
    .unwrap();
    let err = JournalServiceClient::new(channel)
        .get_checkpoint(GetCheckpointRequest {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let info = err.get_details_error_info().unwrap();
    assert_eq!(info.reason, "ROLE_NOT_GRANTED");
    assert_eq!(info.metadata["required_roles"], "auditor");

    // 5. The right roles get real answers: an auditor the signed checkpoint, an operator a
    //    translation, and a refused address its XB-ADDR code.
    let channel = tls::connect(
        &gw.addr.to_string(),
        &client_for(&gw.pki, &ca, Some(Role::Auditor)),
    )
    .unwrap();
    let cp = JournalServiceClient::new(channel)
        .get_checkpoint(GetCheckpointRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(
        cp.note.starts_with("eidas-bridge.fr/journal\n"),
        "{}",
        cp.note
    );
    assert!(cp.verifier_key.starts_with("eidas-bridge.fr/journal+"));
    let channel = tls::connect(
        &gw.addr.to_string(),
        &client_for(&gw.pki, &ca, Some(Role::Operator)),
    )
    .unwrap();
    let mut addressing = AddressingServiceClient::new(channel);
    let out = addressing
        .translate(TranslateRequest {
            address: "hcid:fr:RPPS:10003456789".into(),
            from_space: "canonical".into(),
            to_space: "canonical".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(out.output, "hcid:FR:rpps:10003456789");
    assert_eq!(out.hcid, "hcid:FR:rpps:10003456789");
    let err = addressing
        .translate(TranslateRequest {
            address: "hcid:FR:rpps:1000000000".into(),
            from_space: "canonical".into(),
            to_space: "mssante".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    let info = err.get_details_error_info().unwrap();
    assert_eq!(info.metadata["code"], "invalid_format");

    // 6. Wallet presentations: a challenge is single use, whatever the outcome.
    let channel = tls::connect(
        &gw.addr.to_string(),
        &client_for(&gw.pki, &ca, Some(Role::Operator)),
    )
    .unwrap();
    let mut identity = IdentityServiceClient::new(channel);
    let challenge = identity
        .create_challenge(CreateChallengeRequest {
            audience: "x509_san_dns:bridge.example.fr".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(challenge.nonce.len() >= 22, "at least 128 bits of nonce");
    let verify = VerifyPresentationRequest {
        format: PresentationFormat::SdJwtVc as i32,
        presentation: b"eyJhbGciOiJub25lIn0.e30.~".to_vec(),
        nonce: challenge.nonce.clone(),
        audience: challenge.audience.clone(),
        ..Default::default()
    };
    let err = identity
        .verify_presentation(verify.clone())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert_eq!(
        err.get_details_error_info().unwrap().reason,
        "PRESENTATION_REFUSED"
    );
    let err = identity.verify_presentation(verify).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert_eq!(
        err.get_details_error_info().unwrap().reason,
        "CHALLENGE_UNKNOWN_OR_USED"
    );

    // 7. Metrics count the calls by method and code.
    let body = http_get(gw.metrics, "/metrics").await;
    assert!(
        body.contains(r#"grpc_code="PERMISSION_DENIED",grpc_method="GetCheckpoint""#),
        "{body}"
    );
    assert!(
        body.contains(
            r#"grpc_code="OK",grpc_method="Check",grpc_service="grpc.health.v1.Health"} 4"#
        ),
        "{body}"
    );
    assert!(body.contains("eidas_bridge_grpc_server_handling_seconds_bucket"));

    // 8. Graceful shutdown returns cleanly.
    gw.stop.take().unwrap().send(()).unwrap();
    gw.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn reflection_lists_every_service() {
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;

    let gw = start().await;
    let channel = tls::connect(
        &gw.addr.to_string(),
        &client_for(&gw.pki, &gw.pki.ca_cert(), Some(Role::Auditor)),
    )
    .unwrap();
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = ServerReflectionClient::new(channel)
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let response = stream.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "grpc.health.v1.Health",
        "eidas.bridge.v1.TrustService",
        "eidas.bridge.v1.JournalService",
        "eidas.bridge.v1.PeerService",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
}

/// The call failed in the transport with the given TLS alert, before any gRPC status was produced.
/// When the connection is torn down before the client reads the alert, hyper reports CANCELLED
/// ("connection closed") and the alert text is lost; that is still a refusal before any handler.
fn assert_refused_by_tls(err: &tonic::Status, alert: &str) {
    let text = format!("{err:?}");
    match err.code() {
        Code::Unavailable | Code::Unknown => {
            assert!(text.contains(alert), "expected TLS alert {alert:?}: {text}")
        }
        Code::Cancelled => assert!(text.contains("connection closed"), "{text}"),
        other => panic!("refused at the handshake, got {other:?}: {text}"),
    }
}

async fn http_get(addr: SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut out = String::new();
    tcp.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn plain_text_health_listener_serves_only_health() {
    let dir = tempfile::tempdir().unwrap();
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let health_addr = free.local_addr().unwrap();
    drop(free);
    let mut config = Config::defaults();
    config.server.data_dir = dir.path().join("data");
    config.metrics.health_listen = Some(health_addr);
    config.trust.refresh = false;
    let (gateway, _) = Gateway::prepare(config).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(gateway.run(listener, None, async move {
        let _ = stopped.await;
    }));
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{health_addr}"))
        .unwrap()
        .connect_lazy();
    // The listener comes up inside `run`: retry briefly until it answers.
    let mut status = None;
    for _ in 0..100 {
        match HealthClient::new(channel.clone())
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
        {
            Ok(r) => {
                status = Some(r.into_inner().status);
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
    assert_eq!(status, Some(ServingStatus::Serving as i32));
    // Nothing else is reachable without mutual TLS.
    let err = JournalServiceClient::new(channel)
        .get_checkpoint(GetCheckpointRequest {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}
