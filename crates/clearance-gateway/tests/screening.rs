//! Screening as a fact directives read, over real HTTP: a directive that denies on
//! `principal.screening` cuts a listed principal and not a clean one, an unscreened principal
//! fails closed, the decision record carries the evidence (list version, entry), a review
//! through the admin API clears a false positive on the next request, and a user provisioned
//! by SCIM is screened before their facts take effect.
#![allow(clippy::unwrap_used)]
#![allow(
    clippy::disallowed_methods,
    reason = "a test reads the real list files and may block its own thread"
)]

mod harness;

use std::path::PathBuf;

use chrono::Utc;
use clearance_core::principal::PrincipalId;
use clearance_gateway::screening::{ListFiles, Lists, StoredFile};
use clearance_store::Store;
use harness::{ADMIN_TOKEN, Harness, Options, SCIM_TOKEN, header};
use serde_json::json;

const PRINCIPALS: &str = "id,name,citizenships,residence,org,employee\n\
    alice,Alice Adams,US,US,acme,true\n\
    zaw,Ayman al-Zawahiri,EG,,,false\n\
    karl,Karl Schmidt,DE,DE,Banco Nacional de Cuba,false\n\
    late,Late Arrival,US,US,acme,true\n";

const SCREENING_DIRECTIVE: &str = "id = \"SCREEN-1\"\ntitle = \"Denied parties\"\n\
    authority = \"31 CFR 501 (OFAC)\"\neffective = \"2026-01-01T00:00:00Z\"\n\
    mode = \"enforce\"\nmodels = [\"mythos-5\"]\nwhen = \"principal.screening != \\\"clear\\\"\"\neffect = \"deny\"\n";

fn lists_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../clearance-screening/tests/data/lists")
}

fn sdn_files() -> ListFiles {
    let dir = lists_dir().join("ofac-sdn");
    let files = ["sdn.csv", "alt.csv", "add.csv"]
        .into_iter()
        .map(|name| StoredFile {
            name: name.to_string(),
            bytes: std::fs::read(dir.join(name)).unwrap(),
        })
        .collect();
    ListFiles {
        source: "ofac-sdn".into(),
        files,
    }
}

/// Imports the SDN list into the store as `clearance lists import` does: every principal but
/// `except` re-screened and stored with the version.
async fn import_sdn(store: &dyn Store, except: &str) {
    let files = sdn_files();
    let parsed = files.parse().unwrap();
    let data = files.to_stored(&parsed, "test", Utc::now());
    let lists = Lists::new(vec![(data.meta.clone(), parsed)]);
    let mut principals: Vec<_> = store
        .principals()
        .await
        .unwrap()
        .into_iter()
        .filter(|p| p.id.as_str() != except)
        .collect();
    for p in &mut principals {
        p.screening = Some(lists.screen_principal(p, &[], Utc::now()));
    }
    store.put_screening_list(&data, &principals).await.unwrap();
}

async fn gateway() -> Harness {
    Harness::start_with(Options {
        directives: vec![("screen.toml", SCREENING_DIRECTIVE.to_string())],
        principals: PRINCIPALS,
        keys_for: &["alice", "zaw", "karl", "late"],
        extra_config: "[identity.scim]\ntoken_env = \"SCIM_TOKEN\"\n".into(),
        ..Options::default()
    })
    .await
}

fn body() -> &'static str {
    r#"{"model":"mythos-5","max_tokens":16,"messages":[{"role":"user","content":"hello"}]}"#
}

async fn status_of(h: &Harness, who: &str) -> u16 {
    let key = h.keys[who].clone();
    h.post_with_key("/v1/messages", body(), Some(&key))
        .await
        .status()
        .as_u16()
}

/// Waits for the gateway's registry to see a change made in the store behind its back.
async fn until_status(h: &Harness, who: &str, want: u16) {
    for _ in 0..100 {
        if status_of(h, who).await == want {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{who} never got {want}");
}

#[tokio::test]
async fn a_directive_on_screening_cuts_listed_principals_and_unscreened_ones_fail_closed() {
    let h = gateway().await;
    // Nobody is screened yet: the fact is missing, so the directive fires for everyone.
    assert_eq!(status_of(&h, "alice").await, 451, "unscreened fails closed");
    import_sdn(h.store.as_ref(), "late").await;
    until_status(&h, "alice", 200).await;
    assert_eq!(status_of(&h, "zaw").await, 451, "listed by name");
    assert_eq!(status_of(&h, "karl").await, 451, "listed by organisation");
    assert_eq!(status_of(&h, "late").await, 451, "never screened");

    let key = h.keys["zaw"].clone();
    let response = h.post_with_key("/v1/messages", body(), Some(&key)).await;
    assert_eq!(response.status(), 451);
    assert_eq!(header(&response, "x-clearance-directive"), Some("SCREEN-1"));
    let request_id = header(&response, "x-clearance-request-id")
        .unwrap()
        .to_string();
    let record = h.record_for(&request_id).await;
    let screening = &record["facts"]["principal"]["screening"];
    assert_eq!(screening["status"], "match");
    let evidence = &screening["matches"][0];
    assert_eq!(evidence["entity_id"], "2676", "{screening}");
    assert_eq!(evidence["source"], "ofac-sdn");
    assert!(
        evidence["list"].as_str().unwrap().starts_with("ofac-sdn@"),
        "{evidence}"
    );
    assert!(
        record["facts_read"]
            .as_array()
            .unwrap()
            .contains(&json!("principal.screening")),
        "{record}"
    );
}

#[tokio::test]
async fn an_admin_review_clears_a_false_positive_on_the_next_request_and_is_recorded() {
    let h = gateway().await;
    import_sdn(h.store.as_ref(), "").await;
    until_status(&h, "alice", 200).await;
    assert_eq!(status_of(&h, "karl").await, 451);

    let review = |entry: &str, decision: &str| {
        json!({"principal": "karl", "entry": entry, "decision": decision,
               "reason": "works for a German bank", "by": "ana"})
    };
    let (status, body) = h
        .admin(
            reqwest::Method::POST,
            "/admin/screening/reviews",
            Some(ADMIN_TOKEN),
            Some(review("ofac-sdn:1", "clear")),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ofac-sdn:306"),
        "names the real match: {body}"
    );
    let (status, body) = h
        .admin(
            reqwest::Method::POST,
            "/admin/screening/reviews",
            Some(ADMIN_TOKEN),
            Some(review("ofac-sdn:306", "maybe")),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = h
        .admin(
            reqwest::Method::POST,
            "/admin/screening/reviews",
            Some(ADMIN_TOKEN),
            Some(review("ofac-sdn:306", "clear")),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["screening"]["status"], "clear");
    assert_eq!(status_of(&h, "karl").await, 200, "cleared at once");

    let records = h.audit_records().await;
    let recorded = records
        .iter()
        .find(|r| r["admin"]["action"] == "screening_review" && r["status"] == 200)
        .expect("the review is recorded");
    assert_eq!(recorded["admin"]["target"], "karl");
    assert_eq!(recorded["admin"]["reason"], "works for a German bank");
    assert_eq!(recorded["admin"]["details"]["by"], "ana");
    assert_eq!(recorded["admin"]["details"]["screening"]["to"], "clear");

    // Changing what was screened (the org) lapses the review.
    let mut karl = h
        .store
        .principal(&"karl".parse::<PrincipalId>().unwrap())
        .await
        .unwrap()
        .unwrap();
    karl.org = Some("BANCO NACIONAL DE CUBA".into());
    let lists = Lists::load(h.store.as_ref()).await.unwrap().unwrap();
    let reviews = h.store.screening_reviews(Some("karl")).await.unwrap();
    let fact = lists.screen_principal(&karl, &reviews, Utc::now());
    assert_eq!(
        fact.status,
        clearance_core::screening::ScreeningStatus::Match
    );
}

#[tokio::test]
async fn a_user_provisioned_by_scim_is_screened_before_their_facts_take_effect() {
    let h = gateway().await;
    import_sdn(h.store.as_ref(), "").await;
    let user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "ayman", "displayName": "Ayman al Zawahiri", "active": true,
        "urn:ietf:params:scim:schemas:extension:clearance:2.0:User": {
            "citizenships": ["EG"],
            "screening": "clear"
        }
    });
    let response = h
        .http
        .post(h.url("/scim/v2/Users"))
        .bearer_auth(SCIM_TOKEN)
        .header("content-type", "application/scim+json")
        .body(user.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    let stored = h
        .store
        .principal(&"ayman".parse::<PrincipalId>().unwrap())
        .await
        .unwrap()
        .unwrap();
    let screening = stored.screening.expect("screened before it was stored");
    assert_eq!(
        screening.status,
        clearance_core::screening::ScreeningStatus::Match,
        "a `screening` attribute a provisioning feed sends is not a fact"
    );
    let (key, _) = harness::create_key(h.store.as_ref(), "ayman").await;
    let mut status = 0;
    for _ in 0..100 {
        status = h
            .post_with_key("/v1/messages", body(), Some(&key))
            .await
            .status()
            .as_u16();
        if status != 401 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status, 451);
}
