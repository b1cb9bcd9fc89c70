//! Search: messages by full text and filters, and channels by name for the quick switcher.
//!
//! The query language and the tokens live in `enclave_core::search`; the store matches them
//! and applies the permission rule of search (only channels the actor is a member of, direct
//! conversations included) in the same query as the match. Message searches count against
//! the actor's search rate limit ([`Kind::Search`]); the quick switcher's channel search, a
//! cheap query made as one types, does not.

use std::collections::HashMap;
use std::sync::Arc;

use enclave_core::search::{self, Segment};
use enclave_core::{Actor, Channel, Error as DomainError, Message};
use enclave_store::{ChannelStore, MessageSearch, SearchStore};

use crate::error::Result;
use crate::files::Previews;
use crate::ratelimit::{Kind, UserLimits};

/// Most results in one page.
pub const MAX_SEARCH_LIMIT: u32 = 100;
/// Results past this offset are not served: refine the query instead.
pub const MAX_SEARCH_OFFSET: u32 = 1000;
/// Longest channel name query, in characters.
pub const MAX_CHANNEL_QUERY_CHARS: usize = 64;

/// One matching message.
#[derive(Debug, Clone)]
pub struct Hit {
    pub message: Message,
    pub channel: Channel,
    /// The part of the text around the first hit, hits marked.
    pub snippet: Vec<Segment>,
}

/// A page of results; `next_offset` is set when there may be more.
#[derive(Debug, Clone)]
pub struct HitPage {
    pub hits: Vec<Hit>,
    pub next_offset: Option<u32>,
}

/// The search service.
pub struct Search {
    store: Arc<dyn SearchStore>,
    /// For the channel of each hit.
    channels: Arc<dyn ChannelStore>,
    /// Opens the previews of the hits' files.
    previews: Previews,
    limits: Arc<UserLimits>,
}

impl Search {
    pub fn new(
        store: Arc<dyn SearchStore>,
        channels: Arc<dyn ChannelStore>,
        previews: Previews,
        limits: Arc<UserLimits>,
    ) -> Self {
        Search {
            store,
            channels,
            previews,
            limits,
        }
    }

    /// Searches the messages `actor` may read with a search box query (see
    /// `enclave_core::search::parse`), best match first.
    pub async fn messages(
        &self,
        actor: &Actor,
        q: &str,
        limit: u32,
        offset: u32,
    ) -> Result<HitPage> {
        self.limits.check(actor, Kind::Search)?;
        if !(1..=MAX_SEARCH_LIMIT).contains(&limit) {
            return Err(DomainError::invalid("limit", "must be 1 to 100").into());
        }
        if offset > MAX_SEARCH_OFFSET {
            return Err(DomainError::invalid("offset", "must be at most 1000").into());
        }
        let parsed = search::parse(q)?;
        if parsed.is_empty() {
            return Err(DomainError::invalid("q", "must contain a word or a filter").into());
        }
        let mut msgs = self
            .store
            .search_messages(MessageSearch {
                user_id: actor.user_id,
                terms: parsed.terms.clone(),
                from: parsed.from,
                in_channel: parsed.in_channel,
                before: parsed.before,
                after: parsed.after,
                has_file: parsed.has_file,
                limit: limit + 1,
                offset,
            })
            .await?;
        let more = msgs.len() > limit as usize;
        msgs.truncate(limit as usize);
        self.previews.open_messages(&mut msgs);
        let mut ids: Vec<_> = msgs.iter().map(|m| m.channel_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let channels: HashMap<_, _> = self
            .channels
            .channels_by_ids(&ids)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        let hits = msgs
            .into_iter()
            .filter_map(|message| {
                let channel = channels.get(&message.channel_id)?.clone();
                let snippet = search::snippet(&message.text, &parsed.terms, search::SNIPPET_CHARS);
                Some(Hit {
                    message,
                    channel,
                    snippet,
                })
            })
            .collect();
        Ok(HitPage {
            hits,
            next_offset: more.then_some(offset + limit),
        })
    }

    /// Channels whose name contains `q` that `actor` is in or may join, for the quick switcher;
    /// the flag says whether the actor is a member.
    pub async fn channels(
        &self,
        actor: &Actor,
        q: &str,
        limit: u32,
    ) -> Result<Vec<(Channel, bool)>> {
        let q = q.trim();
        if q.is_empty() {
            return Err(DomainError::invalid("q", "must not be empty").into());
        }
        if q.chars().count() > MAX_CHANNEL_QUERY_CHARS {
            return Err(DomainError::invalid("q", "must be at most 64 characters").into());
        }
        if !(1..=MAX_SEARCH_LIMIT).contains(&limit) {
            return Err(DomainError::invalid("limit", "must be 1 to 100").into());
        }
        let mut found = self.store.search_channels(actor.user_id, q, limit).await?;
        // Public channels one is not in are found only by those who may see them (not guests).
        found.retain(|(ch, member)| *member || enclave_core::permissions::can_see(actor, ch, None));
        Ok(found)
    }

    /// Rebuilds the search index for up to `limit` messages after `after` (operator command;
    /// see `Store::reindex_batch`).
    pub async fn reindex_batch(
        &self,
        after: enclave_core::MessageId,
        limit: u32,
    ) -> Result<enclave_store::ReindexStep> {
        Ok(self.store.reindex_batch(after, limit).await?)
    }

    /// How many messages are stored, and the largest message id (operator command).
    pub async fn message_stats(&self) -> Result<(u64, enclave_core::MessageId)> {
        Ok(self.store.message_stats().await?)
    }
}
