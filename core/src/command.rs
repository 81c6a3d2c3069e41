//! Parsing a user's line: a room message or a `/command`.

/// What a line from a joined user asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Request<'a> {
    /// Say this to the room (a `//text` line arrives here as `/text`).
    Say(&'a str),
    /// `/help`.
    Help,
    /// `/who`.
    Who,
    /// `/nick NEW`.
    Nick(&'a str),
    /// `/me TEXT`.
    Me(&'a str),
    /// `/msg NICK TEXT`.
    Msg {
        /// The recipient's nick as typed.
        to: &'a str,
        /// The message.
        text: &'a str,
    },
    /// `/quit [REASON]`.
    Quit(Option<&'a str>),
    /// `/ping TOKEN`: one word of at most [`MAX_PING_TOKEN`] bytes.
    Ping(&'a str),
    /// A known command with missing arguments; the usage text.
    Usage(&'static str),
    /// `/X` for an unknown `X`.
    Unknown(&'a str),
}

/// The longest token `/ping` takes, in bytes.
pub const MAX_PING_TOKEN: usize = 32;

/// What `/ping` answers when its token is missing, not one word, or too long.
const PING_USAGE: &str = "/ping TOKEN (one word, at most 32 bytes)";

/// The help text: one line per command.
pub(crate) const HELP: &str = "Commands:\n\
  /help              this list\n\
  /who               who is online\n\
  /nick NEW          change your nick\n\
  /me TEXT           say TEXT as an action\n\
  /msg NICK TEXT     send TEXT to NICK only\n\
  /quit [REASON]     leave the chat\n\
  /ping TOKEN        the server answers you alone: pong TOKEN\n\
  //TEXT             say /TEXT\n";

/// Reads one non-empty, cleaned line from a joined user.
pub(crate) fn parse(line: &str) -> Request<'_> {
    let Some(command_line) = line.strip_prefix('/') else {
        return Request::Say(line);
    };
    if command_line.starts_with('/') {
        return Request::Say(command_line);
    }
    let (name, args) = match command_line.split_once(char::is_whitespace) {
        Some((name, args)) => (name, args.trim()),
        None => (command_line, ""),
    };
    match name.to_ascii_lowercase().as_str() {
        "help" => Request::Help,
        "who" => Request::Who,
        "nick" if args.is_empty() => Request::Usage("/nick NEW"),
        "nick" => Request::Nick(args),
        "me" if args.is_empty() => Request::Usage("/me TEXT"),
        "me" => Request::Me(args),
        "msg" => match first_word(args) {
            (to, text) if !to.is_empty() && !text.is_empty() => Request::Msg { to, text },
            _ => Request::Usage("/msg NICK TEXT"),
        },
        "quit" => Request::Quit(Some(args).filter(|reason| !reason.is_empty())),
        "ping" if is_ping_token(args) => Request::Ping(args),
        "ping" => Request::Usage(PING_USAGE),
        _ => Request::Unknown(name),
    }
}

/// Whether `token` is what `/ping` takes: one word (no whitespace), 1 to
/// [`MAX_PING_TOKEN`] bytes. So no room line can look like its `pong`.
pub(crate) fn is_ping_token(token: &str) -> bool {
    !token.is_empty() && token.len() <= MAX_PING_TOKEN && !token.contains(char::is_whitespace)
}

/// Splits `args` at its first whitespace: `(word, rest trimmed)`.
fn first_word(args: &str) -> (&str, &str) {
    match args.split_once(char::is_whitespace) {
        Some((word, rest)) => (word, rest.trim()),
        None => (args, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_and_double_slash_are_said() {
        assert_eq!(parse("hello"), Request::Say("hello"));
        assert_eq!(parse("//shrug"), Request::Say("/shrug"));
        assert_eq!(parse("a /b"), Request::Say("a /b"));
    }

    #[test]
    fn commands_with_arguments() {
        assert_eq!(parse("/nick  bob "), Request::Nick("bob"));
        assert_eq!(parse("/me waves  hi"), Request::Me("waves  hi"));
        assert_eq!(
            parse("/msg bob hi  there"),
            Request::Msg {
                to: "bob",
                text: "hi  there"
            }
        );
        assert_eq!(parse("/quit bye now"), Request::Quit(Some("bye now")));
        assert_eq!(parse("/quit"), Request::Quit(None));
        assert_eq!(parse("/WHO"), Request::Who);
        assert_eq!(parse("/help me"), Request::Help);
    }

    #[test]
    fn missing_arguments_give_usage() {
        assert_eq!(parse("/nick"), Request::Usage("/nick NEW"));
        assert_eq!(parse("/me "), Request::Usage("/me TEXT"));
        assert_eq!(parse("/msg bob"), Request::Usage("/msg NICK TEXT"));
        assert_eq!(parse("/msg"), Request::Usage("/msg NICK TEXT"));
    }

    #[test]
    fn ping_takes_one_short_word() {
        assert_eq!(parse("/ping  #1.2 "), Request::Ping("#1.2"));
        assert_eq!(parse("/PING x"), Request::Ping("x"));
        let longest = "p".repeat(MAX_PING_TOKEN);
        assert_eq!(parse(&format!("/ping {longest}")), Request::Ping(&longest));
        for bad in ["/ping", "/ping  ", "/ping a b", "/ping a\tb"] {
            assert_eq!(parse(bad), Request::Usage(PING_USAGE), "{bad:?}");
        }
        let too_long = format!("/ping {longest}p");
        assert_eq!(parse(&too_long), Request::Usage(PING_USAGE));
        // Bytes, not characters: 11 three-byte characters are 33 bytes.
        assert_eq!(
            parse(&format!("/ping {}", "語".repeat(11))),
            Request::Usage(PING_USAGE)
        );
        assert!(PING_USAGE.contains(&MAX_PING_TOKEN.to_string()));
    }

    #[test]
    fn unknown_commands_are_named() {
        assert_eq!(parse("/dance now"), Request::Unknown("dance"));
        assert_eq!(parse("/"), Request::Unknown(""));
    }

    #[test]
    fn help_lines_end_in_newline_and_are_not_errors() {
        assert!(HELP.ends_with('\n'));
        assert!(HELP.lines().all(|line| !line.starts_with("error: ")));
    }
}
