//! The chaos test: steady load (200 requests a second, streaming and not, from a caller who
//! may use every model and one a directive keeps off a fallback) while the primary model fails
//! in each way in turn. Every client request must succeed, the forbidden fallback must never
//! serve the caller it is forbidden to, and the primary's breaker must open within a bound.
#![allow(clippy::unwrap_used)]

mod harness;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clearance_fake::Behavior;
use harness::{Harness, Options, STORY_PRINCIPALS};
use serde_json::Value;
use tokio::sync::Mutex;

const PRIMARY_UPSTREAM: &str = "claude-mythos-5";
const RATE_PER_SECOND: u64 = 200;
const FAULT: Duration = Duration::from_millis(2_500);
const RECOVERY: Duration = Duration::from_millis(1_000);
/// How soon after a fault starts the primary's breaker must be open.
const BREAKER_BOUND: Duration = Duration::from_secs(2);

const CONFIG: &str = "[[routes]]\nmodel = \"mythos-5\"\nfallbacks = [\"gpt-5\", \"open-model\"]\n\
    attempt_timeout_ms = 300\ndeadline_ms = 5000\n\n\
    [breaker]\nconsecutive_failures = 5\nerror_rate = 0.5\nwindow_ms = 2000\nmin_requests = 20\nopen_ms = 500\n";

const NO_GPT_FOR_FOREIGN_NATIONALS: &str = "id = \"EC-GPT\"\ntitle = \"Export control EC-GPT\"\n\
    authority = \"Order EC-GPT\"\neffective = \"2026-06-15T00:00:00Z\"\nmode = \"enforce\"\n\
    models = [\"gpt-5\"]\nwhen = \"!principal.us_person\"\neffect = \"deny\"\n";

#[derive(Default)]
struct Tally {
    sent: AtomicUsize,
    failed: AtomicUsize,
    fallbacks: AtomicUsize,
    forbidden_served: AtomicUsize,
    failures: Mutex<Vec<String>>,
}

fn body(stream: bool) -> String {
    format!(
        r#"{{"model":"mythos-5","max_tokens":32,"stream":{stream},"messages":[{{"role":"user","content":"chaos"}}]}}"#
    )
}

/// One client request, judged as a client would: a 200 with a complete answer.
async fn one_request(h: Arc<Harness>, key: String, stream: bool, foreign: bool, tally: Arc<Tally>) {
    tally.sent.fetch_add(1, Ordering::Relaxed);
    let response = h
        .post_with_key("/v1/messages", &body(stream), Some(&key))
        .await;
    let status = response.status();
    let served = response
        .headers()
        .get("x-clearance-served-model")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let decision = response
        .headers()
        .get("x-clearance-decision")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let text = response.text().await.unwrap_or_default();
    let complete = if stream {
        text.contains("event: message_stop") && !text.contains("event: error")
    } else {
        serde_json::from_str::<Value>(&text).is_ok_and(|v| v["type"] == "message")
    };
    if decision == "fallback" {
        tally.fallbacks.fetch_add(1, Ordering::Relaxed);
    }
    if foreign && served == "gpt-5" {
        tally.forbidden_served.fetch_add(1, Ordering::Relaxed);
    }
    if status != 200 || !complete {
        tally.failed.fetch_add(1, Ordering::Relaxed);
        let mut failures = tally.failures.lock().await;
        if failures.len() < 10 {
            failures.push(format!(
                "{status} stream={stream}: {}",
                &text[..text.len().min(300)]
            ));
        }
    }
}

/// Sends requests at the steady rate for `length`, alternating streaming and callers.
async fn load(
    h: &Arc<Harness>,
    length: Duration,
    tally: &Arc<Tally>,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) {
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / RATE_PER_SECOND));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let until = Instant::now() + length;
    let mut n = 0usize;
    while Instant::now() < until {
        ticker.tick().await;
        n += 1;
        let foreign = n % 4 < 2;
        let key = if foreign {
            &h.keys["bjorn"]
        } else {
            &h.keys["alice"]
        };
        tasks.push(tokio::spawn(one_request(
            Arc::clone(h),
            key.clone(),
            n.is_multiple_of(2),
            foreign,
            Arc::clone(tally),
        )));
    }
}

async fn primary_breaker(h: &Harness) -> String {
    let status: Value = h.admin_json("/admin/status").await;
    status["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == "mythos-5")
        .map(|m| m["breaker"]["state"].as_str().unwrap().to_string())
        .unwrap()
}

/// Polls until the primary's breaker is open; how long that took from `since`.
async fn breaker_opened(h: Arc<Harness>, since: Instant) -> Option<Duration> {
    while since.elapsed() < FAULT {
        if primary_breaker(&h).await == "open" {
            return Some(since.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_failed_requests_while_the_primary_fails_in_every_way() {
    let h = Arc::new(
        Harness::start_with(Options {
            directives: vec![("ec-gpt.toml", NO_GPT_FOR_FOREIGN_NATIONALS.to_string())],
            principals: STORY_PRINCIPALS,
            keys_for: &["alice", "bjorn"],
            extra_config: CONFIG.to_string(),
            ..Options::default()
        })
        .await,
    );
    let faults: Vec<(&str, Behavior, bool)> = vec![
        (
            "refuses connections",
            Behavior {
                refuse_connection: true,
                ..Behavior::default()
            },
            true,
        ),
        (
            "hangs",
            Behavior {
                delay_ms: Some(10_000),
                ..Behavior::default()
            },
            true,
        ),
        (
            "503s",
            Behavior {
                status: Some(503),
                ..Behavior::default()
            },
            true,
        ),
        (
            "429s",
            Behavior {
                status: Some(429),
                retry_after_s: Some(1),
                ..Behavior::default()
            },
            true,
        ),
        // A legal block is about the request, so it does not open the breaker (see classify).
        (
            "451 region block",
            Behavior {
                status: Some(451),
                ..Behavior::default()
            },
            false,
        ),
        (
            "drops the stream before the first byte",
            Behavior {
                drop_after_events: Some(0),
                ..Behavior::default()
            },
            false,
        ),
    ];
    let tally = Arc::new(Tally::default());
    let mut tasks = Vec::new();
    let mut report = Vec::new();
    for (name, behavior, opens_breaker) in faults {
        h.fake.set_behavior(Some(PRIMARY_UPSTREAM), behavior);
        let started = Instant::now();
        let watch = tokio::spawn(breaker_opened(Arc::clone(&h), started));
        load(&h, FAULT, &tally, &mut tasks).await;
        let opened = watch.await.unwrap();
        report.push(format!("{name}: breaker open after {opened:?}"));
        if opens_breaker {
            let opened = opened.unwrap_or_else(|| panic!("{name}: the breaker never opened"));
            assert!(
                opened <= BREAKER_BOUND,
                "{name}: the breaker took {opened:?}"
            );
        }
        h.fake
            .set_behavior(Some(PRIMARY_UPSTREAM), Behavior::default());
        load(&h, RECOVERY, &tally, &mut tasks).await;
    }
    for task in tasks {
        task.await.unwrap();
    }
    let sent = tally.sent.load(Ordering::Relaxed);
    let failed = tally.failed.load(Ordering::Relaxed);
    eprintln!(
        "chaos: {sent} requests, {failed} failed, {} served by a fallback; {}",
        tally.fallbacks.load(Ordering::Relaxed),
        report.join("; ")
    );
    assert!(
        sent > 3_000,
        "the load was too thin to mean anything: {sent}"
    );
    assert_eq!(failed, 0, "{:#?}", tally.failures.lock().await);
    assert_eq!(
        tally.forbidden_served.load(Ordering::Relaxed),
        0,
        "a fallback a directive forbids served that caller"
    );
    assert!(tally.fallbacks.load(Ordering::Relaxed) > 1_000);
    // After the last recovery the primary serves again.
    let response = h
        .post_with_key("/v1/messages", &body(false), Some(&h.keys["alice"]))
        .await;
    assert_eq!(
        response.headers()["x-clearance-served-model"]
            .to_str()
            .unwrap(),
        "mythos-5"
    );
}
