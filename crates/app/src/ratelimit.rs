//! Per-user rate limits ([`UserLimits`]): a token bucket per user and [`Kind`] of action
//! (posts, reactions, uploads, searches, other writes), checked by the services themselves so
//! every door (REST, WebSocket, later XMPP and webhooks) shares one budget. The bucket
//! arithmetic is `enclave_core::rate`; this part keeps the buckets, in bounded memory.
//!
//! Sign-in throttling is not here: its counters live in the database so that they survive a
//! restart and hold across a cluster (`Accounts::throttle_check`, `enclave_core::lockout`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use enclave_core::rate::{BucketState, Rate, retry_after_secs};
use enclave_core::{Actor, Error as DomainError, SitePermission, UserId};
use parking_lot::Mutex;

/// What a rate limit counts: each kind has its own bucket per user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Posting a message (REST or WebSocket `send`).
    Post,
    /// Adding or removing a reaction.
    React,
    /// Uploading a file.
    Upload,
    /// A full-text message search.
    Search,
    /// Every other change: edits, deletes, pins, channels and memberships, read positions,
    /// profile and status.
    Write,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Post,
        Kind::React,
        Kind::Upload,
        Kind::Search,
        Kind::Write,
    ];
}

/// The rate of each [`Kind`] (`Rate::OFF` for no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    pub posts: Rate,
    pub reactions: Rate,
    pub uploads: Rate,
    pub searches: Rate,
    pub writes: Rate,
}

impl RateLimitConfig {
    /// No limits (operator tools, and tests that flood on purpose).
    pub const OFF: RateLimitConfig = RateLimitConfig {
        posts: Rate::OFF,
        reactions: Rate::OFF,
        uploads: Rate::OFF,
        searches: Rate::OFF,
        writes: Rate::OFF,
    };

    pub fn rate(&self, kind: Kind) -> Rate {
        match kind {
            Kind::Post => self.posts,
            Kind::React => self.reactions,
            Kind::Upload => self.uploads,
            Kind::Search => self.searches,
            Kind::Write => self.writes,
        }
    }
}

impl Default for RateLimitConfig {
    /// Far above what a person does by hand, far below a flood: see `[rate_limits]` in the
    /// server's configuration for the reasoning.
    fn default() -> Self {
        RateLimitConfig {
            posts: Rate::new(10, 30),
            reactions: Rate::new(10, 30),
            uploads: Rate::new(2, 20),
            searches: Rate::new(5, 20),
            writes: Rate::new(10, 50),
        }
    }
}

/// Buckets kept at most, over all users and kinds (about 50 bytes each). Full buckets are the
/// same as none and are dropped first; past this, the bucket closest to full is.
const MAX_BUCKETS: usize = 100_000;
/// Independent locks over the buckets, by user.
const SHARDS: usize = 16;

type Shard = Mutex<HashMap<(UserId, Kind), BucketState>>;

/// Per-user token buckets, one per [`Kind`]. Actors with
/// [`SitePermission::BypassRateLimits`] (site administrators) are not limited.
pub struct UserLimits {
    config: RateLimitConfig,
    /// The origin of the buckets' times.
    origin: Instant,
    shards: Box<[Shard]>,
}

impl UserLimits {
    pub fn new(config: RateLimitConfig) -> Self {
        UserLimits {
            config,
            origin: Instant::now(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    /// Limits that never refuse.
    pub fn off() -> Self {
        Self::new(RateLimitConfig::OFF)
    }

    pub fn config(&self) -> &RateLimitConfig {
        &self.config
    }

    fn shard(&self, user: UserId) -> &Shard {
        &self.shards[(user.0.unsigned_abs() % SHARDS as u64) as usize]
    }

    fn since_origin(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.origin)
    }

    /// Takes one `kind` token for `actor`, or refuses with `RateLimited` and the seconds to
    /// wait (rounded up).
    pub fn check(&self, actor: &Actor, kind: Kind) -> Result<(), DomainError> {
        // Every change a service makes passes here first: a read-only credential is refused
        // by the core's rule before any bucket is touched.
        if kind != Kind::Search {
            enclave_core::permissions::check_write(actor)?;
        }
        if actor.may(SitePermission::BypassRateLimits) {
            return Ok(());
        }
        self.take(actor.user_id, kind, Instant::now())
            .map_err(|wait| DomainError::RateLimited {
                retry_after_secs: retry_after_secs(wait),
            })
    }

    /// Takes one `kind` token for `user` at `now`, or `Err(wait)`.
    pub fn take(&self, user: UserId, kind: Kind, now: Instant) -> Result<(), Duration> {
        let rate = self.config.rate(kind);
        if rate.is_off() {
            return Ok(());
        }
        let now = self.since_origin(now);
        let mut buckets = self.shard(user).lock();
        if let Some(state) = buckets.get_mut(&(user, kind)) {
            return rate.take(state, now);
        }
        let mut state = BucketState::default();
        rate.take(&mut state, now)?;
        make_room(&mut buckets, now, MAX_BUCKETS / SHARDS);
        buckets.insert((user, kind), state);
        Ok(())
    }

    /// Returns the token a `check` took for an action that changed nothing (a retried post
    /// the store already had).
    pub fn give_back(&self, actor: &Actor, kind: Kind) {
        let rate = self.config.rate(kind);
        if rate.is_off() || actor.may(SitePermission::BypassRateLimits) {
            return;
        }
        if let Some(state) = self
            .shard(actor.user_id)
            .lock()
            .get_mut(&(actor.user_id, kind))
        {
            rate.give_back(state);
        }
    }

    /// Buckets currently kept.
    pub fn n_buckets(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }
}

/// Makes room for one more bucket in a shard holding `cap`: drops the full buckets, and if
/// that is not enough, the one that will be full soonest (its user gets a fresh bucket a
/// little early, which is the cheapest mistake to make).
fn make_room(buckets: &mut HashMap<(UserId, Kind), BucketState>, now: Duration, cap: usize) {
    if buckets.len() < cap {
        return;
    }
    buckets.retain(|_, s| !s.is_full(now));
    if buckets.len() < cap {
        return;
    }
    if let Some(key) = buckets
        .iter()
        .min_by_key(|(_, s)| s.full_at())
        .map(|(k, _)| *k)
    {
        buckets.remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(n: i64) -> Actor {
        Actor::new(UserId(n), enclave_core::RoleSet::MEMBER)
    }

    #[test]
    fn each_user_and_kind_has_its_own_bucket() {
        let limits = UserLimits::new(RateLimitConfig {
            posts: Rate::new(1, 2),
            searches: Rate::new(1, 1),
            ..RateLimitConfig::OFF
        });
        let t0 = Instant::now();
        let (a, b) = (UserId(1), UserId(2));
        assert!(limits.take(a, Kind::Post, t0).is_ok());
        assert!(limits.take(a, Kind::Post, t0).is_ok());
        assert_eq!(limits.take(a, Kind::Post, t0), Err(Duration::from_secs(1)));
        assert!(
            limits.take(b, Kind::Post, t0).is_ok(),
            "another user is unaffected"
        );
        assert!(
            limits.take(a, Kind::Search, t0).is_ok(),
            "another kind is unaffected"
        );
        assert!(limits.take(a, Kind::Search, t0).is_err());
        for _ in 0..100 {
            assert!(limits.take(a, Kind::React, t0).is_ok(), "reactions are off");
        }
        assert!(
            limits
                .take(a, Kind::Post, t0 + Duration::from_secs(1))
                .is_ok()
        );
    }

    #[test]
    fn refusals_say_when_to_retry_and_administrators_are_not_limited() {
        let limits = UserLimits::new(RateLimitConfig {
            posts: Rate::new(1, 1),
            ..RateLimitConfig::OFF
        });
        let me = user(7);
        assert!(limits.check(&me, Kind::Post).is_ok());
        assert_eq!(
            limits.check(&me, Kind::Post),
            Err(DomainError::RateLimited {
                retry_after_secs: 1
            })
        );
        limits.give_back(&me, Kind::Post);
        assert!(limits.check(&me, Kind::Post).is_ok(), "a returned token");
        let admin = Actor::new(UserId(8), enclave_core::RoleSet::ADMIN);
        for _ in 0..100 {
            assert!(limits.check(&admin, Kind::Post).is_ok());
        }
    }

    #[test]
    fn memory_is_bounded_and_full_buckets_go_first() {
        let limits = UserLimits::new(RateLimitConfig {
            writes: Rate::new(1, 5),
            ..RateLimitConfig::OFF
        });
        let t0 = Instant::now();
        for n in 0..(MAX_BUCKETS as i64 + 1_600) {
            assert!(limits.take(UserId(n), Kind::Write, t0).is_ok());
        }
        assert!(limits.n_buckets() <= MAX_BUCKETS);
        // One second later every bucket is full again: they are all swept to make room.
        let later = t0 + Duration::from_secs(1);
        for n in 0..SHARDS as i64 {
            assert!(limits.take(UserId(-1 - n), Kind::Write, later).is_ok());
        }
        assert!(limits.n_buckets() <= SHARDS, "{}", limits.n_buckets());
    }
}
