//! `[[routes]]`, `[breaker]` and provider health checks: defaults, values, and every mistake
//! reported at its line.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use clearance_config::{BreakerPolicy, Config, ConfigErrors};

const MODELS: &str = r#"
[providers.acme]
kind = "anthropic"
base_url = "http://127.0.0.1:9101"

[providers.local]
kind = "openai"
base_url = "http://127.0.0.1:9102/v1"
health_interval_ms = 500

[[models]]
name = "mythos-5"
provider = "acme"

[[models]]
name = "gpt-5"
provider = "local"

[[models]]
name = "open-model"
provider = "local"
"#;

fn parse(extra: &str) -> Result<Config, ConfigErrors> {
    let text = format!("{MODELS}{extra}");
    Config::parse(&text, Path::new("/etc/clearance.toml"), &|_| None)
}

/// (line, message) of every problem.
fn problems(extra: &str) -> Vec<(usize, String)> {
    parse(extra)
        .unwrap_err()
        .0
        .into_iter()
        .map(|e| (e.line, e.message))
        .collect()
}

#[test]
fn a_route_takes_the_issues_example_and_defaults_the_rest() {
    let config = parse(
        r#"
[[routes]]
model = "mythos-5"
fallbacks = ["gpt-5", "open-model"]
attempt_timeout_ms = 30000
deadline_ms = 120000
retries = 1
"#,
    )
    .unwrap();
    let route = config.route("mythos-5").unwrap();
    assert_eq!(route.fallbacks, ["gpt-5", "open-model"]);
    assert_eq!(route.attempt_timeout, Duration::from_secs(30));
    assert_eq!(route.deadline, Duration::from_secs(120));
    assert_eq!(route.retries, 1);
    assert_eq!(route.retry_budget, 0.2);
    assert_eq!(route.backoff, Duration::from_millis(25));
    assert_eq!(route.backoff_max, Duration::from_secs(1));
    assert!(config.route("gpt-5").is_none());
    assert_eq!(config.breaker, BreakerPolicy::default());
}

#[test]
fn health_checks_are_off_unless_an_interval_is_set() {
    let config = parse("").unwrap();
    assert!(config.providers["acme"].health.is_none());
    let local = config.providers["local"].health.unwrap();
    assert_eq!(local.interval, Duration::from_millis(500));
    assert_eq!(
        local.timeout,
        Duration::from_millis(500),
        "capped by the interval"
    );
}

#[test]
fn the_breaker_section_sets_every_trigger() {
    let config = parse(
        r#"
[breaker]
consecutive_failures = 3
error_rate = 0.25
window_ms = 2000
min_requests = 4
open_ms = 750
half_open_probes = 2
"#,
    )
    .unwrap();
    assert_eq!(
        config.breaker,
        BreakerPolicy {
            consecutive_failures: 3,
            error_rate: 0.25,
            window: Duration::from_secs(2),
            min_requests: 4,
            open_for: Duration::from_millis(750),
            half_open_probes: 2,
        }
    );
}

#[test]
fn every_route_mistake_is_reported_at_its_line() {
    let base = MODELS.lines().count() + 1;
    let found = problems(
        r#"
[[routes]]
model = "nope"
[[routes]]
model = "mythos-5"
fallbacks = ["gpt-5", "ghost", "mythos-5", "gpt-5"]
deadline_ms = 10
retry_budget = 1.5
[[routes]]
model = "mythos-5"
[breaker]
error_rate = 0
window_ms = 5
"#,
    );
    let expect = [
        (base + 2, "routes.model: unknown model `nope`"),
        (base + 5, "routes.fallbacks: unknown model `ghost`"),
        (base + 5, "a model cannot be its own fallback"),
        (base + 5, "fallback `gpt-5` is listed twice"),
        (
            base + 6,
            "deadline_ms (10) is shorter than attempt_timeout_ms (30000)",
        ),
        (
            base + 7,
            "routes.retry_budget must be between 0 and 1, not 1.5",
        ),
        (base + 9, "duplicate route for model `mythos-5`"),
        (base + 11, "breaker.error_rate must be above 0"),
        (base + 12, "breaker.window_ms must be at least 100, not 5"),
    ];
    for (line, fragment) in expect {
        assert!(
            found
                .iter()
                .any(|(l, m)| *l == line && m.contains(fragment)),
            "expected line {line}: {fragment}\nfound: {found:#?}"
        );
    }
    assert_eq!(found.len(), expect.len(), "{found:#?}");
}

#[test]
fn a_health_interval_below_the_floor_is_refused() {
    let text = MODELS.replace("health_interval_ms = 500", "health_interval_ms = 10");
    let errors = Config::parse(&text, Path::new("/c.toml"), &|_| None).unwrap_err();
    assert!(
        errors.0[0]
            .message
            .contains("providers.local.health_interval_ms must be 0 (off) or at least 100, not 10"),
        "{errors}"
    );
}

mod validation_sections {
    use std::path::Path;
    use std::time::Duration;

    use clearance_config::Config;

    const BASE: &str = r#"
[providers.p]
kind = "openai"
base_url = "http://127.0.0.1:1"

[[models]]
name = "a"
provider = "p"

[[models]]
name = "b"
provider = "p"
"#;

    fn load(extra: &str) -> Result<Config, String> {
        Config::parse(&format!("{BASE}{extra}"), Path::new("c.toml"), &|_| None)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn validation_capture_and_prices_resolve() {
        let config = load(
            r#"
[[routes]]
model = "a"
fallbacks = ["b"]
validated_only = true

[validation]
bar = 0.8
every = "7d"
max_age = "12h"

[capture]
apps = ["support-bot"]
sample = 0.5
"#,
        )
        .unwrap();
        assert!(config.routes[0].validated_only);
        assert_eq!(config.validation.bar, 0.8);
        assert_eq!(
            config.validation.every,
            Some(Duration::from_secs(7 * 86_400))
        );
        assert_eq!(config.validation.max_age, Duration::from_secs(12 * 3_600));
        assert!(config.capture.captures("support-bot"));
        assert!(!config.capture.captures("other"));
        assert_eq!(config.capture.keep, 500);
    }

    #[test]
    fn bad_values_are_reported_at_their_lines() {
        let errors = load(
            r#"
[validation]
bar = 1.5
every = "soon"
max_age = "0s"

[capture]
apps = ["x", "x"]
sample = -0.1
"#,
        )
        .unwrap_err();
        for needle in [
            "validation.bar must be between 0 and 1, not 1.5",
            "validation.every: `soon` is not a duration",
            "validation.max_age must be at least",
            "capture.apps: `x` is listed twice",
            "capture.sample must be between 0 and 1, not -0.1",
        ] {
            assert!(errors.contains(needle), "{needle} missing from:\n{errors}");
        }
        assert!(errors.contains("c.toml:20"), "{errors}");
    }

    #[test]
    fn responses_are_kept_30_days_by_default_and_zero_keeps_none() {
        let config = load("").unwrap();
        assert_eq!(
            config.responses.keep_for,
            Some(Duration::from_secs(30 * 86_400))
        );
        assert_eq!(config.responses.max_chain, 1_000);
        let config = load("\n[responses]\nkeep_days = 0\nmax_chain = 5\n").unwrap();
        assert_eq!(config.responses.keep_for, None);
        assert_eq!(config.responses.max_chain, 5);
    }

    #[test]
    fn bad_responses_values_are_reported() {
        let errors = load("\n[responses]\nkeep_days = 99999999999\nmax_chain = 0\n").unwrap_err();
        for needle in [
            "responses.keep_days: at most 36500 (100 years), not 99999999999",
            "responses.max_chain must be a positive number",
        ] {
            assert!(errors.contains(needle), "{needle} missing from:\n{errors}");
        }
        let errors = load("\n[responses]\nkeep_days = -1\n").unwrap_err();
        assert!(errors.contains("responses.keep_days"), "{errors}");
    }

    #[test]
    fn a_negative_price_is_refused() {
        let errors = Config::parse(
            &BASE.replace(
                "name = \"b\"\n",
                "name = \"b\"\ninput_price_per_mtok = -1.0\n",
            ),
            Path::new("c.toml"),
            &|_| None,
        )
        .unwrap_err()
        .to_string();
        assert!(
            errors.contains("model `b`: input_price_per_mtok must be zero or more"),
            "{errors}"
        );
    }
}
