//! The local development PKI that `serve` generates on first run when no TLS material is configured:
//! one CA, a server certificate for loopback, and one client certificate per role, written under
//! `<data_dir>/pki`. Reused on later runs. Never meant for production: the CA key sits next to it.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName, SubjectKeyIdentifier,
};
use openssl::x509::{X509Builder, X509NameBuilder, X509};

use crate::grpc::Role;
use crate::tls::TlsError;

/// Certificates live two years: long enough to not bother a developer, short enough that a
/// forgotten development CA does not outlive the laptop.
const VALIDITY_DAYS: u32 = 730;
/// Organisation written in every development certificate, so nobody mistakes them for real ones.
const DEV_ORGANISATION: &str = "eidas-bridge development";

/// Paths of the development PKI files.
#[derive(Debug, Clone)]
pub struct DevPki {
    /// The directory (`<data_dir>/pki`).
    pub dir: PathBuf,
}

impl DevPki {
    /// The PKI under `data_dir`.
    pub fn new(data_dir: &Path) -> DevPki {
        DevPki {
            dir: data_dir.join("pki"),
        }
    }

    /// The CA certificate.
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The server certificate.
    pub fn server_cert(&self) -> PathBuf {
        self.dir.join("server.pem")
    }

    /// The server key.
    pub fn server_key(&self) -> PathBuf {
        self.dir.join("server.key")
    }

    /// The client certificate for a role.
    pub fn client_cert(&self, role: Role) -> PathBuf {
        self.dir.join(format!("{role}.pem"))
    }

    /// The client key for a role.
    pub fn client_key(&self, role: Role) -> PathBuf {
        self.dir.join(format!("{role}.key"))
    }

    /// Generates the PKI unless it is already complete. Returns true when it was generated now.
    ///
    /// # Errors
    /// On file system or OpenSSL failure.
    pub fn ensure(&self) -> Result<bool, TlsError> {
        let complete = std::iter::once(self.ca_cert())
            .chain([self.server_cert(), self.server_key()])
            .chain(
                Role::ALL
                    .iter()
                    .flat_map(|r| [self.client_cert(*r), self.client_key(*r)]),
            )
            .all(|p| p.exists());
        if complete {
            return Ok(false);
        }
        fs::create_dir_all(&self.dir).map_err(|source| TlsError::Read {
            path: self.dir.clone(),
            source,
        })?;
        let (ca, ca_key) = issue(None, "eidas-bridge development CA", Usage::Ca)?;
        self.write_pem(&self.ca_cert(), &ca.to_pem()?, false)?;
        let (server, server_key) = issue(Some((&ca, &ca_key)), "localhost", Usage::Server)?;
        self.write_pem(&self.server_cert(), &server.to_pem()?, false)?;
        self.write_pem(
            &self.server_key(),
            &server_key.private_key_to_pem_pkcs8()?,
            true,
        )?;
        for role in Role::ALL {
            let (cert, key) = issue(Some((&ca, &ca_key)), &format!("dev-{role}"), Usage::Client)?;
            self.write_pem(&self.client_cert(role), &cert.to_pem()?, false)?;
            self.write_pem(
                &self.client_key(role),
                &key.private_key_to_pem_pkcs8()?,
                true,
            )?;
        }
        Ok(true)
    }

    fn write_pem(&self, path: &Path, pem: &[u8], secret: bool) -> Result<(), TlsError> {
        let io_err = |source| TlsError::Read {
            path: path.to_owned(),
            source,
        };
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(if secret { 0o600 } else { 0o644 });
        }
        let mut file = options.open(path).map_err(io_err)?;
        file.write_all(pem).map_err(io_err)?;
        file.sync_all().map_err(io_err)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Usage {
    Ca,
    Server,
    Client,
}

fn issue(
    issuer: Option<(&X509, &PKey<Private>)>,
    common_name: &str,
    usage: Usage,
) -> Result<(X509, PKey<Private>), TlsError> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    let key = PKey::from_ec_key(EcKey::generate(&group)?)?;

    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_nid(Nid::COUNTRYNAME, "EU")?;
    name.append_entry_by_nid(Nid::ORGANIZATIONNAME, DEV_ORGANISATION)?;
    name.append_entry_by_nid(Nid::COMMONNAME, common_name)?;
    let name = name.build();

    let mut b = X509Builder::new()?;
    b.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
    let serial = serial.to_asn1_integer()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&name)?;
    b.set_pubkey(&key)?;
    // Back-dated an hour so a client with a slightly slow clock accepts a fresh certificate.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let not_before = Asn1Time::from_unix(now - 3600)?;
    let not_after = Asn1Time::days_from_now(VALIDITY_DAYS)?;
    b.set_not_before(&not_before)?;
    b.set_not_after(&not_after)?;

    match usage {
        Usage::Ca => {
            b.set_issuer_name(&name)?;
            b.append_extension(BasicConstraints::new().critical().ca().build()?)?;
            b.append_extension(
                KeyUsage::new()
                    .critical()
                    .key_cert_sign()
                    .crl_sign()
                    .build()?,
            )?;
        }
        Usage::Server | Usage::Client => {
            let (ca, _) = issuer.ok_or_else(openssl::error::ErrorStack::get)?;
            b.set_issuer_name(ca.subject_name())?;
            b.append_extension(BasicConstraints::new().critical().build()?)?;
            b.append_extension(
                KeyUsage::new()
                    .critical()
                    .digital_signature()
                    .key_agreement()
                    .build()?,
            )?;
            let ctx = b.x509v3_context(Some(ca), None);
            if usage == Usage::Server {
                let san = SubjectAlternativeName::new()
                    .dns("localhost")
                    .ip("127.0.0.1")
                    .ip("::1")
                    .build(&ctx)?;
                b.append_extension(san)?;
                b.append_extension(ExtendedKeyUsage::new().server_auth().build()?)?;
            } else {
                b.append_extension(ExtendedKeyUsage::new().client_auth().build()?)?;
            }
        }
    }
    let ski = SubjectKeyIdentifier::new().build(&b.x509v3_context(None, None))?;
    b.append_extension(ski)?;
    let signing_key = issuer.map(|(_, k)| k).unwrap_or(&key);
    b.sign(signing_key, MessageDigest::sha256())?;
    Ok((b.build(), key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_once_and_chains_to_ca() {
        let dir = tempfile::tempdir().unwrap();
        let pki = DevPki::new(dir.path());
        assert!(pki.ensure().unwrap());
        assert!(!pki.ensure().unwrap(), "second run reuses the files");
        let ca = crate::tls::read_certs(&pki.ca_cert()).unwrap().remove(0);
        for path in [pki.server_cert(), pki.client_cert(Role::Auditor)] {
            let cert = crate::tls::read_certs(&path).unwrap().remove(0);
            assert!(cert.verify(&ca.public_key().unwrap()).unwrap());
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(pki.server_key()).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "keys are private");
        }
    }
}
