//! What failover costs, in one run, over real HTTP against the in-process fake providers:
//!
//! - routes configured but healthy vs no route (the attempt loop's own cost): `mythos-5`
//!   (route → `fable-5`, healthy) against `fable-5` (no route), both Anthropic → Anthropic;
//! - a failed-over request vs a direct one: `open-model`, whose provider answers 503, fails
//!   over to `gpt-5`; compared with asking `gpt-5` directly. Once with the breaker closed (the
//!   503 is paid on every request) and once with it open (the dark model is skipped).
//!
//! Two measures per case: `latency` (the client's round trip) and `overhead` (the gateway's
//! own time, `x-clearance-overhead-ms`, which excludes waiting on providers).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/harness/mod.rs"]
mod harness;

use std::hint::black_box;
use std::time::Duration;

use clearance_fake::Behavior;
use criterion::{Criterion, criterion_group, criterion_main};
use harness::{Harness, Options};

const ROUTES: &str = "[[routes]]\nmodel = \"mythos-5\"\nfallbacks = [\"fable-5\"]\n\n\
    [[routes]]\nmodel = \"open-model\"\nfallbacks = [\"gpt-5\"]\n";

fn anthropic(model: &str) -> String {
    format!(
        r#"{{"model":"{model}","max_tokens":64,"messages":[{{"role":"user","content":"How far is the moon?"}}]}}"#
    )
}

fn openai(model: &str) -> String {
    format!(
        r#"{{"model":"{model}","messages":[{{"role":"user","content":"How far is the moon?"}}]}}"#
    )
}

async fn gateway(breaker: &str) -> Harness {
    let h = Harness::start_with(Options {
        extra_config: format!("{ROUTES}\n[breaker]\n{breaker}\n"),
        ..Options::default()
    })
    .await;
    h.fake.set_behavior(
        Some("llama-4-70b-instruct"),
        Behavior {
            status: Some(503),
            ..Behavior::default()
        },
    );
    h
}

/// Sends one request, checks which model served, and returns the reported overhead.
async fn served(h: &Harness, path: &str, body: &str, by: &str) -> Duration {
    let response = h.post(path, body).await;
    assert_eq!(response.status(), 200, "{path} {body}");
    assert_eq!(
        harness::header(&response, "x-clearance-served-model").unwrap(),
        by
    );
    let overhead_ms: f64 = harness::header(&response, "x-clearance-overhead-ms")
        .unwrap()
        .parse()
        .unwrap();
    black_box(response.bytes().await.unwrap());
    Duration::from_secs_f64(overhead_ms / 1000.0)
}

struct Case {
    label: &'static str,
    gateway: usize,
    path: &'static str,
    body: String,
    served_by: &'static str,
}

fn cases() -> Vec<Case> {
    let case = |label, gateway, path, body, served_by| Case {
        label,
        gateway,
        path,
        body,
        served_by,
    };
    vec![
        case(
            "no route",
            0,
            "/v1/messages",
            anthropic("fable-5"),
            "fable-5",
        ),
        case(
            "route, healthy",
            0,
            "/v1/messages",
            anthropic("mythos-5"),
            "mythos-5",
        ),
        case(
            "direct",
            0,
            "/v1/chat/completions",
            openai("gpt-5"),
            "gpt-5",
        ),
        case(
            "failed over, breaker closed",
            0,
            "/v1/chat/completions",
            openai("open-model"),
            "gpt-5",
        ),
        case(
            "failed over, breaker open",
            1,
            "/v1/chat/completions",
            openai("open-model"),
            "gpt-5",
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Gateway 0 never opens a breaker; gateway 1 opens one on the first failure, for good.
    let mut gateways = runtime.block_on(async {
        [
            gateway("consecutive_failures = 0\nerror_rate = 2.0").await,
            gateway("consecutive_failures = 1\nopen_ms = 3600000").await,
        ]
    });
    runtime.block_on(async {
        for case in cases() {
            served(
                &gateways[case.gateway],
                case.path,
                &case.body,
                case.served_by,
            )
            .await;
        }
    });
    let mut latency = c.benchmark_group("failover latency");
    for case in cases() {
        let h = &gateways[case.gateway];
        latency.bench_function(case.label, |b| {
            b.iter(|| runtime.block_on(served(h, case.path, &case.body, case.served_by)));
        });
    }
    latency.finish();
    let mut overhead = c.benchmark_group("failover overhead (x-clearance-overhead-ms)");
    for case in cases() {
        let h = &gateways[case.gateway];
        overhead.bench_function(case.label, |b| {
            b.iter_custom(|iterations| {
                runtime.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iterations {
                        total += served(h, case.path, &case.body, case.served_by).await;
                    }
                    total
                })
            });
        });
    }
    overhead.finish();
    runtime.block_on(async {
        for h in &mut gateways {
            h.stop().await;
        }
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
