//! Certificate rotation without downtime: the gateway's TLS identity is replaced on disk and
//! reloaded through the reload handle (what SIGHUP does in the binary) while it serves. New
//! handshakes get the new certificate, connections made before keep working, and a reload that
//! cannot read its files keeps the identity in force and says why.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use eidas_bridge::config::Config;
use eidas_bridge::devpki::DevPki;
use eidas_bridge::gateway::Gateway;
use eidas_bridge::grpc::Role;
use eidas_bridge::tls::{self, ClientIdentity, ReloadHandle};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// A client presenting `pki`'s operator certificate and trusting only `server_ca` for the server.
fn operator_trusting(pki: &DevPki, server_ca: &Path) -> ClientIdentity {
    ClientIdentity {
        chain: tls::read_certs(&pki.client_cert(Role::Operator)).unwrap(),
        key: Some(tls::read_key(&pki.client_key(Role::Operator)).unwrap()),
        server_cas: tls::read_certs(server_ca).unwrap(),
    }
}

async fn check(client: &mut HealthClient<tonic::transport::Channel>) -> Result<i32, tonic::Status> {
    client
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .map(|r| r.into_inner().status)
}

async fn health(addr: SocketAddr, id: &ClientIdentity) -> Result<i32, tonic::Status> {
    let mut client = HealthClient::new(tls::connect(&addr.to_string(), id).unwrap());
    check(&mut client).await
}

/// Waits until the reloader reports `expected` (bounded, so a lost reload fails the test rather
/// than hanging it).
async fn outcome(handle: &ReloadHandle, expected: impl Fn(&Result<u64, String>) -> bool) {
    let mut rx = handle.outcomes();
    tokio::time::timeout(Duration::from_secs(20), rx.wait_for(|o| expected(o)))
        .await
        .expect("the reload outcome arrives")
        .expect("the reloader is running");
}

#[tokio::test]
async fn a_rotated_server_certificate_is_served_after_reload_without_dropping_connections() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::defaults();
    config.server.data_dir = dir.path().join("data");
    let (gateway, _) = Gateway::prepare(config).unwrap();
    let pki = gateway.dev_pki().unwrap().clone();
    let handle = gateway.reload_handle();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(gateway.run(listener, None, async move {
        let _ = stopped.await;
    }));

    // A second PKI supplies the new server certificate: a client that trusts only the new CA
    // tells the two apart (both CAs carry the same name, their keys differ).
    let next_dir = tempfile::tempdir().unwrap();
    let next = DevPki::new(next_dir.path());
    next.ensure().unwrap();
    let old_view = operator_trusting(&pki, &pki.ca_cert());
    let new_view = operator_trusting(&pki, &next.ca_cert());

    let mut kept = HealthClient::new(tls::connect(&addr.to_string(), &old_view).unwrap());
    assert_eq!(
        check(&mut kept).await.unwrap(),
        ServingStatus::Serving as i32
    );
    assert!(
        health(addr, &new_view).await.is_err(),
        "before the reload the server presents the old certificate"
    );

    // Rotate: new certificate and key in place of the old (client CAs unchanged), then reload.
    std::fs::copy(next.server_cert(), pki.server_cert()).unwrap();
    std::fs::copy(next.server_key(), pki.server_key()).unwrap();
    handle.reload();
    outcome(&handle, |o| *o == Ok(1)).await;

    assert_eq!(
        health(addr, &new_view).await.unwrap(),
        ServingStatus::Serving as i32,
        "new handshakes get the new certificate"
    );
    assert!(
        health(addr, &old_view).await.is_err(),
        "and no longer the old one"
    );
    assert_eq!(
        check(&mut kept).await.unwrap(),
        ServingStatus::Serving as i32,
        "a connection made before the reload keeps working"
    );

    // A broken rotation (a key file that is not a key) is refused; the identity in force stays.
    std::fs::write(pki.server_key(), b"not a key").unwrap();
    handle.reload();
    outcome(&handle, |o| {
        o.as_ref()
            .is_err_and(|reason| reason.contains("server.key") && reason.contains("private key"))
    })
    .await;
    assert_eq!(
        health(addr, &new_view).await.unwrap(),
        ServingStatus::Serving as i32,
        "a refused reload keeps serving the identity in force"
    );

    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

/// Client CAs that a test changes at will, standing in for the peers' CAs of a trust snapshot.
#[derive(Debug, Default)]
struct SwitchableCas(std::sync::Mutex<(Option<[u8; 32]>, Vec<openssl::x509::X509>)>);

impl tls::ExtraClientCas for SwitchableCas {
    fn version(&self) -> Option<[u8; 32]> {
        self.0.lock().unwrap().0
    }
    fn cas(&self) -> Vec<openssl::x509::X509> {
        self.0.lock().unwrap().1.clone()
    }
}

#[tokio::test]
async fn a_client_ca_added_by_a_trust_refresh_is_accepted_without_a_reload_request() {
    let dir = tempfile::tempdir().unwrap();
    let own = DevPki::new(dir.path());
    own.ensure().unwrap();
    let peer_dir = tempfile::tempdir().unwrap();
    let peer = DevPki::new(peer_dir.path());
    peer.ensure().unwrap();

    // No client CA file: both development CAs carry the same name, and OpenSSL picks an issuer by
    // name, so the peer's CA must not share the store with ours for the test to tell them apart.
    let files = tls::TlsFiles {
        chain: own.server_cert(),
        key: own.server_key(),
        client_ca: Vec::new(),
    };
    let extra = Arc::new(SwitchableCas::default());
    let slot = tls::AcceptorSlot::from(files.load(&[]).unwrap().acceptor().unwrap());
    let handle = ReloadHandle::default();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let reloader = tls::Reloader::new(files, Some(extra.clone()), slot.clone(), handle.clone());
    let reloading = tokio::spawn(reloader.run(stop_rx));

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = tls::incoming(listener, slot, Duration::from_secs(5));
    let (_reporter, health_service) = tonic_health::server::health_reporter();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(health_service)
            .serve_with_incoming(incoming),
    );

    // The peer's client certificate comes from a CA the server does not know yet.
    let peer_client = operator_trusting(&peer, &own.ca_cert());
    assert!(
        health(addr, &peer_client).await.is_err(),
        "a CA not yet announced is refused at the handshake"
    );

    // A refresh announces the peer's CA: the snapshot version changes, no reload is requested.
    *extra.0.lock().unwrap() = (Some([1; 32]), tls::read_certs(&peer.ca_cert()).unwrap());
    outcome(&handle, |o| *o == Ok(1)).await;
    assert_eq!(
        health(addr, &peer_client).await.unwrap(),
        ServingStatus::Serving as i32,
        "after the refresh the peer's chain is accepted"
    );

    // The list withdraws it again.
    *extra.0.lock().unwrap() = (Some([2; 32]), Vec::new());
    outcome(&handle, |o| *o == Ok(2)).await;
    assert!(
        health(addr, &peer_client).await.is_err(),
        "a withdrawn CA is refused again"
    );

    stop_tx.send(true).unwrap();
    reloading.await.unwrap();
    server.abort();
}
