//! Input rules: lengths, character sets and normal forms of everything a user can type.
//!
//! Each function returns the normalised value (trimmed, lower-cased where the rule says so) or an
//! [`Error::Invalid`] naming the field.

use crate::error::Error;

/// Longest message text, in characters (Unicode scalar values).
pub const MAX_MESSAGE_CHARS: usize = 16_000;
pub const MAX_CHANNEL_NAME_CHARS: usize = 64;
pub const MAX_TOPIC_CHARS: usize = 250;
pub const MAX_DISPLAY_NAME_CHARS: usize = 64;
pub const MAX_EMAIL_CHARS: usize = 254;
pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 256;
pub const MAX_CLIENT_MSG_ID_BYTES: usize = 64;
pub const MAX_TOKEN_NAME_CHARS: usize = 64;
/// Distinct emoji on one message.
pub const MAX_REACTIONS_PER_MESSAGE: usize = 50;

pub(crate) fn has_control(s: &str, allow_newlines: bool) -> bool {
    s.chars()
        .any(|c| c.is_control() && !(allow_newlines && (c == '\n' || c == '\t' || c == '\r')))
}

/// Characters that change how the text around them is shown without being seen themselves:
/// bidirectional embeddings, overrides, isolates and marks (U+202A–U+202E, U+2066–U+2069,
/// U+200E, U+200F, U+061C), and zero-width characters (U+200B–U+200D, U+2060, U+FEFF).
/// In a name they make `"evil\u{202E}gpj.exe"` read as something else, or two names that look
/// the same differ.
fn is_spoofing(c: char) -> bool {
    matches!(
        c,
        '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{061C}'
            | '\u{200B}'..='\u{200D}'
            | '\u{2060}'
            | '\u{FEFF}'
    )
}

/// Whether a character can stand beside a zero-width joiner in an emoji sequence
/// (`👩‍💻`, `👩🏽‍💻`, `❤️‍🔥`): a symbol, modifier or variation selector, not a letter,
/// digit, space or ASCII.
fn joins_emoji(c: Option<char>) -> bool {
    c.is_some_and(|c| {
        !c.is_ascii()
            && !c.is_alphanumeric()
            && !c.is_whitespace()
            && !c.is_control()
            && !is_spoofing(c)
    })
}

/// Whether `s` holds a character of [`is_spoofing`]. The one exception is a zero-width joiner
/// inside an emoji sequence, which draws one emoji and hides nothing.
pub(crate) fn has_spoofing(s: &str) -> bool {
    let chars: Vec<char> = s.chars().collect();
    chars.iter().enumerate().any(|(i, &c)| {
        if !is_spoofing(c) {
            return false;
        }
        let before = i.checked_sub(1).and_then(|j| chars.get(j)).copied();
        let after = chars.get(i + 1).copied();
        !(c == '\u{200D}' && joins_emoji(before) && joins_emoji(after))
    })
}

pub(crate) const SPOOFING: &str = "must not contain invisible or text-direction characters";

/// `2..=32` characters of `a-z 0-9 . _ -`, starting with a letter or digit; lower-cased.
pub fn username(s: &str) -> Result<String, Error> {
    let s = s.trim().to_ascii_lowercase();
    let n = s.len();
    if !(2..=32).contains(&n) {
        return Err(Error::invalid("username", "must be 2 to 32 characters"));
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(Error::invalid(
            "username",
            "may contain only a-z, 0-9, '.', '_' and '-'",
        ));
    }
    if !s.as_bytes()[0].is_ascii_alphanumeric() {
        return Err(Error::invalid(
            "username",
            "must start with a letter or digit",
        ));
    }
    if crate::mentions::is_special(&s) {
        return Err(Error::invalid("username", "is reserved"));
    }
    Ok(s)
}

/// The checks shared by every text shown to other people: `s` trimmed, at most `max` characters
/// (`too_long` says so), no control characters (newlines and tabs allowed when `multiline`) and
/// nothing invisible or direction-changing ([`is_spoofing`]).
pub(crate) fn shown_text<'a>(
    field: &'static str,
    s: &'a str,
    max: usize,
    too_long: &'static str,
    multiline: bool,
) -> Result<&'a str, Error> {
    let s = s.trim();
    if s.chars().count() > max {
        return Err(Error::invalid(field, too_long));
    }
    if has_control(s, multiline) {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    if has_spoofing(s) {
        return Err(Error::invalid(field, SPOOFING));
    }
    Ok(s)
}

/// Display names: trimmed, `1..=64` characters, no control characters and nothing invisible or
/// direction-changing ([`is_spoofing`]). Empty means "use the username".
pub fn display_name(s: &str) -> Result<String, Error> {
    shown_text(
        "display_name",
        s,
        MAX_DISPLAY_NAME_CHARS,
        "must be at most 64 characters",
        false,
    )
    .map(str::to_owned)
}

/// A plausible email address (one `@`, no spaces); lower-cased. Delivery proves the rest.
pub fn email(s: &str) -> Result<String, Error> {
    let s = s.trim().to_lowercase();
    let ok = s.chars().count() <= MAX_EMAIL_CHARS
        && !has_control(&s, false)
        && !s.contains(char::is_whitespace)
        && s.split_once('@').is_some_and(|(l, d)| {
            !l.is_empty()
                && d.contains('.')
                && !d.contains('@')
                && !d.starts_with('.')
                && !d.ends_with('.')
        });
    if !ok {
        return Err(Error::invalid("email", "is not an email address"));
    }
    Ok(s)
}

/// Passwords: `8..=256` characters; anything else is the user's business.
pub fn password(s: &str) -> Result<(), Error> {
    let n = s.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(Error::invalid("password", "must be at least 8 characters"));
    }
    if n > MAX_PASSWORD_CHARS {
        return Err(Error::invalid("password", "must be at most 256 characters"));
    }
    Ok(())
}

/// Channel names: trimmed, `1..=64` characters, any script, no control characters, nothing
/// invisible or direction-changing ([`is_spoofing`]) and no `#`/`@` at the start (those
/// introduce references in messages).
pub fn channel_name(s: &str) -> Result<String, Error> {
    if s.trim().is_empty() {
        return Err(Error::invalid("name", "must not be empty"));
    }
    let s = shown_text(
        "name",
        s,
        MAX_CHANNEL_NAME_CHARS,
        "must be at most 64 characters",
        false,
    )?;
    if s.starts_with(['#', '@']) {
        return Err(Error::invalid("name", "must not start with '#' or '@'"));
    }
    Ok(s.to_owned())
}

/// The key under which channel names are compared: case-folded, inner whitespace collapsed.
/// Public channels' keys are unique among public channels; private channels' keys are unique
/// nowhere, since refusing a name because a private channel holds it would reveal that channel.
pub fn channel_name_key(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Topic and purpose: trimmed, at most 250 characters, newlines allowed, nothing invisible or
/// direction-changing ([`is_spoofing`]): they are shown beside the channel's name.
pub fn topic(field: &'static str, s: &str) -> Result<String, Error> {
    shown_text(
        field,
        s,
        MAX_TOPIC_CHARS,
        "must be at most 250 characters",
        true,
    )
    .map(str::to_owned)
}

/// Message text: not blank, at most 16,000 characters, no control characters but newlines and tabs.
/// Trailing whitespace is removed; leading indentation is kept (it is meaningful in Markdown).
pub fn message_text(s: &str) -> Result<String, Error> {
    let s = s.trim_end();
    if s.trim_start().is_empty() {
        return Err(Error::invalid("text", "must not be empty"));
    }
    if s.chars().count() > MAX_MESSAGE_CHARS {
        return Err(Error::invalid("text", "must be at most 16000 characters"));
    }
    if has_control(s, true) {
        return Err(Error::invalid(
            "text",
            "must not contain control characters",
        ));
    }
    Ok(s.to_owned())
}

/// Client message ids: `1..=64` printable ASCII characters.
pub fn client_msg_id(s: &str) -> Result<String, Error> {
    if s.is_empty() || s.len() > MAX_CLIENT_MSG_ID_BYTES || !s.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(Error::invalid(
            "client_msg_id",
            "must be 1 to 64 printable ASCII characters",
        ));
    }
    Ok(s.to_owned())
}

/// The code points a reaction emoji is drawn from (inclusive ranges): pictographs and emoticons,
/// symbols, arrows, dingbats, geometric shapes, playing cards, regional indicators (flags), skin
/// tones, tags (subdivision flags), the zero-width joiner, the combining keycap and variation
/// selector 16. None is ASCII, a control character, whitespace, a letter or a digit (the
/// circled and squared letters and digits are left out). The OpenAPI document states the same
/// set as a pattern (checked by `enclave-http`'s contract test).
pub const EMOJI_RANGES: &[(char, char)] = &[
    ('\u{00A9}', '\u{00A9}'),
    ('\u{00AE}', '\u{00AE}'),
    ('\u{200D}', '\u{200D}'),
    ('\u{203C}', '\u{203C}'),
    ('\u{2049}', '\u{2049}'),
    ('\u{20E3}', '\u{20E3}'),
    ('\u{2122}', '\u{2122}'),
    ('\u{2190}', '\u{21FF}'),
    ('\u{2300}', '\u{23FF}'),
    ('\u{25A0}', '\u{2775}'),
    ('\u{2794}', '\u{27BF}'),
    ('\u{2900}', '\u{297F}'),
    ('\u{2B00}', '\u{2BFF}'),
    ('\u{3030}', '\u{3030}'),
    ('\u{303D}', '\u{303D}'),
    ('\u{3297}', '\u{3297}'),
    ('\u{3299}', '\u{3299}'),
    ('\u{FE0F}', '\u{FE0F}'),
    ('\u{1F000}', '\u{1F0FF}'),
    ('\u{1F18E}', '\u{1F18E}'),
    ('\u{1F191}', '\u{1F1AD}'),
    ('\u{1F1E6}', '\u{1F1FF}'),
    ('\u{1F200}', '\u{1F2FF}'),
    ('\u{1F300}', '\u{1F6FF}'),
    ('\u{1F700}', '\u{1F8FF}'),
    ('\u{1F900}', '\u{1FAFF}'),
    ('\u{E0020}', '\u{E007F}'),
];

/// Whether `c` is in [`EMOJI_RANGES`].
pub fn is_emoji_char(c: char) -> bool {
    EMOJI_RANGES.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// Reaction emoji: a short name (`thumbsup`, `+1`: 1 to 64 of `a-z 0-9 _ + -`, colons around it
/// optional) or one emoji of 1 to 8 code points from [`EMOJI_RANGES`] (flags, skin tones, ZWJ
/// sequences).
pub fn emoji(s: &str) -> Result<String, Error> {
    let name = s
        .strip_prefix(':')
        .and_then(|x| x.strip_suffix(':'))
        .unwrap_or(s);
    let is_name = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'+' | b'-')
        });
    if is_name {
        return Ok(name.to_owned());
    }
    let n = s.chars().count();
    let is_symbol = (1..=8).contains(&n) && s.chars().all(is_emoji_char);
    if is_symbol {
        return Ok(s.to_owned());
    }
    Err(Error::invalid(
        "emoji",
        "must be an emoji or an emoji short name",
    ))
}

/// Status texts: trimmed, at most 100 characters, no control characters.
pub fn status_text(s: &str) -> Result<String, Error> {
    let s = s.trim();
    if s.chars().count() > 100 || has_control(s, false) {
        return Err(Error::invalid(
            "status_text",
            "must be at most 100 characters",
        ));
    }
    Ok(s.to_owned())
}

/// A page size a client may ask for (`limit`): `1..=max`, [`PageSize::default`] when not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize {
    pub default: u32,
    pub max: u32,
    reason: &'static str,
}

/// `GET /users` and the channel directory.
pub const USERS_PAGE: PageSize = PageSize {
    default: 50,
    max: 200,
    reason: "must be 1 to 200",
};
/// The public channel directory.
pub const CHANNELS_PAGE: PageSize = USERS_PAGE;
/// The directory's people search (`GET /directory/search`).
pub const DIRECTORY_PAGE: PageSize = PageSize {
    default: 20,
    max: 50,
    reason: "must be 1 to 50",
};
/// A channel's members.
pub const MEMBERS_PAGE: PageSize = PageSize {
    default: 200,
    max: 1000,
    reason: "must be 1 to 1000",
};
/// A page of history.
pub const HISTORY_PAGE: PageSize = PageSize {
    default: crate::model::DEFAULT_PAGE,
    max: crate::model::MAX_PAGE,
    reason: "must be 1 to 200",
};
/// Replies of a thread.
pub const THREAD_PAGE: PageSize = MEMBERS_PAGE;
/// Events of a catch-up.
pub const EVENTS_PAGE: PageSize = PageSize {
    default: 500,
    max: 1000,
    reason: "must be 1 to 1000",
};

/// The page size asked for, or the default; outside `1..=max` it is refused (never clamped, so a
/// client learns that it did not get what it asked for).
pub fn page_size(given: Option<u32>, page: PageSize) -> Result<u32, Error> {
    match given {
        None => Ok(page.default),
        Some(n) if (1..=page.max).contains(&n) => Ok(n),
        Some(_) => Err(Error::invalid("limit", page.reason)),
    }
}

/// An uploaded file's name as given: it must hold a character that is neither whitespace nor a
/// control character (the name is cleaned further before it is stored).
pub fn upload_name(s: &str) -> Result<(), Error> {
    if s.chars().all(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::invalid("name", "must not be empty"));
    }
    Ok(())
}

/// An upload's size: at least one byte (an empty file shares nothing).
pub fn upload_size(bytes: u64) -> Result<(), Error> {
    if bytes == 0 {
        return Err(Error::invalid("body", "must not be empty"));
    }
    Ok(())
}

/// Token labels: trimmed, `1..=64` characters.
pub fn token_name(s: &str) -> Result<String, Error> {
    let s = s.trim();
    if s.is_empty() || s.chars().count() > MAX_TOKEN_NAME_CHARS || has_control(s, false) {
        return Err(Error::invalid("name", "must be 1 to 64 characters"));
    }
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert_eq!(username(" Alice.B "), Ok("alice.b".into()));
        assert_eq!(username("z9"), Ok("z9".into()));
        for bad in [
            "a",
            "-bob",
            "bo b",
            "bób",
            "here",
            "channel",
            &"x".repeat(33),
        ] {
            assert!(username(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn channel_names_allow_any_script() {
        assert_eq!(channel_name("  项目 讨论 "), Ok("项目 讨论".into()));
        assert_eq!(channel_name_key("Dev   Team"), "dev team");
        assert!(channel_name("").is_err());
        assert!(channel_name("#general").is_err());
        assert!(channel_name("a\u{7}b").is_err());
        assert!(channel_name(&"名".repeat(65)).is_err());
        assert!(channel_name(&"名".repeat(64)).is_ok());
    }

    /// Names that look like something they are not: every bidirectional control and zero-width
    /// character is refused, in display names, channel names and topics, wherever it stands.
    #[test]
    fn names_refuse_invisible_and_direction_characters() {
        #[rustfmt::skip]
        let table: &[(&str, bool)] = &[
            // (input, accepted)
            ("Zhang San 张三",             true),
            ("مرحبا",                      true),
            ("Alice 👩‍💻",                  true),  // ZWJ inside an emoji sequence
            ("❤️‍🔥 team",                   true),
            ("👩🏽‍💻",                       true),
            ("evil\u{202E}gpj.exe",        false), // right-to-left override
            ("\u{202A}a",                  false),
            ("a\u{202B}b",                 false),
            ("a\u{202C}b",                 false),
            ("a\u{202D}b",                 false),
            ("a\u{2066}b",                 false), // isolates
            ("a\u{2067}b",                 false),
            ("a\u{2068}b",                 false),
            ("a\u{2069}",                  false),
            ("a\u{200E}b",                 false), // marks
            ("\u{200F}a",                  false),
            ("a\u{061C}b",                 false),
            ("ad\u{200B}min",              false), // zero-width space
            ("ad\u{200C}min",              false), // zero-width non-joiner
            ("ad\u{200D}min",              false), // zero-width joiner between letters
            ("👩\u{200D}",                 false), // a joiner with nothing to join
            ("\u{200D}👩",                 false),
            ("ad\u{2060}min",              false), // word joiner
            ("\u{FEFF}admin",              false), // byte-order mark
        ];
        for (input, accepted) in table {
            let want = if *accepted { "ok" } else { SPOOFING };
            let reason = |r: Result<String, Error>| match r {
                Ok(_) => "ok".to_owned(),
                Err(Error::Invalid { reason, .. }) => reason.to_string(),
                Err(e) => format!("{e:?}"),
            };
            assert_eq!(reason(display_name(input)), want, "display_name {input:?}");
            assert_eq!(reason(channel_name(input)), want, "channel_name {input:?}");
            assert_eq!(reason(topic("topic", input)), want, "topic {input:?}");
        }
    }

    #[test]
    fn message_text_limits_count_characters_not_bytes() {
        assert!(message_text(&"字".repeat(16_000)).is_ok());
        assert!(message_text(&"字".repeat(16_001)).is_err());
        assert!(message_text("   \n ").is_err());
        assert_eq!(message_text("  code\n"), Ok("  code".into()));
        assert!(message_text("bell\u{7}").is_err());
        assert!(message_text("line\nline\ttab").is_ok());
    }

    #[test]
    fn page_sizes_are_refused_outside_their_range() {
        assert_eq!(page_size(None, USERS_PAGE), Ok(50));
        assert_eq!(page_size(Some(1), USERS_PAGE), Ok(1));
        assert_eq!(page_size(Some(200), USERS_PAGE), Ok(200));
        assert!(page_size(Some(0), USERS_PAGE).is_err());
        assert!(page_size(Some(201), USERS_PAGE).is_err());
        assert!(page_size(Some(2_147_483_648), EVENTS_PAGE).is_err());
        assert_eq!(page_size(None, EVENTS_PAGE), Ok(500));
    }

    #[test]
    fn uploads_need_a_name_and_a_byte() {
        assert!(upload_name("a.txt").is_ok());
        for bad in ["", "  ", "\u{0}", "\t\u{1c}"] {
            assert!(upload_name(bad).is_err(), "{bad:?}");
        }
        assert!(upload_size(0).is_err());
        assert!(upload_size(1).is_ok());
    }

    #[test]
    fn emoji_forms() {
        assert_eq!(emoji(":thumbsup:"), Ok("thumbsup".into()));
        assert_eq!(emoji("+1"), Ok("+1".into()));
        assert_eq!(emoji("👍"), Ok("👍".into()));
        assert_eq!(emoji("👍🏽"), Ok("👍🏽".into()));
        assert_eq!(emoji("🇨🇳"), Ok("🇨🇳".into()));
        assert_eq!(emoji("👩\u{200D}💻"), Ok("👩\u{200D}💻".into()));
        assert_eq!(emoji("❤\u{FE0F}"), Ok("❤\u{FE0F}".into()));
        for bad in [
            "",
            "Thumbs Up",
            "<script>",
            "中文",
            "a b",
            &"x".repeat(65),
            "¿",
            "Ⓐ",
            "🅰",
            "①",
            ":x",
            "😀😀😀😀😀😀😀😀😀",
        ] {
            assert!(emoji(bad).is_err(), "{bad:?}");
        }
    }

    /// The emoji set only narrows the older rule (no ASCII, control, whitespace, letter or
    /// digit), so nothing it accepts was refused before.
    #[test]
    fn emoji_ranges_hold_no_letters_digits_or_spaces() {
        for &(lo, hi) in EMOJI_RANGES {
            assert!(lo <= hi);
            for c in lo..=hi {
                assert!(
                    !c.is_ascii() && !c.is_control() && !c.is_whitespace() && !c.is_alphanumeric(),
                    "U+{:04X}",
                    u32::from(c)
                );
            }
        }
    }

    #[test]
    fn emails_and_passwords() {
        assert_eq!(email("Bob@Example.COM"), Ok("bob@example.com".into()));
        for bad in ["bob", "@x.y", "bob@", "bob@x", "b ob@x.y", "a@b@c.d"] {
            assert!(email(bad).is_err(), "{bad:?}");
        }
        assert!(password("1234567").is_err());
        assert!(password("12345678").is_ok());
        assert!(password(&"p".repeat(257)).is_err());
    }

    #[test]
    fn client_ids() {
        assert!(client_msg_id("abc-123_X").is_ok());
        assert!(client_msg_id("").is_err());
        assert!(client_msg_id("a b").is_err());
        assert!(client_msg_id(&"a".repeat(65)).is_err());
    }
}
