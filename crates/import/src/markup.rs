//! Slack's message markup (`<@U123>`, `<#C123|name>`, `<!here>`, `<url|label>`, `&lt;`)
//! as [`Segment`]s, and their rendering in Enclave's markup once local names are known.
//!
//! Enclave's markup is Markdown-like text: `@username` mentions, `@here`/`@channel`,
//! `[label](url)` links; `#channel` stays text.

/// A piece of a message's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Plain text (entities already decoded).
    Text(String),
    /// A mention of a user by source id, with the label the source showed.
    User(String, Option<String>),
    /// A link to a conversation by source id, with its label.
    Channel(String, Option<String>),
    /// `@here`.
    Here,
    /// `@channel` / `@everyone`.
    Everyone,
    /// A link.
    Link { url: String, label: Option<String> },
}

/// Decodes the three entities Slack escapes (`&amp;` last, so `&amp;lt;` stays `&lt;`).
pub fn decode_entities(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Parses Slack markup.
pub fn parse_slack(text: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut rest = text;
    let push_text = |out: &mut Vec<Segment>, s: &str| {
        if s.is_empty() {
            return;
        }
        let s = decode_entities(s);
        if let Some(Segment::Text(prev)) = out.last_mut() {
            prev.push_str(&s);
        } else {
            out.push(Segment::Text(s));
        }
    };
    while let Some(open) = rest.find('<') {
        push_text(&mut out, &rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('>') else {
            push_text(&mut out, &rest[open..]);
            rest = "";
            break;
        };
        let inner = &after[..close];
        let (target, label) = match inner.split_once('|') {
            Some((t, l)) => (t, Some(decode_entities(l)).filter(|l| !l.is_empty())),
            None => (inner, None),
        };
        let seg = if let Some(id) = target.strip_prefix('@') {
            Segment::User(id.to_owned(), label)
        } else if let Some(id) = target.strip_prefix('#') {
            Segment::Channel(id.to_owned(), label)
        } else if let Some(cmd) = target.strip_prefix('!') {
            match cmd {
                "here" => Segment::Here,
                "channel" | "everyone" => Segment::Everyone,
                _ => match label {
                    // `<!subteam^S123|@team>`, `<!date^…|text>`: their label.
                    Some(l) => Segment::Text(l),
                    None => Segment::Text(format!("@{}", cmd.split('^').next().unwrap_or(cmd))),
                },
            }
        } else {
            Segment::Link {
                url: decode_entities(target),
                label,
            }
        };
        match seg {
            Segment::Text(t) => push_text(&mut out, &t),
            s => out.push(s),
        }
        rest = &after[close + 1..];
    }
    push_text(&mut out, rest);
    out
}

/// Renders segments as Enclave text: `user` gives the local username of a source user id,
/// `channel` the local name of a source conversation id.
pub fn render(
    segments: &[Segment],
    user: impl Fn(&str) -> Option<String>,
    channel: impl Fn(&str) -> Option<String>,
) -> String {
    let mut out = String::new();
    for s in segments {
        match s {
            Segment::Text(t) => out.push_str(t),
            Segment::User(id, label) => match user(id) {
                Some(name) => {
                    out.push('@');
                    out.push_str(&name);
                }
                None => {
                    out.push('@');
                    out.push_str(label.as_deref().unwrap_or(id).trim_start_matches('@'));
                }
            },
            Segment::Channel(id, label) => {
                out.push('#');
                let name = channel(id)
                    .or_else(|| label.clone())
                    .unwrap_or_else(|| id.clone());
                out.push_str(&name);
            }
            Segment::Here => out.push_str("@here"),
            Segment::Everyone => out.push_str("@channel"),
            Segment::Link { url, label } => match label {
                Some(l) if l != url && !url.starts_with("mailto:") => {
                    out.push('[');
                    out.push_str(&l.replace(['[', ']'], ""));
                    out.push_str("](");
                    out.push_str(&url.replace(' ', "%20").replace(')', "%29"));
                    out.push(')');
                }
                Some(l) if url.starts_with("mailto:") => out.push_str(l),
                _ => out.push_str(url.strip_prefix("mailto:").unwrap_or(url)),
            },
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_markup_becomes_segments_and_enclave_text() {
        let segs = parse_slack(
            "hi <@U1> and <@U9|ghost>, see <#C1|general> &amp; <https://e.com/a?b=1&amp;c=2|the doc> <!here> <!channel> a &lt;b&gt; <mailto:x@e.com|x@e.com> <!subteam^S1|@devs>",
        );
        let text = render(
            &segs,
            |id| (id == "U1").then(|| "alice".to_owned()),
            |id| (id == "C1").then(|| "general".to_owned()),
        );
        assert_eq!(
            text,
            "hi @alice and @ghost, see #general & [the doc](https://e.com/a?b=1&c=2) @here @channel a <b> x@e.com @devs"
        );
    }

    #[test]
    fn unclosed_and_plain_text_survive() {
        assert_eq!(parse_slack("a < b"), vec![Segment::Text("a < b".into())]);
        assert_eq!(parse_slack(""), Vec::<Segment>::new());
        assert_eq!(
            render(&parse_slack("<https://e.com>"), |_| None, |_| None),
            "https://e.com"
        );
        assert_eq!(decode_entities("&amp;lt;"), "&lt;");
    }
}
