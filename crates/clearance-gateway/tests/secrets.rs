//! No secret the gateway holds or is shown (a provider key, a client key, a wrong key a
//! client tried, the admin token) appears in any log line (every level, every crate), any
//! answer (body or header), any audit record, or anywhere in the store's files: a property
//! over random secrets and random sequences of requests, including a provider that echoes its
//! credential and the caller's key back in its errors.
//!
//! Its own test binary: it installs a global `tracing` subscriber to read the whole log.
#![allow(clippy::unwrap_used)]
#![allow(
    clippy::disallowed_methods,
    reason = "a test reads the store's files with std::fs"
)]

mod harness;

use clearance_fake::Behavior;
use harness::capture::Capture;
use harness::{Harness, Options};
use proptest::prelude::*;
use serde_json::json;

const UPSTREAMS: [&str; 3] = ["gpt-5-2026", "claude-mythos-5", "gemini-3-flash"];

/// One thing a client or an operator does.
#[derive(Clone, Debug)]
enum Step {
    /// A good request through `/v1/messages` or `/v1/chat/completions` to `model`.
    Chat {
        anthropic: bool,
        stream: bool,
        model: &'static str,
    },
    /// A real key's id with a secret the client made up (well-formed or not).
    WrongKey { anthropic: bool, tail: String },
    /// The provider answers an error whose message quotes its own key and the caller's.
    ProviderEchoes { status: u16, anthropic: bool },
    /// The caller puts its own key in the prompt.
    KeyInPrompt,
    /// The admin API with the right token, and with a wrong one.
    Admin { wrong_token: String },
}

fn step() -> impl Strategy<Value = Step> {
    let model = prop::sample::select(vec!["gpt-5", "mythos-5", "gemini-flash"]);
    prop_oneof![
        (any::<bool>(), any::<bool>(), model).prop_map(|(anthropic, stream, model)| Step::Chat {
            anthropic,
            stream,
            model
        }),
        (
            any::<bool>(),
            prop_oneof!["[0-9a-f]{64}", "[A-Za-z0-9]{8,40}"]
        )
            .prop_map(|(anthropic, tail)| Step::WrongKey { anthropic, tail }),
        (
            prop::sample::select(vec![400u16, 401, 403, 429, 500, 503]),
            any::<bool>()
        )
            .prop_map(|(status, anthropic)| Step::ProviderEchoes { status, anthropic }),
        Just(Step::KeyInPrompt),
        "[A-Za-z0-9_-]{12,40}".prop_map(|wrong_token| Step::Admin { wrong_token }),
    ]
}

/// A provider key as operators configure them: a vendor's `sk-` key, or whatever a
/// self-hosted server was started with.
fn provider_key() -> impl Strategy<Value = String> {
    prop_oneof![
        "sk-[A-Za-z0-9]{24,48}",
        "[a-z0-9]{12,40}",
        "[A-Za-z0-9._~-]{16,40}"
    ]
}

fn chat_body(anthropic: bool, stream: bool, model: &str, prompt: &str) -> String {
    let mut body = json!({
        "model": model,
        "stream": stream,
        "messages": [{"role": "user", "content": prompt}],
    });
    if anthropic {
        body["max_tokens"] = json!(64);
    }
    body.to_string()
}

fn path(anthropic: bool) -> &'static str {
    if anthropic {
        "/v1/messages"
    } else {
        "/v1/chat/completions"
    }
}

/// What a client could read of an answer: status line, headers and body.
async fn everything_in(response: reqwest::Response) -> String {
    let mut text = format!("{}\n", response.status());
    for (name, value) in response.headers() {
        text.push_str(&format!(
            "{name}: {}\n",
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    text.push_str(&response.text().await.unwrap_or_default());
    text
}

/// The answers a client got (that it may read) and those it must not see a secret in.
async fn run(h: &Harness, admin_token: &str, steps: &[Step]) -> (Vec<String>, Vec<String>) {
    let mut answers = Vec::new();
    let mut tried_keys = Vec::new();
    for step in steps {
        match step {
            Step::Chat {
                anthropic,
                stream,
                model,
            } => {
                let body = chat_body(*anthropic, *stream, model, "hello");
                answers.push(everything_in(h.post(path(*anthropic), &body).await).await);
            }
            Step::WrongKey { anthropic, tail } => {
                let key = format!("clr_{}_{tail}", h.key_id);
                tried_keys.push(key.clone());
                let body = chat_body(*anthropic, false, "gpt-5", "hello");
                let response = h.post_with_key(path(*anthropic), &body, Some(&key)).await;
                answers.push(everything_in(response).await);
            }
            Step::ProviderEchoes { status, anthropic } => {
                let echoed = format!(
                    "Incorrect API key provided: {}. Request had Authorization: Bearer {} and x-api-key {}",
                    h.provider_key, h.provider_key, h.key
                );
                for upstream in UPSTREAMS {
                    h.fake.set_behavior(
                        Some(upstream),
                        Behavior {
                            status: Some(*status),
                            error_message: Some(echoed.clone()),
                            ..Behavior::default()
                        },
                    );
                }
                let body = chat_body(*anthropic, false, "mythos-5", "hello");
                answers.push(everything_in(h.post(path(*anthropic), &body).await).await);
                for upstream in UPSTREAMS {
                    h.fake.set_behavior(Some(upstream), Behavior::default());
                }
            }
            Step::KeyInPrompt => {
                // The fake echoes the prompt, so this answer holds the caller's own key by
                // design; it is checked only through the log and the record.
                let body = chat_body(false, false, "gpt-5", &format!("my key is {}", h.key));
                let _ = h.post("/v1/chat/completions", &body).await.text().await;
            }
            Step::Admin { wrong_token } => {
                let (status, body) = h
                    .admin(
                        reqwest::Method::GET,
                        "/admin/status",
                        Some(wrong_token),
                        None,
                    )
                    .await;
                assert_eq!(status, 401, "{body}");
                answers.push(body.to_string());
                let (status, body) = h
                    .admin(
                        reqwest::Method::GET,
                        "/admin/status",
                        Some(admin_token),
                        None,
                    )
                    .await;
                assert_eq!(status, 200, "{body}");
                answers.push(body.to_string());
                tried_keys.push(wrong_token.clone());
            }
        }
    }
    (answers, tried_keys)
}

/// The store's files as text (the database, its WAL), for a secret written anywhere in them.
fn store_files(h: &Harness) -> String {
    let mut text = String::new();
    for suffix in ["", "-wal"] {
        let path = format!("{}{suffix}", h.db_path.display());
        if let Ok(bytes) = std::fs::read(&path) {
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    text
}

fn assert_absent(secret: &str, what: &str, haystack: &str, context: &str) {
    assert!(
        !haystack.contains(secret),
        "{what} `{secret}` found in {context}: …{}…",
        around(haystack, secret)
    );
}

fn around<'a>(haystack: &'a str, needle: &str) -> &'a str {
    let at = haystack.find(needle).unwrap_or(0);
    let start = haystack.floor_char_boundary(at.saturating_sub(120));
    let end = haystack.ceil_char_boundary((at + needle.len() + 120).min(haystack.len()));
    &haystack[start..end]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn no_secret_reaches_a_log_line_an_answer_or_the_record(
        provider_key in provider_key(),
        admin_token in "[A-Za-z0-9_-]{20,48}",
        steps in prop::collection::vec(step(), 3..9),
    ) {
        let capture = capture();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut h = Harness::start_with(Options {
                provider_key: provider_key.clone(),
                admin_token: admin_token.clone(),
                ..Options::default()
            })
            .await;
            let (answers, tried) = run(&h, &admin_token, &steps).await;
            let requests = steps.iter().filter(|s| !matches!(s, Step::Admin { .. })).count();
            let records = h.wait_for_records(requests).await;
            h.stop().await;
            let records = serde_json::to_string(&records).unwrap();
            let files = store_files(&h);
            let log = capture.lines().join("\n");
            let client_secret = h.key.rsplit_once('_').map_or(h.key.as_str(), |(_, s)| s);
            let mut secrets = vec![
                ("provider key", provider_key.as_str()),
                ("admin token", admin_token.as_str()),
                ("client key", h.key.as_str()),
                ("client key's secret part", client_secret),
            ];
            secrets.extend(tried.iter().map(|k| ("a key or token a client tried", k.as_str())));
            for (what, secret) in &secrets {
                assert_absent(secret, what, &log, "the log");
                assert_absent(secret, what, &records, "the audit records");
                assert_absent(secret, what, &files, "the store's files");
                for answer in &answers {
                    if *what != "a key or token a client tried" {
                        assert_absent(secret, what, answer, "an answer");
                    }
                }
            }
        });
    }
}

/// The one global subscriber of this test binary, installed by the first case.
fn capture() -> Capture {
    static CAPTURE: std::sync::OnceLock<Capture> = std::sync::OnceLock::new();
    CAPTURE
        .get_or_init(|| {
            let capture = Capture::default();
            tracing::subscriber::set_global_default(capture.clone()).unwrap();
            capture
        })
        .clone()
}
