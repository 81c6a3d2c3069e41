//! Telling, from the first bytes of a connection, a chat client from a web
//! browser or a TLS client that reached the chat port by mistake.
//!
//! A chat client's first bytes are a nick, which holds no space and no
//! control character; an HTTP request starts with a method and a space, a
//! TLS connection with a handshake record (byte 0x16). So neither can be a
//! chat client, and recognising them loses no one.

/// What the first bytes of a connection are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sniff {
    /// A chat client (or anything that is neither of the others).
    Chat,
    /// An HTTP request line.
    Http,
    /// A TLS handshake record (a ClientHello).
    Tls,
    /// Too few bytes yet: they begin like an HTTP method.
    Unsure,
}

/// The request methods of HTTP/1.x, and `PRI` (HTTP/2's preface), each with
/// the space that follows it on a request line.
const HTTP_METHODS: [&[u8]; 10] = [
    b"GET ",
    b"HEAD ",
    b"POST ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"CONNECT ",
    b"PATCH ",
    b"TRACE ",
    b"PRI ",
];

/// The answer to an HTTP request: a person who typed the chat server's
/// address into a browser, or a tool that probed it, learns what it is.
pub(crate) const HTTP_REFUSAL: &str = "HTTP/1.0 400 Bad Request\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Length: 103\r\n\
Connection: close\r\n\
\r\n\
This is a chat server, not a web server. Join with a line-based client: nc HOST PORT, or chat client.\r\n";

/// The record type that starts every TLS connection (a handshake).
const TLS_HANDSHAKE: u8 = 0x16;

/// The most bytes [`sniff`] needs to decide.
pub(crate) const SNIFF_LEN: usize = 8;

/// Judges the first bytes of a connection (`head`, never empty).
pub(crate) fn sniff(head: &[u8]) -> Sniff {
    if head.first() == Some(&TLS_HANDSHAKE) {
        return Sniff::Tls;
    }
    let mut unsure = false;
    for method in HTTP_METHODS {
        if head.starts_with(method) {
            return Sniff::Http;
        }
        unsure |= method.starts_with(head);
    }
    if unsure {
        Sniff::Unsure
    } else {
        Sniff::Chat
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_hellos_are_recognised() {
        assert_eq!(sniff(b"GET / HTTP/1.1\r\n"), Sniff::Http);
        assert_eq!(sniff(b"POST /x HTTP/1.0\r\n"), Sniff::Http);
        assert_eq!(sniff(b"OPTIONS "), Sniff::Http);
        assert_eq!(sniff(b"PRI * HTTP/2.0\r\n"), Sniff::Http);
        assert_eq!(sniff(b"\x16\x03\x01\x02\x00\x01"), Sniff::Tls);
        assert_eq!(sniff(b"\x16"), Sniff::Tls);
    }

    #[test]
    fn a_method_cut_short_waits_for_more() {
        for head in [&b"G"[..], b"GE", b"GET", b"OPTION", b"P", b"PR"] {
            assert_eq!(sniff(head), Sniff::Unsure, "{head:?}");
        }
    }

    #[test]
    fn nicks_are_chat() {
        for head in [&b"alice\n"[..], b"GET\n", b"GETTY", b"get /", b"Zo", b"P\n"] {
            assert_eq!(sniff(head), Sniff::Chat, "{head:?}");
        }
    }

    #[test]
    fn the_http_answer_says_how_long_its_body_is() {
        let (head, body) = HTTP_REFUSAL.split_once("\r\n\r\n").unwrap_or_default();
        let length = format!("Content-Length: {}\r\n", body.len());
        assert!(head.starts_with("HTTP/1.0 400 "), "{head}");
        assert!(
            format!("{head}\r\n").contains(&length),
            "{head} vs {length}"
        );
    }

    #[test]
    fn every_method_is_decided_within_sniff_len() {
        assert!(HTTP_METHODS.iter().all(|m| m.len() <= SNIFF_LEN));
    }
}
