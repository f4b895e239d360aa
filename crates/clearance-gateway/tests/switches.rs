//! Kill switches over the admin API: a real gateway on a real port, a real SQLite file.
//! A change is stored, in force and audited when the call returns, and survives a restart.
#![allow(clippy::unwrap_used)]

mod harness;

use clearance_store::Store;
use harness::{ADMIN_TOKEN, Harness};
use reqwest::Method;
use serde_json::{Value, json};

async fn disable(h: &Harness, model: &str, body: Option<Value>) -> (u16, Value) {
    h.admin(
        Method::POST,
        &format!("/admin/models/{model}/disable"),
        Some(ADMIN_TOKEN),
        body,
    )
    .await
}

async fn enable(h: &Harness, model: &str, body: Option<Value>) -> (u16, Value) {
    h.admin(
        Method::POST,
        &format!("/admin/models/{model}/enable"),
        Some(ADMIN_TOKEN),
        body,
    )
    .await
}

/// `GET /admin/models`, as a map from model name to its row.
async fn models(h: &Harness) -> std::collections::BTreeMap<String, Value> {
    let (status, body) = h
        .admin(Method::GET, "/admin/models", Some(ADMIN_TOKEN), None)
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| (row["model"].as_str().unwrap().to_string(), row.clone()))
        .collect()
}

async fn metrics(h: &Harness) -> String {
    h.http
        .get(h.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn gauge(metrics: &str, model: &str) -> Option<String> {
    let prefix = format!("clearance_model_disabled{{model=\"{model}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(str::to_string)
}

/// The stored admin records, oldest first.
async fn admin_records(h: &Harness) -> Vec<Value> {
    h.audit_records()
        .await
        .into_iter()
        .filter(|r| r["decision"] == "admin")
        .collect()
}

async fn wait_for_admin_records(h: &Harness, n: usize) -> Vec<Value> {
    for _ in 0..200 {
        let records = admin_records(h).await;
        if records.len() >= n {
            return records;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("fewer than {n} admin audit records after 4 s");
}

#[tokio::test]
async fn a_disabled_model_is_listed_with_its_reason_audited_without_the_token_and_enabled_again() {
    let h = Harness::start().await;
    let before = models(&h).await;
    assert_eq!(before.len(), 5, "every configured model is listed");
    assert_eq!(before["mythos-5"]["disabled"], false);
    assert_eq!(before["mythos-5"]["provider"], "acme");
    assert_eq!(
        before["mythos-5"]["tags"],
        json!(["frontier", "controlled"])
    );
    assert_eq!(gauge(&metrics(&h).await, "mythos-5").as_deref(), Some("0"));

    let (status, row) = disable(
        &h,
        "mythos-5",
        Some(json!({"reason": "  incident 42: answers leak system prompts  "})),
    )
    .await;
    assert_eq!(status, 200, "{row}");
    assert_eq!(row["model"], "mythos-5");
    assert_eq!(row["disabled"], true);
    assert_eq!(row["reason"], "incident 42: answers leak system prompts");
    assert_eq!(row["actor"], "admin-api");

    let listed = models(&h).await;
    let mythos = &listed["mythos-5"];
    assert_eq!(mythos["disabled"], true);
    assert_eq!(mythos["reason"], "incident 42: answers leak system prompts");
    assert_eq!(mythos["actor"], "admin-api");
    let since = chrono::DateTime::parse_from_rfc3339(mythos["since"].as_str().unwrap()).unwrap();
    assert!((chrono::Utc::now() - since.to_utc()).num_seconds().abs() < 60);
    assert_eq!(listed["gpt-5"]["disabled"], false, "only the named model");
    assert_eq!(listed["gpt-5"]["reason"], Value::Null);
    let text = metrics(&h).await;
    assert_eq!(gauge(&text, "mythos-5").as_deref(), Some("1"));
    assert_eq!(gauge(&text, "gpt-5").as_deref(), Some("0"));

    let records = wait_for_admin_records(&h, 1).await;
    let record = &records[0];
    assert_eq!(record["status"], 200);
    assert_eq!(
        record["admin"],
        json!({
            "action": "model_disable",
            "target": "mythos-5",
            "reason": "incident 42: answers leak system prompts",
            "actor": "admin-api",
        })
    );
    assert_eq!(record["principal_id"], Value::Null);
    assert_eq!(record["requested_model"], Value::Null);

    let (status, row) = enable(&h, "mythos-5", None).await;
    assert_eq!(status, 200, "{row}");
    assert_eq!(row["disabled"], false);
    assert_eq!(row["reason"], Value::Null);
    assert_eq!(models(&h).await["mythos-5"]["disabled"], false);
    assert_eq!(gauge(&metrics(&h).await, "mythos-5").as_deref(), Some("0"));
    let records = wait_for_admin_records(&h, 2).await;
    assert_eq!(records[1]["admin"]["action"], "model_enable");
    assert_eq!(records[1]["admin"].get("reason"), None, "none was given");

    for stored in h.stored_records().await {
        assert!(
            !stored.record_json.contains(ADMIN_TOKEN),
            "the admin token never reaches the audit log: {}",
            stored.record_json
        );
    }
    let (status, verified) = h
        .admin(Method::GET, "/admin/audit/verify", Some(ADMIN_TOKEN), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(verified["ok"], true, "{verified}");
    assert_eq!(verified["logs"].as_array().unwrap().len(), 1, "{verified}");

    let history = h.store.model_switch_history("mythos-5").await.unwrap();
    let states: Vec<bool> = history.iter().map(|s| s.disabled).collect();
    assert_eq!(states, [true, false], "both changes are kept in the store");
}

#[tokio::test]
async fn an_unknown_model_is_a_404_naming_it_and_the_configured_ones() {
    let h = Harness::start().await;
    let (status, body) = disable(&h, "no-such-model", Some(json!({"reason": "x"}))).await;
    assert_eq!(status, 404, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("`no-such-model`"), "{message}");
    assert!(
        message.contains("mythos-5"),
        "lists the known models: {message}"
    );
    assert_eq!(body["error"]["code"], "unknown_model");
    let (status, _) = enable(&h, "no-such-model", None).await;
    assert_eq!(status, 404);
    assert!(
        h.store.model_switches().await.unwrap().is_empty(),
        "nothing was stored"
    );
    // The attempts are audited with the status they got.
    let records = wait_for_admin_records(&h, 2).await;
    assert_eq!(records[0]["status"], 404);
    assert_eq!(records[0]["error_class"], "unknown_model");
}

#[tokio::test]
async fn disabling_needs_a_reason_of_at_most_500_characters() {
    let h = Harness::start().await;
    for body in [
        None,
        Some(json!({})),
        Some(json!({"reason": ""})),
        Some(json!({"reason": "   "})),
        Some(json!({"reason": null})),
        Some(json!({"reason": "é".repeat(501)})),
        Some(json!({"reason": "ok", "actor": "someone-else"})),
    ] {
        let (status, answer) = disable(&h, "gpt-5", body.clone()).await;
        assert_eq!(status, 400, "{body:?}: {answer}");
        assert_eq!(answer["error"]["type"], "invalid_request_error");
        assert_eq!(answer["error"]["param"], "reason", "{answer}");
    }
    let (status, answer) = disable(&h, "gpt-5", None).await;
    assert_eq!(status, 400);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("required"),
        "{answer}"
    );
    assert_eq!(models(&h).await["gpt-5"]["disabled"], false);
    let (status, answer) = disable(&h, "gpt-5", Some(json!({"reason": "é".repeat(500)}))).await;
    assert_eq!(status, 200, "exactly 500 characters is fine: {answer}");
}

#[tokio::test]
async fn the_switch_routes_need_the_admin_token() {
    let h = Harness::start().await;
    let attempts = [
        (Method::GET, "/admin/models", None),
        (
            Method::POST,
            "/admin/models/gpt-5/disable",
            Some(json!({"reason": "x"})),
        ),
        (Method::POST, "/admin/models/gpt-5/enable", None),
    ];
    for (method, path, body) in attempts {
        for token in [None, Some("wrong-token"), Some(h.key.as_str())] {
            let (status, answer) = h.admin(method.clone(), path, token, body.clone()).await;
            assert_eq!(status, 401, "{method} {path} with {token:?}: {answer}");
            assert_eq!(answer["error"]["type"], "authentication_error");
        }
    }
    assert!(h.store.model_switches().await.unwrap().is_empty());
    let records = h.wait_for_records(9).await;
    assert!(
        records
            .iter()
            .all(|r| r["admin"]["action"] == "admin_auth_failed" && r["status"] == 401),
        "no action, no record but of the failed authentications: {records:?}"
    );
    assert_eq!(
        records.len(),
        9,
        "each failed admin authentication is recorded"
    );
    // Past ten a minute they are counted, not recorded one by one: a flood cannot fill the log.
    for _ in 0..20 {
        h.admin(Method::GET, "/admin/models", Some("wrong-token"), None)
            .await;
    }
    let (_, verify) = h
        .admin(Method::GET, "/admin/models", Some("wrong-token"), None)
        .await;
    assert_eq!(verify["error"]["type"], "authentication_error");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let failures = h
        .audit_records()
        .await
        .into_iter()
        .filter(|r| r["admin"]["action"] == "admin_auth_failed")
        .count();
    assert_eq!(
        failures, 10,
        "at most ten failed authentications recorded a minute"
    );
    assert_eq!(models(&h).await["gpt-5"]["disabled"], false);
}

#[tokio::test]
async fn a_disabled_model_stays_disabled_after_a_restart_and_an_enabled_one_enabled() {
    let mut h = Harness::start().await;
    let (status, _) = disable(&h, "fable-5", Some(json!({"reason": "legal hold"}))).await;
    assert_eq!(status, 200);
    let (status, _) = disable(&h, "gpt-5", Some(json!({"reason": "outage"}))).await;
    assert_eq!(status, 200);
    let (status, _) = enable(&h, "gpt-5", Some(json!({"reason": "provider is back"}))).await;
    assert_eq!(status, 200);

    h.restart().await;
    let listed = models(&h).await;
    assert_eq!(listed["fable-5"]["disabled"], true);
    assert_eq!(listed["fable-5"]["reason"], "legal hold");
    assert_eq!(listed["fable-5"]["actor"], "admin-api");
    assert_eq!(listed["gpt-5"]["disabled"], false);
    let text = metrics(&h).await;
    assert_eq!(gauge(&text, "fable-5").as_deref(), Some("1"), "set on load");
    assert_eq!(gauge(&text, "gpt-5").as_deref(), Some("0"));
    let records = admin_records(&h).await;
    let actions: Vec<&str> = records
        .iter()
        .map(|r| r["admin"]["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["model_disable", "model_disable", "model_enable"]);
    assert_eq!(records[2]["admin"]["reason"], "provider is back");

    let (status, _) = enable(&h, "fable-5", None).await;
    assert_eq!(status, 200);
    h.restart().await;
    assert_eq!(models(&h).await["fable-5"]["disabled"], false);
}
