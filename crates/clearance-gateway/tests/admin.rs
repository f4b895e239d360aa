//! The admin API: its own credential, key management that takes effect on the running
//! gateway, principals with derived facts, audit verification.
#![allow(clippy::unwrap_used)]

mod harness;

use harness::{ADMIN_TOKEN, Harness, OPENAI_BODY};
use serde_json::json;

#[tokio::test]
async fn admin_routes_need_the_admin_token_and_a_client_key_is_not_one() {
    let h = Harness::start().await;
    let (status, body) = h
        .admin(reqwest::Method::GET, "/admin/keys", None, None)
        .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["type"], "authentication_error");
    let (status, _) = h
        .admin(reqwest::Method::GET, "/admin/keys", Some(&h.key), None)
        .await;
    assert_eq!(status, 401, "a client key does not open the admin API");
    let (status, body) = h
        .admin(reqwest::Method::GET, "/admin/keys", Some(ADMIN_TOKEN), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"][0]["id"], h.key_id.as_str());
    assert!(
        !body.to_string().contains(&h.key),
        "secrets are never listed"
    );
}

#[tokio::test]
async fn a_key_created_over_the_admin_api_works_and_revoking_it_takes_effect_within_a_second() {
    let h = Harness::start().await;
    let (status, created) = h
        .admin(
            reqwest::Method::POST,
            "/admin/keys",
            Some(ADMIN_TOKEN),
            Some(json!({"principal": "bjorn"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let key = created["key"].as_str().unwrap().to_string();
    let id = created["id"].as_str().unwrap().to_string();
    h.await_key_status(&key, 200, "a new key is accepted").await;
    let (status, _) = h
        .admin(
            reqwest::Method::POST,
            &format!("/admin/keys/{id}/revoke"),
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(status, 200);
    h.await_key_status(&key, 401, "a revoked key is refused")
        .await;
    let (status, _) = h
        .admin(
            reqwest::Method::POST,
            &format!("/admin/keys/{id}/revoke"),
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(status, 404, "already revoked");
    let (status, body) = h
        .admin(
            reqwest::Method::POST,
            "/admin/keys",
            Some(ADMIN_TOKEN),
            Some(json!({"principal": "nobody"})),
        )
        .await;
    assert_eq!(status, 404);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not in the registry")
    );
    let (status, _) = h
        .admin(
            reqwest::Method::POST,
            "/admin/keys",
            Some(ADMIN_TOKEN),
            Some(json!({"principal": "x", "admin": true})),
        )
        .await;
    assert_eq!(status, 400, "unknown fields are refused");

    // Every change made, and every one refused, is on the record before its answer came:
    // who (the admin API), what (key and principal), never the key itself.
    let actions: Vec<(String, String, u64)> = h
        .audit_records()
        .await
        .iter()
        .filter(|r| r["decision"] == "admin")
        .map(|r| {
            assert_eq!(r["admin"]["actor"], "admin-api");
            assert!(
                !r.to_string().contains(&key),
                "the secret never reaches the record"
            );
            (
                r["admin"]["action"].as_str().unwrap().to_string(),
                r["admin"]["target"].as_str().unwrap().to_string(),
                r["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("key_create".to_string(), "bjorn".to_string(), 201),
            ("key_revoke".to_string(), id.clone(), 200),
            ("key_revoke".to_string(), id.clone(), 404),
            ("key_create".to_string(), "nobody".to_string(), 404),
        ]
    );
    let created_record = h
        .audit_records()
        .await
        .into_iter()
        .find(|r| r["admin"]["action"] == "key_create")
        .unwrap();
    assert_eq!(created_record["admin"]["details"]["key_id"], id.as_str());
    assert_eq!(created_record["admin"]["details"]["principal"], "bjorn");
}

#[tokio::test]
async fn admin_shows_principals_with_derived_facts_and_verifies_the_audit_chain() {
    let h = Harness::start().await;
    let (status, bjorn) = h
        .admin(
            reqwest::Method::GET,
            "/admin/principals/bjorn",
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (bjorn["us_person"].as_bool(), bjorn["residence"].as_str()),
        (Some(false), Some("US"))
    );
    let (status, _) = h
        .admin(
            reqwest::Method::GET,
            "/admin/principals/nobody",
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(status, 404);
    h.post("/v1/chat/completions", OPENAI_BODY).await;
    h.wait_for_records(1).await;
    let (status, report) = h
        .admin(
            reqwest::Method::GET,
            "/admin/audit/verify",
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(report["ok"], true);
    let logs = report["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 1, "one gateway, one log: {report}");
    assert_eq!(
        logs[0]["closed"], false,
        "the running gateway's log is open"
    );
    // Its opening record and the request's decision record, and perhaps already its completion.
    assert!(
        report["verified_records"].as_u64().unwrap() >= 2,
        "{report}"
    );
}
