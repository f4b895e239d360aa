//! Decision time with a realistic directive set: 50 directives over 200 models, 100 000
//! principals drawn at random per iteration. Target: p99 ≤ 20 µs per decision.

#![allow(clippy::unwrap_used)]

mod common;

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::Utc;
use clearance_policy::{Catalog, CatalogModel, PolicyBook, Query, SourceFile};
use common::{COUNTRIES, principals};
use criterion::{Criterion, criterion_group, criterion_main};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const MODELS: usize = 20;

fn catalog() -> Catalog {
    Catalog {
        models: (0..MODELS)
            .map(|i| CatalogModel {
                name: format!("model-{i}"),
                provider: "p".into(),
                tags: vec![
                    format!("family-{}", i % 5),
                    if i % 2 == 0 {
                        "controlled".into()
                    } else {
                        "open".into()
                    },
                ],
            })
            .collect(),
    }
}

/// 50 directives of the shapes compliance officers write: nationality, US-person wording,
/// location, capability-only, reroutes, shadow.
fn directives() -> Vec<SourceFile> {
    (0..50)
        .map(|i| {
            let scope = match i % 3 {
                0 => format!("models = [\"model-{}\", \"model-{}\"]", i % MODELS, (i + 7) % MODELS),
                1 => format!("tags = [\"family-{}\"]", i % 5),
                _ => "tags = [\"controlled\"]".to_string(),
            };
            let when = match i % 5 {
                0 => "!principal.us_person".to_string(),
                1 => format!("principal.citizenships.containsAny([\"{}\", \"{}\"])", COUNTRIES[i % 12], COUNTRIES[(i + 3) % 12]),
                2 => format!("context.country == \"{}\" && !principal.us_citizen", COUNTRIES[i % 12]),
                3 => "!principal.employee || principal.missing_facts.contains(\"citizenships\")".to_string(),
                _ => format!("principal.residence == \"{}\"", COUNTRIES[(i + 1) % 12]),
            };
            let mode = if i % 4 == 0 { "shadow" } else { "enforce" };
            let capabilities = if i % 7 == 0 { "capabilities = [\"tools\"]\n" } else { "" };
            let text = format!(
                "id = \"D-{i:03}\"\ntitle = \"Directive {i}\"\nauthority = \"Order {i}\"\neffective = \"2026-01-01T00:00:00Z\"\nexpires = \"2030-01-01T00:00:00Z\"\nmode = \"{mode}\"\n{scope}\n{capabilities}when = '{when}'\neffect = \"deny\"\n"
            );
            SourceFile { path: PathBuf::from(format!("d{i}.toml")), text }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let book = PolicyBook::compile(&directives(), &catalog()).unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    let people = principals(100_000, &mut rng);
    let now = Utc::now();
    let decide = |i: usize, model: usize| {
        let (id, facts) = &people[i];
        let model = format!("model-{model}");
        book.decide(&Query {
            principal_id: id,
            facts,
            model: &model,
            at: now,
        })
    };
    c.bench_function(
        "decide: 50 directives, 100k principals, random model",
        |b| {
            let mut rng = StdRng::seed_from_u64(1);
            b.iter(|| {
                let i = rng.random_range(0..people.len());
                black_box(decide(i, rng.random_range(0..MODELS)))
            })
        },
    );
    percentiles(&decide);
}

/// Criterion reports means; the target is a p99, so time single decisions too.
fn percentiles(decide: &dyn Fn(usize, usize) -> clearance_policy::Decision) {
    let mut rng = StdRng::seed_from_u64(2);
    let mut samples: Vec<Duration> = (0..200_000)
        .map(|_| {
            let (i, m) = (rng.random_range(0..100_000), rng.random_range(0..MODELS));
            let start = Instant::now();
            black_box(decide(i, m));
            start.elapsed()
        })
        .collect();
    samples.sort();
    let pick = |q: f64| samples[((samples.len() as f64) * q) as usize - 1];
    println!(
        "decide single-call percentiles over {} decisions: p50 {:?}  p90 {:?}  p99 {:?}  p99.9 {:?}  (target p99 <= 20us)",
        samples.len(),
        pick(0.50),
        pick(0.90),
        pick(0.99),
        pick(0.999)
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
