//! Load limits over real mutual TLS on 127.0.0.1:0: a caller over its rate limit is refused with
//! RESOURCE_EXHAUSTED, the exact reason and a retry delay, while another caller is still served
//! and health stays exempt; a call whose handler never answers gets DEADLINE_EXCEEDED at the
//! smaller of the client's and the server's deadline; an oversized request is refused by the codec
//! with OUT_OF_RANGE and a clear message, not a connection reset.

use std::net::SocketAddr;
use std::time::Duration;

use bridge_proto::pb;
use bridge_proto::pb::exchange_service_client::ExchangeServiceClient;
use bridge_proto::pb::journal_service_client::JournalServiceClient;
use bridge_proto::pb::trust_service_client::TrustServiceClient;
use eidas_bridge::config::Config;
use eidas_bridge::devpki::DevPki;
use eidas_bridge::gateway::Gateway;
use eidas_bridge::grpc::Role;
use eidas_bridge::tls::{self, ClientIdentity};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::Code;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_types::StatusExt;

struct Running {
    addr: SocketAddr,
    metrics: SocketAddr,
    pki: DevPki,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), eidas_bridge::gateway::ServeError>>,
    _dir: tempfile::TempDir,
}

async fn start(configure: impl FnOnce(&mut Config)) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::defaults();
    config.server.data_dir = dir.path().join("data");
    config.trust.refresh = false;
    configure(&mut config);
    let (gateway, _) = Gateway::prepare(config).unwrap();
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
        stop,
        task,
        _dir: dir,
    }
}

impl Running {
    fn channel(&self, role: Role) -> tonic::transport::Channel {
        let id = ClientIdentity {
            chain: tls::read_certs(&self.pki.client_cert(role)).unwrap(),
            key: Some(tls::read_key(&self.pki.client_key(role)).unwrap()),
            server_cas: tls::read_certs(&self.pki.ca_cert()).unwrap(),
        };
        tls::connect(&self.addr.to_string(), &id).unwrap()
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

async fn metrics_text(addr: SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    tcp.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn a_caller_over_its_rate_is_refused_while_others_are_served() {
    // One call per second, no burst: consecutive calls of one caller are refused unless each
    // takes a full second. The auditor's budget is its own; health is never limited.
    let gw = start(|c| {
        c.limits.default.rate = 1;
        c.limits.default.burst = 1;
    })
    .await;
    let mut auditor = JournalServiceClient::new(gw.channel(Role::Auditor));
    auditor
        .get_checkpoint(pb::GetCheckpointRequest::default())
        .await
        .expect("the first call fits the burst");
    let mut refused = None;
    for _ in 0..20 {
        if let Err(status) = auditor
            .get_checkpoint(pb::GetCheckpointRequest::default())
            .await
        {
            refused = Some(status);
            break;
        }
    }
    let status = refused.expect("20 calls at once exceed one call per second");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let info = status.get_details_error_info().unwrap();
    assert_eq!(info.reason, "CALLER_RATE_LIMIT");
    assert_eq!(info.domain, "eidas-bridge");
    assert_eq!(info.metadata["rate_per_second"], "1");
    let delay = status
        .get_details_retry_info()
        .and_then(|r| r.retry_delay)
        .unwrap();
    assert!(
        delay > Duration::ZERO && delay <= Duration::from_secs(1),
        "{delay:?}"
    );

    // Another caller is served: the operator's bucket is untouched.
    let mut operator = TrustServiceClient::new(gw.channel(Role::Operator));
    operator
        .get_status(pb::GetTrustStatusRequest::default())
        .await
        .expect("another caller is served");

    // Health checks of the throttled caller are exempt.
    let mut health = HealthClient::new(gw.channel(Role::Auditor));
    for _ in 0..5 {
        health
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .expect("health is never limited");
    }

    let text = metrics_text(gw.metrics).await;
    let line = text
        .lines()
        .find(|l| {
            l.starts_with(
                "eidas_bridge_grpc_server_limit_refusals_total{reason=\"CALLER_RATE_LIMIT\"}",
            )
        })
        .unwrap_or_else(|| panic!("no refusal counter in:\n{text}"));
    let count: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(count >= 1, "{line}");
    assert!(text.contains("grpc_code=\"RESOURCE_EXHAUSTED\""));
    gw.stop().await;
}

/// Accepts TCP connections and never answers: a LOTL server that hangs.
async fn silent_server() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            held.push(tcp);
        }
    });
    (addr, task)
}

#[tokio::test]
async fn a_call_that_never_completes_gets_deadline_exceeded() {
    let (lotl, silent) = silent_server().await;
    let gw = start(|c| {
        c.trust.lotl = format!("https://{lotl}/lotl.xml");
        c.trust.fetch_timeout = Duration::from_secs(20);
        c.server.rpc_timeout = Duration::from_secs(2);
    })
    .await;
    let mut admin = TrustServiceClient::new(gw.channel(Role::Admin));

    // The client allows 10 s, the server 2 s: the server's smaller deadline applies and the
    // answer is DEADLINE_EXCEEDED (not tonic's CANCELLED). A client deadline smaller than the
    // server's is enforced by tonic's client itself before the server answers, so that case is
    // tested on the layer (`grpc::deadline` unit tests).
    let mut req = tonic::Request::new(pb::RefreshTrustRequest::default());
    req.set_timeout(Duration::from_secs(10));
    let status = admin.refresh(req).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    let info = status.get_details_error_info().unwrap();
    assert_eq!(info.reason, "DEADLINE_EXCEEDED");
    assert_eq!(info.metadata["deadline_ms"], "2000");

    // Without a client deadline the server's 2 s applies too (not the 20 s fetch timeout).
    let status = admin
        .refresh(pb::RefreshTrustRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert_eq!(
        status.get_details_error_info().unwrap().metadata["deadline_ms"],
        "2000"
    );
    silent.abort();
    gw.stop().await;
}

#[tokio::test]
async fn an_oversized_request_is_out_of_range_not_a_reset() {
    let gw = start(|_| {}).await;
    // ValidateCertificate keeps tonic's 4 MiB default; 5 MiB is refused by the codec.
    let mut operator = TrustServiceClient::new(gw.channel(Role::Operator));
    let status = operator
        .validate_certificate(pb::ValidateCertificateRequest {
            chain: vec![vec![0u8; 5 << 20]],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert!(
        status.message().contains("too large"),
        "{}",
        status.message()
    );
    // The connection survives: the same channel serves the next call.
    operator
        .get_status(pb::GetTrustStatusRequest::default())
        .await
        .expect("the channel is still usable");
    gw.stop().await;
}

fn submit(id: &str, payload: Vec<u8>) -> pb::SubmitRequest {
    pb::SubmitRequest {
        envelope: Some(pb::Envelope {
            message_id: id.into(),
            sender: Some(pb::Address {
                space: "mssante".into(),
                value: "jean-marie.dupont@infirmier.mssante.fr".into(),
            }),
            recipient: Some(pb::Address {
                space: "canonical".into(),
                value: "hcid:BE:nihii-hospital:71000436".into(),
            }),
            payload_sha256: Sha256::digest(&payload).to_vec(),
            payload,
            ..Default::default()
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_size_is_tied_to_the_payload_limit() {
    let dir = tempfile::tempdir().unwrap();
    let eco = test_ecosystem::Ecosystem::generate(b"limits test").unwrap();
    let pair = eidas_bridge::demo::start_pair(
        &eco,
        dir.path(),
        eidas_bridge::exchange::RetryPolicy::default(),
    )
    .await
    .unwrap();
    let max = eidas_bridge::exchange::DEFAULT_MAX_PAYLOAD as usize;
    let mut client = ExchangeServiceClient::new(pair.fr.operator_channel().unwrap());

    // One byte over the payload limit: the message decodes, the envelope check refuses it.
    let status = client
        .submit(submit("big-1", vec![1u8; max + 1]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(
        status.get_details_error_info().unwrap().reason,
        "PAYLOAD_TOO_LARGE"
    );

    // Beyond the payload limit plus the envelope allowance: the codec refuses before decoding.
    let limit = eidas_bridge::grpc::max_exchange_message(max as u64);
    let status = client
        .submit(submit("big-2", vec![2u8; limit + 1]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert!(
        status.message().contains("too large"),
        "{}",
        status.message()
    );

    // The channel is intact and a normal message goes through.
    client
        .submit(submit("small-1", vec![3u8; 1024]))
        .await
        .expect("a normal submit after the refusals");
    pair.fr.stop().await;
    pair.be.stop().await;
}
