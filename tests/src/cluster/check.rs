//! The checkers: after every input handled by any node, and at the end.
//!
//! 1. **Order**: each user's room lines are exactly the lines the log
//!    renders from its own join notice to where its node has read (a
//!    prefix of them once it is closed): one order, no loss, no duplicate.
//!    Entries of a lost (or shut down) incarnation after its loss render
//!    nothing, so a user never reads a line of a lost node's users after
//!    their `(server lost)` notices. Held join and leave notices (a large
//!    room) may be missing from the end, never reordered: between inputs
//!    only while the node has a timer due within the longest hold, and
//!    never once the cluster is quiet.
//! 2. **Leave notices**: no user reads a leave of someone not in its view
//!    (a second notice); once quiet, each open user's view is the room
//!    the log says (no notice missing). `(server lost)` is in the lines of 1.
//! 3. **Nicks**: a user that joined won its claim in the log; each node's
//!    member count is the log's at its position; no node has two users
//!    whose nicks are equal ignoring case.
//! 4. **Agreement**: nodes at the same position of the same epoch give
//!    equal snapshots and member counts.
//! 5. **Invariants**: `Room::check_invariants` (in `World::input`).
//! 6. **No silent loss**: a tracked line is in the log, or its sender was
//!    told it was not sent, or was disconnected.
//! 7. **Lost and reset**: users of a node that reads its own loss, or
//!    that fell behind the trim, get the lost-contact error and are
//!    closed; users of a reset node the log-lost error; nobody else gets
//!    them. Once quiet, every live node serves the current epoch (a node
//!    that never noticed a lost log would serve a room of its own).
//! 8. **Pings**: a user reads only pongs to its own pings, each once, in
//!    the order sent; once quiet, an open user that reads has every one.

use super::model::is_notice;
use super::world::World;
use crate::words::fold;
use chat_core::{CloseMode, MAX_NOTICE_HOLD};
use std::collections::BTreeSet;

/// After every input.
pub fn after_step(w: &mut World) {
    if w.violation.is_some() {
        return;
    }
    if let Err((checker, message)) = order(w, false)
        .and_then(|()| nicks(w))
        .and_then(|()| agreement(w))
    {
        fail(w, checker, message);
    }
}

fn fail(w: &mut World, checker: &'static str, message: String) {
    if w.violation.is_none() {
        w.violation = Some(super::world::Violation {
            checker,
            message,
            at_ms: w.now.as_duration().as_millis(),
        });
    }
}

type Check = Result<(), (&'static str, String)>;

/// Checker 1; `quiet`: no notice may still be held.
fn order(w: &World, quiet: bool) -> Check {
    for c in &w.clients {
        let node = &w.nodes[c.node];
        let model = &w.epochs[c.epoch];
        if let Some(error) = &c.reader.view_error {
            return Err((
                "2 leave notices",
                format!("{} on {}: {error}", c.conn, node.name),
            ));
        }
        let Some(&joined_at) = model.joined_at.get(&c.conn) else {
            if c.reader.joined || !c.reader.room_lines.is_empty() {
                return Err((
                    "3 nicks",
                    format!(
                        "{} on {} joined (it read {:?}) but the log gave its claim nothing",
                        c.conn,
                        node.name,
                        c.reader.room_lines.first()
                    ),
                ));
            }
            continue;
        };
        let same_epoch = node.room.is_some() && node.epoch == c.epoch;
        let upto = if same_epoch { node.cursor } else { model.len() };
        let expected = model.lines_between(joined_at, upto);
        let seen = &c.reader.room_lines;
        let (key, verified) = c.verified.get();
        let from = if key == (c.epoch, joined_at) {
            verified.min(seen.len())
        } else {
            0
        };
        if let Some(i) = (from..seen.len()).find(|&i| expected.get(i) != Some(&seen[i])) {
            let late = model.late_entries(joined_at, upto);
            return Err((
                "1 order",
                format!(
                    "{} on {} read room line {i} {:?}; the log says {:?} (it joined at entry {joined_at}, its node read {upto}; {late} entries of lost incarnations there)",
                    c.conn,
                    node.name,
                    seen[i],
                    expected.get(i)
                ),
            ));
        }
        c.verified.set(((c.epoch, joined_at), seen.len()));
        let missing = expected.get(seen.len()..).unwrap_or_default();
        let held = !quiet
            && missing.iter().all(|line| is_notice(line))
            && node
                .room
                .as_ref()
                .and_then(|r| r.poll_timeout())
                .is_some_and(|at| at <= w.now + MAX_NOTICE_HOLD);
        if held && c.is_open() && same_epoch && !missing.is_empty() {
            w.held_gaps.set(w.held_gaps.get() + 1);
        }
        if c.is_open() && same_epoch && seen.len() != expected.len() && !held {
            return Err((
                "1 order",
                format!(
                    "{} on {} is open but read {} room lines of the {} the log gives it; missing {:?}",
                    c.conn,
                    node.name,
                    seen.len(),
                    expected.len(),
                    &expected[seen.len()..]
                ),
            ));
        }
    }
    Ok(())
}

fn nicks(w: &World) -> Check {
    for node in w.nodes.iter() {
        let Some(room) = node.room.as_ref() else {
            continue;
        };
        if room.is_shutting_down() {
            continue;
        }
        let model = &w.epochs[node.epoch];
        let want = model.count_after[node.cursor.min(model.len())];
        if room.members() != want {
            return Err((
                "3 nicks",
                format!(
                    "{} has {} members at entry {}; the log gives {want}",
                    node.name,
                    room.members(),
                    node.cursor
                ),
            ));
        }
        let mut seen = BTreeSet::new();
        for (conn, nick) in room.joined() {
            if !seen.insert(fold(nick)) {
                return Err((
                    "3 nicks",
                    format!(
                        "{} has two users named {nick} ({conn} and another)",
                        node.name
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn agreement(w: &World) -> Check {
    let live: Vec<_> = w
        .nodes
        .iter()
        .filter(|n| n.room.as_ref().is_some_and(|r| !r.is_shutting_down()))
        .collect();
    // Each node's snapshot at most once per check.
    let snapshots: Vec<std::cell::OnceCell<Option<chat_core::Snapshot>>> =
        live.iter().map(|_| std::cell::OnceCell::new()).collect();
    let snapshot =
        |i: usize| snapshots[i].get_or_init(|| live[i].room.as_ref().and_then(|r| r.snapshot()));
    for (i, a) in live.iter().enumerate() {
        for (j, b) in live.iter().enumerate().skip(i + 1) {
            if (a.epoch, a.cursor) != (b.epoch, b.cursor) {
                continue;
            }
            let (ra, rb) = (a.room.as_ref(), b.room.as_ref());
            let (sa, sb) = (snapshot(i), snapshot(j));
            if sa != sb || ra.map(|r| r.members()) != rb.map(|r| r.members()) {
                return Err((
                    "4 agreement",
                    format!(
                        "{} and {} both read {} entries but differ:\n  {sa:?}\n  {sb:?}",
                        a.name, b.name, a.cursor
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// After node `slot` was handed entries: `users` (open and joined before)
/// got the lost-contact error and were closed if `lost` (its incarnation
/// was declared lost in them), and did not get it otherwise.
pub fn lost_users(w: &mut World, slot: usize, users: &[usize], lost: bool) {
    for &i in users {
        let c = &w.clients[i];
        let (conn, name) = (c.conn, w.nodes[slot].name.clone());
        if lost && c.closed.is_none() {
            fail(
                w,
                "7 lost",
                format!("{conn} on {name} read its node's loss but is open"),
            );
        } else if lost && !c.reader.lost_error && c.closed != Some(CloseMode::Abort) {
            fail(
                w,
                "7 lost",
                format!("{conn} on {name} was closed without the lost-contact error"),
            );
        } else if !lost && c.reader.lost_error {
            fail(
                w,
                "7 lost",
                format!("{conn} on {name} got the lost-contact error but its node was not lost"),
            );
        }
    }
}

/// After a node was reset: `users` (open and joined before) got the
/// log-lost error and were closed.
pub fn reset_users(w: &mut World, users: &[usize]) {
    for &i in users {
        let c = &w.clients[i];
        if c.closed.is_none() || !(c.reader.reset_error || c.closed == Some(CloseMode::Abort)) {
            let message = format!(
                "{} is closed: {:?}, read the log-lost error: {}",
                c.conn, c.closed, c.reader.reset_error
            );
            fail(w, "7 reset", message);
        }
    }
}

/// After a node fell behind the trim: `users` (open and joined before) got
/// the lost-contact error, not the log-lost one, and were closed.
pub fn fell_behind_users(w: &mut World, users: &[usize]) {
    for &i in users {
        let c = &w.clients[i];
        let told = c.reader.lost_error && !c.reader.reset_error;
        if c.closed.is_none() || !(told || c.closed == Some(CloseMode::Abort)) {
            let message = format!(
                "{} fell behind with its node; closed: {:?}, read the lost-contact error: {}, the log-lost error: {}",
                c.conn, c.closed, c.reader.lost_error, c.reader.reset_error
            );
            fail(w, "7 lost", message);
        }
    }
}

/// Checker 8 for one client, once quiet: what is wrong with its pongs.
fn pongs_wrong(c: &super::world::Client) -> Option<String> {
    let (sent, read) = (&c.pings_sent, &c.reader.pongs);
    let mut next = 0;
    for pong in read {
        match sent[next..].iter().position(|ping| ping == pong) {
            Some(at) => next += at + 1,
            None => {
                return Some(format!(
                    "{} read pong {pong} but sent {sent:?} and read {read:?}",
                    c.conn
                ))
            }
        }
    }
    let reads_all = c.is_open() && !c.stalled && c.unwritten == 0;
    (reads_all && read != sent).then(|| {
        format!(
            "{} is open and reads, sent pings {sent:?} and read pongs {read:?}",
            c.conn
        )
    })
}

/// Once every live node has read the whole log.
pub fn at_quiet(w: &mut World) {
    if w.violation.is_some() {
        return;
    }
    if let Err((checker, message)) = order(w, true) {
        fail(w, checker, message);
        return;
    }
    let current = w.epochs.len() - 1;
    if let Some(node) = w
        .nodes
        .iter()
        .find(|n| n.room.is_some() && n.epoch != current)
    {
        let message = format!(
            "{} still serves epoch {} of {current}",
            node.name, node.epoch
        );
        fail(w, "7 reset", message);
        return;
    }
    let mut problem = None;
    for c in &w.clients {
        let node = &w.nodes[c.node];
        let open = c.is_open() && node.room.is_some() && c.reader.joined;
        let model = &w.epochs[c.epoch];
        if open && c.epoch == current {
            let room: BTreeSet<&str> = model.members.values().map(String::as_str).collect();
            let view: BTreeSet<&str> = c.reader.view.iter().map(String::as_str).collect();
            if room != view {
                problem = Some((
                    "2 leave notices",
                    format!(
                        "{} on {} sees {view:?} but the log says the room is {room:?}",
                        c.conn, node.name
                    ),
                ));
                break;
            }
            if c.claim_node
                .as_ref()
                .is_some_and(|id| model.lost_at.contains_key(id))
            {
                problem = Some((
                    "7 lost",
                    format!("{} on {} is open but its node was lost", c.conn, node.name),
                ));
                break;
            }
        }
        if let Some(message) = pongs_wrong(c) {
            problem = Some(("8 pings", message));
            break;
        }
        let excused = c.closed.is_some() || c.gone;
        for line in &c.lines_sent {
            let logged = w.archive.contains(&(c.conn, line.clone()));
            let told = c.reader.not_sent.contains(line);
            if logged && told {
                problem = Some((
                    "6 no silent loss",
                    format!(
                        "{}'s {line:?} is in the log, yet it was told it was not sent",
                        c.conn
                    ),
                ));
            } else if !logged && !told && !excused {
                problem = Some((
                    "6 no silent loss",
                    format!(
                        "{}'s {line:?} never reached the log and it was not told",
                        c.conn
                    ),
                ));
            }
        }
        if problem.is_some() {
            break;
        }
    }
    if let Some((checker, message)) = problem {
        fail(w, checker, message);
    }
}
