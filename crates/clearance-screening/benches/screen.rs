//! Screening one name against the full real SDN list (8,976 entries, 20,886 names with aliases):
//! `cargo bench -p clearance-screening --bench screen`. Criterion reports the median (and mean);
//! the p50/p99 over 100,000 varied names come from `examples/screen_bulk.rs`.

use std::hint::black_box;
use std::path::PathBuf;

use clearance_screening::{PartyKind, Query, Screener, parse};
use criterion::{Criterion, criterion_group, criterion_main};

fn screener() -> Screener {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/lists/ofac-sdn");
    let sdn = parse::load_ofac_sdn_dir(&dir).expect("the SDN files in tests/data parse");
    Screener::new(vec![sdn])
}

fn bench(c: &mut Criterion) {
    let screener = screener();
    let cases = [
        (
            "listed person, misspelt",
            Query::new("Aymen al-Zawahiri", PartyKind::Individual),
        ),
        (
            "common person, clear",
            Query::new("Sarah Miller", PartyKind::Individual),
        ),
        (
            "very common listed given name",
            Query::new("Mohammed Ahmed Ali", PartyKind::Unknown),
        ),
        (
            "company, generic words",
            Query::new("Global Trading International Ltd", PartyKind::Organisation),
        ),
    ];
    let mut group = c.benchmark_group("screen one name against SDN");
    for (label, query) in &cases {
        group.bench_function(*label, |b| b.iter(|| screener.screen(black_box(query))));
    }
    group.finish();

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/lists/ofac-sdn");
    let mut group = c.benchmark_group("load");
    group.sample_size(10);
    group.bench_function("parse and index SDN", |b| {
        b.iter(|| Screener::new(vec![parse::load_ofac_sdn_dir(&dir).expect("parses")]))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
