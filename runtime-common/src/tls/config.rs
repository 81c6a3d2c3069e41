//! What a TLS server presents and what a TLS client trusts.

use super::insecure::NoVerification;
use super::pinned::PinnedOrSignedBy;
use super::provider;
use super::validity::{CertWarning, Validity};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::SystemTime;

/// A certificate or key file that cannot be used, and why.
#[derive(Debug)]
pub struct TlsFileError {
    /// The file at fault.
    pub path: PathBuf,
    /// What is wrong with it, lowercase, without the path.
    pub problem: String,
}

impl fmt::Display for TlsFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.problem)
    }
}

impl std::error::Error for TlsFileError {}

fn file_error(path: &Path, problem: impl fmt::Display) -> TlsFileError {
    TlsFileError {
        path: path.to_path_buf(),
        problem: problem.to_string(),
    }
}

/// Describes a PEM parsing failure in a few words.
fn pem_problem(error: &rustls::pki_types::pem::Error, what: &str) -> String {
    use rustls::pki_types::pem::Error;
    match error {
        Error::Io(io) => io.to_string().to_lowercase(),
        Error::NoItemsFound => format!("no {what} found (PEM expected)"),
        Error::MissingSectionEnd { end_marker } => format!(
            "the PEM {what} is cut short: its \"-----END {}-----\" line is missing \
             (a truncated file?)",
            String::from_utf8_lossy(end_marker).trim()
        ),
        Error::IllegalSectionStart { .. } => {
            format!("the PEM {what} has a damaged BEGIN line")
        }
        Error::Base64Decode(_) => {
            format!("the PEM {what} is damaged: its text between BEGIN and END is not valid base64")
        }
        Error::SectionTooLarge => format!("the PEM {what} is too large"),
        other => format!("not a valid PEM {what}: {other}"),
    }
}

/// The certificate chain and key a TLS port presents, reloadable.
///
/// # Invariants
/// The configuration held is always one that loaded whole: a reload that
/// fails keeps the previous one.
#[derive(Debug)]
pub struct ServerTls {
    cert_path: PathBuf,
    key_path: PathBuf,
    /// The configuration, and the validity of its leaf certificate.
    config: RwLock<(Arc<ServerConfig>, Validity)>,
}

impl ServerTls {
    /// Loads a PEM certificate chain (leaf first) and a PEM private key.
    ///
    /// # Errors
    /// The first file that cannot be read or parsed, or the key when it does
    /// not match the certificate.
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<ServerTls, TlsFileError> {
        let config = load_server_config(cert_path, key_path)?;
        Ok(ServerTls {
            cert_path: cert_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
            config: RwLock::new(config),
        })
    }

    /// Loads the same two files again; new connections get what they hold
    /// now, open ones keep theirs. On an error the old ones stay in use.
    ///
    /// # Errors
    /// As [`ServerTls::load`].
    pub fn reload(&self) -> Result<(), TlsFileError> {
        let config = load_server_config(&self.cert_path, &self.key_path)?;
        *self.config.write().unwrap_or_else(PoisonError::into_inner) = config;
        Ok(())
    }

    /// What is wrong, or soon will be, with the validity period of the
    /// certificate in use at `now`, if anything (see [`Validity::warning`]).
    pub fn warning(&self, now: SystemTime) -> Option<CertWarning> {
        let (_, validity) = &*self.config.read().unwrap_or_else(PoisonError::into_inner);
        validity.warning(now)
    }

    /// The configuration new connections use.
    pub(crate) fn current(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.config.read().unwrap_or_else(PoisonError::into_inner).0)
    }
}

fn load_server_config(
    cert_path: &Path,
    key_path: &Path,
) -> Result<(Arc<ServerConfig>, Validity), TlsFileError> {
    let chain = CertificateDer::pem_file_iter(cert_path)
        .map_err(|e| file_error(cert_path, pem_problem(&e, "certificate")))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(cert_path, pem_problem(&e, "certificate")))?;
    let Some(leaf) = chain.first() else {
        return Err(file_error(cert_path, "no certificate found (PEM expected)"));
    };
    let validity = Validity::of(leaf).map_err(|e| file_error(cert_path, e))?;
    let key = PrivateKeyDer::from_pem_file(key_path)
        .map_err(|e| file_error(key_path, pem_problem(&e, "private key")))?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| file_error(cert_path, e))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| file_error(key_path, describe_key_error(&e)))?;
    Ok((Arc::new(config), validity))
}

fn describe_key_error(error: &rustls::Error) -> String {
    match error {
        rustls::Error::InconsistentKeys(_) => "the key does not match the certificate".into(),
        other => other.to_string(),
    }
}

/// What a TLS client trusts, and the name it expects the server to prove.
#[derive(Clone, Debug)]
pub struct ClientTls {
    pub(crate) config: Arc<ClientConfig>,
    pub(crate) server_name: ServerName<'static>,
}

/// Whom a [`ClientTls`] trusts.
#[derive(Debug)]
pub enum Trust<'a> {
    /// The web's root certificates (Mozilla's list, built in).
    SystemRoots,
    /// Only the certificates in this PEM file: the server presenting one of
    /// them (a pin, whatever its basic constraints), or one they signed.
    CaFile(&'a Path),
    /// Any certificate at all: no protection against an impostor.
    Insecure,
}

impl ClientTls {
    /// A client configuration that checks the server against `trust` and
    /// expects it to prove `host` (a DNS name or an IP address).
    ///
    /// # Errors
    /// The CA file cannot be read or holds no usable certificate, or `host`
    /// is no valid server name.
    pub fn new(trust: Trust<'_>, host: &str) -> Result<ClientTls, TlsFileError> {
        let server_name = ServerName::try_from(host.to_string()).map_err(|e| TlsFileError {
            path: PathBuf::from(host),
            problem: format!("not a valid server name: {e}"),
        })?;
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| file_error(Path::new(host), e))?;
        let config = match trust {
            Trust::Insecure => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerification::new()))
                .with_no_client_auth(),
            Trust::SystemRoots => {
                let roots = RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                };
                builder.with_root_certificates(roots).with_no_client_auth()
            }
            Trust::CaFile(path) => {
                let certs = CertificateDer::pem_file_iter(path)
                    .map_err(|e| file_error(path, pem_problem(&e, "certificate")))?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| file_error(path, pem_problem(&e, "certificate")))?;
                if certs.is_empty() {
                    return Err(file_error(path, "no certificate found (PEM expected)"));
                }
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(PinnedOrSignedBy::new(certs)))
                    .with_no_client_auth()
            }
        };
        Ok(ClientTls {
            config: Arc::new(config),
            server_name,
        })
    }
}
