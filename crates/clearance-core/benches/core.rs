//! Hot-path costs in the pure core: verifying a client key, sealing an audit record into the
//! chain (done by the writer, once per request), and verifying a stored record.

use std::hint::black_box;

use chrono::Utc;
use clearance_core::api::ApiSurface;
use clearance_core::audit::{AuditRecord, ChainHead, ChainVerifier, Decision};
use clearance_core::key::{NewKey, PresentedKey};
use criterion::{Criterion, criterion_group, criterion_main};

fn record() -> AuditRecord {
    AuditRecord {
        id: "01a208a1-7df9-76be-a918-21d131d97794".into(),
        time: Utc::now(),
        api: ApiSurface::OpenaiChat,
        key_id: Some("424006b8f9f33d4c".into()),
        token: None,
        principal_id: Some("alice".into()),
        requested_model: Some("mythos-5".into()),
        served_model: Some("mythos-5".into()),
        decision: Decision::Allow,
        directive_ids: vec![],
        shadow_hits: vec![],
        shadow_decision: None,
        policy_version: None,
        facts: None,
        facts_read: Vec::new(),
        stream: false,
        status: 200,
        upstream_status: Some(200),
        duration_us: 1200,
        overhead_us: 80,
        input_tokens: Some(120),
        output_tokens: Some(40),
        error_class: None,
        attempts: Vec::new(),
        admin: None,
        phase: clearance_core::audit::Phase::Whole,
        replica: None,
    }
}

fn bench(c: &mut Criterion) {
    let key = NewKey::generate(&mut rand::rng());
    c.bench_function("key: parse + constant-time verify", |b| {
        b.iter(|| {
            let presented = PresentedKey::parse(black_box(&key.plaintext)).expect("valid key");
            black_box(presented.matches(&key.hash))
        })
    });
    let record = record();
    c.bench_function("audit: seal one record", |b| {
        let mut head = ChainHead::EMPTY;
        b.iter(|| black_box(head.seal(black_box(&record))))
    });
    let mut head = ChainHead::EMPTY;
    let sealed: Vec<_> = (0..1000).map(|_| head.seal(&record)).collect();
    c.bench_function("audit: verify 1000 records", |b| {
        b.iter(|| {
            let mut verifier = ChainVerifier::default();
            for r in &sealed {
                verifier.check(r).expect("intact");
            }
            black_box(verifier.head())
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
