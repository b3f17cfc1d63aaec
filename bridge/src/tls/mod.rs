//! Mutual TLS with OpenSSL: the server side (an acceptor and a stream of verified connections for
//! tonic) and the client side (a tonic channel over an OpenSSL connector, used by tests and by the
//! relay to peers).
//!
//! OpenSSL rather than rustls because certificate acceptance for foreign peers is delegated to the
//! trust-list store, whose chain building and qualification checks are written against `openssl`.

mod client;
mod reload;
mod server;

pub use client::{connect, connect_checked, ClientIdentity, ServerCheck};
pub use reload::{
    AcceptorSlot, ExtraClientCas, ReloadFollower, ReloadHandle, Reloader, TlsFiles,
    CA_POLL_INTERVAL,
};
pub use server::{incoming, PeerIdentity, ServerIdentity, TlsConnection};

use std::path::{Path, PathBuf};

use openssl::pkey::{PKey, Private};
use openssl::x509::X509;

/// Why TLS material could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A configured file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O cause.
        #[source]
        source: std::io::Error,
    },
    /// A file holds no PEM item of the expected kind.
    #[error("{path} holds no usable {what}")]
    Empty {
        /// The file.
        path: PathBuf,
        /// "certificate" or "private key".
        what: &'static str,
    },
    /// A private key is not the key of the certificate it is configured with.
    #[error("{key} is not the private key of the certificate in {cert}")]
    KeyMismatch {
        /// The key file.
        key: PathBuf,
        /// The certificate file.
        cert: PathBuf,
    },
    /// OpenSSL refused the material or the configuration.
    #[error("openssl: {0}")]
    OpenSsl(#[from] openssl::error::ErrorStack),
    /// A client address could not be dialled.
    #[error("connect to {addr}: {source}")]
    Connect {
        /// The peer address.
        addr: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Reads every certificate of a PEM file, in file order.
///
/// # Errors
/// When the file cannot be read or holds no certificate.
pub fn read_certs(path: &Path) -> Result<Vec<X509>, TlsError> {
    let certs = X509::stack_from_pem(&read(path)?)?;
    if certs.is_empty() {
        return Err(TlsError::Empty {
            path: path.to_owned(),
            what: "certificate",
        });
    }
    Ok(certs)
}

/// Reads a PEM private key.
///
/// # Errors
/// When the file cannot be read or holds no key.
pub fn read_key(path: &Path) -> Result<PKey<Private>, TlsError> {
    PKey::private_key_from_pem(&read(path)?).map_err(|_| TlsError::Empty {
        path: path.to_owned(),
        what: "private key",
    })
}

/// Reads a certificate chain (leaf first) and the leaf's private key, and checks that they belong
/// together: a key that does not match would only show at the peer, as signatures that never
/// verify.
///
/// # Errors
/// As [`read_certs`] and [`read_key`], and [`TlsError::KeyMismatch`].
pub fn read_key_pair(cert: &Path, key: &Path) -> Result<(Vec<X509>, PKey<Private>), TlsError> {
    let chain = read_certs(cert)?;
    let private = read_key(key)?;
    // read_certs refuses a file without certificates, so there is a leaf.
    let matches = match chain.first() {
        Some(leaf) => leaf.public_key()?.public_eq(&private),
        None => false,
    };
    if !matches {
        return Err(TlsError::KeyMismatch {
            key: key.to_owned(),
            cert: cert.to_owned(),
        });
    }
    Ok((chain, private))
}

/// ALPN protocol list offering HTTP/2 only: gRPC clients (grpc-core, grpc-go) insist on `h2`.
const ALPN_H2: &[u8] = b"\x02h2";
