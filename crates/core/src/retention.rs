//! Retention and legal hold: which messages a purge removes, and which holds keep them.
//!
//! The one rule, decided here and nowhere else (both store backends call these functions on the
//! rows they read inside the purge's transaction; the application and the doors only pass the
//! policy along):
//!
//! 1. A channel keeps its messages for its *effective* number of days ([`effective_days`]): a
//!    per-channel override ([`ChannelPolicy`]: a number of days or "keep forever") when the
//!    channel has one, else the global policy ([`GlobalPolicy`]): `message_days` for public and
//!    private channels, `dm_days` for direct conversations and group direct messages. `None` is
//!    "keep forever". Direct conversations take no per-channel override
//!    ([`check_override_target`]).
//! 2. A message is purgeable when it was created before the channel's cutoff ([`cutoff`]: now
//!    minus the days) and no active legal hold covers it ([`held`]).
//! 3. A legal hold ([`LegalHold`]) names one person (every message they wrote, in any channel)
//!    or one channel (every message in it), and a range of creation times (`starts_at`
//!    inclusive, `ends_at` exclusive, open-ended when `None`), with a reason. A released hold
//!    covers nothing.
//! 4. A thread root goes only with its last reply ([`root_removable`]): replies are purged
//!    first, and a root some reply of which is still stored (newer, or held) stays.
//! 5. Deleting one's message while a hold covers it hides it from everyone as any deletion does,
//!    but its text and files are kept aside for the hold ([`held`] again, asked by the store's
//!    delete) until the hold is released and retention removes them.
//!
//! No I/O: the store persists policies and holds and reads the candidates.

use crate::error::Error;
use crate::ids::{ChannelId, Millis, UserId};
use crate::model::ChannelKind;

/// The most days a policy may keep messages (100 years; more is "keep forever").
pub const MAX_DAYS: u32 = 36_500;
/// The most characters of a hold's reason.
pub const MAX_REASON_CHARS: usize = 1000;
/// The most holds (active or released) listed or stored.
pub const MAX_HOLDS: usize = 1000;
/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// The site-wide policy: how many days messages are kept, `None` for forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GlobalPolicy {
    /// Public and private channels.
    pub message_days: Option<u32>,
    /// Direct conversations and group direct messages.
    pub dm_days: Option<u32>,
}

/// A channel's own policy, overriding the global one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelPolicy {
    /// Never purge this channel (a hold is not needed for that).
    KeepForever,
    /// Keep messages this many days.
    Days(u32),
}

impl ChannelPolicy {
    /// The days, `None` for forever.
    pub fn days(self) -> Option<u32> {
        match self {
            ChannelPolicy::KeepForever => None,
            ChannelPolicy::Days(d) => Some(d),
        }
    }

    /// From the stored form: `None` is "keep forever".
    pub fn from_days(days: Option<u32>) -> ChannelPolicy {
        match days {
            None => ChannelPolicy::KeepForever,
            Some(d) => ChannelPolicy::Days(d),
        }
    }
}

/// Whether the kind of conversation is a direct one (kept under `dm_days`).
pub fn is_direct(kind: ChannelKind) -> bool {
    matches!(kind, ChannelKind::Dm | ChannelKind::GroupDm)
}

/// A number of days a policy may hold: 1 to [`MAX_DAYS`].
pub fn check_days(field: &'static str, days: Option<u32>) -> Result<Option<u32>, Error> {
    match days {
        Some(d) if d == 0 || d > MAX_DAYS => Err(Error::Invalid {
            field,
            reason: "must be between 1 and 36500 days, or null to keep forever",
        }),
        other => Ok(other),
    }
}

/// Whether a channel of this kind may have its own policy: direct conversations follow
/// `dm_days` only (the site's, not one person's, decision).
pub fn check_override_target(kind: ChannelKind) -> Result<(), Error> {
    if is_direct(kind) {
        Err(Error::Invalid {
            field: "channel_id",
            reason: "direct conversations follow the global dm_days policy",
        })
    } else {
        Ok(())
    }
}

/// The days a channel keeps its messages (`None`: forever).
pub fn effective_days(
    global: &GlobalPolicy,
    kind: ChannelKind,
    channel: Option<ChannelPolicy>,
) -> Option<u32> {
    if is_direct(kind) {
        return global.dm_days;
    }
    match channel {
        Some(p) => p.days(),
        None => global.message_days,
    }
}

/// Messages created before this time are purgeable (`None`: nothing is).
pub fn cutoff(days: Option<u32>, now: Millis) -> Option<Millis> {
    days.map(|d| Millis(now.0.saturating_sub(i64::from(d).saturating_mul(DAY_MS))))
}

/// What a legal hold keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HoldTarget {
    /// Every message this person wrote, in any conversation.
    User(UserId),
    /// Every message in this channel.
    Channel(ChannelId),
}

/// A legal hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegalHold {
    pub id: i64,
    pub target: HoldTarget,
    /// Messages created at or after this time are held.
    pub starts_at: Millis,
    /// Messages created before this time are held; `None`: no end.
    pub ends_at: Option<Millis>,
    pub reason: String,
    pub created_by: UserId,
    pub created_at: Millis,
    /// When the hold was released (it then holds nothing).
    pub released_at: Option<Millis>,
    pub released_by: Option<UserId>,
}

impl LegalHold {
    /// Whether the hold is in force.
    pub fn active(&self) -> bool {
        self.released_at.is_none()
    }

    /// Whether the hold keeps a message of `author` in `channel` created at `created_at`.
    pub fn covers(&self, channel: ChannelId, author: UserId, created_at: Millis) -> bool {
        if !self.active() {
            return false;
        }
        let who = match self.target {
            HoldTarget::User(u) => u == author,
            HoldTarget::Channel(c) => c == channel,
        };
        who && created_at >= self.starts_at && self.ends_at.is_none_or(|end| created_at < end)
    }
}

/// Whether any of `holds` keeps the message.
pub fn held(holds: &[LegalHold], channel: ChannelId, author: UserId, created_at: Millis) -> bool {
    holds.iter().any(|h| h.covers(channel, author, created_at))
}

/// Whether a message is purgeable under `cutoff` and `holds` (rule 2).
pub fn purgeable(
    cutoff: Millis,
    holds: &[LegalHold],
    channel: ChannelId,
    author: UserId,
    created_at: Millis,
) -> bool {
    created_at < cutoff && !held(holds, channel, author, created_at)
}

/// Whether a thread root (or a message without replies) may go, given how many of its replies
/// are still stored after the replies' turn (rule 4).
pub fn root_removable(remaining_replies: u64) -> bool {
    remaining_replies == 0
}

/// Checks a new hold: a reason of 1 to [`MAX_REASON_CHARS`] characters (trimmed, no control
/// characters but line breaks), and a range that ends after it starts. Returns the trimmed
/// reason.
pub fn check_hold(
    starts_at: Millis,
    ends_at: Option<Millis>,
    reason: &str,
) -> Result<String, Error> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Error::Invalid {
            field: "reason",
            reason: "a hold needs a reason",
        });
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(Error::Invalid {
            field: "reason",
            reason: "at most 1000 characters",
        });
    }
    if reason
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(Error::Invalid {
            field: "reason",
            reason: "control characters are not allowed",
        });
    }
    if starts_at.0 < 0 {
        return Err(Error::Invalid {
            field: "starts_at",
            reason: "must not be before 1970",
        });
    }
    if let Some(end) = ends_at
        && end <= starts_at
    {
        return Err(Error::Invalid {
            field: "ends_at",
            reason: "must be after starts_at",
        });
    }
    Ok(reason.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hold(target: HoldTarget, starts: i64, ends: Option<i64>) -> LegalHold {
        LegalHold {
            id: 1,
            target,
            starts_at: Millis(starts),
            ends_at: ends.map(Millis),
            reason: "case 1".into(),
            created_by: UserId(9),
            created_at: Millis(0),
            released_at: None,
            released_by: None,
        }
    }

    #[test]
    fn effective_days_table() {
        let g = GlobalPolicy {
            message_days: Some(30),
            dm_days: Some(7),
        };
        let cases = [
            (ChannelKind::Public, None, Some(30)),
            (ChannelKind::Private, None, Some(30)),
            (ChannelKind::Public, Some(ChannelPolicy::Days(5)), Some(5)),
            (ChannelKind::Private, Some(ChannelPolicy::KeepForever), None),
            (ChannelKind::Dm, None, Some(7)),
            (ChannelKind::GroupDm, None, Some(7)),
            // A stored override on a direct conversation is ignored.
            (ChannelKind::Dm, Some(ChannelPolicy::Days(1)), Some(7)),
        ];
        for (kind, over, want) in cases {
            assert_eq!(effective_days(&g, kind, over), want, "{kind:?} {over:?}");
        }
        let forever = GlobalPolicy::default();
        assert_eq!(effective_days(&forever, ChannelKind::Public, None), None);
        assert_eq!(effective_days(&forever, ChannelKind::Dm, None), None);
        assert_eq!(
            effective_days(&forever, ChannelKind::Public, Some(ChannelPolicy::Days(3))),
            Some(3)
        );
    }

    #[test]
    fn cutoff_and_purgeable() {
        let now = Millis(100 * DAY_MS);
        assert_eq!(cutoff(None, now), None);
        let c = cutoff(Some(10), now).expect("ten days keep a cutoff");
        assert_eq!(c, Millis(90 * DAY_MS));
        let (ch, u) = (ChannelId(1), UserId(2));
        assert!(purgeable(c, &[], ch, u, Millis(90 * DAY_MS - 1)));
        assert!(!purgeable(c, &[], ch, u, Millis(90 * DAY_MS)));
    }

    #[test]
    fn holds_cover_their_target_and_range() {
        let (ch, other_ch, u, other_u) = (ChannelId(1), ChannelId(2), UserId(3), UserId(4));
        let by_user = hold(HoldTarget::User(u), 100, Some(200));
        let by_channel = hold(HoldTarget::Channel(ch), 100, None);
        let cases = [
            (&by_user, other_ch, u, 100, true),
            (&by_user, other_ch, u, 199, true),
            (&by_user, other_ch, u, 200, false),
            (&by_user, other_ch, u, 99, false),
            (&by_user, ch, other_u, 150, false),
            (&by_channel, ch, other_u, 150, true),
            (&by_channel, ch, other_u, 1_000_000, true),
            (&by_channel, ch, other_u, 99, false),
            (&by_channel, other_ch, u, 150, false),
        ];
        for (h, c, a, t, want) in cases {
            assert_eq!(h.covers(c, a, Millis(t)), want, "{h:?} {c:?} {a:?} {t}");
        }
        let mut released = by_channel.clone();
        released.released_at = Some(Millis(5));
        assert!(!released.covers(ch, u, Millis(150)));
        assert!(held(
            &[released.clone(), by_user.clone()],
            other_ch,
            u,
            Millis(150)
        ));
        assert!(!held(&[released], ch, u, Millis(150)));
        let cutoff = Millis(1_000);
        assert!(!purgeable(
            cutoff,
            std::slice::from_ref(&by_user),
            other_ch,
            u,
            Millis(150)
        ));
        assert!(purgeable(
            cutoff,
            &[by_user],
            other_ch,
            other_u,
            Millis(150)
        ));
    }

    #[test]
    fn checks() {
        assert!(check_days("message_days", Some(0)).is_err());
        assert!(check_days("message_days", Some(MAX_DAYS + 1)).is_err());
        assert_eq!(check_days("message_days", Some(1)), Ok(Some(1)));
        assert_eq!(check_days("message_days", None), Ok(None));
        assert!(check_override_target(ChannelKind::Dm).is_err());
        assert!(check_override_target(ChannelKind::GroupDm).is_err());
        assert!(check_override_target(ChannelKind::Private).is_ok());
        assert_eq!(
            check_hold(Millis(0), None, "  case 7 "),
            Ok("case 7".into())
        );
        assert!(check_hold(Millis(0), None, "   ").is_err());
        assert!(check_hold(Millis(0), None, "a\u{0}b").is_err());
        assert!(check_hold(Millis(10), Some(Millis(10)), "r").is_err());
        assert!(check_hold(Millis(-1), None, "r").is_err());
        assert!(check_hold(Millis(0), None, &"x".repeat(1001)).is_err());
        assert!(root_removable(0));
        assert!(!root_removable(1));
    }
}
