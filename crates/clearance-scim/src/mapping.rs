//! From a provisioned User (and the Groups it belongs to) to a Clearance [`Principal`].
//!
//! | SCIM | principal |
//! |---|---|
//! | the configured id attribute (`userName` by default; or `externalId`, `employeeNumber`) | `id` |
//! | `displayName`, else `name.formatted`, else `givenName familyName`, else the id | `name` |
//! | each Clearance extension attribute (`citizenships`, `permanentResidency`, `protectedIndividual`, `residence`: every fact in the table but the three below, in camelCase) | the fact of that name |
//! | enterprise `organization` | `org` |
//! | `userType` when present (`Employee`, any case: true; anything else: false); without it, an enterprise `employeeNumber` | `employee` |
//! | the `displayName` of every Group with the user among its `members` | `roles` |
//! | `active` (default true) | `active` |
//! | the time of the write | `facts_confirmed_at` |
//!
//! The facts are checked exactly as a principal file's row is ([`clearance_core::import`]:
//! country codes, caps, the id's character set), by handing them to the same parser; a
//! problem is answered 400 `invalidValue` naming the SCIM attribute it came from.

use chrono::{DateTime, Utc};
use clearance_core::import::{ImportFormat, parse_principals};
use clearance_core::principal::Principal;
use serde_json::json;

use crate::error::{ScimError, ScimType};
use crate::resource::User;
use crate::schema::{CLEARANCE_USER, ENTERPRISE_USER, EXTENSION_FACTS};

/// Which User attribute becomes the principal id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdAttribute {
    #[default]
    UserName,
    ExternalId,
    EmployeeNumber,
}

impl IdAttribute {
    /// The attribute's SCIM name as configured and documented.
    pub fn name(self) -> &'static str {
        match self {
            IdAttribute::UserName => "userName",
            IdAttribute::ExternalId => "externalId",
            IdAttribute::EmployeeNumber => "employeeNumber",
        }
    }

    /// Reads a configured name (any case).
    pub fn parse(text: &str) -> Option<IdAttribute> {
        [
            IdAttribute::UserName,
            IdAttribute::ExternalId,
            IdAttribute::EmployeeNumber,
        ]
        .into_iter()
        .find(|a| a.name().eq_ignore_ascii_case(text.trim()))
    }

    fn shown(self) -> String {
        match self {
            IdAttribute::EmployeeNumber => format!("{ENTERPRISE_USER}:employeeNumber"),
            other => other.name().to_string(),
        }
    }
}

/// Whether the user is an employee: `userType` decides when present, else an `employeeNumber`.
pub fn is_employee(user: &User) -> bool {
    match &user.user_type {
        Some(kind) => kind.eq_ignore_ascii_case("employee"),
        None => user.employee_number.is_some(),
    }
}

/// The principal a user is, with `roles` from its groups, confirmed at `now`.
pub fn to_principal(
    user: &User,
    roles: &[String],
    id_attribute: IdAttribute,
    now: DateTime<Utc>,
) -> Result<Principal, ScimError> {
    let id = match id_attribute {
        IdAttribute::UserName => Some(user.user_name.clone()),
        IdAttribute::ExternalId => user.external_id.clone(),
        IdAttribute::EmployeeNumber => user.employee_number.clone(),
    }
    .ok_or_else(|| {
        ScimError::bad(
            ScimType::InvalidValue,
            format!(
                "{} is required: it is this gateway's principal id ([identity.scim] principal_id_attribute)",
                id_attribute.shown()
            ),
        )
    })?;
    let name = user
        .display_name
        .clone()
        .or_else(|| user.full_name.clone())
        .unwrap_or_else(|| id.clone());
    let mut row = json!({
        "id": id,
        "name": name,
        "org": user.organization,
        "employee": is_employee(user),
        "roles": roles,
    });
    for (fact, value) in &user.facts {
        row[*fact] = value.clone();
    }
    let mut principals = parse_principals(&row.to_string(), ImportFormat::Jsonl)
        .map_err(|errors| problem(&errors, id_attribute))?;
    let mut principal = principals
        .pop()
        .ok_or_else(|| ScimError::new(500, None, "the principal parser returned no principal"))?;
    principal.active = user.active;
    principal.facts_confirmed_at = Some(now);
    Ok(principal)
}

/// The import's problems with each column named as the SCIM attribute it came from.
fn problem(errors: &[clearance_core::import::RowError], id_attribute: IdAttribute) -> ScimError {
    let renamed: Vec<String> = errors
        .iter()
        .flat_map(|e| e.message.split("; "))
        .map(|message| match message.split_once(": ") {
            Some((column, rest)) => format!("{}: {rest}", scim_attribute(column, id_attribute)),
            None => message.to_string(),
        })
        .collect();
    ScimError::bad(ScimType::InvalidValue, renamed.join("; "))
}

fn scim_attribute(column: &str, id_attribute: IdAttribute) -> String {
    match column {
        "id" => id_attribute.shown(),
        "name" => "displayName".to_string(),
        "org" => format!("{ENTERPRISE_USER}:organization"),
        "roles" => "groups (the displayName of each group the user is in)".to_string(),
        fact => EXTENSION_FACTS
            .iter()
            .find(|ext| ext.spec.name == fact)
            .map_or_else(
                || fact.to_string(),
                |ext| format!("{CLEARANCE_USER}:{}", ext.attribute),
            ),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn user() -> User {
        User {
            user_name: "ana@example.com".into(),
            display_name: Some("Ana".into()),
            active: true,
            facts: vec![
                ("citizenships", json!(["de", "US"])),
                ("residence", json!("DE")),
            ],
            organization: Some("Research".into()),
            employee_number: Some("701".into()),
            ..User::default()
        }
    }

    #[test]
    fn facts_roles_and_confirmation_come_from_the_user_and_its_groups() {
        let now = Utc::now();
        let p = to_principal(
            &user(),
            &["export-reviewers".into()],
            IdAttribute::UserName,
            now,
        )
        .unwrap();
        assert_eq!(p.id.as_str(), "ana@example.com");
        assert_eq!(p.name, "Ana");
        assert!(p.us_citizen());
        assert_eq!(p.residence.map(|c| c.to_string()), Some("DE".into()));
        assert_eq!(p.org.as_deref(), Some("Research"));
        assert!(
            p.employee,
            "an employeeNumber without a userType makes an employee"
        );
        assert!(p.roles.contains("export-reviewers"));
        assert_eq!(p.facts_confirmed_at, Some(now));
    }

    /// The mapping walks the fact table: a fact added to it reaches the principal from its
    /// extension attribute with no change to this crate.
    #[test]
    fn every_extension_attribute_sets_its_fact() {
        use clearance_core::fact_table::FactKind;
        let mut extension = serde_json::Map::new();
        for fact in EXTENSION_FACTS.iter() {
            let value = match fact.spec.kind {
                FactKind::Countries => json!(["US"]),
                FactKind::Country => json!("US"),
                FactKind::Flag => json!(true),
                FactKind::Text | FactKind::Labels => json!("x"),
                FactKind::Screening => unreachable!("not provided"),
            };
            extension.insert(fact.attribute.to_uppercase(), value);
        }
        let body = crate::resource::normalize(
            crate::schema::ResourceKind::User,
            json!({"userName": "ana", CLEARANCE_USER: extension}),
        )
        .unwrap();
        let user = User::read(&body).unwrap();
        let p = to_principal(&user, &[], IdAttribute::UserName, Utc::now()).unwrap();
        for fact in EXTENSION_FACTS.iter() {
            assert_eq!(
                p.fact_unknown(fact.spec.name),
                Some(false),
                "{}",
                fact.attribute
            );
        }
        assert!(p.protected_individual && p.us_person());
    }

    #[test]
    fn user_type_decides_employee_when_present() {
        let contractor = User {
            user_type: Some("Contractor".into()),
            ..user()
        };
        assert!(!is_employee(&contractor));
        let employee = User {
            user_type: Some("employee".into()),
            employee_number: None,
            ..user()
        };
        assert!(is_employee(&employee));
    }

    #[test]
    fn bad_facts_are_invalid_value_naming_the_scim_attribute() {
        let bad = User {
            facts: vec![("residence", json!("XX")), ("citizenships", json!(["ZZ"]))],
            ..user()
        };
        let error = to_principal(&bad, &[], IdAttribute::UserName, Utc::now()).unwrap_err();
        assert_eq!(error.scim_type, Some(ScimType::InvalidValue));
        assert!(
            error
                .detail
                .contains(&format!("{CLEARANCE_USER}:residence")),
            "{}",
            error.detail
        );
        assert!(
            error
                .detail
                .contains(&format!("{CLEARANCE_USER}:citizenships")),
            "{}",
            error.detail
        );
        let codes: Vec<String> = (0..17).map(|i| format!("C{i}")).collect();
        let too_many = User {
            facts: vec![("citizenships", json!(codes))],
            ..user()
        };
        assert!(to_principal(&too_many, &[], IdAttribute::UserName, Utc::now()).is_err());
        let bad_id = User {
            user_name: "../../q8".into(),
            ..user()
        };
        let error = to_principal(&bad_id, &[], IdAttribute::UserName, Utc::now()).unwrap_err();
        assert!(error.detail.starts_with("userName:"), "{}", error.detail);
    }

    #[test]
    fn a_missing_id_attribute_is_named() {
        let error = to_principal(&user(), &[], IdAttribute::ExternalId, Utc::now()).unwrap_err();
        assert!(
            error.detail.starts_with("externalId is required"),
            "{}",
            error.detail
        );
    }
}
