//! The fixed texts of the wire, shared by the room (which writes them) and
//! the client session (which recognises them), so each is written once.

/// The handshake prompt, sent bare (no newline).
pub(crate) const PROMPT: &str = "alias?";
/// The second line a joiner gets.
pub(crate) const CONNECTED: &str = "You are connected to the server!";
/// The literal of [`ERROR_PREFIX`], for lines built with `concat!`.
macro_rules! error_prefix {
    () => {
        "error: "
    };
}
/// What every error line, and no other line, starts with.
pub(crate) const ERROR_PREFIX: &str = error_prefix!();
/// The whole line a client gets, before its connection is closed, when the
/// server holds no more clients. Public because a driver that runs out of
/// file descriptors sends it too, without the room.
pub const SERVER_FULL_LINE: &str = concat!(error_prefix!(), "server full\n");
/// The whole line, sent in clear, a client gets on a TLS port when its first
/// byte does not start a TLS handshake; then its connection is closed.
/// Public because the driver sends it, before there is a connection for the room.
pub const TLS_ONLY_LINE: &str = concat!(error_prefix!(), "this port speaks TLS\n");
/// `NICK` + this: a user joined.
pub(crate) const JOINED: &str = " joined the chat";
/// `NICK` + this (+ ` (REASON)`): a user left.
pub(crate) const LEFT: &str = " left the chat!";
/// `OLD` + this + `NEW`: a user changed nick.
pub(crate) const RENAMED: &str = " is now known as ";
/// Between the nick and the text of a room message.
pub(crate) const SAYS: &str = ": ";
/// Before the nick of a `/me` line.
pub(crate) const ACTION: &str = "* ";
/// Before the token of the answer to `/ping TOKEN` (`pong TOKEN`), which
/// only the asker gets.
pub(crate) const PONG: &str = "pong ";
/// Sent to everyone when the server stops.
pub(crate) const SHUTTING_DOWN: &str = "server is shutting down";
/// Most bytes of one line of the online list, its `\n` included.
pub const ONLINE_LINE_MAX: usize = 1024;
/// Before the sender of a private line (`[pm from NICK] TEXT`).
pub(crate) const PM_FROM: &str = "[pm from ";
/// Before the recipient of our own private line (`[pm to NICK] TEXT`).
pub(crate) const PM_TO: &str = "[pm to ";
/// Before a line of the room's history a joiner gets (`[history] alice: hi`).
pub(crate) const HISTORY: &str = "[history] ";
/// After `error: `, before the line as typed: the room's log could not take it.
pub(crate) const NOT_SENT: &str = "room unavailable, not sent: ";
/// The leave notice of a user whose server stopped answering.
pub(crate) const SERVER_LOST: &str = "server lost";
/// The leave notice of a user whose server shut down.
pub(crate) const SERVER_DOWN: &str = "server shut down";
/// After `error: `: this server was declared lost by the others.
pub(crate) const LOST_THE_ROOM: &str = "this server lost contact with the room; please reconnect";
/// After `error: `: the room's log lost lines.
pub(crate) const LOG_LOST: &str = "the room's log was lost, lines may be missing; please reconnect";
/// Before the count of every online-list line (`Online (N): a, b`).
pub(crate) const ONLINE: &str = "Online (";
