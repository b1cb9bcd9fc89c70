//! Mattermost bulk exports (JSON Lines): `version`, `team`, `channel`, `user` (with team and
//! channel memberships), `post` (with `replies`, `reactions`, `attachments`),
//! `direct_channel` and `direct_post`. The text is Mattermost Markdown, which Enclave's markup
//! reads as it is (`@username`, `@here`, `@channel`, `@all`).
//!
//! External ids: users by username, channels `team/name`, direct conversations `dm:` and their
//! sorted members, posts `channel@create_at@user` (replies under their root's id).

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use crate::markup::Segment;
use crate::{Conversation, ConversationKind, Dataset, Error, Message, Reaction, Result, User};

/// Longest line read.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

#[derive(Deserialize, Default)]
#[serde(default)]
struct MChannelRef {
    name: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MTeamRef {
    name: String,
    channels: Vec<MChannelRef>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MUser {
    username: String,
    email: Option<String>,
    nickname: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    position: Option<String>,
    delete_at: Option<i64>,
    is_bot: bool,
    teams: Vec<MTeamRef>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MChannel {
    team: String,
    name: String,
    display_name: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    header: Option<String>,
    purpose: Option<String>,
    deleted_at: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MReaction {
    user: String,
    emoji_name: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MAttachment {
    path: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MPost {
    team: String,
    channel: String,
    channel_members: Vec<String>,
    user: String,
    message: String,
    create_at: i64,
    edit_at: Option<i64>,
    is_pinned: bool,
    reactions: Option<Vec<MReaction>>,
    replies: Option<Vec<MPost>>,
    attachments: Option<Vec<MAttachment>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MDirect {
    members: Vec<String>,
    header: Option<String>,
}

#[derive(Deserialize)]
struct Line {
    #[serde(rename = "type")]
    kind: String,
    user: Option<MUser>,
    channel: Option<MChannel>,
    post: Option<MPost>,
    direct_channel: Option<MDirect>,
    direct_post: Option<MPost>,
}

fn dm_id(members: &[String]) -> String {
    let mut m = members.to_vec();
    m.sort();
    m.dedup();
    format!("dm:{}", m.join(","))
}

fn message(conv: &str, p: &MPost, root: Option<&str>) -> Message {
    let ext_id = match root {
        Some(r) => format!("{r}>{}@{}", p.create_at, p.user),
        None => format!("{conv}@{}@{}", p.create_at, p.user),
    };
    let mut reactions: Vec<Reaction> = Vec::new();
    for r in p.reactions.iter().flatten() {
        let Some(emoji) = crate::emoji::from_slack(&r.emoji_name) else {
            continue;
        };
        match reactions.iter_mut().find(|x| x.emoji == emoji) {
            Some(x) => x.users.push(r.user.clone()),
            None => reactions.push(Reaction {
                emoji,
                users: vec![r.user.clone()],
            }),
        }
    }
    Message {
        ext_id,
        user: p.user.clone(),
        text: vec![Segment::Text(p.message.clone())],
        created_ms: p.create_at,
        order: p.create_at,
        thread_root: root.map(str::to_owned),
        edited_ms: p.edit_at.filter(|t| *t > 0),
        pinned: p.is_pinned,
        reactions,
        files: p
            .attachments
            .iter()
            .flatten()
            .map(|a| a.path.rsplit('/').next().unwrap_or(&a.path).to_owned())
            .collect(),
    }
}

/// Reads a bulk export from its bytes (the `.jsonl` file).
pub fn read(bytes: &[u8]) -> Result<Dataset> {
    let mut data = Dataset {
        source: "mattermost".into(),
        ..Dataset::default()
    };
    let mut convs: BTreeMap<String, Conversation> = BTreeMap::new();
    let mut members: HashMap<String, Vec<String>> = HashMap::new();
    let mut saw_version = false;
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        let n = i + 1;
        let place = format!("line {n}");
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if line.len() > MAX_LINE_BYTES {
            data.problem(place, "longer than 16 MiB: skipped");
            continue;
        }
        let l: Line = match serde_json::from_slice(line) {
            Ok(l) => l,
            Err(e) => {
                let what = if std::str::from_utf8(line).is_err() {
                    "not valid UTF-8: skipped".to_owned()
                } else {
                    format!("malformed JSON ({e}): skipped")
                };
                data.problem(place, what);
                continue;
            }
        };
        match l.kind.as_str() {
            "version" => saw_version = true,
            "team" | "scheme" | "emoji" | "role" => {}
            "user" => {
                let Some(u) = l.user.filter(|u| !u.username.is_empty()) else {
                    data.problem(place, "a user without a username: skipped");
                    continue;
                };
                for t in &u.teams {
                    for c in &t.channels {
                        members
                            .entry(format!("{}/{}", t.name, c.name))
                            .or_default()
                            .push(u.username.clone());
                    }
                }
                let full = [u.first_name.as_deref(), u.last_name.as_deref()]
                    .into_iter()
                    .flatten()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ");
                let display =
                    u.nickname
                        .clone()
                        .filter(|s| !s.is_empty())
                        .unwrap_or(if full.is_empty() {
                            u.username.clone()
                        } else {
                            full
                        });
                data.users.push(User {
                    ext_id: u.username.clone(),
                    username: u.username,
                    display_name: display,
                    email: u.email.filter(|e| !e.is_empty()),
                    title: u.position.unwrap_or_default(),
                    deactivated: u.delete_at.is_some_and(|d| d > 0),
                    is_bot: u.is_bot,
                });
            }
            "channel" => {
                let Some(c) = l.channel.filter(|c| !c.name.is_empty()) else {
                    data.problem(place, "a channel without a name: skipped");
                    continue;
                };
                let id = format!("{}/{}", c.team, c.name);
                convs.insert(
                    id.clone(),
                    Conversation {
                        ext_id: id,
                        kind: Some(if c.kind == "P" {
                            ConversationKind::Private
                        } else {
                            ConversationKind::Public
                        }),
                        name: Some(c.name.clone()),
                        topic: c.header.unwrap_or_default(),
                        purpose: c.purpose.or(c.display_name).unwrap_or_default(),
                        archived: c.deleted_at.is_some_and(|d| d > 0),
                        ..Conversation::default()
                    },
                );
            }
            "direct_channel" => {
                let Some(d) = l.direct_channel.filter(|d| !d.members.is_empty()) else {
                    data.problem(place, "a direct channel without members: skipped");
                    continue;
                };
                let id = dm_id(&d.members);
                let kind = if d.members.len() > 2 {
                    ConversationKind::Group
                } else {
                    ConversationKind::Direct
                };
                convs.entry(id.clone()).or_insert(Conversation {
                    ext_id: id,
                    kind: Some(kind),
                    topic: d.header.unwrap_or_default(),
                    members: d.members,
                    ..Conversation::default()
                });
            }
            "post" | "direct_post" => {
                let direct = l.kind == "direct_post";
                let Some(p) = (if direct { l.direct_post } else { l.post }) else {
                    data.problem(place, "a post line without its post: skipped");
                    continue;
                };
                let conv_id = if direct {
                    dm_id(&p.channel_members)
                } else {
                    format!("{}/{}", p.team, p.channel)
                };
                let Some(conv) = convs.get_mut(&conv_id) else {
                    data.problem(
                        place,
                        format!("a post in unknown channel {conv_id}: skipped"),
                    );
                    continue;
                };
                let root = message(&conv_id, &p, None);
                let root_id = root.ext_id.clone();
                conv.messages.push(root);
                for r in p.replies.iter().flatten() {
                    conv.messages.push(message(&conv_id, r, Some(&root_id)));
                }
            }
            other => {
                data.problem(place, format!("unknown line type {other:?}: skipped"));
            }
        }
    }
    if !saw_version {
        return Err(Error::Format {
            file: "export".into(),
            reason: "no version line: this is not a Mattermost bulk export".into(),
        });
    }
    for (id, mut conv) in convs {
        if let Some(m) = members.remove(&id) {
            conv.members = m;
        }
        if conv.members.is_empty() {
            let mut authors: Vec<String> = conv.messages.iter().map(|m| m.user.clone()).collect();
            authors.sort();
            authors.dedup();
            conv.members = authors;
        }
        conv.created_ms = conv
            .messages
            .iter()
            .map(|m| m.created_ms)
            .min()
            .unwrap_or(0);
        conv.messages.sort_by_key(|m| m.order);
        data.conversations.push(conv);
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_channels_users_posts_replies_and_direct_posts() {
        let export = r#"{"type":"version","version":1}
{"type":"team","team":{"name":"acme","display_name":"Acme"}}
{"type":"channel","channel":{"team":"acme","name":"town","display_name":"Town","type":"O","header":"hello"}}
{"type":"user","user":{"username":"ann","email":"ann@e.com","first_name":"Ann","last_name":"Lee","teams":[{"name":"acme","channels":[{"name":"town"}]}]}}
{"type":"user","user":{"username":"bo","email":"bo@e.com","delete_at":5,"teams":[{"name":"acme","channels":[{"name":"town"}]}]}}
{"type":"post","post":{"team":"acme","channel":"town","user":"ann","message":"hi @bo 你好","create_at":1000,"reactions":[{"user":"bo","emoji_name":"+1"}],"replies":[{"user":"bo","message":"yo","create_at":2000}]}}
{"type":"direct_channel","direct_channel":{"members":["bo","ann"]}}
{"type":"direct_post","direct_post":{"channel_members":["ann","bo"],"user":"bo","message":"dm","create_at":3000}}
not json
{"type":"post","post":{"team":"acme","channel":"nowhere","user":"ann","message":"x","create_at":1}}
"#;
        let d = read(export.as_bytes()).expect("read");
        assert_eq!(d.users.len(), 2);
        assert!(d.users[1].deactivated);
        assert_eq!(d.conversations.len(), 2);
        let town = d
            .conversations
            .iter()
            .find(|c| c.ext_id == "acme/town")
            .expect("town");
        assert_eq!(town.members, ["ann", "bo"]);
        assert_eq!(town.messages.len(), 2);
        assert_eq!(
            town.messages[1].thread_root.as_deref(),
            Some(town.messages[0].ext_id.as_str())
        );
        assert_eq!(town.messages[0].reactions[0].emoji, "👍");
        let dm = d
            .conversations
            .iter()
            .find(|c| c.ext_id == "dm:ann,bo")
            .expect("dm");
        assert_eq!(dm.messages.len(), 1);
        assert_eq!(d.problems.len(), 2, "{:?}", d.problems);
    }
}
