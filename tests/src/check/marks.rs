//! What the clients sent, as far as the oracles need it: each token's kind,
//! text and delivery time, and each client's first nick. At the end of a run
//! they say which lines must have been relayed and which users must have
//! joined.

use super::{Checker, Violation};
use crate::words::{looks_alike, Token};
use chat_core::{ConnId, Time};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// How a token was sent, so where it may show up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// In a message: only in `NICK: …` lines.
    Room,
    /// With `/me`: only in `* NICK …` lines.
    Me,
    /// With `//`: only in `NICK: /…` lines.
    Literal,
    /// With `/msg TARGET`: only in private lines between sender and target.
    Pm {
        /// The nick named in the command.
        target: String,
    },
    /// In a `/quit` reason: only in its sender's leave notice.
    Quit,
    /// In a line that must not be relayed (too long, unknown command).
    Hidden,
    /// With `/ping`: only in a `pong` line to its sender.
    Ping,
}

impl TokenKind {
    /// Equal, ignoring a private message's target.
    pub fn same_kind(&self, other: &TokenKind) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

/// One token a client sent.
#[derive(Clone, Debug)]
pub struct TokenInfo {
    /// Who sent it.
    pub sender: ConnId,
    /// How.
    pub kind: TokenKind,
    /// The exact text the room line must carry after `NICK: ` (or
    /// `* NICK `), when the line was clean and its prefix known.
    pub exact: Option<String>,
    /// Whether it must be relayed (a ping: answered) once delivered: the
    /// client knew it had joined and the line is within the limits.
    pub expect: bool,
    /// Offset in the sender's stream just after the token's line.
    pub end: u64,
    /// Whether the line has no terminator and ends at the end of the
    /// stream: it becomes a line when the peer's close is read, not when
    /// its bytes are.
    pub at_close: bool,
}

#[derive(Clone, Debug)]
struct TokenState {
    info: TokenInfo,
    delivered: Option<(u64, Time)>,
    /// The room line it was relayed as, and the step. For a ping: the
    /// room line its sender was due next when the pong came, and the step.
    relayed: Option<(usize, u64)>,
}

#[derive(Clone, Debug)]
struct FirstNick {
    nick: String,
    fits: bool,
    delivered: Option<(u64, Time)>,
}

/// Something waiting for its bytes to reach the core.
#[derive(Clone, Copy, Debug)]
enum Pending {
    Token(Token),
    FirstNick,
}

#[derive(Debug, Default)]
pub(super) struct Marks {
    tokens: BTreeMap<Token, TokenState>,
    first_nicks: BTreeMap<ConnId, FirstNick>,
    pending: BTreeMap<ConnId, VecDeque<(u64, Pending)>>,
}

impl Marks {
    pub(super) fn add_token(&mut self, token: Token, info: TokenInfo) {
        let queue = self.pending.entry(info.sender).or_default();
        queue.push_back((info.end, Pending::Token(token)));
        self.tokens.insert(
            token,
            TokenState {
                info,
                delivered: None,
                relayed: None,
            },
        );
    }

    pub(super) fn add_first_nick(&mut self, conn: ConnId, nick: &str, fits: bool, end: u64) {
        self.pending
            .entry(conn)
            .or_default()
            .push_back((end, Pending::FirstNick));
        self.first_nicks.insert(
            conn,
            FirstNick {
                nick: nick.to_string(),
                fits,
                delivered: None,
            },
        );
    }

    pub(super) fn delivered(&mut self, conn: ConnId, upto: u64, step: u64, now: Time) {
        let Some(queue) = self.pending.get_mut(&conn) else {
            return;
        };
        while let Some(&(end, what)) = queue.front() {
            if end > upto {
                break;
            }
            queue.pop_front();
            match what {
                Pending::Token(t) => {
                    if let Some(s) = self.tokens.get_mut(&t) {
                        s.delivered = Some((step, now));
                    }
                }
                Pending::FirstNick => {
                    if let Some(f) = self.first_nicks.get_mut(&conn) {
                        f.delivered = Some((step, now));
                    }
                }
            }
        }
    }

    /// Whether the core read the whole line of `token`.
    pub(super) fn was_delivered(&self, token: Token) -> bool {
        self.tokens
            .get(&token)
            .is_some_and(|s| s.delivered.is_some())
    }

    pub(super) fn token(&self, token: Token) -> Option<&TokenInfo> {
        self.tokens.get(&token).map(|s| &s.info)
    }

    /// Records that `token` was relayed as room line `g` in `step`; returns
    /// the earlier line if it already was.
    pub(super) fn relayed(&mut self, token: Token, g: usize, step: u64) -> Option<usize> {
        let state = self.tokens.get_mut(&token)?;
        match state.relayed {
            Some((first, _)) => Some(first),
            None => {
                state.relayed = Some((g, step));
                None
            }
        }
    }
}

impl Checker {
    /// A pong comes after the room's copy of every line its asker sent
    /// before the `/ping`, and before the copy of every line sent after
    /// it: in the asker's stream, among the room lines, where the ping
    /// was read among its lines. Checked for the pongs and copies of this
    /// step (both are known by its end).
    pub(super) fn check_pongs(&self) -> Result<(), Violation> {
        let tokens = &self.marks.tokens;
        let answered = tokens.iter().filter_map(|(ping, state)| {
            let answer = state
                .relayed
                .filter(|_| state.info.kind == TokenKind::Ping)?;
            Some((*ping, state, answer))
        });
        for (ping, state, (due, answered_in)) in answered {
            let own = Token {
                client: ping.client,
                seq: 0,
            }..=Token {
                client: ping.client,
                seq: u32::MAX,
            };
            for (token, line) in tokens.range(own) {
                if line.info.kind == TokenKind::Ping {
                    continue;
                }
                let Some((g, relayed_in)) = line.relayed else {
                    continue;
                };
                if relayed_in != self.step && answered_in != self.step {
                    continue;
                }
                let before = line.info.end < state.info.end;
                if before && g >= due {
                    return self.fail(
                        "a pong comes after the copies of the lines its asker sent before the ping",
                        format!(
                            "pong {ping} to {} came before {token} (room line #{g})",
                            state.info.sender
                        ),
                    );
                }
                if !before && g < due {
                    return self.fail(
                        "a pong comes before the copies of the lines its asker sent after the ping",
                        format!(
                            "pong {ping} to {} came after {token} (room line #{g})",
                            state.info.sender
                        ),
                    );
                }
            }
        }
        Ok(())
    }

    /// The end-of-run oracles.
    pub(super) fn check_marks(&self) -> Result<(), Violation> {
        self.check_lines_relayed()?;
        self.check_lines_wait_only_when_held()?;
        self.check_first_nicks()
    }

    /// A line a joined client sent within the limits reached the room,
    /// unless the core was closing it or flood control dropped it (and said so).
    fn check_lines_relayed(&self) -> Result<(), Violation> {
        for (token, state) in &self.marks.tokens {
            let info = &state.info;
            let Some((step, at)) = state.delivered else {
                continue;
            };
            let log = &self.conns[&info.sender];
            let (step, at, open) = match (info.at_close, log.closed) {
                // Said when the close is read, if the peer closed first.
                (true, Some((closed, when, _))) => (closed, when, log.closed_by_peer),
                (true, None) => continue,
                (false, closed) => (step, at, closed.is_none_or(|(c, _, _)| step < c)),
            };
            let before_shutdown = self.shutdown.is_none_or(|(s, _)| step < s);
            // Held by flood control when the server closed it or shut
            // down: never said, and not lost silently (it was told why).
            let held_at_end = log
                .read_stops
                .last()
                .is_some_and(|&(stop, resume)| stop <= step && resume.is_none())
                && (self.shutdown.is_some() || !log.closed_by_peer);
            if held_at_end {
                continue;
            }
            if !info.expect || !open || !before_shutdown || state.relayed.is_some() {
                continue;
            }
            let (rule, fate) = if info.kind == TokenKind::Ping {
                ("every ping a joined user sent is answered", "answered")
            } else {
                ("a line a joined user sent reaches the room", "relayed")
            };
            return Err(Violation {
                step,
                time: at,
                rule,
                detail: format!(
                    "{token} from {} ({:?}) was delivered but never {fate}",
                    info.sender, info.kind
                ),
            });
        }
        Ok(())
    }

    /// A valid nick no other client ever asked for (nor a look-alike), sent as a client's very
    /// first line, joins, unless time or the connection ran out first.
    fn check_first_nicks(&self) -> Result<(), Violation> {
        for (&conn, first) in &self.marks.first_nicks {
            let Some((step, at)) = first.delivered else {
                continue;
            };
            let log = &self.conns[&conn];
            let ready = at + self.cfg.settle() + Duration::from_millis(1);
            let taken_elsewhere = self
                .conns
                .values()
                .filter(|l| l.id != conn)
                .any(|l| l.nicks_sent.iter().any(|n| looks_alike(n, &first.nick)));
            let after = |t: Option<Time>| t.is_none_or(|t| t > ready);
            let in_time = ready < log.connected.1 + self.cfg.handshake();
            if !first.fits
                || taken_elsewhere
                || !in_time
                || !after(log.closed.map(|c| c.1))
                || !after(log.client_closed.map(|c| c.1))
                || !after(self.shutdown.map(|s| s.1))
                || log.join_g.is_some()
            {
                continue;
            }
            return Err(Violation {
                step,
                time: at,
                rule: "a valid, unique nick joins",
                detail: format!("{conn} sent {:?} first and never joined", first.nick),
            });
        }
        Ok(())
    }

    /// A line is relayed in the step it was read, unless flood control
    /// held its sender then (and until the line was said).
    fn check_lines_wait_only_when_held(&self) -> Result<(), Violation> {
        for (token, state) in &self.marks.tokens {
            let (Some((read, at)), Some((_, said))) = (state.delivered, state.relayed) else {
                continue;
            };
            if said <= read || state.info.at_close {
                continue;
            }
            let stops = &self.conns[&state.info.sender].read_stops;
            let held = stops
                .iter()
                .any(|&(stop, resume)| stop <= read && resume.is_none_or(|r| r >= said));
            if !held {
                return Err(Violation {
                    step: said,
                    time: at,
                    rule: "a line waits only while flood control holds its sender",
                    detail: format!(
                        "{token} from {} read in step {read}, said in step {said}",
                        state.info.sender
                    ),
                });
            }
        }
        Ok(())
    }
}
