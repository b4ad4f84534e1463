//! The restart policy of a managed server: a pure state machine over
//! instants, so limit, window and backoff are tested without waiting.

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

/// First pause before a restart; doubles with every restart still inside
/// the window, up to [`BACKOFF_MAX`]. Fixed rather than configurable: a
/// crash loop is bounded by `restart_max` anyway, and the pauses only keep
/// it from spinning.
pub(crate) const BACKOFF_INITIAL: Duration = Duration::from_millis(100);
/// Longest pause before a restart.
pub(crate) const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// What to do after the server died (or a restart failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Start it again after this pause.
    RestartAfter(Duration),
    /// `restart_max` restarts already happened within the window: stop
    /// trying.
    GiveUp,
}

/// Counts restarts within a sliding window.
#[derive(Debug, Clone)]
pub(crate) struct RestartPolicy {
    max: u32,
    window: Duration,
    /// When each restart within the window was decided, oldest first.
    recent: VecDeque<Instant>,
}

impl RestartPolicy {
    pub(crate) fn new(max: u32, window: Duration) -> Self {
        Self {
            max,
            window,
            recent: VecDeque::new(),
        }
    }

    /// The server died at `now`: restart (after a pause growing with the
    /// restarts still inside the window) or give up.
    pub(crate) fn on_exit(&mut self, now: Instant) -> Decision {
        while let Some(&oldest) = self.recent.front() {
            if now.saturating_duration_since(oldest) >= self.window {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        let within = u32::try_from(self.recent.len()).unwrap_or(u32::MAX);
        if within >= self.max {
            return Decision::GiveUp;
        }
        self.recent.push_back(now);
        let factor = 1u32.checked_shl(within).unwrap_or(u32::MAX);
        Decision::RestartAfter(BACKOFF_INITIAL.saturating_mul(factor).min(BACKOFF_MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_the_limit_gives_up() {
        let t0 = Instant::now();
        let mut p = RestartPolicy::new(8, ms(600_000));
        let pauses: Vec<Decision> = (0..9).map(|i| p.on_exit(t0 + ms(i))).collect();
        let expected: Vec<Decision> = [100, 200, 400, 800, 1_600, 3_200, 5_000, 5_000]
            .into_iter()
            .map(|n| Decision::RestartAfter(ms(n)))
            .chain([Decision::GiveUp])
            .collect();
        assert_eq!(pauses, expected);
        // Giving up is not a restart: still given up a moment later.
        assert_eq!(p.on_exit(t0 + ms(100)), Decision::GiveUp);
    }

    #[test]
    fn restarts_older_than_the_window_no_longer_count() {
        let t0 = Instant::now();
        let mut p = RestartPolicy::new(2, ms(1_000));
        assert_eq!(p.on_exit(t0), Decision::RestartAfter(ms(100)));
        assert_eq!(p.on_exit(t0 + ms(500)), Decision::RestartAfter(ms(200)));
        assert_eq!(p.on_exit(t0 + ms(900)), Decision::GiveUp);
        // The first restart leaves the window at t0 + 1000: one slot again,
        // and the pause reflects the one restart still inside.
        assert_eq!(p.on_exit(t0 + ms(1_000)), Decision::RestartAfter(ms(200)));
        assert_eq!(p.on_exit(t0 + ms(1_100)), Decision::GiveUp);
        // A long quiet spell: back to the first pause.
        assert_eq!(p.on_exit(t0 + ms(10_000)), Decision::RestartAfter(ms(100)));
    }

    #[test]
    fn zero_restarts_means_never() {
        let mut p = RestartPolicy::new(0, ms(1_000));
        assert_eq!(p.on_exit(Instant::now()), Decision::GiveUp);
    }

    #[test]
    fn a_huge_limit_does_not_overflow_the_backoff() {
        let t0 = Instant::now();
        let mut p = RestartPolicy::new(u32::MAX, ms(u64::MAX / 4));
        let last = (0..100).map(|i| p.on_exit(t0 + ms(i))).last();
        assert_eq!(last, Some(Decision::RestartAfter(BACKOFF_MAX)));
    }
}
