//! The client side of TLS on the command line, shared by `chat client` and
//! `chat bench`: the same flags, meaning the same thing, and one way of
//! turning them into what the connection trusts.

use chat_runtime_common::tls::{ClientTls, HandshakeError, Trust};
use clap::Args;
use rustls::{CertificateError, Error as TlsError};
use std::io;
use std::path::PathBuf;

/// `--tls`, `--ca`, `--tls-insecure`.
#[derive(Debug, Args)]
pub(crate) struct TlsFlags {
    /// Speak TLS, checking the server's certificate against the system's roots (or --ca)
    #[arg(long)]
    pub(crate) tls: bool,

    /// Trust only the CA certificates in this PEM file (with --tls)
    #[arg(long, value_name = "FILE", requires = "tls")]
    pub(crate) ca: Option<PathBuf>,

    /// Speak TLS without checking the server's certificate at all (unsafe: for tests)
    #[arg(long, conflicts_with = "ca")]
    pub(crate) tls_insecure: bool,
}

impl TlsFlags {
    /// Whether the connection speaks TLS.
    pub(crate) fn speaks_tls(&self) -> bool {
        self.tls || self.tls_insecure
    }

    /// What the connection trusts, for a server that must prove `host` (as
    /// typed, without IPv6 brackets); `None` without TLS. Warns loudly on
    /// stderr with `--tls-insecure`.
    ///
    /// # Errors
    /// The CA file cannot be used, or `host` is no valid server name: a
    /// one-line description.
    pub(crate) fn client_tls(&self, host: &str) -> Result<Option<ClientTls>, String> {
        if !self.speaks_tls() {
            return Ok(None);
        }
        let trust = if self.tls_insecure {
            crate::out::stderr_line(
                "WARNING: --tls-insecure: the server's certificate is NOT checked; \
                 anyone on the path can read and change this chat",
            );
            Trust::Insecure
        } else {
            match &self.ca {
                Some(path) => Trust::CaFile(path),
                None => Trust::SystemRoots,
            }
        };
        ClientTls::new(trust, host)
            .map(Some)
            .map_err(|e| format!("cannot set up TLS: {e}"))
    }
}

/// A failed TLS handshake with the server, in one sentence with a hint;
/// `None` when `err` is no handshake failure this knows how to say.
pub(crate) fn explain_handshake(err: &io::Error) -> Option<String> {
    let HandshakeError::Tls(error) = err.get_ref()?.downcast_ref::<HandshakeError>()? else {
        return None;
    };
    let words = match error {
        TlsError::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "the server's certificate is not signed by an authority you trust \
             (give its CA, or the certificate itself, with --ca FILE; \
             --tls-insecure skips the check)"
                .to_string()
        }
        TlsError::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => "the server's certificate is not for this host name \
              (connect with a --host the certificate names)"
            .to_string(),
        TlsError::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => "the server's certificate has expired".to_string(),
        TlsError::InvalidCertificate(CertificateError::Other(other))
            if format!("{other:?}").contains("CaUsedAsEndEntity") =>
        {
            "the server's certificate is a CA certificate, which cannot name a server \
             (give that very certificate with --ca FILE to trust it)"
                .to_string()
        }
        TlsError::InvalidMessage(_) => {
            "the server does not speak TLS on this port (leave out --tls, or use its TLS port)"
                .to_string()
        }
        TlsError::AlertReceived(alert) => {
            format!("the server refused the TLS handshake ({alert:?})")
        }
        _ => return None,
    };
    Some(words)
}
