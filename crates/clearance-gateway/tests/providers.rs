//! The one test suite every provider kind passes: each kind (OpenAI, Azure OpenAI, Anthropic,
//! Gemini, Bedrock Converse, Claude on Bedrock) behind a real gateway, in front of the fake
//! provider speaking that kind's real wire format, for a plain answer, a stream, tools, an
//! image, errors, its own region block, and failover to and from it.
//!
//! A new provider kind is one line in `provider_suite!` at the bottom (its model, the paths its
//! calls go to and how they are authenticated), plus its `[providers]` block in `KINDS`.
#![allow(clippy::unwrap_used)]

mod harness;

use clearance_fake::{Behavior, ToolCall};
use harness::{Harness, Options, outcomes, sse_events};
use serde_json::{Value, json};

/// The kinds the harness's own config lacks (OpenAI, Anthropic and Gemini are there already:
/// `gpt-5`, `mythos-5`, `gemini-flash`). `@FAKE@` is the fake provider's root URL.
const KINDS: &str = r#"
[providers.azure]
kind = "azure_openai"
base_url = "@FAKE@"
api_version = "2024-10-21"
api_key_env = "PROVIDER_KEY"

[providers.aws]
kind = "bedrock"
base_url = "@FAKE@"
region = "us-east-1"
access_key_id_env = "AWS_ACCESS_KEY_ID"
secret_access_key_env = "AWS_SECRET_ACCESS_KEY"

[providers.aws-claude]
kind = "bedrock"
base_url = "@FAKE@"
region = "us-east-1"
api = "anthropic"
access_key_id_env = "AWS_ACCESS_KEY_ID"
secret_access_key_env = "AWS_SECRET_ACCESS_KEY"

[[models]]
name = "azure-gpt"
provider = "azure"
upstream = "gpt-4o-prod"

[[models]]
name = "bedrock-nova"
provider = "aws"
upstream = "amazon.nova-pro-v1:0"

[[models]]
name = "bedrock-claude"
provider = "aws-claude"
upstream = "anthropic.claude-3-5-sonnet-20240620-v1:0"
"#;

/// A kind under test.
struct Kind {
    /// What clients ask for.
    model: &'static str,
    /// The provider's id for it (what the fake's behaviors are keyed by).
    upstream: &'static str,
    /// Text the path of a whole-answer call and of a streamed call contains.
    plain_path: &'static str,
    stream_path: &'static str,
    /// The header that must carry the credential, and how its value starts.
    auth_header: &'static str,
    auth_prefix: &'static str,
}

impl Kind {
    /// A model of another kind, to fail over to and from.
    fn other(&self) -> &'static str {
        if self.model == "mythos-5" {
            "gpt-5"
        } else {
            "mythos-5"
        }
    }

    fn other_upstream(&self) -> &'static str {
        if self.model == "mythos-5" {
            "gpt-5-2026"
        } else {
            "claude-mythos-5"
        }
    }
}

async fn gateway(routes: &str) -> Harness {
    Harness::start_with(Options {
        extra_config: format!("{KINDS}\n{routes}"),
        ..Options::default()
    })
    .await
}

fn chat(model: &str, stream: bool, content: Value) -> String {
    json!({
        "model": model,
        "stream": stream,
        "max_tokens": 64,
        "messages": [{"role": "user", "content": content}],
    })
    .to_string()
}

/// The one call the fake received, checked for the kind's path and credential.
fn only_call(h: &Harness, kind: &Kind, path: &str) -> clearance_fake::RecordedRequest {
    let calls: Vec<_> = h
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.model() == Some(kind.upstream))
        .collect();
    assert_eq!(calls.len(), 1, "{}: {calls:?}", kind.model);
    let call = calls.into_iter().next().unwrap();
    assert!(
        call.path.contains(path),
        "{}: called {} (expected {path})",
        kind.model,
        call.path
    );
    let auth = call.header(kind.auth_header).unwrap_or("");
    assert!(
        auth.starts_with(kind.auth_prefix),
        "{}: `{}` is `{auth}`",
        kind.model,
        kind.auth_header
    );
    call
}

async fn plain(kind: &Kind) {
    let h = gateway("").await;
    let response = h
        .post(
            "/v1/chat/completions",
            &chat(kind.model, false, json!("hello there")),
        )
        .await;
    assert_eq!(response.status(), 200, "{}", kind.model);
    assert_eq!(
        harness::header(&response, "x-clearance-served-model"),
        Some(kind.model)
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], kind.model);
    let text = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(text.contains("hello there"), "{}: {text}", kind.model);
    assert!(body["usage"]["completion_tokens"].as_u64().unwrap() > 0);
    only_call(&h, kind, kind.plain_path);
}

async fn streamed(kind: &Kind) {
    let h = gateway("").await;
    // An OpenAI client...
    let response = h
        .post(
            "/v1/chat/completions",
            &chat(kind.model, true, json!("stream me")),
        )
        .await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "{}: {text}", kind.model);
    let events = sse_events(&text);
    assert_eq!(events.last().unwrap().1, "[DONE]", "{}: {text}", kind.model);
    let said: String = events
        .iter()
        .filter(|(_, data)| data != "[DONE]")
        .filter_map(|(_, data)| {
            let chunk: Value = serde_json::from_str(data).unwrap();
            chunk["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert!(said.contains("stream me"), "{}: {said}", kind.model);
    only_call(&h, kind, kind.stream_path);
    // ...and an Anthropic client, whose stream ends the Anthropic way.
    h.fake.clear_requests();
    let body = json!({"model": kind.model, "max_tokens": 64, "stream": true,
        "messages": [{"role": "user", "content": "stream me too"}]});
    let response = h.post("/v1/messages", &body.to_string()).await;
    assert_eq!(response.status(), 200, "{}", kind.model);
    let text = response.text().await.unwrap();
    let names: Vec<String> = sse_events(&text)
        .into_iter()
        .filter_map(|(n, _)| n)
        .collect();
    assert_eq!(
        names.first().map(String::as_str),
        Some("message_start"),
        "{text}"
    );
    assert_eq!(
        names.last().map(String::as_str),
        Some("message_stop"),
        "{text}"
    );
    let said: String = sse_events(&text)
        .iter()
        .filter_map(|(_, data)| {
            let event: Value = serde_json::from_str(data).ok()?;
            event["delta"]["text"].as_str().map(str::to_string)
        })
        .collect();
    assert!(said.contains("stream me too"), "{}: {text}", kind.model);
}

async fn tools(kind: &Kind) {
    let h = gateway("").await;
    let mut arguments = serde_json::Map::new();
    arguments.insert("city".into(), json!("Paris"));
    h.fake.set_behavior(
        Some(kind.upstream),
        Behavior {
            tool_call: Some(ToolCall {
                name: "get_weather".into(),
                arguments,
            }),
            ..Behavior::default()
        },
    );
    let tool = json!({"type": "function", "function": {"name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
            "required": ["city"]}}});
    let ask = json!({"model": kind.model, "max_tokens": 64, "tools": [tool],
        "messages": [{"role": "user", "content": "weather in Paris?"}]});
    let response = h.post("/v1/chat/completions", &ask.to_string()).await;
    assert_eq!(response.status(), 200, "{}", kind.model);
    let body: Value = response.json().await.unwrap();
    let call = &body["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(
        call["function"]["name"], "get_weather",
        "{}: {body}",
        kind.model
    );
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"city": "Paris"}));
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
    // The result goes back, and the model answers from it.
    let id = call["id"].as_str().unwrap();
    let follow = json!({"model": kind.model, "max_tokens": 64, "tools": [tool],
    "messages": [
        {"role": "user", "content": "weather in Paris?"},
        {"role": "assistant", "content": null, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": id, "content": "sunny, 21 C"},
    ]});
    let response = h.post("/v1/chat/completions", &follow.to_string()).await;
    assert_eq!(response.status(), 200, "{}", kind.model);
    let body: Value = response.json().await.unwrap();
    let text = body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or("");
    assert!(text.contains("sunny, 21 C"), "{}: {body}", kind.model);
}

/// One red pixel, PNG.
const PIXEL: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";

async fn images(kind: &Kind) {
    let h = gateway("").await;
    let content = json!([
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PIXEL}")}},
    ]);
    let response = h
        .post("/v1/chat/completions", &chat(kind.model, false, content))
        .await;
    assert_eq!(response.status(), 200, "{}", kind.model);
    let call = only_call(&h, kind, kind.plain_path);
    assert!(
        call.body.to_string().contains(PIXEL),
        "{}: the image did not reach the provider: {}",
        kind.model,
        call.body
    );
}

async fn errors(kind: &Kind) {
    let h = gateway("").await;
    for (status, expected) in [(429, 429), (500, 500), (400, 400)] {
        h.fake.set_behavior(
            Some(kind.upstream),
            Behavior {
                status: Some(status),
                ..Behavior::default()
            },
        );
        let response = h
            .post(
                "/v1/chat/completions",
                &chat(kind.model, false, json!("hi")),
            )
            .await;
        // With nowhere to move on to, the provider's own failure comes back, in the client's
        // error shape, with no credential in it.
        assert_eq!(response.status(), expected, "{} {status}", kind.model);
        let body: Value = response.json().await.unwrap();
        assert!(
            body["error"]["message"].is_string(),
            "{}: {body}",
            kind.model
        );
        assert!(!body.to_string().contains(harness::PROVIDER_KEY));
        assert!(!body.to_string().contains(harness::AWS_SECRET_ACCESS_KEY));
    }
}

async fn region_block(kind: &Kind) {
    let route = format!(
        "[[routes]]\nmodel = \"{}\"\nfallbacks = [\"{}\"]\n",
        kind.model,
        kind.other()
    );
    let h = gateway(&route).await;
    // The fake refuses the way this kind's provider refuses a region.
    h.fake.set_behavior(
        Some(kind.upstream),
        Behavior {
            status: Some(451),
            ..Behavior::default()
        },
    );
    let response = h
        .post(
            "/v1/chat/completions",
            &chat(kind.model, false, json!("hi")),
        )
        .await;
    assert_eq!(response.status(), 200, "{}", kind.model);
    assert_eq!(
        harness::header(&response, "x-clearance-served-model"),
        Some(kind.other())
    );
    let id = harness::header(&response, "x-clearance-request-id")
        .unwrap()
        .to_string();
    let record = h.record_for(&id).await;
    let tried = outcomes(&record);
    let expected =
        if kind.model == "gpt-5" || kind.model == "mythos-5" || kind.model == "gemini-flash" {
            // Providers that answer a region block with their own refusal, not 451.
            ["region_block", "legal_block"]
        } else {
            ["region_block", "region_block"]
        };
    assert!(
        expected.contains(&tried[0].1.as_str()),
        "{}: {tried:?}",
        kind.model
    );
    assert_eq!(tried[0].0, kind.model);
    assert_eq!(tried[1], (kind.other().to_string(), "served".to_string()));
}

async fn failover_from(kind: &Kind) {
    let route = format!(
        "[[routes]]\nmodel = \"{}\"\nfallbacks = [\"{}\"]\n",
        kind.model,
        kind.other()
    );
    let h = gateway(&route).await;
    h.fake.set_behavior(
        Some(kind.upstream),
        Behavior {
            status: Some(503),
            ..Behavior::default()
        },
    );
    let response = h
        .post("/v1/chat/completions", &chat(kind.model, true, json!("hi")))
        .await;
    assert_eq!(response.status(), 200, "{}", kind.model);
    assert_eq!(
        harness::header(&response, "x-clearance-served-model"),
        Some(kind.other())
    );
    assert!(response.text().await.unwrap().ends_with("data: [DONE]\n\n"));
}

async fn failover_to(kind: &Kind) {
    let route = format!(
        "[[routes]]\nmodel = \"{}\"\nfallbacks = [\"{}\"]\n",
        kind.other(),
        kind.model
    );
    let h = gateway(&route).await;
    h.fake.set_behavior(
        Some(kind.other_upstream()),
        Behavior {
            status: Some(529),
            ..Behavior::default()
        },
    );
    for stream in [false, true] {
        let response = h
            .post(
                "/v1/chat/completions",
                &chat(kind.other(), stream, json!("hi")),
            )
            .await;
        let status = response.status();
        let served = harness::header(&response, "x-clearance-served-model").map(str::to_string);
        let text = response.text().await.unwrap();
        assert_eq!(status, 200, "{} stream={stream}: {text}", kind.model);
        assert_eq!(served.as_deref(), Some(kind.model));
        assert!(text.contains("hi"), "{}: {text}", kind.model);
    }
}

macro_rules! provider_suite {
    ($($name:ident: $kind:expr;)*) => {$(
        mod $name {
            use super::*;

            const KIND: Kind = $kind;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn plain_answer() { plain(&KIND).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn streamed_answer() { streamed(&KIND).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn tool_call_and_result() { tools(&KIND).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn image_input() { images(&KIND).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn provider_errors() { errors(&KIND).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn its_region_block_fails_over() { region_block(&KIND).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn fails_over_from_it() { failover_from(&KIND).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn fails_over_to_it() { failover_to(&KIND).await }
        }
    )*};
}

provider_suite! {
    openai: Kind { model: "gpt-5", upstream: "gpt-5-2026", plain_path: "/v1/chat/completions",
        stream_path: "/v1/chat/completions", auth_header: "authorization", auth_prefix: "Bearer " };
    azure_openai: Kind { model: "azure-gpt", upstream: "gpt-4o-prod",
        plain_path: "/openai/deployments/gpt-4o-prod/chat/completions",
        stream_path: "/openai/deployments/gpt-4o-prod/chat/completions",
        auth_header: "api-key", auth_prefix: "sk-provider" };
    anthropic: Kind { model: "mythos-5", upstream: "claude-mythos-5", plain_path: "/v1/messages",
        stream_path: "/v1/messages", auth_header: "x-api-key", auth_prefix: "sk-provider" };
    gemini: Kind { model: "gemini-flash", upstream: "gemini-3-flash",
        plain_path: ":generateContent", stream_path: ":streamGenerateContent",
        auth_header: "x-goog-api-key", auth_prefix: "sk-provider" };
    bedrock_converse: Kind { model: "bedrock-nova", upstream: "amazon.nova-pro-v1:0",
        plain_path: "/converse", stream_path: "/converse-stream",
        auth_header: "authorization", auth_prefix: "AWS4-HMAC-SHA256 Credential=AKIDCLEARANCETEST/" };
    bedrock_anthropic: Kind { model: "bedrock-claude",
        upstream: "anthropic.claude-3-5-sonnet-20240620-v1:0",
        plain_path: "/invoke", stream_path: "/invoke-with-response-stream",
        auth_header: "authorization", auth_prefix: "AWS4-HMAC-SHA256 Credential=AKIDCLEARANCETEST/" };
}
