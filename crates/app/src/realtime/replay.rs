//! Replay: the events after a client's position that its user may see, read from the log
//! (the same audience rule as live delivery, [`Event::reaches`](enclave_core::Event::reaches)).

use std::collections::HashSet;
use std::sync::Arc;

use enclave_core::{ChannelId, Error as DomainError, UserId};

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
    /// Events after `since` that `user` may see, up to `limit` of them. A position older than
    /// the retained log, or newer than its end, is refused with `ResyncRequired`.
    pub async fn catch_up(&self, user: UserId, since: i64, limit: usize) -> Result<CatchUp> {
        let first = self.store.first_position().await?;
        let last = self.store.last_position().await?;
        if since < first - 1 || since > last || since < 0 {
            return Err(Error::Domain(DomainError::ResyncRequired));
        }
        let channels: HashSet<ChannelId> =
            self.store.channel_ids_of(user).await?.into_iter().collect();
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
                if e.reaches(user, |c| channels.contains(&c)) {
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
