//! `clearance.toml` validation as a user meets it: every problem at once, each with its line.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use clearance_config::{Config, ConfigErrors, ProviderKind};

fn env(name: &str) -> Option<String> {
    match name {
        "ACME_KEY" => Some("sk-acme-secret".into()),
        "CLEARANCE_ADMIN_TOKEN" => Some("admin-secret".into()),
        _ => None,
    }
}

fn parse(text: &str) -> Result<Config, ConfigErrors> {
    Config::parse(text, Path::new("/etc/clearance/clearance.toml"), &env)
}

const GOOD: &str = r#"
[server]
listen = "127.0.0.1:8787"
admin_token_env = "CLEARANCE_ADMIN_TOKEN"

[store]
sqlite = "clearance.db"

[providers.acme]
kind = "anthropic"
base_url = "http://127.0.0.1:9101"
api_key_env = "ACME_KEY"

[providers.local]
kind = "openai"
base_url = "http://127.0.0.1:9101/v1"

[[models]]
name = "mythos-5"
provider = "acme"
upstream = "claude-mythos-5"
tags = ["frontier", "controlled"]

[[models]]
name = "open-model"
provider = "local"
"#;

#[test]
fn a_good_config_resolves_every_value() {
    let config = parse(GOOD).unwrap();
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:8787");
    assert_eq!(
        config.server.admin_token.as_ref().unwrap().expose(),
        "admin-secret"
    );
    let clearance_config::StoreBackend::Sqlite(sqlite) = &config.store.backend else {
        panic!("SQLite is the default store")
    };
    assert_eq!(sqlite, Path::new("/etc/clearance/clearance.db"));
    let acme = &config.providers["acme"];
    assert_eq!(acme.kind, ProviderKind::Anthropic);
    assert_eq!(acme.api_key.as_ref().unwrap().expose(), "sk-acme-secret");
    assert_eq!(
        config.model("mythos-5").unwrap().upstream,
        "claude-mythos-5"
    );
    assert_eq!(
        config.model("open-model").unwrap().upstream,
        "open-model",
        "upstream defaults to the name"
    );
}

#[test]
fn every_problem_is_reported_at_once_with_its_line() {
    let text = r#"
[server]
listen = "not-an-address"
colour = "blue"

[providers.acme]
kind = "anthropic"
base_url = "not a url"
api_key_env = "MISSING_KEY"

[[models]]
name = "mythos-5"
provider = "acme"

[[models]]
name = "mythos-5"
provider = "acme"

[[models]]
name = "fable-5"
provider = "nobody"
tagz = ["x"]
"#;
    let errors = parse(text).unwrap_err().0;
    let lines: Vec<(usize, &str)> = errors
        .iter()
        .map(|e| (e.line, e.message.as_str()))
        .collect();
    let expect = [
        (3, "server.listen: `not-an-address`"),
        (4, "unknown key `colour` in [server]"),
        (8, "providers.acme.base_url: `not a url` is not a valid URL"),
        (9, "environment variable MISSING_KEY is not set"),
        (16, "duplicate model `mythos-5` (first defined on line 12)"),
        (21, "unknown provider `nobody` (defined providers: acme)"),
        (22, "unknown key `tagz` in [models]"),
    ];
    for (line, fragment) in expect {
        assert!(
            lines
                .iter()
                .any(|(l, m)| *l == line && m.contains(fragment)),
            "expected line {line}: {fragment}\ngot: {lines:#?}"
        );
    }
    assert_eq!(errors.len(), expect.len(), "{lines:#?}");
}

#[test]
fn display_names_file_line_and_the_offending_text() {
    let errors = parse("[server]\nlisten = \"nope\"\n").unwrap_err();
    let shown = errors.to_string();
    assert!(
        shown.contains("/etc/clearance/clearance.toml:2:10: server.listen"),
        "{shown}"
    );
    assert!(shown.contains("| listen = \"nope\""), "{shown}");
}

#[test]
fn syntax_errors_are_located() {
    let errors = parse("[server]\nlisten = \n").unwrap_err().0;
    assert_eq!(errors[0].line, 2, "{errors:?}");
    assert!(errors[0].message.starts_with("TOML syntax"));
}

#[test]
fn wrong_types_and_unknown_kinds_are_located() {
    let errors = parse("[providers.x]\nkind = \"gopher\"\nbase_url = \"http://h\"\n")
        .unwrap_err()
        .0;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].line, 2, "{errors:?}");
    assert!(errors[0].message.contains("gopher"));
    let errors = parse("[server]\nmax_body_bytes = -1\n").unwrap_err().0;
    assert!(errors[0].message.contains("positive"), "{errors:?}");
}

#[test]
fn a_named_admin_token_variable_must_be_set() {
    let errors = parse("[server]\nadmin_token_env = \"NOPE\"\n")
        .unwrap_err()
        .0;
    assert!(errors[0].message.contains("NOPE is not set"));
}

#[test]
fn secrets_do_not_show_in_debug_output() {
    let config = parse(GOOD).unwrap();
    let debug = format!("{config:?}");
    assert!(
        !debug.contains("sk-acme-secret") && !debug.contains("admin-secret"),
        "{debug}"
    );
}

#[test]
fn geoip_directives_and_trusted_proxies_are_off_unless_configured() {
    let config = parse(GOOD).unwrap();
    assert!(config.server.trusted_proxies.is_empty());
    assert!(config.geoip.is_none());
    assert!(config.directives.is_none());
}

#[test]
fn trusted_proxies_take_networks_and_single_addresses() {
    let config = parse(
        "[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"127.0.0.1\", \"fd00::/8\", \"::1\"]\n",
    )
    .unwrap();
    let shown: Vec<String> = config
        .server
        .trusted_proxies
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(shown, ["10.0.0.0/8", "127.0.0.1/32", "fd00::/8", "::1/128"]);
}

#[test]
fn a_bad_trusted_proxy_is_reported_at_its_own_line() {
    let text = r#"
[server]
trusted_proxies = [
  "10.0.0.0/8",
  "10.0.0.0/33",
  "proxy.internal",
]
"#;
    let errors = parse(text).unwrap_err().0;
    let lines: Vec<(usize, &str)> = errors
        .iter()
        .map(|e| (e.line, e.message.as_str()))
        .collect();
    assert_eq!(errors.len(), 2, "{lines:#?}");
    assert_eq!(errors[0].line, 5, "{lines:#?}");
    assert_eq!(
        errors[0].message,
        "server.trusted_proxies: `10.0.0.0/33` is not an IP network (CIDR like 10.0.0.0/8 or a single address)"
    );
    assert_eq!(errors[1].line, 6, "{lines:#?}");
    assert!(errors[1].message.contains("`proxy.internal`"), "{lines:#?}");
}

#[test]
fn geoip_and_directive_paths_resolve_against_the_config_folder() {
    let text =
        "[geoip]\nmmdb = \"geo/GeoLite2-Country.mmdb\"\n\n[directives]\ndir = \"directives\"\n";
    let config = parse(text).unwrap();
    assert_eq!(
        config.geoip.unwrap().mmdb,
        Path::new("/etc/clearance/geo/GeoLite2-Country.mmdb")
    );
    let directives = config.directives.unwrap();
    assert_eq!(
        directives.dir.as_deref(),
        Some(Path::new("/etc/clearance/directives"))
    );
    assert!(directives.watch, "watching is on by default");
    assert_eq!(directives.poll_ms, 1000);
    assert_eq!(directives.blocked_by, None);

    let absolute = parse("[geoip]\nmmdb = \"/var/lib/GeoIP/GeoLite2-City.mmdb\"\n").unwrap();
    assert_eq!(
        absolute.geoip.unwrap().mmdb,
        Path::new("/var/lib/GeoIP/GeoLite2-City.mmdb")
    );
}

#[test]
fn directives_keys_are_all_read() {
    let text = r#"
[directives]
dir = "/srv/directives"
watch = false
poll_ms = 250
blocked_by = "https://example.com/compliance"
"#;
    let directives = parse(text).unwrap().directives.unwrap();
    assert!(!directives.watch);
    assert_eq!(directives.poll_ms, 250);
    assert_eq!(
        directives.blocked_by.unwrap().as_str(),
        "https://example.com/compliance"
    );
}

#[test]
fn an_empty_mmdb_path_is_reported() {
    let errors = parse("[geoip]\nmmdb = \"\"\n").unwrap_err().0;
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].line, 2);
    assert!(
        errors[0]
            .message
            .starts_with("geoip.mmdb must not be empty"),
        "{errors:#?}"
    );
}

#[test]
fn a_directives_poll_faster_than_50_ms_is_reported() {
    let errors = parse("[directives]\ndir = \"d\"\npoll_ms = 10\n")
        .unwrap_err()
        .0;
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].line, 3);
    assert_eq!(
        errors[0].message,
        "directives.poll_ms must be at least 50, not 10"
    );
}

#[test]
fn blocked_by_must_be_an_absolute_http_url() {
    for (bad, why) in [
        ("example.com/compliance", "relative URL without a base"),
        ("mailto:legal@example.com", "not http or https"),
    ] {
        let text = format!("[directives]\ndir = \"d\"\nblocked_by = \"{bad}\"\n");
        let errors = parse(&text).unwrap_err().0;
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert_eq!(errors[0].line, 3);
        assert!(
            errors[0].message.starts_with(&format!(
                "directives.blocked_by: `{bad}` is not a valid URL"
            )),
            "{errors:#?}"
        );
        assert!(errors[0].message.contains(why), "{errors:#?}");
    }
}

#[test]
fn a_directives_section_without_dir_takes_the_set_from_the_store() {
    let config = parse("[server]\nlisten = \"127.0.0.1:1\"\n\n[directives]\nblocked_by = \"https://example.com/review\"\n").unwrap();
    let directives = config.directives.unwrap();
    assert_eq!(directives.dir, None);
    assert!(directives.blocked_by.is_some());
}

#[test]
fn a_postgres_store_takes_its_password_from_the_environment_only() {
    let config = parse(
        "[store]\npostgres = \"postgres://clearance@db.internal:5432/clearance\"\npassword_env = \"CLEARANCE_ADMIN_TOKEN\"\nreplica = \"gw-1\"\nmax_policy_age_ms = 5000\n",
    )
    .unwrap();
    let clearance_config::StoreBackend::Postgres(pg) = &config.store.backend else {
        panic!("a postgres store: {:?}", config.store.backend)
    };
    assert_eq!(pg.url, "postgres://clearance@db.internal:5432/clearance");
    assert!(pg.password.is_some());
    assert_eq!(config.store.replica, "gw-1");
    assert_eq!(config.store.max_policy_age_ms, 5000);
    assert!(
        !format!("{:?}", config.store).contains("admin-secret"),
        "no secret in Debug"
    );

    let errors = parse(
        "[store]\nsqlite = \"x.db\"\npostgres = \"postgres://u:hunter2@db/clearance\"\npassword_env = \"NOT_SET_ANYWHERE\"\nreplica = \"a b\"\n",
    )
    .unwrap_err()
    .0;
    let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    for expected in [
        "names both `sqlite` and `postgres`",
        "must not hold a password",
        "NOT_SET_ANYWHERE is not set",
        "store.replica",
    ] {
        assert!(
            messages.iter().any(|m| m.contains(expected)),
            "{expected}: {messages:#?}"
        );
    }
    assert!(
        errors.iter().all(|e| e.line >= 2),
        "each at its line: {errors:#?}"
    );
    assert!(
        !messages.iter().any(|m| m.contains("hunter2")),
        "the password is not repeated"
    );
}

#[test]
fn server_limits_default_and_each_bad_one_is_located() {
    let limits = parse(GOOD).unwrap().server.limits;
    assert_eq!(limits, clearance_config::ServerLimits::default());
    assert_eq!(limits.header_read_timeout_ms, 10_000);
    assert_eq!(limits.max_connections, 4_096);
    assert_eq!(limits.drain_timeout_ms, 30_000);
    let errors = parse(
        "[server]\nheader_read_timeout_ms = 0\nbody_read_timeout_ms = -5\nbody_idle_timeout_ms = 0\nkeep_alive_idle_ms = 0\nmax_connections = 0\nmax_in_flight_per_key = -1\ndrain_timeout_ms = 0\n",
    )
    .unwrap_err()
    .0;
    let keys = [
        "header_read_timeout_ms",
        "body_read_timeout_ms",
        "body_idle_timeout_ms",
        "keep_alive_idle_ms",
        "max_connections",
        "max_in_flight_per_key",
        "drain_timeout_ms",
    ];
    for (line, key) in keys.iter().enumerate() {
        let error = errors
            .iter()
            .find(|e| e.message.contains(&format!("server.{key}")))
            .unwrap_or_else(|| panic!("no error for {key}: {errors:?}"));
        assert_eq!(error.line, line + 2, "{error:?}");
        assert!(error.message.contains("positive"), "{error:?}");
    }
}

#[test]
fn every_type_error_is_reported_at_once_with_its_line() {
    let text = r#"
[server]
listen = 8787
max_body_bytes = "big"

[store]
sqlite = "clearance.db"
nonsense = 1

[providers.acme]
kind = "anthropic"
base_url = "http://127.0.0.1:9101"
api_key_env = "ACME_KEY"

[[models]]
name = "a"
provider = "acme"
tags = "frontier"

[[models]]
name = 7
provider = "acme"

[[models]]
name = "c"
provider = "acme"
upstream = ["x"]

[audit]
max_wait_ms = true
"#;
    let errors = parse(text).unwrap_err().0;
    let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
    // listen, max_body_bytes, nonsense (unknown key), tags, name, upstream, max_wait_ms: each
    // once, at its own line, and nothing invented for the values taken out along the way.
    assert_eq!(lines, vec![3, 4, 8, 18, 21, 27, 30], "{errors:#?}");
    assert!(errors[1].message.contains("\"big\""), "{errors:#?}");
    assert!(
        errors[2].message.contains("unknown key `nonsense`"),
        "{errors:#?}"
    );
}

#[test]
fn a_missing_required_field_is_reported_once_beside_a_type_error() {
    let text = "[server]\nlisten = 1\n\n[[models]]\nprovider = \"x\"\n";
    let errors = parse(text).unwrap_err().0;
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert_eq!(errors[0].line, 2, "{errors:#?}");
    assert!(errors[1].message.contains("name"), "{errors:#?}");
}
