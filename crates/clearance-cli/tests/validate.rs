//! Validated fallbacks end to end, against fake providers that speak the real wire formats:
//! `clearance validate` (one candidate passes, one whose provider answers 503 and one whose
//! answers miss the regex fail), the standing a running gateway picks up without a restart
//! (status, `validated_only` skipping the untested, the audit record saying so), resuming an
//! interrupted run, capture with redaction and `suites draft`, and `clearance deps` over the
//! traffic that followed.
#![allow(clippy::unwrap_used)]
#![allow(
    clippy::disallowed_methods,
    reason = "a test reads where its database is from the environment, and may block its own thread"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use clearance_fake::{Behavior, FakeServer};
use serde_json::{Value, json};

mod common;

use common::{BIN, Served, as_str, free_port, stderr, stdout, write_file};

const TOKEN_ENV: &str = "VALIDATE_TEST_ADMIN_TOKEN";
const TOKEN: &str = "validate-test-admin-token";
const GOOD_ANSWER: &str = "Refunds take 30 days. Start a return from your orders page.";

const SUITE: &str = r#"
name = "refunds"

[[cases]]
id = "window"
messages = [{ role = "user", content = "How long do refunds take?" }]
checks = [{ contains = "30 days" }, { regex = "(?i)refund" }]

[[cases]]
id = "start"
weight = 2.0
messages = [{ role = "user", content = "How do I start a return?" }]
checks = [
  { regex = "(?i)return" },
  { similar_to = { reference = "Refunds take 30 days. Start a return from your orders page.", threshold = 0.6 } },
]

[[cases]]
id = "anthropic-shaped"
format = "anthropic"
messages = [{ role = "user", content = [{ type = "text", text = "Refund window?" }] }]
checks = [{ contains = "30 days" }]
"#;

struct Setup {
    dir: tempfile::TempDir,
    fake: FakeServer,
    config: PathBuf,
}

impl Setup {
    /// Four models on the fake: `primary` and `broken` (OpenAI), `good` (Anthropic: the cases
    /// are translated), `wrong` (Gemini). `good` and `primary` answer [`GOOD_ANSWER`], `broken`
    /// answers 503, `wrong` answers beside the point.
    async fn new(extra: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let fake = FakeServer::start("127.0.0.1:0").await.unwrap();
        let answer = |reply: &str| Behavior {
            reply: Some(reply.into()),
            ..Default::default()
        };
        fake.set_behavior(Some("primary-up"), answer(GOOD_ANSWER));
        fake.set_behavior(Some("good-up"), answer(GOOD_ANSWER));
        fake.set_behavior(
            Some("wrong-up"),
            answer("I am sorry, I cannot help with that."),
        );
        fake.set_behavior(
            Some("broken-up"),
            Behavior {
                status: Some(503),
                ..Default::default()
            },
        );
        let port = free_port();
        let config = write_file(
            dir.path(),
            "clearance.toml",
            &format!(
                r#"[server]
listen = "127.0.0.1:{port}"
admin_token_env = "{TOKEN_ENV}"

[store]
sqlite = "clearance.db"

[providers.openlab]
kind = "openai"
base_url = "{openai}"

[providers.acme]
kind = "anthropic"
base_url = "{anthropic}"

[providers.gem]
kind = "gemini"
base_url = "{gemini}"

[[models]]
name = "primary"
provider = "openlab"
upstream = "primary-up"
input_price_per_mtok = 3.0
output_price_per_mtok = 15.0

[[models]]
name = "good"
provider = "acme"
upstream = "good-up"

[[models]]
name = "broken"
provider = "openlab"
upstream = "broken-up"

[[models]]
name = "wrong"
provider = "gem"
upstream = "wrong-up"

[validation]
retries = 1
case_timeout_ms = 10000

{extra}
"#,
                openai = fake.openai_base_url(),
                anthropic = fake.anthropic_base_url(),
                gemini = fake.gemini_base_url(),
            ),
        );
        write_file(dir.path(), "suite.toml", SUITE);
        Setup { dir, fake, config }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .args(["--config", as_str(&self.config)])
            .env(TOKEN_ENV, TOKEN)
            .current_dir(self.path())
            .output()
            .unwrap()
    }

    fn validate(&self, candidates: &str, format: &str) -> Output {
        self.run(&[
            "validate",
            "--suite",
            "suite.toml",
            "--primary",
            "primary",
            "--candidates",
            candidates,
            "--format",
            format,
        ])
    }

    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        stdout(&output)
    }

    /// A principal `alice` and a key named `app` for her; the key.
    fn key(&self, app: &str) -> String {
        let csv = write_file(self.path(), "p.csv", "id,citizenships\nalice,US\n");
        self.ok(&["principals", "import", as_str(&csv)]);
        let created = self.ok(&[
            "keys",
            "create",
            "--principal",
            "alice",
            "--name",
            app,
            "--format",
            "json",
        ]);
        serde_json::from_str::<Value>(&created).unwrap()["key"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn serve(&self) -> Served {
        Served::start(self.path(), &self.config, &[(TOKEN_ENV, TOKEN)])
    }
}

fn candidate<'a>(report: &'a Value, model: &str) -> &'a Value {
    report["summary"]["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["model"] == model)
        .unwrap_or_else(|| panic!("{model} not in {report}"))
}

async fn chat(base: &str, key: &str, model: &str, content: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({ "model": model, "messages": [{ "role": "user", "content": content }] }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn admin_status(base: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{base}/admin/status"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn route_validation<'a>(status: &'a Value, primary: &str, fallback: &str) -> &'a Value {
    let model = status["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == primary)
        .unwrap();
    model["route"]["validation"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["model"] == fallback)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_validation_run_decides_which_fallbacks_a_running_gateway_may_use() {
    let setup = Setup::new(
        r#"[[routes]]
model = "primary"
fallbacks = ["wrong", "broken", "good"]
validated_only = true
"#,
    )
    .await;
    let key = setup.key("support-bot");
    let served = setup.serve();
    // Before any run: nothing validated, and the status says so.
    let status = admin_status(&served.base).await;
    assert_eq!(
        route_validation(&status, "primary", "good")["state"],
        "unvalidated"
    );
    let warned = setup.run(&["check-config"]);
    assert!(warned.status.success());
    assert!(
        stderr(&warned).contains("fallback `good` has never been validated"),
        "{}",
        stderr(&warned)
    );

    let output = setup.validate("good,broken,wrong", "json");
    assert_eq!(
        output.status.code(),
        Some(1),
        "a failed candidate fails the command"
    );
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let primary = &report["summary"]["primary"];
    assert_eq!(primary["score"], 1.0, "{primary}");
    assert!(
        primary["cost_usd"].as_f64().unwrap() > 0.0,
        "priced: {primary}"
    );
    let good = candidate(&report, "good");
    assert_eq!(good["score"], 1.0);
    assert_eq!(good["validated"], true);
    let broken = candidate(&report, "broken");
    assert_eq!(broken["score"], 0.0);
    assert_eq!(broken["errors"], 3);
    assert!(
        broken["reason"].as_str().unwrap().contains("503"),
        "{broken}"
    );
    let wrong = candidate(&report, "wrong");
    assert_eq!(wrong["validated"], false);
    assert_eq!(wrong["failures_per_check"]["regex"], 2, "{wrong}");
    assert_eq!(wrong["failures_per_check"]["contains"], 2, "{wrong}");
    // broken was retried once per case (retries = 1): 2 calls for each of 3 cases.
    let broken_calls = setup
        .fake
        .requests()
        .iter()
        .filter(|r| r.body.to_string().contains("broken-up"))
        .count();
    assert_eq!(broken_calls, 6);
    // Every case of every model is stored with its verdicts.
    assert_eq!(report["cases"].as_array().unwrap().len(), 12);

    // The running gateway sees the new standings without a restart.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status = admin_status(&served.base).await;
        let good = route_validation(&status, "primary", "good");
        if good["state"] == "validated" {
            assert_eq!(good["score"], 1.0);
            assert_eq!(good["suite"], "refunds");
            assert_eq!(
                route_validation(&status, "primary", "wrong")["state"],
                "failed"
            );
            let text = setup.ok(&["status"]);
            let line = text.lines().find(|l| l.starts_with("primary")).unwrap();
            assert!(
                line.contains("-> wrong [FAILED 0.00 on refunds, ")
                    && line.contains("-> good [validated 1.00 on refunds, ")
                    && line.contains("validated only"),
                "{text}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "status never showed the run: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The primary goes dark: `wrong` and `broken` failed validation and are skipped; `good`
    // serves.
    setup.fake.set_behavior(
        Some("primary-up"),
        Behavior {
            status: Some(500),
            ..Default::default()
        },
    );
    let (code, body) = chat(&served.base, &key, "primary", "How long do refunds take?").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["model"], "good");
    let mut served = served;
    assert!(served.stop().success());

    let export = setup.ok(&["audit", "export", "--format", "jsonl"]);
    let completion = export
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|l| l["phase"] == "completion")
        .unwrap();
    let attempts: Vec<(String, String)> = completion["record"]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["model"].as_str().unwrap().to_string(),
                a["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        [
            ("primary".to_string(), "server_error".to_string()),
            ("wrong".to_string(), "unvalidated".to_string()),
            ("broken".to_string(), "unvalidated".to_string()),
            ("good".to_string(), "served".to_string()),
        ]
    );
    // The run is in the audit trail too, and the trail verifies.
    assert!(
        export.contains(r#""action":"validation""#),
        "the validation is recorded"
    );
    let verified = setup.run(&["audit", "verify"]);
    assert!(verified.status.success(), "{}", stdout(&verified));

    // deps: support-bot depends on `primary`, which has a validated fallback alice may use.
    let deps = setup.ok(&["deps", "--format", "json"]);
    let deps: Value = serde_json::from_str(&deps).unwrap();
    let app = &deps["apps"][0];
    assert_eq!(app["app"], "support-bot", "{deps}");
    let row = &app["rows"][0];
    assert_eq!(row["principal"], "alice");
    assert_eq!(row["model"], "primary");
    assert_eq!(row["requests"], 1);
    assert_eq!(row["single_point_of_failure"], false, "{row}");
    assert_eq!(row["served"][0]["model"], "good", "{row}");
    assert_eq!(row["fell_back"], 1, "{row}");
    let fallbacks = row["route"]["fallbacks"].as_array().unwrap();
    let states: Vec<(&str, &str)> = fallbacks
        .iter()
        .map(|f| (f["model"].as_str().unwrap(), f["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [
            ("wrong", "failed"),
            ("broken", "failed"),
            ("good", "validated")
        ]
    );
    assert_eq!(row["validated_fallback"], "good");
    // The same report in every other format.
    let text = setup.ok(&["deps"]);
    assert!(
        text.contains("support-bot") && text.contains("good validated 1.00"),
        "{text}"
    );
    let markdown = setup.ok(&["deps", "--format", "md"]);
    assert!(markdown.contains("| support-bot |"), "{markdown}");
    let wrote = setup.ok(&["deps", "--format", "html", "--out", "deps.html"]);
    assert!(wrote.starts_with("wrote "), "{wrote}");
    let html = std::fs::read_to_string(setup.path().join("deps.html")).unwrap();
    assert!(html.contains("data-app=\"support-bot\""), "{html}");
    // A draft that takes `good` from everyone leaves support-bot without a validated fallback.
    let draft = write_file(
        setup.path(),
        "no-good.toml",
        r#"id = "NO-GOOD"
title = "No good"
authority = "test"
effective = "2026-01-01T00:00:00Z"
mode = "enforce"
models = ["good"]
effect = "deny"
"#,
    );
    let with_draft = setup.run(&["deps", "--format", "json", "--directive", as_str(&draft)]);
    let with_draft_text = stdout(&with_draft);
    assert!(with_draft.status.success(), "{}", stderr(&with_draft));
    let with_draft: Value = serde_json::from_str(&with_draft_text).unwrap();
    let row = &with_draft["apps"][0]["rows"][0];
    assert!(row["draft_fallback"].is_null(), "{row}");
    assert_eq!(
        row["loses_primary"], false,
        "the draft leaves `primary` itself: {row}"
    );
    assert_eq!(with_draft["window"]["draft"], as_str(&draft));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_run_resumes_where_it_stopped() {
    let setup = Setup::new("").await;
    setup.fake.set_behavior(
        Some("good-up"),
        Behavior {
            reply: Some(GOOD_ANSWER.into()),
            delay_ms: Some(300),
            ..Default::default()
        },
    );
    let mut child = Command::new(BIN)
        .args(["validate", "--suite", "suite.toml", "--primary", "primary"])
        .args(["--candidates", "good", "--concurrency", "1"])
        .args(["--config", as_str(&setup.config)])
        .current_dir(setup.path())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    // Primary's three cases are quick; stop once `good` has been asked twice (its first case
    // is stored by then).
    let deadline = Instant::now() + Duration::from_secs(20);
    while setup
        .fake
        .requests()
        .iter()
        .filter(|r| r.body.to_string().contains("good-up"))
        .count()
        < 2
    {
        assert!(Instant::now() < deadline, "the run never reached `good`");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    setup.fake.clear_requests();

    let output = setup.validate("good", "text");
    let text = stdout(&output);
    assert!(output.status.success(), "{text}{}", stderr(&output));
    let resumed: usize = text
        .lines()
        .next()
        .and_then(|l| l.strip_suffix(" cases resumed from an interrupted run"))
        .and_then(|l| l.rsplit(' ').next())
        .unwrap_or_else(|| panic!("no resume line in:\n{text}"))
        .parse()
        .unwrap();
    assert!((4..6).contains(&resumed), "{text}");
    // Only what was missing was asked again.
    assert_eq!(setup.fake.requests().len(), 6 - resumed, "{text}");
    assert!(text.contains("VALIDATED"), "{text}");
    assert!(text.contains("pass rate"), "{text}");

    // A finished run is not resumed: the next one starts afresh.
    setup.fake.clear_requests();
    let again = setup.validate("good", "junit");
    assert!(again.status.success());
    assert_eq!(setup.fake.requests().len(), 6);
    let junit = stdout(&again);
    assert!(
        junit.contains("<testsuite name=\"good\" tests=\"3\" failures=\"0\">"),
        "{junit}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn captured_traffic_is_redacted_and_drafts_a_suite_the_primary_passes() {
    let setup = Setup::new(
        r#"[capture]
apps = ["support-bot"]
sample = 1.0
"#,
    )
    .await;
    let key = setup.key("support-bot");
    let mut served = setup.serve();
    for content in [
        "My email is jane.doe@example.com and my card 4111 1111 1111 1111: refund status?",
        "Call me on +1 415 555 0134 about my return",
    ] {
        let (code, _) = chat(&served.base, &key, "primary", content).await;
        assert_eq!(code, 200);
    }
    // Captures are stored off the request path: give them a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(served.stop().success());

    let drafted = setup.ok(&[
        "suites",
        "draft",
        "--from-capture",
        "support-bot",
        "--out",
        "drafted.toml",
    ]);
    assert!(drafted.contains("wrote 2 cases"), "{drafted}");
    let text = std::fs::read_to_string(setup.path().join("drafted.toml")).unwrap();
    for secret in [
        "jane.doe@example.com",
        "4111 1111 1111 1111",
        "415 555 0134",
    ] {
        assert!(!text.contains(secret), "{secret} leaked into:\n{text}");
    }
    assert!(
        text.contains("[email]") && text.contains("[card]") && text.contains("[phone]"),
        "{text}"
    );
    // Never overwritten.
    let again = setup.run(&[
        "suites",
        "draft",
        "--from-capture",
        "support-bot",
        "--out",
        "drafted.toml",
    ]);
    assert!(!again.status.success());
    // The primary passes its own draft; so does a candidate that answers the same.
    let output = setup.run(&[
        "validate",
        "--suite",
        "drafted.toml",
        "--primary",
        "primary",
        "--candidates",
        "good",
    ]);
    assert!(
        output.status.success(),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    assert!(
        stdout(&output).contains("100.0% (2/2)"),
        "{}",
        stdout(&output)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_runs_are_refused_with_what_was_wrong() {
    let setup = Setup::new("").await;
    let unknown = setup.validate("nope", "text");
    assert!(!unknown.status.success());
    assert!(
        stderr(&unknown).contains("unknown model `nope`"),
        "{}",
        stderr(&unknown)
    );
    write_file(
        setup.path(),
        "bad.toml",
        "[[cases]]\nid = \"x\"\nmessages = []\nchecks = []\n",
    );
    let bad = setup.run(&[
        "validate",
        "--suite",
        "bad.toml",
        "--primary",
        "primary",
        "--candidates",
        "good",
    ]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("bad.toml:1"), "{}", stderr(&bad));
    write_file(
        setup.path(),
        "judged.toml",
        "[[cases]]\nid = \"x\"\nmessages = [{ role = \"user\", content = \"hi\" }]\nchecks = [{ rubric = \"is polite\" }]\n",
    );
    let no_judge = setup.run(&[
        "validate",
        "--suite",
        "judged.toml",
        "--primary",
        "primary",
        "--candidates",
        "good",
    ]);
    assert!(!no_judge.status.success());
    assert!(
        stderr(&no_judge).contains("needs a judge"),
        "{}",
        stderr(&no_judge)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rubric_is_graded_by_the_judge_model_through_the_provider_layer() {
    let setup = Setup::new(
        r#"[[models]]
name = "judge"
provider = "openlab"
upstream = "judge-up"
"#,
    )
    .await;
    setup.fake.set_behavior(
        Some("judge-up"),
        Behavior {
            reply: Some("PASS: it gives the window.".into()),
            ..Default::default()
        },
    );
    write_file(
        setup.path(),
        "judged.toml",
        "judge = \"judge\"\n[[cases]]\nid = \"x\"\nmessages = [{ role = \"user\", content = \"Refund window?\" }]\nchecks = [{ rubric = \"Gives the refund window\" }]\n",
    );
    let passed = setup.run(&[
        "validate",
        "--suite",
        "judged.toml",
        "--primary",
        "primary",
        "--candidates",
        "good",
        "--format",
        "json",
    ]);
    assert!(passed.status.success(), "{}", stderr(&passed));
    // The judge saw the rubric and the answer.
    let judged: Vec<String> = setup
        .fake
        .requests()
        .iter()
        .filter(|r| r.body.to_string().contains("judge-up"))
        .map(|r| r.body.to_string())
        .collect();
    assert_eq!(judged.len(), 2);
    assert!(judged[0].contains("Gives the refund window") && judged[0].contains("30 days"));
    setup.fake.set_behavior(
        Some("judge-up"),
        Behavior {
            reply: Some("FAIL: no window.".into()),
            ..Default::default()
        },
    );
    let failed = setup.run(&[
        "validate",
        "--suite",
        "judged.toml",
        "--primary",
        "primary",
        "--candidates",
        "good",
        "--format",
        "json",
        "--fresh",
    ]);
    assert_eq!(failed.status.code(), Some(1));
    let report: Value = serde_json::from_str(&stdout(&failed)).unwrap();
    assert!(
        candidate(&report, "good")["reason"]
            .as_str()
            .unwrap()
            .contains("the judge said: FAIL"),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_re_runs_stored_suites_and_reports_a_fallback_that_dropped() {
    let setup = Setup::new(
        r#"[[routes]]
model = "primary"
fallbacks = ["good"]
"#,
    )
    .await;
    let first = setup.validate("good", "text");
    assert!(first.status.success(), "{}", stderr(&first));
    // The fallback's provider degrades after it was validated.
    setup.fake.set_behavior(
        Some("good-up"),
        Behavior {
            reply: Some("Sorry, no.".into()),
            ..Default::default()
        },
    );
    let config = std::fs::read_to_string(&setup.config).unwrap();
    std::fs::write(
        &setup.config,
        config.replace("[validation]\n", "[validation]\nevery = \"1s\"\n"),
    )
    .unwrap();
    let mut served = setup.serve();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = admin_status(&served.base).await;
        if route_validation(&status, "primary", "good")["state"] == "failed" {
            break;
        }
        assert!(Instant::now() < deadline, "never re-validated: {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let metrics = reqwest::get(format!("{}/metrics", served.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"clearance_validation_runs_total{outcome="dropped"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"clearance_fallback_validated{primary="primary",fallback="good"} 0"#),
        "{metrics}"
    );
    assert!(served.stop().success());
    // The re-run is in the audit trail, by `serve`.
    let export = setup.ok(&["audit", "export", "--format", "jsonl"]);
    assert!(
        export.contains(r#""action":"validation""#) && export.contains(r#""actor":"serve""#),
        "{export}"
    );
}
