//! SCIM 2.0 provisioning over real HTTP, with requests as Okta and Entra ID send them (the
//! fixtures of `clearance-scim`): a provisioned user's facts decide their requests, a PATCH
//! moving them out of the US flips the decision on the very next request, deactivation cuts
//! their key at once, group membership becomes roles, and every change is on the record.
#![allow(clippy::unwrap_used)]
#![allow(
    clippy::disallowed_methods,
    reason = "a test reads its fixtures and may block its own thread"
)]

mod harness;

use harness::{Harness, Options, SCIM_TOKEN, create_key, header};
use serde_json::{Value, json};

const SCIM: &str = "application/scim+json";
const EFFECTIVE: &str = "2026-06-15T00:00:00Z";

fn directive(id: &str, body: &str) -> (&'static str, String) {
    (
        Box::leak(format!("{id}.toml").into_boxed_str()),
        format!(
            "id = \"{id}\"\ntitle = \"Export control {id}\"\nauthority = \"Order {id}\"\n\
             effective = \"{EFFECTIVE}\"\nreview = \"mailto:export-review@example.com\"\n{body}\n"
        ),
    )
}

/// A gateway with SCIM on; gpt-5 is denied to non-US persons, open-model to anyone outside
/// the `export-reviewers` role.
async fn gateway() -> Harness {
    Harness::start_with(Options {
        directives: vec![
            directive(
                "EXD-PERSON",
                "mode = \"enforce\"\nmodels = [\"gpt-5\"]\nwhen = \"!principal.us_person\"\neffect = \"deny\"",
            ),
            directive(
                "EXD-REVIEWERS",
                "mode = \"enforce\"\nmodels = [\"open-model\"]\nwhen = '!principal.roles.contains(\"export-reviewers\")'\neffect = \"deny\"",
            ),
        ],
        extra_config: "[identity.scim]\ntoken_env = \"SCIM_TOKEN\"\n".into(),
        ..Options::default()
    })
    .await
}

fn fixture(path: &str, user_id: &str) -> Value {
    let text = std::fs::read_to_string(format!(
        "{}/../clearance-scim/tests/fixtures/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    serde_json::from_str(
        &text
            .replace("{user_id}", user_id)
            .replace("{group_id}", "ignored"),
    )
    .unwrap()
}

/// Sends a SCIM request with `token`: status, headers, JSON body (null when none).
async fn scim(
    h: &Harness,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
    extra: &[(&str, &str)],
    token: &str,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = h
        .http
        .request(method, h.url(&format!("/scim/v2{path}")))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.header("content-type", SCIM).body(body.to_string());
    }
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

async fn call(
    h: &Harness,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    scim(h, method, path, body, &[], SCIM_TOKEN).await
}

async fn ask(h: &Harness, key: &str, model: &str) -> u16 {
    let body = format!(r#"{{"model":"{model}","messages":[{{"role":"user","content":"hello"}}]}}"#);
    h.post_with_key("/v1/chat/completions", &body, Some(key))
        .await
        .status()
        .as_u16()
}

/// Creates Entra ID's user (a US citizen living in the US) and a key for its principal.
async fn provisioned(h: &Harness) -> (String, String) {
    let (status, headers, user) = call(
        h,
        reqwest::Method::POST,
        "/Users",
        Some(&fixture("entra/create_user.json", "")),
    )
    .await;
    assert_eq!(status, 201, "{user}");
    let id = user["id"].as_str().unwrap().to_string();
    assert_eq!(
        headers["location"].to_str().unwrap(),
        h.url(&format!("/scim/v2/Users/{id}"))
    );
    assert_eq!(headers["content-type"], SCIM);
    assert_eq!(headers["etag"], "W/\"1\"");
    let key = key_for(h, user["userName"].as_str().unwrap()).await;
    (id, key)
}

/// A new key for `principal`, once the gateway knows it (keys load on the next poll).
async fn key_for(h: &Harness, principal: &str) -> String {
    let (key, _) = create_key(h.store.as_ref(), principal).await;
    let since = std::time::Instant::now();
    while ask(h, &key, "fable-5").await == 401 {
        assert!(
            since.elapsed() < std::time::Duration::from_secs(2),
            "the key never loaded"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    key
}

#[tokio::test]
async fn an_entra_patch_moving_the_user_flips_the_decision_on_the_next_request() {
    let h = gateway().await;
    let (id, key) = provisioned(&h).await;
    assert_eq!(
        ask(&h, &key, "gpt-5").await,
        200,
        "a US citizen may use gpt-5"
    );
    let (status, headers, user) = call(
        &h,
        reqwest::Method::PATCH,
        &format!("/Users/{id}"),
        Some(&fixture("entra/move_user.json", "")),
    )
    .await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(headers["etag"], "W/\"2\"");
    assert_eq!(
        user["urn:ietf:params:scim:schemas:extension:clearance:2.0:User"]["residence"],
        "CN"
    );
    assert_eq!(
        ask(&h, &key, "gpt-5").await,
        451,
        "the very next request is denied"
    );
    let principal = h
        .admin_json(&format!(
            "/admin/principals/{}",
            user["userName"].as_str().unwrap()
        ))
        .await;
    assert_eq!(principal["citizenships"], json!(["CN"]));
    assert_eq!(principal["org"], "Shanghai Lab");
    assert!(principal["facts_confirmed_at"].is_string(), "{principal}");

    // Both changes are on the record with the facts before and after; the trail verifies.
    let records = h.audit_records().await;
    let patch = records
        .iter()
        .find(|r| r["admin"]["action"] == "scim_user_patch")
        .unwrap();
    assert_eq!(patch["admin"]["actor"], "scim");
    let change = &patch["admin"]["details"]["principals"][0];
    assert_eq!(change["before"]["citizenships"], json!(["US"]));
    assert_eq!(change["after"]["citizenships"], json!(["CN"]));
    assert!(
        records
            .iter()
            .any(|r| r["admin"]["action"] == "scim_user_create")
    );
    assert!(
        !serde_json::to_string(&records)
            .unwrap()
            .contains(SCIM_TOKEN)
    );
    let verify = h.admin_json("/admin/audit/verify").await;
    assert_eq!(verify["ok"], true, "{verify}");
}

#[tokio::test]
async fn okta_deactivation_cuts_the_key_at_once_and_reactivation_restores_it() {
    let h = gateway().await;
    let (status, _, user) = call(
        &h,
        reqwest::Method::POST,
        "/Users",
        Some(&fixture("okta/create_user.json", "")),
    )
    .await;
    assert_eq!(status, 201, "{user}");
    assert!(
        user.get("password").is_none(),
        "a password is never kept or shown"
    );
    let id = user["id"].as_str().unwrap();
    let key = key_for(&h, "test.user@okta.local").await;
    assert_eq!(ask(&h, &key, "gpt-5").await, 200);
    let (status, _, user) = call(
        &h,
        reqwest::Method::PATCH,
        &format!("/Users/{id}"),
        Some(&fixture("okta/deactivate_user.json", "")),
    )
    .await;
    assert_eq!((status, &user["active"]), (200, &json!(false)));
    assert_eq!(
        ask(&h, &key, "gpt-5").await,
        403,
        "refused on the very next request"
    );
    // Entra ID's "Replace" with a string boolean turns it back on.
    let enable = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": "active", "value": "True"}]});
    let (status, _, _) = call(
        &h,
        reqwest::Method::PATCH,
        &format!("/Users/{id}"),
        Some(&enable),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(ask(&h, &key, "gpt-5").await, 200);
    // Deleted: the principal goes, and so does the key's access.
    let (status, _, _) = call(&h, reqwest::Method::DELETE, &format!("/Users/{id}"), None).await;
    assert_eq!(status, 204);
    assert_eq!(ask(&h, &key, "gpt-5").await, 403);
    let (status, _, body) = call(&h, reqwest::Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(
        body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
}

#[tokio::test]
async fn group_membership_becomes_roles_a_directive_reads() {
    let h = gateway().await;
    let (user_id, key) = provisioned(&h).await;
    assert_eq!(ask(&h, &key, "open-model").await, 451, "not yet a reviewer");
    let (status, _, group) = call(
        &h,
        reqwest::Method::POST,
        "/Groups",
        Some(&fixture("entra/create_group.json", "")),
    )
    .await;
    assert_eq!(status, 201, "{group}");
    let group_id = group["id"].as_str().unwrap().to_string();
    let (status, _, _) = call(
        &h,
        reqwest::Method::PATCH,
        &format!("/Groups/{group_id}"),
        Some(&fixture("entra/add_member.json", &user_id)),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        ask(&h, &key, "open-model").await,
        200,
        "the role arrived with the membership"
    );
    let (_, _, user) = call(&h, reqwest::Method::GET, &format!("/Users/{user_id}"), None).await;
    assert_eq!(user["groups"][0]["display"], "export-reviewers");
    // Entra asks for groups without members; Okta's filtered remove takes the user out.
    let (_, _, listed) = call(
        &h,
        reqwest::Method::GET,
        "/Groups?excludedAttributes=members&filter=displayName%20eq%20%22export-reviewers%22",
        None,
    )
    .await;
    assert_eq!(listed["totalResults"], 1);
    assert!(listed["Resources"][0].get("members").is_none());
    let (status, _, _) = call(
        &h,
        reqwest::Method::PATCH,
        &format!("/Groups/{group_id}"),
        Some(&fixture("okta/remove_member.json", &user_id)),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(ask(&h, &key, "open-model").await, 451);
    let records = h.audit_records().await;
    let removal = records
        .iter()
        .rfind(|r| r["admin"]["action"] == "scim_group_patch")
        .unwrap();
    let change = &removal["admin"]["details"]["principals"][0];
    assert_eq!(change["before"]["roles"], json!(["export-reviewers"]));
    assert_eq!(change["after"]["roles"], json!([]));
}

#[tokio::test]
async fn filters_and_paging_as_identity_providers_query() {
    let h = gateway().await;
    for i in 1..=5 {
        let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": format!("user{i}@example.com"), "externalId": format!("ext-{i}"), "active": true});
        let (status, _, _) = call(&h, reqwest::Method::POST, "/Users", Some(&body)).await;
        assert_eq!(status, 201);
    }
    let (_, _, page) = call(
        &h,
        reqwest::Method::GET,
        "/Users?startIndex=1&count=2",
        None,
    )
    .await;
    assert_eq!(
        (page["totalResults"].as_u64(), page["itemsPerPage"].as_u64()),
        (Some(5), Some(2))
    );
    assert_eq!(page["Resources"][0]["userName"], "user1@example.com");
    let (_, _, page) = call(
        &h,
        reqwest::Method::GET,
        "/Users?startIndex=5&count=2",
        None,
    )
    .await;
    assert_eq!(page["Resources"][0]["userName"], "user5@example.com");
    assert_eq!(page["itemsPerPage"], 1);
    let query = |f: &str| format!("/Users?filter={}", url_encode(f));
    let (_, _, found) = call(
        &h,
        reqwest::Method::GET,
        &query(r#"userName eq "USER3@example.com""#),
        None,
    )
    .await;
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["externalId"], "ext-3");
    let (_, _, found) = call(
        &h,
        reqwest::Method::GET,
        &query(r#"externalId eq "ext-1" or externalId eq "ext-2""#),
        None,
    )
    .await;
    assert_eq!(found["totalResults"], 2);
    let (_, _, found) = call(
        &h,
        reqwest::Method::GET,
        &query(r#"meta.lastModified gt "2000-01-01T00:00:00Z" and userName sw "user""#),
        None,
    )
    .await;
    assert_eq!(found["totalResults"], 5);
    let (status, _, error) = call(&h, reqwest::Method::GET, &query("userName eq"), None).await;
    assert_eq!(
        (status, error["scimType"].as_str()),
        (400, Some("invalidFilter"))
    );
}

fn url_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn if_match_guards_writes_and_bad_input_gets_its_scim_type() {
    let h = gateway().await;
    let (id, _) = provisioned(&h).await;
    let path = format!("/Users/{id}");
    let disable = fixture("entra/disable_user.json", "");
    let (status, _, error) = scim(
        &h,
        reqwest::Method::PATCH,
        &path,
        Some(&disable),
        &[("if-match", "W/\"7\"")],
        SCIM_TOKEN,
    )
    .await;
    assert_eq!(status, 412, "{error}");
    let (status, _, _) = scim(
        &h,
        reqwest::Method::PATCH,
        &path,
        Some(&disable),
        &[("if-match", "W/\"1\"")],
        SCIM_TOKEN,
    )
    .await;
    assert_eq!(status, 200);

    let bad_country = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:clearance:2.0:User:residence", "value": "XX"}]});
    let (status, _, error) = call(&h, reqwest::Method::PATCH, &path, Some(&bad_country)).await;
    assert_eq!(
        (status, error["scimType"].as_str()),
        (400, Some("invalidValue"))
    );
    let detail = error["detail"].as_str().unwrap();
    assert!(detail.contains("clearance:2.0:User:residence"), "{detail}");
    let (status, _, error) = call(
        &h,
        reqwest::Method::POST,
        "/Users",
        Some(&fixture("entra/create_user.json", "")),
    )
    .await;
    assert_eq!(
        (status, error["scimType"].as_str()),
        (409, Some("uniqueness"))
    );
    let (status, _, error) = call(
        &h,
        reqwest::Method::POST,
        "/Users",
        Some(&json!({"displayName": "no userName"})),
    )
    .await;
    assert_eq!(
        (status, error["scimType"].as_str()),
        (400, Some("invalidValue"))
    );
    let (status, _, error) = call(
        &h,
        reqwest::Method::PATCH,
        &path,
        Some(&json!({"Operations": [{"op": "replace", "path": "id", "value": "x"}]})),
    )
    .await;
    assert_eq!(
        (status, error["scimType"].as_str()),
        (400, Some("mutability"))
    );

    // A wrong token, the admin token and no token are all 401, in the SCIM shape.
    for token in ["wrong", harness::ADMIN_TOKEN, ""] {
        let (status, headers, body) =
            scim(&h, reqwest::Method::GET, "/Users", None, &[], token).await;
        assert_eq!(status, 401);
        assert!(headers.contains_key("www-authenticate"));
        assert_eq!(body["status"], "401");
    }
    // The SCIM token opens nothing else.
    let (status, _) = h
        .admin(reqwest::Method::GET, "/admin/keys", Some(SCIM_TOKEN), None)
        .await;
    assert_eq!(status, 401);
    // Refusals are recorded with their class, never the token; so are the wrong tokens.
    let failed = |records: &[Value]| {
        records.iter().any(|r| {
            r["admin"]["action"] == "scim_auth_failed" && r["error_class"] == "invalid_scim_token"
        })
    };
    let since = std::time::Instant::now();
    let mut records = h.audit_records().await;
    while !failed(&records) && since.elapsed() < std::time::Duration::from_secs(2) {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        records = h.audit_records().await;
    }
    assert!(failed(&records), "a wrong SCIM token is recorded");
    assert!(
        !serde_json::to_string(&records)
            .unwrap()
            .contains("\"wrong\"")
    );
    assert!(
        records.iter().any(
            |r| r["admin"]["action"] == "scim_user_patch" && r["error_class"] == "invalidValue"
        )
    );
}

#[tokio::test]
async fn discovery_documents_describe_the_clearance_extension() {
    let h = gateway().await;
    let (status, _, config) = call(&h, reqwest::Method::GET, "/ServiceProviderConfig", None).await;
    assert_eq!(status, 200);
    assert_eq!(config["patch"]["supported"], true);
    assert_eq!(config["etag"]["supported"], true);
    let (_, _, types) = call(&h, reqwest::Method::GET, "/ResourceTypes", None).await;
    assert_eq!(types["totalResults"], 2);
    let (status, _, schema) = call(
        &h,
        reqwest::Method::GET,
        "/Schemas/urn:ietf:params:scim:schemas:extension:clearance:2.0:User",
        None,
    )
    .await;
    assert_eq!(status, 200);
    let names: Vec<&str> = schema["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "citizenships",
            "permanentResidency",
            "protectedIndividual",
            "residence"
        ]
    );
    let response = h
        .http
        .get(h.url("/scim/v2/ServiceProviderConfig"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(header(&response, "content-type"), Some(SCIM));
}

#[tokio::test]
async fn scim_is_404_when_not_configured() {
    let h = Harness::start().await;
    let (status, _, body) = call(&h, reqwest::Method::GET, "/Users", None).await;
    assert_eq!(status, 404);
    assert_eq!(
        body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
}
