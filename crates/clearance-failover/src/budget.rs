//! A retry budget per route, so retries cannot multiply the load on a struggling model.
//!
//! A token bucket: every client request on the route [`deposit`](RetryBudget::deposit)s
//! `ratio` tokens (default 0.2), up to `cap` (default 10); every same-model retry
//! [`try_spend`](RetryBudget::try_spend)s one, and is skipped when there is none. Over any
//! stretch, retries ≤ `ratio` × requests + `cap`: at most one retry per five requests in
//! steady state, plus a burst of ten. The bucket starts full.
//!
//! **What spends budget: same-model retries only.** The first attempt on each model of the
//! route, primary or fallback, is free ([`Candidate::is_retry`] is false for it). Moving to a
//! fallback sends load to a *different* model, which is the point of failover: when the
//! primary goes dark, every request must still reach the fallback, whatever the primary's
//! failures have drained. The fallback's own breaker protects it from overload, not this
//! budget.
//!
//! Lock-free: the balance is one `AtomicU64` in thousandths of a token.
//!
//! [`Candidate::is_retry`]: crate::plan::Candidate::is_retry

use std::sync::atomic::{AtomicU64, Ordering};

/// How generous a route's retry budget is.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetPolicy {
    /// Tokens each request deposits (retries allowed per request in steady state). Negative or
    /// NaN is taken as 0; precision is a thousandth.
    pub ratio: f64,
    /// The most tokens the bucket holds (the largest burst of retries).
    pub cap: u32,
}

impl Default for BudgetPolicy {
    fn default() -> Self {
        BudgetPolicy {
            ratio: 0.2,
            cap: 10,
        }
    }
}

/// Thousandths of a token.
const UNIT: u64 = 1_000;

/// One route's retry budget. Share it (`Arc`) between the route's requests.
#[derive(Debug)]
pub struct RetryBudget {
    /// Balance, in thousandths of a token.
    milli_tokens: AtomicU64,
    deposit: u64,
    cap: u64,
}

impl RetryBudget {
    /// A full bucket.
    pub fn new(policy: BudgetPolicy) -> RetryBudget {
        let deposit = if policy.ratio.is_finite() && policy.ratio > 0.0 {
            // `as` saturates; a ratio above the cap is as good as the cap anyway.
            (policy.ratio * UNIT as f64).round() as u64
        } else {
            0
        };
        let cap = u64::from(policy.cap) * UNIT;
        RetryBudget {
            milli_tokens: AtomicU64::new(cap),
            deposit: deposit.min(cap),
            cap,
        }
    }

    /// A client request arrived on the route: add `ratio` tokens, up to the cap.
    pub fn deposit(&self) {
        let _ = self
            .milli_tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                Some(t.saturating_add(self.deposit).min(self.cap))
            });
    }

    /// Takes one token for a same-model retry; false (and nothing taken) when there is none.
    pub fn try_spend(&self) -> bool {
        self.milli_tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| t.checked_sub(UNIT))
            .is_ok()
    }

    /// Tokens left (for metrics).
    pub fn available(&self) -> f64 {
        self.milli_tokens.load(Ordering::Acquire) as f64 / UNIT as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_full_and_runs_dry_after_cap_retries() {
        let budget = RetryBudget::new(BudgetPolicy::default());
        for _ in 0..10 {
            assert!(budget.try_spend());
        }
        assert!(!budget.try_spend());
    }

    #[test]
    fn five_requests_buy_one_retry() {
        let budget = RetryBudget::new(BudgetPolicy::default());
        while budget.try_spend() {}
        for _ in 0..4 {
            budget.deposit();
        }
        assert!(!budget.try_spend(), "0.8 tokens");
        budget.deposit();
        assert!(budget.try_spend(), "1.0 token");
        assert!(!budget.try_spend());
    }

    #[test]
    fn deposits_stop_at_the_cap() {
        let budget = RetryBudget::new(BudgetPolicy { ratio: 1.0, cap: 3 });
        for _ in 0..100 {
            budget.deposit();
        }
        assert_eq!(budget.available(), 3.0);
    }

    #[test]
    fn a_zero_cap_allows_no_retries() {
        let budget = RetryBudget::new(BudgetPolicy { ratio: 5.0, cap: 0 });
        budget.deposit();
        assert!(!budget.try_spend());
    }

    #[test]
    fn nonsense_ratios_deposit_nothing() {
        for ratio in [f64::NAN, -1.0, f64::NEG_INFINITY] {
            let budget = RetryBudget::new(BudgetPolicy { ratio, cap: 1 });
            assert!(budget.try_spend());
            budget.deposit();
            assert!(!budget.try_spend(), "{ratio}");
        }
        let generous = RetryBudget::new(BudgetPolicy {
            ratio: f64::INFINITY,
            cap: 2,
        });
        assert_eq!(generous.available(), 2.0);
    }
}
