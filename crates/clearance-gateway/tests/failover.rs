//! Failover over real HTTP: a primary that fails in each way moves on to its fallback, 4xx the
//! request caused come back at once, streams fail over until their first byte, breakers skip a
//! dark model, retries, health checks, and directives checked on every fallback.
#![allow(clippy::unwrap_used)]

mod harness;

use std::time::{Duration, Instant};

use clearance_fake::Behavior;
use harness::{ADMIN_TOKEN, Harness, Options, STORY_PRINCIPALS, outcomes};
use serde_json::Value;

const PRIMARY_UPSTREAM: &str = "claude-mythos-5";

fn route(extra: &str) -> String {
    format!(
        "[[routes]]\nmodel = \"mythos-5\"\nfallbacks = [\"gpt-5\", \"open-model\"]\nattempt_timeout_ms = 400\ndeadline_ms = 5000\n{extra}\n"
    )
}

async fn gateway(extra_config: String) -> Harness {
    Harness::start_with(Options {
        extra_config,
        ..Options::default()
    })
    .await
}

fn anthropic(stream: bool) -> String {
    format!(
        r#"{{"model":"mythos-5","max_tokens":64,"stream":{stream},"messages":[{{"role":"user","content":"hello"}}]}}"#
    )
}

fn header<'r>(response: &'r reqwest::Response, name: &str) -> &'r str {
    response
        .headers()
        .get(name)
        .map_or("", |v| v.to_str().unwrap())
}

/// The audit record of the request that got `response`.
async fn record_of(h: &Harness, response: &reqwest::Response) -> Value {
    h.record_for(header(response, "x-clearance-request-id"))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_way_a_primary_goes_dark_moves_on_to_the_fallback() {
    let modes: Vec<(&str, Behavior, bool)> = vec![
        (
            "connect",
            Behavior {
                refuse_connection: true,
                ..Behavior::default()
            },
            false,
        ),
        (
            "timeout",
            Behavior {
                delay_ms: Some(3_000),
                ..Behavior::default()
            },
            false,
        ),
        (
            "overloaded",
            Behavior {
                status: Some(503),
                ..Behavior::default()
            },
            false,
        ),
        (
            "overloaded",
            Behavior {
                status: Some(529),
                ..Behavior::default()
            },
            false,
        ),
        (
            "rate_limited",
            Behavior {
                status: Some(429),
                ..Behavior::default()
            },
            false,
        ),
        (
            "legal_block",
            Behavior {
                status: Some(451),
                ..Behavior::default()
            },
            false,
        ),
        (
            "server_error",
            Behavior {
                status: Some(500),
                ..Behavior::default()
            },
            false,
        ),
        (
            "broken_stream",
            Behavior {
                drop_after_events: Some(0),
                ..Behavior::default()
            },
            true,
        ),
        (
            "timeout",
            Behavior {
                delay_ms: Some(3_000),
                ..Behavior::default()
            },
            true,
        ),
    ];
    // A breaker that never opens here: each mode must be judged on its own.
    let h = gateway(route(
        "[breaker]\nconsecutive_failures = 0\nerror_rate = 2.0",
    ))
    .await;
    for (class, behavior, stream) in modes {
        h.fake.set_behavior(Some(PRIMARY_UPSTREAM), behavior);
        let started = Instant::now();
        let response = h.post("/v1/messages", &anthropic(stream)).await;
        assert_eq!(response.status(), 200, "{class} (stream {stream})");
        assert_eq!(header(&response, "x-clearance-served-model"), "gpt-5");
        assert_eq!(header(&response, "x-clearance-decision"), "fallback");
        let id = header(&response, "x-clearance-request-id").to_string();
        let text = response.text().await.unwrap();
        if stream {
            assert!(text.contains("event: message_stop"), "{class}: {text}");
            assert!(!text.contains("event: error"), "{class}: {text}");
        } else {
            let body: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(body["type"], "message", "{class}: {text}");
            assert_eq!(body["model"], "gpt-5");
        }
        assert!(
            started.elapsed() < Duration::from_millis(2_500),
            "{class}: the attempt timeout bounds the wait"
        );
        let record = h.record_for(&id).await;
        assert_eq!(record["decision"], "fallback", "{record}");
        assert_eq!(record["served_model"], "gpt-5");
        assert_eq!(
            outcomes(&record),
            [
                ("mythos-5".to_string(), class.to_string()),
                ("gpt-5".to_string(), "served".to_string())
            ],
            "{record}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_the_provider_refuses_as_malformed_returns_at_once() {
    let h = gateway(route("")).await;
    h.fake.set_behavior(
        Some(PRIMARY_UPSTREAM),
        Behavior {
            status: Some(400),
            ..Behavior::default()
        },
    );
    let response = h.post("/v1/messages", &anthropic(false)).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "error");
    let models: Vec<String> = h
        .fake
        .requests()
        .iter()
        .map(|r| r.model().unwrap_or("").to_string())
        .collect();
    assert!(
        models.iter().all(|m| m == PRIMARY_UPSTREAM),
        "no fallback was tried: {models:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_breaks_after_its_first_byte_ends_with_an_error_event() {
    let h = gateway(route("")).await;
    h.fake.set_behavior(
        Some(PRIMARY_UPSTREAM),
        Behavior {
            drop_after_events: Some(3),
            ..Behavior::default()
        },
    );
    let response = h.post("/v1/messages", &anthropic(true)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-clearance-served-model"), "mythos-5");
    let id = header(&response, "x-clearance-request-id").to_string();
    let text = response.text().await.unwrap();
    assert!(text.contains("event: message_start"), "{text}");
    assert!(text.contains("event: error"), "{text}");
    assert!(text.contains("broke off the answer"), "{text}");
    let record = h.record_for(&id).await;
    assert_eq!(record["error_class"], "upstream_stream_broken");
    assert_eq!(record["served_model"], "mythos-5");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_breaker_skips_the_dark_model_without_calling_it() {
    let h = gateway(route(
        "[breaker]\nconsecutive_failures = 2\nopen_ms = 60000\nmin_requests = 1000",
    ))
    .await;
    h.fake.set_behavior(
        Some(PRIMARY_UPSTREAM),
        Behavior {
            status: Some(503),
            ..Behavior::default()
        },
    );
    for _ in 0..2 {
        let response = h.post("/v1/messages", &anthropic(false)).await;
        assert_eq!(response.status(), 200);
    }
    let calls = |h: &Harness| {
        h.fake
            .requests()
            .iter()
            .filter(|r| r.model() == Some(PRIMARY_UPSTREAM))
            .count()
    };
    let before = calls(&h);
    let response = h.post("/v1/messages", &anthropic(false)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-clearance-served-model"), "gpt-5");
    let record = record_of(&h, &response).await;
    assert_eq!(
        outcomes(&record)[0],
        ("mythos-5".to_string(), "breaker_open".to_string())
    );
    assert_eq!(calls(&h), before, "the open model was not called");

    let metrics = h.metrics_text().await;
    assert!(
        metrics.contains("clearance_breaker_open{model=\"mythos-5\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("clearance_attempts_total{model=\"mythos-5\",outcome=\"breaker_open\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("clearance_fallbacks_total{model=\"mythos-5\"} 3"),
        "{metrics}"
    );
    let status: Value = h.admin_json("/admin/status").await;
    let mythos = status["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == "mythos-5")
        .unwrap();
    assert_eq!(mythos["breaker"]["state"], "open", "{status}");
    assert_eq!(mythos["route"]["fallbacks"][0], "gpt-5", "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_same_model_retry_serves_when_the_primary_recovers() {
    let h = gateway(route("retries = 1\nbackoff_ms = 5")).await;
    h.fake.set_behavior(
        Some(PRIMARY_UPSTREAM),
        Behavior {
            status: Some(503),
            fail_times: Some(1),
            ..Behavior::default()
        },
    );
    let response = h.post("/v1/messages", &anthropic(false)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-clearance-served-model"), "mythos-5");
    assert_eq!(header(&response, "x-clearance-decision"), "allow");
    let record = record_of(&h, &response).await;
    assert_eq!(record["decision"], "allow");
    assert_eq!(
        outcomes(&record),
        [
            ("mythos-5".to_string(), "overloaded".to_string()),
            ("mythos-5".to_string(), "served".to_string())
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_model_on_the_route_fails_the_caller_gets_the_last_failure() {
    let h = gateway(route("")).await;
    h.fake.set_behavior(
        None,
        Behavior {
            status: Some(503),
            retry_after_s: Some(7),
            ..Behavior::default()
        },
    );
    let response = h.post("/v1/messages", &anthropic(false)).await;
    assert_eq!(response.status(), 503);
    assert_eq!(header(&response, "retry-after"), "7");
    let record = record_of(&h, &response).await;
    let tried: Vec<String> = outcomes(&record).into_iter().map(|(m, _)| m).collect();
    assert_eq!(tried, ["mythos-5", "gpt-5", "open-model"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unhealthy_provider_is_skipped_and_shown() {
    let extra = "[providers.down]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:1/v1\"\nhealth_interval_ms = 100\nhealth_timeout_ms = 100\n\n\
                 [[models]]\nname = \"down-model\"\nprovider = \"down\"\n\n\
                 [[routes]]\nmodel = \"down-model\"\nfallbacks = [\"gpt-5\"]\n";
    let h = gateway(extra.to_string()).await;
    let status = wait_for(&h, |s| {
        s["providers"].as_array().unwrap().iter().any(|p| {
            p["provider"] == "down" && p["healthy"] == false && p["checks"].as_u64() > Some(0)
        })
    })
    .await;
    let down = status["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["provider"] == "down")
        .unwrap();
    assert!(
        down["last_error"].as_str().unwrap().contains("down"),
        "{down}"
    );
    let response = h
        .post(
            "/v1/chat/completions",
            r#"{"model":"down-model","messages":[{"role":"user","content":"hi"}]}"#,
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-clearance-served-model"), "gpt-5");
    let record = record_of(&h, &response).await;
    assert_eq!(
        outcomes(&record)[0],
        ("down-model".to_string(), "unhealthy".to_string())
    );
    let metrics = h.metrics_text().await;
    assert!(
        metrics.contains("clearance_provider_unhealthy{provider=\"down\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("clearance_provider_unhealthy{provider=\"acme\"} 0"),
        "{metrics}"
    );
}

async fn wait_for(h: &Harness, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..100 {
        let status: Value = h.admin_json("/admin/status").await;
        if done(&status) {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the status never got there");
}

// --- directives first -------------------------------------------------------------------

const EFFECTIVE: &str = "2026-06-15T00:00:00Z";

fn directive(id: &str, models: &str) -> (&'static str, String) {
    let name: &'static str = Box::leak(format!("{id}.toml").into_boxed_str());
    (
        name,
        format!(
            "id = \"{id}\"\ntitle = \"Export control {id}\"\nauthority = \"Order {id}\"\n\
             effective = \"{EFFECTIVE}\"\nmode = \"enforce\"\nmodels = [{models}]\n\
             when = \"!principal.us_person\"\neffect = \"deny\"\n"
        ),
    )
}

async fn story(directives: Vec<(&'static str, String)>) -> Harness {
    Harness::start_with(Options {
        directives,
        principals: STORY_PRINCIPALS,
        keys_for: &["alice", "bjorn"],
        extra_config: route(""),
        ..Options::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fallback_the_caller_may_not_use_is_skipped() {
    let h = story(vec![directive("EC-GPT", "\"gpt-5\"")]).await;
    h.fake.set_behavior(
        Some(PRIMARY_UPSTREAM),
        Behavior {
            status: Some(503),
            ..Behavior::default()
        },
    );
    // Bjorn (a Swedish national) may not use gpt-5: open-model serves him.
    let response = h
        .post_with_key("/v1/messages", &anthropic(false), Some(&h.keys["bjorn"]))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-clearance-served-model"), "open-model");
    let record = record_of(&h, &response).await;
    assert_eq!(
        outcomes(&record),
        [
            ("mythos-5".to_string(), "overloaded".to_string()),
            ("gpt-5".to_string(), "forbidden".to_string()),
            ("open-model".to_string(), "served".to_string())
        ]
    );
    let gpt_calls = h
        .fake
        .requests()
        .iter()
        .filter(|r| r.model() == Some("gpt-5-2026"))
        .count();
    assert_eq!(gpt_calls, 0, "a forbidden fallback is never called");
    // Alice (a US citizen) may: gpt-5 serves her.
    let response = h
        .post_with_key("/v1/messages", &anthropic(false), Some(&h.keys["alice"]))
        .await;
    assert_eq!(header(&response, "x-clearance-served-model"), "gpt-5");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_primary_is_served_by_a_fallback_the_caller_may_use() {
    let h = story(vec![directive("EC-MYTHOS", "\"mythos-5\"")]).await;
    let response = h
        .post_with_key("/v1/messages", &anthropic(false), Some(&h.keys["bjorn"]))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-clearance-served-model"), "gpt-5");
    assert_eq!(header(&response, "x-clearance-decision"), "fallback");
    assert_eq!(header(&response, "x-clearance-directive"), "EC-MYTHOS");
    let record = record_of(&h, &response).await;
    assert_eq!(record["decision"], "fallback");
    assert_eq!(record["directive_ids"][0], "EC-MYTHOS");
    assert_eq!(outcomes(&record)[0].1, "forbidden");
    let mythos_calls = h
        .fake
        .requests()
        .iter()
        .filter(|r| r.model() == Some(PRIMARY_UPSTREAM))
        .count();
    assert_eq!(mythos_calls, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_model_on_the_route_is_forbidden_the_answer_is_451() {
    let h = story(vec![
        directive("EC-MYTHOS", "\"mythos-5\""),
        directive("EC-REST", "\"gpt-5\", \"open-model\""),
    ])
    .await;
    let response = h
        .post_with_key("/v1/messages", &anthropic(false), Some(&h.keys["bjorn"]))
        .await;
    assert_eq!(response.status(), 451);
    let id = header(&response, "x-clearance-request-id").to_string();
    let body: Value = response.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("EC-MYTHOS"), "{message}");
    assert!(message.contains("`gpt-5` (EC-REST)"), "{message}");
    let record = h.record_for(&id).await;
    assert_eq!(record["decision"], "deny");
    assert_eq!(
        record["directive_ids"],
        serde_json::json!(["EC-MYTHOS", "EC-REST"])
    );
    assert_eq!(h.fake.requests().len(), 0, "no model was called");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_without_fallbacks_is_still_called_while_its_breaker_is_open() {
    let h = gateway(route(
        "[breaker]\nconsecutive_failures = 1\nopen_ms = 60000",
    ))
    .await;
    h.fake.set_behavior(
        Some("claude-fable-5"),
        Behavior {
            status: Some(503),
            error_message: Some("fable is resting".into()),
            ..Behavior::default()
        },
    );
    for _ in 0..3 {
        let body = anthropic(false).replace("mythos-5", "fable-5");
        let response = h.post("/v1/messages", &body).await;
        assert_eq!(response.status(), 503);
        let text = response.text().await.unwrap();
        assert!(
            text.contains("fable is resting"),
            "the provider's own answer: {text}"
        );
    }
    let calls = h
        .fake
        .requests()
        .iter()
        .filter(|r| r.model() == Some("claude-fable-5"))
        .count();
    assert_eq!(calls, 3);
    let status = wait_for(&h, |s| {
        s["models"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["model"] == "fable-5" && m["breaker"]["state"] == "open")
    })
    .await;
    assert!(status["models"].is_array());
}

// --- kill switch -----------------------------------------------------------------------

async fn switch(h: &Harness, model: &str, action: &str, reason: &str) {
    let response = h
        .http
        .post(h.url(&format!("/admin/models/{model}/{action}")))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({ "reason": reason }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_model_is_skipped_from_the_next_request_on() {
    let h = gateway(route("")).await;
    switch(&h, "mythos-5", "disable", "provider under a legal hold").await;
    let response = h.post("/v1/messages", &anthropic(false)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-clearance-served-model"), "gpt-5");
    assert_eq!(header(&response, "x-clearance-decision"), "fallback");
    let record = record_of(&h, &response).await;
    assert_eq!(
        outcomes(&record)[0],
        ("mythos-5".to_string(), "disabled".to_string())
    );
    let status = wait_for(&h, |_| true).await;
    let mythos = status["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == "mythos-5")
        .unwrap()
        .clone();
    assert_eq!(mythos["disabled"]["reason"], "provider under a legal hold");

    switch(&h, "mythos-5", "enable", "hold lifted").await;
    let response = h.post("/v1/messages", &anthropic(false)).await;
    assert_eq!(header(&response, "x-clearance-served-model"), "mythos-5");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_model_without_fallbacks_answers_503_with_the_reason() {
    let h = gateway(route("")).await;
    switch(&h, "fable-5", "disable", "withdrawn by the vendor").await;
    let body = anthropic(false).replace("mythos-5", "fable-5");
    let response = h.post("/v1/messages", &body).await;
    assert_eq!(response.status(), 503);
    assert_eq!(header(&response, "retry-after"), "1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "overloaded_error");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("withdrawn by the vendor"), "{message}");
    assert!(
        !h.fake
            .requests()
            .iter()
            .any(|r| r.model() == Some("claude-fable-5")),
        "a disabled model is never called"
    );
    // Every model of a route disabled: 503 too, naming each.
    switch(&h, "mythos-5", "disable", "hold").await;
    switch(&h, "gpt-5", "disable", "hold").await;
    switch(&h, "open-model", "disable", "hold").await;
    let response = h
        .post(
            "/v1/chat/completions",
            r#"{"model":"mythos-5","messages":[{"role":"user","content":"hi"}]}"#,
        )
        .await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "model_disabled", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("`open-model` is disabled"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_another_gateway_stored_is_in_force_within_a_second() {
    use clearance_store::{ModelSwitch, Store};
    let h = gateway(route("")).await;
    // What another gateway on the same store does when its admin API takes the change.
    h.store
        .set_model_switch(&ModelSwitch {
            model: "mythos-5".into(),
            disabled: true,
            reason: Some("switched off on replica b".into()),
            changed_at: chrono::Utc::now(),
            actor: "admin-api".into(),
        })
        .await
        .unwrap();
    let since = Instant::now();
    loop {
        let response = h.post("/v1/messages", &anthropic(false)).await;
        if header(&response, "x-clearance-served-model") == "gpt-5" {
            break;
        }
        assert!(
            since.elapsed() < Duration::from_secs(1),
            "the switch did not reach this gateway within a second"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_whose_caller_hangs_up_does_not_wedge_the_breaker() {
    let h = gateway(
        "[[routes]]\nmodel = \"mythos-5\"\nfallbacks = [\"gpt-5\"]\nattempt_timeout_ms = 10000\n\
         [breaker]\nconsecutive_failures = 1\nopen_ms = 200\n"
            .to_string(),
    )
    .await;
    let fail = |status| Behavior {
        status: Some(status),
        ..Behavior::default()
    };
    h.fake.set_behavior(Some(PRIMARY_UPSTREAM), fail(503));
    h.post("/v1/messages", &anthropic(false)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Half open: this request is the probe; the primary hangs and the caller gives up.
    h.fake.set_behavior(
        Some(PRIMARY_UPSTREAM),
        Behavior {
            delay_ms: Some(5_000),
            ..Behavior::default()
        },
    );
    let gave_up = h
        .http
        .post(h.url("/v1/messages"))
        .header("x-api-key", &h.key)
        .header("anthropic-version", "2023-06-01")
        .header("content-type", "application/json")
        .body(anthropic(false))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(gave_up.is_err(), "the caller timed out");
    // Its audit record still says what was decided, on which facts.
    let since = Instant::now();
    let hung_up = loop {
        let records = h.audit_records().await;
        if let Some(record) = records.into_iter().find(|r| r["status"] == 0) {
            break record;
        }
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "no record of the hung-up request"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(hung_up["decision"], "allow", "{hung_up}");
    assert!(hung_up["facts"].is_object(), "{hung_up}");
    // The primary is back: the next request must be let through as a new probe.
    h.fake
        .set_behavior(Some(PRIMARY_UPSTREAM), Behavior::default());
    let since = Instant::now();
    loop {
        let response = h.post("/v1/messages", &anthropic(false)).await;
        if header(&response, "x-clearance-served-model") == "mythos-5" {
            break;
        }
        assert!(
            since.elapsed() < Duration::from_secs(2),
            "the breaker never let another probe through"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
