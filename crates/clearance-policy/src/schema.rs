//! The one Cedar schema every directive and raw policy is validated against.
//!
//! It is the contract between the facts the gateway gathers and the conditions compliance
//! officers write: every attribute here is always present (unknown facts are empty strings,
//! empty sets or `false`, and are listed in `principal.missing_facts`), so a condition never
//! needs `has` checks and can never be skipped because an attribute was absent.

use std::sync::OnceLock;

use cedar_policy::Schema;

/// The schema in Cedar's schema syntax; `docs/directives.md` documents each attribute.
pub const SCHEMA: &str = r#"
entity ModelTag;

entity Model in [ModelTag] = {
    "provider": String,
    "tags": Set<String>,
};

entity Principal = {
    "citizenships": Set<String>,
    "permanent_residency": Set<String>,
    "protected_individual": Bool,
    "us_citizen": Bool,
    "us_person": Bool,
    "residence": String,
    "org": String,
    "employee": Bool,
    "roles": Set<String>,
    "missing_facts": Set<String>,
};

action "invoke" appliesTo {
    principal: [Principal],
    resource: [Model],
    context: {
        "now": Long,
        "country": String,
        "capabilities": Set<String>,
        "api": String,
        "stream": Bool,
        "max_tokens": Long,
        "app": String,
    },
};
"#;

/// The parsed schema, built once.
pub fn schema() -> &'static Schema {
    static SCHEMA_CELL: OnceLock<Schema> = OnceLock::new();
    SCHEMA_CELL.get_or_init(|| {
        let (schema, _warnings) =
            Schema::from_cedarschema_str(SCHEMA).expect("the built-in schema parses");
        schema
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn built_in_schema_parses() {
        let _ = super::schema();
    }
}
