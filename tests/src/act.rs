//! What each op does: the bytes a client sends, and what the oracles must
//! know about them (tokens, nicks, quit reasons).

use crate::check::{StepInput, TokenInfo, TokenKind};
use crate::client::Client;
use crate::scenario::{Cmd, Dialect, NickKind, Op, Partial};
use crate::script::tokens_used;
use crate::sim::Sim;
use crate::words::{self, Token};
use chat_core::{ConnId, MAX_READ};
use std::time::Duration;

/// How a line's token is to be registered.
struct Sent {
    token: Token,
    kind: TokenKind,
    /// The text expected after `NICK: ` (or `* NICK `), if the line is clean.
    exact: Option<String>,
    /// Bytes counted against `max_line` (scaled up for invalid UTF-8).
    weight: usize,
    /// The line has no terminator: the stream ends after it.
    at_close: bool,
}

impl Sim {
    /// Runs one op; returns the input it causes, if any.
    pub(crate) fn run_op(&mut self, op: Op) -> Option<StepInput> {
        match op {
            Op::Connect { dialect, crlf } => {
                let (_, conn) = self.new_client(dialect, crlf);
                return Some(StepInput::Connected(conn));
            }
            Op::Probe { tls } => {
                let (c, conn) = self.new_client(Dialect::Framed, false);
                let bytes = if tls {
                    words::TLS_HELLO
                } else {
                    words::HTTP_REQUEST
                };
                self.checker.sent_probe(conn, tls);
                self.net.send(c, bytes, self.now);
                return Some(StepInput::Connected(conn));
            }
            Op::Wait { ms } => self.op_at = self.now + Duration::from_millis(ms.into()),
            Op::Shutdown => return Some(StepInput::Shutdown),
            _ => {
                let c = self.client_of(&op)?;
                let seq = self.clients[c].take_tokens(tokens_used(&op));
                self.client_op(c, op, seq);
            }
        }
        None
    }

    /// A new client and its link; its index and its connection id.
    fn new_client(&mut self, dialect: Dialect, crlf: bool) -> (usize, ConnId) {
        let index = self.clients.len() as u32;
        let conn = ConnId(u64::from(index) + 1);
        self.clients.push(Client::new(index, conn, dialect, crlf));
        (self.net.connect(conn, dialect), conn)
    }

    fn client_op(&mut self, c: usize, op: Op, seq: u32) {
        let t = self.clients[c].token(seq);
        match op {
            Op::Nick { nick, .. } => self.send_nick(c, nick),
            Op::Say { pad, .. } => {
                let body = with_pad(t, pad);
                self.send_line(c, body.as_bytes(), room(t, &body));
            }
            Op::Command { cmd, .. } => self.command(c, cmd, seq),
            Op::LongLine { extra, .. } => self.long_line(c, t, extra),
            Op::AtLimit { .. } => self.at_limit(c, t),
            Op::Garbage { kind, .. } => {
                let mut body = format!("{t} ").into_bytes();
                body.extend_from_slice(words::garbage(kind));
                let weight = body.len() * 3;
                let sent = Sent {
                    exact: None,
                    weight,
                    ..room(t, "")
                };
                self.send_line(c, &body, sent);
            }
            Op::Stall { .. } if self.net.stalls_on() => self.net.stall(c, true),
            Op::Resume { .. } if self.net.stalls_on() => self.net.stall(c, false),
            Op::Reset { partial, .. } if self.net.resets_on() => self.reset(c, t, partial),
            Op::Flood { lines, .. } => self.flood(c, seq, lines),
            _ => {}
        }
    }

    /// The text of a nick choice.
    fn nick_text(&self, nick: NickKind) -> String {
        match nick {
            NickKind::Valid(i) => words::nick(i).to_string(),
            NickKind::Upper(i) => {
                let n = self.clients.len().max(1);
                let target = self.clients.get(usize::from(i) % n).map(|c| c.conn);
                target
                    .and_then(|t| self.checker.nick_of(t))
                    .unwrap_or("alice")
                    .to_uppercase()
            }
            NickKind::Invalid(i) => words::bad_nick(i).to_string(),
            NickKind::TooLong(i) => words::too_long_nick(i),
        }
    }

    fn send_nick(&mut self, c: usize, kind: NickKind) {
        let text = self.nick_text(kind);
        let client = &self.clients[c];
        let conn = client.conn;
        let first = self.net.links[c].sent == 0;
        let fits = client.line_len(text.len()) <= self.cfg.max_line as usize;
        let bytes = client.frame(text.as_bytes());
        self.checker.sent_nick(conn, &text);
        // The seed's client types its alias once: only a nick that answers a
        // prompt becomes the prefix of its messages.
        if self.clients[c].dialect == Dialect::Seed && !self.checker.has_joined(conn) {
            self.clients[c].alias.clone_from(&text);
        }
        if let Some(end) = self.transmit(c, &bytes, 1) {
            if first && matches!(kind, NickKind::Valid(_)) {
                self.checker.sent_first_nick(conn, &text, fits, end);
            }
        }
    }

    fn command(&mut self, c: usize, cmd: Cmd, seq: u32) {
        let t = self.clients[c].token(seq);
        let conn = self.clients[c].conn;
        let hidden = |body: &str| Sent {
            kind: TokenKind::Hidden,
            exact: None,
            ..room(t, body)
        };
        let (body, sent) = match cmd {
            Cmd::Rename(nick) => {
                let new = self.nick_text(nick);
                self.checker.sent_nick(conn, &new);
                (format!("/nick {new}"), None)
            }
            Cmd::Me(pad) => {
                let text = with_pad(t, pad);
                let sent = Sent {
                    kind: TokenKind::Me,
                    ..room(t, &text)
                };
                (format!("/me {text}"), Some(sent))
            }
            Cmd::Msg(to) => {
                let n = self.clients.len().max(1);
                let target = self.clients[usize::from(to) % n].conn;
                let target = self.checker.nick_of(target).unwrap_or("nobody").to_string();
                let sent = Sent {
                    kind: TokenKind::Pm {
                        target: target.clone(),
                    },
                    exact: None,
                    ..room(t, "")
                };
                (format!("/msg {target} {t}"), Some(sent))
            }
            Cmd::MsgNobody => (format!("/msg nobody {t}"), Some(hidden(""))),
            Cmd::MsgUsage => ("/msg".to_string(), None),
            Cmd::Who => ("/who".to_string(), None),
            Cmd::Help => {
                self.checker.sent_help(conn);
                ("/help".to_string(), None)
            }
            Cmd::Quit(false) => {
                self.checker.sent_quit(conn, None);
                ("/quit".to_string(), None)
            }
            Cmd::Quit(true) => {
                let reason = quit_reason(t);
                self.checker.sent_quit(conn, Some(reason.clone()));
                let sent = Sent {
                    kind: TokenKind::Quit,
                    exact: None,
                    ..room(t, "")
                };
                (format!("/quit {reason}"), Some(sent))
            }
            Cmd::Literal => {
                let sent = Sent {
                    kind: TokenKind::Literal,
                    ..room(t, &format!("/{t}"))
                };
                (format!("//{t}"), Some(sent))
            }
            Cmd::Unknown => (format!("/frob {t}"), Some(hidden(""))),
            Cmd::Ping => {
                let sent = Sent {
                    kind: TokenKind::Ping,
                    exact: None,
                    ..room(t, "")
                };
                (format!("/ping {t}"), Some(sent))
            }
        };
        match sent {
            Some(sent) => self.send_line(
                c,
                body.as_bytes(),
                Sent {
                    weight: body.len(),
                    ..sent
                },
            ),
            None => {
                let bytes = self.clients[c].message(body.as_bytes());
                self.transmit(c, &bytes, 1);
            }
        }
    }

    /// A line of `max_line + 1 + extra` bytes: never relayed.
    fn long_line(&mut self, c: usize, t: Token, extra: u16) {
        let max = self.cfg.max_line as usize;
        let total = max + 1 + usize::from(extra);
        let mut body = format!("{t} ");
        let client = &self.clients[c];
        let room_for = match client.dialect {
            Dialect::Framed => total,
            Dialect::Seed => total.min(MAX_READ - client.alias.len() - 2),
        };
        body.extend(std::iter::repeat_n(
            'x',
            room_for.saturating_sub(body.len()),
        ));
        let kind = if body.len() > max {
            TokenKind::Hidden
        } else {
            TokenKind::Room
        };
        let sent = Sent {
            kind,
            exact: None,
            weight: usize::MAX,
            token: t,
            at_close: false,
        };
        self.send_line(c, body.as_bytes(), sent);
    }

    /// A line of exactly `max_line` bytes: relayed.
    fn at_limit(&mut self, c: usize, t: Token) {
        let client = &self.clients[c];
        let mut len = self.cfg.max_line as usize;
        if client.dialect == Dialect::Seed {
            len = len.min(MAX_READ - client.alias.len() - 2);
        }
        let mut body = format!("{t} ");
        body.extend(std::iter::repeat_n('y', len.saturating_sub(body.len())));
        let sent = room(t, &body);
        self.send_line(c, body.as_bytes(), sent);
    }

    fn reset(&mut self, c: usize, t: Token, partial: Partial) {
        let tail: &[u8] = match partial {
            Partial::Clean => b"",
            Partial::MidLine => b" hal",
            Partial::MidChar => b" \xe6\x97",
        };
        if partial != Partial::Clean {
            let mut body = t.to_string().into_bytes();
            body.extend_from_slice(tail);
            let client = &self.clients[c];
            // A framed client's unfinished line is a line at end of stream:
            // once delivered, it must be relayed like any other.
            let sent = match (client.dialect, partial) {
                (Dialect::Framed, Partial::MidLine) => Sent {
                    at_close: true,
                    ..room(t, &String::from_utf8_lossy(&body))
                },
                (Dialect::Framed, _) => Sent {
                    exact: None,
                    weight: body.len() * 3,
                    at_close: true,
                    ..room(t, "")
                },
                (Dialect::Seed, _) => Sent {
                    exact: None,
                    weight: usize::MAX,
                    ..room(t, "")
                },
            };
            let bytes = match client.dialect {
                Dialect::Framed => body,
                Dialect::Seed => client.message(&body),
            };
            if let Some(end) = self.transmit(c, &bytes, 0) {
                self.register(c, sent, end);
            }
        }
        self.net.reset(c, self.now);
    }

    fn flood(&mut self, c: usize, first: u32, lines: u8) {
        let client = &self.clients[c];
        let mut bytes = Vec::new();
        let mut ends = Vec::new();
        for seq in first..first + u32::from(lines) {
            let t = client.token(seq);
            let line = match client.dialect {
                Dialect::Framed => client.frame(t.to_string().as_bytes()),
                Dialect::Seed => {
                    let mut l = if bytes.is_empty() {
                        Vec::new()
                    } else {
                        b"\n".to_vec()
                    };
                    l.extend(client.message(t.to_string().as_bytes()));
                    l
                }
            };
            if bytes.len() + line.len() > MAX_READ && client.dialect == Dialect::Seed {
                break;
            }
            bytes.extend(line);
            ends.push((t, bytes.len() as u64));
        }
        let base = self.net.links[c].sent;
        let seed_dialect = client.dialect == Dialect::Seed;
        let count = ends.len() as u32;
        if self.transmit(c, &bytes, count).is_some() {
            for (t, end) in ends {
                let sent = Sent {
                    exact: (!seed_dialect).then(|| t.to_string()),
                    weight: if seed_dialect {
                        usize::MAX
                    } else {
                        t.to_string().len()
                    },
                    ..room(t, "")
                };
                self.register(c, sent, base + end);
            }
        }
    }

    /// Sends a message or command line holding `sent.token`.
    fn send_line(&mut self, c: usize, body: &[u8], mut sent: Sent) {
        let client = &self.clients[c];
        let bytes = client.message(body);
        match client.dialect {
            Dialect::Framed => sent.weight = sent.weight.max(client.line_len(body.len())),
            Dialect::Seed => {
                // The core strips `JOIN_NICK: `; any other prefix stays, and a
                // command behind it is just text.
                if self.checker.join_nick(client.conn) != Some(client.alias.as_str()) {
                    sent.exact = None;
                    sent.weight = usize::MAX;
                    if sent.kind != TokenKind::Hidden {
                        sent.kind = TokenKind::Room;
                    }
                }
                sent.weight = sent.weight.max(bytes.len());
            }
        }
        if let Some(end) = self.transmit(c, &bytes, 1) {
            self.register(c, sent, end);
        }
    }

    fn register(&mut self, c: usize, sent: Sent, end: u64) {
        let client = &self.clients[c];
        let read = self.net.links[c].received.len();
        let relayable = matches!(
            sent.kind,
            TokenKind::Room | TokenKind::Me | TokenKind::Literal | TokenKind::Ping
        );
        let expect = relayable
            && sent.weight <= self.cfg.max_line as usize
            && self.checker.knows_joined(client.conn, read)
            && !self.checker.sent_a_quit(client.conn);
        let info = TokenInfo {
            sender: client.conn,
            kind: sent.kind,
            exact: sent.exact,
            expect,
            end,
            at_close: sent.at_close,
        };
        self.checker.sent_token(sent.token, info);
    }

    /// Puts bytes on the wire; returns the client's stream length after them
    /// if they went out. `lines` counts toward the flood oracle.
    fn transmit(&mut self, c: usize, bytes: &[u8], lines: u32) -> Option<u64> {
        let conn = self.clients[c].conn;
        if !self.net.send(c, bytes, self.now) {
            return None;
        }
        self.checker.sent_lines(conn, lines);
        if self.clients[c].dialect == Dialect::Seed {
            self.clients[c].last_chunk = Some(self.now);
        }
        Some(self.net.links[c].sent)
    }
}

/// A room message token whose clean text is `text`.
/// The reason a client gives with `/quit`: it carries `token`, and tries
/// to close the notice's bracket early and pass for a reason of the
/// server's.
pub(crate) fn quit_reason(token: Token) -> String {
    format!("bye {token}) (too slow")
}

fn room(token: Token, text: &str) -> Sent {
    Sent {
        token,
        kind: TokenKind::Room,
        exact: Some(text.to_string()),
        weight: text.len(),
        at_close: false,
    }
}

/// `TOKEN` or `TOKEN FILLER`.
fn with_pad(t: Token, pad: u8) -> String {
    match words::pad(pad) {
        "" => t.to_string(),
        p => format!("{t} {p}"),
    }
}
