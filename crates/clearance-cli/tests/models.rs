//! `clearance models list|disable|enable` against a real `clearance serve` process: the CLI
//! goes through the gateway's admin API, so the change is in force at once and audited by the
//! gateway's own writer.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

mod common;

use common::{BIN, Served, as_str, free_port, stderr, stdout, write_file};

const TOKEN_ENV: &str = "CLI_MODELS_ADMIN_TOKEN";
const TOKEN: &str = "cli-models-admin-token";

/// A config whose gateway listens on `port`, with its admin token in [`TOKEN_ENV`].
fn config(dir: &Path, port: u16) -> PathBuf {
    write_file(
        dir,
        "clearance.toml",
        &format!(
            r#"[server]
listen = "127.0.0.1:{port}"
admin_token_env = "{TOKEN_ENV}"

[store]
sqlite = "clearance.db"

[providers.acme]
kind = "anthropic"
base_url = "http://127.0.0.1:9"

[providers.openlab]
kind = "openai"
base_url = "http://127.0.0.1:9/v1"

[[models]]
name = "mythos-5"
provider = "acme"
upstream = "claude-mythos-5"
tags = ["frontier", "controlled"]

[[models]]
name = "gpt-5"
provider = "openlab"

[[routes]]
model = "mythos-5"
fallbacks = ["gpt-5"]
retries = 1
"#
        ),
    )
}

/// Runs the CLI in `dir` with `token` (if any) in the admin token variable.
fn run(dir: &Path, token: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(BIN);
    command.args(args).current_dir(dir).env_remove(TOKEN_ENV);
    if let Some(token) = token {
        command.env(TOKEN_ENV, token);
    }
    command.output().unwrap()
}

fn listed(output: &Output) -> Vec<Value> {
    assert!(output.status.success(), "{}", stderr(output));
    serde_json::from_str::<Vec<Value>>(&stdout(output)).unwrap()
}

fn row<'a>(rows: &'a [Value], model: &str) -> &'a Value {
    rows.iter().find(|r| r["model"] == model).unwrap()
}

#[test]
fn models_disable_list_and_enable_go_through_the_running_gateway_and_are_audited() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let config = config(dir, free_port());
    let c = as_str(&config);
    let mut served = Served::start(dir, &config, &[(TOKEN_ENV, TOKEN)]);

    let before = run(dir, Some(TOKEN), &["models", "list", "--config", c]);
    assert!(before.status.success(), "{}", stderr(&before));
    let table = stdout(&before);
    assert!(table.starts_with("MODEL"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("mythos-5") && l.contains("enabled")),
        "{table}"
    );

    let disabled = run(
        dir,
        Some(TOKEN),
        &[
            "models",
            "disable",
            "mythos-5",
            "--reason",
            "incident 42: leaking prompts",
            "--config",
            c,
        ],
    );
    assert!(disabled.status.success(), "{}", stderr(&disabled));
    assert!(
        stdout(&disabled).contains("mythos-5 is disabled"),
        "{}",
        stdout(&disabled)
    );

    let rows = listed(&run(
        dir,
        Some(TOKEN),
        &["models", "list", "--config", c, "--json"],
    ));
    assert_eq!(row(&rows, "mythos-5")["disabled"], true);
    assert_eq!(
        row(&rows, "mythos-5")["reason"],
        "incident 42: leaking prompts"
    );
    assert_eq!(row(&rows, "mythos-5")["tags"][1], "controlled");
    assert_eq!(row(&rows, "gpt-5")["disabled"], false);
    let table = stdout(&run(dir, Some(TOKEN), &["models", "list", "--config", c]));
    let line = table.lines().find(|l| l.starts_with("mythos-5")).unwrap();
    assert!(
        line.contains("DISABLED")
            && line.contains("admin-api")
            && line.ends_with("incident 42: leaking prompts"),
        "{table}"
    );

    // --url reaches the same gateway whatever the config says.
    let enabled = run(
        dir,
        Some(TOKEN),
        &[
            "models",
            "enable",
            "mythos-5",
            "--reason",
            "fixed",
            "--url",
            &served.base,
            "--config",
            c,
        ],
    );
    assert!(enabled.status.success(), "{}", stderr(&enabled));
    let rows = listed(&run(
        dir,
        Some(TOKEN),
        &["models", "list", "--config", c, "--format", "json"],
    ));
    assert_eq!(row(&rows, "mythos-5")["disabled"], false);

    served.stop();
    let verify = run(dir, None, &["audit", "verify", "--config", c]);
    assert!(verify.status.success(), "{}", stdout(&verify));
    let export = stdout(&run(dir, None, &["audit", "export", "--config", c]));
    let actions: Vec<(String, String)> = export
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|l| serde_json::from_str::<Value>(l["record_json"].as_str().unwrap()).unwrap())
        .inspect(|r| assert_eq!(r["decision"], "admin"))
        // Leave out the gateway's log opening and closing records.
        .filter(|r| {
            !matches!(
                r["admin"]["action"].as_str(),
                Some("log_open" | "log_close")
            )
        })
        .map(|r| {
            assert_eq!(r["admin"]["actor"], "admin-api");
            (
                r["admin"]["action"].as_str().unwrap().to_string(),
                r["admin"]["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            (
                "model_disable".into(),
                "incident 42: leaking prompts".into()
            ),
            ("model_enable".into(), "fixed".into())
        ]
    );
    assert!(!export.contains(TOKEN), "the token is never audited");
}

#[test]
fn models_commands_say_what_is_wrong_unknown_model_bad_token_missing_reason() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let config = config(dir, free_port());
    let c = as_str(&config);
    let _served = Served::start(dir, &config, &[(TOKEN_ENV, TOKEN)]);

    let unknown = run(
        dir,
        Some(TOKEN),
        &[
            "models", "disable", "mythos-6", "--reason", "x", "--config", c,
        ],
    );
    assert!(!unknown.status.success());
    let err = stderr(&unknown);
    assert!(
        err.contains("`mythos-6`") && err.contains("mythos-5, gpt-5"),
        "names the model and the known ones: {err}"
    );

    let wrong = run(
        dir,
        Some("not-the-token"),
        &["models", "list", "--config", c],
    );
    assert!(!wrong.status.success());
    let err = stderr(&wrong);
    assert!(err.contains("401") && err.contains(TOKEN_ENV), "{err}");
    assert!(
        !err.contains("not-the-token"),
        "never echoes a token: {err}"
    );

    let no_token = run(dir, None, &["models", "list", "--config", c]);
    assert!(!no_token.status.success());
    assert!(
        stderr(&no_token).contains(&format!("no admin token: set {TOKEN_ENV}")),
        "{}",
        stderr(&no_token)
    );

    let no_reason = run(
        dir,
        Some(TOKEN),
        &["models", "disable", "mythos-5", "--config", c],
    );
    assert!(!no_reason.status.success());
    assert!(
        stderr(&no_reason).contains("--reason"),
        "{}",
        stderr(&no_reason)
    );
    let empty_reason = run(
        dir,
        Some(TOKEN),
        &[
            "models", "disable", "mythos-5", "--reason", " ", "--config", c,
        ],
    );
    assert!(!empty_reason.status.success());
    assert!(stderr(&empty_reason).contains("--reason is empty"));

    let rows = listed(&run(
        dir,
        Some(TOKEN),
        &["models", "list", "--config", c, "--json"],
    ));
    assert!(
        rows.iter().all(|r| r["disabled"] == false),
        "nothing changed: {rows:?}"
    );
}

#[test]
fn models_commands_say_so_when_no_gateway_listens() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let port = free_port();
    let config = config(dir, port);
    for args in [
        vec!["models", "list", "--config", as_str(&config)],
        vec![
            "models",
            "disable",
            "gpt-5",
            "--reason",
            "outage",
            "--config",
            as_str(&config),
        ],
    ] {
        let output = run(dir, Some(TOKEN), &args);
        assert!(!output.status.success());
        let err = stderr(&output);
        assert!(
            err.contains(&format!("no gateway reachable at http://127.0.0.1:{port}/"))
                && err.contains("clearance serve"),
            "{err}"
        );
    }
}

#[test]
fn status_shows_switches_breakers_routes_and_provider_health() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let config = config(dir, free_port());
    let c = as_str(&config);
    let _served = Served::start(dir, &config, &[(TOKEN_ENV, TOKEN)]);
    let disabled = run(
        dir,
        Some(TOKEN),
        &[
            "models",
            "disable",
            "gpt-5",
            "--reason",
            "vendor outage",
            "--config",
            c,
        ],
    );
    assert!(disabled.status.success(), "{}", stderr(&disabled));

    let text = run(dir, Some(TOKEN), &["status", "--config", c]);
    assert!(text.status.success(), "{}", stderr(&text));
    let text = stdout(&text);
    let mythos = text.lines().find(|l| l.starts_with("mythos-5")).unwrap();
    assert!(
        mythos.contains("enabled")
            && mythos.contains("closed")
            && mythos.contains("-> gpt-5 [unvalidated] (retries 1"),
        "{text}"
    );
    let gpt = text.lines().find(|l| l.starts_with("gpt-5")).unwrap();
    assert!(gpt.contains("DISABLED (vendor outage)"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("acme") && l.contains("not checked")),
        "{text}"
    );

    let json = run(
        dir,
        Some(TOKEN),
        &["status", "--config", c, "--format", "json"],
    );
    let status: Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(status["models"][0]["model"], "mythos-5");
    assert_eq!(status["models"][0]["breaker"]["state"], "closed");
    assert_eq!(status["models"][1]["disabled"]["reason"], "vendor outage");
    assert_eq!(status["providers"].as_array().unwrap().len(), 2);

    let nobody = run(
        dir,
        Some(TOKEN),
        &["status", "--config", c, "--url", "http://127.0.0.1:9"],
    );
    assert!(!nobody.status.success());
    assert!(
        stderr(&nobody).contains("no gateway reachable"),
        "{}",
        stderr(&nobody)
    );
}
