//! SCIM provisioning against a real `clearance serve` process: an Entra ID user is created
//! with the Clearance extension, `clearance keys create` gives its principal a key, a PATCH
//! moving the user out of the US flips a directive's decision on the next request, Okta's
//! deactivation cuts the key at once, and `clearance audit verify` and `audit export` show
//! every change with the facts before and after.
#![allow(clippy::unwrap_used)]
#![allow(
    clippy::disallowed_methods,
    reason = "a test reads its fixtures and waits on its own thread"
)]

mod common;

use common::{Served, as_str, directive, export, run_in, write_file};
use serde_json::Value;

const SCIM_TOKEN: &str = "scim-cli-test-token";

fn fixture(path: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../clearance-scim/tests/fixtures/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn a_provisioned_users_patch_and_deactivation_decide_the_next_request_and_are_on_the_record() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let fake = clearance_fake::FakeServer::start("127.0.0.1:0").await.unwrap();
        std::fs::create_dir_all(dir.path().join("directives")).unwrap();
        write_file(&dir.path().join("directives"), "EXD.toml", &directive("EXD", "gpt-5"));
        let config = write_file(
            dir.path(),
            "clearance.toml",
            &format!(
                "[server]\nlisten = \"127.0.0.1:0\"\n[store]\nsqlite = \"c.db\"\n[directives]\ndir = \"directives\"\n\
                 [identity.scim]\ntoken_env = \"SCIM_TOKEN\"\n[providers.openlab]\nkind = \"openai\"\nbase_url = \"{}\"\n\
                 [[models]]\nname = \"gpt-5\"\nprovider = \"openlab\"\n",
                fake.openai_base_url()
            ),
        );
        let mut served = Served::start(dir.path(), &config, &[("SCIM_TOKEN", SCIM_TOKEN)]);
        let http = reqwest::Client::new();
        let scim = |method: reqwest::Method, path: String, body: String| {
            http.request(method, format!("{}/scim/v2{path}", served.base))
                .bearer_auth(SCIM_TOKEN)
                .header("content-type", "application/scim+json")
                .body(body)
                .send()
        };
        let created = scim(reqwest::Method::POST, "/Users".into(), fixture("entra/create_user.json"))
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
        let user: Value = created.json().await.unwrap();
        let (id, name) = (user["id"].as_str().unwrap(), user["userName"].as_str().unwrap());

        let (code, out, err) = run_in(
            dir.path(),
            &["keys", "create", "--principal", name, "--config", as_str(&config), "--format", "json"],
        );
        assert_eq!(code, Some(0), "{err}");
        let key = serde_json::from_str::<Value>(&out).unwrap()["key"].as_str().unwrap().to_string();
        let ask = || {
            http.post(format!("{}/v1/chat/completions", served.base))
                .bearer_auth(&key)
                .body(r#"{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}"#)
                .header("content-type", "application/json")
                .send()
        };
        let since = std::time::Instant::now();
        let mut status = ask().await.unwrap().status().as_u16();
        while status == 401 && since.elapsed() < std::time::Duration::from_secs(2) {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            status = ask().await.unwrap().status().as_u16();
        }
        assert_eq!(status, 200, "a US citizen in the US may use gpt-5");

        let moved = scim(reqwest::Method::PATCH, format!("/Users/{id}"), fixture("entra/move_user.json"))
            .await
            .unwrap();
        assert_eq!(moved.status(), 200);
        assert_eq!(ask().await.unwrap().status(), 451, "the next request is denied");
        let off = scim(reqwest::Method::PATCH, format!("/Users/{id}"), fixture("okta/deactivate_user.json"))
            .await
            .unwrap();
        assert_eq!(off.status(), 200);
        assert_eq!(ask().await.unwrap().status(), 403, "deactivation cuts the key at once");
        assert!(served.stop().success());

        let (code, out, err) = run_in(dir.path(), &["audit", "verify", "--config", as_str(&config)]);
        assert_eq!(code, Some(0), "{out}{err}");
        let records = export(dir.path(), &config);
        let changes: Vec<&Value> = records
            .iter()
            .map(|l| &l["record"]["admin"])
            .filter(|a| a["actor"] == "scim")
            .collect();
        let actions: Vec<&str> = changes.iter().map(|a| a["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["scim_user_create", "scim_user_patch", "scim_user_patch"]);
        let moved = &changes[1]["details"]["principals"][0];
        assert_eq!(moved["before"]["residence"], "US");
        assert_eq!(moved["after"]["residence"], "CN");
        assert_eq!(changes[2]["details"]["principals"][0]["after"]["active"], false);
        let text = serde_json::to_string(&records).unwrap();
        assert!(!text.contains(SCIM_TOKEN), "the token is never recorded");
    });
}
