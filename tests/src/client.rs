//! A scripted client: how it frames what it sends, and its token counter.
//!
//! A framed client ends each line with `\n` (or `\r\n`). A seed-dialect client
//! behaves like the seed's Python client: it sends its nick with no
//! terminator, then each message as one chunk `ALIAS: TEXT` with no
//! terminator, where ALIAS is the nick its user last typed.

use crate::scenario::Dialect;
use crate::words::Token;
use chat_core::{ConnId, Time};

/// One simulated client.
#[derive(Clone, Debug)]
pub struct Client {
    /// Its number in the scenario (connect order).
    pub index: u32,
    /// Its connection id (index + 1; ids are never reused).
    pub conn: ConnId,
    /// How it talks.
    pub dialect: Dialect,
    /// Framed only: lines end with `\r\n`.
    pub crlf: bool,
    /// Seed dialect only: the nick its user typed last, which prefixes its messages.
    pub alias: String,
    /// When it last sent a chunk (seed-dialect clients pause between chunks).
    pub last_chunk: Option<Time>,
    next_seq: u32,
}

impl Client {
    /// Client number `index`, connected as `conn`.
    pub fn new(index: u32, conn: ConnId, dialect: Dialect, crlf: bool) -> Self {
        Client {
            index,
            conn,
            dialect,
            crlf: crlf && dialect == Dialect::Framed,
            alias: "anon".to_string(),
            last_chunk: None,
            next_seq: 0,
        }
    }

    /// Takes `n` consecutive tokens; returns the first.
    pub fn take_tokens(&mut self, n: u32) -> u32 {
        let first = self.next_seq;
        self.next_seq += n;
        first
    }

    /// Token number `seq` of this client.
    pub fn token(&self, seq: u32) -> Token {
        Token {
            client: self.index,
            seq,
        }
    }

    /// The bytes of one line (framed) or one bare chunk (seed dialect).
    pub fn frame(&self, body: &[u8]) -> Vec<u8> {
        let mut bytes = body.to_vec();
        if self.dialect == Dialect::Framed {
            if self.crlf {
                bytes.push(b'\r');
            }
            bytes.push(b'\n');
        }
        bytes
    }

    /// The bytes of one message or command: a seed-dialect client prefixes `ALIAS: `.
    pub fn message(&self, body: &[u8]) -> Vec<u8> {
        match self.dialect {
            Dialect::Framed => self.frame(body),
            Dialect::Seed => {
                let mut bytes = format!("{}: ", self.alias).into_bytes();
                bytes.extend_from_slice(body);
                bytes
            }
        }
    }

    /// Bytes of the line counted against `max_line`: the body plus a `\r`.
    pub fn line_len(&self, body_len: usize) -> usize {
        body_len + usize::from(self.crlf)
    }
}
