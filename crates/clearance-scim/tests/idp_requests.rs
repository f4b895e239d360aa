//! Okta's and Entra ID's requests (fixtures written from their published documentation, see
//! `fixtures/README.md`) applied as this crate applies them, down to the principal.

#![allow(clippy::unwrap_used)]

use chrono::Utc;
use clearance_scim::filter::Filter;
use clearance_scim::mapping::{IdAttribute, to_principal};
use clearance_scim::patch::{apply, parse_request};
use clearance_scim::resource::{Group, User, normalize};
use clearance_scim::schema::{CLEARANCE_USER, ENTERPRISE_USER};
use clearance_scim::{ResourceKind, ScimType};
use serde_json::{Map, Value};

fn fixture(path: &str, user_id: &str) -> Value {
    let text = std::fs::read_to_string(format!(
        "{}/tests/fixtures/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    serde_json::from_str(
        &text
            .replace("{user_id}", user_id)
            .replace("{group_id}", "g-1"),
    )
    .unwrap()
}

fn created(kind: ResourceKind, path: &str) -> Map<String, Value> {
    normalize(kind, fixture(path, "u-1")).unwrap()
}

fn patched(kind: ResourceKind, body: &Map<String, Value>, path: &str) -> Map<String, Value> {
    let ops = parse_request(&fixture(path, "u-1"), kind).unwrap();
    apply(kind, body, &ops).unwrap()
}

#[test]
fn okta_create_keeps_no_password_and_maps_the_clearance_extension() {
    let body = created(ResourceKind::User, "okta/create_user.json");
    assert!(!body.contains_key("password"));
    assert!(
        !body.contains_key("groups"),
        "groups is read-only on a User"
    );
    let user = User::read(&body).unwrap();
    let p = to_principal(&user, &[], IdAttribute::UserName, Utc::now()).unwrap();
    assert_eq!(p.id.as_str(), "test.user@okta.local");
    assert!(p.us_person());
    assert!(p.active);
}

#[test]
fn okta_deactivation_without_a_path_makes_the_principal_inactive() {
    let body = created(ResourceKind::User, "okta/create_user.json");
    let body = patched(ResourceKind::User, &body, "okta/deactivate_user.json");
    assert_eq!(body["active"], false);
    let user = User::read(&body).unwrap();
    assert!(
        !to_principal(&user, &[], IdAttribute::UserName, Utc::now())
            .unwrap()
            .active
    );
}

#[test]
fn okta_profile_update_without_a_path_merges_the_extension_object() {
    let body = created(ResourceKind::User, "okta/create_user.json");
    let body = patched(ResourceKind::User, &body, "okta/update_user_profile.json");
    let user = User::read(&body).unwrap();
    assert_eq!(user.display_name.as_deref(), Some("Another User"));
    assert_eq!(user.fact("citizenships"), Some(&serde_json::json!(["CA"])));
    assert_eq!(user.fact("residence"), Some(&serde_json::json!("CA")));
    assert_eq!(body["name"]["givenName"], "Another");
}

#[test]
fn okta_group_rename_repeating_the_id_and_member_add_and_filtered_remove() {
    let group = created(ResourceKind::Group, "okta/create_group.json");
    let group = patched(ResourceKind::Group, &group, "okta/rename_group.json");
    assert!(
        !group.contains_key("id"),
        "the id in a replace value is not kept"
    );
    let group = patched(ResourceKind::Group, &group, "okta/add_members.json");
    assert_eq!(Group::read(&group).unwrap().members, vec!["u-1"]);
    assert_eq!(
        Group::read(&group).unwrap().display_name,
        "Test SCIMv2 renamed"
    );
    let again = patched(ResourceKind::Group, &group, "okta/add_members.json");
    assert_eq!(
        Group::read(&again).unwrap().members,
        vec!["u-1"],
        "an add is idempotent"
    );
    let group = patched(ResourceKind::Group, &group, "okta/remove_member.json");
    assert!(Group::read(&group).unwrap().members.is_empty());
    let group = patched(ResourceKind::Group, &group, "okta/remove_member.json");
    assert!(
        Group::read(&group).unwrap().members.is_empty(),
        "a repeated remove changes nothing"
    );
}

#[test]
fn entra_create_reads_string_lists_string_booleans_and_the_enterprise_extension() {
    let body = created(ResourceKind::User, "entra/create_user.json");
    assert_eq!(body[CLEARANCE_USER]["protectedIndividual"], false);
    let user = User::read(&body).unwrap();
    let p = to_principal(&user, &[], IdAttribute::UserName, Utc::now()).unwrap();
    assert_eq!(
        p.id.as_str(),
        "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1"
    );
    assert!(p.us_citizen());
    assert!(p.employee);
    assert_eq!(p.org.as_deref(), Some("Research"));
    let by_external = to_principal(&user, &[], IdAttribute::ExternalId, Utc::now()).unwrap();
    assert_eq!(
        by_external.id.as_str(),
        "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"
    );
    let by_number = to_principal(&user, &[], IdAttribute::EmployeeNumber, Utc::now()).unwrap();
    assert_eq!(by_number.id.as_str(), "E-1001");
}

#[test]
fn entra_value_path_replace_edits_the_work_email_and_creates_it_when_missing() {
    let body = created(ResourceKind::User, "entra/create_user.json");
    let body = patched(ResourceKind::User, &body, "entra/update_user.json");
    assert_eq!(body["emails"][0]["value"], "updatedEmail@microsoft.com");
    assert_eq!(body["emails"][0]["primary"], true);
    assert_eq!(body["name"]["familyName"], "updatedFamilyName");
    let mut bare = body.clone();
    bare.remove("emails");
    let body = patched(ResourceKind::User, &bare, "entra/update_user.json");
    assert_eq!(
        body["emails"],
        serde_json::json!([{"type": "work", "value": "updatedEmail@microsoft.com"}])
    );
}

#[test]
fn entra_extension_paths_move_the_user_out_of_the_us() {
    let body = created(ResourceKind::User, "entra/create_user.json");
    let body = patched(ResourceKind::User, &body, "entra/move_user.json");
    let user = User::read(&body).unwrap();
    let p = to_principal(&user, &[], IdAttribute::UserName, Utc::now()).unwrap();
    assert!(!p.us_person());
    assert_eq!(p.residence.map(|c| c.to_string()), Some("CN".into()));
    assert_eq!(p.org.as_deref(), Some("Shanghai Lab"));
    assert_eq!(
        body[ENTERPRISE_USER]["employeeNumber"], "E-1001",
        "the rest of the extension stays"
    );
}

#[test]
fn entra_disable_with_a_capitalised_op_and_a_string_boolean() {
    let body = created(ResourceKind::User, "entra/create_user.json");
    let body = patched(ResourceKind::User, &body, "entra/disable_user.json");
    assert_eq!(body["active"], false);
}

#[test]
fn entra_member_add_and_remove_with_a_value_list() {
    let group = created(ResourceKind::Group, "entra/create_group.json");
    let group = patched(ResourceKind::Group, &group, "entra/add_member.json");
    assert_eq!(Group::read(&group).unwrap().members, vec!["u-1"]);
    let group = patched(ResourceKind::Group, &group, "entra/remove_member.json");
    assert!(Group::read(&group).unwrap().members.is_empty());
}

#[test]
fn entra_filters_parse_and_match_the_created_resources() {
    let user = Value::Object(created(ResourceKind::User, "entra/create_user.json"));
    let group = Value::Object(created(ResourceKind::Group, "entra/create_group.json"));
    let text = std::fs::read_to_string(format!(
        "{}/tests/fixtures/entra/filters.txt",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        Filter::parse(lines[0], ResourceKind::User)
            .unwrap()
            .matches(&user)
    );
    assert!(
        Filter::parse(lines[1], ResourceKind::User)
            .unwrap()
            .matches(&user)
    );
    assert!(
        Filter::parse(lines[2], ResourceKind::Group)
            .unwrap()
            .matches(&group)
    );
}

#[test]
fn bad_patches_get_the_scim_type_that_says_why() {
    let body = created(ResourceKind::User, "okta/create_user.json");
    let cases = [
        (
            r#"{"Operations":[{"op":"move","path":"active","value":true}]}"#,
            ScimType::InvalidSyntax,
        ),
        (r#"{"Operations":[{"op":"remove"}]}"#, ScimType::NoTarget),
        (
            r#"{"Operations":[{"op":"replace","path":"emails[type eq]","value":"x"}]}"#,
            ScimType::InvalidPath,
        ),
        (
            r#"{"Operations":[{"op":"replace","path":"id","value":"x"}]}"#,
            ScimType::Mutability,
        ),
        (
            r#"{"Operations":[{"op":"add","path":"groups","value":[{"value":"g"}]}]}"#,
            ScimType::Mutability,
        ),
        (
            r#"{"Operations":[{"op":"replace","path":"active","value":"nope"}]}"#,
            ScimType::InvalidValue,
        ),
        (r#"{"nothing":[]}"#, ScimType::InvalidSyntax),
    ];
    for (text, expected) in cases {
        let request: Value = serde_json::from_str(text).unwrap();
        let error = parse_request(&request, ResourceKind::User)
            .and_then(|ops| apply(ResourceKind::User, &body, &ops))
            .unwrap_err();
        assert_eq!(error.scim_type, Some(expected), "{text}: {}", error.detail);
        assert_eq!(error.status, 400);
    }
}
