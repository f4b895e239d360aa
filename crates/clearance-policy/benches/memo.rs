//! The memo path alone: 50 directives all covering one model (a sixth of them also read the
//! model), asked for 256 principals whose answers were all computed before timing, so every
//! directive of every decision is a memo hit and Cedar is never asked.

#![allow(clippy::unwrap_used)]

mod common;

use std::hint::black_box;
use std::path::PathBuf;

use chrono::Utc;
use clearance_core::facts::Facts;
use clearance_policy::{Catalog, CatalogModel, PolicyBook, Query, SourceFile};
use common::{COUNTRIES, principals};
use criterion::{Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn catalog() -> Catalog {
    Catalog {
        models: vec![CatalogModel {
            name: "model-0".into(),
            provider: "p".into(),
            tags: vec!["family-0".into()],
        }],
    }
}

/// The condition shapes of the `decide` bench, every directive on `model-0`.
fn directives() -> Vec<SourceFile> {
    (0..50)
        .map(|i| {
            let when = match i % 5 {
                0 => "!principal.us_person".to_string(),
                1 => format!(
                    "principal.citizenships.containsAny([\"{}\", \"{}\"])",
                    COUNTRIES[i % 12],
                    COUNTRIES[(i + 3) % 12]
                ),
                2 => format!(
                    "context.country == \"{}\" && !principal.us_citizen",
                    COUNTRIES[i % 12]
                ),
                3 => "!principal.employee || principal.missing_facts.contains(\"citizenships\")"
                    .to_string(),
                _ => format!("principal.residence == \"{}\"", COUNTRIES[(i + 1) % 12]),
            };
            let when = if i % 6 == 5 {
                format!("({when}) && resource.provider == \"p\"")
            } else {
                when
            };
            let mode = if i % 4 == 0 { "shadow" } else { "enforce" };
            let text = format!(
                "id = \"D-{i:03}\"\ntitle = \"Directive {i}\"\nauthority = \"Order {i}\"\neffective = \"2026-01-01T00:00:00Z\"\nexpires = \"2030-01-01T00:00:00Z\"\nmode = \"{mode}\"\nmodels = [\"model-0\"]\nwhen = '{when}'\neffect = \"deny\"\n"
            );
            SourceFile {
                path: PathBuf::from(format!("d{i}.toml")),
                text,
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let book = PolicyBook::compile(&directives(), &catalog()).unwrap();
    let people = principals(256, &mut StdRng::seed_from_u64(7));
    let now = Utc::now();
    let decide = |(id, facts): &(String, Facts)| {
        book.decide(&Query {
            principal_id: id,
            facts,
            model: "model-0",
            at: now,
        })
    };
    for person in &people {
        decide(person);
    }
    c.bench_function("memo hits: 50 directives on one model", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % people.len();
            black_box(decide(&people[i]))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
