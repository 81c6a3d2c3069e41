//! TLS for both runtimes, written once, with rustls (the `ring` provider).
//!
//! Everything here is sans-IO over rustls's own state machine: the runtimes
//! move raw bytes between their sockets (blocking or async) and these types,
//! and never touch rustls themselves.
//!
//! - [`config`]: the server's certificate chain and key, loaded from PEM
//!   files ([`ServerTls`]), and what a client trusts ([`ClientTls`]).
//! - [`validity`]: when the server's certificate is valid, and the warning
//!   due when it is not, or soon will not be.
//! - [`handshake`]: [`Handshake`] runs a TLS handshake one step at a time:
//!   it says what to send and when to read, and ends with the two halves of
//!   the session. On a server, a first byte that is not a TLS record's (a
//!   plaintext client) ends it with [`HandshakeError::NotTls`]: the runtime
//!   then sends [`chat_core::TLS_ONLY_LINE`] in clear and closes.
//! - [`session`]: [`TlsReader`] turns raw bytes into plaintext reads of at
//!   most [`chat_core::MAX_READ`] bytes; [`TlsWriter`] turns payloads into
//!   records and says which plaintext bytes the socket has taken, for
//!   `Input::Written`.
//!
//! The handshake runs before the room hears of the connection (it is the
//! transport's business, not the protocol's), bounded by
//! [`HANDSHAKE_TIMEOUT`], and counted against `max_clients` with the room's
//! connections ([`crate::admission`]): a TLS port starts no handshake
//! beyond it.

pub mod blocking;
pub mod config;
pub mod handshake;
mod insecure;
mod pinned;
pub mod session;
#[cfg(test)]
pub(crate) mod tests;
pub mod validity;

pub use config::{ClientTls, ServerTls, TlsFileError, Trust};
pub use handshake::{Handshake, HandshakeError, HandshakeFailure, Step};
pub use session::{Plain, TlsReader, TlsWriter};

use std::time::Duration;

/// How long a TLS handshake may take, from the accept (or the connect) to
/// its last flight: a client that never finishes it holds a socket no longer.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The first byte of every TLS record of a handshake (content type 22).
pub(crate) const HANDSHAKE_RECORD: u8 = 0x16;

/// The crypto provider every configuration here uses: `ring`, explicitly,
/// so a second provider elsewhere in a build cannot make the choice ambiguous.
pub(crate) fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}
