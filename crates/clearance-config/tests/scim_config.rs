//! `[identity.scim]`: switched on by the section, its token read from its own variable.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use clearance_config::Config;
use clearance_scim::mapping::IdAttribute;

fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, String> {
    Config::parse(text, Path::new("/t.toml"), env).map_err(|e| e.to_string())
}

#[test]
fn scim_is_off_without_the_section() {
    let config = parse("", &|_| Some("x".into())).unwrap();
    assert!(config.identity.scim.is_none());
}

#[test]
fn the_token_comes_from_the_named_variable_and_the_id_attribute_is_read() {
    let env = |name: &str| (name == "IDP_SCIM").then(|| "s3cret".to_string());
    let config = parse(
        "[identity.scim]\ntoken_env = \"IDP_SCIM\"\nprincipal_id_attribute = \"externalId\"\n",
        &env,
    )
    .unwrap();
    let scim = config.identity.scim.unwrap();
    assert_eq!(scim.token.unwrap().expose(), "s3cret");
    assert_eq!(scim.token_env, "IDP_SCIM");
    assert_eq!(scim.principal_id_attribute, IdAttribute::ExternalId);
    let default = parse("[identity.scim]\n", &|n| {
        (n == "CLEARANCE_SCIM_TOKEN").then(|| "t".into())
    })
    .unwrap();
    assert_eq!(
        default.identity.scim.unwrap().principal_id_attribute,
        IdAttribute::UserName
    );
}

#[test]
fn a_missing_token_or_an_unknown_attribute_is_reported_at_its_line() {
    let error = parse("[identity.scim]\ntoken_env = \"NOPE\"\n", &|_| None).unwrap_err();
    assert!(
        error.contains("identity.scim.token_env: environment variable NOPE is not set"),
        "{error}"
    );
    let error = parse("[identity.scim]\n", &|_| None).unwrap_err();
    assert!(error.contains("CLEARANCE_SCIM_TOKEN"), "{error}");
    let error = parse(
        "[identity.scim]\nprincipal_id_attribute = \"mail\"\n",
        &|_| Some("t".into()),
    )
    .unwrap_err();
    assert!(error.contains("/t.toml:2:"), "{error}");
    assert!(
        error.contains("`mail` is not one of userName, externalId, employeeNumber"),
        "{error}"
    );
    let error = parse("[identity.scim]\ntoken = \"inline\"\n", &|_| {
        Some("t".into())
    })
    .unwrap_err();
    assert!(error.contains("unknown key"), "{error}");
}
