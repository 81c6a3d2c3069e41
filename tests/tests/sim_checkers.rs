//! Each checker fed a transcript that breaks its rule, so we know it fires;
//! and a good transcript, so we know it is quiet. No core involved: the
//! "core" here is the test writing actions by hand.

use chat_core::{Action, CloseMode, ConnId, DisconnectReason, Event, Payload, Time};
use chat_tests::check::{Checker, Snapshot, StepInput, TokenInfo, TokenKind, Violation};
use chat_tests::run::{
    check_empty, check_healed, compare_runs, EmptyReport, Failure, LinkReport, Outcome,
};
use chat_tests::scenario::Cfg;
use chat_tests::words::{fold, Token};
use std::time::Duration;

fn send(conn: u64, text: &str) -> Action {
    Action::Send {
        conn: ConnId(conn),
        bytes: Payload::from(text.as_bytes()),
    }
}

fn close(conn: u64, mode: CloseMode) -> Action {
    Action::Close {
        conn: ConnId(conn),
        mode,
    }
}

/// A hand-driven checker with a model of who joined, for the getters.
struct Feed {
    c: Checker,
    step: u64,
    now: Time,
    joined: Vec<(u64, String)>,
    /// Changes the next snapshot (to feed a lying getter).
    tweak: Option<fn(&mut Snapshot)>,
}

impl Feed {
    fn new() -> Self {
        Feed::with(Cfg::default())
    }

    fn with(cfg: Cfg) -> Self {
        Feed {
            c: Checker::new(&cfg),
            step: 0,
            now: Time::ZERO,
            joined: Vec::new(),
            tweak: None,
        }
    }

    fn wait(&mut self, ms: u64) {
        self.now = self.now + Duration::from_millis(ms);
    }

    fn step_with(
        &mut self,
        input: StepInput,
        actions: &[Action],
        events: &[Event],
        before: impl FnOnce(&mut Checker),
    ) -> Result<(), Violation> {
        self.step += 1;
        self.c.begin_step(self.step, self.now, input);
        before(&mut self.c);
        for a in actions {
            self.c.on_action(a)?;
            if let Action::Close { conn, .. } = a {
                self.c.on_event(&Event::Disconnected {
                    conn: *conn,
                    nick: None,
                    reason: DisconnectReason::PeerClosed,
                });
            }
        }
        for e in events {
            self.c.on_event(e);
        }
        let mut snap = self.snapshot();
        if let Some(tweak) = self.tweak.take() {
            tweak(&mut snap);
        }
        self.c.end_step(&snap)
    }

    fn step(&mut self, input: StepInput, actions: &[Action]) -> Result<(), Violation> {
        self.step_with(input, actions, &[], |_| {})
    }

    fn snapshot(&self) -> Snapshot {
        let ids = self.c.conn_ids();
        let open: Vec<ConnId> = ids
            .iter()
            .copied()
            .filter(|c| self.c.close_mode(*c).is_none())
            .collect();
        let mut joined: Vec<(ConnId, String)> = self
            .joined
            .iter()
            .map(|(c, n)| (ConnId(*c), n.clone()))
            .filter(|(c, _)| open.contains(c))
            .collect();
        joined.sort_by_key(|(_, n)| fold(n));
        let waiting = open.len() > joined.len();
        Snapshot {
            connections: open.len(),
            joined,
            unflushed: ids.iter().map(|&c| (c, self.c.account(c))).collect(),
            deadline: waiting.then_some(self.now + Duration::from_millis(1)),
            idle: open.is_empty(),
            shutting_down: false,
        }
    }

    fn connect(&mut self, id: u64) -> Result<(), Violation> {
        self.step(StepInput::Connected(ConnId(id)), &[send(id, "alias?")])
    }

    /// `id` joins as `nick`, the way docs/protocol.md says.
    fn join(&mut self, id: u64, nick: &str) -> Result<(), Violation> {
        self.c.sent_nick(ConnId(id), nick);
        self.joined.push((id, nick.to_string()));
        let mut names: Vec<&str> = self.joined.iter().map(|(_, n)| n.as_str()).collect();
        names.sort_by_key(|n| fold(n));
        let notice = format!("{nick} joined the chat\n");
        let mut actions: Vec<Action> = self
            .joined
            .iter()
            .filter(|(c, _)| *c != id)
            .map(|(c, _)| send(*c, &notice))
            .collect();
        actions.push(send(
            id,
            &format!(
                "{notice}You are connected to the server!\nOnline ({}): {}\n",
                names.len(),
                names.join(", ")
            ),
        ));
        let event = Event::Joined {
            conn: ConnId(id),
            nick: nick.to_string(),
            dialect: chat_core::Dialect::Framed,
        };
        self.step_with(StepInput::Received(ConnId(id)), &actions, &[event], |_| {})
    }

    fn connect_join(&mut self, id: u64, nick: &str) -> Result<(), Violation> {
        self.connect(id)?;
        self.join(id, nick)
    }

    /// `id` sends token `#id.seq` as a message; everyone gets it.
    fn say(&mut self, id: u64, seq: u32) -> Result<(), Violation> {
        let token = self.token(id, seq, TokenKind::Room);
        let nick = self.nick(id);
        let line = format!("{nick}: {token}\n");
        let actions: Vec<Action> = self.joined.iter().map(|(c, _)| send(*c, &line)).collect();
        self.step(StepInput::Received(ConnId(id)), &actions)
    }

    /// Registers token `#id.seq` as sent by `id`.
    fn token(&mut self, id: u64, seq: u32, kind: TokenKind) -> Token {
        let token = Token {
            client: id as u32,
            seq,
        };
        let info = TokenInfo {
            sender: ConnId(id),
            kind,
            exact: Some(token.to_string()),
            expect: false,
            end: 0,
            at_close: false,
        };
        self.c.sent_token(token, info);
        token
    }

    fn nick(&self, id: u64) -> String {
        self.joined
            .iter()
            .find(|(c, _)| *c == id)
            .map(|(_, n)| n.clone())
            .expect("joined")
    }

    /// `id` hangs up; the others get its leave notice.
    fn hang_up(&mut self, id: u64) -> Result<(), Violation> {
        let nick = self.nick(id);
        self.joined.retain(|(c, _)| *c != id);
        let line = format!("{nick} left the chat!\n");
        let mut actions: Vec<Action> = self.joined.iter().map(|(c, _)| send(*c, &line)).collect();
        actions.push(close(id, CloseMode::Flush));
        self.step(StepInput::Closed(ConnId(id)), &actions)
    }
}

/// Asserts `result` is a violation whose rule contains `rule`.
#[track_caller]
fn fires(result: Result<(), Violation>, rule: &str) {
    match result {
        Err(v) => assert!(v.rule.contains(rule), "expected {rule:?}, got: {v}"),
        Ok(()) => panic!("expected a violation of {rule:?}, got none"),
    }
}

fn two_users() -> Feed {
    let mut f = Feed::new();
    f.connect_join(1, "alice")
        .expect("the transcript so far is good");
    f.connect_join(2, "bob")
        .expect("the transcript so far is good");
    f
}

#[test]
fn a_good_transcript_passes() {
    let mut f = two_users();
    f.say(1, 0).expect("the transcript so far is good");
    f.say(2, 0).expect("the transcript so far is good");
    f.c.sent_nick(ConnId(1), "al");
    let rename = "alice is now known as al\n";
    f.joined[0].1 = "al".to_string();
    f.step(
        StepInput::Received(ConnId(1)),
        &[send(1, rename), send(2, rename)],
    )
    .expect("the transcript so far is good");
    f.say(1, 1).expect("the transcript so far is good");
    f.hang_up(2).expect("the transcript so far is good");
    f.hang_up(1).expect("the transcript so far is good");
    f.c.finish().expect("the transcript so far is good");
}

#[test]
fn a_skipped_recipient_is_caught() {
    let mut f = two_users();
    let token = f.token(1, 0, TokenKind::Room);
    let line = format!("alice: {token}\n");
    fires(
        f.step(StepInput::Received(ConnId(1)), &[send(2, &line)]),
        "every joined user gets every room line",
    );
}

#[test]
fn two_orders_are_caught() {
    let mut f = two_users();
    let a = f.token(1, 0, TokenKind::Room);
    let b = f.token(2, 0, TokenKind::Room);
    let (la, lb) = (format!("alice: {a}\n"), format!("bob: {b}\n"));
    fires(
        f.step(
            StepInput::Tick,
            &[send(1, &la), send(1, &lb), send(2, &lb), send(2, &la)],
        ),
        "one order",
    );
}

#[test]
fn a_duplicate_line_is_caught() {
    let mut f = two_users();
    let a = f.token(1, 0, TokenKind::Room);
    let la = format!("alice: {a}\n");
    fires(
        f.step(
            StepInput::Received(ConnId(1)),
            &[send(1, &la), send(2, &la), send(2, &la)],
        ),
        "relayed once",
    );
}

#[test]
fn a_line_relayed_twice_is_caught() {
    let mut f = two_users();
    f.say(1, 0).expect("the transcript so far is good");
    let la = "alice: #1.0\n";
    fires(
        f.step(StepInput::Received(ConnId(1)), &[send(1, la), send(2, la)]),
        "relayed once",
    );
}

#[test]
fn a_missing_leave_notice_is_caught() {
    let mut f = two_users();
    f.joined.retain(|(c, _)| *c != 2);
    fires(
        f.step(StepInput::Closed(ConnId(2)), &[close(2, CloseMode::Flush)]),
        "leave notice",
    );
}

#[test]
fn a_leave_notice_for_a_never_joined_connection_is_caught() {
    let mut f = Feed::new();
    f.connect_join(1, "alice")
        .expect("the transcript so far is good");
    f.connect(2).expect("the transcript so far is good");
    fires(
        f.step(
            StepInput::Closed(ConnId(2)),
            &[send(1, "bob left the chat!\n"), close(2, CloseMode::Flush)],
        ),
        "leave notice",
    );
}

#[test]
fn a_room_line_to_an_unjoined_connection_is_caught() {
    let mut f = Feed::new();
    f.connect_join(1, "alice")
        .expect("the transcript so far is good");
    f.connect(2).expect("the transcript so far is good");
    f.token(1, 0, TokenKind::Room);
    let line = "alice: #1.0\n";
    fires(
        f.step(
            StepInput::Received(ConnId(1)),
            &[send(1, line), send(2, line)],
        ),
        "has not joined gets no room line",
    );
}

#[test]
fn a_nick_taken_twice_ignoring_case_is_caught() {
    let mut f = Feed::new();
    f.connect_join(1, "alice")
        .expect("the transcript so far is good");
    f.connect(2).expect("the transcript so far is good");
    f.c.sent_nick(ConnId(2), "ALICE");
    let notice = "ALICE joined the chat\n";
    let own = "ALICE joined the chat\nYou are connected to the server!\nOnline (1): ALICE\n";
    fires(
        f.step(
            StepInput::Received(ConnId(2)),
            &[send(1, notice), send(2, own)],
        ),
        "unique ignoring case",
    );
}

#[test]
fn an_unterminated_line_at_close_is_caught() {
    let mut f = Feed::new();
    f.connect_join(1, "alice")
        .expect("the transcript so far is good");
    f.joined.clear();
    fires(
        f.step(
            StepInput::Received(ConnId(1)),
            &[send(1, "error: slow"), close(1, CloseMode::Flush)],
        ),
        "ends in \\n",
    );
}

#[test]
fn a_prompt_after_joining_is_caught() {
    let mut f = Feed::new();
    f.connect_join(1, "alice")
        .expect("the transcript so far is good");
    fires(
        f.step(StepInput::Received(ConnId(1)), &[send(1, "alias?")]),
        "alias? only before joining",
    );
}

#[test]
fn an_error_prefix_on_a_normal_line_is_caught() {
    let mut f = Feed::new();
    f.connect_join(1, "alice")
        .expect("the transcript so far is good");
    fires(
        f.step(StepInput::Received(ConnId(1)), &[send(1, "error: #1.0\n")]),
        "only error lines",
    );
}

#[test]
fn a_relayed_control_character_is_caught() {
    let mut f = Feed::new();
    f.connect_join(1, "alice")
        .expect("the transcript so far is good");
    f.token(1, 0, TokenKind::Room);
    fires(
        f.step(
            StepInput::Received(ConnId(1)),
            &[send(1, "alice: #1.0 \u{1b}[31mred\n")],
        ),
        "no control characters",
    );
}

#[test]
fn invalid_utf8_is_caught() {
    let mut f = Feed::new();
    f.connect_join(1, "alice")
        .expect("the transcript so far is good");
    let bad = Action::Send {
        conn: ConnId(1),
        bytes: Payload::from(&b"alice: #1.0 \xff\n"[..]),
    };
    fires(
        f.step(StepInput::Received(ConnId(1)), &[bad]),
        "valid UTF-8",
    );
}

#[test]
fn a_send_after_close_is_caught() {
    let mut f = Feed::new();
    f.connect_join(1, "alice")
        .expect("the transcript so far is good");
    f.joined.clear();
    f.step(StepInput::Closed(ConnId(1)), &[close(1, CloseMode::Flush)])
        .expect("the transcript so far is good");
    fires(
        f.step(StepInput::Tick, &[send(1, "late\n")]),
        "nothing is sent to a closed connection",
    );
}

#[test]
fn an_open_user_over_its_send_limit_is_caught() {
    let cfg = Cfg {
        send_queue: 128,
        // Byte arithmetic: a send costs its bytes only.
        send_overhead: 0,
        ..Cfg::default()
    };
    let mut f = Feed::with(cfg);
    f.connect_join(1, "alice")
        .expect("the transcript so far is good");
    let errors = "error: nick is already taken\n".repeat(10);
    fires(
        f.step(StepInput::Received(ConnId(1)), &[send(1, &errors)]),
        "over its send limit is closed as too slow",
    );
}

#[test]
fn an_open_user_whose_sends_cost_more_than_the_limit_is_caught() {
    let cfg = Cfg {
        send_queue: 4096,
        ..Cfg::default()
    };
    let mut f = Feed::with(cfg);
    f.connect_join(1, "alice")
        .expect("the transcript so far is good");
    // 1160 bytes, far under the limit, in 40 sends: with each send's
    // overhead they cost more than 4096.
    let line = "error: nick is already taken\n";
    let tiny: Vec<Action> = (0..40).map(|_| send(1, line)).collect();
    fires(
        f.step(StepInput::Received(ConnId(1)), &tiny),
        "over its send limit is closed as too slow",
    );
}

#[test]
fn an_abort_below_the_limit_is_caught() {
    let mut f = Feed::new();
    f.connect_join(1, "alice")
        .expect("the transcript so far is good");
    f.joined.clear();
    fires(
        f.step(StepInput::Tick, &[close(1, CloseMode::Abort)]),
        "only a send account over its limit is aborted",
    );
}

#[test]
fn an_account_far_over_the_limit_is_caught() {
    let cfg = Cfg {
        send_queue: 128,
        ..Cfg::default()
    };
    let mut f = Feed::with(cfg);
    f.connect(1).expect("the transcript so far is good");
    // Fewer refusals than close a connection, each a long line.
    let long = "error: nick may only contain letters, digits and _-.[]{}|^\nalias?";
    let prompts: Vec<Action> = (0..9).map(|_| send(1, long)).collect();
    let mut actions = prompts;
    actions.push(close(1, CloseMode::Abort));
    fires(
        f.step(StepInput::Received(ConnId(1)), &actions),
        "by more than one batch",
    );
}

#[test]
fn a_missed_handshake_timeout_is_caught() {
    let mut f = Feed::new();
    f.connect(1).expect("the transcript so far is good");
    f.wait(30_001);
    fires(f.step(StepInput::Tick, &[]), "handshake timeout");
}

#[test]
fn a_deadline_in_the_past_is_caught() {
    let mut f = Feed::new();
    f.connect_join(1, "alice")
        .expect("the transcript so far is good");
    f.wait(10);
    f.tweak = Some(|s| s.deadline = Some(Time::ZERO));
    fires(f.step(StepInput::Tick, &[]), "deadline");
}

#[test]
fn a_wrong_connection_count_is_caught() {
    let mut f = Feed::new();
    f.connect_join(1, "alice")
        .expect("the transcript so far is good");
    f.tweak = Some(|s| s.connections = 2);
    fires(f.step(StepInput::Tick, &[]), "connections()");
}

#[test]
fn a_wrong_joined_list_is_caught() {
    let mut f = Feed::new();
    f.connect_join(1, "alice")
        .expect("the transcript so far is good");
    f.tweak = Some(|s| s.joined[0].1 = "bob".to_string());
    fires(f.step(StepInput::Tick, &[]), "joined()");
}

#[test]
fn a_wrong_unflushed_is_caught() {
    let mut f = Feed::new();
    f.connect_join(1, "alice")
        .expect("the transcript so far is good");
    f.tweak = Some(|s| s.unflushed[0].1 = Some(0));
    fires(f.step(StepInput::Tick, &[]), "unflushed()");
}

fn stop(conn: u64) -> Action {
    Action::StopReading { conn: ConnId(conn) }
}

fn resume(conn: u64) -> Action {
    Action::ResumeReading { conn: ConnId(conn) }
}

#[test]
fn a_stop_within_the_burst_is_caught() {
    let mut f = Feed::new();
    f.connect_join(1, "alice")
        .expect("the transcript so far is good");
    f.c.sent_lines(ConnId(1), 40);
    fires(
        f.step(StepInput::Received(ConnId(1)), &[stop(1)]),
        "reading stops only past the flood burst",
    );
}

#[test]
fn a_stop_twice_or_a_resume_unstopped_is_caught() {
    let mut f = Feed::new();
    f.connect_join(1, "alice")
        .expect("the transcript so far is good");
    fires(
        f.step(StepInput::Received(ConnId(1)), &[resume(1)]),
        "reading resumes only after it stopped",
    );
    let mut f = Feed::new();
    f.connect_join(1, "alice")
        .expect("the transcript so far is good");
    f.c.sent_lines(ConnId(1), 41);
    fires(
        f.step(StepInput::Received(ConnId(1)), &[stop(1), stop(1)]),
        "reading stops only for a joined user it does not already hold",
    );
}

#[test]
fn a_stop_with_no_deadline_to_resume_is_caught() {
    let mut f = Feed::new();
    f.connect_join(1, "alice")
        .expect("the transcript so far is good");
    f.c.sent_lines(ConnId(1), 41);
    // The feed's snapshot has a deadline only while someone is unjoined.
    fires(
        f.step(StepInput::Received(ConnId(1)), &[stop(1)]),
        "is read again",
    );
}

#[test]
fn lines_faster_than_the_flood_rate_are_caught() {
    let cfg = Cfg {
        flood_rate: 1,
        flood_burst: 2,
        ..Cfg::default()
    };
    let mut f = Feed::with(cfg.clone());
    f.connect_join(1, "alice")
        .expect("the transcript so far is good");
    f.say(1, 0).expect("the first line of the burst");
    f.say(1, 1).expect("the second line of the burst");
    fires(f.say(1, 2), "faster than flood control allows");
    let mut f = Feed::with(cfg);
    f.connect_join(1, "alice")
        .expect("the transcript so far is good");
    f.say(1, 0).expect("the first line of the burst");
    f.say(1, 1).expect("the second line of the burst");
    f.wait(1000);
    f.say(1, 2).expect("a second later, one more");
}

#[test]
fn a_lost_line_is_caught() {
    let mut f = Feed::new();
    f.connect_join(1, "alice")
        .expect("the transcript so far is good");
    let token = Token { client: 1, seq: 0 };
    let info = TokenInfo {
        sender: ConnId(1),
        kind: TokenKind::Room,
        exact: None,
        expect: true,
        end: 6,
        at_close: false,
    };
    f.c.sent_token(token, info);
    f.step_with(StepInput::Received(ConnId(1)), &[], &[], |c| {
        c.delivered(ConnId(1), 6)
    })
    .expect("the transcript so far is good");
    fires(f.c.finish(), "reaches the room");
}

#[test]
fn a_valid_nick_that_never_joins_is_caught() {
    let mut f = Feed::new();
    f.connect(1).expect("the transcript so far is good");
    f.c.sent_nick(ConnId(1), "alice");
    f.c.sent_first_nick(ConnId(1), "alice", true, 6);
    f.step_with(StepInput::Received(ConnId(1)), &[], &[], |c| {
        c.delivered(ConnId(1), 6)
    })
    .expect("the transcript so far is good");
    fires(f.c.finish(), "a valid, unique nick joins");
}

#[test]
fn altered_text_is_caught() {
    let mut f = Feed::new();
    f.connect_join(1, "alice")
        .expect("the transcript so far is good");
    f.token(1, 0, TokenKind::Room);
    fires(
        f.step(
            StepInput::Received(ConnId(1)),
            &[send(1, "alice: #1.0 extra\n")],
        ),
        "relayed unchanged",
    );
}

#[test]
fn a_line_under_the_wrong_nick_is_caught() {
    let mut f = two_users();
    f.token(1, 0, TokenKind::Room);
    let line = "bob: #1.0\n";
    fires(
        f.step(
            StepInput::Received(ConnId(1)),
            &[send(1, line), send(2, line)],
        ),
        "under its sender's nick",
    );
}

#[test]
fn a_hidden_line_relayed_is_caught() {
    let mut f = two_users();
    f.token(1, 0, TokenKind::Hidden);
    let line = "alice: #1.0\n";
    fires(
        f.step(
            StepInput::Received(ConnId(1)),
            &[send(1, line), send(2, line)],
        ),
        "relayed as what it is",
    );
}

#[test]
fn a_leaked_private_line_is_caught() {
    let mut f = two_users();
    f.connect_join(3, "carol")
        .expect("the transcript so far is good");
    f.token(
        1,
        0,
        TokenKind::Pm {
            target: "bob".to_string(),
        },
    );
    fires(
        f.step(
            StepInput::Received(ConnId(1)),
            &[
                send(1, "[pm to bob] #1.0\n"),
                send(3, "[pm from alice] #1.0\n"),
            ],
        ),
        "private line goes only between",
    );
}

#[test]
fn a_shutdown_without_its_line_is_caught() {
    let mut f = Feed::new();
    f.connect_join(1, "alice")
        .expect("the transcript so far is good");
    f.joined.clear();
    f.tweak = Some(|s| s.shutting_down = true);
    fires(
        f.step(StepInput::Shutdown, &[close(1, CloseMode::Flush)]),
        "shutdown",
    );
}

#[test]
fn a_connection_past_max_clients_not_refused_is_caught() {
    let cfg = Cfg {
        max_clients: 1,
        ..Cfg::default()
    };
    let mut f = Feed::with(cfg);
    f.connect_join(1, "alice")
        .expect("the transcript so far is good");
    fires(f.connect(2), "server full");
}

#[test]
fn a_line_no_one_asked_for_is_caught() {
    let mut f = Feed::new();
    f.connect_join(1, "alice")
        .expect("the transcript so far is good");
    fires(
        f.step(StepInput::Received(ConnId(1)), &[send(1, "Commands:\n")]),
        "docs/protocol.md names",
    );
}

#[test]
fn a_wrong_leave_reason_is_caught() {
    let mut f = two_users();
    f.joined.retain(|(c, _)| *c != 2);
    fires(
        f.step(
            StepInput::Closed(ConnId(2)),
            &[
                send(1, "bob left the chat! (too slow)\n"),
                close(2, CloseMode::Flush),
            ],
        ),
        "leave reason",
    );
}

#[test]
fn a_close_without_its_event_is_caught() {
    let mut f = Feed::new();
    f.connect(1).expect("the transcript so far is good");
    f.step(StepInput::Tick, &[])
        .expect("the transcript so far is good");
    f.step = 99;
    f.c.begin_step(100, f.now, StepInput::Closed(ConnId(1)));
    f.c.on_action(&close(1, CloseMode::Flush))
        .expect("the transcript so far is good");
    let snap = f.snapshot();
    fires(f.c.end_step(&snap), "Disconnected event");
}

#[test]
fn an_unsorted_online_list_is_caught() {
    let mut f = two_users();
    fires(
        f.step(
            StepInput::Received(ConnId(1)),
            &[send(1, "Online (2): bob, alice\n")],
        ),
        "online list",
    );
}

#[test]
fn an_interrupted_join_sequence_is_caught() {
    let mut f = Feed::new();
    f.connect(1).expect("the transcript so far is good");
    f.c.sent_nick(ConnId(1), "alice");
    fires(
        f.step(
            StepInput::Received(ConnId(1)),
            &[send(
                1,
                "alice joined the chat\nerror: unknown command /x (try /help)\n",
            )],
        ),
        "join sequence",
    );
}

#[test]
fn an_undelivered_healed_stream_is_caught() {
    let link = LinkReport {
        conn: ConnId(1),
        sent: b"alias?abc\n",
        received: b"alias?",
        unwritten: 4,
        in_socket: 0,
        closed: None,
        dead: false,
        eof: false,
        unflushed: Some(4),
        joined: true,
    };
    assert!(matches!(
        check_healed(std::slice::from_ref(&link)),
        Err(Failure::Liveness(_))
    ));
    let done = LinkReport {
        received: b"alias?abc\n",
        unwritten: 0,
        unflushed: Some(0),
        ..link
    };
    assert!(check_healed(&[done]).is_ok());
}

#[test]
fn a_room_that_keeps_state_is_caught() {
    let busy = EmptyReport {
        connections: 0,
        idle: true,
        joined: 0,
        deadline: Some(Time::ZERO),
    };
    assert!(matches!(check_empty(busy), Err(Failure::Liveness(_))));
    assert!(check_empty(EmptyReport {
        deadline: None,
        ..busy
    })
    .is_ok());
}

#[test]
fn different_transcripts_are_caught() {
    let a = Outcome {
        streams: vec![(ConnId(1), b"alias?x\n".to_vec())],
        trace: 1,
        steps: 3,
    };
    let mut b = a.clone();
    assert!(compare_runs(&a, &b, "same", true).is_ok());
    b.trace = 2;
    assert!(compare_runs(&a, &b, "same", false).is_ok());
    assert!(matches!(
        compare_runs(&a, &b, "same", true),
        Err(Failure::Mismatch(_))
    ));
    b.streams[0].1 = b"alias?y\n".to_vec();
    assert!(matches!(
        compare_runs(&a, &b, "cut", false),
        Err(Failure::Mismatch(_))
    ));
}

/// Alice and bob, where bob's join notice to alice is still held (the room
/// has a deadline to send it by).
fn bob_held_for_alice() -> Feed {
    let mut f = Feed::new();
    f.connect_join(1, "alice")
        .expect("the transcript so far is good");
    f.connect(2).expect("the transcript so far is good");
    f.c.sent_nick(ConnId(2), "bob");
    f.joined.push((2, "bob".to_string()));
    let own = "bob joined the chat\nYou are connected to the server!\nOnline (2): alice, bob\n";
    let joined = Event::Joined {
        conn: ConnId(2),
        nick: "bob".to_string(),
        dialect: chat_core::Dialect::Framed,
    };
    f.tweak = Some(hold_deadline);
    f.step_with(
        StepInput::Received(ConnId(2)),
        &[send(2, own)],
        &[joined],
        |_| {},
    )
    .expect("a held join notice may lag while the room has a deadline for it");
    f
}

fn hold_deadline(snap: &mut Snapshot) {
    snap.deadline = Some(Time::from(Duration::from_millis(100)));
}

#[test]
fn a_held_join_notice_then_a_who_answer_passes() {
    let mut f = bob_held_for_alice();
    f.step(
        StepInput::Received(ConnId(1)),
        &[send(1, "bob joined the chat\nOnline (2): alice, bob\n")],
    )
    .expect("the transcript so far is good");
}

#[test]
fn a_held_join_notice_with_no_deadline_is_caught() {
    let mut f = bob_held_for_alice();
    fires(
        f.step(StepInput::Tick, &[]),
        "every joined user gets every room line",
    );
}

#[test]
fn a_who_answer_ahead_of_a_held_join_notice_is_caught() {
    let mut f = bob_held_for_alice();
    f.tweak = Some(hold_deadline);
    fires(
        f.step(
            StepInput::Received(ConnId(1)),
            &[send(1, "Online (2): alice, bob\n")],
        ),
        "a /who answer agrees with the room lines",
    );
}

#[test]
fn a_private_line_ahead_of_a_held_join_notice_is_caught() {
    let mut f = bob_held_for_alice();
    let token = f.token(
        2,
        0,
        TokenKind::Pm {
            target: "alice".to_string(),
        },
    );
    f.tweak = Some(hold_deadline);
    fires(
        f.step(
            StepInput::Received(ConnId(2)),
            &[
                send(1, &format!("[pm from bob] {token}\n")),
                send(2, &format!("[pm to alice] {token}\n")),
            ],
        ),
        "a private line names a user its recipient was told of",
    );
}

/// Alice, bob and carol; bob hangs up and his leave notice is held.
fn bob_leaves_held() -> Feed {
    let mut f = Feed::new();
    for (id, nick) in [(1, "alice"), (2, "bob"), (3, "carol")] {
        f.connect_join(id, nick)
            .expect("the transcript so far is good");
    }
    f.joined.retain(|(c, _)| *c != 2);
    f.tweak = Some(hold_deadline);
    f.step(StepInput::Closed(ConnId(2)), &[close(2, CloseMode::Flush)])
        .expect("a held leave notice may lag while the room has a deadline for it");
    f
}

#[test]
fn a_held_leave_notice_sent_later_passes() {
    let mut f = bob_leaves_held();
    let line = "bob left the chat!\n";
    f.step(StepInput::Tick, &[send(1, line), send(3, line)])
        .expect("the transcript so far is good");
}

#[test]
fn a_held_leave_notice_past_the_deadline_is_caught() {
    let mut f = bob_leaves_held();
    fires(
        f.step(StepInput::Tick, &[]),
        "each departure of a joined user gives every remaining user one leave notice",
    );
}

#[test]
fn a_held_leave_notice_with_a_reason_for_a_hang_up_is_caught() {
    let mut f = bob_leaves_held();
    let line = "bob left the chat! (bye)\n";
    fires(
        f.step(StepInput::Tick, &[send(1, line), send(3, line)]),
        "the leave reason",
    );
}

#[test]
fn an_online_list_in_several_lines_passes() {
    let mut f = two_users();
    let who = "Online (2): alice\nOnline (2): bob\n";
    f.step(StepInput::Received(ConnId(1)), &[send(1, who)])
        .expect("a list split over lines is one answer");
    let cut = "Online (2): alice, and 1 more\n";
    f.step(StepInput::Received(ConnId(1)), &[send(1, cut)])
        .expect("a list cut short after the asker");
}

#[test]
fn an_online_list_that_does_not_add_up_is_caught() {
    let mut f = two_users();
    fires(
        f.step(
            StepInput::Received(ConnId(1)),
            &[send(1, "Online (2): alice, and 2 more\n")],
        ),
        "online list counts",
    );
    let mut f = two_users();
    fires(
        f.step(
            StepInput::Received(ConnId(1)),
            &[send(1, "Online (2): alice\nOnline (3): bob\n")],
        ),
        "online list counts",
    );
}

#[test]
fn an_online_list_cut_before_the_asker_is_caught() {
    let mut f = two_users();
    // alice sorts before bob: a list cut after bob must name her.
    fires(
        f.step(
            StepInput::Received(ConnId(1)),
            &[send(1, "Online (2): bob, and 1 more\n")],
        ),
        "holds the user who asks",
    );
}

#[test]
fn an_online_list_that_skips_a_known_user_is_caught() {
    let mut f = two_users();
    f.connect_join(3, "carol")
        .expect("the transcript so far is good");
    // alice knows bob; a list cut after carol must name him.
    fires(
        f.step(
            StepInput::Received(ConnId(1)),
            &[send(1, "Online (3): alice, carol, and 1 more\n")],
        ),
        "a /who answer agrees",
    );
}

#[test]
fn an_online_list_interrupted_is_caught() {
    let mut f = two_users();
    fires(
        f.step(
            StepInput::Received(ConnId(1)),
            &[send(
                1,
                "Online (2): alice\nerror: unknown command /x (try /help)\n",
            )],
        ),
        "online list is sent in one go",
    );
    let mut f = two_users();
    fires(
        f.step(
            StepInput::Received(ConnId(1)),
            &[send(1, "Online (2): alice\n")],
        ),
        "online list is sent in one go",
    );
}

#[test]
fn an_online_list_over_a_quarter_of_the_send_queue_is_caught() {
    let cfg = Cfg {
        send_queue: 128,
        // Byte arithmetic: a send costs its bytes only.
        send_overhead: 0,
        ..Cfg::default()
    };
    let mut f = Feed::with(cfg);
    for (id, nick) in [(1, "alice"), (2, "bob"), (3, "carol")] {
        f.connect_join(id, nick)
            .expect("lists of up to 30 bytes fit in 32");
    }
    f.connect(4).expect("the transcript so far is good");
    // "Online (4): alice, bob, carol, dave\n" is 36 bytes.
    fires(f.join(4, "dave"), "a quarter of the send queue");
}

#[test]
fn ten_refused_nicks_close_the_connection() {
    let refused = "error: nick is empty\nalias?";
    let mut f = Feed::new();
    f.connect(1).expect("the transcript so far is good");
    for _ in 0..9 {
        f.step(StepInput::Received(ConnId(1)), &[send(1, refused)])
            .expect("nine refusals are allowed");
    }
    f.step(
        StepInput::Received(ConnId(1)),
        &[
            send(
                1,
                "error: nick is empty\nerror: too many failed nick attempts\n",
            ),
            close(1, CloseMode::Flush),
        ],
    )
    .expect("the tenth closes");

    let mut f = Feed::new();
    f.connect(1).expect("the transcript so far is good");
    for _ in 0..9 {
        f.step(StepInput::Received(ConnId(1)), &[send(1, refused)])
            .expect("nine refusals are allowed");
    }
    fires(
        f.step(StepInput::Received(ConnId(1)), &[send(1, refused)]),
        "refused ten nicks is closed",
    );

    let mut f = Feed::new();
    f.connect(1).expect("the transcript so far is good");
    fires(
        f.step(
            StepInput::Received(ConnId(1)),
            &[
                send(
                    1,
                    "error: nick is empty\nerror: too many failed nick attempts\n",
                ),
                close(1, CloseMode::Flush),
            ],
        ),
        "refused ten nicks is closed",
    );
}

#[test]
fn a_relayed_line_separator_is_caught() {
    let mut f = two_users();
    fires(
        f.step(
            StepInput::Received(ConnId(1)),
            &[
                send(1, "alice: hi\u{2028}bob: fake\n"),
                send(2, "alice: hi\u{2028}bob: fake\n"),
            ],
        ),
        "no control characters relayed",
    );
}

/// Alice and bob joined; bob sends `/quit server lost) (x`, and alice is
/// sent `notice` as his leave notice.
fn bob_quits_with_a_forged_reason(notice: &str) -> Result<(), Violation> {
    let mut f = two_users();
    f.c.sent_quit(ConnId(2), Some("server lost) (x".to_string()));
    f.joined.retain(|(c, _)| *c != 2);
    let line = format!("bob left the chat!{notice}\n");
    f.step(
        StepInput::Received(ConnId(2)),
        &[send(1, &line), close(2, CloseMode::Flush)],
    )
}

#[test]
fn a_quit_reason_shown_as_the_users_passes() {
    bob_quits_with_a_forged_reason(" (Quit: server lost x)").expect("the user's reason, marked");
}

#[test]
fn a_quit_reason_shown_as_the_servers_is_caught() {
    fires(
        bob_quits_with_a_forged_reason(" (server lost) (x)"),
        "the leave reason",
    );
    fires(
        bob_quits_with_a_forged_reason(" (Quit: server lost) (x)"),
        "the leave reason",
    );
}

/// Registers token `#id.seq` as sent by `id` in a line ending at byte
/// `end` of its stream, which must be answered or relayed if `expect`.
fn sent(f: &mut Feed, id: u64, seq: u32, kind: TokenKind, end: u64, expect: bool) -> Token {
    let token = Token {
        client: id as u32,
        seq,
    };
    let info = TokenInfo {
        sender: ConnId(id),
        kind,
        exact: None,
        expect,
        end,
        at_close: false,
    };
    f.c.sent_token(token, info);
    token
}

/// The core read `id`'s stream up to `upto` in this step and sent `actions`.
fn read(f: &mut Feed, id: u64, upto: u64, actions: &[Action]) -> Result<(), Violation> {
    f.step_with(StepInput::Received(ConnId(id)), actions, &[], |c| {
        c.delivered(ConnId(id), upto)
    })
}

#[test]
fn a_pong_in_its_place_passes() {
    let mut f = two_users();
    let said = sent(&mut f, 1, 0, TokenKind::Room, 10, true);
    let ping = sent(&mut f, 1, 1, TokenKind::Ping, 20, true);
    let later = sent(&mut f, 1, 2, TokenKind::Room, 30, true);
    let (a, b) = (format!("alice: {said}\n"), format!("alice: {later}\n"));
    let to_alice = format!("{a}pong {ping}\n{b}");
    read(
        &mut f,
        1,
        30,
        &[send(1, &to_alice), send(2, &format!("{a}{b}"))],
    )
    .expect("a pong between the copies of the lines around it is good");
    f.c.finish().expect("every ping was answered");
}

#[test]
fn a_pong_to_another_user_is_caught() {
    let mut f = two_users();
    let ping = sent(&mut f, 1, 0, TokenKind::Ping, 10, true);
    let pong = format!("pong {ping}\n");
    fires(
        read(&mut f, 1, 10, &[send(1, &pong), send(2, &pong)]),
        "a pong goes only to the user who sent the /ping",
    );
}

#[test]
fn a_pong_nobody_asked_for_is_caught() {
    let mut f = two_users();
    let said = sent(&mut f, 1, 0, TokenKind::Room, 10, false);
    fires(
        read(&mut f, 1, 10, &[send(1, &format!("pong {said}\n"))]),
        "a pong answers a /ping",
    );
}

#[test]
fn a_second_pong_is_caught() {
    let mut f = two_users();
    let ping = sent(&mut f, 1, 0, TokenKind::Ping, 10, true);
    let pong = format!("pong {ping}\n");
    read(&mut f, 1, 10, &[send(1, &pong)]).expect("the first pong is good");
    fires(
        f.step(StepInput::Tick, &[send(1, &pong)]),
        "each ping is answered once",
    );
}

#[test]
fn a_pong_before_its_ping_was_read_is_caught() {
    let mut f = two_users();
    let ping = sent(&mut f, 1, 0, TokenKind::Ping, 10, true);
    fires(
        f.step(StepInput::Tick, &[send(1, &format!("pong {ping}\n"))]),
        "a pong answers a /ping the server read",
    );
}

#[test]
fn an_unanswered_ping_is_caught() {
    let mut f = two_users();
    sent(&mut f, 1, 0, TokenKind::Ping, 10, true);
    read(&mut f, 1, 10, &[]).expect("the answer may come later");
    fires(f.c.finish(), "every ping a joined user sent is answered");
}

#[test]
fn a_pong_ahead_of_an_earlier_line_is_caught() {
    let mut f = two_users();
    let said = sent(&mut f, 1, 0, TokenKind::Room, 10, true);
    let ping = sent(&mut f, 1, 1, TokenKind::Ping, 20, true);
    let copy = format!("alice: {said}\n");
    fires(
        read(
            &mut f,
            1,
            20,
            &[send(1, &format!("pong {ping}\n{copy}")), send(2, &copy)],
        ),
        "a pong comes after the copies of the lines its asker sent before the ping",
    );
}

#[test]
fn a_pong_behind_a_later_line_is_caught() {
    let mut f = two_users();
    let ping = sent(&mut f, 1, 0, TokenKind::Ping, 10, true);
    let later = sent(&mut f, 1, 1, TokenKind::Room, 20, true);
    let copy = format!("alice: {later}\n");
    read(&mut f, 1, 20, &[send(1, &copy), send(2, &copy)]).expect("the pong may still come");
    fires(
        f.step(StepInput::Tick, &[send(1, &format!("pong {ping}\n"))]),
        "a pong comes before the copies of the lines its asker sent after the ping",
    );
}
