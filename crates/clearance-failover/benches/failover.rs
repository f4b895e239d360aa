//! What failover adds to every request: a breaker's `admit` + `record` (through the shared
//! `Breakers` set, lock included) and `classify_status` on the common answers.

use std::hint::black_box;
use std::time::{Duration, Instant};

use clearance_failover::{
    BreakerPolicy, Breakers, BudgetPolicy, ProviderSignal, RetryBudget, classify_status,
};
use criterion::{Criterion, criterion_group, criterion_main};

fn breakers(c: &mut Criterion) {
    let t0 = Instant::now();
    let models: Vec<String> = (0..50).map(|i| format!("model-{i}")).collect();
    let set = Breakers::new(BreakerPolicy::default(), models.iter().cloned(), t0);
    let mut tick = 0u64;
    c.bench_function("breakers_admit_record_closed", |b| {
        b.iter(|| {
            tick += 1;
            let now = t0 + Duration::from_micros(tick);
            let admission = set.admit(black_box("model-17"), now);
            set.record("model-17", now, admission, black_box(true));
        })
    });
    let budget = RetryBudget::new(BudgetPolicy::default());
    c.bench_function("budget_deposit_try_spend", |b| {
        b.iter(|| {
            budget.deposit();
            black_box(budget.try_spend())
        })
    });
}

fn classify(c: &mut Criterion) {
    c.bench_function("classify_status_200", |b| {
        b.iter(|| classify_status(black_box(200), black_box(ProviderSignal::Plain)))
    });
    c.bench_function("classify_status_529", |b| {
        b.iter(|| classify_status(black_box(529), black_box(ProviderSignal::Plain)))
    });
    c.bench_function("classify_status_403_provider_block", |b| {
        b.iter(|| classify_status(black_box(403), black_box(ProviderSignal::ProviderBlock)))
    });
}

criterion_group!(benches, breakers, classify);
criterion_main!(benches);
