//! Finding `@mentions` in message text.
//!
//! A mention is `@` followed by a username, at the start of the text or after a character that
//! cannot be part of a username or an email address (so `bob@example.com` is not a mention).
//! Mentions inside inline code and fenced code blocks do not count. `@channel`, `@all` and
//! `@everyone` notify every member; `@here` the members who are online.

/// What a text mentions, before resolution to accounts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Lower-cased usernames, each once, in order of first appearance.
    pub usernames: Vec<String>,
    pub channel: bool,
    pub here: bool,
}

/// Words that are never usernames because they mean a group.
pub fn is_special(word: &str) -> bool {
    matches!(word, "channel" | "all" | "everyone" | "here")
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')
}

/// The most distinct users one message can mention; later ones are ignored.
pub const MAX_MENTIONS: usize = 100;

/// Parses the mentions in `text`.
pub fn parse(text: &str) -> Parsed {
    let mut out = Parsed::default();
    let mut in_fence = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        scan_line(line, &mut out);
    }
    out
}

fn scan_line(line: &str, out: &mut Parsed) {
    let b = line.as_bytes();
    let mut in_code = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'`' => in_code = !in_code,
            b'@' if !in_code && (i == 0 || !(is_name_byte(b[i - 1]) || b[i - 1] == b'@')) => {
                let start = i + 1;
                let mut end = start;
                while end < b.len() && is_name_byte(b[end]) {
                    end += 1;
                }
                // A trailing '.', '-' or '_' is punctuation ("thanks @bob.").
                let mut word_end = end;
                while word_end > start && matches!(b[word_end - 1], b'.' | b'-' | b'_') {
                    word_end -= 1;
                }
                if word_end > start {
                    let word = line[start..word_end].to_ascii_lowercase();
                    match word.as_str() {
                        "channel" | "all" | "everyone" => out.channel = true,
                        "here" => out.here = true,
                        _ => {
                            if word.len() <= 32
                                && !out.usernames.contains(&word)
                                && out.usernames.len() < MAX_MENTIONS
                            {
                                out.usernames.push(word);
                            }
                        }
                    }
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(t: &str) -> Vec<String> {
        parse(t).usernames
    }

    #[test]
    fn finds_users_and_groups() {
        let table: &[(&str, &[&str], bool, bool)] = &[
            ("hi @alice", &["alice"], false, false),
            (
                "@Alice and @bob.smith, @alice again",
                &["alice", "bob.smith"],
                false,
                false,
            ),
            ("thanks @bob.", &["bob"], false, false),
            ("mail bob@example.com", &[], false, false),
            ("@channel please", &[], true, false),
            ("@here 注意 @everyone", &[], true, true),
            ("`@alice` is code", &[], false, false),
            ("```\n@alice\n```\n@bob", &["bob"], false, false),
            ("你好@张三 @wang", &["wang"], false, false),
            ("@@alice", &[], false, false),
            ("(@carol)", &["carol"], false, false),
            ("@", &[], false, false),
        ];
        for (text, users, channel, here) in table {
            let p = parse(text);
            assert_eq!(
                p.usernames,
                users.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                "{text:?}"
            );
            assert_eq!((p.channel, p.here), (*channel, *here), "{text:?}");
        }
    }

    #[test]
    fn bounded() {
        let text: String = (0..500).map(|i| format!("@user{i} ")).collect();
        assert_eq!(names(&text).len(), MAX_MENTIONS);
    }
}
