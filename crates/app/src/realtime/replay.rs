//! Replay: the events after a client's position that its user may see, read from the log
//! (the same audience rule as live delivery, [`Event::reaches`](enclave_core::Event::reaches)).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use enclave_core::{Actor, ChannelId, Error as DomainError, UserId};

use super::envelope::Envelope;
use super::load::build_envelopes;
use super::{Hub, REPLAY_PAGE};
use crate::error::{Error, Result};

/// Events after a position that one user may see.
pub struct CatchUp {
    pub envelopes: Vec<Arc<Envelope>>,
    /// The last position examined: pass it as `since` next time.
    pub position: i64,
    pub has_more: bool,
}

impl Hub {
    /// Events after `since` that `viewer` may see, up to `limit` of them. A position older than
    /// the retained log, or newer than its end, is refused with `ResyncRequired`.
    pub async fn catch_up(&self, viewer: &Actor, since: i64, limit: usize) -> Result<CatchUp> {
        let user = viewer.user_id;
        let first = self.store.first_position().await?;
        let last = self.store.last_position().await?;
        if since < first - 1 || since > last || since < 0 {
            return Err(Error::Domain(DomainError::ResyncRequired));
        }
        let channels: HashSet<ChannelId> =
            self.store.channel_ids_of(user).await?.into_iter().collect();
        // The channels of accounts the log's account events are about, for a viewer who sees
        // only those they share a channel with (asked at most once per account).
        let mut theirs: HashMap<UserId, bool> = HashMap::new();
        let mut picked = Vec::new();
        let mut position = since;
        let mut has_more = false;
        'pages: loop {
            let page = self.store.events_after(position, REPLAY_PAGE).await?;
            let full = page.len() == REPLAY_PAGE as usize;
            for e in page {
                if picked.len() == limit {
                    has_more = true;
                    break 'pages;
                }
                position = e.position;
                let mut ask = None;
                let reaches = e.reaches(
                    viewer,
                    |c| channels.contains(&c),
                    |u| match theirs.get(&u) {
                        Some(shares) => *shares,
                        None => {
                            ask = Some(u);
                            false
                        }
                    },
                );
                let reaches = match ask {
                    Some(u) => {
                        let shares = self
                            .store
                            .channel_ids_of(u)
                            .await?
                            .iter()
                            .any(|c| channels.contains(c));
                        theirs.insert(u, shares);
                        shares
                    }
                    None => reaches,
                };
                if reaches {
                    picked.push(e);
                }
            }
            if !full {
                break;
            }
        }
        let envelopes = build_envelopes(self.store.as_ref(), &self.previews, picked).await?;
        Ok(CatchUp {
            envelopes,
            position,
            has_more,
        })
    }
}
