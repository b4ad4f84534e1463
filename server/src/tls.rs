//! The server's certificate: loading it, and the rustls configurations of
//! the TLS (over TCP) and QUIC listeners built from it.
//!
//! The crypto provider is always *ring*, passed explicitly: the `iggy` SDK
//! links both ring and aws-lc-rs and installs one of them as the process
//! default depending on which of its clients ran first, so relying on the
//! default would make the server's behaviour depend on unrelated code.

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::Arc,
};

use rustls::{
    crypto::CryptoProvider,
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
    ServerConfig,
};

use crate::error::{Result, ServerError};

/// The server certificate chain and private key, as PEM files.
///
/// Given to [`ServerBuilder::tls`](crate::ServerBuilder::tls): the TCP
/// listener then speaks TLS only, and the QUIC listener (which always
/// encrypts) uses the same certificate. `Debug` shows the paths, never key
/// material.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// The certificate chain (PEM): the server certificate first, then any
    /// intermediates.
    pub cert_file: PathBuf,
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
}

impl TlsConfig {
    /// A certificate chain file and a key file.
    pub fn new(cert_file: impl Into<PathBuf>, key_file: impl Into<PathBuf>) -> Self {
        Self {
            cert_file: cert_file.into(),
            key_file: key_file.into(),
        }
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .finish()
    }
}

/// A loaded certificate and key, ready to build listener configurations.
pub(crate) struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn config_error(path: &Path, what: &str, why: impl fmt::Display) -> ServerError {
    ServerError::Config(format!("tls: {what} `{}`: {why}", path.display()))
}

impl Identity {
    /// Reads and checks the files; errors name the file and never show key
    /// bytes.
    pub(crate) fn load(config: &TlsConfig) -> Result<Self> {
        let chain = CertificateDer::pem_file_iter(&config.cert_file)
            .map_err(|e| config_error(&config.cert_file, "cert_file", e))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| config_error(&config.cert_file, "cert_file", e))?;
        if chain.is_empty() {
            return Err(config_error(
                &config.cert_file,
                "cert_file",
                "no PEM certificate in it",
            ));
        }
        let key = PrivateKeyDer::from_pem_file(&config.key_file)
            .map_err(|e| config_error(&config.key_file, "key_file", e))?;
        let identity = Self { chain, key };
        // Builds once so a key that does not match the certificate (or an
        // unsupported key type) fails `start`, not every handshake.
        identity.tcp()?;
        Ok(identity)
    }

    fn server_config(
        &self,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Result<ServerConfig> {
        ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)
            .map_err(|e| ServerError::Config(format!("tls: {e}")))?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|e| {
                ServerError::Config(format!(
                    "tls: the certificate and key cannot be used together: {e}"
                ))
            })
    }

    /// The configuration of the TLS-over-TCP listener (TLS 1.2 and 1.3).
    pub(crate) fn tcp(&self) -> Result<Arc<ServerConfig>> {
        Ok(Arc::new(self.server_config(rustls::DEFAULT_VERSIONS)?))
    }

    /// The configuration of the QUIC listener: TLS 1.3 only (QUIC requires
    /// it) and no ALPN, as the SDK's QUIC client offers none.
    pub(crate) fn quic(&self) -> Result<quinn::crypto::rustls::QuicServerConfig> {
        let config = self.server_config(&[&rustls::version::TLS13])?;
        quinn::crypto::rustls::QuicServerConfig::try_from(config)
            .map_err(|e| ServerError::Config(format!("tls: not usable for QUIC: {e}")))
    }
}
