//! Leave notices: the server's reasons and a user's, told apart.
//!
//! A leave notice is `NICK left the chat!`, with ` (REASON)` when there is
//! a reason. The server's reasons are its own words (`too slow`,
//! `flooding`, `server lost`, …); a user's `/quit REASON` is shown as
//! `Quit: REASON`, so that no user can pass a reason of its own for one of
//! the server's.
//!
//! # Invariants
//! [`user_reason`] returns text that starts with [`USER_REASON_PREFIX`]
//! and holds no character that looks like a bracket (`(`, `)` or a
//! look-alike), so the notice's bracket closes exactly at its end.

/// What starts every reason a user gave; no reason of the server's does.
pub(crate) const USER_REASON_PREFIX: &str = "Quit: ";

/// The reason shown for a user's `/quit REASON`: [`USER_REASON_PREFIX`]
/// and the reason without its brackets (and their look-alikes), trimmed;
/// `None` when nothing is left.
pub(crate) fn user_reason(reason: &str) -> Option<String> {
    let kept: String = reason.chars().filter(|&c| !is_bracket(c)).collect();
    let kept = kept.trim();
    (!kept.is_empty()).then(|| format!("{USER_REASON_PREFIX}{kept}"))
}

/// Round brackets in other sizes and shapes (superscript, subscript,
/// ornamental, fullwidth, vertical, small, double) that Unicode's
/// confusable data does not map to `(` or `)`.
const ROUND_BRACKETS: &str = "⁽⁾₍₎❨❩❪❫⟮⟯⦅⦆⸨⸩﴾﴿︵︶﹙﹚（）｟｠";

/// Whether `c` is, or looks like, a round bracket: `(`, `)`, one of
/// [`ROUND_BRACKETS`], or one Unicode's confusable data maps to them.
fn is_bracket(c: char) -> bool {
    if c.is_ascii() {
        return c == '(' || c == ')';
    }
    if ROUND_BRACKETS.contains(c) {
        return true;
    }
    let mut buf = [0; 4];
    let looks_round =
        unicode_security::skeleton(c.encode_utf8(&mut buf)).any(|s| s == '(' || s == ')');
    looks_round
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_users_reason_is_marked_as_the_users() {
        assert_eq!(
            user_reason("gone fishing").as_deref(),
            Some("Quit: gone fishing")
        );
        assert_eq!(
            user_reason("server lost").as_deref(),
            Some("Quit: server lost")
        );
    }

    #[test]
    fn what_would_close_the_bracket_is_stripped() {
        assert_eq!(user_reason("too slow)").as_deref(), Some("Quit: too slow"));
        assert_eq!(
            user_reason("x) (server lost").as_deref(),
            Some("Quit: x server lost")
        );
        assert_eq!(
            user_reason("a\u{ff09}b\u{2769}c\u{207e}").as_deref(),
            Some("Quit: abc")
        );
        // Brackets only Unicode's confusable data knows; letters beyond
        // ASCII stay.
        assert_eq!(
            user_reason("\u{2772}x\u{2773} café 日本").as_deref(),
            Some("Quit: x café 日本")
        );
        assert_eq!(user_reason(" () ").as_deref(), None, "nothing left");
        assert_eq!(user_reason("[ok] {ok}").as_deref(), Some("Quit: [ok] {ok}"));
    }
}
