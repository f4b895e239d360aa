//! Properties of the breaker, the retry budget and the backoff over arbitrary sequences of
//! events and arbitrary policies.

use std::time::{Duration, Instant};

use clearance_failover::{
    Admission, Breaker, BreakerPolicy, BreakerState, BudgetPolicy, RetryBudget, backoff,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Advance(u64),
    Admit,
    /// Record the outcome of the pending admission at this index (modulo their number).
    Record(usize, bool),
    Release(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0u64..15_000).prop_map(Op::Advance),
        4 => Just(Op::Admit),
        4 => (any::<usize>(), any::<bool>()).prop_map(|(i, s)| Op::Record(i, s)),
        1 => any::<usize>().prop_map(Op::Release),
    ]
}

fn policy() -> impl Strategy<Value = BreakerPolicy> {
    (
        0u32..7,
        0.0f64..1.0,
        1u64..40_000,
        0u32..30,
        0u64..20_000,
        0u32..4,
    )
        .prop_map(
            |(consecutive_failures, error_rate, window, min_requests, open_for, probes)| {
                BreakerPolicy {
                    consecutive_failures,
                    error_rate,
                    window: Duration::from_millis(window),
                    min_requests,
                    open_for: Duration::from_millis(open_for),
                    half_open_probes: probes,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Open rejects everything until `open_for` has passed; probes never exceed the limit;
    /// only a successful probe closes the breaker.
    #[test]
    fn breaker_invariants(policy in policy(), ops in proptest::collection::vec(op(), 0..300)) {
        let t0 = Instant::now();
        let mut now = t0;
        let mut breaker = Breaker::new(policy.clone(), t0);
        let max_probes = policy.half_open_probes.max(1);
        let mut pending: Vec<Admission> = Vec::new();
        for op in ops {
            let before = breaker.state();
            match op {
                Op::Advance(ms) => now += Duration::from_millis(ms),
                Op::Admit => {
                    let admission = breaker.admit(now);
                    match before {
                        BreakerState::Open { since } if now.duration_since(since) < policy.open_for => {
                            prop_assert!(
                                matches!(admission, Admission::Rejected { .. }),
                                "open for {:?} of {:?}, admitted {:?}",
                                now.duration_since(since), policy.open_for, admission
                            );
                        }
                        BreakerState::Closed => prop_assert_eq!(admission, Admission::Closed),
                        _ => prop_assert_ne!(admission, Admission::Closed),
                    }
                    if let Admission::Rejected { retry_in } = admission {
                        prop_assert!(retry_in <= policy.open_for);
                    } else {
                        pending.push(admission);
                    }
                }
                Op::Record(i, success) if !pending.is_empty() => {
                    let admission = pending.swap_remove(i % pending.len());
                    breaker.record(now, admission, success);
                    if before != BreakerState::Closed && breaker.state() == BreakerState::Closed {
                        prop_assert!(
                            admission == Admission::Probe && success,
                            "closed by {:?} success={}", admission, success
                        );
                    }
                }
                Op::Release(i) if !pending.is_empty() => {
                    let admission = pending.swap_remove(i % pending.len());
                    breaker.release(admission);
                    prop_assert_eq!(breaker.state(), before, "a release changes no state");
                }
                Op::Record(..) | Op::Release(_) => {}
            }
            if before != BreakerState::Closed && breaker.state() == BreakerState::Closed {
                prop_assert!(matches!(op, Op::Record(_, true)), "closed by {:?}", op);
            }
            let probes = pending.iter().filter(|a| **a == Admission::Probe).count() as u32;
            prop_assert_eq!(probes, breaker.probes_in_flight());
            prop_assert!(probes <= max_probes, "{} probes in flight, limit {}", probes, max_probes);
        }
    }

    /// Retries never exceed ratio × requests + cap, whatever the order of events.
    #[test]
    fn budget_bounds_retries(
        ratio_milli in 0u64..3_000,
        cap in 0u32..20,
        events in proptest::collection::vec(any::<bool>(), 0..500),
    ) {
        let budget = RetryBudget::new(BudgetPolicy { ratio: ratio_milli as f64 / 1000.0, cap });
        let (mut requests, mut retries) = (0u64, 0u64);
        for is_request in events {
            if is_request {
                budget.deposit();
                requests += 1;
            } else if budget.try_spend() {
                retries += 1;
            }
            prop_assert!(
                retries * 1000 <= ratio_milli * requests + u64::from(cap) * 1000,
                "{} retries for {} requests", retries, requests
            );
        }
    }

    /// The wait is within [0, max] for any input, and the ceiling never exceeds base × 2^retry.
    #[test]
    fn backoff_is_bounded(
        retry in any::<u32>(),
        base_secs in any::<u64>(),
        base_nanos in 0u32..1_000_000_000,
        max_secs in any::<u64>(),
        max_nanos in 0u32..1_000_000_000,
        unit in any::<f64>(),
    ) {
        let base = Duration::new(base_secs, base_nanos);
        let max = Duration::new(max_secs, max_nanos);
        let wait = backoff(retry, base, max, unit);
        prop_assert!(wait <= max);
        if let Some(ceiling) = 1u32.checked_shl(retry).and_then(|f| base.checked_mul(f)) {
            prop_assert!(wait <= ceiling);
        }
    }
}

#[test]
fn budget_holds_its_bound_across_threads() {
    let budget = RetryBudget::new(BudgetPolicy::default());
    let spent: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    let mut spent = 0u64;
                    for _ in 0..1_000 {
                        budget.deposit();
                        spent += u64::from(budget.try_spend());
                        spent += u64::from(budget.try_spend());
                    }
                    spent
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or(u64::MAX))
            .sum()
    });
    // At most 4 000 requests × 0.2 + 10; a little less when early deposits hit the full
    // bucket, but every token deposited below the cap is spent.
    assert!((795..=810).contains(&spent), "{spent} retries");
}
