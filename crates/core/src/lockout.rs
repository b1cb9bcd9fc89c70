//! Sign-in throttling that cannot be turned against the people it protects.
//!
//! The old rule (ten wrong passwords lock an account for everyone; one busy address locks
//! everyone behind it) let anyone who knows a username lock its owner out, and one office NAT
//! lock out the whole office. This module is the replacement, as pure functions over counts the
//! store keeps (so the rule holds across restarts and across the nodes of a cluster, which share
//! one database):
//!
//! - Failures are counted per **(account, source)** pair. The first [`Policy::pair`]`.free`
//!   cost nothing; each one after that makes the next attempt wait, doubling from `first` up
//!   to `max` (1 s, 2 s, 4 s, ... 15 min by default). Nothing is ever locked for good: a
//!   guesser gets at most one try per `max`, a person who mistyped waits seconds.
//! - A **source** is a client address: an IPv4 address, or the /64 network of an IPv6 address
//!   (one host holds a whole /64, and privacy addresses change within it), see [`source_key`].
//! - A success clears the pair and makes the source **known** to the account for
//!   [`Policy::known_for`].
//! - A *soft* limit per account: failures from all sources together
//!   ([`Policy::account`], 20 free by default) slow the account's attempts from **unknown**
//!   sources only. A botnet spraying one account from thousands of addresses is paced to one
//!   guess per `max`, while the owner, signing in from an address they already succeeded from,
//!   is never delayed by it (the approach of OWASP's "device cookies", with the address as the
//!   device: nothing for clients to store, the same over every door).
//! - A generous limit per source: failures on all accounts from one source ([`Policy::source`],
//!   100 free by default) slow that source's attempts on accounts it is **not known** to. A
//!   password sprayer behind a NAT is slowed; colleagues behind the same NAT who signed in from
//!   it before are not.
//! - Failures are forgotten [`Policy::memory`] after the last one (24 h by default), so waiting
//!   for the counters to reset does not beat the cap.
//!
//! Attempts refused because of a delay are not failures: they neither count nor extend the
//! delay, so an attacker's hammering costs the owner nothing more.
//!
//! Each credential step ([`Step`]: the password, the second factor) has its own counters, so a
//! second factor is throttled the same way and a stolen password does not unlock unlimited
//! code guesses.

use std::net::IpAddr;
use std::time::Duration;

use crate::{Actor, Error, Millis, SitePermission};

/// The longest account key kept (longer logins are malformed and refused before any
/// throttling): as long as the longest login, an email address.
pub const MAX_ACCOUNT_KEY: usize = 254;
/// The most throttle entries one admin listing returns.
pub const MAX_LIST: u32 = 200;

/// A credential step whose failures are counted apart from the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// Step 1: the password (or another first credential).
    Password,
    /// Step 2: a second factor (TOTP, WebAuthn), keyed by the account being signed in.
    SecondFactor,
}

impl Step {
    pub const ALL: [Step; 2] = [Step::Password, Step::SecondFactor];

    /// The name stored and shown (`password`, `second_factor`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Step::Password => "password",
            Step::SecondFactor => "second_factor",
        }
    }

    pub fn parse(s: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// How failures turn into waits for one kind of count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delays {
    /// Failures that cost nothing; the `free`-th failure starts the delays.
    pub free: u32,
    /// The wait after the `free`-th failure; it doubles with each further failure.
    pub first: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Delays {
    /// The wait after `failures` failures, counted from the last one. `free == 0` turns the
    /// limit off.
    pub fn delay(&self, failures: u32) -> Duration {
        if self.free == 0 || failures < self.free {
            return Duration::ZERO;
        }
        let doublings = (failures - self.free).min(40);
        self.first
            .checked_mul(1u32 << doublings.min(31))
            .unwrap_or(self.max)
            .min(self.max)
    }
}

/// The throttling policy (`[auth]` in the server's configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Failures of one account from one source.
    pub pair: Delays,
    /// Failures of one account from every source: applied to unknown sources only.
    pub account: Delays,
    /// Failures from one source on every account: applied to accounts it is not known to.
    pub source: Delays,
    /// Failures are forgotten this long after the last one.
    pub memory: Duration,
    /// A source stays known to an account this long after a success from it.
    pub known_for: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        const MAX: Duration = Duration::from_secs(15 * 60);
        const FIRST: Duration = Duration::from_secs(1);
        Policy {
            pair: Delays {
                free: 3,
                first: FIRST,
                max: MAX,
            },
            account: Delays {
                free: 20,
                first: FIRST,
                max: MAX,
            },
            source: Delays {
                free: 100,
                first: FIRST,
                max: MAX,
            },
            memory: Duration::from_secs(24 * 3600),
            known_for: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Policy {
    /// Failures before this time no longer count.
    pub fn failures_since(&self, now: Millis) -> Millis {
        Millis(now.0.saturating_sub(ms(self.memory)))
    }

    /// When a pair's row may be forgotten after a failure at `now`.
    pub fn failure_expires(&self, now: Millis) -> Millis {
        Millis(now.0.saturating_add(ms(self.memory)))
    }

    /// Until when a source is known after a success at `now`.
    pub fn known_until(&self, now: Millis) -> Millis {
        Millis(now.0.saturating_add(ms(self.known_for)))
    }
}

/// Failures counted for one scope: how many, and the time of the newest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tally {
    pub failures: u32,
    pub last: Option<Millis>,
}

/// What one attempt is judged on (failures older than [`Policy::failures_since`] left out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// This account from this source.
    pub pair: Tally,
    /// Whether the source is known to the account (a success from it, not yet expired).
    pub known: bool,
    /// This account from every source.
    pub account: Tally,
    /// This source on every account.
    pub source: Tally,
}

/// Which count delayed an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Pair,
    Account,
    Source,
}

impl Scope {
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::Pair => "pair",
            Scope::Account => "account",
            Scope::Source => "source",
        }
    }
}

/// An attempt that must wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    /// The first moment an attempt is allowed again.
    pub until: Millis,
    /// The count that decided it (the latest `until` when several do).
    pub scope: Scope,
}

impl Wait {
    /// Whole seconds to wait from `now`, rounded up, at least 1 (for `Retry-After`).
    pub fn retry_after_secs(&self, now: Millis) -> u64 {
        let left = self.until.0.saturating_sub(now.0).max(1);
        u64::try_from(left.saturating_add(999) / 1000).unwrap_or(u64::MAX)
    }

    /// The refusal an attempt gets.
    pub fn error(&self, now: Millis) -> Error {
        Error::RateLimited {
            retry_after_secs: self.retry_after_secs(now),
        }
    }
}

fn until(delays: &Delays, tally: &Tally) -> Option<Millis> {
    let wait = delays.delay(tally.failures);
    let last = tally.last?;
    (!wait.is_zero()).then(|| Millis(last.0.saturating_add(ms(wait))))
}

/// Whether an attempt may go ahead at `now`, or how long it must wait.
///
/// The pair's own failures always count; the account's and the source's only when the source
/// is not known to the account (see the module docs).
pub fn check(policy: &Policy, counts: &Counts, now: Millis) -> Result<(), Wait> {
    let mut candidates = vec![(Scope::Pair, until(&policy.pair, &counts.pair))];
    if !counts.known {
        candidates.push((Scope::Account, until(&policy.account, &counts.account)));
        candidates.push((Scope::Source, until(&policy.source, &counts.source)));
    }
    let latest = candidates
        .into_iter()
        .filter_map(|(scope, u)| u.filter(|u| u.0 > now.0).map(|until| Wait { until, scope }))
        .max_by_key(|w| w.until.0);
    match latest {
        Some(w) => Err(w),
        None => Ok(()),
    }
}

/// The key failures are counted under for one client address: an IPv4 address as written, an
/// IPv4-mapped IPv6 address as its IPv4 address, any other IPv6 address as its /64 network
/// (`2001:db8:1:2::/64`).
pub fn source_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{net}/64")
            }
        },
    }
}

/// Whether `s` is a source key as [`source_key`] makes them (for the admin's requests).
pub fn is_source_key(s: &str) -> bool {
    if let Some(net) = s.strip_suffix("/64") {
        return net
            .parse::<std::net::Ipv6Addr>()
            .is_ok_and(|a| source_key(IpAddr::V6(a)) == s);
    }
    s.parse::<std::net::Ipv4Addr>().is_ok()
}

/// The key a password login's failures are counted under: the login as typed, trimmed and
/// lower-cased (the store finds accounts the same way), or `None` when it is empty or too long
/// to be a login at all (such input is refused without being counted).
pub fn account_key(login: &str) -> Option<String> {
    let key = login.trim().to_lowercase();
    (!key.is_empty() && key.chars().count() <= MAX_ACCOUNT_KEY && !key.contains(char::is_control))
        .then_some(key)
}

/// Who may see and clear the throttles: [`SitePermission::ManageUsers`].
pub fn check_manage(actor: &Actor) -> Result<(), Error> {
    if actor.may(SitePermission::ManageUsers) {
        Ok(())
    } else {
        Err(Error::Forbidden(
            "managing sign-in throttles needs the right to manage users",
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{RoleSet, UserId};

    const S: i64 = 1000;

    fn tally(failures: u32, last: i64) -> Tally {
        Tally {
            failures,
            last: Some(Millis(last)),
        }
    }

    #[test]
    fn delays_start_after_the_free_failures_double_and_are_capped() {
        let d = Policy::default().pair;
        let secs: Vec<u64> = (0..16).map(|n| d.delay(n).as_secs()).collect();
        assert_eq!(
            secs,
            [
                0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900
            ]
        );
        assert_eq!(d.delay(u32::MAX), d.max);
        let off = Delays { free: 0, ..d };
        assert_eq!(off.delay(1000), Duration::ZERO);
    }

    #[test]
    fn a_pair_waits_from_its_last_failure() {
        let p = Policy::default();
        let now = 1_000_000 * S;
        // Two failures: free.
        let c = Counts {
            pair: tally(2, now),
            ..Counts::default()
        };
        assert_eq!(check(&p, &c, Millis(now)), Ok(()));
        // Five failures, the last 3 s ago: 4 s to wait, so 1 s left.
        let c = Counts {
            pair: tally(5, now - 3 * S),
            ..Counts::default()
        };
        let w = check(&p, &c, Millis(now)).unwrap_err();
        assert_eq!(w.scope, Scope::Pair);
        assert_eq!(w.until, Millis(now + S));
        assert_eq!(w.retry_after_secs(Millis(now)), 1);
        assert_eq!(
            w.error(Millis(now)),
            Error::RateLimited {
                retry_after_secs: 1
            }
        );
        // And allowed once the wait is over.
        assert_eq!(check(&p, &c, Millis(now + S)), Ok(()));
        // Being known does not lift the pair's own delay.
        let known = Counts { known: true, ..c };
        assert!(check(&p, &known, Millis(now)).is_err());
    }

    #[test]
    fn the_account_and_source_counts_slow_only_unknown_sources() {
        let p = Policy::default();
        let now = 1_000_000 * S;
        let sprayed = Counts {
            pair: Tally::default(),
            known: false,
            account: tally(30, now),
            source: Tally::default(),
        };
        let w = check(&p, &sprayed, Millis(now)).unwrap_err();
        assert_eq!(w.scope, Scope::Account);
        assert_eq!(w.until, Millis(now + 900 * S));
        // The owner, from an address they signed in from before: not delayed.
        let owner = Counts {
            known: true,
            ..sprayed
        };
        assert_eq!(check(&p, &owner, Millis(now)), Ok(()));

        let nat = Counts {
            source: tally(101, now),
            ..Counts::default()
        };
        let w = check(&p, &nat, Millis(now)).unwrap_err();
        assert_eq!(w.scope, Scope::Source);
        assert_eq!(w.until, Millis(now + 2 * S));
        let colleague = Counts { known: true, ..nat };
        assert_eq!(check(&p, &colleague, Millis(now)), Ok(()));
        // Below the generous free counts nothing waits.
        let some = Counts {
            account: tally(19, now),
            source: tally(99, now),
            ..Counts::default()
        };
        assert_eq!(check(&p, &some, Millis(now)), Ok(()));
    }

    #[test]
    fn the_latest_wait_wins() {
        let p = Policy::default();
        let now = 1_000_000 * S;
        let c = Counts {
            pair: tally(3, now), // 1 s
            known: false,
            account: tally(22, now),         // 4 s
            source: tally(102, now - 2 * S), // 4 s from 2 s ago
        };
        let w = check(&p, &c, Millis(now)).unwrap_err();
        assert_eq!((w.scope, w.until), (Scope::Account, Millis(now + 4 * S)));
    }

    #[test]
    fn retry_after_rounds_up_and_is_at_least_one_second() {
        let w = Wait {
            until: Millis(10_001),
            scope: Scope::Pair,
        };
        assert_eq!(w.retry_after_secs(Millis(10_000)), 1);
        assert_eq!(w.retry_after_secs(Millis(10_001)), 1);
        assert_eq!(w.retry_after_secs(Millis(8_000)), 3);
        assert_eq!(w.retry_after_secs(Millis(i64::MIN)), i64::MAX as u64 / 1000);
    }

    #[test]
    fn policy_times_saturate() {
        let p = Policy {
            memory: Duration::MAX,
            known_for: Duration::MAX,
            ..Policy::default()
        };
        assert_eq!(p.failures_since(Millis(5)), Millis(5 - i64::MAX));
        assert_eq!(p.failure_expires(Millis(5)), Millis(i64::MAX));
        assert_eq!(p.known_until(Millis(5)), Millis(i64::MAX));
    }

    #[test]
    fn sources_are_addresses_or_ipv6_networks() {
        let cases = [
            ("192.0.2.7", "192.0.2.7"),
            ("::ffff:192.0.2.7", "192.0.2.7"),
            ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
            ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
            ("::1", "::/64"),
        ];
        for (ip, key) in cases {
            let got = source_key(ip.parse().unwrap());
            assert_eq!(got, key, "{ip}");
            assert!(is_source_key(&got), "{got}");
        }
        for bad in [
            "",
            "x",
            "192.0.2",
            "2001:db8::1/64",
            "2001:db8::/48",
            "::1",
            "1.2.3.4/32",
        ] {
            assert!(!is_source_key(bad), "{bad:?}");
        }
    }

    #[test]
    fn account_keys_are_trimmed_lowercase_and_bounded() {
        assert_eq!(
            account_key("  Alice@Example.COM "),
            Some("alice@example.com".into())
        );
        assert_eq!(account_key("张三"), Some("张三".into()));
        assert_eq!(account_key("   "), None);
        assert_eq!(account_key("a\u{0}b"), None);
        assert!(account_key(&"x".repeat(MAX_ACCOUNT_KEY)).is_some());
        assert_eq!(account_key(&"x".repeat(MAX_ACCOUNT_KEY + 1)), None);
    }

    #[test]
    fn steps_round_trip() {
        for s in Step::ALL {
            assert_eq!(Step::parse(s.as_str()), Some(s));
        }
        assert_eq!(Step::parse("totp"), None);
    }

    #[test]
    fn only_user_managers_manage_throttles() {
        let admin = Actor::new(UserId(1), RoleSet::ADMIN);
        let member = Actor::new(UserId(2), RoleSet::MEMBER);
        assert_eq!(check_manage(&admin), Ok(()));
        assert!(matches!(check_manage(&member), Err(Error::Forbidden(_))));
    }
}
