//! The schemas this server speaks (their URNs and attribute names) and the discovery documents
//! (`/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`) that describe them to a client.
//!
//! Attribute names are case-insensitive in SCIM (RFC 7643 §2.1): a name a client sends in any
//! case is matched against the names here and stored in their canonical case, so a filter or
//! a PATCH path finds `userName` however it was spelt.

use std::sync::LazyLock;

use clearance_core::fact_table::{FactKind, FactSpec, provided_facts};
use serde_json::{Value, json};

pub const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const CORE_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// Clearance's own extension: the facts directives read that no standard schema carries.
pub const CLEARANCE_USER: &str = "urn:ietf:params:scim:schemas:extension:clearance:2.0:User";
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// The extension schemas a User may carry, each an object keyed by its URN.
pub const USER_EXTENSIONS: &[&str] = &[ENTERPRISE_USER, CLEARANCE_USER];

/// Which kind of resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    User,
    Group,
}

impl ResourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::User => "User",
            ResourceKind::Group => "Group",
        }
    }

    /// The endpoint under the base URL (`Users`, `Groups`).
    pub fn endpoint(self) -> &'static str {
        match self {
            ResourceKind::User => "Users",
            ResourceKind::Group => "Groups",
        }
    }

    pub fn core_schema(self) -> &'static str {
        match self {
            ResourceKind::User => CORE_USER,
            ResourceKind::Group => CORE_GROUP,
        }
    }

    /// The extension URNs this kind may carry.
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            ResourceKind::User => USER_EXTENSIONS,
            ResourceKind::Group => &[],
        }
    }
}

/// Every attribute name this server knows, in canonical case: top-level and sub-attributes
/// of every schema (a name is canonicalised wherever it appears; SCIM reuses few names with
/// different cases, and none here).
const KNOWN_NAMES: &[&str] = &[
    "schemas",
    "id",
    "externalId",
    "meta",
    "userName",
    "name",
    "formatted",
    "familyName",
    "givenName",
    "middleName",
    "honorificPrefix",
    "honorificSuffix",
    "displayName",
    "nickName",
    "profileUrl",
    "title",
    "userType",
    "preferredLanguage",
    "locale",
    "timezone",
    "active",
    "password",
    "emails",
    "phoneNumbers",
    "addresses",
    "ims",
    "photos",
    "value",
    "display",
    "type",
    "primary",
    "groups",
    "roles",
    "entitlements",
    "x509Certificates",
    "members",
    "$ref",
    "employeeNumber",
    "costCenter",
    "organization",
    "division",
    "department",
    "manager",
    "created",
    "lastModified",
    "version",
    "location",
    "resourceType",
    "streetAddress",
    "locality",
    "region",
    "postalCode",
    "country",
];

/// The principal facts a standard attribute carries (see `mapping.rs`); every other fact in
/// the table is an attribute of the Clearance extension.
pub const FACTS_IN_STANDARD_ATTRIBUTES: &[&str] = &["org", "employee", "roles"];

/// One fact carried by the Clearance extension, under its SCIM name.
#[derive(Debug)]
pub struct ExtensionFact {
    pub spec: &'static FactSpec,
    /// The fact's name in SCIM's camelCase (`permanent_residency`: `permanentResidency`).
    pub attribute: String,
}

/// The Clearance extension's attributes: every provided fact in the table (not `screening`,
/// which only screening sets) that no standard attribute carries, in table order. A fact added to the table appears here (in `/Schemas`, in what a
/// User is read for, in error messages) with no change to this crate.
pub static EXTENSION_FACTS: LazyLock<Vec<ExtensionFact>> = LazyLock::new(|| {
    provided_facts()
        .filter(|spec| !FACTS_IN_STANDARD_ATTRIBUTES.contains(&spec.name))
        .map(|spec| ExtensionFact {
            spec,
            attribute: camel_case(spec.name),
        })
        .collect()
});

/// The extension attribute of that name (any case).
pub fn extension_fact(attribute: &str) -> Option<&'static ExtensionFact> {
    EXTENSION_FACTS
        .iter()
        .find(|fact| fact.attribute.eq_ignore_ascii_case(attribute))
}

fn camel_case(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether an attribute's values are booleans: a string `"True"`/`"False"` (Entra ID sends
/// these) is then read as the boolean.
pub fn is_boolean(name: &str) -> bool {
    matches!(name, "active" | "primary")
        || extension_fact(name).is_some_and(|fact| fact.spec.kind == FactKind::Flag)
}

/// The canonical spelling of an attribute name, or the name as given when unknown.
pub fn canonical_name(name: &str) -> String {
    if let Some(known) = KNOWN_NAMES.iter().find(|k| k.eq_ignore_ascii_case(name)) {
        return (*known).to_string();
    }
    extension_fact(name).map_or_else(|| name.to_string(), |fact| fact.attribute.clone())
}

/// The extension URN `text` starts with (any case), canonical, and what follows it.
pub fn split_extension(text: &str, kind: ResourceKind) -> Option<(&'static str, &str)> {
    kind.extensions().iter().find_map(|urn| {
        let head = text.get(..urn.len())?;
        if !head.eq_ignore_ascii_case(urn) {
            return None;
        }
        let rest = &text[urn.len()..];
        match rest.strip_prefix(':') {
            Some(attr) => Some((*urn, attr)),
            None if rest.is_empty() => Some((*urn, "")),
            None => None,
        }
    })
}

/// `GET /ServiceProviderConfig`.
pub fn service_provider_config(base: &str, max_results: usize) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://github.com/clearance/clearance/blob/main/docs/scim.md",
        "patch": { "supported": true },
        "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
        "filter": { "supported": true, "maxResults": max_results },
        "changePassword": { "supported": false },
        "sort": { "supported": false },
        "etag": { "supported": true },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "The SCIM token configured with [identity.scim] token_env",
            "primary": true
        }],
        "meta": { "resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig") }
    })
}

/// `GET /ResourceTypes`: User (with its two extensions) and Group.
pub fn resource_types(base: &str) -> Vec<Value> {
    vec![
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "User", "name": "User", "endpoint": "/Users",
            "description": "A person whose facts directives read",
            "schema": CORE_USER,
            "schemaExtensions": [
                { "schema": ENTERPRISE_USER, "required": false },
                { "schema": CLEARANCE_USER, "required": false }
            ],
            "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User") }
        }),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "Group", "name": "Group", "endpoint": "/Groups",
            "description": "A group; its displayName becomes a role of each member",
            "schema": CORE_GROUP,
            "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group") }
        }),
    ]
}

fn attr(name: &str, kind: &str, multi: bool, description: &str) -> Value {
    json!({
        "name": name, "type": kind, "multiValued": multi, "description": description,
        "required": false, "caseExact": false, "mutability": "readWrite",
        "returned": "default", "uniqueness": "none"
    })
}

fn sub(name: &str, kind: &str, multi: bool, description: &str, subs: Vec<Value>) -> Value {
    let mut a = attr(name, kind, multi, description);
    a["subAttributes"] = Value::Array(subs);
    a
}

/// A fact's attribute in the Clearance extension schema, described from the fact table.
fn extension_attribute(fact: &ExtensionFact) -> Value {
    let spec = fact.spec;
    let (kind, format) = match spec.kind {
        FactKind::Flag => ("boolean", ""),
        FactKind::Countries => ("string", " (ISO 3166-1 alpha-2 codes)"),
        FactKind::Country => ("string", " (an ISO 3166-1 alpha-2 code)"),
        FactKind::Text | FactKind::Labels | FactKind::Screening => ("string", ""),
    };
    let description = format!("{}{format}; the `{}` fact", spec.doc, spec.name);
    attr(&fact.attribute, kind, spec.kind.is_list(), &description)
}

/// `GET /Schemas`: the attributes this server reads and keeps (others a client sends are
/// kept and returned, but have no meaning here).
pub fn schemas(base: &str) -> Vec<Value> {
    let mut user_name = attr(
        "userName",
        "string",
        false,
        "Unique; the principal id by default",
    );
    user_name["required"] = true.into();
    user_name["uniqueness"] = "server".into();
    let mut groups = sub(
        "groups",
        "complex",
        true,
        "Groups the user belongs to (read-only: change membership on the Group)",
        vec![
            attr("value", "string", false, "The group's id"),
            attr("display", "string", false, "The group's displayName"),
        ],
    );
    groups["mutability"] = "readOnly".into();
    let user = json!({
        "id": CORE_USER, "name": "User", "description": "User Account",
        "attributes": [
            user_name,
            sub("name", "complex", false, "The person's name", vec![
                attr("formatted", "string", false, "Full name"),
                attr("familyName", "string", false, "Family name"),
                attr("givenName", "string", false, "Given name"),
            ]),
            attr("displayName", "string", false, "The principal's name"),
            sub("emails", "complex", true, "Email addresses", vec![
                attr("value", "string", false, "Address"),
                attr("type", "string", false, "work, home, other"),
                attr("primary", "boolean", false, "The primary address"),
            ]),
            attr("active", "boolean", false, "false: every key and token of the principal is refused"),
            attr("title", "string", false, "Job title"),
            attr("userType", "string", false, "\"Employee\" makes the principal an employee"),
            groups,
        ],
        "meta": { "resourceType": "Schema", "location": format!("{base}/Schemas/{CORE_USER}") }
    });
    let enterprise = json!({
        "id": ENTERPRISE_USER, "name": "EnterpriseUser", "description": "Enterprise User",
        "attributes": [
            attr("employeeNumber", "string", false, "Present (without a userType): an employee"),
            attr("organization", "string", false, "The principal's org fact"),
            attr("department", "string", false, "Kept; not a fact"),
            sub("manager", "complex", false, "Kept; not a fact", vec![
                attr("value", "string", false, "The manager's id"),
                attr("displayName", "string", false, "The manager's name"),
            ]),
        ],
        "meta": { "resourceType": "Schema", "location": format!("{base}/Schemas/{ENTERPRISE_USER}") }
    });
    let clearance = json!({
        "id": CLEARANCE_USER, "name": "ClearanceUser",
        "description": "The facts Clearance's targeted access directives read",
        "attributes": EXTENSION_FACTS.iter().map(extension_attribute).collect::<Vec<_>>(),
        "meta": { "resourceType": "Schema", "location": format!("{base}/Schemas/{CLEARANCE_USER}") }
    });
    let mut display_name = attr(
        "displayName",
        "string",
        false,
        "Unique; becomes a role of every member",
    );
    display_name["required"] = true.into();
    let group = json!({
        "id": CORE_GROUP, "name": "Group", "description": "Group",
        "attributes": [
            display_name,
            sub("members", "complex", true, "The group's users", vec![
                attr("value", "string", false, "A user's id"),
                attr("display", "string", false, "The user's name"),
            ]),
        ],
        "meta": { "resourceType": "Schema", "location": format!("{base}/Schemas/{CORE_GROUP}") }
    });
    vec![user, enterprise, clearance, group]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extension_carries_every_fact_no_standard_attribute_does() {
        let names: Vec<&str> = EXTENSION_FACTS
            .iter()
            .map(|f| f.attribute.as_str())
            .collect();
        // The names Okta and Entra ID set-ups (docs/scim.md) map attributes to.
        assert_eq!(
            names,
            [
                "citizenships",
                "permanentResidency",
                "protectedIndividual",
                "residence"
            ]
        );
        for fact in FACTS_IN_STANDARD_ATTRIBUTES {
            assert!(
                provided_facts().any(|spec| spec.name == *fact),
                "{fact} is not in the fact table"
            );
        }
        assert_eq!(canonical_name("PERMANENTRESIDENCY"), "permanentResidency");
        assert!(is_boolean("protectedindividual") && !is_boolean("residence"));
    }
}
