//! The token bucket behind per-user rate limits, as pure arithmetic: a [`Rate`] (tokens added
//! per second, and how many a bucket holds), a bucket's [`BucketState`], and a time `now` give
//! either leave to act or how long to wait. Times are durations since any fixed origin the
//! caller chooses, so the rule is tested with explicit times and holds no clock.
//!
//! The state is one number, the time at which the bucket will be full again (the "theoretical
//! arrival time" of the generic cell rate algorithm): taking a token pushes it one interval
//! (`1 / per_sec`) later, and a take is refused when that would put it more than `burst`
//! intervals ahead of now. A state at or before `now` is a full bucket, the same as no state,
//! so a caller may forget it.

use std::time::Duration;

/// How fast a bucket refills and how much it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Tokens added per second; 0 turns the limit off.
    pub per_sec: u32,
    /// Tokens a full bucket holds: the most actions allowed at once. Treated as at least 1.
    pub burst: u32,
}

/// A bucket: the time at which it will be full again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BucketState {
    full_at: Duration,
}

impl BucketState {
    /// The bucket is full at `now`: keeping the state makes no difference.
    pub fn is_full(&self, now: Duration) -> bool {
        self.full_at <= now
    }

    /// When the bucket will be full again, from the same origin as `now`.
    pub fn full_at(&self) -> Duration {
        self.full_at
    }
}

impl Rate {
    /// No limit.
    pub const OFF: Rate = Rate {
        per_sec: 0,
        burst: 0,
    };

    pub const fn new(per_sec: u32, burst: u32) -> Rate {
        Rate { per_sec, burst }
    }

    /// Whether the limit applies at all.
    pub const fn is_off(&self) -> bool {
        self.per_sec == 0
    }

    /// Time to refill one token.
    fn interval(&self) -> Duration {
        Duration::from_nanos(1_000_000_000 / u64::from(self.per_sec.max(1)))
    }

    /// Takes one token at `now`: `Ok` and the state advanced, or `Err(wait)`, the time until a
    /// token will be there (the state unchanged).
    pub fn take(&self, state: &mut BucketState, now: Duration) -> Result<(), Duration> {
        if self.is_off() {
            return Ok(());
        }
        let interval = self.interval();
        let capacity = interval * self.burst.max(1);
        let next = state.full_at.max(now) + interval;
        let ahead = next - now;
        if ahead > capacity {
            return Err(ahead - capacity);
        }
        state.full_at = next;
        Ok(())
    }

    /// Gives back a token taken in vain (an idempotent retry that changed nothing). The bucket
    /// never holds more than full.
    pub fn give_back(&self, state: &mut BucketState) {
        if self.is_off() {
            return;
        }
        state.full_at = state.full_at.saturating_sub(self.interval());
    }
}

/// Whole seconds to tell a client to wait (`Retry-After`): `wait` rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A take at a time in ms, and its expected outcome: `Ok`, or the wait in ms.
    type Step = (u64, Result<(), u64>);

    /// One bucket through a sequence of takes.
    fn run(rate: Rate, steps: &[Step]) {
        let mut state = BucketState::default();
        for (i, &(at, want)) in steps.iter().enumerate() {
            let got = rate
                .take(&mut state, ms(at))
                .map_err(|w| w.as_millis() as u64);
            assert_eq!(got, want, "{rate:?}, step {i} at {at} ms");
        }
    }

    #[test]
    fn a_full_bucket_allows_its_burst_then_one_per_interval() {
        let cases: &[(Rate, &[Step])] = &[
            // 10/s, burst 3: three at once, the fourth waits one interval (100 ms).
            (
                Rate::new(10, 3),
                &[
                    (0, Ok(())),
                    (0, Ok(())),
                    (0, Ok(())),
                    (0, Err(100)),
                    (40, Err(60)),
                    (100, Ok(())),
                    (100, Err(100)),
                    (150, Err(50)),
                    (200, Ok(())),
                ],
            ),
            // 1/s, burst 2: after a long pause the bucket holds only its burst, not more.
            (
                Rate::new(1, 2),
                &[
                    (0, Ok(())),
                    (0, Ok(())),
                    (0, Err(1000)),
                    (60_000, Ok(())),
                    (60_000, Ok(())),
                    (60_000, Err(1000)),
                    (60_500, Err(500)),
                    (61_000, Ok(())),
                ],
            ),
            // Burst 0 counts as 1: one at a time, one per interval.
            (
                Rate::new(2, 0),
                &[(0, Ok(())), (0, Err(500)), (499, Err(1)), (500, Ok(()))],
            ),
            // Steady use at exactly the rate is never refused.
            (
                Rate::new(4, 1),
                &[(0, Ok(())), (250, Ok(())), (500, Ok(())), (750, Ok(()))],
            ),
            // Off: everything passes.
            (
                Rate::OFF,
                &[(0, Ok(())), (0, Ok(())), (0, Ok(())), (0, Ok(()))],
            ),
        ];
        for (rate, steps) in cases {
            run(*rate, steps);
        }
    }

    #[test]
    fn a_refused_take_costs_nothing_and_given_back_tokens_return() {
        let rate = Rate::new(10, 2);
        let mut state = BucketState::default();
        assert!(rate.take(&mut state, ms(0)).is_ok());
        assert!(rate.take(&mut state, ms(0)).is_ok());
        for _ in 0..100 {
            assert_eq!(rate.take(&mut state, ms(0)), Err(ms(100)));
        }
        rate.give_back(&mut state);
        assert!(rate.take(&mut state, ms(0)).is_ok(), "the returned token");
        assert!(rate.take(&mut state, ms(0)).is_err());
        // Giving back to a full bucket does not overfill it.
        let mut full = BucketState::default();
        rate.give_back(&mut full);
        rate.give_back(&mut full);
        assert!(rate.take(&mut full, ms(1000)).is_ok());
        assert!(rate.take(&mut full, ms(1000)).is_ok());
        assert!(rate.take(&mut full, ms(1000)).is_err());
    }

    #[test]
    fn a_bucket_is_full_once_its_time_has_passed() {
        let rate = Rate::new(10, 3);
        let mut state = BucketState::default();
        assert!(state.is_full(ms(0)));
        rate.take(&mut state, ms(0)).ok();
        rate.take(&mut state, ms(0)).ok();
        assert_eq!(state.full_at(), ms(200));
        assert!(!state.is_full(ms(199)));
        assert!(state.is_full(ms(200)));
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let cases = [
            (ms(0), 1),
            (ms(1), 1),
            (ms(999), 1),
            (ms(1000), 1),
            (ms(1001), 2),
            (ms(2500), 3),
            (Duration::from_secs(60), 60),
        ];
        for (wait, secs) in cases {
            assert_eq!(retry_after_secs(wait), secs, "{wait:?}");
        }
    }
}
