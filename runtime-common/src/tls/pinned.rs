//! The verifier behind `--ca FILE`: the server is trusted when it presents
//! exactly one of the file's certificates (a pin, whatever that
//! certificate's basic constraints say), or a certificate the file's CAs
//! signed.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_name, WebPkiServerVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{DigitallySignedStruct, Error, RootCertStore, SignatureScheme};
use std::sync::Arc;

use super::insecure::NoVerification;

/// Trusts the certificates of a CA file, as pins and as CAs.
///
/// # Invariants
/// - A pinned certificate is accepted only for a name it carries, and only
///   from a server that proves it holds its key (the handshake signatures
///   are always checked).
/// - Any other certificate goes through the full web PKI check against the
///   file's CAs (`cas`); with no usable CA in the file, it is refused.
#[derive(Debug)]
pub(crate) struct PinnedOrSignedBy {
    pins: Vec<CertificateDer<'static>>,
    cas: Option<Arc<WebPkiServerVerifier>>,
    /// Checks the handshake signatures (its certificate check is unused).
    signatures: NoVerification,
}

impl PinnedOrSignedBy {
    /// `certs` from the file, each a pin; those usable as trust anchors
    /// also sign.
    pub(crate) fn new(certs: Vec<CertificateDer<'static>>) -> Self {
        let mut roots = RootCertStore::empty();
        for cert in &certs {
            // A certificate that is no usable anchor is still a pin.
            let _ = roots.add(cert.clone());
        }
        let cas = (!roots.is_empty())
            .then(|| {
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), super::provider())
                    .build()
                    .ok()
            })
            .flatten();
        PinnedOrSignedBy {
            pins: certs,
            cas,
            signatures: NoVerification::new(),
        }
    }
}

impl ServerCertVerifier for PinnedOrSignedBy {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        if self
            .pins
            .iter()
            .any(|pin| pin.as_ref() == end_entity.as_ref())
        {
            verify_server_name(&ParsedCertificate::try_from(end_entity)?, server_name)?;
            return Ok(ServerCertVerified::assertion());
        }
        match &self.cas {
            Some(cas) => {
                cas.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            None => Err(Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.signatures.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.signatures.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.signatures.supported_verify_schemes()
    }
}
