//! Wire shapes of retention policies, legal holds and the purge's runs (re-exported by `dto`;
//! `docs/admin/retention.md`).

use enclave_app::RetentionView;
use enclave_app::store::{ChannelPurge, ChannelRetention, RetentionRun};
use enclave_core::retention::{ChannelPolicy, HoldTarget, LegalHold};
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

use crate::dto::{WireId, opt_ts, ts};

/// A channel's own policy.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct ChannelRetentionDto {
    pub channel_id: String,
    /// `null` for a channel without a name.
    pub name: Option<String>,
    /// `public` or `private` (direct conversations take no policy of their own).
    pub kind: String,
    /// Days messages are kept; `null`: kept forever.
    pub days: Option<u32>,
    pub updated_at: String,
    pub updated_by: Option<String>,
}

/// What the purge removed from (or kept under a hold in) one channel.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct ChannelPurgeDto {
    pub channel_id: String,
    pub name: Option<String>,
    /// `public`, `private`, `dm` or `group_dm`; `null` when the channel is gone.
    pub kind: Option<String>,
    pub messages: u64,
    pub files: u64,
    /// Messages past the policy kept because a legal hold covers them.
    pub held: u64,
}

/// One run of the `retention` job.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct RetentionRunDto {
    pub started_at: String,
    pub finished_at: String,
    /// Who started it (`null`: the schedule).
    pub started_by: Option<String>,
    pub messages: u64,
    pub files: u64,
    pub held: u64,
    /// Channels where something was removed or held, most removed first.
    pub channels: Vec<ChannelPurgeDto>,
}

/// Retention as the admin console shows it.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct RetentionDto {
    /// Days messages of public and private channels are kept; `null`: forever.
    pub message_days: Option<u32>,
    /// Days messages of direct conversations and group direct messages are kept; `null`: forever.
    pub dm_days: Option<u32>,
    /// `api` when set here, `config` while the `[retention]` configuration applies.
    pub policy_source: String,
    /// Whether the job runs on its schedule (`[retention] enabled`).
    pub schedule_enabled: bool,
    pub interval_secs: u64,
    /// Channels with a policy of their own.
    pub channels: Vec<ChannelRetentionDto>,
    /// Whether a purge runs now (on the node that answered).
    pub running: bool,
    pub last_run: Option<RetentionRunDto>,
}

/// The global policy (both keys are required; `null` keeps forever).
#[derive(Debug, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
pub struct RetentionPolicyRequest {
    /// Days (1 to 36500) messages of public and private channels are kept; `null`: forever.
    #[serde(deserialize_with = "crate::dto::int::opt_u32")]
    #[schema(required = true, minimum = 1, maximum = 36500)]
    pub message_days: Option<u32>,
    /// Days (1 to 36500) messages of direct conversations are kept; `null`: forever.
    #[serde(deserialize_with = "crate::dto::int::opt_u32")]
    #[schema(required = true, minimum = 1, maximum = 36500)]
    pub dm_days: Option<u32>,
}

/// A channel's own policy (`days` is required; `null` keeps forever).
#[derive(Debug, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
pub struct ChannelRetentionRequest {
    /// Days (1 to 36500) its messages are kept; `null`: forever.
    #[serde(deserialize_with = "crate::dto::int::opt_u32")]
    #[schema(required = true, minimum = 1, maximum = 36500)]
    pub days: Option<u32>,
}

/// Whether "Run now" started a purge.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct RetentionRunStarted {
    /// `false` when one runs already.
    pub started: bool,
}

/// A legal hold.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct LegalHoldDto {
    pub id: String,
    /// The person held (every message they wrote), or `null`.
    pub user_id: Option<String>,
    /// The channel held (every message in it), or `null`.
    pub channel_id: Option<String>,
    /// Messages created at or after this time are held.
    pub starts_at: String,
    /// Messages created before this time are held; `null`: no end.
    pub ends_at: Option<String>,
    pub reason: String,
    pub created_by: String,
    pub created_at: String,
    /// `null` while the hold is in force.
    pub released_at: Option<String>,
    pub released_by: Option<String>,
}

/// The legal holds, newest first.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct LegalHoldList {
    pub holds: Vec<LegalHoldDto>,
}

/// A legal hold to place: exactly one of `user_id` and `channel_id`.
#[derive(Debug, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
#[ts(optional_fields = nullable)]
pub struct CreateHoldRequest {
    pub user_id: Option<WireId>,
    pub channel_id: Option<WireId>,
    /// RFC 3339: messages created at or after it are held.
    #[schema(format = DateTime)]
    pub starts_at: String,
    /// RFC 3339, after `starts_at`: messages created before it are held; `null`: no end.
    #[schema(format = DateTime)]
    pub ends_at: Option<String>,
    /// 1 to 1000 characters (a case, a request), no control characters but line breaks.
    #[schema(min_length = 1, max_length = 1000)]
    pub reason: String,
}

fn kind(k: enclave_core::ChannelKind) -> String {
    k.as_str().to_owned()
}

impl ChannelRetentionDto {
    pub fn new(c: &ChannelRetention) -> Self {
        ChannelRetentionDto {
            channel_id: c.channel_id.to_string(),
            name: c.name.clone(),
            kind: kind(c.kind),
            days: match c.policy {
                ChannelPolicy::KeepForever => None,
                ChannelPolicy::Days(d) => Some(d),
            },
            updated_at: ts(c.updated_at),
            updated_by: c.updated_by.map(|u| u.to_string()),
        }
    }
}

fn purge(c: &ChannelPurge) -> ChannelPurgeDto {
    ChannelPurgeDto {
        channel_id: c.channel_id.to_string(),
        name: c.name.clone(),
        kind: c.kind.map(kind),
        messages: c.messages,
        files: c.files,
        held: c.held,
    }
}

impl RetentionRunDto {
    pub fn new(r: &RetentionRun) -> Self {
        RetentionRunDto {
            started_at: ts(r.started_at),
            finished_at: ts(r.finished_at),
            started_by: r.started_by.map(|u| u.to_string()),
            messages: r.messages,
            files: r.files,
            held: r.held,
            channels: r.channels.iter().map(purge).collect(),
        }
    }
}

impl RetentionDto {
    pub fn new(v: &RetentionView) -> Self {
        RetentionDto {
            message_days: v.policy.message_days,
            dm_days: v.policy.dm_days,
            policy_source: if v.policy_stored { "api" } else { "config" }.to_owned(),
            schedule_enabled: v.schedule_enabled,
            interval_secs: v.interval_secs,
            channels: v.channels.iter().map(ChannelRetentionDto::new).collect(),
            running: v.running,
            last_run: v.last_run.as_ref().map(RetentionRunDto::new),
        }
    }
}

impl LegalHoldDto {
    pub fn new(h: &LegalHold) -> Self {
        let (user_id, channel_id) = match h.target {
            HoldTarget::User(u) => (Some(u.to_string()), None),
            HoldTarget::Channel(c) => (None, Some(c.to_string())),
        };
        LegalHoldDto {
            id: h.id.to_string(),
            user_id,
            channel_id,
            starts_at: ts(h.starts_at),
            ends_at: opt_ts(h.ends_at),
            reason: h.reason.clone(),
            created_by: h.created_by.to_string(),
            created_at: ts(h.created_at),
            released_at: opt_ts(h.released_at),
            released_by: h.released_by.map(|u| u.to_string()),
        }
    }
}
