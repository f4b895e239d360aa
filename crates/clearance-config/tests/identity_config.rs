//! `[[identity.oidc]]`: defaults, every key read, and each mistake reported at its line.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use clearance_config::{Config, ConfigErrors, JwksSource};
use clearance_identity::{Algorithm, Prefer, UnknownPrincipals};

fn parse(text: &str) -> Result<Config, ConfigErrors> {
    Config::parse(text, Path::new("/srv/clearance.toml"), &|_| None)
}

fn messages(text: &str) -> Vec<(usize, String)> {
    parse(text)
        .unwrap_err()
        .0
        .into_iter()
        .map(|e| (e.line, e.message))
        .collect()
}

#[test]
fn an_issuer_with_only_the_required_keys_gets_the_defaults_and_discovery() {
    let config = parse(
        "[[identity.oidc]]\nissuer = \"https://example.okta.com/oauth2/default\"\naudience = \"api://clearance\"\n",
    )
    .unwrap();
    let issuer = &config.identity.oidc[0];
    assert_eq!(issuer.policy.audiences, vec!["api://clearance"]);
    assert_eq!(
        issuer.policy.algorithms,
        vec![Algorithm::Rs256, Algorithm::Es256]
    );
    assert_eq!(issuer.policy.clock_skew_s, 60);
    assert_eq!(issuer.policy.claims.principal.as_str(), "sub");
    assert_eq!(issuer.policy.prefer.default, Prefer::Registry);
    assert_eq!(issuer.policy.unknown_principals, UnknownPrincipals::Refuse);
    assert_eq!(issuer.jwks_refresh, Duration::from_secs(300));
    assert_eq!(
        issuer.jwks,
        JwksSource::Discovery(
            "https://example.okta.com/oauth2/default/.well-known/openid-configuration"
                .parse()
                .unwrap()
        )
    );
}

#[test]
fn no_identity_section_means_keys_only() {
    assert!(parse("").unwrap().identity.oidc.is_empty());
}

#[test]
fn every_key_is_read() {
    let config = parse(
        r#"
[[identity.oidc]]
issuer = "https://login.microsoftonline.com/tid/v2.0"
audience = ["api://clearance", "00000000-0000-0000-0000-000000000001"]
jwks_url = "https://login.microsoftonline.com/tid/discovery/v2.0/keys"
algorithms = ["RS256"]
clock_skew_s = 30
jwks_refresh_s = 600
principal_claim = "ext.employee_id"
principal_prefix = "entra:"
prefer = "token"
unknown_principals = "token_facts"

[identity.oidc.claims]
citizenships = "citizenships"
permanent_residency = "ext.pr"
protected_individual = "protected"
residence = "ext.residence"
org = "department"
employee = "is_employee"
roles = "roles"

[identity.oidc.prefer_fact]
residence = "registry"
"#,
    )
    .unwrap();
    let issuer = &config.identity.oidc[0];
    let p = &issuer.policy;
    assert_eq!(p.audiences.len(), 2);
    assert_eq!(p.algorithms, vec![Algorithm::Rs256]);
    assert_eq!(p.clock_skew_s, 30);
    assert_eq!(issuer.jwks_refresh, Duration::from_secs(600));
    assert!(matches!(issuer.jwks, JwksSource::Url(_)));
    assert_eq!(p.claims.principal.as_str(), "ext.employee_id");
    assert_eq!(p.claims.principal_prefix.as_deref(), Some("entra:"));
    assert_eq!(p.claims.facts.len(), 7);
    assert_eq!(p.prefer.default, Prefer::Token);
    assert_eq!(p.prefer.for_fact("residence"), Prefer::Registry);
    assert_eq!(p.prefer.for_fact("org"), Prefer::Token);
    assert_eq!(p.unknown_principals, UnknownPrincipals::TokenFacts);
}

#[test]
fn none_and_hmac_algorithms_are_refused_at_their_line() {
    let found = messages(
        "[[identity.oidc]]\nissuer = \"https://idp.example.com\"\naudience = \"a\"\nalgorithms = [\"RS256\",\n  \"none\",\n  \"HS256\"]\n",
    );
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0].0, 5);
    assert!(
        found[0].1.contains("`none` accepts unsigned tokens"),
        "{found:?}"
    );
    assert_eq!(found[1].0, 6);
    assert!(found[1].1.contains("symmetric (HMAC)"), "{found:?}");
}

#[test]
fn mistakes_are_all_reported_with_their_lines() {
    let found = messages(
        r#"[[identity.oidc]]
issuer = "http://idp.example.com"
audience = []
prefer = "hr"
unknown_principals = "allow"
principal_claim = "a..b"
clock_skew_s = -1
[identity.oidc.claims]
citizenship = "c"
residence = ""
[identity.oidc.prefer_fact]
org = "idp"
"#,
    );
    let lines: Vec<usize> = found.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, vec![2, 3, 4, 5, 6, 7, 9, 10, 12], "{found:?}");
    assert!(
        found[0]
            .1
            .contains("plain http is allowed only on a loopback")
    );
    assert!(
        found[6]
            .1
            .contains("identity.oidc.claims: `citizenship` is not a principal fact a token may carry (those are: citizenships, "),
        "{found:?}"
    );
}

#[test]
fn an_issuer_configured_twice_is_reported() {
    let found = messages(
        "[[identity.oidc]]\nissuer = \"https://i\"\naudience = \"a\"\n[[identity.oidc]]\nissuer = \"https://i\"\naudience = \"b\"\n",
    );
    assert_eq!(found.len(), 1);
    assert!(found[0].1.contains("configured twice (first on line 2)"));
}

#[test]
fn loopback_http_is_allowed_for_tests_and_the_demo() {
    let config =
        parse("[[identity.oidc]]\nissuer = \"http://127.0.0.1:9000\"\naudience = \"a\"\n").unwrap();
    assert_eq!(config.identity.oidc.len(), 1);
}
