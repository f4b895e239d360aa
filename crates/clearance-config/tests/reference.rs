//! docs/config.md stays true: its full example parses, and every key its tables list is a key
//! the parser accepts (an unknown key would be reported as an error).
#![allow(clippy::unwrap_used)]

use std::path::Path;

use clearance_config::Config;

fn reference() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/config.md"))
        .unwrap()
}

fn full_example(doc: &str) -> String {
    let start = doc.find("```toml\n").unwrap() + "```toml\n".len();
    let end = start + doc[start..].find("```").unwrap();
    doc[start..end].to_string()
}

/// (section, key) for every table row: sections from `## \`[...]\`` headings.
fn documented_keys(doc: &str) -> Vec<(String, String)> {
    let mut section = None;
    let mut keys = Vec::new();
    for line in doc.lines() {
        if let Some(heading) = line
            .strip_prefix("## `[")
            .and_then(|h| h.strip_suffix("]`"))
        {
            section = Some(heading.trim_matches(|c| c == '[' || c == ']').to_string());
        } else if line.starts_with("## ") {
            section = None;
        } else if let (Some(section), Some(rest)) = (&section, line.strip_prefix("| `")) {
            let key = rest.split('`').next().unwrap().to_string();
            keys.push((section.clone(), key));
        }
    }
    keys
}

fn env(name: &str) -> Option<String> {
    Some(format!("value-of-{name}"))
}

#[test]
fn the_full_example_is_a_valid_config() {
    let config = Config::parse(
        &full_example(&reference()),
        Path::new("/srv/clearance.toml"),
        &env,
    )
    .unwrap();
    assert_eq!(config.models.len(), 2);
    assert_eq!(config.server.trusted_proxies.len(), 2);
    assert!(config.geoip.is_some());
    assert!(config.directives.is_some_and(|d| d.blocked_by.is_some()));
    assert_eq!(config.routes.len(), 1);
    assert!(config.providers["local"].health.is_some());
    assert_eq!(config.identity.oidc.len(), 1);
    assert_eq!(config.identity.oidc[0].policy.claims.facts.len(), 7);
}

#[test]
fn every_documented_key_is_accepted_alone() {
    let keys = documented_keys(&reference());
    assert!(keys.len() >= 20, "the tables were not found: {keys:?}");
    for (section, key) in keys {
        let value = match key.as_str() {
            "kind" => "\"openai\"".to_string(),
            "tags" => "[]".to_string(),
            "listen" => "\"127.0.0.1:1\"".to_string(),
            "base_url" => "\"http://h/v1\"".to_string(),
            "blocked_by" => "\"https://h/\"".to_string(),
            "trusted_proxies" => "[\"10.0.0.0/8\"]".to_string(),
            "watch" => "true".to_string(),
            "fallbacks" => "[]".to_string(),
            "retry_budget" | "error_rate" => "0.5".to_string(),
            "model" => "\"m\"".to_string(),
            "algorithms" => "[\"RS256\"]".to_string(),
            "issuer" | "jwks_url" => "\"https://i\"".to_string(),
            "clock_skew_s" | "jwks_refresh_s" => "60".to_string(),
            "poll_ms" => "50".to_string(),
            k if [
                "max_body_bytes",
                "header_read_timeout_ms",
                "body_read_timeout_ms",
                "body_idle_timeout_ms",
                "keep_alive_idle_ms",
                "max_in_flight_per_key",
                "drain_timeout_ms",
                "max_upstream_body_bytes",
                "max_upstream_event_bytes",
                "upstream_idle_timeout_ms",
                "queue_capacity",
                "max_wait_ms",
                "batch_max",
                "linger_ms",
                "health_interval_ms",
                "health_timeout_ms",
                "attempt_timeout_ms",
                "deadline_ms",
                "retries",
                "backoff_ms",
                "backoff_max_ms",
                "consecutive_failures",
                "window_ms",
                "min_requests",
                "open_ms",
                "half_open_probes",
            ]
            .contains(&k) =>
            {
                "5".to_string()
            }
            _ => "\"p\"".to_string(),
        };
        let text = match section.as_str() {
            "providers.NAME" => format!(
                "[providers.p]\nkind = \"openai\"\nbase_url = \"http://h/v1\"\n{key} = {value}\n"
            ),
            "models" => format!(
                "[providers.p]\nkind = \"openai\"\nbase_url = \"http://h/v1\"\n[[models]]\nname = \"m\"\nprovider = \"p\"\n{key} = {value}\n"
            ),
            "routes" => format!(
                "[providers.p]\nkind = \"openai\"\nbase_url = \"http://h/v1\"\n[[models]]\nname = \"m\"\nprovider = \"p\"\n[[routes]]\n{}{key} = {value}\n",
                if key == "model" {
                    ""
                } else {
                    "model = \"m\"\n"
                }
            ),
            // An issuer needs its two required keys; its sub-tables hang off the last entry.
            "identity.oidc" => format!(
                "[[identity.oidc]]\n{}{}{key} = {value}\n",
                if key == "issuer" {
                    ""
                } else {
                    "issuer = \"https://i\"\n"
                },
                if key == "audience" {
                    ""
                } else {
                    "audience = \"a\"\n"
                }
            ),
            "identity.oidc.claims" | "identity.oidc.prefer_fact" => format!(
                "[[identity.oidc]]\nissuer = \"https://i\"\naudience = \"a\"\n[{section}]\n{key} = {value}\n"
            ),
            other => format!("[{other}]\n{key} = {value}\n"),
        };
        let result = Config::parse(&text, Path::new("/t.toml"), &env);
        let unknown = result
            .err()
            .into_iter()
            .flat_map(|e| e.0)
            .find(|e| e.message.contains("unknown key"));
        assert!(
            unknown.is_none(),
            "documented key [{section}] {key} is unknown to the parser: {unknown:?}"
        );
    }
}

#[test]
fn an_undocumented_key_is_refused() {
    let errors = Config::parse("[store]\nmysql = \"x\"\n", Path::new("/t.toml"), &env).unwrap_err();
    assert!(
        errors.0[0]
            .message
            .contains("unknown key `mysql` in [store]")
    );
}
