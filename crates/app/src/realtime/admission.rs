//! How many real-time connections one user and one client address may hold open on this node.
//!
//! A door asks [`Hub::admit`] before it accepts a connection (the WebSocket gateway before the
//! upgrade, so a refusal is a plain 429) and keeps the returned [`Admission`] for the
//! connection's life; dropping it gives the place back. Counting admissions rather than
//! registered sessions makes the check race-free: connections still completing their
//! handshake count too, so a burst of upgrades cannot slip past the limit together.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Arc;

use enclave_core::{Error as DomainError, UserId};
use parking_lot::Mutex;

use super::Hub;
use crate::error::{Error, Result};

/// The `Retry-After` of a refused connection: a place frees up when another connection of the
/// same user or address closes, which the server cannot predict.
const RETRY_AFTER_SECS: u64 = 10;

/// Open connections per user and per client address.
#[derive(Default)]
pub(super) struct Admissions {
    counts: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    by_user: HashMap<UserId, u32>,
    by_ip: HashMap<IpAddr, u32>,
}

/// One admitted connection; dropping it frees its place.
pub struct Admission {
    hub: Arc<Hub>,
    user_id: UserId,
    ip: IpAddr,
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut counts = self.hub.admissions.counts.lock();
        release(&mut counts.by_user, self.user_id);
        release(&mut counts.by_ip, self.ip);
    }
}

fn release<K: Eq + Hash>(map: &mut HashMap<K, u32>, key: K) {
    if let Some(n) = map.get_mut(&key) {
        *n -= 1;
        if *n == 0 {
            map.remove(&key);
        }
    }
}

/// Whether one more connection fits under `max` (0: no limit).
fn fits<K: Eq + Hash>(map: &HashMap<K, u32>, key: &K, max: u32) -> bool {
    max == 0 || map.get(key).copied().unwrap_or(0) < max
}

impl Hub {
    /// Admits one more real-time connection of `user_id` from `ip`, or refuses it with
    /// `RateLimited` when the user or the address already holds as many as the configuration
    /// allows (`max_sockets_per_user`, `max_sockets_per_ip`) on this node.
    pub fn admit(self: &Arc<Self>, user_id: UserId, ip: IpAddr) -> Result<Admission> {
        let mut counts = self.admissions.counts.lock();
        let Counts { by_user, by_ip } = &mut *counts;
        if !fits(by_user, &user_id, self.config.max_sockets_per_user)
            || !fits(by_ip, &ip, self.config.max_sockets_per_ip)
        {
            return Err(Error::Domain(DomainError::RateLimited {
                retry_after_secs: RETRY_AFTER_SECS,
            }));
        }
        *by_user.entry(user_id).or_insert(0) += 1;
        *by_ip.entry(ip).or_insert(0) += 1;
        Ok(Admission {
            hub: self.clone(),
            user_id,
            ip,
        })
    }

    /// Connections of `user_id` admitted and not yet closed on this node.
    pub fn n_admitted(&self, user_id: UserId) -> u32 {
        self.admissions
            .counts
            .lock()
            .by_user
            .get(&user_id)
            .copied()
            .unwrap_or(0)
    }
}
