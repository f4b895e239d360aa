//! Users and Groups as the server keeps them: the JSON a client sent, with names in canonical
//! case, string booleans read as booleans, read-only and write-only attributes dropped; and
//! typed views of the attributes Clearance reads ([`User`], [`Group`]), checked for type.
//!
//! A resource keeps every attribute a client sends, known or not (an identity provider maps
//! what its admin chose; refusing an unknown attribute would break provisioning for nothing);
//! only the attributes in [`User`] and [`Group`] have meaning here.

use clearance_core::fact_table::FactKind;
use clearance_core::import::json_type;
use serde_json::{Map, Value};

use crate::error::{ScimError, ScimType};
use crate::filter::get_ci;
use crate::schema::{EXTENSION_FACTS, ResourceKind, canonical_name, is_boolean, split_extension};

/// When and which version of a resource: `meta` and the ETag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub created: chrono::DateTime<chrono::Utc>,
    pub last_modified: chrono::DateTime<chrono::Utc>,
    pub version: i64,
}

impl Meta {
    /// The weak ETag of this version (`W/"3"`).
    pub fn etag(&self) -> String {
        format!("W/\"{}\"", self.version)
    }
}

/// Whether an `If-Match` header value allows a change to the resource at `version`: `*`, or
/// any listed tag (weak or strong) naming that version.
pub fn if_match_allows(header: &str, version: i64) -> bool {
    header.split(',').map(str::trim).any(|tag| {
        tag == "*" || tag.trim_start_matches("W/").trim_matches('"') == version.to_string()
    })
}

fn invalid_value(detail: impl Into<String>) -> ScimError {
    ScimError::bad(ScimType::InvalidValue, detail)
}

/// The resource body a client sent (POST, PUT, or the result of a PATCH), as kept: an object
/// with canonical names; `id`, `meta` and `password` dropped (the server assigns the first two
/// and never keeps a password), and a User's `groups` dropped (membership lives on Groups).
pub fn normalize(kind: ResourceKind, body: Value) -> Result<Map<String, Value>, ScimError> {
    let Value::Object(object) = body else {
        return Err(ScimError::bad(
            ScimType::InvalidSyntax,
            format!("a {} must be a JSON object", kind.as_str()),
        ));
    };
    let mut kept = Map::new();
    for (key, value) in object {
        if let Some((urn, rest)) = split_extension(&key, kind) {
            let slot = kept
                .entry(urn.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if rest.is_empty() {
                let Value::Object(ext) = value else {
                    return Err(invalid_value(format!("{urn} must be an object")));
                };
                for (k, v) in ext {
                    put(slot, &k, v)?;
                }
            } else {
                put(slot, rest, value)?;
            }
            continue;
        }
        let name = canonical_name(&key);
        let dropped = matches!(name.as_str(), "id" | "meta" | "password" | "schemas")
            || (kind == ResourceKind::User && name == "groups");
        if !dropped {
            kept.insert(name, canonical_value(&key, value)?);
        }
    }
    let mut schemas = vec![Value::from(kind.core_schema())];
    schemas.extend(
        kind.extensions()
            .iter()
            .filter(|urn| kept.contains_key(**urn))
            .map(|urn| Value::from(*urn)),
    );
    let mut body = Map::new();
    body.insert("schemas".into(), Value::Array(schemas));
    body.extend(kept);
    Ok(body)
}

fn put(slot: &mut Value, key: &str, value: Value) -> Result<(), ScimError> {
    if let Value::Object(map) = slot {
        map.insert(canonical_name(key), canonical_value(key, value)?);
    }
    Ok(())
}

/// A value with its sub-attribute names canonical and string booleans read.
fn canonical_value(key: &str, value: Value) -> Result<Value, ScimError> {
    let name = canonical_name(key);
    Ok(match value {
        Value::String(text) if is_boolean(&name) => {
            match text.trim().to_ascii_lowercase().as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => {
                    return Err(invalid_value(format!(
                        "{name}: `{}` is not a boolean (true or false)",
                        text.escape_debug()
                    )));
                }
            }
        }
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                out.insert(canonical_name(&k), canonical_value(&k, v)?);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|item| match item {
                    Value::Object(_) => canonical_value("", item),
                    other => Ok(other),
                })
                .collect::<Result<_, _>>()?,
        ),
        other => other,
    })
}

/// What Clearance reads of a User, each attribute checked for type.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct User {
    pub user_name: String,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    /// `name.formatted`, or `givenName familyName`.
    pub full_name: Option<String>,
    pub active: bool,
    pub user_type: Option<String>,
    pub employee_number: Option<String>,
    pub organization: Option<String>,
    /// The Clearance extension's facts (fact name to value: an array of strings for a list
    /// fact, a boolean for a yes/no fact, a string or `null` otherwise), checked for type
    /// here and for content when the principal is made (`mapping.rs`).
    pub facts: Vec<(&'static str, Value)>,
}

/// What Clearance reads of a Group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Group {
    pub display_name: String,
    pub external_id: Option<String>,
    /// Member ids (`members[].value`), in order, without repeats.
    pub members: Vec<String>,
}

fn string_at(scope: &Value, name: &str, shown: &str) -> Result<Option<String>, ScimError> {
    match get_ci(scope, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(other) => Err(invalid_value(format!(
            "{shown} must be a string, not {}",
            json_type(other)
        ))),
    }
}

/// A list of strings: an array, or one string of entries separated by `,` or `;` (Entra ID's
/// directory extension attributes are single strings).
fn list_at(scope: &Value, name: &str, shown: &str) -> Result<Vec<String>, ScimError> {
    let items: Vec<String> = match get_ci(scope, name) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => s.split([',', ';']).map(str::to_string).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                // `[{"value": "US"}]`: the shape of a multi-valued attribute in SCIM.
                Value::Object(_) => match get_ci(item, "value") {
                    Some(Value::String(s)) => Ok(s.clone()),
                    _ => Err(invalid_value(format!(
                        "{shown}: every entry must be a string"
                    ))),
                },
                other => Err(invalid_value(format!(
                    "{shown}: every entry must be a string, not {}",
                    json_type(other)
                ))),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(invalid_value(format!(
                "{shown} must be an array of strings, not {}",
                json_type(other)
            )));
        }
    };
    Ok(items
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect())
}

fn bool_at(scope: &Value, name: &str, shown: &str, default: bool) -> Result<bool, ScimError> {
    match get_ci(scope, name) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(invalid_value(format!(
            "{shown} must be a boolean, not {}",
            json_type(other)
        ))),
    }
}

impl User {
    /// The extension fact of that name (a name from the fact table), as read.
    pub fn fact(&self, name: &str) -> Option<&Value> {
        self.facts
            .iter()
            .find(|(fact, _)| *fact == name)
            .map(|(_, v)| v)
    }

    /// Reads a kept User body (see [`normalize`]). `userName` is required.
    pub fn read(body: &Map<String, Value>) -> Result<User, ScimError> {
        use crate::schema::{CLEARANCE_USER, ENTERPRISE_USER};
        let root = Value::Object(body.clone());
        let user_name = string_at(&root, "userName", "userName")?
            .ok_or_else(|| ScimError::bad(ScimType::InvalidValue, "userName is required"))?;
        let name = get_ci(&root, "name").cloned().unwrap_or(Value::Null);
        let formatted = string_at(&name, "formatted", "name.formatted")?;
        let given = string_at(&name, "givenName", "name.givenName")?;
        let family = string_at(&name, "familyName", "name.familyName")?;
        let full_name = formatted.or_else(|| {
            let joined = [given, family]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            (!joined.is_empty()).then_some(joined)
        });
        let empty = Value::Object(Map::new());
        let enterprise = get_ci(&root, ENTERPRISE_USER).unwrap_or(&empty);
        let clearance = get_ci(&root, CLEARANCE_USER).unwrap_or(&empty);
        let ext = |attr: &str| format!("{CLEARANCE_USER}:{attr}");
        let ent = |attr: &str| format!("{ENTERPRISE_USER}:{attr}");
        Ok(User {
            user_name,
            external_id: string_at(&root, "externalId", "externalId")?,
            display_name: string_at(&root, "displayName", "displayName")?,
            full_name,
            active: bool_at(&root, "active", "active", true)?,
            user_type: string_at(&root, "userType", "userType")?,
            employee_number: string_at(enterprise, "employeeNumber", &ent("employeeNumber"))?,
            organization: string_at(enterprise, "organization", &ent("organization"))?,
            facts: EXTENSION_FACTS
                .iter()
                .map(|fact| {
                    let (name, shown) = (&fact.attribute, ext(&fact.attribute));
                    let value = match fact.spec.kind {
                        kind if kind.is_list() => Value::from(list_at(clearance, name, &shown)?),
                        FactKind::Flag => Value::Bool(bool_at(clearance, name, &shown, false)?),
                        _ => string_at(clearance, name, &shown)?.map_or(Value::Null, Value::from),
                    };
                    Ok((fact.spec.name, value))
                })
                .collect::<Result<_, ScimError>>()?,
        })
    }
}

impl Group {
    /// Reads a kept Group body. `displayName` is required; every member needs a `value`.
    pub fn read(body: &Map<String, Value>) -> Result<Group, ScimError> {
        let root = Value::Object(body.clone());
        let display_name = string_at(&root, "displayName", "displayName")?
            .ok_or_else(|| ScimError::bad(ScimType::InvalidValue, "displayName is required"))?;
        let mut members: Vec<String> = Vec::new();
        match get_ci(&root, "members") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for item in items {
                    match get_ci(item, "value") {
                        Some(Value::String(id)) if !id.trim().is_empty() => {
                            if !members.iter().any(|m| m == id.trim()) {
                                members.push(id.trim().to_string());
                            }
                        }
                        _ => {
                            return Err(invalid_value(
                                "members: every member must have a string `value` (the user's id)",
                            ));
                        }
                    }
                }
            }
            Some(other) => {
                return Err(invalid_value(format!(
                    "members must be an array, not {}",
                    json_type(other)
                )));
            }
        }
        Ok(Group {
            display_name,
            external_id: string_at(&root, "externalId", "externalId")?,
            members,
        })
    }
}

/// A resource as answered: `schemas`, `id`, the kept attributes, a User's `groups` (computed
/// from the groups it belongs to: `(id, displayName)`), and `meta` with its location.
pub fn render(
    kind: ResourceKind,
    id: &str,
    body: &Map<String, Value>,
    meta: &Meta,
    base: &str,
    groups: Option<&[(String, String)]>,
) -> Value {
    let mut out = Map::new();
    if let Some(schemas) = body.get("schemas") {
        out.insert("schemas".into(), schemas.clone());
    }
    out.insert("id".into(), id.into());
    for (k, v) in body {
        if k != "schemas" {
            out.insert(k.clone(), v.clone());
        }
    }
    if let Some(groups) = groups {
        let listed: Vec<Value> = groups
            .iter()
            .map(|(gid, display)| {
                serde_json::json!({
                    "value": gid, "display": display, "$ref": format!("{base}/Groups/{gid}")
                })
            })
            .collect();
        out.insert("groups".into(), Value::Array(listed));
    }
    out.insert(
        "meta".into(),
        serde_json::json!({
            "resourceType": kind.as_str(),
            "created": meta.created.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "lastModified": meta.last_modified.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "location": format!("{base}/{}/{id}", kind.endpoint()),
            "version": meta.etag(),
        }),
    );
    Value::Object(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::schema::CLEARANCE_USER;
    use serde_json::json;

    #[test]
    fn names_are_canonicalised_string_booleans_read_and_passwords_dropped() {
        let body = normalize(
            ResourceKind::User,
            json!({
                "USERNAME": "bob", "Active": "False", "password": "hunter2", "id": "forged",
                "urn:ietf:params:scim:schemas:extension:clearance:2.0:user": {"Citizenships": ["de"], "protectedindividual": "True"}
            }),
        )
        .unwrap();
        assert_eq!(body["userName"], "bob");
        assert_eq!(body["active"], false);
        assert!(!body.contains_key("password") && !body.contains_key("id"));
        assert_eq!(body[CLEARANCE_USER]["protectedIndividual"], true);
        let user = User::read(&body).unwrap();
        assert_eq!(user.fact("citizenships"), Some(&json!(["de"])));
        assert_eq!(user.fact("protected_individual"), Some(&json!(true)));
        assert!(!user.active);
        assert_eq!(
            body["schemas"],
            json!(["urn:ietf:params:scim:schemas:core:2.0:User", CLEARANCE_USER])
        );
    }

    #[test]
    fn a_wrongly_typed_fact_names_its_attribute() {
        let body = normalize(
            ResourceKind::User,
            json!({"userName": "bob", CLEARANCE_USER: {"residence": 7}}),
        )
        .unwrap();
        let error = User::read(&body).unwrap_err();
        assert_eq!(error.scim_type, Some(ScimType::InvalidValue));
        assert!(
            error
                .detail
                .contains(&format!("{CLEARANCE_USER}:residence")),
            "{}",
            error.detail
        );
        let error = normalize(
            ResourceKind::User,
            json!({"userName": "b", "active": "maybe"}),
        )
        .unwrap_err();
        assert!(error.detail.starts_with("active:"), "{}", error.detail);
    }

    #[test]
    fn if_match_accepts_weak_strong_and_star() {
        assert!(if_match_allows("W/\"3\"", 3));
        assert!(if_match_allows("\"3\"", 3));
        assert!(if_match_allows("*", 9));
        assert!(!if_match_allows("W/\"2\"", 3));
    }
}
