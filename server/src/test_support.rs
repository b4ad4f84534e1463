//! Throwaway certificates for tests (feature `test-support`): a private CA
//! and a server certificate it signed, for `localhost` and `127.0.0.1`,
//! written as PEM files into a directory the caller owns.
//!
//! The TLS and QUIC tests of this crate and of the remote backend need a
//! certificate a client can validate against a CA file, made at test time
//! (nothing is checked in, nothing expires, nothing external). One helper in
//! one place: both crates' tests use it.

use std::{
    fs,
    path::{Path, PathBuf},
    sync::OnceLock,
};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

use crate::TlsConfig;

/// The names the server certificate is valid for.
pub const SERVER_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// A CA and a server certificate, as files.
#[derive(Debug, Clone)]
pub struct TestPki {
    /// The CA certificate (PEM): what a client trusts.
    pub ca_file: PathBuf,
    /// The server certificate chain (PEM): the server certificate, then the
    /// CA's.
    pub cert_file: PathBuf,
    /// The server's private key (PKCS#8 PEM).
    pub key_file: PathBuf,
    /// A second, unrelated CA (PEM), for "the wrong CA is refused" cases.
    pub other_ca_file: PathBuf,
}

/// Why certificates could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TestPkiError {
    /// Generating or signing failed.
    #[error("cannot make a test certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// Writing a file failed.
    #[error("cannot write a test certificate: {0}")]
    Io(#[from] std::io::Error),
    /// The process-wide certificates of [`platform_trusted`] could not be
    /// made (at the first call).
    #[error("the process-wide test certificates could not be made: {0}")]
    Earlier(String),
}

impl TestPki {
    /// Makes a CA, a server certificate for [`SERVER_NAMES`] it signed, and
    /// an unrelated second CA, in `dir` (`ca.pem`, `server.pem`,
    /// `server.key`, `other-ca.pem`).
    pub fn generate(dir: &Path) -> Result<Self, TestPkiError> {
        let ca = certificate_authority("rustok-iggy test CA")?;
        let other = certificate_authority("rustok-iggy unrelated CA")?;

        let mut params = CertificateParams::new(SERVER_NAMES.map(str::to_owned).to_vec())?;
        params
            .distinguished_name
            .push(DnType::CommonName, "rustok-iggy test server");
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &ca)?;

        let pki = Self {
            ca_file: dir.join("ca.pem"),
            cert_file: dir.join("server.pem"),
            key_file: dir.join("server.key"),
            other_ca_file: dir.join("other-ca.pem"),
        };
        fs::write(&pki.ca_file, ca.pem())?;
        fs::write(&pki.cert_file, format!("{}{}", cert.pem(), ca.pem()))?;
        fs::write(&pki.key_file, key.serialize_pem())?;
        fs::write(&pki.other_ca_file, other.pem())?;
        Ok(pki)
    }

    /// The server's certificate and key, for [`ServerBuilder::tls`](crate::ServerBuilder::tls).
    pub fn tls_config(&self) -> TlsConfig {
        TlsConfig::new(&self.cert_file, &self.key_file)
    }
}

/// The process's [`TestPki`] whose CA the *platform* verifier trusts: made
/// in `dir` on the first call, which points `SSL_CERT_FILE` at its CA file;
/// later calls return the same one (whatever `dir` they pass).
///
/// For the SDK's QUIC client, whose only validating mode uses the platform
/// verifier (no CA-file option): on Linux that verifier reads its roots from
/// `SSL_CERT_FILE` each time a client is created. The variable is
/// process-wide, so a test binary that uses this trusts that CA (and only
/// it, for platform-verified connections) in every test; call it before
/// creating any QUIC client.
pub fn platform_trusted(dir: &Path) -> Result<&'static TestPki, TestPkiError> {
    // Initialised under the lock: concurrent first callers must not write
    // two different CAs to the same file.
    static PKI: OnceLock<Result<TestPki, String>> = OnceLock::new();
    PKI.get_or_init(|| {
        fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let pki = TestPki::generate(dir).map_err(|e| e.to_string())?;
        std::env::set_var("SSL_CERT_FILE", &pki.ca_file);
        Ok(pki)
    })
    .as_ref()
    .map_err(|e| TestPkiError::Earlier(e.clone()))
}

fn certificate_authority(name: &str) -> Result<CertifiedIssuer<'static, KeyPair>, rcgen::Error> {
    let mut params = CertificateParams::new(Vec::new())?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(params, KeyPair::generate()?)
}
