//! Login throttling: failed attempts counted per account and per client address in a sliding
//! window; past the limit, further attempts are refused until the window has passed.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Entries kept before expired ones are swept.
const SWEEP_AT: usize = 10_000;

/// Counts failures per key within a window.
pub struct FailureCounter<K> {
    max: u32,
    window: Duration,
    entries: Mutex<HashMap<K, (u32, Instant)>>,
}

impl<K: Eq + Hash + Clone> FailureCounter<K> {
    pub fn new(max: u32, window: Duration) -> Self {
        FailureCounter {
            max,
            window,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(retry_after)` when the key has used up its failures in the current window.
    pub fn check(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let entries = self.entries.lock();
        match entries.get(key) {
            Some((n, since)) if *n >= self.max && now.duration_since(*since) < self.window => {
                Err(self.window - now.duration_since(*since))
            }
            _ => Ok(()),
        }
    }

    /// Records one failure.
    pub fn fail(&self, key: &K, now: Instant) {
        let mut entries = self.entries.lock();
        if entries.len() >= SWEEP_AT {
            let window = self.window;
            entries.retain(|_, (_, since)| now.duration_since(*since) < window);
        }
        let e = entries.entry(key.clone()).or_insert((0, now));
        if now.duration_since(e.1) >= self.window {
            *e = (0, now);
        }
        e.0 += 1;
    }

    /// Forgets the key's failures (after a success).
    pub fn reset(&self, key: &K) {
        self.entries.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_max_failures_until_window_passes() {
        let c = FailureCounter::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(c.check(&"bob", t0).is_ok());
            c.fail(&"bob", t0);
        }
        let wait = c
            .check(&"bob", t0 + Duration::from_secs(10))
            .expect_err("locked");
        assert_eq!(wait, Duration::from_secs(50));
        assert!(c.check(&"alice", t0).is_ok(), "other keys are unaffected");
        assert!(c.check(&"bob", t0 + Duration::from_secs(61)).is_ok());
        c.fail(&"bob", t0 + Duration::from_secs(61));
        assert!(
            c.check(&"bob", t0 + Duration::from_secs(62)).is_ok(),
            "a new window starts fresh"
        );
        c.reset(&"bob");
        assert!(c.check(&"bob", t0).is_ok());
    }
}
