//! The server side of mutual TLS: every connection is handshaken off the accept loop (so one slow
//! client cannot stall others), bounded by a timeout, and only verified connections reach tonic.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use openssl::pkey::{PKey, Private};
use openssl::ssl::{
    select_next_proto, AlpnError, Ssl, SslAcceptor, SslMethod, SslVerifyMode, SslVersion,
};
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::X509;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_openssl::SslStream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;

use super::{AcceptorSlot, TlsError, ALPN_H2};

/// How many verified connections may wait for tonic to pick them up. The accept loop pauses when
/// tonic falls behind rather than buffering without bound.
const PENDING_CONNECTIONS: usize = 128;

/// The server's certificate, key, and the CAs it accepts client certificates from.
#[derive(Debug, Clone)]
pub struct ServerIdentity {
    /// Leaf first, then intermediates.
    pub chain: Vec<X509>,
    /// The leaf's key.
    pub key: PKey<Private>,
    /// Anchors for client certificates.
    pub client_cas: Vec<X509>,
}

impl ServerIdentity {
    /// Builds the OpenSSL acceptor: TLS 1.2+, client certificate required and verified, `h2` ALPN.
    ///
    /// # Errors
    /// When OpenSSL refuses the key, the chain or the CAs.
    pub fn acceptor(&self) -> Result<SslAcceptor, TlsError> {
        let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())?;
        b.set_min_proto_version(Some(SslVersion::TLS1_2))?;
        b.set_private_key(&self.key)?;
        let mut chain = self.chain.iter();
        if let Some(leaf) = chain.next() {
            b.set_certificate(leaf)?;
        }
        for extra in chain {
            b.add_extra_chain_cert(extra.clone())?;
        }
        b.check_private_key()?;
        let mut store = X509StoreBuilder::new()?;
        for ca in &self.client_cas {
            store.add_cert(ca.clone())?;
            b.add_client_ca(ca)?;
        }
        b.set_verify_cert_store(store.build())?;
        b.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
        b.set_alpn_select_callback(|_, offered| {
            select_next_proto(ALPN_H2, offered).ok_or(AlpnError::ALERT_FATAL)
        });
        Ok(b.build())
    }
}

/// What the handshake established about the client, available to every request as an extension.
#[derive(Debug, Clone)]
pub struct PeerIdentity {
    /// The client's socket address.
    pub remote: SocketAddr,
    /// The chain the client presented, DER, leaf first (verified by the handshake).
    pub chain: Arc<[Vec<u8>]>,
}

/// A verified TLS connection.
#[derive(Debug)]
pub struct TlsConnection {
    stream: SslStream<TcpStream>,
    peer: PeerIdentity,
}

impl Connected for TlsConnection {
    type ConnectInfo = PeerIdentity;

    fn connect_info(&self) -> PeerIdentity {
        self.peer.clone()
    }
}

impl AsyncRead for TlsConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

async fn handshake(
    acceptor: &SslAcceptor,
    tcp: TcpStream,
    remote: SocketAddr,
) -> Result<TlsConnection, String> {
    let ssl = Ssl::new(acceptor.context()).map_err(|e| e.to_string())?;
    let mut stream = SslStream::new(ssl, tcp).map_err(|e| e.to_string())?;
    Pin::new(&mut stream)
        .accept()
        .await
        .map_err(|e| e.to_string())?;
    let ssl = stream.ssl();
    let leaf = ssl
        .peer_certificate()
        .ok_or_else(|| "no client certificate".to_owned())?;
    let mut chain = vec![leaf.to_der().map_err(|e| e.to_string())?];
    // On the server side OpenSSL's peer chain excludes the leaf.
    if let Some(rest) = ssl.peer_cert_chain() {
        for cert in rest {
            let der = cert.to_der().map_err(|e| e.to_string())?;
            if der != chain[0] {
                chain.push(der);
            }
        }
    }
    Ok(TlsConnection {
        stream,
        peer: PeerIdentity {
            remote,
            chain: chain.into(),
        },
    })
}

/// Accepts TCP connections on `listener` and yields the ones whose mutual-TLS handshake succeeded
/// within `handshake_timeout`. Refused handshakes are logged at debug level and dropped. Dropping
/// the stream (as tonic does on shutdown) stops the accept loop and closes the listening socket.
///
/// Each handshake uses the acceptor in force when the connection arrived, so a slot replaced by a
/// reload (see [`super::Reloader`]) takes effect for new connections at once.
pub fn incoming(
    listener: TcpListener,
    acceptor: impl Into<AcceptorSlot>,
    handshake_timeout: Duration,
) -> ReceiverStream<Result<TlsConnection, io::Error>> {
    let (tx, rx) = mpsc::channel(PENDING_CONNECTIONS);
    let slot: AcceptorSlot = acceptor.into();
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = tx.closed() => break,
                accepted = listener.accept() => accepted,
            };
            let (tcp, remote) = match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let tx = tx.clone();
            let acceptor = slot.current();
            tokio::spawn(async move {
                match tokio::time::timeout(handshake_timeout, handshake(&acceptor, tcp, remote))
                    .await
                {
                    Ok(Ok(conn)) => {
                        let _ = tx.send(Ok(conn)).await;
                    }
                    Ok(Err(reason)) => {
                        tracing::debug!(%remote, %reason, "tls handshake refused");
                    }
                    Err(_) => tracing::debug!(%remote, "tls handshake timed out"),
                }
            });
        }
    });
    ReceiverStream::new(rx)
}
