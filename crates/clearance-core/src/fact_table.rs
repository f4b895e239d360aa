//! The table of principal facts: one line per fact, and everything else generated from it.
//!
//! A fact used to be declared by hand in about six places (the principal struct and its
//! missing facts, the import columns, the decision snapshot, the Cedar schema, the attribute
//! builder and the missing-fact lookup); a fact added in five of them decided wrongly in the
//! sixth. Now [`principal_facts!`] below is the only list. From it come:
//!
//! - the fields of [`crate::principal::Principal`] (the registry's record) and of
//!   [`crate::facts::PrincipalFacts`] (the snapshot a decision reads and the audit record keeps),
//!   each with a serde default, so records written before a fact existed still read;
//! - [`PRINCIPAL_FACTS`], which the importer (columns, parsing, caps), the Cedar schema, the
//!   attribute builder and `missing_facts` walk;
//! - [`crate::principal::Principal::fact_mut`], the one way code sets a fact by name.
//!
//! **Adding a fact** is one line in the table (its kind says how it is stored, imported, capped
//! and shown to Cedar) plus its tests; `clearance-policy`'s schema test then checks that the
//! entities built for a request still match the schema.

use std::collections::BTreeSet;

use crate::country::CountryCode;
use crate::limits::MAX_ORG_CHARS;
use crate::screening::ScreeningFact;

/// A set of ISO 3166-1 alpha-2 codes; unknown when empty.
pub type Countries = BTreeSet<CountryCode>;
/// One country code; unknown when absent.
pub type Country = Option<CountryCode>;
/// Yes or no; a fact not given is `false`.
pub type Flag = bool;
/// Free text, capped per fact; unknown when absent.
pub type Text = Option<String>;
/// A set of labels (roles); capped in count and length.
pub type Labels = BTreeSet<String>;
/// A denied-party screening result with its evidence; unknown until screened.
pub type Screening = Option<ScreeningFact>;

/// How a fact is held, read from a principal file and shown to Cedar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactKind {
    Countries,
    Country,
    Flag,
    Text,
    Labels,
    /// Set only by screening against the imported lists (`crate::screening`).
    Screening,
}

impl FactKind {
    /// The fact's type in the Cedar schema. Unknown values are empty (`""`, `[]`, `false`), so
    /// every attribute is always present and a condition never needs a `has` check.
    pub fn cedar_type(self) -> &'static str {
        match self {
            FactKind::Countries | FactKind::Labels => "Set<String>",
            FactKind::Country | FactKind::Text | FactKind::Screening => "String",
            FactKind::Flag => "Bool",
        }
    }

    /// Whether the registry is *told* the fact (a principal file, SCIM, a token's claim). A
    /// fact that is not provided is computed by the gateway itself (screening), so nothing a
    /// caller or a feed sends can set it.
    pub fn is_provided(self) -> bool {
        self != FactKind::Screening
    }

    /// A list in a principal file (`;`-separated in CSV, an array in JSONL).
    pub fn is_list(self) -> bool {
        matches!(self, FactKind::Countries | FactKind::Labels)
    }
}

/// One stored principal fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FactSpec {
    /// The name everywhere: struct field, import column, Cedar attribute, `missing_facts` entry.
    pub name: &'static str,
    pub kind: FactKind,
    /// The cap on a text fact's length, in characters.
    pub max_chars: Option<usize>,
    /// When the registry does not hold it, the fact is listed in `missing_facts`, so a
    /// directive reading it can fail closed. Flags are never unknown: they default to `false`.
    pub tracked: bool,
    pub doc: &'static str,
}

/// A fact derived from stored ones, never imported (a file cannot assert it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DerivedFact {
    pub name: &'static str,
    pub kind: FactKind,
    /// The stored fact whose absence makes this one unknown.
    pub unknown_with: &'static str,
    pub doc: &'static str,
}

/// The derived facts, computed in `PrincipalFacts::from(&Principal)`.
pub const DERIVED_FACTS: &[DerivedFact] = &[
    DerivedFact {
        name: "us_citizen",
        kind: FactKind::Flag,
        unknown_with: "citizenships",
        doc: "Holds a US citizenship (among any number).",
    },
    DerivedFact {
        name: "us_person",
        kind: FactKind::Flag,
        unknown_with: "citizenships",
        doc: "A US person under EAR 15 CFR 772.1: US citizen, US permanent resident or protected individual.",
    },
];

/// The attribute that lists the facts the registry does not hold.
pub const MISSING_FACTS: &str = "missing_facts";

/// A fact's value as a decision reads it: the schema's types, unknown values empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FactValue {
    Str(String),
    Bool(bool),
    Long(i64),
    Set(Vec<String>),
}

impl FactValue {
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            FactValue::Str(s) => serde_json::Value::String(s.clone()),
            FactValue::Bool(b) => serde_json::Value::Bool(*b),
            FactValue::Long(n) => serde_json::Value::from(*n),
            FactValue::Set(items) => serde_json::Value::from(items.clone()),
        }
    }

    pub fn strings<'a>(items: impl IntoIterator<Item = &'a str>) -> FactValue {
        FactValue::Set(items.into_iter().map(String::from).collect())
    }
}

/// A stored fact, borrowed mutably by name: how the importer and provisioning set facts
/// without a hand-written match per fact.
#[derive(Debug)]
pub enum FactSlot<'a> {
    Countries(&'a mut Countries),
    Country(&'a mut Country),
    Flag(&'a mut Flag),
    Text(&'a mut Text),
    Labels(&'a mut Labels),
    Screening(&'a mut Screening),
}

/// What each kind's Rust type knows: its value for Cedar, whether it is unknown, its slot.
pub trait FactType {
    fn fact_value(&self) -> FactValue;
    fn is_unknown(&self) -> bool;
    fn slot(&mut self) -> FactSlot<'_>;
}

impl FactType for Countries {
    fn fact_value(&self) -> FactValue {
        FactValue::strings(self.iter().map(CountryCode::as_str))
    }
    fn is_unknown(&self) -> bool {
        self.is_empty()
    }
    fn slot(&mut self) -> FactSlot<'_> {
        FactSlot::Countries(self)
    }
}

impl FactType for Country {
    fn fact_value(&self) -> FactValue {
        FactValue::Str(self.map(|c| c.as_str().to_string()).unwrap_or_default())
    }
    fn is_unknown(&self) -> bool {
        self.is_none()
    }
    fn slot(&mut self) -> FactSlot<'_> {
        FactSlot::Country(self)
    }
}

impl FactType for Flag {
    fn fact_value(&self) -> FactValue {
        FactValue::Bool(*self)
    }
    fn is_unknown(&self) -> bool {
        false
    }
    fn slot(&mut self) -> FactSlot<'_> {
        FactSlot::Flag(self)
    }
}

impl FactType for Text {
    fn fact_value(&self) -> FactValue {
        FactValue::Str(self.clone().unwrap_or_default())
    }
    fn is_unknown(&self) -> bool {
        self.is_none()
    }
    fn slot(&mut self) -> FactSlot<'_> {
        FactSlot::Text(self)
    }
}

impl FactType for Labels {
    fn fact_value(&self) -> FactValue {
        FactValue::strings(self.iter().map(String::as_str))
    }
    fn is_unknown(&self) -> bool {
        self.is_empty()
    }
    fn slot(&mut self) -> FactSlot<'_> {
        FactSlot::Labels(self)
    }
}

impl FactType for Screening {
    fn fact_value(&self) -> FactValue {
        FactValue::Str(
            self.as_ref()
                .map(|fact| fact.status.as_str().to_string())
                .unwrap_or_default(),
        )
    }
    fn is_unknown(&self) -> bool {
        self.is_none()
    }
    fn slot(&mut self) -> FactSlot<'_> {
        FactSlot::Screening(self)
    }
}

/// The facts the registry is told (imported, provisioned, claimed), in table order: every
/// fact but those the gateway computes itself.
pub fn provided_facts() -> impl Iterator<Item = &'static FactSpec> {
    PRINCIPAL_FACTS
        .iter()
        .filter(|spec| spec.kind.is_provided())
}

/// Generates the principal and snapshot structs and [`PRINCIPAL_FACTS`] from one list.
/// Each line: doc comment, `name: Kind`, optionally `(max chars)` and `[tracked]`.
macro_rules! principal_facts {
    ($(
        $(#[doc = $doc:literal])+
        $name:ident : $kind:ident $(($cap:expr))? $([$tracked:ident])?;
    )+) => {
        /// Every stored principal fact, in the order files, schemas and records list them.
        pub const PRINCIPAL_FACTS: &[FactSpec] = &[$(
            FactSpec {
                name: stringify!($name),
                kind: FactKind::$kind,
                max_chars: principal_facts!(@cap $($cap)?),
                tracked: principal_facts!(@tracked $($tracked)?),
                doc: concat!($($doc),+),
            },
        )+];

        /// A person or service and the facts the registry holds about them.
        #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        pub struct Principal {
            pub id: crate::principal::PrincipalId,
            #[serde(default)]
            pub name: String,
            $(
                $(#[doc = $doc])+
                #[serde(default)]
                pub $name: $kind,
            )+
            /// `false` once provisioning deactivated the person: their keys and tokens are
            /// refused until they are active again. Principals stored before this field
            /// existed are active.
            #[serde(default = "crate::fact_table::active_by_default")]
            pub active: bool,
            /// When the identity provider last confirmed these facts (a SCIM write); `None`
            /// when it never has (a file import). Directives with `stale_after` read facts
            /// older than that as missing.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub facts_confirmed_at: Option<chrono::DateTime<chrono::Utc>>,
        }

        impl Principal {
            /// An active principal with no facts at all: every fact unknown, never confirmed.
            pub fn new(id: crate::principal::PrincipalId) -> Principal {
                Principal {
                    name: String::new(),
                    $($name: Default::default(),)+
                    active: true,
                    facts_confirmed_at: None,
                    id,
                }
            }

            /// A stored fact by name, to be set; `None` for a name not in the table.
            pub fn fact_mut(&mut self, name: &str) -> Option<FactSlot<'_>> {
                match name {
                    $(stringify!($name) => Some(self.$name.slot()),)+
                    _ => None,
                }
            }

            /// Sets a stored fact to `other`'s value of it; `false` for a name not in the
            /// table. How tokens and provisioning merge one source's fact into a principal.
            pub fn copy_fact_from(&mut self, other: &Principal, name: &str) -> bool {
                match name {
                    $(stringify!($name) => self.$name.clone_from(&other.$name),)+
                    _ => return false,
                }
                true
            }

            /// Whether the registry lacks a stored fact; `None` for a name not in the table.
            pub fn fact_unknown(&self, name: &str) -> Option<bool> {
                match name {
                    $(stringify!($name) => Some(self.$name.is_unknown()),)+
                    _ => None,
                }
            }
        }

        /// A principal's registry facts plus the derived ones, at one moment. Every fact has
        /// a default, so a record written before a fact was added still reads. The default
        /// holds no facts at all (and so lists none as missing either).
        #[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        pub struct PrincipalFacts {
            $(
                #[serde(default)]
                pub $name: $kind,
            )+
            #[serde(default)]
            pub us_citizen: bool,
            #[serde(default)]
            pub us_person: bool,
            /// Facts the registry does not hold; a decision that read them treated them as
            /// unknown.
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            pub missing: Vec<String>,
            /// When the identity provider last confirmed the registry's facts (Unix seconds);
            /// absent when it never has. Directives with `stale_after` read older facts as
            /// missing.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub confirmed_at: Option<i64>,
            /// Where each fact came from when not every fact came from the registry (a
            /// signed-in caller's token may supply some): fact name to `registry` or
            /// `token:<issuer>`. Empty (and absent from the record) when the registry supplied
            /// them all.
            #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
            pub sources: std::collections::BTreeMap<String, String>,
        }

        impl From<&Principal> for PrincipalFacts {
            fn from(p: &Principal) -> PrincipalFacts {
                PrincipalFacts {
                    $($name: p.$name.clone(),)+
                    us_citizen: p.us_citizen(),
                    us_person: p.us_person(),
                    missing: p.missing_facts().into_iter().map(String::from).collect(),
                    confirmed_at: p.facts_confirmed_at.map(|at| at.timestamp()),
                    sources: std::collections::BTreeMap::new(),
                }
            }
        }

        impl PrincipalFacts {
            /// The stored facts' values, in table order.
            pub fn stored_values(&self) -> Vec<(&'static str, FactValue)> {
                vec![$((stringify!($name), self.$name.fact_value()),)+]
            }

            /// The same snapshot with every stored fact unknown and listed as missing (flags
            /// `false`): what a directive that will not trust stale facts reads.
            pub fn without_stored_facts(&self) -> PrincipalFacts {
                let mut blank = PrincipalFacts::default();
                blank.missing = PRINCIPAL_FACTS
                    .iter()
                    .filter(|spec| spec.tracked)
                    .map(|spec| spec.name.to_string())
                    .collect();
                blank.confirmed_at = self.confirmed_at;
                blank.sources = self.sources.clone();
                blank
            }
        }
    };
    (@cap) => { None };
    (@cap $cap:expr) => { Some($cap) };
    (@tracked) => { false };
    (@tracked tracked) => { true };
}

pub(crate) fn active_by_default() -> bool {
    true
}

principal_facts! {
    /// Every citizenship held; empty means the registry does not know.
    citizenships: Countries [tracked];
    /// Every country where the person is a lawful permanent resident.
    permanent_residency: Countries;
    /// Refugee or asylee status (a "protected individual" under 8 U.S.C. 1324b(a)(3)).
    protected_individual: Flag;
    /// The country the person lives in.
    residence: Country [tracked];
    /// The organisation the person belongs to.
    org: Text(MAX_ORG_CHARS) [tracked];
    /// Employed by the organisation running the gateway (not a contractor or guest).
    employee: Flag;
    /// Roles (job functions, groups) directives may name.
    roles: Labels;
    /// Denied-party screening of the person's name and organisation: `clear`, `potential_match` or `match` (set only by screening; unknown until screened).
    screening: Screening [tracked];
}

impl PrincipalFacts {
    /// The derived facts' values, in [`DERIVED_FACTS`] order.
    pub fn derived_values(&self) -> Vec<(&'static str, FactValue)> {
        vec![
            ("us_citizen", FactValue::Bool(self.us_citizen)),
            ("us_person", FactValue::Bool(self.us_person)),
        ]
    }
}

/// The stored fact of that name.
pub fn fact_spec(name: &str) -> Option<&'static FactSpec> {
    PRINCIPAL_FACTS.iter().find(|spec| spec.name == name)
}

/// The provided fact of that name: one a principal file, SCIM or a token may set.
pub fn provided_fact(name: &str) -> Option<&'static FactSpec> {
    fact_spec(name).filter(|spec| spec.kind.is_provided())
}

/// Why a name that is a fact but not a provided one cannot be set (for error messages).
pub fn not_provided_because(name: &str) -> Option<&'static str> {
    if DERIVED_FACTS.iter().any(|derived| derived.name == name) {
        return Some("it is derived from other facts");
    }
    fact_spec(name)
        .filter(|spec| !spec.kind.is_provided())
        .map(|_| "it is set only by screening against the imported lists")
}

/// The `missing_facts` entry that makes a principal attribute (stored or derived) unknown.
pub fn missing_fact_for(attribute: &str) -> Option<&'static str> {
    if let Some(spec) = fact_spec(attribute) {
        return spec.tracked.then_some(spec.name);
    }
    DERIVED_FACTS
        .iter()
        .find(|derived| derived.name == attribute)
        .map(|derived| derived.unknown_with)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_derived_fact_depends_on_a_tracked_stored_fact() {
        for derived in DERIVED_FACTS {
            let spec = fact_spec(derived.unknown_with).expect("a stored fact");
            assert!(
                spec.tracked,
                "{} depends on an untracked fact",
                derived.name
            );
        }
    }

    #[test]
    fn derived_values_follow_the_derived_table() {
        let names: Vec<&str> = PrincipalFacts::default()
            .derived_values()
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        let table: Vec<&str> = DERIVED_FACTS.iter().map(|d| d.name).collect();
        assert_eq!(names, table);
    }

    #[test]
    fn names_are_unique_and_never_the_reserved_ones() {
        let mut names: Vec<&str> = PRINCIPAL_FACTS.iter().map(|s| s.name).collect();
        names.extend(DERIVED_FACTS.iter().map(|d| d.name));
        let distinct: BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(distinct.len(), names.len());
        for reserved in ["id", "name", MISSING_FACTS, "active"] {
            assert!(!distinct.contains(reserved), "{reserved}");
        }
    }

    #[test]
    fn only_text_facts_carry_a_cap_and_flags_are_never_tracked() {
        for spec in PRINCIPAL_FACTS {
            assert_eq!(
                spec.max_chars.is_some(),
                spec.kind == FactKind::Text,
                "{}",
                spec.name
            );
            if spec.kind == FactKind::Flag {
                assert!(!spec.tracked, "{}", spec.name);
            }
        }
    }

    #[test]
    fn a_record_without_a_newer_fact_still_reads() {
        let old = r#"{"id":"alice","name":"Alice","citizenships":["US"]}"#;
        let principal: Principal = serde_json::from_str(old).expect("reads");
        assert!(principal.active);
        assert!(principal.roles.is_empty());
        let facts: PrincipalFacts = serde_json::from_str(r#"{"us_person":true}"#).expect("reads");
        assert!(facts.us_person && facts.citizenships.is_empty());
    }

    #[test]
    fn every_fact_can_be_set_by_name() {
        let mut p = Principal::new("p".parse().expect("id"));
        for spec in PRINCIPAL_FACTS {
            let slot = p.fact_mut(spec.name).expect("a slot");
            let kind = match slot {
                FactSlot::Countries(set) => {
                    set.insert(CountryCode::US);
                    FactKind::Countries
                }
                FactSlot::Country(c) => {
                    *c = Some(CountryCode::US);
                    FactKind::Country
                }
                FactSlot::Flag(f) => {
                    *f = true;
                    FactKind::Flag
                }
                FactSlot::Text(t) => {
                    *t = Some("x".into());
                    FactKind::Text
                }
                FactSlot::Labels(l) => {
                    l.insert("x".into());
                    FactKind::Labels
                }
                FactSlot::Screening(s) => {
                    *s = Some(ScreeningFact::from_matches(
                        vec![],
                        vec![],
                        "test",
                        chrono::Utc::now(),
                    ));
                    FactKind::Screening
                }
            };
            assert_eq!(kind, spec.kind, "{}", spec.name);
            assert_eq!(p.fact_unknown(spec.name), Some(false), "{}", spec.name);
        }
        assert!(p.missing_facts().is_empty());
        assert!(
            p.fact_mut("us_person").is_none(),
            "derived facts cannot be set"
        );
    }
}
