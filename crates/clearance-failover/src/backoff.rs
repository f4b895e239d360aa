//! How long to wait before the next same-model retry: full-jitter exponential backoff.
//!
//! The ceiling doubles with each retry (`base`, `2 × base`, `4 × base`, …, at most `max`) and
//! the wait is a uniformly random point below it ("full jitter", from AWS's "Exponential
//! Backoff and Jitter"): retries from many requests spread out instead of arriving in waves.
//! The randomness is the caller's (`unit_random` in `[0, 1)`), so the function is pure.
//! Moving to a fallback model does not wait: only same-model retries back off.

use std::time::Duration;

/// The wait before retry number `retry` (0 for the first retry). Always within `[0, max]`;
/// saturates instead of overflowing for any `retry`; a `unit_random` outside `[0, 1]` (or
/// NaN) is clamped.
pub fn backoff(retry: u32, base: Duration, max: Duration, unit_random: f64) -> Duration {
    let ceiling = 1u32
        .checked_shl(retry)
        .and_then(|factor| base.checked_mul(factor))
        .map_or(max, |d| d.min(max));
    let unit = if unit_random.is_nan() {
        0.0
    } else {
        unit_random.clamp(0.0, 1.0)
    };
    let ceiling_nanos = ceiling.as_nanos();
    // `as` saturates, and the product is at most `ceiling_nanos`; `min` guards rounding.
    let nanos = ((ceiling_nanos as f64 * unit) as u128).min(ceiling_nanos);
    let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
    Duration::new(secs, (nanos % 1_000_000_000) as u32).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(2);

    #[test]
    fn the_ceiling_doubles_per_retry() {
        assert_eq!(backoff(0, BASE, MAX, 1.0), Duration::from_millis(100));
        assert_eq!(backoff(1, BASE, MAX, 1.0), Duration::from_millis(200));
        assert_eq!(backoff(3, BASE, MAX, 1.0), Duration::from_millis(800));
        assert_eq!(backoff(3, BASE, MAX, 0.5), Duration::from_millis(400));
    }

    #[test]
    fn the_wait_never_exceeds_max() {
        assert_eq!(backoff(5, BASE, MAX, 1.0), MAX);
        let nearly = backoff(u32::MAX, BASE, MAX, 0.999);
        assert!(
            nearly <= MAX && nearly >= Duration::from_millis(1_997),
            "{nearly:?}"
        );
    }

    #[test]
    fn zero_random_waits_nothing() {
        assert_eq!(backoff(4, BASE, MAX, 0.0), Duration::ZERO);
    }

    #[test]
    fn out_of_range_randomness_is_clamped() {
        assert_eq!(backoff(0, BASE, MAX, f64::NAN), Duration::ZERO);
        assert_eq!(backoff(0, BASE, MAX, -3.0), Duration::ZERO);
        assert_eq!(backoff(0, BASE, MAX, 7.0), BASE);
    }

    #[test]
    fn extreme_durations_do_not_panic() {
        assert_eq!(
            backoff(u32::MAX, Duration::MAX, Duration::MAX, 1.0),
            Duration::MAX
        );
        assert!(backoff(63, Duration::MAX, Duration::MAX, 0.5) <= Duration::MAX);
        assert_eq!(backoff(2, BASE, Duration::ZERO, 0.7), Duration::ZERO);
    }
}
