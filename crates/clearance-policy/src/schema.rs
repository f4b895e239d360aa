//! The one Cedar schema every directive and raw policy is validated against.
//!
//! It is the contract between the facts the gateway gathers and the conditions compliance
//! officers write: every attribute here is always present (unknown facts are empty strings,
//! empty sets or `false`, and are listed in `principal.missing_facts`), so a condition never
//! needs `has` checks and can never be skipped because an attribute was absent.

use std::sync::OnceLock;

use cedar_policy::Schema;
use clearance_core::fact_table::{DERIVED_FACTS, MISSING_FACTS, PRINCIPAL_FACTS};

/// The schema's parts around the principal entity, whose attributes come from the fact table.
const MODEL_ENTITIES: &str = r#"
entity ModelTag;

entity Model in [ModelTag] = {
    "provider": String,
    "tags": Set<String>,
};
"#;

const ACTION: &str = r#"
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

/// The schema in Cedar's schema syntax: the principal's attributes are every stored and derived
/// fact of `clearance_core::fact_table`, plus `missing_facts`. `docs/directives.md` documents
/// each attribute.
pub fn schema_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let attributes: Vec<String> = PRINCIPAL_FACTS
            .iter()
            .map(|spec| (spec.name, spec.kind))
            .chain(DERIVED_FACTS.iter().map(|d| (d.name, d.kind)))
            .map(|(name, kind)| format!("    \"{name}\": {},", kind.cedar_type()))
            .chain(std::iter::once(format!(
                "    \"{MISSING_FACTS}\": Set<String>,"
            )))
            .collect();
        format!(
            "{MODEL_ENTITIES}\nentity Principal = {{\n{}\n}};\n{ACTION}",
            attributes.join("\n")
        )
    })
}

/// The parsed schema, built once.
pub fn schema() -> &'static Schema {
    static SCHEMA_CELL: OnceLock<Schema> = OnceLock::new();
    SCHEMA_CELL.get_or_init(|| {
        let (schema, _warnings) =
            Schema::from_cedarschema_str(schema_text()).expect("the built-in schema parses");
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
