//! Callers signed in with a JWT from a trusted identity provider, over real HTTP: a real
//! gateway, a real fake identity provider (`clearance_fake::idp`, an axum server on its own
//! port publishing RS256 and ES256 keys) and real signatures. Every way a token can be wrong
//! is a 401 naming what was wrong, in each API's error shape, with no token text anywhere
//! (answers, records, logs); key rotation is followed; facts from the token and the registry
//! combine by the configured rule and the record says where each came from; a deactivated
//! principal is refused whichever credential it presents.
#![allow(clippy::unwrap_used)]
#![allow(
    clippy::disallowed_methods,
    reason = "a test reads where its database is from the environment, and may block its own thread"
)]

mod harness;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clearance_core::import::{ImportFormat, parse_principals};
use clearance_fake::idp::{EC_1, FakeIdp, RSA_1, RSA_2};
use clearance_store::Store;
use harness::capture::Capture;
use harness::{Harness, Options, header};
use serde_json::{Value, json};

const AUDIENCE: &str = "clearance-tests";

const PRINCIPALS: &str = "id,name,citizenships,residence,org,employee\n\
    alice,Alice,US,FR,acme,true\n\
    hans,Hans Meier,DE,DE,acme,true\n\
    ghost,Unknown Contractor,,,,false\n\
    emp-4711,Nested Claims,,,,false\n";

const NOT_US_PERSON: &str = "id = \"EXD-1\"\ntitle = \"Export control\"\nauthority = \"Order 1\"\n\
    effective = \"2026-01-01T00:00:00Z\"\nreview = \"mailto:review@example.com\"\n\
    mode = \"enforce\"\nmodels = [\"mythos-5\"]\nwhen = \"!principal.us_person\"\neffect = \"deny\"\n";

/// The one global log subscriber of this test binary.
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

/// An `[[identity.oidc]]` entry for `issuer` with the usual claim mapping plus `lines`.
fn issuer_config(issuer: &str, lines: &str, claims: &str) -> String {
    format!(
        "\n[[identity.oidc]]\nissuer = \"{issuer}\"\naudience = [\"other\", \"{AUDIENCE}\"]\n{lines}\n\
         [identity.oidc.claims]\ncitizenships = \"citizenships\"\nresidence = \"ext.hr.residence\"\n{claims}\n"
    )
}

async fn gateway(issuers: String) -> Harness {
    capture();
    Harness::start_with(Options {
        principals: PRINCIPALS,
        directives: vec![("exd.toml", NOT_US_PERSON.to_string())],
        extra_config: issuers,
        ..Options::default()
    })
    .await
}

/// Waits until the gateway has fetched the identity provider's keys at start, so that no
/// test's first token spends the one refetch an unknown `kid` may cause.
async fn keys_fetched(idp: &FakeIdp, _h: &Harness) {
    for _ in 0..400 {
        if idp.jwks_fetches() > 0 {
            // The fetch answered; give the gateway a moment to swap the keys in.
            tokio::time::sleep(Duration::from_millis(200)).await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the gateway never fetched the identity provider's keys");
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn claims(idp: &FakeIdp, sub: &str, citizenships: &[&str]) -> Value {
    json!({
        "iss": idp.issuer(), "aud": AUDIENCE, "sub": sub, "iat": now(), "exp": now() + 600,
        "citizenships": citizenships,
    })
}

fn token(idp: &FakeIdp, sub: &str, citizenships: &[&str]) -> String {
    RSA_1.sign(&claims(idp, sub, citizenships))
}

fn body(model: &str) -> String {
    format!(r#"{{"model":"{model}","messages":[{{"role":"user","content":"hello"}}]}}"#)
}

fn anthropic_body(model: &str) -> String {
    format!(
        r#"{{"model":"{model}","max_tokens":16,"messages":[{{"role":"user","content":"hello"}}]}}"#
    )
}

async fn openai(h: &Harness, model: &str, token: &str) -> reqwest::Response {
    h.post_with_key("/v1/chat/completions", &body(model), Some(token))
        .await
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

#[tokio::test]
async fn a_token_callers_own_facts_decide_rs256_and_es256() {
    let idp = FakeIdp::start("127.0.0.1:0").await.unwrap();
    let h = gateway(issuer_config(
        idp.issuer(),
        "unknown_principals = \"token_facts\"",
        "",
    ))
    .await;
    keys_fetched(&idp, &h).await;

    let us = openai(&h, "mythos-5", &token(&idp, "tok-us", &["US"])).await;
    assert_eq!(us.status(), 200);
    let es = openai(
        &h,
        "mythos-5",
        &EC_1.sign(&claims(&idp, "tok-us-ec", &["US"])),
    )
    .await;
    assert_eq!(es.status(), 200, "ES256 verifies too");
    let de = openai(&h, "mythos-5", &token(&idp, "tok-de", &["DE"])).await;
    assert_eq!(
        de.status(),
        451,
        "the token's own facts are what the directive read"
    );

    let id = header(&de, "x-clearance-request-id").unwrap().to_string();
    let record = h.record_for(&id).await;
    assert_eq!(record["principal_id"], "tok-de");
    assert!(record.get("key_id").is_none_or(Value::is_null), "{record}");
    assert_eq!(
        record["token"],
        json!({"issuer": idp.issuer(), "subject": "tok-de"})
    );
    let source = format!("token:{}", idp.issuer());
    assert_eq!(
        record["facts"]["principal"]["sources"],
        json!({"citizenships": source})
    );
    assert_eq!(record["facts"]["principal"]["citizenships"], json!(["DE"]));
}

#[tokio::test]
async fn every_token_failure_is_a_401_naming_what_was_wrong_and_no_token_text_is_kept() {
    let idp = FakeIdp::start("127.0.0.1:0").await.unwrap();
    let h = gateway(issuer_config(idp.issuer(), "", "")).await;
    keys_fetched(&idp, &h).await;
    let good = claims(&idp, "alice", &["US"]);
    let with = |change: &dyn Fn(&mut Value)| {
        let mut c = good.clone();
        change(&mut c);
        RSA_1.sign(&c)
    };
    let signed = RSA_1.sign(&good);
    let (head, _) = signed.rsplit_once('.').unwrap();
    let mut tampered: Vec<String> = signed.split('.').map(str::to_string).collect();
    let mut forged = good.clone();
    forged["sub"] = json!("hans");
    tampered[1] = b64(&forged);
    let hs256 = {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some("rsa-1".into());
        let secret = jsonwebtoken::EncodingKey::from_secret(RSA_1.public_pem.unwrap().as_bytes());
        jsonwebtoken::encode(&header, &good, &secret).unwrap()
    };
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "expired",
            with(&|c| c["exp"] = json!(now() - 3600)),
            "token_expired",
        ),
        (
            "not yet valid",
            with(&|c| c["nbf"] = json!(now() + 3600)),
            "token_not_yet_valid",
        ),
        (
            "wrong audience",
            with(&|c| c["aud"] = json!("someone-else")),
            "token_wrong_audience",
        ),
        (
            "unknown issuer",
            with(&|c| c["iss"] = json!("https://evil.example.com")),
            "token_unknown_issuer",
        ),
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(&json!({"alg": "none", "kid": "rsa-1"})),
                b64(&good)
            ),
            "token_unsigned",
        ),
        ("unsigned", format!("{head}."), "token_unsigned"),
        (
            "hs256 with the public key",
            hs256,
            "token_algorithm_not_allowed",
        ),
        (
            "tampered payload",
            tampered.join("."),
            "token_bad_signature",
        ),
    ];
    let mut presented = Vec::new();
    for (what, bad, code) in &cases {
        let response = openai(&h, "mythos-5", bad).await;
        assert_eq!(response.status(), 401, "{what}");
        let text = response.text().await.unwrap();
        let error: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(error["error"]["code"], *code, "{what}: {text}");
        assert_eq!(
            error["error"]["type"], "authentication_error",
            "{what}: {text}"
        );
        // Anthropic's shape through x-api-key, as its SDK sends the key.
        let response = h
            .post_with_key("/v1/messages", &anthropic_body("mythos-5"), Some(bad))
            .await;
        assert_eq!(response.status(), 401, "{what}");
        let anthropic: Value = response.json().await.unwrap();
        assert_eq!(anthropic["type"], "error");
        assert_eq!(anthropic["error"]["type"], "authentication_error", "{what}");
        for part in bad.split('.').filter(|p| p.len() > 8) {
            assert!(!text.contains(part), "{what}: the answer repeats the token");
        }
        presented.push(bad.clone());
    }
    assert!(
        h.fake.requests().is_empty(),
        "no refused token reached a provider"
    );
    // The records of the refusals, and every log line, hold none of the tokens.
    let records = h.wait_for_records(2 * cases.len()).await;
    let everything = format!("{records:?}\n{}", capture().lines().join("\n"));
    for bad in &presented {
        for part in bad.split('.').filter(|p| p.len() > 8) {
            assert!(
                !everything.contains(part),
                "a token part was recorded or logged"
            );
        }
    }
    let classes: Vec<&str> = records
        .iter()
        .filter_map(|r| r["error_class"].as_str())
        .collect();
    assert!(classes.contains(&"token_expired"), "{classes:?}");
}

#[tokio::test]
async fn an_unknown_kid_refetches_the_keys_once_and_the_rotated_key_is_accepted() {
    let idp = FakeIdp::start("127.0.0.1:0").await.unwrap();
    idp.publish(&[RSA_1]);
    // The JWKS location given directly this time (the other tests use discovery).
    let h = gateway(issuer_config(
        idp.issuer(),
        &format!("jwks_url = \"{}/jwks.json\"", idp.issuer()),
        "",
    ))
    .await;
    keys_fetched(&idp, &h).await;
    let before = idp.jwks_fetches();
    // The identity provider rotates to a key the gateway has never seen.
    idp.publish(&[RSA_2]);
    let rotated = RSA_2.sign(&claims(&idp, "alice", &["US"]));
    assert_eq!(openai(&h, "mythos-5", &rotated).await.status(), 200);
    assert_eq!(
        idp.jwks_fetches(),
        before + 1,
        "one refetch for the unknown kid"
    );
    // Made-up key ids do not make the gateway hammer the identity provider.
    for n in 0..5 {
        let made_up = RSA_2.sign_as(
            &claims(&idp, "alice", &["US"]),
            Some(&format!("random-{n}")),
        );
        let response = openai(&h, "mythos-5", &made_up).await;
        assert_eq!(response.status(), 401);
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "token_unknown_kid");
    }
    assert_eq!(
        idp.jwks_fetches(),
        before + 1,
        "rate-limited: no refetch within 10 s"
    );
    // The old key is gone from the set the gateway holds now.
    assert_eq!(
        openai(&h, "mythos-5", &token(&idp, "alice", &["US"]))
            .await
            .status(),
        401
    );
}

#[tokio::test]
async fn claims_are_found_by_nested_path_and_the_principal_gets_its_prefix() {
    let idp = FakeIdp::start("127.0.0.1:0").await.unwrap();
    let h = gateway(issuer_config(
        idp.issuer(),
        "principal_claim = \"ext.employee_id\"\nprincipal_prefix = \"emp-\"",
        "org = \"https://example.com/claims/org\"",
    ))
    .await;
    keys_fetched(&idp, &h).await;
    let mut c = claims(&idp, "00u1abcd", &["US"]);
    c["ext"] = json!({"employee_id": 4711, "hr": {"residence": "ca"}});
    c["https://example.com/claims/org"] = json!("research");
    let response = openai(&h, "mythos-5", &RSA_1.sign(&c)).await;
    assert_eq!(response.status(), 200);
    let id = header(&response, "x-clearance-request-id")
        .unwrap()
        .to_string();
    let record = h.record_for(&id).await;
    assert_eq!(record["principal_id"], "emp-4711");
    assert_eq!(record["token"]["subject"], "00u1abcd");
    let facts = &record["facts"]["principal"];
    assert_eq!(facts["residence"], "CA");
    assert_eq!(facts["org"], "research");
    assert_eq!(facts["citizenships"], json!(["US"]));
    // A mapped claim with a value the import would refuse refuses the token.
    c["ext"]["hr"]["residence"] = json!("Atlantis");
    let response = openai(&h, "mythos-5", &RSA_1.sign(&c)).await;
    assert_eq!(response.status(), 401);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "token_bad_claim");
}

#[tokio::test]
async fn the_combine_rule_both_ways_and_the_record_says_where_each_fact_came_from() {
    // Two identity providers, one gateway: the first prefers the registry (the default), the
    // second takes citizenships from the token.
    let registry_first = FakeIdp::start("127.0.0.1:0").await.unwrap();
    let token_first = FakeIdp::start("127.0.0.1:0").await.unwrap();
    let issuers = format!(
        "{}{}\n[identity.oidc.prefer_fact]\ncitizenships = \"token\"\n",
        issuer_config(registry_first.issuer(), "", ""),
        issuer_config(token_first.issuer(), "", "")
    );
    let h = gateway(issuers).await;
    keys_fetched(&registry_first, &h).await;
    keys_fetched(&token_first, &h).await;

    // Hans is a German citizen in the registry; his token claims US citizenship.
    let hans_a = token(&registry_first, "hans", &["US"]);
    let response = openai(&h, "mythos-5", &hans_a).await;
    assert_eq!(response.status(), 451, "the registry's citizenship wins");
    let record = h
        .record_for(header(&response, "x-clearance-request-id").unwrap())
        .await;
    let sources = &record["facts"]["principal"]["sources"];
    assert_eq!(sources["citizenships"], "registry");
    assert_eq!(sources["residence"], "registry");

    let hans_b = token(&token_first, "hans", &["US"]);
    let response = openai(&h, "mythos-5", &hans_b).await;
    assert_eq!(
        response.status(),
        200,
        "the token's citizenship wins for this issuer"
    );
    let record = h
        .record_for(header(&response, "x-clearance-request-id").unwrap())
        .await;
    let sources = &record["facts"]["principal"]["sources"];
    assert_eq!(
        sources["citizenships"],
        format!("token:{}", token_first.issuer())
    );
    assert_eq!(
        sources["residence"], "registry",
        "only citizenships was preferred from the token"
    );
    assert_eq!(record["facts"]["principal"]["residence"], "DE");

    // Ghost's registry record holds no citizenship: the registry-first issuer's token fills it.
    let mut c = claims(&registry_first, "ghost", &["US"]);
    c["ext"] = json!({"hr": {"residence": "US"}});
    let response = openai(&h, "mythos-5", &RSA_1.sign(&c)).await;
    assert_eq!(response.status(), 200);
    let record = h
        .record_for(header(&response, "x-clearance-request-id").unwrap())
        .await;
    let source = format!("token:{}", registry_first.issuer());
    assert_eq!(
        record["facts"]["principal"]["sources"]["citizenships"],
        source
    );
    assert_eq!(record["facts"]["principal"]["sources"]["residence"], source);

    // A principal the registry does not hold is refused (unknown_principals = "refuse").
    let response = openai(&h, "mythos-5", &token(&registry_first, "nobody", &["US"])).await;
    assert_eq!(response.status(), 403);
    let error: Value = response.json().await.unwrap();
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not in the registry")
    );
}

#[tokio::test]
async fn a_deactivated_principal_is_refused_with_a_key_and_with_a_token() {
    let idp = FakeIdp::start("127.0.0.1:0").await.unwrap();
    let h = gateway(issuer_config(idp.issuer(), "", "")).await;
    keys_fetched(&idp, &h).await;
    let alice_token = token(&idp, "alice", &["US"]);
    // Keys keep working beside tokens.
    assert_eq!(
        h.post("/v1/chat/completions", &body("mythos-5"))
            .await
            .status(),
        200
    );
    assert_eq!(openai(&h, "mythos-5", &alice_token).await.status(), 200);

    let mut alice = parse_principals(PRINCIPALS, ImportFormat::Csv)
        .unwrap()
        .into_iter()
        .find(|p| p.id.as_str() == "alice")
        .unwrap();
    alice.active = false;
    h.store.upsert_principals(&[alice]).await.unwrap();
    h.await_key_status(&h.key, 403, "deactivation reaches the gateway")
        .await;

    for response in [
        h.post("/v1/chat/completions", &body("mythos-5")).await,
        openai(&h, "mythos-5", &alice_token).await,
    ] {
        assert_eq!(response.status(), 403);
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "principal_deactivated");
    }
    let response = h
        .post_with_key(
            "/v1/messages",
            &anthropic_body("mythos-5"),
            Some(&alice_token),
        )
        .await;
    assert_eq!(response.status(), 403);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["type"], "permission_error");
}

#[tokio::test]
async fn an_identity_provider_that_is_down_at_start_does_not_stop_the_gateway() {
    capture();
    // Nothing listens on port 1: every JWKS fetch fails, and is logged and retried.
    let h = gateway(issuer_config("http://127.0.0.1:1", "", "")).await;
    assert_eq!(
        h.post("/v1/chat/completions", &body("mythos-5"))
            .await
            .status(),
        200
    );
    let idp_token = RSA_1.sign(&json!({
        "iss": "http://127.0.0.1:1", "aud": AUDIENCE, "sub": "alice", "exp": now() + 600
    }));
    let response = openai(&h, "mythos-5", &idp_token).await;
    assert_eq!(response.status(), 401);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "token_unknown_kid");
}

#[tokio::test]
async fn without_issuers_a_jwt_is_just_an_invalid_key() {
    let idp = FakeIdp::start("127.0.0.1:0").await.unwrap();
    capture();
    let h = Harness::start_with(Options {
        principals: PRINCIPALS,
        ..Options::default()
    })
    .await;
    let response = openai(&h, "mythos-5", &token(&idp, "alice", &["US"])).await;
    assert_eq!(response.status(), 401);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "invalid_api_key");
    assert_eq!(idp.jwks_fetches(), 0);
}

#[tokio::test]
async fn a_receipt_is_for_the_token_subject_that_made_the_request_only() {
    let idp = FakeIdp::start("127.0.0.1:0").await.unwrap();
    let h = gateway(issuer_config(idp.issuer(), "", "")).await;
    keys_fetched(&idp, &h).await;
    let alice = token(&idp, "alice", &["US"]);
    let response = openai(&h, "mythos-5", &alice).await;
    assert_eq!(response.status(), 200);
    let id = header(&response, "x-clearance-request-id")
        .unwrap()
        .to_string();
    let receipt = |credential: String| {
        let url = h.url(&format!("/audit/receipt/{id}"));
        let http = h.http.clone();
        async move {
            let response = http.get(url).bearer_auth(credential).send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let not_yours = "made with this credential";
    // Another subject of the same issuer, and the same principal's key, are told nothing.
    for other in [token(&idp, "hans", &["DE"]), h.key.clone()] {
        let (status, body) = receipt(other).await;
        assert_eq!(status, 404, "{body}");
        assert!(body.contains(not_yours), "{body}");
    }
    // A fresh token for the same subject is the same caller.
    let (status, body) = receipt(token(&idp, "alice", &["US"])).await;
    assert!(!body.contains(not_yours), "{status} {body}");
}

#[tokio::test]
async fn a_token_reused_until_it_expires_is_refused_once_it_has() {
    let idp = FakeIdp::start("127.0.0.1:0").await.unwrap();
    let h = gateway(issuer_config(idp.issuer(), "clock_skew_s = 0", "")).await;
    keys_fetched(&idp, &h).await;
    let mut c = claims(&idp, "alice", &["US"]);
    c["exp"] = json!(now() + 2);
    let short = RSA_1.sign(&c);
    // Verified once, then remembered: the same token is served again and again...
    for _ in 0..3 {
        assert_eq!(openai(&h, "mythos-5", &short).await.status(), 200);
    }
    // ...until its `exp`, which the remembered verification still honours.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let response = openai(&h, "mythos-5", &short).await;
    assert_eq!(response.status(), 401);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "token_expired");
}
