//! Throwaway certificates for tests (feature `test-support`): a private CA
//! and a server certificate it signed, for `localhost` and `127.0.0.1`,
//! written as PEM files into a directory the caller owns.
//!
//! The TLS and QUIC tests of this crate and of the remote backend need a
//! certificate a client can validate against a CA file, made at test time
//! (nothing is checked in, nothing expires, nothing external). One helper in
//! one place: both crates' tests use it.
//!
//! The SDK's QUIC client has no CA-file option: it validates through the
//! platform verifier, which on Linux reads its roots from `SSL_CERT_FILE`.
//! Tests never change their own process's environment (other test threads
//! read it concurrently): the tests that need the variable are `#[ignore]`d
//! and run by [`run_trusting_in_child`] in a child process of the same test
//! binary, whose environment names the CA.

use std::{
    ffi::OsStr,
    fs,
    path::{Path, PathBuf},
    process::Command,
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
    /// The process-wide certificates of [`process_pki`] could not be made
    /// (at the first call).
    #[error("the process-wide test certificates could not be made: {0}")]
    Earlier(String),
    /// The tests run in a child process failed, or none ran.
    #[error("{0}")]
    Child(String),
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

/// Set in a child started by [`run_ignored_in_child`]: where the parent's
/// [`process_pki`] files are.
const PKI_DIR_VAR: &str = "RUSTOK_IGGY_TEST_PKI_DIR";

/// This test process's [`TestPki`]: made on the first call in a directory of
/// its own under `dir` (later calls return the same one). In a child started
/// by [`run_ignored_in_child`] it is the parent's, so that a server the child
/// starts has the certificate of the CA the child trusts.
pub fn process_pki(dir: &Path) -> Result<&'static TestPki, TestPkiError> {
    // Initialised under the lock: concurrent first callers must not write
    // two different CAs to the same files.
    static PKI: OnceLock<Result<TestPki, String>> = OnceLock::new();
    PKI.get_or_init(|| match std::env::var_os(PKI_DIR_VAR) {
        Some(parent) => Ok(TestPki::in_dir(Path::new(&parent))),
        None => {
            // One directory per process: test binaries running at the same
            // time do not overwrite each other's files.
            let dir = dir.join(std::process::id().to_string());
            fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            TestPki::generate(&dir).map_err(|e| e.to_string())
        }
    })
    .as_ref()
    .map_err(|e| TestPkiError::Earlier(e.clone()))
}

impl TestPki {
    /// The files [`TestPki::generate`] made in `dir`.
    fn in_dir(dir: &Path) -> Self {
        Self {
            ca_file: dir.join("ca.pem"),
            cert_file: dir.join("server.pem"),
            key_file: dir.join("server.key"),
            other_ca_file: dir.join("other-ca.pem"),
        }
    }

    /// The directory holding the files.
    fn dir(&self) -> &Path {
        self.ca_file.parent().unwrap_or(Path::new("."))
    }
}

/// Runs the `#[ignore]`d tests of this test binary whose names contain
/// `filter` in a child process whose platform verifier trusts `pki`'s CA
/// (and only it): `SSL_CERT_FILE` names the CA file and `SSL_CERT_DIR` is
/// unset, in the child's environment only. `pki` must come from
/// [`process_pki`]. Returns how many tests passed.
pub fn run_trusting_in_child(filter: &str, pki: &TestPki) -> Result<usize, TestPkiError> {
    run_ignored_in_child(
        filter,
        &[
            ("SSL_CERT_FILE", pki.ca_file.as_os_str()),
            (PKI_DIR_VAR, pki.dir().as_os_str()),
        ],
        &["SSL_CERT_DIR"],
    )
}

/// Runs the `#[ignore]`d tests of this test binary whose names contain
/// `filter` in a child process with the variables `set` set and `remove`
/// removed, for tests that need a process-wide setting. Returns how many
/// tests passed; an error carrying the child's output when one failed, the
/// child did not finish, or no test ran (a wrong filter must not pass).
pub fn run_ignored_in_child(
    filter: &str,
    set: &[(&str, &OsStr)],
    remove: &[&str],
) -> Result<usize, TestPkiError> {
    let cannot_run = |e: std::io::Error| TestPkiError::Child(format!("cannot run the child: {e}"));
    let mut command = Command::new(std::env::current_exe().map_err(cannot_run)?);
    command.args(["--ignored", "--test-threads=2", filter]);
    for (key, value) in set {
        command.env(key, value);
    }
    for key in remove {
        command.env_remove(key);
    }
    let out = command.output().map_err(cannot_run)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let passed = stdout
        .lines()
        .find_map(|line| line.strip_prefix("test result: ok. "))
        .and_then(|rest| rest.split_once(" passed"))
        .and_then(|(n, _)| n.parse::<usize>().ok());
    match passed {
        Some(n) if n > 0 && out.status.success() => Ok(n),
        _ => Err(TestPkiError::Child(format!(
            "the tests matching `{filter}` failed or did not run in the child ({}):\n{stdout}\n{stderr}",
            out.status
        ))),
    }
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
