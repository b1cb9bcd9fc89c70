//! Incoming webhooks (Slack-compatible): the rules a payload must meet and what the message
//! made of it says.
//!
//! A door parses Slack's JSON into [`Payload`] (text in Slack's mrkdwn, legacy attachments,
//! Block Kit blocks); [`Payload::check`] refuses what Slack refuses, with Slack's error strings
//! ([`HookError::as_str`]), and applies Enclave's size limits; [`Payload::to_markdown`] renders
//! the whole payload as the message's Markdown, which every client shows. No I/O here.

use crate::ids::{ChannelId, Millis, UserId};
use crate::validate::MAX_MESSAGE_CHARS;

/// The largest request body a webhook accepts, in bytes (Slack's own limit is similar).
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Slack's limit on a message's attachments.
pub const MAX_ATTACHMENTS: usize = 100;
/// Slack's limit on a message's blocks.
pub const MAX_BLOCKS: usize = 50;
/// Slack's limits on a section's fields and an actions block's elements.
pub const MAX_FIELDS: usize = 10;
pub const MAX_ELEMENTS: usize = 25;
/// Slack's limit on one text of a block (and ours on any one string of a payload).
pub const MAX_STRING_CHARS: usize = 3_000;
/// Requests per minute one webhook accepts (Slack: about one per second).
pub const RATE_PER_MINUTE: u32 = 60;
/// A webhook's name.
pub const MAX_NAME_CHARS: usize = 64;

/// A configured incoming webhook. Its secret is known only by its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingWebhook {
    pub id: i64,
    pub channel_id: ChannelId,
    /// Who made it; messages are posted as this account (which must still be able to post).
    pub creator_id: UserId,
    pub name: String,
    pub created_at: Millis,
    /// When the secret was last replaced.
    pub rotated_at: Option<Millis>,
}

/// Slack's answers to a webhook request that is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookError {
    /// Not JSON, not the expected shape, or over a limit.
    InvalidPayload,
    /// Neither text nor attachments nor blocks.
    NoText,
    /// More attachments than allowed.
    TooManyAttachments,
    /// The webhook (its secret) is unknown.
    NoService,
    /// The channel is gone.
    ChannelNotFound,
    /// The channel is archived.
    ChannelIsArchived,
    /// The webhook's owner may no longer post there.
    ActionProhibited,
    /// Too many requests.
    RateLimited,
}

impl HookError {
    /// Slack's error string, the whole response body.
    pub const fn as_str(self) -> &'static str {
        match self {
            HookError::InvalidPayload => "invalid_payload",
            HookError::NoText => "no_text",
            HookError::TooManyAttachments => "too_many_attachments",
            HookError::NoService => "no_service",
            HookError::ChannelNotFound => "channel_not_found",
            HookError::ChannelIsArchived => "channel_is_archived",
            HookError::ActionProhibited => "action_prohibited",
            HookError::RateLimited => "rate_limited",
        }
    }

    /// The HTTP status Slack answers with.
    pub const fn status(self) -> u16 {
        match self {
            HookError::InvalidPayload | HookError::NoText | HookError::TooManyAttachments => 400,
            HookError::ActionProhibited => 403,
            HookError::NoService | HookError::ChannelNotFound => 404,
            HookError::ChannelIsArchived => 410,
            HookError::RateLimited => 429,
        }
    }
}

/// A text object: `mrkdwn` (Slack's markup) or `plain_text`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Text {
    pub mrkdwn: bool,
    pub text: String,
}

/// A legacy attachment's field.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Field {
    pub title: String,
    pub value: String,
    pub short: bool,
}

/// A legacy attachment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attachment {
    pub fallback: String,
    pub color: String,
    pub pretext: String,
    pub author_name: String,
    pub author_link: String,
    pub title: String,
    pub title_link: String,
    pub text: String,
    pub fields: Vec<Field>,
    pub footer: String,
    pub image_url: String,
    pub thumb_url: String,
    /// Seconds since 1970.
    pub ts: Option<i64>,
}

/// One element of a context block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextElement {
    Text(Text),
    Image { url: String, alt: String },
}

/// A button of an actions block.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Button {
    pub text: String,
    pub url: String,
    pub value: String,
    pub action_id: String,
    /// `primary`, `danger` or empty.
    pub style: String,
}

/// The common Block Kit blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    Section {
        text: Option<Text>,
        fields: Vec<Text>,
    },
    Header {
        text: String,
    },
    Divider,
    Context {
        elements: Vec<ContextElement>,
    },
    Image {
        url: String,
        alt: String,
        title: String,
    },
    Actions {
        buttons: Vec<Button>,
    },
}

/// A webhook request's content, parsed by a door.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Payload {
    pub text: String,
    /// `false` when `"mrkdwn": false` asked for the text verbatim.
    pub mrkdwn: bool,
    pub attachments: Vec<Attachment>,
    pub blocks: Vec<Block>,
}

fn chars_ok(s: &str) -> bool {
    s.chars().count() <= MAX_STRING_CHARS
}

/// Links may only be `http(s)` or `mailto`: anything else (`javascript:`) is refused.
fn link_ok(s: &str) -> bool {
    let l = s.trim().to_ascii_lowercase();
    s.is_empty()
        || l.starts_with("https://")
        || l.starts_with("http://")
        || l.starts_with("mailto:")
}

impl Payload {
    /// Refuses what Slack refuses, and what is over Enclave's limits.
    pub fn check(&self) -> Result<(), HookError> {
        if self.text.trim().is_empty() && self.attachments.is_empty() && self.blocks.is_empty() {
            return Err(HookError::NoText);
        }
        if self.attachments.len() > MAX_ATTACHMENTS {
            return Err(HookError::TooManyAttachments);
        }
        if self.blocks.len() > MAX_BLOCKS || self.text.chars().count() > MAX_MESSAGE_CHARS {
            return Err(HookError::InvalidPayload);
        }
        let bad = HookError::InvalidPayload;
        for a in &self.attachments {
            let strings = [
                &a.fallback,
                &a.color,
                &a.pretext,
                &a.author_name,
                &a.title,
                &a.text,
                &a.footer,
            ];
            if !strings.iter().all(|s| chars_ok(s))
                || a.fields.len() > MAX_FIELDS * 2
                || !a
                    .fields
                    .iter()
                    .all(|f| chars_ok(&f.title) && chars_ok(&f.value))
                || ![&a.author_link, &a.title_link, &a.image_url, &a.thumb_url]
                    .iter()
                    .all(|l| chars_ok(l) && link_ok(l))
            {
                return Err(bad);
            }
        }
        for b in &self.blocks {
            let ok = match b {
                Block::Section { text, fields } => {
                    (text.is_some() || !fields.is_empty())
                        && text.as_ref().is_none_or(|t| chars_ok(&t.text))
                        && fields.len() <= MAX_FIELDS
                        && fields.iter().all(|f| f.text.chars().count() <= 2_000)
                }
                Block::Header { text } => !text.is_empty() && text.chars().count() <= 150,
                Block::Divider => true,
                Block::Context { elements } => {
                    !elements.is_empty()
                        && elements.len() <= 10
                        && elements.iter().all(|e| match e {
                            ContextElement::Text(t) => chars_ok(&t.text),
                            ContextElement::Image { url, alt } => {
                                !url.is_empty() && link_ok(url) && chars_ok(url) && chars_ok(alt)
                            }
                        })
                }
                Block::Image { url, alt, title } => {
                    !url.is_empty()
                        && link_ok(url)
                        && chars_ok(url)
                        && chars_ok(alt)
                        && chars_ok(title)
                }
                Block::Actions { buttons } => {
                    !buttons.is_empty()
                        && buttons.len() <= MAX_ELEMENTS
                        && buttons.iter().all(|x| {
                            !x.text.is_empty()
                                && x.text.chars().count() <= 75
                                && link_ok(&x.url)
                                && chars_ok(&x.url)
                                && chars_ok(&x.value)
                        })
                }
            };
            if !ok {
                return Err(bad);
            }
        }
        if self.to_markdown().chars().count() > MAX_MESSAGE_CHARS {
            return Err(bad);
        }
        Ok(())
    }

    /// The message's Markdown: the text, then each attachment and block. When blocks are
    /// present, Slack shows them instead of `text` (which is then the notification's
    /// fallback): so does this.
    pub fn to_markdown(&self) -> String {
        let mut out: Vec<String> = Vec::new();
        if self.blocks.is_empty() && !self.text.trim().is_empty() {
            out.push(if self.mrkdwn {
                mrkdwn(&self.text)
            } else {
                self.text.clone()
            });
        }
        for b in &self.blocks {
            out.push(block_markdown(b));
        }
        for a in &self.attachments {
            out.push(attachment_markdown(a));
        }
        out.retain(|s| !s.trim().is_empty());
        out.join("\n\n")
    }
}

fn text_md(t: &Text) -> String {
    if t.mrkdwn {
        mrkdwn(&t.text)
    } else {
        t.text.clone()
    }
}

fn link(label: &str, url: &str) -> String {
    if url.is_empty() {
        label.to_owned()
    } else {
        format!("[{label}]({url})")
    }
}

fn quote(s: &str) -> String {
    s.lines()
        .map(|l| format!("> {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn block_markdown(b: &Block) -> String {
    match b {
        Block::Section { text, fields } => {
            let mut parts = Vec::new();
            if let Some(t) = text {
                parts.push(text_md(t));
            }
            for f in fields {
                parts.push(text_md(f));
            }
            parts.join("\n\n")
        }
        Block::Header { text } => format!("### {text}"),
        Block::Divider => "---".into(),
        Block::Context { elements } => elements
            .iter()
            .map(|e| match e {
                ContextElement::Text(t) => text_md(t),
                ContextElement::Image { url, alt } => {
                    link(if alt.is_empty() { "image" } else { alt }, url)
                }
            })
            .collect::<Vec<_>>()
            .join(" · "),
        Block::Image { url, alt, title } => {
            let label = if title.is_empty() { alt } else { title };
            format!(
                "![{}]({url})",
                if label.is_empty() { "image" } else { label }
            )
        }
        Block::Actions { buttons } => buttons
            .iter()
            .map(|x| {
                if x.url.is_empty() {
                    format!("`{}`", x.text)
                } else {
                    link(&x.text, &x.url)
                }
            })
            .collect::<Vec<_>>()
            .join(" | "),
    }
}

fn attachment_markdown(a: &Attachment) -> String {
    let mut lines = Vec::new();
    if !a.pretext.is_empty() {
        lines.push(mrkdwn(&a.pretext));
    }
    let mut body = Vec::new();
    if !a.author_name.is_empty() {
        body.push(format!("*{}*", link(&a.author_name, &a.author_link)));
    }
    if !a.title.is_empty() {
        body.push(format!("**{}**", link(&a.title, &a.title_link)));
    }
    if !a.text.is_empty() {
        body.push(mrkdwn(&a.text));
    }
    for f in &a.fields {
        body.push(format!("**{}**: {}", f.title, mrkdwn(&f.value)));
    }
    if !a.image_url.is_empty() {
        body.push(format!("![image]({})", a.image_url));
    } else if !a.thumb_url.is_empty() {
        body.push(format!("![thumbnail]({})", a.thumb_url));
    }
    if !a.footer.is_empty() {
        body.push(format!("_{}_", a.footer));
    }
    if body.is_empty() && !a.fallback.is_empty() {
        body.push(a.fallback.clone());
    }
    if !body.is_empty() {
        lines.push(quote(&body.join("\n")));
    }
    lines.join("\n")
}

/// Slack's mrkdwn as Markdown: `*bold*` → `**bold**`, `~strike~` → `~~strike~~`,
/// `<url|label>` → `[label](url)`, `<url>` → `url`, `<!here>`/`<!channel>`/`<!everyone>` →
/// `@here`..., `<@U123>` kept as text; `&lt; &gt; &amp;` decoded. `_italic_` and code are the same.
pub fn mrkdwn(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut rest = s;
    while let Some(i) = rest.find(['<', '*', '~', '`']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let c = tail.as_bytes()[0];
        match c {
            b'`' => {
                // Code: copied as is up to its end.
                let fence = if tail.starts_with("```") { "```" } else { "`" };
                match tail[fence.len()..].find(fence) {
                    Some(j) => {
                        let end = fence.len() + j + fence.len();
                        out.push_str(&tail[..end]);
                        rest = &tail[end..];
                    }
                    None => {
                        out.push_str(tail);
                        rest = "";
                    }
                }
            }
            b'<' => match tail.find('>') {
                Some(j) => {
                    let inner = &tail[1..j];
                    out.push_str(&angle(inner));
                    rest = &tail[j + 1..];
                }
                None => {
                    out.push('<');
                    rest = &tail[1..];
                }
            },
            _ => {
                let mark = c as char;
                let after = &tail[1..];
                match after.find(mark) {
                    Some(j) if j > 0 && !after[..j].contains('\n') && !after.starts_with(' ') => {
                        let doubled = if mark == '*' { "**" } else { "~~" };
                        out.push_str(doubled);
                        out.push_str(&after[..j]);
                        out.push_str(doubled);
                        rest = &after[j + 1..];
                    }
                    _ => {
                        out.push(mark);
                        rest = after;
                    }
                }
            }
        }
    }
    out.push_str(rest);
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn angle(inner: &str) -> String {
    if let Some(special) = inner.strip_prefix('!') {
        let name = special.split('|').next().unwrap_or_default();
        return match name {
            "here" | "channel" | "everyone" => format!("@{name}"),
            _ => special.split('|').nth(1).unwrap_or(name).to_owned(),
        };
    }
    if inner.starts_with('@') || inner.starts_with('#') {
        return inner
            .split('|')
            .nth(1)
            .map_or_else(|| inner.to_owned(), str::to_owned);
    }
    match inner.split_once('|') {
        Some((url, label)) if link_ok(url) => format!("[{label}]({url})"),
        Some((_, label)) => label.to_owned(),
        None if link_ok(inner) => inner.to_owned(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mrkdwn_becomes_markdown() {
        for (from, to) in [
            ("*bold* and _it_", "**bold** and _it_"),
            ("~gone~", "~~gone~~"),
            (
                "see <https://x.org/a|the docs>",
                "see [the docs](https://x.org/a)",
            ),
            ("<https://x.org>", "https://x.org"),
            ("<!here> deploy", "@here deploy"),
            ("<!channel|channel>", "@channel"),
            ("`*not bold*`", "`*not bold*`"),
            ("a * b * c", "a * b * c"),
            ("&lt;tag&gt; &amp;", "<tag> &"),
            ("<javascript:alert(1)|click>", "click"),
            ("2 < 3", "2 < 3"),
        ] {
            assert_eq!(mrkdwn(from), to, "{from}");
        }
    }

    #[test]
    fn payloads_are_checked_as_slack_does() {
        assert_eq!(Payload::default().check(), Err(HookError::NoText));
        let text = Payload {
            text: "hi".into(),
            mrkdwn: true,
            ..Payload::default()
        };
        assert_eq!(text.check(), Ok(()));
        let many = Payload {
            attachments: vec![Attachment::default(); MAX_ATTACHMENTS + 1],
            ..Payload::default()
        };
        assert_eq!(many.check(), Err(HookError::TooManyAttachments));
        let evil = Payload {
            attachments: vec![Attachment {
                title: "x".into(),
                title_link: "javascript:alert(1)".into(),
                ..Attachment::default()
            }],
            ..Payload::default()
        };
        assert_eq!(evil.check(), Err(HookError::InvalidPayload));
        let long = Payload {
            text: "x".repeat(MAX_MESSAGE_CHARS + 1),
            ..Payload::default()
        };
        assert_eq!(long.check(), Err(HookError::InvalidPayload));
        let empty_section = Payload {
            blocks: vec![Block::Section {
                text: None,
                fields: vec![],
            }],
            ..Payload::default()
        };
        assert_eq!(empty_section.check(), Err(HookError::InvalidPayload));
        assert_eq!(HookError::ChannelIsArchived.status(), 410);
    }

    #[test]
    fn blocks_and_attachments_render() {
        let p = Payload {
            text: "fallback".into(),
            mrkdwn: true,
            blocks: vec![
                Block::Header {
                    text: "Deploy".into(),
                },
                Block::Section {
                    text: Some(Text {
                        mrkdwn: true,
                        text: "*done*".into(),
                    }),
                    fields: vec![Text {
                        mrkdwn: false,
                        text: "env: prod".into(),
                    }],
                },
                Block::Divider,
                Block::Actions {
                    buttons: vec![Button {
                        text: "Open".into(),
                        url: "https://ci.example.org/1".into(),
                        ..Button::default()
                    }],
                },
            ],
            attachments: vec![Attachment {
                color: "#36a64f".into(),
                pretext: "Build".into(),
                title: "Job 7".into(),
                title_link: "https://ci.example.org/7".into(),
                fields: vec![Field {
                    title: "Status".into(),
                    value: "passed".into(),
                    short: true,
                }],
                footer: "CI".into(),
                ..Attachment::default()
            }],
        };
        assert_eq!(p.check(), Ok(()));
        let md = p.to_markdown();
        assert!(!md.contains("fallback"), "{md}");
        for want in [
            "### Deploy",
            "**done**",
            "env: prod",
            "---",
            "[Open](https://ci.example.org/1)",
            "Build",
            "> **[Job 7](https://ci.example.org/7)**",
            "> **Status**: passed",
            "> _CI_",
        ] {
            assert!(md.contains(want), "{want} in {md}");
        }
    }
}
