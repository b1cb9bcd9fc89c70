//! The sign-in throttle, one entry point for every credential step: before checking a
//! credential a door (or a sign-in step) calls [`Accounts::throttle_check`], then
//! [`Accounts::throttle_fail`] or [`Accounts::throttle_ok`] with the outcome. The rule is
//! `enclave_core::lockout`; the counters are in the store ([`ThrottleStore`]), so they survive
//! a restart and every node of a cluster shares them. Administrators see and clear them with
//! [`Accounts::lockouts`] and [`Accounts::clear_lockouts`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use enclave_core::lockout::{self, Scope, Step};
use enclave_core::{Actor, Error as DomainError, Millis};
use enclave_store::ThrottleKey;

use super::Accounts;
use crate::error::{Error, Result};

/// One throttled (account, source) pair, as administrators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lockout {
    pub step: Step,
    /// The account key: the login as typed (trimmed, lower case) for passwords, which may name
    /// no account at all; the account's id for a second factor.
    pub account: String,
    /// The client address, or IPv6 /64 network (`enclave_core::lockout::source_key`).
    pub source: String,
    /// Failures since the last success, within the policy's memory.
    pub failures: u32,
    pub last_failure_at: Millis,
    /// Whether the source is known to the account (signed in from it before).
    pub known: bool,
    /// When the next attempt of this account from this source is allowed, if it must wait now,
    /// and which count makes it wait.
    pub delayed_until: Option<(Millis, Scope)>,
}

/// Locks per key, held by the attempts in progress: a key is in the map only while some
/// attempt holds or awaits it, so the map is as large as the number of concurrent attempts.
#[derive(Default)]
pub(super) struct KeyLocks {
    map: parking_lot::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

pub(super) struct KeyGuard<'a> {
    locks: &'a KeyLocks,
    key: String,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl KeyLocks {
    pub(super) async fn lock(&self, key: String) -> KeyGuard<'_> {
        let lock = self.map.lock().entry(key.clone()).or_default().clone();
        let guard = lock.lock_owned().await;
        KeyGuard {
            locks: self,
            key,
            guard: Some(guard),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.lock().len()
    }
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut map = self.locks.map.lock();
        if map
            .get(&self.key)
            .is_some_and(|l| Arc::strong_count(l) == 1)
        {
            map.remove(&self.key);
        }
    }
}

fn key(step: Step, account: &str, ip: IpAddr) -> Result<ThrottleKey> {
    if account.is_empty() || account.chars().count() > lockout::MAX_ACCOUNT_KEY {
        return Err(Error::internal(format!(
            "throttle key of {} characters",
            account.chars().count()
        )));
    }
    Ok(ThrottleKey {
        step,
        account: account.to_owned(),
        source: lockout::source_key(ip),
    })
}

impl Accounts {
    /// Whether an attempt at `step` for `account_key` from `ip` may go ahead now; otherwise
    /// `RateLimited` with the seconds to wait. `account_key` is what failures are counted
    /// under: `enclave_core::lockout::account_key(login)` for a password, the account's id for
    /// a second factor (at most `MAX_ACCOUNT_KEY` characters).
    pub async fn throttle_check(&self, step: Step, account_key: &str, ip: IpAddr) -> Result<()> {
        let key = key(step, account_key, ip)?;
        let policy = &self.config.lockout;
        let now = Millis::now();
        let counts = self
            .throttles
            .throttle_counts(&key, policy.failures_since(now), now)
            .await?;
        lockout::check(policy, &counts, now).map_err(|wait| {
            tracing::info!(
                step = step.as_str(),
                account = %key.account,
                source = %key.source,
                scope = wait.scope.as_str(),
                retry_after_secs = wait.retry_after_secs(now),
                "sign-in attempt delayed"
            );
            Error::Domain(wait.error(now))
        })
    }

    /// Counts a failed attempt (a wrong credential, an unknown or deactivated account).
    pub async fn throttle_fail(&self, step: Step, account_key: &str, ip: IpAddr) -> Result<()> {
        let key = key(step, account_key, ip)?;
        let policy = &self.config.lockout;
        let now = Millis::now();
        self.throttles
            .throttle_fail(
                &key,
                now,
                policy.failures_since(now),
                policy.failure_expires(now),
            )
            .await?;
        Ok(())
    }

    /// Records a success: the pair's failures are cleared and the source becomes known to
    /// the account (the account's and the source's totals keep the other pairs' failures).
    pub async fn throttle_ok(&self, step: Step, account_key: &str, ip: IpAddr) -> Result<()> {
        let key = key(step, account_key, ip)?;
        let known_until = self.config.lockout.known_until(Millis::now());
        self.throttles.throttle_ok(&key, known_until).await?;
        Ok(())
    }

    /// Runs one attempt under the throttle: waits for other attempts on the same key on this
    /// node, checks the throttle, runs `attempt`, and counts its outcome: `Ok(None)` (the
    /// credential did not prove the account) is a failure and becomes `Unauthenticated`; an
    /// error (malformed input, a database failure) counts as nothing.
    pub(super) async fn throttled<T>(
        &self,
        step: Step,
        account_key: &str,
        ip: IpAddr,
        attempt: impl Future<Output = Result<Option<T>>>,
    ) -> Result<T> {
        let _one_at_a_time = self
            .attempts
            .lock(format!("{}\u{0}{account_key}", step.as_str()))
            .await;
        self.throttle_check(step, account_key, ip).await?;
        match attempt.await {
            Ok(Some(v)) => {
                self.throttle_ok(step, account_key, ip).await?;
                Ok(v)
            }
            Ok(None) => {
                self.throttle_fail(step, account_key, ip).await?;
                tracing::info!(%ip, step = step.as_str(), account = %account_key, "sign-in failed");
                Err(Error::Domain(DomainError::Unauthenticated))
            }
            Err(e) => Err(e),
        }
    }

    /// The throttled pairs (failures within the policy's memory), newest failure first: of
    /// one account key, or of all. At most `limit` (1 to `lockout::MAX_LIST`).
    pub async fn lockouts(
        &self,
        actor: &Actor,
        account: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Lockout>> {
        lockout::check_manage(actor)?;
        let account = account.map(account_param).transpose()?;
        let policy = &self.config.lockout;
        let now = Millis::now();
        let since = policy.failures_since(now);
        let entries = self
            .throttles
            .throttle_entries(account.as_deref(), since, limit.clamp(1, lockout::MAX_LIST))
            .await?;
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            let counts = self.throttles.throttle_counts(&e.key, since, now).await?;
            out.push(Lockout {
                delayed_until: lockout::check(policy, &counts, now)
                    .err()
                    .map(|w| (w.until, w.scope)),
                step: e.key.step,
                account: e.key.account,
                source: e.key.source,
                failures: e.failures,
                last_failure_at: e.last_failure_at,
                known: e.known,
            });
        }
        Ok(out)
    }

    /// Clears the failures of an account key at every step, from one source or from all
    /// (known sources stay known). Returns how many pairs had failures.
    pub async fn clear_lockouts(
        &self,
        actor: &Actor,
        account: &str,
        source: Option<&str>,
    ) -> Result<u64> {
        lockout::check_manage(actor)?;
        let account = account_param(account)?;
        if let Some(s) = source
            && !lockout::is_source_key(s)
        {
            return Err(Error::Domain(DomainError::invalid(
                "source",
                "must be an IPv4 address or an IPv6 /64 network such as 2001:db8:1:2::/64",
            )));
        }
        let n = self.throttles.clear_throttles(&account, source).await?;
        tracing::info!(
            actor = %actor.user_id,
            account = %account,
            source = source.unwrap_or("*"),
            cleared = n,
            "sign-in throttle cleared"
        );
        Ok(n)
    }
}

/// An account key given by an administrator: normalized like a login.
fn account_param(s: &str) -> Result<String> {
    lockout::account_key(s).ok_or(Error::Domain(DomainError::invalid(
        "account",
        "must be 1 to 254 characters without control characters",
    )))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn key_locks_serialise_one_key_and_forget_it_when_done() {
        let locks = Arc::new(KeyLocks::default());
        let a = locks.lock("a".into()).await;
        let b = locks.lock("b".into()).await;
        assert_eq!(locks.len(), 2);
        let waiting = {
            let locks = locks.clone();
            tokio::spawn(async move {
                let _a = locks.lock("a".into()).await;
            })
        };
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(a);
        waiting.await.unwrap();
        drop(b);
        assert_eq!(locks.len(), 0);
    }
}
