//! Importing another chat system's history (`enclave import slack|mattermost`): the neutral
//! model read by `enclave-import` is written through the store's bulk [`ImportStore`] in
//! phases (users, conversations, messages), each with progress, and ends with a report.
//!
//! Decisions made here, once:
//! - A person of the source becomes, in this order: the account `--map-users` names for their
//!   e-mail or id; the active or deactivated account with the same e-mail (unless
//!   `match_email` is off); or a new account without a password (deactivated when the source
//!   had deactivated them; a bot account for a bot). Usernames and display names are made
//!   valid (`core::validate`); a taken username gets a numeric suffix.
//! - Conversations keep topic, purpose, members and archived state; a taken public channel
//!   name gets a suffix. Direct conversations that exist already are reused.
//! - Messages keep their time, order, thread, edit time, reactions and pins (within the
//!   rules: 50 reactions a message, 100 pins a channel); markup is rendered with local names
//!   and mentions resolved as for a post. What is left out is counted with its reason.
//! - Idempotent and resumable through the store's `import_map`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use enclave_core::{ChannelId, ChannelKind, Mentions, Millis, UserId, validate};
use enclave_import::{Conversation, ConversationKind, Dataset};
use enclave_store::{ImportKind, ImportedChannel, ImportedMessage, ImportedUser, Store};

use crate::{Error, Result};

/// Messages per transaction.
pub const DEFAULT_BATCH: usize = 2000;

/// How an import runs.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Read and decide everything, write nothing.
    pub dry_run: bool,
    /// Map a person to the existing account with the same e-mail address.
    pub match_email: bool,
    /// Source e-mail (lower-cased) or source id → existing username.
    pub user_map: HashMap<String, String>,
    pub batch: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            dry_run: false,
            match_email: true,
            user_map: HashMap::new(),
            batch: DEFAULT_BATCH,
        }
    }
}

/// Where an import reports its progress (the CLI draws bars).
pub trait ImportProgress: Send + Sync {
    /// A phase starts with `total` steps.
    fn phase(&self, name: &str, total: u64);
    /// `n` more steps are done.
    fn advance(&self, n: u64);
}

/// Progress that goes nowhere.
pub struct NoProgress;

impl ImportProgress for NoProgress {
    fn phase(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
}

/// What happened to one conversation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConversationReport {
    pub label: String,
    pub kind: String,
    /// Created by this run (false: made by an earlier run, or an existing direct conversation).
    pub created: bool,
    pub imported: u64,
    /// Imported by an earlier run.
    pub already: u64,
    pub skipped: BTreeMap<String, u64>,
    /// Notes (renamed, members left out).
    pub notes: Vec<String>,
}

/// The final report of an import.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    pub source: String,
    pub dry_run: bool,
    pub users_created: u64,
    pub users_linked: u64,
    pub users_already: u64,
    /// (person, note).
    pub user_notes: Vec<(String, String)>,
    pub conversations: Vec<ConversationReport>,
    /// Lines about the export itself.
    pub problems: Vec<String>,
    /// "conversation: file name" for each file the export does not carry.
    pub files_not_imported: Vec<String>,
}

impl ImportReport {
    pub fn imported(&self) -> u64 {
        self.conversations.iter().map(|c| c.imported).sum()
    }
    pub fn already(&self) -> u64 {
        self.conversations.iter().map(|c| c.already).sum()
    }
    pub fn skipped(&self) -> u64 {
        self.conversations
            .iter()
            .flat_map(|c| c.skipped.values())
            .sum()
    }
}

/// Makes `s` a valid username, or `None`.
fn username_from(s: &str) -> Option<String> {
    let cleaned: String = s
        .trim()
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let cleaned = cleaned.trim_start_matches(['.', '_', '-']);
    let cleaned: String = cleaned.chars().take(28).collect();
    validate::username(&cleaned).ok()
}

/// Text shown to people, made to pass `check`: invisible, direction and control characters
/// dropped, then cut to `max` characters.
fn shown(s: &str, max: usize, multiline: bool, check: impl Fn(&str) -> bool) -> String {
    if check(s) {
        return s.trim().to_owned();
    }
    let cleaned: String = s
        .chars()
        .filter(|c| {
            !(c.is_control() && !(multiline && matches!(c, '\n' | '\t')))
                && !matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}')
        })
        .collect();
    let cut: String = cleaned.trim().chars().take(max).collect();
    cut.trim().to_owned()
}

/// The importer.
pub struct Importer {
    store: Arc<dyn Store>,
}

struct People {
    /// Source id → local id.
    ids: HashMap<String, UserId>,
    /// Source id → local username.
    names: HashMap<String, String>,
    /// Local username → local id (for mentions).
    by_name: HashMap<String, UserId>,
}

impl Importer {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Importer { store }
    }

    /// Imports `data`.
    pub async fn run(
        &self,
        data: Dataset,
        options: &ImportOptions,
        progress: &dyn ImportProgress,
    ) -> Result<ImportReport> {
        let source = data.source.clone();
        let mut report = ImportReport {
            source: source.clone(),
            dry_run: options.dry_run,
            problems: data
                .problems
                .iter()
                .map(|p| format!("{}: {}", p.place, p.what))
                .collect(),
            ..ImportReport::default()
        };
        let people = self.users(&data, options, progress, &mut report).await?;
        progress.phase("conversations", data.conversations.len() as u64);
        let mut channels: Vec<Option<ChannelId>> = Vec::with_capacity(data.conversations.len());
        let mut channel_names: HashMap<String, String> = HashMap::new();
        for conv in &data.conversations {
            let mut r = ConversationReport {
                label: conv.label(),
                kind: conv.kind().as_str().to_owned(),
                skipped: conv.skipped.clone(),
                ..ConversationReport::default()
            };
            let id = self
                .conversation(&source, conv, &people, options, &mut r, &mut channel_names)
                .await?;
            channels.push(id);
            report.conversations.push(r);
            progress.advance(1);
        }
        progress.phase("messages", data.message_count());
        let done = self
            .store
            .import_mappings(&source, ImportKind::Message)
            .await?;
        let done: HashSet<String> = done.into_keys().collect();
        for ((conv, id), r) in data
            .conversations
            .iter()
            .zip(channels)
            .zip(report.conversations.iter_mut())
        {
            let Some(id) = id else {
                *r.skipped
                    .entry("conversation not imported".into())
                    .or_default() += conv.messages.len() as u64;
                progress.advance(conv.messages.len() as u64);
                continue;
            };
            let files = self
                .messages(
                    &source,
                    conv,
                    id,
                    &people,
                    &channel_names,
                    &done,
                    options,
                    progress,
                    r,
                )
                .await?;
            report
                .files_not_imported
                .extend(files.into_iter().map(|f| format!("{}: {f}", conv.label())));
        }
        Ok(report)
    }

    async fn users(
        &self,
        data: &Dataset,
        options: &ImportOptions,
        progress: &dyn ImportProgress,
        report: &mut ImportReport,
    ) -> Result<People> {
        let source = &data.source;
        progress.phase("users", data.users.len() as u64);
        let mapped = self.store.import_mappings(source, ImportKind::User).await?;
        let mut people = People {
            ids: HashMap::new(),
            names: HashMap::new(),
            by_name: HashMap::new(),
        };
        // The accounts `--map-users` names must all exist.
        let wanted: Vec<String> = options.user_map.values().cloned().collect();
        let found = self.store.users_by_usernames(&wanted).await?;
        let by_username: HashMap<String, enclave_core::User> =
            found.into_iter().map(|u| (u.username.clone(), u)).collect();
        if let Some(missing) = wanted.iter().find(|u| !by_username.contains_key(*u)) {
            return Err(Error::Domain(enclave_core::Error::invalid(
                "map_users",
                Box::leak(format!("no account named {missing:?}").into_boxed_str()),
            )));
        }
        let mut reserved: HashSet<String> = HashSet::new();
        let mut new_users = Vec::new();
        let mut links = Vec::new();
        for u in &data.users {
            progress.advance(1);
            if let Some(&id) = mapped.get(&u.ext_id) {
                report.users_already += 1;
                people.ids.insert(u.ext_id.clone(), UserId(id));
                continue;
            }
            let email = u.email.as_deref().and_then(|e| validate::email(e).ok());
            if u.email.is_some() && email.is_none() {
                report.user_notes.push((
                    u.username.clone(),
                    "e-mail address not valid: left out".into(),
                ));
            }
            let explicit = email
                .as_ref()
                .and_then(|e| options.user_map.get(e))
                .or_else(|| options.user_map.get(&u.ext_id))
                .and_then(|name| by_username.get(name));
            if let Some(acc) = explicit {
                links.push((u.ext_id.clone(), acc.id));
                report
                    .user_notes
                    .push((u.username.clone(), format!("mapped to @{}", acc.username)));
                continue;
            }
            let mut email_for_new = email.clone();
            let same_email = match &email {
                Some(e) => self
                    .store
                    .user_credentials(e)
                    .await?
                    .map(|(acc, _)| acc)
                    .filter(|acc| acc.email.as_deref() == Some(e.as_str())),
                None => None,
            };
            if let Some(acc) = same_email {
                if options.match_email {
                    links.push((u.ext_id.clone(), acc.id));
                    report.user_notes.push((
                        u.username.clone(),
                        format!("same e-mail as @{}: merged", acc.username),
                    ));
                    continue;
                }
                email_for_new = None;
                report.user_notes.push((
                    u.username.clone(),
                    format!(
                        "e-mail used by @{}: new account without e-mail",
                        acc.username
                    ),
                ));
            }
            let base = username_from(&u.username)
                .or_else(|| {
                    email
                        .as_deref()
                        .and_then(|e| e.split('@').next())
                        .and_then(username_from)
                })
                .unwrap_or_else(|| format!("user-{}", u.ext_id.to_ascii_lowercase()))
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
                .collect::<String>();
            let mut name = base.clone();
            for n in 2.. {
                let taken = reserved.contains(&name)
                    || !self
                        .store
                        .users_by_usernames(std::slice::from_ref(&name))
                        .await?
                        .is_empty();
                if !taken {
                    break;
                }
                name = format!("{base}-{n}");
            }
            if name != u.username {
                report
                    .user_notes
                    .push((u.username.clone(), format!("username @{name}")));
            }
            reserved.insert(name.clone());
            let display = shown(
                &u.display_name,
                validate::MAX_DISPLAY_NAME_CHARS,
                false,
                |s| validate::display_name(s).is_ok(),
            );
            new_users.push(ImportedUser {
                ext_id: u.ext_id.clone(),
                username: name,
                display_name: display,
                email: email_for_new,
                is_bot: u.is_bot,
                active: !u.deactivated,
            });
        }
        if options.dry_run {
            report.users_created = new_users.len() as u64;
            report.users_linked = links.len() as u64;
            for u in &new_users {
                people.names.insert(u.ext_id.clone(), u.username.clone());
            }
        } else {
            report.users_linked = links.len() as u64;
            report.users_created = new_users.len() as u64;
            for chunk in new_users.chunks(1000) {
                let written = self
                    .store
                    .import_users(source, chunk.to_vec(), Vec::new())
                    .await?;
                people.ids.extend(written);
            }
            let written = self
                .store
                .import_users(source, Vec::new(), links.clone())
                .await?;
            people.ids.extend(written);
        }
        for (ext, id) in &links {
            people.ids.insert(ext.clone(), *id);
        }
        let ids: Vec<UserId> = people.ids.values().copied().collect();
        let accounts = self.store.users_by_ids(&ids).await?;
        let name_of: HashMap<UserId, String> =
            accounts.into_iter().map(|a| (a.id, a.username)).collect();
        for (ext, id) in &people.ids {
            if let Some(n) = name_of.get(id) {
                people.names.insert(ext.clone(), n.clone());
                people.by_name.insert(n.clone(), *id);
            }
        }
        Ok(people)
    }

    async fn conversation(
        &self,
        source: &str,
        conv: &Conversation,
        people: &People,
        options: &ImportOptions,
        r: &mut ConversationReport,
        channel_names: &mut HashMap<String, String>,
    ) -> Result<Option<ChannelId>> {
        let mut members: Vec<UserId> = Vec::new();
        let mut unknown = 0;
        for m in &conv.members {
            match people.ids.get(m) {
                Some(id) => members.push(*id),
                None => unknown += 1,
            }
        }
        if unknown > 0 {
            r.notes.push(format!(
                "{unknown} member(s) not in the users list: left out"
            ));
        }
        let creator = conv
            .creator
            .as_ref()
            .and_then(|c| people.ids.get(c))
            .copied()
            .or_else(|| members.first().copied())
            .or_else(|| {
                conv.messages
                    .iter()
                    .find_map(|m| people.ids.get(&m.user).copied())
            });
        let mut kind = match conv.kind() {
            ConversationKind::Public => ChannelKind::Public,
            ConversationKind::Private => ChannelKind::Private,
            ConversationKind::Direct | ConversationKind::Group => {
                enclave_core::rules::direct_kind(members.len())
            }
        };
        let mut name = conv.name.clone();
        if kind == ChannelKind::GroupDm && members.len() > enclave_core::MAX_GROUP_DM_MEMBERS {
            kind = ChannelKind::Private;
            name = Some(format!("group-{}", conv.ext_id.to_ascii_lowercase()));
            r.notes.push(format!(
                "more than {} people: imported as a private channel",
                enclave_core::MAX_GROUP_DM_MEMBERS
            ));
        }
        // In a dry run the new accounts have no ids yet: anyone who would exist will do.
        let would_exist = options.dry_run
            && conv
                .members
                .iter()
                .chain(conv.messages.iter().map(|m| &m.user))
                .any(|m| people.names.contains_key(m));
        let Some(creator) = creator.or(would_exist.then_some(UserId(0))) else {
            r.notes.push("nobody of it was imported: left out".into());
            return Ok(None);
        };
        let direct = matches!(kind, ChannelKind::Dm | ChannelKind::GroupDm);
        if direct && members.is_empty() {
            members.push(creator);
        }
        let base = if direct {
            None
        } else {
            let raw = name.clone().unwrap_or_else(|| conv.ext_id.clone());
            Some(match validate::channel_name(&raw) {
                Ok(n) => n,
                Err(_) => {
                    let n = shown(&raw, validate::MAX_CHANNEL_NAME_CHARS, false, |s| {
                        validate::channel_name(s).is_ok()
                    });
                    validate::channel_name(&n).unwrap_or_else(|_| {
                        format!("imported-{}", conv.ext_id.to_ascii_lowercase())
                    })
                }
            })
        };
        let topic = shown(&conv.topic, validate::MAX_TOPIC_CHARS, true, |s| {
            validate::topic("topic", s).is_ok()
        });
        let purpose = shown(&conv.purpose, validate::MAX_TOPIC_CHARS, true, |s| {
            validate::topic("purpose", s).is_ok()
        });
        if options.dry_run {
            let mapped = self
                .store
                .import_mappings(source, ImportKind::Channel)
                .await?;
            r.created = !mapped.contains_key(&conv.ext_id);
            if let Some(b) = base {
                channel_names.insert(conv.ext_id.clone(), b);
            }
            return Ok(Some(ChannelId(0)));
        }
        for attempt in 1..=50 {
            let n = base.as_ref().map(|b| {
                let n = if attempt == 1 {
                    b.clone()
                } else {
                    let suffix = format!("-{attempt}");
                    let keep = validate::MAX_CHANNEL_NAME_CHARS - suffix.len();
                    format!("{}{suffix}", b.chars().take(keep).collect::<String>())
                };
                let key = validate::channel_name_key(&n);
                (n, key)
            });
            let result = self
                .store
                .import_channel(
                    source,
                    ImportedChannel {
                        ext_id: conv.ext_id.clone(),
                        kind,
                        name: n.clone(),
                        topic: topic.clone(),
                        purpose: purpose.clone(),
                        creator_id: creator,
                        members: members.clone(),
                        archived_at: conv.archived.then(Millis::now),
                        created_at: Millis(conv.created_ms.max(0)),
                    },
                )
                .await;
            match result {
                Ok((id, created)) => {
                    r.created = created;
                    let shown_name = match self.store.channel(id).await? {
                        Some(c) => c.name,
                        None => None,
                    };
                    if let Some(sn) = shown_name {
                        if Some(&sn) != conv.name.as_ref() {
                            r.notes.push(format!("named #{sn}"));
                        }
                        channel_names.insert(conv.ext_id.clone(), sn);
                    }
                    return Ok(Some(id));
                }
                Err(enclave_store::Error::Domain(enclave_core::Error::Conflict(_))) if !direct => {
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        r.notes.push("no free channel name: left out".into());
        Ok(None)
    }

    #[allow(clippy::too_many_arguments)]
    async fn messages(
        &self,
        source: &str,
        conv: &Conversation,
        channel: ChannelId,
        people: &People,
        channel_names: &HashMap<String, String>,
        done: &HashSet<String>,
        options: &ImportOptions,
        progress: &dyn ImportProgress,
        r: &mut ConversationReport,
    ) -> Result<Vec<String>> {
        let mut files = Vec::new();
        let mut batch = Vec::with_capacity(options.batch);
        let mut pins = 0i64;
        let mut cleaned = 0u64;
        let skip = |r: &mut ConversationReport, why: &str| {
            *r.skipped.entry(why.to_owned()).or_default() += 1;
        };
        for m in &conv.messages {
            // Listed on every run: the export never carries them.
            files.extend(m.files.iter().cloned());
            if done.contains(&m.ext_id) {
                r.already += 1;
                progress.advance(1);
                continue;
            }
            let Some(&user) = people.ids.get(&m.user).or(
                if options.dry_run && people.names.contains_key(&m.user) {
                    Some(&UserId(0))
                } else {
                    None
                },
            ) else {
                skip(r, "author not in the users list");
                progress.advance(1);
                continue;
            };
            let mut text = enclave_import::markup::render(
                &m.text,
                |id| people.names.get(id).cloned(),
                |id| channel_names.get(id).cloned(),
            );
            for f in &m.files {
                if !text.trim().is_empty() {
                    text.push('\n');
                }
                text.push_str(&format!("📎 {f}"));
            }
            let text = match validate::message_text(&text) {
                Ok(t) => t,
                Err(_) => {
                    let t = shown(&text, validate::MAX_MESSAGE_CHARS, true, |_| false);
                    if t.is_empty() {
                        skip(r, "empty text");
                        progress.advance(1);
                        continue;
                    }
                    cleaned += 1;
                    t
                }
            };
            let parsed = enclave_core::mentions::parse(&text);
            let mentions = Mentions {
                user_ids: parsed
                    .usernames
                    .iter()
                    .filter_map(|n| people.by_name.get(n).copied())
                    .collect(),
                channel: parsed.channel,
                here: parsed.here,
            };
            let mut reactions = Vec::new();
            let mut distinct = 0;
            for re in &m.reactions {
                if distinct == validate::MAX_REACTIONS_PER_MESSAGE {
                    break;
                }
                let Ok(emoji) = validate::emoji(&re.emoji) else {
                    continue;
                };
                distinct += 1;
                for u in &re.users {
                    if let Some(id) = people.ids.get(u) {
                        reactions.push((emoji.clone(), *id));
                    }
                }
            }
            let pinned = m.pinned && pins < enclave_core::rules::MAX_PINS_PER_CHANNEL;
            if pinned {
                pins += 1;
            }
            batch.push(ImportedMessage {
                ext_id: m.ext_id.clone(),
                user_id: user,
                text,
                mentions,
                thread_root: m.thread_root.clone(),
                created_at: Millis(m.created_ms),
                edited_at: m.edited_ms.map(Millis),
                pinned,
                reactions,
            });
            if batch.len() >= options.batch {
                self.flush(source, channel, &mut batch, options, progress, r)
                    .await?;
            }
        }
        self.flush(source, channel, &mut batch, options, progress, r)
            .await?;
        if cleaned > 0 {
            r.notes.push(format!(
                "{cleaned} message(s) had control characters removed or were cut to {} characters",
                validate::MAX_MESSAGE_CHARS
            ));
        }
        Ok(files)
    }

    async fn flush(
        &self,
        source: &str,
        channel: ChannelId,
        batch: &mut Vec<ImportedMessage>,
        options: &ImportOptions,
        progress: &dyn ImportProgress,
        r: &mut ConversationReport,
    ) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let n = batch.len() as u64;
        if options.dry_run {
            r.imported += n;
            batch.clear();
        } else {
            let done = self
                .store
                .import_messages(source, channel, std::mem::take(batch))
                .await?;
            r.imported += done.inserted;
            r.already += done.already;
            if done.roots_missing > 0 {
                r.notes.push(format!(
                    "{} repl(ies) whose thread root is missing: kept as top-level messages",
                    done.roots_missing
                ));
            }
        }
        progress.advance(n);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_and_shown_text_are_made_valid() {
        assert_eq!(username_from("John.Smith").as_deref(), Some("john.smith"));
        assert_eq!(username_from("王小明"), None);
        assert_eq!(username_from("-x y").as_deref(), Some("x-y"));
        assert_eq!(username_from("here"), None);
        assert_eq!(shown("a\u{202E}b", 64, false, |_| false), "ab");
        assert_eq!(shown("ok", 64, false, |_| true), "ok");
    }
}
