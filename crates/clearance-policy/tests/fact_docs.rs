//! The directive reference documents every principal attribute a condition can read: a fact
//! added to the table but not to `docs/directives.md` fails here.

use clearance_core::fact_table::{DERIVED_FACTS, MISSING_FACTS, PRINCIPAL_FACTS};

#[test]
fn every_principal_attribute_is_documented_in_the_directive_reference() {
    let docs = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/directives.md"
    ))
    .expect("docs/directives.md is readable");
    let names = PRINCIPAL_FACTS
        .iter()
        .map(|s| s.name)
        .chain(DERIVED_FACTS.iter().map(|d| d.name))
        .chain([MISSING_FACTS]);
    let undocumented: Vec<&str> = names
        .filter(|name| !docs.contains(&format!("`principal.{name}`")))
        .collect();
    assert!(
        undocumented.is_empty(),
        "not in docs/directives.md's attribute table: {undocumented:?}"
    );
}
