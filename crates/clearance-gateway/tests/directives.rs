//! Targeted access directives over real HTTP: the story's registry under both wordings and both
//! APIs, HTTP 451 bodies and headers, reroute, shadow, windows to the second, geo-IP behind
//! trusted proxies only, capability-scoped directives, `/v1/models`, and reloads (under load,
//! invalid sets, the admin API).
#![allow(clippy::unwrap_used)]
#![allow(
    clippy::disallowed_methods,
    reason = "a test reads where its database is from the environment, and may block its own thread"
)]

mod harness;

use std::collections::BTreeMap;
use std::time::Duration;

use harness::{ADMIN_TOKEN, Harness, Options, STORY_PRINCIPALS, header, sse_events};
use serde_json::Value;

const EFFECTIVE: &str = "2026-06-15T00:00:00Z";

fn directive(id: &str, body: &str) -> (String, String) {
    (
        format!("{id}.toml"),
        format!(
            "id = \"{id}\"\ntitle = \"Export control {id}\"\nauthority = \"Order {id} under national security authorities\"\n\
             effective = \"{EFFECTIVE}\"\nreview = \"mailto:export-review@example.com\"\n{body}\n"
        ),
    )
}

fn leak(files: Vec<(String, String)>) -> Vec<(&'static str, String)> {
    files
        .into_iter()
        .map(|(name, text)| (&*Box::leak(name.into_boxed_str()), text))
        .collect()
}

async fn story_gateway(files: Vec<(String, String)>) -> (Harness, BTreeMap<&'static str, String>) {
    story_gateway_with(files, Options::default()).await
}

async fn story_gateway_with(
    files: Vec<(String, String)>,
    options: Options,
) -> (Harness, BTreeMap<&'static str, String>) {
    let h = Harness::start_with(Options {
        directives: leak(files),
        principals: STORY_PRINCIPALS,
        keys_for: &[
            "alice", "bjorn", "carla", "dev", "farah", "ghost", "li", "olga", "hans",
        ],
        ..options
    })
    .await;
    let keys = h.keys.clone();
    (h, keys)
}

fn anthropic_body(model: &str) -> String {
    format!(
        r#"{{"model":"{model}","max_tokens":64,"messages":[{{"role":"user","content":"hello"}}]}}"#
    )
}

fn openai_body(model: &str) -> String {
    format!(r#"{{"model":"{model}","messages":[{{"role":"user","content":"hello"}}]}}"#)
}

/// A plain request for `model` on `path` (`/v1/messages` or `/v1/chat/completions`).
async fn ask(h: &Harness, key: &str, path: &str, model: &str) -> reqwest::Response {
    let body = if path == "/v1/messages" {
        anthropic_body(model)
    } else {
        openai_body(model)
    };
    h.post_with_key(path, &body, Some(key)).await
}

/// Who gets 451 on `model` through `path`.
async fn denied(
    h: &Harness,
    keys: &BTreeMap<&'static str, String>,
    path: &str,
    model: &str,
) -> Vec<&'static str> {
    let mut out = Vec::new();
    for (who, key) in keys {
        let status = ask(h, key, path, model).await.status().as_u16();
        assert!(status == 200 || status == 451, "{who}: {status}");
        if status == 451 {
            out.push(*who);
        }
    }
    out
}

const NOT_US_PERSON: &str = "mode = \"enforce\"\nmodels = [\"fable-5\", \"mythos-5\"]\nwhen = \"!principal.us_person\"\neffect = \"deny\"";
const NOT_US_CITIZEN: &str =
    "mode = \"enforce\"\nmodels = [\"gpt-5\"]\nwhen = \"!principal.us_citizen\"\neffect = \"deny\"";

#[tokio::test]
async fn the_story_under_both_wordings_and_both_apis() {
    let (h, keys) = story_gateway(vec![
        directive("EXD-PERSON", NOT_US_PERSON),
        directive("EXD-CITIZEN", NOT_US_CITIZEN),
    ])
    .await;
    let foreign = ["bjorn", "ghost", "hans", "li", "olga"];
    assert_eq!(denied(&h, &keys, "/v1/messages", "mythos-5").await, foreign);
    assert_eq!(denied(&h, &keys, "/v1/messages", "fable-5").await, foreign);
    // "Not a US citizen" also cuts the green-card holder and the refugee.
    assert_eq!(
        denied(&h, &keys, "/v1/chat/completions", "gpt-5").await,
        ["bjorn", "dev", "farah", "ghost", "hans", "li", "olga"]
    );
    // A model no directive covers is untouched.
    assert!(
        denied(&h, &keys, "/v1/chat/completions", "open-model")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_denial_is_451_in_each_apis_error_shape_and_never_reaches_the_provider() {
    let (h, keys) = story_gateway(vec![
        directive("EXD-PERSON", NOT_US_PERSON),
        directive("EXD-CITIZEN", NOT_US_CITIZEN),
    ])
    .await;
    let before = h.fake.requests().len();
    // Headers a client sets cannot change a principal fact.
    let response = h
        .http
        .post(h.url("/v1/messages"))
        .header("x-api-key", &keys["bjorn"])
        .header("anthropic-version", "2023-06-01")
        .header("x-clearance-principal", "alice")
        .header("x-us-person", "true")
        .body(anthropic_body("mythos-5"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 451);
    assert_eq!(header(&response, "x-clearance-decision"), Some("deny"));
    assert_eq!(
        header(&response, "x-clearance-directive"),
        Some("EXD-PERSON")
    );
    assert_eq!(
        header(&response, "link"),
        Some("<urn:clearance:directive:EXD-PERSON>; rel=\"blocked-by\"")
    );
    let request_id = header(&response, "x-clearance-request-id")
        .unwrap()
        .to_string();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "permission_error");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("model `mythos-5` is refused for legal reasons under directive EXD-PERSON \"Export control EXD-PERSON\" (authority: Order EXD-PERSON under national security authorities)"), "{message}");
    assert!(
        message.contains("To ask for review: mailto:export-review@example.com"),
        "{message}"
    );
    assert_eq!(body["error"]["directive"]["id"], "EXD-PERSON");

    let openai = ask(&h, &keys["dev"], "/v1/chat/completions", "gpt-5").await;
    assert_eq!(openai.status(), 451);
    let body: Value = openai.json().await.unwrap();
    assert_eq!(body["error"]["type"], "permission_error");
    assert_eq!(body["error"]["code"], "unavailable_for_legal_reasons");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("EXD-CITIZEN")
    );
    assert_eq!(
        h.fake.requests().len(),
        before,
        "a denied request reached the provider"
    );

    let record = h.record_for(&request_id).await;
    assert_eq!(record["decision"], "deny");
    assert_eq!(record["status"], 451);
    assert_eq!(record["directive_ids"], serde_json::json!(["EXD-PERSON"]));
    assert_eq!(record["served_model"], Value::Null);
    assert_eq!(record["facts"]["principal"]["us_person"], false);
    assert_eq!(
        record["facts"]["principal"]["citizenships"],
        serde_json::json!(["SE"])
    );
    assert_eq!(
        record["facts_read"],
        serde_json::json!(["context.now", "model", "principal.us_person"])
    );
    assert_eq!(record["policy_version"].as_str().unwrap().len(), 16);
}

#[tokio::test]
async fn the_person_with_no_facts_is_denied_and_the_record_names_the_missing_facts() {
    let (h, keys) = story_gateway(vec![directive("EXD-PERSON", NOT_US_PERSON)]).await;
    let response = ask(&h, &keys["ghost"], "/v1/messages", "mythos-5").await;
    assert_eq!(response.status(), 451);
    let id = header(&response, "x-clearance-request-id")
        .unwrap()
        .to_string();
    let record = h.record_for(&id).await;
    // No list is imported here, so nobody is screened either.
    assert_eq!(
        record["facts"]["principal"]["missing"],
        serde_json::json!(["citizenships", "residence", "org", "screening"])
    );
}

#[tokio::test]
async fn reroute_serves_an_allowed_model_and_says_so_streaming_or_not() {
    let reroute = "mode = \"enforce\"\nmodels = [\"mythos-5\"]\nwhen = \"!principal.us_person\"\nreroute = \"fable-5\"";
    let (h, keys) = story_gateway(vec![directive("REROUTE", reroute)]).await;
    let response = ask(&h, &keys["bjorn"], "/v1/messages", "mythos-5").await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-clearance-decision"), Some("reroute"));
    assert_eq!(header(&response, "x-clearance-directive"), Some("REROUTE"));
    assert_eq!(
        header(&response, "x-clearance-served-model"),
        Some("fable-5")
    );
    let id = header(&response, "x-clearance-request-id")
        .unwrap()
        .to_string();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["model"], "fable-5");
    assert_eq!(
        h.fake.requests().last().unwrap().model(),
        Some("claude-fable-5")
    );
    let record = h.record_for(&id).await;
    assert_eq!(record["decision"], "reroute");
    assert_eq!(record["requested_model"], "mythos-5");
    assert_eq!(record["served_model"], "fable-5");

    let streamed = h
        .post_with_key(
            "/v1/messages",
            r#"{"model":"mythos-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hello"}]}"#,
            Some(&keys["bjorn"]),
        )
        .await;
    assert_eq!(
        header(&streamed, "x-clearance-served-model"),
        Some("fable-5")
    );
    let events = sse_events(&streamed.text().await.unwrap());
    let start: Value = serde_json::from_str(&events[0].1).unwrap();
    assert_eq!(start["message"]["model"], "fable-5");
    // A US person is served as asked.
    let alice = ask(&h, &keys["alice"], "/v1/messages", "mythos-5").await;
    assert_eq!(header(&alice, "x-clearance-decision"), Some("allow"));
    assert_eq!(header(&alice, "x-clearance-served-model"), Some("mythos-5"));
}

#[tokio::test]
async fn a_reroute_to_a_model_the_caller_may_not_use_is_a_denial() {
    let reroute = "mode = \"enforce\"\nmodels = [\"mythos-5\"]\nwhen = \"!principal.us_person\"\nreroute = \"fable-5\"";
    let block = "mode = \"enforce\"\nmodels = [\"fable-5\"]\nwhen = 'principal.citizenships.contains(\"SE\")'\neffect = \"deny\"";
    let (h, keys) = story_gateway(vec![
        directive("REROUTE", reroute),
        directive("NO-FABLE-SE", block),
    ])
    .await;
    let response = ask(&h, &keys["bjorn"], "/v1/messages", "mythos-5").await;
    assert_eq!(response.status(), 451);
    assert_eq!(
        header(&response, "x-clearance-directive"),
        Some("REROUTE, NO-FABLE-SE")
    );
    // Hans (DE) is not blocked on fable-5, so his reroute goes through.
    let hans = ask(&h, &keys["hans"], "/v1/messages", "mythos-5").await;
    assert_eq!(header(&hans, "x-clearance-served-model"), Some("fable-5"));
}

#[tokio::test]
async fn shadow_never_changes_the_answer_and_records_what_it_would_have_done() {
    let shadow = NOT_US_PERSON.replace("enforce", "shadow");
    let (h, keys) = story_gateway(vec![directive("EXD-SHADOW", &shadow)]).await;
    let response = ask(&h, &keys["bjorn"], "/v1/messages", "mythos-5").await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-clearance-decision"), Some("allow"));
    let id = header(&response, "x-clearance-request-id")
        .unwrap()
        .to_string();
    let record = h.record_for(&id).await;
    assert_eq!(record["decision"], "allow");
    assert_eq!(record["shadow_hits"], serde_json::json!(["EXD-SHADOW"]));
    assert_eq!(record["shadow_decision"], "deny");
    let alice = ask(&h, &keys["alice"], "/v1/messages", "mythos-5").await;
    let id = header(&alice, "x-clearance-request-id")
        .unwrap()
        .to_string();
    assert_eq!(
        h.record_for(&id).await["shadow_hits"],
        serde_json::json!([])
    );
    let metrics = h.metrics_text().await;
    assert!(
        metrics.contains(
            "clearance_directive_hits_total{directive=\"EXD-SHADOW\",effect=\"shadow\"} 1"
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_directive_takes_effect_to_the_second_without_a_restart() {
    let start = chrono::Utc::now() + chrono::Duration::seconds(4);
    let start = start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let text = format!(
        "id = \"SOON\"\ntitle = \"Soon\"\nauthority = \"Order\"\neffective = \"{start}\"\nmode = \"enforce\"\nmodels = [\"mythos-5\"]\neffect = \"deny\"\n"
    );
    let (h, keys) = story_gateway(vec![("SOON.toml".into(), text)]).await;
    let effective = chrono::DateTime::parse_from_rfc3339(&start).unwrap();
    let mut saw_allow = false;
    loop {
        let sent_at = chrono::Utc::now();
        let status = ask(&h, &keys["alice"], "/v1/messages", "mythos-5")
            .await
            .status();
        let answered_at = chrono::Utc::now();
        if answered_at < effective {
            assert_eq!(status, 200, "denied before the directive took effect");
            saw_allow = true;
        } else if sent_at >= effective {
            assert_eq!(status, 451, "still allowed after the directive took effect");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(saw_allow);
}

#[tokio::test]
async fn geo_ip_reads_x_forwarded_for_only_from_trusted_proxies() {
    let geo = "mode = \"enforce\"\nmodels = [\"gpt-5\"]\nwhen = 'context.country == \"CN\"'\neffect = \"deny\"";
    let send = |h: &Harness, key: String, forwarded: &'static str| {
        let request = h
            .http
            .post(h.url("/v1/chat/completions"))
            .bearer_auth(key)
            .header("x-forwarded-for", forwarded)
            .body(openai_body("gpt-5"));
        async move { request.send().await.unwrap() }
    };
    let trusted = Options {
        geoip: true,
        trusted_proxies: &["127.0.0.1"],
        ..Options::default()
    };
    let (h, keys) = story_gateway_with(vec![directive("GEO-CN", geo)], trusted).await;
    let from_cn = send(&h, keys["alice"].clone(), "2001:250::1").await;
    assert_eq!(from_cn.status(), 451);
    let id = header(&from_cn, "x-clearance-request-id")
        .unwrap()
        .to_string();
    assert_eq!(h.record_for(&id).await["facts"]["request"]["country"], "CN");
    let from_us = send(&h, keys["alice"].clone(), "214.78.120.5").await;
    assert_eq!(from_us.status(), 200);
    let id = header(&from_us, "x-clearance-request-id")
        .unwrap()
        .to_string();
    assert_eq!(h.record_for(&id).await["facts"]["request"]["country"], "US");

    // Without trusted proxies the header is ignored: the loopback peer has no country.
    let untrusted = Options {
        geoip: true,
        ..Options::default()
    };
    let (h, keys) = story_gateway_with(vec![directive("GEO-CN", geo)], untrusted).await;
    let spoofed = send(&h, keys["alice"].clone(), "2001:250::1").await;
    assert_eq!(spoofed.status(), 200);
    let id = header(&spoofed, "x-clearance-request-id")
        .unwrap()
        .to_string();
    assert_eq!(
        h.record_for(&id).await["facts"]["request"]["country"],
        Value::Null
    );
}

#[tokio::test]
async fn a_capability_scoped_directive_restricts_only_that_capability() {
    let tools = "mode = \"enforce\"\nmodels = [\"gpt-5\"]\ncapabilities = [\"tools\"]\nwhen = \"!principal.us_person\"\neffect = \"deny\"";
    let (h, keys) = story_gateway(vec![directive("NO-TOOLS", tools)]).await;
    let plain = ask(&h, &keys["bjorn"], "/v1/chat/completions", "gpt-5").await;
    assert_eq!(plain.status(), 200);
    let with_tools = r#"{"model":"gpt-5","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"lookup","parameters":{"type":"object"}}}]}"#;
    let response = h
        .post_with_key("/v1/chat/completions", with_tools, Some(&keys["bjorn"]))
        .await;
    assert_eq!(response.status(), 451);
    let ok = h
        .post_with_key("/v1/chat/completions", with_tools, Some(&keys["alice"]))
        .await;
    assert_eq!(ok.status(), 200);
}

/// A request with no token limit is read as the most the provider allows, never as 0.
#[tokio::test]
async fn a_request_that_sets_no_token_limit_is_read_as_unlimited() {
    // The provider applies its own default when no limit is given (Anthropic's translated
    // default, OpenAI's model maximum), so "not given" must not read as 0 and pass.
    let long = "mode = \"enforce\"\nmodels = [\"gpt-5\", \"mythos-5\"]\nwhen = \"context.max_tokens > 1000\"\neffect = \"deny\"";
    let (h, keys) = story_gateway(vec![directive("LONG-ANSWERS", long)]).await;
    let key = keys["alice"].as_str();
    let body = |model: &str, fields: &str| {
        format!(r#"{{"model":"{model}",{fields}"messages":[{{"role":"user","content":"hi"}}]}}"#)
    };
    for (path, model) in [
        ("/v1/chat/completions", "gpt-5"),
        ("/v1/messages", "mythos-5"),
    ] {
        let short = h
            .post_with_key(path, &body(model, r#""max_tokens":64,"#), Some(key))
            .await;
        assert_eq!(short.status(), 200, "{path}: a short answer is served");
        let before = h.fake.requests().len();
        for fields in ["", r#""max_tokens":null,"#] {
            let response = h.post_with_key(path, &body(model, fields), Some(key)).await;
            let status = response.status().as_u16();
            let error: Value = response.json().await.unwrap();
            assert_eq!(status, 451, "{path} {fields:?}: {error}");
            let message = error["error"]["message"].as_str().unwrap();
            assert!(message.contains("LONG-ANSWERS"), "{message}");
        }
        assert_eq!(
            h.fake.requests().len(),
            before,
            "{path}: a request with no limit reached the provider"
        );
    }
}

/// A directive on the answer length cannot be talked past by spelling the number another way
/// or by setting it in two fields: each is refused before any provider is called.
#[tokio::test]
async fn a_max_tokens_directive_cannot_be_talked_past() {
    let long = "mode = \"enforce\"\nmodels = [\"gpt-5\", \"mythos-5\"]\nwhen = \"context.max_tokens > 1000\"\neffect = \"deny\"";
    let (h, keys) = story_gateway(vec![directive("LONG-ANSWERS", long)]).await;
    let key = keys["alice"].as_str();
    let body = |model: &str, fields: &str| {
        format!(r#"{{"model":"{model}",{fields},"messages":[{{"role":"user","content":"hi"}}]}}"#)
    };
    let apis = [
        ("/v1/chat/completions", "gpt-5"),
        ("/v1/messages", "mythos-5"),
    ];
    for (path, model) in apis {
        let short = h
            .post_with_key(path, &body(model, r#""max_tokens":64"#), Some(key))
            .await;
        assert_eq!(short.status(), 200, "{path}: a short answer is served");
    }
    let before = h.fake.requests().len();
    let attempts: [(&str, u16, &str); 8] = [
        (r#""max_tokens":5000"#, 451, ""),
        (r#""max_tokens":5000.0"#, 400, "max_tokens"),
        (r#""max_tokens":"5000""#, 400, "max_tokens"),
        (r#""max_tokens":5e3"#, 400, "max_tokens"),
        (
            r#""max_completion_tokens":1,"max_tokens":5000"#,
            400,
            "max_tokens",
        ),
        (
            r#""max_tokens":64,"max_completion_tokens":5000"#,
            400,
            "max_tokens",
        ),
        (
            r#""max_tokens":64,"max_output_tokens":5e3"#,
            400,
            "max_output_tokens",
        ),
        (
            r#""max_tokens":64,"generationConfig":{"maxOutputTokens":5000}"#,
            400,
            "generationConfig.maxOutputTokens",
        ),
    ];
    for (path, model) in apis {
        for (fields, expected, param) in attempts {
            let response = h.post_with_key(path, &body(model, fields), Some(key)).await;
            let status = response.status().as_u16();
            let error: Value = response.json().await.unwrap();
            assert_eq!(status, expected, "{path} {fields}: {error}");
            let message = error["error"]["message"].as_str().unwrap();
            if expected == 451 {
                assert!(message.contains("LONG-ANSWERS"), "{message}");
                continue;
            }
            assert_eq!(error["error"]["type"], "invalid_request_error", "{error}");
            assert!(
                message.contains(&format!("`{param}`")),
                "{path} {fields}: {message}"
            );
            if path == "/v1/chat/completions" {
                assert_eq!(error["error"]["param"], param, "{error}");
            }
        }
    }
    assert_eq!(
        h.fake.requests().len(),
        before,
        "a refused request reached the provider"
    );
}

#[tokio::test]
async fn models_lists_only_what_this_caller_may_use_with_reroutes_marked() {
    let reroute = "mode = \"enforce\"\nmodels = [\"gpt-5\"]\nwhen = \"!principal.us_person\"\nreroute = \"open-model\"";
    let (h, keys) = story_gateway(vec![
        directive("EXD-PERSON", NOT_US_PERSON),
        directive("REROUTE-GPT", reroute),
    ])
    .await;
    let list = |key: String| {
        let request = h.http.get(h.url("/v1/models")).bearer_auth(key);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let ids = |v: &Value| -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect()
    };
    let alice = list(keys["alice"].clone()).await;
    assert_eq!(
        ids(&alice),
        ["mythos-5", "fable-5", "gpt-5", "open-model", "gemini-flash"]
    );
    let bjorn = list(keys["bjorn"].clone()).await;
    assert_eq!(ids(&bjorn), ["gpt-5", "open-model", "gemini-flash"]);
    assert_eq!(bjorn["data"][0]["clearance"]["decision"], "reroute");
    assert_eq!(bjorn["data"][0]["clearance"]["served_by"], "open-model");
}

async fn active_version(h: &Harness) -> String {
    let v: Value = h
        .http
        .get(h.url("/admin/directives"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["version"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_reload_under_load_fails_no_request_and_an_invalid_set_never_replaces_a_valid_one() {
    let shadow = NOT_US_PERSON.replace("enforce", "shadow");
    let (h, keys) = story_gateway(vec![directive("EXD", &shadow)]).await;
    let shadow_version = active_version(&h).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (http, url, key, stop) = (
            h.http.clone(),
            h.url("/v1/messages"),
            keys["bjorn"].clone(),
            stop.clone(),
        );
        load.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let response = http
                    .post(&url)
                    .header("x-api-key", &key)
                    .header("anthropic-version", "2023-06-01")
                    .body(anthropic_body("mythos-5"))
                    .send()
                    .await
                    .unwrap();
                statuses.push(response.status().as_u16());
            }
            statuses
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // An invalid edit is refused; the shadow set stays in force.
    std::fs::write(
        h.directives_dir().join("broken.toml"),
        "id = \"BROKEN\"\nmode = \"sometimes\"\n",
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(active_version(&h).await, shadow_version);
    std::fs::remove_file(h.directives_dir().join("broken.toml")).unwrap();
    // Now enforce, by editing the file in place (written whole, as editors and `activate` do).
    let (name, text) = directive("EXD", NOT_US_PERSON);
    let temp = h.directives_dir().join(".EXD.toml.tmp");
    std::fs::write(&temp, text).unwrap();
    std::fs::rename(&temp, h.directives_dir().join(name)).unwrap();
    let since = std::time::Instant::now();
    while active_version(&h).await == shadow_version {
        assert!(
            since.elapsed() < Duration::from_secs(2),
            "the new set was not activated"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut statuses = Vec::new();
    for task in load {
        statuses.extend(task.await.unwrap());
    }
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 451),
        "a request failed: {statuses:?}"
    );
    let first_deny = statuses
        .iter()
        .position(|s| *s == 451)
        .expect("enforcement never began");
    assert!(first_deny > 0 && statuses.len() > 20, "{statuses:?}");
    // Every record names the version that decided it, and only the two valid versions appear.
    let records: Vec<Value> = h
        .wait_for_records(statuses.len())
        .await
        .into_iter()
        .filter(|r| r["decision"] != "admin")
        .collect();
    let versions: std::collections::BTreeSet<&str> = records
        .iter()
        .filter_map(|r| r["policy_version"].as_str())
        .collect();
    assert_eq!(versions.len(), 2, "{versions:?}");
    for record in &records {
        let enforcing = record["policy_version"] != shadow_version.as_str();
        assert_eq!(record["decision"] == "deny", enforcing, "{record}");
    }
}

#[tokio::test]
async fn the_admin_api_activates_a_valid_directive_and_refuses_an_invalid_one() {
    let (h, keys) = story_gateway(vec![directive("EXD-CITIZEN", NOT_US_CITIZEN)]).await;
    let before = active_version(&h).await;
    let bad = h
        .http
        .put(h.url("/admin/directives/new.toml"))
        .bearer_auth(ADMIN_TOKEN)
        .body("id = \"NEW\"\ntitle = \"t\"\nauthority = \"a\"\neffective = \"2026-01-01T00:00:00Z\"\nmode = \"enforce\"\nmodels = [\"mythos-9\"]\neffect = \"deny\"\n")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    let body: Value = bad.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("new.toml:6: `NEW` names unknown model `mythos-9`"),
        "{body}"
    );
    assert_eq!(active_version(&h).await, before);
    assert!(!h.directives_dir().join("new.toml").exists());

    let (_, good) = directive("NEW", NOT_US_PERSON);
    let ok = h
        .http
        .put(h.url("/admin/directives/new.toml"))
        .bearer_auth(ADMIN_TOKEN)
        .body(good)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let body: Value = ok.json().await.unwrap();
    assert_eq!(body["changed"], true);
    assert_ne!(active_version(&h).await, before);
    let denied = ask(&h, &keys["bjorn"], "/v1/messages", "mythos-5").await;
    assert_eq!(denied.status(), 451);
    let client_key_on_admin = h
        .http
        .get(h.url("/admin/directives"))
        .bearer_auth(&keys["alice"])
        .send()
        .await
        .unwrap();
    assert_eq!(client_key_on_admin.status(), 401);
}

/// `PUT /admin/directives/{file}` proves the change before it activates it; with
/// `?require_no_new_access=true` a change that widens access is refused, naming who gains.
#[tokio::test]
async fn the_admin_api_proves_a_change_and_refuses_one_that_widens_access_when_asked() {
    let (h, keys) = story_gateway(vec![directive("EXD-CITIZEN", NOT_US_CITIZEN)]).await;
    let before = active_version(&h).await;
    let put = |file: &str, query: &str, text: String| {
        h.http
            .put(h.url(&format!("/admin/directives/{file}{query}")))
            .bearer_auth(ADMIN_TOKEN)
            .body(text)
            .send()
    };
    // "Not a US citizen" loosened to "not a US person" on gpt-5: green-card holders and
    // protected individuals gain access.
    let loosened = NOT_US_CITIZEN.replace("us_citizen", "us_person");
    let (name, text) = directive("EXD-CITIZEN", &loosened);
    let refused = put(&name, "?require_no_new_access=true", text.clone())
        .await
        .unwrap();
    assert_eq!(refused.status(), 409);
    let body: Value = refused.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("REFUTED: someone gains access, on gpt-5"),
        "{message}"
    );
    assert!(
        message.contains("us_person"),
        "names the caller who gains: {message}"
    );
    assert!(message.contains("nothing was activated"), "{message}");
    assert_eq!(active_version(&h).await, before);
    assert_eq!(
        ask(&h, &keys["dev"], "/v1/messages", "gpt-5")
            .await
            .status(),
        451
    );

    let bad = put(&name, "?require_no_new_access=maybe", text)
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let unknown = put(&name, "?force=true", String::new()).await.unwrap();
    assert_eq!(unknown.status(), 400);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["error"]["param"], "force", "{body}");

    // Adding the story's directive only takes access away: proved, and activated.
    let (name, text) = directive("EXD-PERSON", NOT_US_PERSON);
    let ok = put(&name, "?require_no_new_access=true", text)
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let body: Value = ok.json().await.unwrap();
    assert_eq!(body["changed"], true);
    assert_eq!(body["proof"]["no_new_access"], true, "{body}");
    let summary = body["proof"]["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("proved: nobody gains access; access taken away by EXD-PERSON"),
        "{summary}"
    );
    assert_eq!(
        ask(&h, &keys["bjorn"], "/v1/messages", "mythos-5")
            .await
            .status(),
        451
    );
}

/// A directive body that is not UTF-8 gets the admin API's JSON error, naming the line, and
/// changes nothing; without the admin token it is refused as any other request is.
#[tokio::test]
async fn the_admin_api_answers_a_body_that_is_not_utf8_in_its_json_error_shape() {
    let (h, _keys) = story_gateway(vec![directive("EXD-CITIZEN", NOT_US_CITIZEN)]).await;
    let before = active_version(&h).await;
    let body: &[u8] = b"id = \"NEW\"\ntitle = \"Caf\xe9\"\n";
    let bad = h
        .http
        .put(h.url("/admin/directives/new.toml"))
        .bearer_auth(ADMIN_TOKEN)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let error: Value = bad.json().await.unwrap();
    assert_eq!(error["error"]["type"], "invalid_request_error", "{error}");
    assert_eq!(
        error["error"]["message"], "new.toml:2: not UTF-8 (byte 0xe9 at column 13)",
        "{error}"
    );
    let anonymous = h
        .http
        .put(h.url("/admin/directives/new.toml"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let error: Value = anonymous.json().await.unwrap();
    assert!(error["error"]["message"].is_string(), "{error}");
    assert_eq!(active_version(&h).await, before);
    assert!(!h.directives_dir().join("new.toml").exists());
}

#[tokio::test]
async fn a_reroute_to_a_model_of_another_format_is_served_translated() {
    // gpt-5 is served by an OpenAI-format provider; the caller speaks Anthropic Messages.
    let reroute = "mode = \"enforce\"\nmodels = [\"mythos-5\"]\nwhen = \"!principal.us_person\"\nreroute = \"gpt-5\"";
    let (h, keys) = story_gateway(vec![directive("TO-GPT", reroute)]).await;
    h.fake.clear_requests();
    let response = ask(&h, &keys["bjorn"], "/v1/messages", "mythos-5").await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-clearance-served-model"), Some("gpt-5"));
    let id = header(&response, "x-clearance-request-id")
        .unwrap()
        .to_string();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "message", "an Anthropic answer: {body}");
    assert_eq!(body["model"], "gpt-5");
    let sent = h.fake.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].path, "/v1/chat/completions");
    assert_eq!(sent[0].body["model"], "gpt-5-2026");
    let record = h.record_for(&id).await;
    assert_eq!(record["decision"], "reroute");
    assert_eq!(record["served_model"], "gpt-5");
    assert_eq!(record["directive_ids"], serde_json::json!(["TO-GPT"]));
}
