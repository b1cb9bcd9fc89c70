//! Slash commands: what a line starting with `/` asks for, the built-in commands' arguments, and
//! the rules of custom commands (Slack-compatible: a request with Slack's fields to the
//! integration's URL, an answer shown only to the caller or posted in the channel, follow-ups
//! through a `response_url` for [`RESPONSE_URL_TTL`]).
//!
//! Every door asks [`split`] whether a line is a command, so that `/me waves` means the same in
//! the web client, over the API and over XMPP; the application layer carries the [`Call`] out
//! with the same permission checks as the equivalent request.

use crate::error::Error;
use crate::ids::{ChannelId, Millis, UserId};

/// The longest trigger of a custom command (without the `/`).
pub const MAX_TRIGGER_CHARS: usize = 32;
/// The longest description and usage hint of a custom command.
pub const MAX_DESCRIPTION_CHARS: usize = 120;
pub const MAX_HINT_CHARS: usize = 60;
/// The most custom commands a server holds.
pub const MAX_CUSTOM_COMMANDS: usize = 200;
/// How long a command's `response_url` takes follow-ups (Slack: 30 minutes).
pub const RESPONSE_URL_TTL: Millis = Millis(30 * 60 * 1000);
/// How many follow-ups a `response_url` takes (Slack: five).
pub const RESPONSE_URL_USES: u32 = 5;
/// The longest text shown only to one person.
pub const MAX_EPHEMERAL_CHARS: usize = 16_000;
/// The longest argument text of a command (the message limit).
pub const MAX_ARGS_CHARS: usize = 16_000;

/// What a composed line is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line<'a> {
    /// Text to post as it is (`//x` posts `/x`; a first word holding another `/` is a path, not
    /// a command).
    Text(std::borrow::Cow<'a, str>),
    /// `/name args`: the name in lower case, the rest with its surrounding spaces removed.
    Command { name: String, args: &'a str },
}

/// Whether `text` is a command, as every door decides it.
pub fn split(text: &str) -> Line<'_> {
    let trimmed = text.trim_start();
    let Some(rest) = trimmed.strip_prefix('/') else {
        return Line::Text(text.into());
    };
    if rest.starts_with('/') {
        return Line::Text(std::borrow::Cow::Owned(rest.to_owned()));
    }
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let name = &rest[..end];
    if name.is_empty() || name.contains('/') {
        return Line::Text(text.into());
    }
    Line::Command {
        name: name.to_lowercase(),
        args: rest[end..].trim(),
    }
}

/// The built-in commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Builtin {
    Me,
    Shrug,
    Topic,
    Purpose,
    Join,
    Leave,
    Invite,
    Kick,
    Msg,
    Status,
    Dnd,
    Help,
}

impl Builtin {
    pub const ALL: [Builtin; 12] = [
        Builtin::Me,
        Builtin::Shrug,
        Builtin::Topic,
        Builtin::Purpose,
        Builtin::Join,
        Builtin::Leave,
        Builtin::Invite,
        Builtin::Kick,
        Builtin::Msg,
        Builtin::Status,
        Builtin::Dnd,
        Builtin::Help,
    ];

    /// The name typed after `/`.
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Me => "me",
            Builtin::Shrug => "shrug",
            Builtin::Topic => "topic",
            Builtin::Purpose => "purpose",
            Builtin::Join => "join",
            Builtin::Leave => "leave",
            Builtin::Invite => "invite",
            Builtin::Kick => "kick",
            Builtin::Msg => "msg",
            Builtin::Status => "status",
            Builtin::Dnd => "dnd",
            Builtin::Help => "help",
        }
    }

    /// Other names for the same command (as Slack and Mattermost users type them).
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Builtin::Join => &["open"],
            Builtin::Leave => &["part"],
            Builtin::Kick => &["remove"],
            Builtin::Msg => &["dm"],
            _ => &[],
        }
    }

    /// What follows the name, for help and autocomplete (`[]` optional).
    pub fn usage(self) -> &'static str {
        match self {
            Builtin::Me => "text",
            Builtin::Shrug => "[text]",
            Builtin::Topic | Builtin::Purpose => "[text]",
            Builtin::Join => "~channel",
            Builtin::Leave | Builtin::Help => "",
            Builtin::Invite => "@person [@person ...]",
            Builtin::Kick => "@person [@person ...]",
            Builtin::Msg => "@person [text]",
            Builtin::Status => "[text]",
            Builtin::Dnd => "[on|off]",
        }
    }

    pub fn lookup(name: &str) -> Option<Builtin> {
        Builtin::ALL
            .into_iter()
            .find(|b| b.name() == name || b.aliases().contains(&name))
    }

    /// Whether the command acts on the conversation it is typed in (so it needs one there).
    pub fn needs_channel(self) -> bool {
        !matches!(
            self,
            Builtin::Join | Builtin::Msg | Builtin::Status | Builtin::Dnd | Builtin::Help
        )
    }
}

/// A built-in command with its arguments read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// Post `text` as an action ("*waves*").
    Me(String),
    /// Post `text ¯\_(ツ)_/¯`.
    Shrug(String),
    /// Set the topic; `None`: show it.
    Topic(Option<String>),
    Purpose(Option<String>),
    /// Join the public channel of this name.
    Join(String),
    Leave,
    Invite(Vec<String>),
    Kick(Vec<String>),
    /// Open a direct conversation with `to` and post `text` there when it is not empty.
    Msg {
        to: String,
        text: String,
    },
    /// Set (or with an empty text clear) one's status.
    Status(String),
    /// Do not disturb on, off, or (`None`) the other way round.
    Dnd(Option<bool>),
    Help,
}

fn usage(reason: &'static str) -> Error {
    Error::invalid("text", reason)
}

/// The people named by `@handle` words (the `@` optional), lower case, without repeats.
fn handles(args: &str) -> Result<Vec<String>, Error> {
    let mut out: Vec<String> = Vec::new();
    for w in args.split(|c: char| c.is_whitespace() || c == ',') {
        if w.is_empty() {
            continue;
        }
        let h = w.strip_prefix('@').unwrap_or(w).to_lowercase();
        if h.is_empty() || h.chars().count() > 64 {
            return Err(usage("name people as @username"));
        }
        if !out.contains(&h) {
            out.push(h);
        }
        if out.len() > 50 {
            return Err(usage("at most 50 people at once"));
        }
    }
    Ok(out)
}

/// Reads a built-in command's arguments.
pub fn parse(builtin: Builtin, args: &str) -> Result<Call, Error> {
    if args.chars().count() > MAX_ARGS_CHARS {
        return Err(Error::invalid("text", "must be at most 16000 characters"));
    }
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    Ok(match builtin {
        Builtin::Me => {
            if args.is_empty() {
                return Err(usage("usage: /me text"));
            }
            Call::Me(args.to_owned())
        }
        Builtin::Shrug => Call::Shrug(args.to_owned()),
        Builtin::Topic => Call::Topic(opt(args)),
        Builtin::Purpose => Call::Purpose(opt(args)),
        Builtin::Join => {
            let name = args.trim_start_matches(['~', '#']).trim();
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(usage("usage: /join ~channel"));
            }
            Call::Join(name.to_owned())
        }
        Builtin::Leave => Call::Leave,
        Builtin::Invite | Builtin::Kick => {
            let people = handles(args)?;
            if people.is_empty() {
                return Err(usage(if builtin == Builtin::Invite {
                    "usage: /invite @person"
                } else {
                    "usage: /kick @person"
                }));
            }
            if builtin == Builtin::Invite {
                Call::Invite(people)
            } else {
                Call::Kick(people)
            }
        }
        Builtin::Msg => {
            let end = args.find(char::is_whitespace).unwrap_or(args.len());
            let to = args[..end].trim_start_matches('@').to_lowercase();
            if to.is_empty() {
                return Err(usage("usage: /msg @person [text]"));
            }
            Call::Msg {
                to,
                text: args[end..].trim().to_owned(),
            }
        }
        Builtin::Status => Call::Status(args.to_owned()),
        Builtin::Dnd => match args.to_lowercase().as_str() {
            "" => Call::Dnd(None),
            "on" => Call::Dnd(Some(true)),
            "off" => Call::Dnd(Some(false)),
            _ => return Err(usage("usage: /dnd [on|off]")),
        },
        Builtin::Help => Call::Help,
    })
}

/// The text `/me` posts: the action in italics, Markdown's own characters escaped.
pub fn me_text(args: &str) -> String {
    format!("_{}_", escape_emphasis(args))
}

/// The text `/shrug` posts.
pub fn shrug_text(args: &str) -> String {
    if args.is_empty() {
        SHRUG.to_owned()
    } else {
        format!("{args} {SHRUG}")
    }
}

/// ¯\_(ツ)_/¯ as Markdown (the backslash and underscore escaped).
const SHRUG: &str = "¯\\\\\\_(ツ)\\_/¯";

fn escape_emphasis(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '_' | '*' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A custom command: `/trigger` calls `url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomCommand {
    pub id: i64,
    /// Lower case, without the `/`.
    pub trigger: String,
    pub description: String,
    pub usage_hint: String,
    pub url: String,
    pub creator_id: UserId,
    pub created_at: Millis,
    pub rotated_at: Option<Millis>,
}

/// A custom command's trigger, description and hint, checked: the trigger is 1 to 32 of
/// `a-z 0-9 _ -` and no built-in's name.
pub fn validate_custom(
    trigger: &str,
    description: &str,
    usage_hint: &str,
) -> Result<(String, String, String), Error> {
    let t = trigger.trim().trim_start_matches('/').to_lowercase();
    if t.is_empty()
        || t.chars().count() > MAX_TRIGGER_CHARS
        || !t
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    {
        return Err(Error::invalid(
            "trigger",
            "1 to 32 letters a-z, digits, '_' or '-'",
        ));
    }
    if Builtin::lookup(&t).is_some() {
        return Err(Error::invalid("trigger", "is a built-in command"));
    }
    let d = description.trim();
    if d.chars().count() > MAX_DESCRIPTION_CHARS || d.chars().any(char::is_control) {
        return Err(Error::invalid(
            "description",
            "at most 120 characters, no control characters",
        ));
    }
    let h = usage_hint.trim();
    if h.chars().count() > MAX_HINT_CHARS || h.chars().any(char::is_control) {
        return Err(Error::invalid(
            "usage_hint",
            "at most 60 characters, no control characters",
        ));
    }
    Ok((t, d.to_owned(), h.to_owned()))
}

/// Where an answer goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseType {
    /// Shown only to the person who typed the command (Slack's default).
    Ephemeral,
    /// Posted in the conversation for everyone.
    InChannel,
}

impl ResponseType {
    /// Slack's `response_type`: `in_channel`, anything else ephemeral.
    pub fn parse(s: &str) -> ResponseType {
        if s == "in_channel" {
            ResponseType::InChannel
        } else {
            ResponseType::Ephemeral
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ResponseType::Ephemeral => "ephemeral",
            ResponseType::InChannel => "in_channel",
        }
    }
}

/// What a custom command's request carries (Slack's field names and meanings).
#[derive(Debug, Clone)]
pub struct RequestFields {
    pub token: String,
    pub channel_id: ChannelId,
    pub channel_name: String,
    pub user_id: UserId,
    pub user_name: String,
    pub command: String,
    pub text: String,
    pub response_url: String,
    pub trigger_id: String,
}

impl RequestFields {
    /// The form fields, in Slack's order. `team_id`/`team_domain` name the server (one team).
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("token", self.token.clone()),
            ("team_id", "T0".to_owned()),
            ("team_domain", "enclave".to_owned()),
            ("channel_id", self.channel_id.0.to_string()),
            ("channel_name", self.channel_name.clone()),
            ("user_id", self.user_id.0.to_string()),
            ("user_name", self.user_name.clone()),
            ("command", self.command.clone()),
            ("text", self.text.clone()),
            ("api_app_id", "A0".to_owned()),
            ("response_url", self.response_url.clone()),
            ("trigger_id", self.trigger_id.clone()),
        ]
    }
}

/// Whether a `response_url` still takes a follow-up at `now`.
pub fn response_url_open(expires_at: Millis, uses: u32, now: Millis) -> bool {
    now.0 < expires_at.0 && uses < RESPONSE_URL_USES
}

/// An ephemeral text, checked (not empty once trimmed, at most [`MAX_EPHEMERAL_CHARS`]).
pub fn ephemeral_text(s: &str) -> Result<String, Error> {
    let t = s.trim();
    if t.is_empty() {
        return Err(Error::invalid("text", "must not be empty"));
    }
    if t.chars().count() > MAX_EPHEMERAL_CHARS {
        return Err(Error::invalid("text", "must be at most 16000 characters"));
    }
    Ok(t.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_that_are_commands() {
        assert_eq!(
            split("/me waves"),
            Line::Command {
                name: "me".into(),
                args: "waves"
            }
        );
        assert_eq!(
            split("  /TOPIC   Budget 2027  "),
            Line::Command {
                name: "topic".into(),
                args: "Budget 2027"
            }
        );
        assert_eq!(
            split("/leave"),
            Line::Command {
                name: "leave".into(),
                args: ""
            }
        );
        // A Chinese argument after a newline is still the argument.
        assert_eq!(
            split("/status\n开会中"),
            Line::Command {
                name: "status".into(),
                args: "开会中"
            }
        );
    }

    #[test]
    fn lines_that_are_text() {
        assert_eq!(split("hello"), Line::Text("hello".into()));
        assert_eq!(split("//me"), Line::Text("/me".into()));
        assert_eq!(
            split("/usr/bin is full"),
            Line::Text("/usr/bin is full".into())
        );
        assert_eq!(split("/ alone"), Line::Text("/ alone".into()));
        assert_eq!(split("/"), Line::Text("/".into()));
    }

    #[test]
    fn builtins_and_aliases() {
        assert_eq!(Builtin::lookup("dm"), Some(Builtin::Msg));
        assert_eq!(Builtin::lookup("part"), Some(Builtin::Leave));
        assert_eq!(Builtin::lookup("nope"), None);
        let mut seen = std::collections::HashSet::new();
        for b in Builtin::ALL {
            assert!(seen.insert(b.name()));
            for a in b.aliases() {
                assert!(seen.insert(a), "alias {a} is taken twice");
            }
        }
    }

    #[test]
    fn arguments() {
        assert_eq!(
            parse(Builtin::Invite, "@Li.Lei, @hanmeimei @li.lei"),
            Ok(Call::Invite(vec!["li.lei".into(), "hanmeimei".into()]))
        );
        assert!(parse(Builtin::Invite, "").is_err());
        assert!(parse(Builtin::Me, "").is_err());
        assert_eq!(
            parse(Builtin::Join, "~town-square"),
            Ok(Call::Join("town-square".into()))
        );
        assert!(parse(Builtin::Join, "two words").is_err());
        assert_eq!(
            parse(Builtin::Msg, "@bob see you at 3"),
            Ok(Call::Msg {
                to: "bob".into(),
                text: "see you at 3".into()
            })
        );
        assert_eq!(parse(Builtin::Topic, ""), Ok(Call::Topic(None)));
        assert_eq!(parse(Builtin::Dnd, "ON"), Ok(Call::Dnd(Some(true))));
        assert!(parse(Builtin::Dnd, "maybe").is_err());
        assert!(parse(Builtin::Status, &"x".repeat(16_001)).is_err());
    }

    #[test]
    fn posted_texts() {
        assert_eq!(me_text("waves_hello *"), "_waves\\_hello \\*_");
        assert_eq!(shrug_text(""), "¯\\\\\\_(ツ)\\_/¯");
        assert_eq!(shrug_text("no idea"), "no idea ¯\\\\\\_(ツ)\\_/¯");
    }

    #[test]
    fn custom_triggers() {
        assert_eq!(
            validate_custom("/Weather", " The forecast ", "[city]"),
            Ok(("weather".into(), "The forecast".into(), "[city]".into()))
        );
        assert!(validate_custom("me", "", "").is_err());
        assert!(validate_custom("dm", "", "").is_err());
        assert!(validate_custom("天气", "", "").is_err());
        assert!(validate_custom("", "", "").is_err());
        assert!(validate_custom(&"a".repeat(33), "", "").is_err());
        assert!(validate_custom("ok", "line\nbreak", "").is_err());
    }

    #[test]
    fn response_urls_close() {
        assert!(response_url_open(Millis(10), 0, Millis(9)));
        assert!(!response_url_open(Millis(10), 0, Millis(10)));
        assert!(!response_url_open(Millis(10), RESPONSE_URL_USES, Millis(0)));
        assert_eq!(ResponseType::parse("in_channel"), ResponseType::InChannel);
        assert_eq!(ResponseType::parse("whatever"), ResponseType::Ephemeral);
    }
}
