//! Wire shapes of slash commands (re-exported by `dto`; `docs/api/integrations.md`).

use enclave_app::{CommandOutcome, CommandSpec};
use enclave_core::commands::CustomCommand;
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

use crate::dto::{ChannelDto, MessageDto, UserDto, WireId, ts};

/// A line typed in a conversation's composer.
#[derive(Debug, Deserialize, ToSchema, TS)]
#[ts(optional_fields = nullable)]
pub struct RunCommandRequest {
    /// The whole line, `/name arguments` (1 to 16,000 characters). `//text` posts `/text`; a
    /// first word holding another `/` (`/usr/bin`) is posted as it is.
    #[schema(min_length = 1, max_length = 16000)]
    pub text: String,
    /// The thread it was typed in.
    pub thread_root_id: Option<WireId>,
}

/// What a command did. `result` names it; the fields that go with it are present, the others
/// absent. `text` is an English line for the caller only (clients may show their own).
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct CommandResultDto {
    /// `posted`, `joined`, `left`, `invited`, `removed`, `topic` (shown), `topic_set`,
    /// `purpose`, `purpose_set`, `opened`, `status`, `dnd`, `help` or `custom`.
    pub result: String,
    /// `ephemeral` (for the caller only), `in_channel` (posted), or `none`.
    pub response_type: String,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub message: Option<MessageDto>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub channel: Option<ChannelDto>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub user: Option<UserDto>,
    /// `invited`: those added; `removed`: those removed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[ts(as = "Option<_>", optional)]
    pub users: Vec<UserDto>,
    /// `invited`: those who were members already.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[ts(as = "Option<_>", optional)]
    pub already: Vec<UserDto>,
    /// `status`: the status now (empty: cleared).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub status_text: Option<String>,
    /// `dnd`: do-not-disturb now.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub dnd: Option<bool>,
    /// `help`: every command.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[ts(as = "Option<_>", optional)]
    pub commands: Vec<CommandSpecDto>,
}

fn names(users: &[enclave_core::User]) -> String {
    users
        .iter()
        .map(|u| format!("@{}", u.username))
        .collect::<Vec<_>>()
        .join(", ")
}

impl CommandResultDto {
    fn base(result: &str, response_type: &str, text: String) -> Self {
        CommandResultDto {
            result: result.to_owned(),
            response_type: response_type.to_owned(),
            text,
            message: None,
            channel: None,
            user: None,
            users: Vec::new(),
            already: Vec::new(),
            status_text: None,
            dnd: None,
            commands: Vec::new(),
        }
    }

    pub fn new(o: &CommandOutcome) -> Self {
        let label = |c: &enclave_core::Channel| c.name.clone().unwrap_or_default();
        match o {
            CommandOutcome::Posted(m) => CommandResultDto {
                message: Some(MessageDto::new(m)),
                ..Self::base("posted", "in_channel", String::new())
            },
            CommandOutcome::Joined(c) => CommandResultDto {
                channel: Some(ChannelDto::new(c)),
                ..Self::base("joined", "ephemeral", format!("You joined ~{}.", label(c)))
            },
            CommandOutcome::Left(_) => {
                Self::base("left", "ephemeral", "You left the channel.".into())
            }
            CommandOutcome::Invited { added, already } => {
                let mut text = if added.is_empty() {
                    String::new()
                } else {
                    format!("Added {} to the channel.", names(added))
                };
                if !already.is_empty() {
                    if !text.is_empty() {
                        text.push(' ');
                    }
                    text.push_str(&format!("{} already in the channel.", names(already)));
                }
                CommandResultDto {
                    users: added.iter().map(|u| UserDto::new(u, false)).collect(),
                    already: already.iter().map(|u| UserDto::new(u, false)).collect(),
                    ..Self::base("invited", "ephemeral", text)
                }
            }
            CommandOutcome::Removed(users) => CommandResultDto {
                users: users.iter().map(|u| UserDto::new(u, false)).collect(),
                ..Self::base(
                    "removed",
                    "ephemeral",
                    format!("Removed {} from the channel.", names(users)),
                )
            },
            CommandOutcome::Topic { channel, set } => CommandResultDto {
                channel: Some(ChannelDto::new(channel)),
                ..Self::base(
                    if *set { "topic_set" } else { "topic" },
                    "ephemeral",
                    match (set, channel.topic.is_empty()) {
                        (true, _) => format!("Topic set to: {}", channel.topic),
                        (false, true) => "No topic is set.".to_owned(),
                        (false, false) => format!("Topic: {}", channel.topic),
                    },
                )
            },
            CommandOutcome::Purpose { channel, set } => CommandResultDto {
                channel: Some(ChannelDto::new(channel)),
                ..Self::base(
                    if *set { "purpose_set" } else { "purpose" },
                    "ephemeral",
                    match (set, channel.purpose.is_empty()) {
                        (true, _) => format!("Purpose set to: {}", channel.purpose),
                        (false, true) => "No purpose is set.".to_owned(),
                        (false, false) => format!("Purpose: {}", channel.purpose),
                    },
                )
            },
            CommandOutcome::Opened { channel, posted } => CommandResultDto {
                channel: Some(ChannelDto::new(channel)),
                message: posted.as_ref().map(MessageDto::new),
                ..Self::base("opened", "none", String::new())
            },
            CommandOutcome::Status(u) => CommandResultDto {
                user: Some(UserDto::new(u, false)),
                status_text: Some(u.status_text.clone()),
                ..Self::base(
                    "status",
                    "ephemeral",
                    if u.status_text.is_empty() {
                        "Your status is cleared.".to_owned()
                    } else {
                        format!("Your status is now: {}", u.status_text)
                    },
                )
            },
            CommandOutcome::Dnd(u) => CommandResultDto {
                user: Some(UserDto::new(u, false)),
                dnd: Some(u.dnd),
                ..Self::base(
                    "dnd",
                    "ephemeral",
                    if u.dnd {
                        "Do not disturb is on.".to_owned()
                    } else {
                        "Do not disturb is off.".to_owned()
                    },
                )
            },
            CommandOutcome::Help(specs) => CommandResultDto {
                commands: specs.iter().map(CommandSpecDto::new).collect(),
                ..Self::base(
                    "help",
                    "ephemeral",
                    specs
                        .iter()
                        .map(|s| {
                            if s.usage.is_empty() {
                                format!("/{} — {}", s.name, s.description)
                            } else {
                                format!("/{} {} — {}", s.name, s.usage, s.description)
                            }
                        })
                        .collect::<Vec<_>>()
                        .join("\n"),
                )
            },
            CommandOutcome::Custom {
                response_type,
                text,
                posted,
            } => CommandResultDto {
                message: posted.as_ref().map(MessageDto::new),
                ..Self::base(
                    "custom",
                    if text.is_empty() {
                        "none"
                    } else {
                        response_type.as_str()
                    },
                    text.clone(),
                )
            },
        }
    }
}

/// A command as autocomplete shows it.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct CommandSpecDto {
    /// Typed after `/`.
    pub name: String,
    /// What follows the name (`[]` optional).
    pub usage: String,
    pub description: String,
    /// A built-in (the web client shows its own translation of the description).
    pub builtin: bool,
}

impl CommandSpecDto {
    pub fn new(s: &CommandSpec) -> Self {
        CommandSpecDto {
            name: s.name.clone(),
            usage: s.usage.clone(),
            description: s.description.clone(),
            builtin: s.builtin,
        }
    }
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct CommandList {
    pub commands: Vec<CommandSpecDto>,
}

/// Makes a custom command.
#[derive(Debug, Deserialize, ToSchema, TS)]
#[ts(optional_fields = nullable)]
pub struct CreateCommandRequest {
    /// 1 to 32 of `a-z 0-9 _ -` (a leading `/` is dropped, upper case is lowered); not a
    /// built-in's name.
    #[schema(pattern = r"^/?[A-Za-z0-9_-]{1,32}$")]
    pub trigger: String,
    /// Where the request goes: an `http` or `https` URL of at most 2,000 characters, through
    /// the outbound allow-list.
    #[schema(
        max_length = 2000,
        pattern = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s\x00-\x1f\x7f-\x9f]+$"
    )]
    pub url: String,
    /// At most 120 characters, no control characters.
    #[schema(max_length = 120, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub description: Option<String>,
    /// What follows the trigger, at most 60 characters (`[city]`).
    #[schema(max_length = 60, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub usage_hint: Option<String>,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct CustomCommandDto {
    pub id: String,
    pub trigger: String,
    pub description: String,
    pub usage_hint: String,
    pub url: String,
    pub creator_id: String,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub rotated_at: Option<String>,
}

impl CustomCommandDto {
    pub fn new(c: &CustomCommand) -> Self {
        CustomCommandDto {
            id: c.id.to_string(),
            trigger: c.trigger.clone(),
            description: c.description.clone(),
            usage_hint: c.usage_hint.clone(),
            url: c.url.clone(),
            creator_id: c.creator_id.to_string(),
            created_at: ts(c.created_at),
            rotated_at: c.rotated_at.map(ts),
        }
    }
}

/// A custom command with its `token` (sent in every request) and signing secret (Slack's
/// `v0` signature): shown once.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct CustomCommandWithSecretDto {
    pub command: CustomCommandDto,
    pub token: String,
    pub signing_secret: String,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct CustomCommandList {
    pub commands: Vec<CustomCommandDto>,
}
