//! The client side of mutual TLS: a tonic [`Channel`] whose connections are made by OpenSSL with a
//! client certificate, verifying the server against given anchors and its name (or IP address).

use std::sync::Arc;

use hyper_util::rt::TokioIo;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{SslConnector, SslMethod, SslVersion};
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::X509;
use tokio::net::TcpStream;
use tokio_openssl::SslStream;
use tonic::transport::{Channel, Endpoint, Uri};

use super::{TlsError, ALPN_H2};

/// A client certificate and the anchors for the server's certificate.
#[derive(Debug, Clone)]
pub struct ClientIdentity {
    /// Leaf first. Empty to connect without a client certificate (tests of refusal).
    pub chain: Vec<X509>,
    /// The leaf's key, when there is a leaf.
    pub key: Option<PKey<Private>>,
    /// Anchors for the server's certificate.
    pub server_cas: Vec<X509>,
}

impl ClientIdentity {
    fn connector(&self) -> Result<SslConnector, TlsError> {
        let mut b = SslConnector::builder(SslMethod::tls_client())?;
        b.set_min_proto_version(Some(SslVersion::TLS1_2))?;
        let mut store = X509StoreBuilder::new()?;
        for ca in &self.server_cas {
            store.add_cert(ca.clone())?;
        }
        b.set_verify_cert_store(store.build())?;
        let mut chain = self.chain.iter();
        if let (Some(leaf), Some(key)) = (chain.next(), &self.key) {
            b.set_certificate(leaf)?;
            b.set_private_key(key)?;
            for extra in chain {
                b.add_extra_chain_cert(extra.clone())?;
            }
        }
        b.set_alpn_protos(ALPN_H2)?;
        Ok(b.build())
    }
}

/// A check of the server's chain (DER, leaf first) made after the handshake, in place of the
/// host name check: peer bridges are identified by their trusted-list certificate, not by the
/// name they are dialled at.
pub type ServerCheck = Arc<dyn Fn(&[Vec<u8>]) -> bool + Send + Sync>;

/// Opens a lazily-connecting gRPC channel to `authority` (`host:port`) over mutual TLS. The server
/// name checked is the host part: a DNS name or an IP address in the server's subjectAltName.
///
/// # Errors
/// When the TLS material is unusable or the authority is not a valid URI authority.
pub fn connect(authority: &str, identity: &ClientIdentity) -> Result<Channel, TlsError> {
    open(authority, identity, None)
}

/// As [`connect`], but the server is accepted when its chain verifies against
/// `identity.server_cas` and `check` approves it; the host name is not checked.
///
/// # Errors
/// As [`connect`].
pub fn connect_checked(
    authority: &str,
    identity: &ClientIdentity,
    check: ServerCheck,
) -> Result<Channel, TlsError> {
    open(authority, identity, Some(check))
}

fn open(
    authority: &str,
    identity: &ClientIdentity,
    check: Option<ServerCheck>,
) -> Result<Channel, TlsError> {
    let connector = Arc::new(identity.connector()?);
    let endpoint =
        Endpoint::from_shared(format!("http://{authority}")).map_err(|e| TlsError::Connect {
            addr: authority.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
        })?;
    let channel = endpoint.connect_with_connector_lazy(tower::service_fn(move |uri: Uri| {
        let connector = connector.clone();
        let check = check.clone();
        async move {
            let host = uri.host().unwrap_or("localhost").trim_matches(['[', ']']);
            let port = uri.port_u16().unwrap_or(443);
            let tcp = TcpStream::connect((host, port)).await?;
            tcp.set_nodelay(true)?;
            let ssl = connector
                .configure()
                .map(|c| c.verify_hostname(check.is_none()))
                .and_then(|c| c.into_ssl(host))
                .map_err(std::io::Error::other)?;
            let mut stream = SslStream::new(ssl, tcp).map_err(std::io::Error::other)?;
            std::pin::Pin::new(&mut stream)
                .connect()
                .await
                .map_err(std::io::Error::other)?;
            if let Some(check) = check {
                let chain: Vec<Vec<u8>> = stream
                    .ssl()
                    .peer_cert_chain()
                    .map(|c| c.iter().filter_map(|x| x.to_der().ok()).collect())
                    .unwrap_or_default();
                if !check(&chain) {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::PermissionDenied,
                        "server certificate not trusted for this peer",
                    ));
                }
            }
            Ok::<_, std::io::Error>(TokioIo::new(stream))
        }
    }));
    Ok(channel)
}
