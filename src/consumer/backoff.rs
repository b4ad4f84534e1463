//! Exponential backoff with jitter.

use std::time::Duration;

use crate::RetryConfig;

/// The delay before retry number `retry` (1 = after the first failure).
///
/// `initial * multiplier^(retry-1)`, capped at `max`, with a fraction `jitter`
/// of it replaced by a uniform random share; `unit` is a uniform sample in
/// `[0, 1)` (a parameter so tests are deterministic).
pub(crate) fn delay(config: &RetryConfig, retry: u32, unit: f64) -> Duration {
    let exponent = retry.saturating_sub(1).min(64) as i32;
    let base = (config.initial_backoff_ms as f64 * config.multiplier.powi(exponent))
        .min(config.max_backoff_ms as f64);
    let jittered = base * (1.0 - config.jitter) + base * config.jitter * unit.clamp(0.0, 1.0);
    Duration::from_micros((jittered * 1000.0) as u64)
}

/// [`delay`] with a random sample.
pub(crate) fn random_delay(config: &RetryConfig, retry: u32) -> Duration {
    delay(config, retry, rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(jitter: f64) -> RetryConfig {
        RetryConfig {
            max_attempts: 10,
            initial_backoff_ms: 100,
            max_backoff_ms: 1_000,
            multiplier: 2.0,
            jitter,
        }
    }

    #[test]
    fn grows_exponentially_up_to_the_cap() {
        let c = config(0.0);
        let ms: Vec<u128> = (1..=6).map(|r| delay(&c, r, 0.5).as_millis()).collect();
        assert_eq!(ms, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(delay(&c, u32::MAX, 0.5).as_millis(), 1000);
    }

    #[test]
    fn jitter_stays_within_its_fraction() {
        let c = config(0.2);
        assert_eq!(delay(&c, 1, 0.0).as_millis(), 80);
        assert_eq!(delay(&c, 1, 1.0).as_millis(), 100);
        for _ in 0..100 {
            let d = random_delay(&c, 2).as_millis();
            assert!((160..=200).contains(&d), "{d}");
        }
    }
}
