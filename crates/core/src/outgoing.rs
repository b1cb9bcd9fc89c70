//! Outgoing webhooks (Slack- and Mattermost-compatible): which message calls which webhook, what
//! the request says and how it is signed, and what happens after each attempt. No I/O here: the
//! application's worker (`enclave_app::outgoing`) reads the event log, asks [`triggers`] and
//! [`after_attempt`], and sends through the one outbound client.
//!
//! - **Scope:** a webhook belongs to one channel. Without trigger words it is called for every
//!   message there; with trigger words, for a message whose first word (split on white space,
//!   compared without regard to case) is one of them, as Slack's and Mattermost's "first word"
//!   rule does.
//! - **No loops:** a message posted by a bot account, or by an integration (an incoming
//!   webhook's post, an outgoing webhook's reply: their client id starts with
//!   [`INTEGRATION_CLIENT_ID_PREFIX`]) never calls a webhook.
//! - **Signature:** Slack's `v0` scheme: `X-Slack-Signature: v0=hex(HMAC-SHA256(secret,
//!   "v0:" + timestamp + ":" + body))` with `X-Slack-Request-Timestamp: timestamp` (Unix
//!   seconds).
//! - **Retries:** at most [`MAX_ATTEMPTS`] attempts, waiting [`retry_delay`] (1 s, 2 s, 4 s...)
//!   after a failed one; a refused request (the allow-list, a private address, a bad URL) is not
//!   retried, nor is a 4xx answer other than 408 and 429.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::error::Error;
use crate::ids::{ChannelId, Millis, UserId};

/// A webhook's name (as an incoming webhook's).
pub const MAX_NAME_CHARS: usize = 64;
/// Trigger words per webhook.
pub const MAX_TRIGGER_WORDS: usize = 10;
/// One trigger word.
pub const MAX_TRIGGER_WORD_CHARS: usize = 64;
/// The callback URL.
pub const MAX_URL_CHARS: usize = 2_000;
/// Attempts per delivery, the first included.
pub const MAX_ATTEMPTS: u32 = 5;
/// The delivery log keeps this many finished deliveries per webhook (the newest).
pub const LOG_KEEP: u32 = 100;
/// Outgoing webhooks per channel.
pub const MAX_PER_CHANNEL: usize = 20;
/// Slack's `team_id` field: an Enclave server is one team.
pub const TEAM_ID: &str = "enclave";
/// The client id of a message posted by an integration starts with this; such a message never
/// calls an outgoing webhook.
pub const INTEGRATION_CLIENT_ID_PREFIX: &str = "integration:";

/// The body's encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType {
    /// `application/x-www-form-urlencoded`, Slack's outgoing webhooks.
    Form,
    /// `application/json`, the same fields as one object.
    Json,
}

impl ContentType {
    pub const fn as_str(self) -> &'static str {
        match self {
            ContentType::Form => "form",
            ContentType::Json => "json",
        }
    }

    pub fn parse(s: &str) -> Option<ContentType> {
        match s {
            "form" => Some(ContentType::Form),
            "json" => Some(ContentType::Json),
            _ => None,
        }
    }

    /// The `Content-Type` header.
    pub const fn mime(self) -> &'static str {
        match self {
            ContentType::Form => "application/x-www-form-urlencoded",
            ContentType::Json => "application/json",
        }
    }
}

/// A configured outgoing webhook. Its signing secret and token live in the store only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingWebhook {
    pub id: i64,
    pub channel_id: ChannelId,
    /// Who made it (its owner): the only one who manages it and reads its delivery log; replies
    /// are posted as this account, which must still be able to post in the channel.
    pub creator_id: UserId,
    pub name: String,
    pub url: String,
    /// Empty: every message of the channel.
    pub trigger_words: Vec<String>,
    pub content_type: ContentType,
    pub created_at: Millis,
    pub rotated_at: Option<Millis>,
}

/// Who posted a message, as far as the loop rule cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Poster<'a> {
    pub is_bot: bool,
    pub client_msg_id: Option<&'a str>,
}

/// A message that calls a webhook: the trigger word that matched (empty when the webhook takes
/// every message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    pub trigger_word: String,
}

/// Whether a message posted by an integration (its client id).
pub fn is_integration_post(client_msg_id: Option<&str>) -> bool {
    client_msg_id.is_some_and(|c| c.starts_with(INTEGRATION_CLIENT_ID_PREFIX))
}

/// Whether the message `text`, posted in `channel_id` by `poster`, calls `hook`.
pub fn triggers(
    hook: &OutgoingWebhook,
    channel_id: ChannelId,
    text: &str,
    poster: Poster<'_>,
) -> Option<Trigger> {
    if hook.channel_id != channel_id || poster.is_bot || is_integration_post(poster.client_msg_id) {
        return None;
    }
    if hook.trigger_words.is_empty() {
        return Some(Trigger {
            trigger_word: String::new(),
        });
    }
    let first = text.split_whitespace().next()?;
    let first = first.to_lowercase();
    hook.trigger_words
        .iter()
        .find(|w| w.to_lowercase() == first)
        .map(|w| Trigger {
            trigger_word: w.clone(),
        })
}

/// What a new webhook (or a change) must be; returns the name trimmed and the trigger words
/// without repeats, in the order given.
pub fn validate(
    name: &str,
    url: &str,
    trigger_words: &[String],
) -> Result<(String, Vec<String>), Error> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(Error::invalid(
            "name",
            "1 to 64 characters, no control characters",
        ));
    }
    let lower = url.to_ascii_lowercase();
    if url.len() > MAX_URL_CHARS
        || !(lower.starts_with("https://") || lower.starts_with("http://"))
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Error::invalid(
            "url",
            "an http or https URL of at most 2,000 characters",
        ));
    }
    if trigger_words.len() > MAX_TRIGGER_WORDS {
        return Err(Error::invalid("trigger_words", "at most 10 trigger words"));
    }
    let mut words: Vec<String> = Vec::with_capacity(trigger_words.len());
    for w in trigger_words {
        if w.is_empty()
            || w.chars().count() > MAX_TRIGGER_WORD_CHARS
            || w.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(Error::invalid(
                "trigger_words",
                "each 1 to 64 characters, no spaces or control characters",
            ));
        }
        if !words.iter().any(|x| x.to_lowercase() == w.to_lowercase()) {
            words.push(w.clone());
        }
    }
    Ok((name.to_owned(), words))
}

/// Slack's signature of a request: `v0=` and the hex HMAC-SHA256 of `v0:{timestamp}:{body}`
/// under the webhook's signing secret.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any size");
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    let code = mac.finalize().into_bytes();
    let mut out = String::with_capacity(3 + code.len() * 2);
    out.push_str("v0=");
    for b in code.iter() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Whether `sig` is the signature of `body` at `timestamp` (constant-time comparison), as a
/// receiver checks it.
pub fn verify(secret: &[u8], timestamp: i64, body: &[u8], sig: &str) -> bool {
    let Some(hex) = sig.strip_prefix("v0=") else {
        return false;
    };
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return false;
    }
    let bytes: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap_or(0))
        .collect();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any size");
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    mac.verify_slice(&bytes).is_ok()
}

/// Slack's fields of an outgoing webhook request, in Slack's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields {
    pub token: String,
    pub channel_id: ChannelId,
    pub channel_name: String,
    /// The message's time as Slack writes it: seconds with six decimals.
    pub timestamp: Millis,
    pub user_id: UserId,
    pub user_name: String,
    pub text: String,
    pub trigger_word: String,
}

impl Fields {
    /// Name and value of each field (`team_id` included).
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("token", self.token.clone()),
            ("team_id", TEAM_ID.to_owned()),
            ("channel_id", self.channel_id.to_string()),
            ("channel_name", self.channel_name.clone()),
            (
                "timestamp",
                format!(
                    "{}.{:06}",
                    self.timestamp.0.div_euclid(1000),
                    self.timestamp.0.rem_euclid(1000) * 1000
                ),
            ),
            ("user_id", self.user_id.to_string()),
            ("user_name", self.user_name.clone()),
            ("text", self.text.clone()),
            ("trigger_word", self.trigger_word.clone()),
        ]
    }
}

/// A delivery's state in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its first attempt or a retry.
    Pending,
    /// Answered with 2xx.
    Delivered,
    /// Gave up: the attempts are spent, or the receiver refused it (4xx).
    Failed,
    /// Never sent: the outbound client refused the destination (allow-list, private address,
    /// URL).
    Refused,
}

impl DeliveryStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Refused => "refused",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryStatus> {
        match s {
            "pending" => Some(DeliveryStatus::Pending),
            "delivered" => Some(DeliveryStatus::Delivered),
            "failed" => Some(DeliveryStatus::Failed),
            "refused" => Some(DeliveryStatus::Refused),
            _ => None,
        }
    }
}

/// One entry of a webhook's delivery log: a message that called it, and how its attempts went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: i64,
    pub webhook_id: i64,
    pub message_id: crate::ids::MessageId,
    pub status: DeliveryStatus,
    pub attempts: u32,
    /// The last answer's HTTP status.
    pub http_status: Option<u16>,
    /// Why the last attempt failed.
    pub error: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// When the next attempt is due (pending deliveries).
    pub next_attempt_at: Option<Millis>,
}

/// How one attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The receiver answered with this status.
    Answered(u16),
    /// No answer (connection, time-out, a response over the size cap).
    Transport,
    /// The outbound client refused to send (allow-list, private address, URL).
    Refused,
}

/// What follows an attempt: the delivery is finished with a status, or retried after a delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Done(DeliveryStatus),
    RetryAfter(Millis),
}

/// The wait before attempt `attempts + 1`: 1 s, 2 s, 4 s, 8 s...
pub fn retry_delay(attempts: u32) -> Millis {
    Millis(1000i64 << attempts.saturating_sub(1).min(16))
}

/// What follows the `attempts`-th attempt (counting it) that went as `attempt`.
pub fn after_attempt(attempts: u32, attempt: &Attempt) -> Next {
    let retryable = match attempt {
        Attempt::Answered(s) if (200..300).contains(s) => {
            return Next::Done(DeliveryStatus::Delivered);
        }
        Attempt::Refused => return Next::Done(DeliveryStatus::Refused),
        Attempt::Answered(s) => *s >= 500 || *s == 408 || *s == 429,
        Attempt::Transport => true,
    };
    if retryable && attempts < MAX_ATTEMPTS {
        Next::RetryAfter(retry_delay(attempts))
    } else {
        Next::Done(DeliveryStatus::Failed)
    }
}

/// The client id of a reply posted for delivery `delivery_id` (so a repeated attempt posts it
/// once, and the reply calls no webhook).
pub fn reply_client_id(delivery_id: i64) -> String {
    format!("{INTEGRATION_CLIENT_ID_PREFIX}out:{delivery_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(words: &[&str]) -> OutgoingWebhook {
        OutgoingWebhook {
            id: 1,
            channel_id: ChannelId(5),
            creator_id: UserId(1),
            name: "h".into(),
            url: "https://x.example/h".into(),
            trigger_words: words.iter().map(|w| (*w).to_owned()).collect(),
            content_type: ContentType::Form,
            created_at: Millis(0),
            rotated_at: None,
        }
    }

    const PERSON: Poster<'static> = Poster {
        is_bot: false,
        client_msg_id: None,
    };

    #[test]
    fn which_messages_trigger() {
        let every = hook(&[]);
        let words = hook(&["deploy", "部署"]);
        let cases: &[(&OutgoingWebhook, i64, &str, Poster<'_>, Option<&str>)] = &[
            (&every, 5, "anything", PERSON, Some("")),
            (&every, 6, "anything", PERSON, None),
            (&words, 5, "deploy prod", PERSON, Some("deploy")),
            (&words, 5, "  DEPLOY prod", PERSON, Some("deploy")),
            (&words, 5, "部署 生产", PERSON, Some("部署")),
            (&words, 5, "please deploy", PERSON, None),
            (&words, 5, "deployment", PERSON, None),
            (&words, 5, "", PERSON, None),
            (&words, 6, "deploy", PERSON, None),
            (
                &words,
                5,
                "deploy",
                Poster {
                    is_bot: true,
                    client_msg_id: None,
                },
                None,
            ),
            (
                &every,
                5,
                "reply",
                Poster {
                    is_bot: false,
                    client_msg_id: Some("integration:out:3"),
                },
                None,
            ),
            (
                &every,
                5,
                "x",
                Poster {
                    is_bot: false,
                    client_msg_id: Some("my-client-1"),
                },
                Some(""),
            ),
        ];
        for (h, ch, text, poster, want) in cases {
            let got = triggers(h, ChannelId(*ch), text, *poster).map(|t| t.trigger_word);
            assert_eq!(got.as_deref(), *want, "{text:?} in {ch}");
        }
    }

    #[test]
    fn validation() {
        let ok =
            validate(" ci ", "https://ci.example/hook", &["a".into(), "A".into()]).expect("valid");
        assert_eq!(ok, ("ci".to_owned(), vec!["a".to_owned()]));
        assert!(validate("", "https://x", &[]).is_err());
        assert!(validate("x", "ftp://x", &[]).is_err());
        assert!(validate("x", "https://x y", &[]).is_err());
        assert!(validate("x", &format!("https://{}", "a".repeat(2000)), &[]).is_err());
        let many: Vec<String> = (0..11).map(|i| format!("w{i}")).collect();
        assert!(validate("x", "https://x", &many).is_err());
        assert!(validate("x", "https://x", &["two words".into()]).is_err());
        assert!(validate("x", "https://x", &[String::new()]).is_err());
    }

    #[test]
    fn slack_signature() {
        // Slack's documented example (api.slack.com/authentication/verifying-requests-from-slack).
        let secret = b"8f742231b10e8888abcd99yyyzzz85a5";
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let sig = signature(secret, 1531420618, body);
        assert_eq!(
            sig,
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
        );
        assert!(verify(secret, 1531420618, body, &sig));
        assert!(!verify(secret, 1531420619, body, &sig));
        assert!(!verify(b"other", 1531420618, body, &sig));
        assert!(!verify(secret, 1531420618, body, "v0=zz"));
    }

    #[test]
    fn attempts() {
        assert_eq!(
            after_attempt(1, &Attempt::Answered(200)),
            Next::Done(DeliveryStatus::Delivered)
        );
        assert_eq!(
            after_attempt(1, &Attempt::Answered(500)),
            Next::RetryAfter(Millis(1000))
        );
        assert_eq!(
            after_attempt(3, &Attempt::Transport),
            Next::RetryAfter(Millis(4000))
        );
        assert_eq!(
            after_attempt(MAX_ATTEMPTS, &Attempt::Answered(503)),
            Next::Done(DeliveryStatus::Failed)
        );
        assert_eq!(
            after_attempt(1, &Attempt::Answered(404)),
            Next::Done(DeliveryStatus::Failed)
        );
        assert_eq!(
            after_attempt(1, &Attempt::Answered(429)),
            Next::RetryAfter(Millis(1000))
        );
        assert_eq!(
            after_attempt(1, &Attempt::Refused),
            Next::Done(DeliveryStatus::Refused)
        );
    }

    #[test]
    fn fields() {
        let f = Fields {
            token: "t".into(),
            channel_id: ChannelId(5),
            channel_name: "general".into(),
            timestamp: Millis(1_700_000_000_123),
            user_id: UserId(2),
            user_name: "alice".into(),
            text: "deploy".into(),
            trigger_word: "deploy".into(),
        };
        let p = f.pairs();
        assert_eq!(p[1], ("team_id", "enclave".to_owned()));
        assert_eq!(p[4], ("timestamp", "1700000000.123000".to_owned()));
    }
}
