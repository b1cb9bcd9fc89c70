//! Slack workspace exports: `users.json`, `channels.json`, `groups.json` (private channels),
//! `dms.json`, `mpims.json`, and one folder per conversation holding one JSON file per day
//! (`2024-01-31.json`, an array of messages).
//!
//! Slack names the folder of a channel or group conversation after its name, and that of a
//! direct conversation after its id; both are looked for. Join/leave and the other system
//! subtypes are skipped with their reason (membership, topic and purpose come from the
//! conversation files); unknown subtypes are skipped and named in the report.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Deserialize;
use serde_json::Value;

use crate::archive::Archive;
use crate::markup::parse_slack;
use crate::{Conversation, ConversationKind, Dataset, Error, Message, Reaction, Result, User};

#[derive(Deserialize, Default)]
#[serde(default)]
struct SUser {
    id: String,
    name: String,
    deleted: bool,
    real_name: Option<String>,
    is_bot: bool,
    is_app_user: bool,
    profile: SProfile,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SProfile {
    email: Option<String>,
    display_name: Option<String>,
    real_name: Option<String>,
    title: Option<String>,
    bot_id: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SText {
    value: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SConversation {
    id: String,
    name: Option<String>,
    created: i64,
    creator: Option<String>,
    is_archived: bool,
    members: Vec<String>,
    topic: SText,
    purpose: SText,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SEdited {
    ts: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SReaction {
    name: String,
    users: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SFile {
    name: Option<String>,
    title: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SMessage {
    #[serde(rename = "type")]
    kind: Option<String>,
    subtype: Option<String>,
    user: Option<String>,
    bot_id: Option<String>,
    username: Option<String>,
    text: String,
    ts: String,
    thread_ts: Option<String>,
    edited: Option<SEdited>,
    reactions: Vec<SReaction>,
    files: Vec<SFile>,
    pinned_to: Vec<String>,
}

/// Slack's `ts` (`"1700000000.000200"`) in microseconds.
pub fn ts_micros(ts: &str) -> Option<i64> {
    let (secs, frac) = ts.split_once('.').unwrap_or((ts, "0"));
    let secs: i64 = secs.parse().ok()?;
    if frac.is_empty() || frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let micros: i64 = format!("{frac:0<6}").parse().ok()?;
    secs.checked_mul(1_000_000)?.checked_add(micros)
}

fn read_json<T: for<'de> Deserialize<'de>>(
    archive: &mut Archive,
    name: &str,
    prefix: &str,
) -> Result<Option<T>> {
    let path = format!("{prefix}{name}");
    let Some(bytes) = archive.read(&path)? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| Error::Format {
            file: path,
            reason: e.to_string(),
        })
}

/// Subtypes that are kept as ordinary messages.
const KEPT: &[&str] = &[
    "thread_broadcast",
    "file_share",
    "me_message",
    "bot_message",
    "reply_broadcast",
];

/// System subtypes, skipped with this reason.
fn system_reason(subtype: &str) -> Option<&'static str> {
    Some(match subtype {
        "channel_join" | "channel_leave" | "group_join" | "group_leave" => {
            "join/leave notice (membership comes from the conversation list)"
        }
        "channel_topic" | "channel_purpose" | "channel_name" | "group_topic" | "group_purpose"
        | "group_name" => "topic/purpose/name change notice (the current ones are imported)",
        "channel_archive" | "channel_unarchive" | "group_archive" | "group_unarchive" => {
            "archive notice (the archived state is imported)"
        }
        "pinned_item" | "unpinned_item" => "pin notice (pins are imported on the messages)",
        "tombstone" => "deleted message",
        "bot_add" | "bot_remove" | "channel_convert_to_private" | "channel_convert_to_public" => {
            "system notice"
        }
        _ => return None,
    })
}

/// Reads a Slack export.
pub fn read(archive: &mut Archive) -> Result<Dataset> {
    // An export zipped with its folder around it: everything under one prefix.
    let prefix = if archive.contains("users.json") {
        String::new()
    } else {
        archive
            .names()
            .find_map(|n| n.strip_suffix("/users.json").filter(|p| !p.contains('/')))
            .map(|p| format!("{p}/"))
            .ok_or_else(|| Error::Format {
                file: "users.json".into(),
                reason: "missing: this is not a Slack export".into(),
            })?
    };
    let mut data = Dataset {
        source: "slack".into(),
        ..Dataset::default()
    };
    let users: Vec<SUser> = read_json(archive, "users.json", &prefix)?.unwrap_or_default();
    let mut bot_users: HashMap<String, String> = HashMap::new();
    for u in users {
        if u.id.is_empty() {
            data.problem("users.json", "a user without an id was left out");
            continue;
        }
        if let Some(b) = &u.profile.bot_id {
            bot_users.insert(b.clone(), u.id.clone());
        }
        let display = [
            u.profile.display_name.as_deref(),
            u.profile.real_name.as_deref(),
            u.real_name.as_deref(),
        ]
        .into_iter()
        .flatten()
        .find(|s| !s.trim().is_empty())
        .unwrap_or(&u.name)
        .to_owned();
        data.users.push(User {
            ext_id: u.id,
            username: u.name,
            display_name: display,
            email: u.profile.email.filter(|e| !e.is_empty()),
            title: u.profile.title.unwrap_or_default(),
            deactivated: u.deleted,
            is_bot: u.is_bot || u.is_app_user,
        });
    }
    let mut convs = Vec::new();
    // The folder of a group conversation is named after its `name` (`mpdm-a--b-1`).
    let mut group_folders: HashMap<String, String> = HashMap::new();
    for (file, kind) in [
        ("channels.json", ConversationKind::Public),
        ("groups.json", ConversationKind::Private),
        ("dms.json", ConversationKind::Direct),
        ("mpims.json", ConversationKind::Group),
    ] {
        let list: Vec<SConversation> = match read_json(archive, file, &prefix) {
            Ok(l) => l.unwrap_or_default(),
            Err(Error::Format { file, reason }) => {
                data.problem(file, format!("not read: {reason}"));
                continue;
            }
            Err(e) => return Err(e),
        };
        for c in list {
            if c.id.is_empty() {
                data.problem(file, "a conversation without an id was left out");
                continue;
            }
            let name = match kind {
                ConversationKind::Public | ConversationKind::Private => c.name,
                _ => {
                    if let Some(n) = c.name {
                        group_folders.insert(c.id.clone(), n);
                    }
                    None
                }
            };
            convs.push(Conversation {
                ext_id: c.id,
                kind: Some(kind),
                name,
                topic: c.topic.value,
                purpose: c.purpose.value,
                creator: c.creator,
                members: c.members,
                archived: c.is_archived,
                created_ms: c.created.saturating_mul(1000),
                messages: Vec::new(),
                skipped: BTreeMap::new(),
            });
        }
    }
    let known_users: HashSet<String> = data.users.iter().map(|u| u.ext_id.clone()).collect();
    for mut conv in convs {
        let mut folders = vec![conv.ext_id.clone()];
        if let Some(n) = &conv.name {
            folders.insert(0, n.clone());
        }
        if let Some(n) = group_folders.get(&conv.ext_id) {
            folders.insert(0, n.clone());
        }
        let folder = folders
            .iter()
            .map(|f| format!("{prefix}{f}/"))
            .find(|f| archive.names().any(|n| n.starts_with(f.as_str())));
        if let Some(folder) = folder {
            read_days(archive, &folder, &mut conv, &mut data, &bot_users)?;
        }
        conv.members.retain(|m| known_users.contains(m));
        conv.messages.sort_by_key(|m| m.order);
        data.conversations.push(conv);
    }
    Ok(data)
}

fn read_days(
    archive: &mut Archive,
    folder: &str,
    conv: &mut Conversation,
    data: &mut Dataset,
    bot_users: &HashMap<String, String>,
) -> Result<()> {
    let days: Vec<String> = archive
        .names()
        .filter(|n| {
            n.strip_prefix(folder)
                .is_some_and(|rest| !rest.contains('/') && rest.ends_with(".json"))
        })
        .map(str::to_owned)
        .collect();
    let mut seen = HashSet::new();
    for day in days {
        let Some(bytes) = archive.read(&day)? else {
            continue;
        };
        let list: Vec<Value> = match serde_json::from_slice(&bytes) {
            Ok(l) => l,
            Err(e) => {
                let what = if std::str::from_utf8(&bytes).is_err() {
                    "not valid UTF-8: the day was skipped".to_owned()
                } else {
                    format!("malformed JSON ({e}): the day was skipped")
                };
                data.problem(day, what);
                *conv
                    .skipped
                    .entry("unreadable day file".into())
                    .or_default() += 1;
                continue;
            }
        };
        for v in list {
            let m: SMessage = match serde_json::from_value(v) {
                Ok(m) => m,
                Err(_) => {
                    conv.skip("malformed message");
                    continue;
                }
            };
            if m.kind.as_deref().is_some_and(|k| k != "message") {
                conv.skip("not a message");
                continue;
            }
            if let Some(st) = m.subtype.as_deref() {
                if let Some(reason) = system_reason(st) {
                    conv.skip(reason);
                    continue;
                }
                if !KEPT.contains(&st) {
                    conv.skip(format!("unknown subtype {st:?}"));
                    continue;
                }
            }
            let Some(order) = ts_micros(&m.ts) else {
                conv.skip("no valid timestamp");
                continue;
            };
            if !seen.insert(order) {
                conv.skip("duplicate timestamp");
                continue;
            }
            let user = match (&m.user, &m.bot_id) {
                (Some(u), _) if !u.is_empty() => u.clone(),
                (_, Some(b)) => match bot_users.get(b) {
                    Some(u) => u.clone(),
                    None => {
                        // A bot without a user of its own: an account of its own, named after it.
                        let id = format!("bot:{b}");
                        if !data.users.iter().any(|u| u.ext_id == id) {
                            let name = m.username.clone().unwrap_or_else(|| b.clone());
                            data.users.push(User {
                                ext_id: id.clone(),
                                username: format!("{name}-bot"),
                                display_name: name,
                                email: None,
                                title: String::new(),
                                deactivated: false,
                                is_bot: true,
                            });
                        }
                        id
                    }
                },
                _ => {
                    conv.skip("no author");
                    continue;
                }
            };
            let thread_root = m
                .thread_ts
                .as_deref()
                .filter(|t| *t != m.ts)
                .map(|t| format!("{}/{t}", conv.ext_id));
            let reactions = m
                .reactions
                .iter()
                .filter_map(|r| {
                    crate::emoji::from_slack(&r.name).map(|emoji| Reaction {
                        emoji,
                        users: r.users.clone(),
                    })
                })
                .collect();
            let files = m
                .files
                .iter()
                .map(|f| {
                    f.name
                        .clone()
                        .or_else(|| f.title.clone())
                        .unwrap_or_else(|| "file".into())
                })
                .collect();
            conv.messages.push(Message {
                ext_id: format!("{}/{}", conv.ext_id, m.ts),
                user,
                text: parse_slack(&m.text),
                created_ms: order / 1000,
                order,
                thread_root,
                edited_ms: m
                    .edited
                    .and_then(|e| e.ts)
                    .and_then(|t| ts_micros(&t))
                    .map(|t| t / 1000),
                pinned: m.pinned_to.contains(&conv.ext_id),
                reactions,
                files,
            });
        }
    }
    Ok(())
}
