//! Evaluating one directive for one request, with Cedar, remembering results where that is
//! exact.
//!
//! Cedar takes microseconds per policy, and a model may be covered by dozens of directives. But
//! a TOML directive's condition reads only a few attributes (`!principal.us_person` reads one),
//! and its window and capability scope are plain comparisons. So, per directive:
//!
//! 1. the window (`effective` ≤ now < `expires`) and the capability scope are checked first,
//!    exactly as the compiled Cedar clauses state them (a property test holds the two equal);
//! 2. the values of the attributes the condition reads (and the model, if it reads
//!    `resource`) form a key; a result Cedar computed for the same key is reused;
//! 3. otherwise Cedar evaluates the directive's whole compiled policy, and the result is kept.
//!
//! A lookup does not build the key: each attribute value is hashed at most once per request,
//! a directive's key hash combines the hashes of its inputs, and the remembered keys under
//! that hash are compared with the request's values in place. Only a miss copies the values
//! into an owned key.
//!
//! A condition is remembered only when every use of `principal`, `context` and `resource` in
//! it is a plain `.attribute` read and it does not read `context.now`, so the key holds every
//! input the condition can see. Raw Cedar policies are never remembered: Cedar evaluates them
//! on every request.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{Hash, Hasher};
use std::sync::RwLock;

use cedar_policy::{Authorizer, Context, Entities, Entity, PolicySet, Request};
use rustc_hash::{FxBuildHasher, FxHasher};

use crate::book::{Compiled, PolicyBook, Query};
use crate::directive::{Directive, SourceKind};
use crate::facts::{self, FactValue, FactsError, context_attributes, principal_attributes};

/// How many distinct keys one directive remembers; beyond that Cedar is asked every time.
const MEMO_CAPACITY: usize = 16_384;

/// Whether a directive fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fire {
    No,
    Yes,
    /// Cedar could not evaluate it; it counts as fired.
    Error(String),
}

/// Where a key attribute's value comes from.
#[derive(Debug, Clone, Copy)]
enum Input {
    Principal(usize),
    Context(usize),
}

/// A remembered result's key: the model, only when the condition reads `resource`, and the
/// values of the attributes it reads, in order.
#[derive(Debug)]
struct MemoKey {
    model: Option<Box<str>>,
    values: Box<[FactValue]>,
}

impl MemoKey {
    /// Whether this key holds exactly `model` and the values `value` gives for `inputs`.
    fn matches<'v>(
        &self,
        model: Option<&str>,
        inputs: &[Input],
        value: impl Fn(Input) -> &'v FactValue,
    ) -> bool {
        self.model.as_deref() == model
            && self.values.len() == inputs.len()
            && self
                .values
                .iter()
                .zip(inputs)
                .all(|(stored, &input)| *stored == *value(input))
    }
}

/// The results remembered under one key hash: nearly always one, but keys whose hashes are
/// equal share a slot and are told apart by comparing them.
#[derive(Debug)]
struct Slot {
    first: (MemoKey, Fire),
    more: Vec<(MemoKey, Fire)>,
}

impl Slot {
    fn entries(&self) -> impl Iterator<Item = &(MemoKey, Fire)> {
        std::iter::once(&self.first).chain(&self.more)
    }
}

/// One directive's remembered results, by the hash of their key ([`Evaluation::key_hash`]).
#[derive(Debug, Default)]
struct Results {
    slots: HashMap<u64, Slot, FxBuildHasher>,
    /// How many keys are remembered, over all slots.
    len: usize,
}

impl Results {
    fn get<'v>(
        &self,
        hash: u64,
        model: Option<&str>,
        inputs: &[Input],
        value: impl Fn(Input) -> &'v FactValue + Copy,
    ) -> Option<&Fire> {
        self.slots
            .get(&hash)?
            .entries()
            .find(|(key, _)| key.matches(model, inputs, value))
            .map(|(_, fire)| fire)
    }

    /// Remembers `fire` for the key (replacing what another request stored meanwhile),
    /// unless `MEMO_CAPACITY` keys are remembered already.
    fn insert<'v>(
        &mut self,
        hash: u64,
        model: Option<&str>,
        inputs: &[Input],
        value: impl Fn(Input) -> &'v FactValue + Copy,
        fire: Fire,
    ) {
        if self.len >= MEMO_CAPACITY {
            return;
        }
        let owned = || MemoKey {
            model: model.map(Box::from),
            values: inputs.iter().map(|&input| value(input).clone()).collect(),
        };
        match self.slots.entry(hash) {
            Entry::Vacant(vacant) => {
                vacant.insert(Slot {
                    first: (owned(), fire),
                    more: Vec::new(),
                });
            }
            Entry::Occupied(mut occupied) => {
                let slot = occupied.get_mut();
                if let Some((_, known)) = std::iter::once(&mut slot.first)
                    .chain(&mut slot.more)
                    .find(|(key, _)| key.matches(model, inputs, value))
                {
                    *known = fire;
                    return;
                }
                slot.more.push((owned(), fire));
            }
        }
        self.len += 1;
    }
}

/// One directive's remembered results.
#[derive(Debug)]
pub(crate) struct Memo {
    inputs: Vec<Input>,
    reads_model: bool,
    results: RwLock<Results>,
}

impl Memo {
    /// A memo for a TOML directive whose condition's inputs are all plain attribute reads.
    pub(crate) fn for_directive(d: &Directive) -> Option<Memo> {
        if d.origin.kind != SourceKind::Toml {
            return None;
        }
        let condition = d.condition.as_deref().unwrap_or("");
        let reads = plain_reads(condition)?;
        let principal_names: Vec<&str> = principal_attributes(&Default::default())
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        let context_names: Vec<&str> = context_attributes(&empty_request(), 0)
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        let mut inputs = Vec::new();
        let mut reads_model = false;
        for (root, attribute) in reads {
            let input = match root {
                "principal" => Input::Principal(position(&principal_names, attribute)?),
                "context" if attribute == "now" => return None,
                "context" => Input::Context(position(&context_names, attribute)?),
                _ => {
                    reads_model = true;
                    continue;
                }
            };
            inputs.push(input);
        }
        Some(Memo {
            inputs,
            reads_model,
            results: RwLock::new(Results::default()),
        })
    }
}

fn position(names: &[&str], attribute: &str) -> Option<usize> {
    names.iter().position(|n| *n == attribute)
}

fn empty_request() -> clearance_core::facts::RequestFacts {
    clearance_core::facts::RequestFacts {
        country: None,
        capabilities: Default::default(),
        api: clearance_core::api::ApiSurface::OpenaiChat,
        max_tokens: None,
        app: None,
    }
}

/// Every `(root, attribute)` the condition reads, or `None` if `principal`, `context` or
/// `resource` appears other than as `root.attribute` (e.g. `principal == Principal::"x"`,
/// `context["country"]`, `principal has org`), where the inputs cannot be listed.
fn plain_reads(condition: &str) -> Option<Vec<(&'static str, &str)>> {
    let mut reads = Vec::new();
    let bytes = condition.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut i = 0;
    while i < bytes.len() {
        if !is_ident(bytes[i]) || (i > 0 && is_ident(bytes[i - 1])) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_ident(bytes[i]) {
            i += 1;
        }
        let word = &condition[start..i];
        let root = match word {
            "principal" => "principal",
            "context" => "context",
            "resource" => "resource",
            _ => continue,
        };
        if bytes.get(i) != Some(&b'.') {
            return None;
        }
        let attribute_start = i + 1;
        let mut end = attribute_start;
        while end < bytes.len() && is_ident(bytes[end]) {
            end += 1;
        }
        if end == attribute_start {
            return None;
        }
        reads.push((root, &condition[attribute_start..end]));
        i = end;
    }
    Some(reads)
}

/// One request's evaluation state: attribute values computed once, Cedar inputs built only
/// if some directive needs Cedar.
pub(crate) struct Evaluation<'q> {
    query: &'q Query<'q>,
    principal_values: Vec<(&'static str, FactValue)>,
    context_values: Vec<(&'static str, FactValue)>,
    /// Each value's hash, computed the first time a memo key reads it: the principal's
    /// values, then the context's.
    value_hashes: Vec<Option<u64>>,
    cedar: Option<(Entity, Context)>,
}

impl<'q> Evaluation<'q> {
    pub(crate) fn new(query: &'q Query<'q>) -> Evaluation<'q> {
        let principal_values = principal_attributes(&query.facts.principal);
        let context_values = context_attributes(&query.facts.request, query.at.timestamp());
        let value_hashes = vec![None; principal_values.len() + context_values.len()];
        Evaluation {
            query,
            principal_values,
            context_values,
            value_hashes,
            cedar: None,
        }
    }

    /// The request's time, in Unix seconds.
    pub(crate) fn at(&self) -> i64 {
        self.query.at.timestamp()
    }

    /// When the identity provider last confirmed the principal's facts.
    pub(crate) fn confirmed_at(&self) -> Option<i64> {
        self.query.facts.principal.confirmed_at
    }

    pub(crate) fn fires(
        &mut self,
        book: &PolicyBook,
        compiled: &Compiled,
        model: &str,
    ) -> Result<Fire, FactsError> {
        let directive = &compiled.directive;
        if !directive.in_effect_at(self.query.at) || !self.uses_scoped_capability(directive) {
            return Ok(Fire::No);
        }
        let Some(memo) = &compiled.memo else {
            return self.ask_cedar(book, &compiled.alone, model);
        };
        let model_read = memo.reads_model.then_some(model);
        let hash = self.key_hash(memo, model_read);
        let value = |input| self.value(input);
        if let Some(known) = memo
            .results
            .read()
            .ok()
            .and_then(|r| r.get(hash, model_read, &memo.inputs, value).cloned())
        {
            return Ok(known);
        }
        let fire = self.ask_cedar(book, &compiled.alone, model)?;
        if let Ok(mut results) = memo.results.write() {
            let value = |input| self.value(input);
            results.insert(hash, model_read, &memo.inputs, value, fire.clone());
        }
        Ok(fire)
    }

    fn uses_scoped_capability(&self, d: &Directive) -> bool {
        d.scope.capabilities.is_empty()
            || d.scope
                .capabilities
                .iter()
                .any(|c| self.query.facts.request.capabilities.contains(c))
    }

    fn value(&self, input: Input) -> &FactValue {
        match input {
            Input::Principal(i) => &self.principal_values[i].1,
            Input::Context(i) => &self.context_values[i].1,
        }
    }

    /// The hash of a memo key (the model it reads, if any, and its inputs' values), built
    /// from each value's hash, which is computed once per request.
    fn key_hash(&mut self, memo: &Memo, model: Option<&str>) -> u64 {
        let mut hasher = FxHasher::default();
        model.hash(&mut hasher);
        for &input in &memo.inputs {
            let slot = match input {
                Input::Principal(i) => i,
                Input::Context(i) => self.principal_values.len() + i,
            };
            let value_hash = match self.value_hashes[slot] {
                Some(known) => known,
                None => {
                    let mut value_hasher = FxHasher::default();
                    self.value(input).hash(&mut value_hasher);
                    let computed = value_hasher.finish();
                    self.value_hashes[slot] = Some(computed);
                    computed
                }
            };
            hasher.write_u64(value_hash);
        }
        hasher.finish()
    }

    fn ask_cedar(
        &mut self,
        book: &PolicyBook,
        set: &PolicySet,
        model: &str,
    ) -> Result<Fire, FactsError> {
        #[cfg(test)]
        tests::CEDAR_ASKS.with(|asks| asks.set(asks.get() + 1));
        let (principal, context) = match &self.cedar {
            Some(built) => built,
            None => {
                let principal =
                    facts::principal_entity(self.query.principal_id, &self.query.facts.principal)?;
                let context = facts::context(&self.query.facts.request, self.query.at.timestamp())?;
                self.cedar.insert((principal, context))
            }
        };
        let model = book
            .model_entity(model)
            .ok_or_else(|| FactsError::unknown_model(model))?;
        cedar_fires(book.authorizer(), set, principal, model, context)
    }
}

/// Asks Cedar whether `set` (a directive beside the base permit) forbids this request.
pub(crate) fn cedar_fires(
    authorizer: &Authorizer,
    set: &PolicySet,
    principal: &Entity,
    model: &Entity,
    context: &Context,
) -> Result<Fire, FactsError> {
    let entities = Entities::from_entities([principal.clone(), model.clone()], None)
        .map_err(|e| FactsError::other(e.to_string()))?;
    let request = Request::new(
        principal.uid(),
        facts::action(),
        model.uid(),
        context.clone(),
        None,
    )
    .map_err(|e| FactsError::other(e.to_string()))?;
    let response = authorizer.is_authorized(&request, set, &entities);
    if let Some(cedar_policy::AuthorizationError::PolicyEvaluationError(e)) =
        response.diagnostics().errors().next()
    {
        return Ok(Fire::Error(e.inner().to_string()));
    }
    Ok(match response.decision() {
        cedar_policy::Decision::Deny => Fire::Yes,
        cedar_policy::Decision::Allow => Fire::No,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::cell::Cell;
    use std::collections::BTreeSet;
    use std::path::PathBuf;

    use chrono::{TimeZone, Utc};
    use clearance_core::facts::{Facts, RequestFacts};
    use clearance_core::principal::Principal;

    use super::{FactValue, Fire, Input, Results, plain_reads};
    use crate::{Catalog, CatalogModel, PolicyBook, Query, SourceFile};

    thread_local! {
        /// How many times this thread's evaluations asked Cedar.
        pub(super) static CEDAR_ASKS: Cell<usize> = const { Cell::new(0) };
    }

    fn cedar_asks() -> usize {
        CEDAR_ASKS.with(Cell::get)
    }

    fn facts(citizenship: &str, employee: bool) -> Facts {
        let principal = Principal {
            id: "p".parse().unwrap(),
            name: "P".into(),
            citizenships: [citizenship.parse().unwrap()].into(),
            permanent_residency: BTreeSet::new(),
            protected_individual: false,
            residence: Some("FR".parse().unwrap()),
            org: Some("acme".into()),
            employee,
            roles: BTreeSet::new(),
            screening: None,
            active: true,
            facts_confirmed_at: None,
        };
        Facts {
            principal: (&principal).into(),
            request: RequestFacts {
                country: Some("FR".parse().unwrap()),
                capabilities: BTreeSet::new(),
                api: clearance_core::api::ApiSurface::OpenaiChat,
                max_tokens: Some(64),
                app: None,
            },
        }
    }

    #[test]
    fn a_memo_hit_decides_as_the_miss_that_stored_it_for_facts_and_models_that_differ() {
        let directive = |id: &str, when: &str| SourceFile {
            path: PathBuf::from(format!("{id}.toml")),
            text: format!(
                "id = \"{id}\"\ntitle = \"t\"\nauthority = \"a\"\neffective = \"2026-01-01T00:00:00Z\"\nmode = \"enforce\"\nmodels = [\"closed\", \"open\"]\nwhen = '{when}'\neffect = \"deny\"\n"
            ),
        };
        let model = |name: &str, provider: &str| CatalogModel {
            name: name.into(),
            provider: provider.into(),
            tags: vec![],
        };
        let book = PolicyBook::compile(
            &[
                directive("NOT-US", "!principal.us_person"),
                directive(
                    "ACME-STAFF",
                    "resource.provider == \"acme\" && principal.employee",
                ),
            ],
            &Catalog {
                models: vec![model("closed", "acme"), model("open", "other")],
            },
        )
        .unwrap();
        let at = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
        let asks = [
            // Differ only in citizenship, which `NOT-US` reads.
            (facts("US", false), "closed", vec![]),
            (facts("DE", false), "closed", vec!["NOT-US"]),
            // Differ only in `employee`, which `ACME-STAFF` reads, then only in the model.
            (facts("US", true), "closed", vec!["ACME-STAFF"]),
            (facts("US", true), "open", vec![]),
        ];
        let decide = |facts: &Facts, model: &str| {
            book.decide(&Query {
                principal_id: "p",
                facts,
                model,
                at,
            })
        };
        let cold: Vec<_> = asks
            .iter()
            .map(|(facts, model, fired)| {
                let before = cedar_asks();
                let decision = decide(facts, model);
                assert_eq!(&decision.directive_ids(), fired, "{model}");
                assert!(cedar_asks() > before, "a first ask is a miss");
                decision
            })
            .collect();
        let before = cedar_asks();
        for ((facts, model, _), cold) in asks.iter().zip(&cold) {
            let warm = decide(facts, model);
            assert_eq!(warm.outcome, cold.outcome, "{model}");
            assert_eq!(warm.directive_ids(), cold.directive_ids(), "{model}");
            assert_eq!(warm.facts_read, cold.facts_read, "{model}");
        }
        assert_eq!(cedar_asks(), before, "the second asks are all memo hits");
    }

    #[test]
    fn keys_with_equal_hashes_are_told_apart() {
        let values = [FactValue::Bool(true), FactValue::Bool(false)];
        let inputs = [Input::Principal(0)];
        let mut results = Results::default();
        let yes = |_| &values[0];
        let no = |_| &values[1];
        results.insert(7, None, &inputs, yes, Fire::Yes);
        assert_eq!(results.get(7, None, &inputs, no), None);
        assert_eq!(results.get(7, Some("m"), &inputs, yes), None);
        assert_eq!(results.get(8, None, &inputs, yes), None);
        results.insert(7, None, &inputs, no, Fire::No);
        results.insert(7, Some("m"), &inputs, yes, Fire::Error("e".into()));
        results.insert(7, None, &inputs, yes, Fire::Yes);
        assert_eq!(results.len, 3);
        assert_eq!(results.get(7, None, &inputs, yes), Some(&Fire::Yes));
        assert_eq!(results.get(7, None, &inputs, no), Some(&Fire::No));
        assert_eq!(
            results.get(7, Some("m"), &inputs, yes),
            Some(&Fire::Error("e".into()))
        );
    }

    #[test]
    fn plain_reads_lists_attribute_reads_and_refuses_anything_else() {
        assert_eq!(
            plain_reads("!principal.us_person && context.country == \"CN\""),
            Some(vec![("principal", "us_person"), ("context", "country")])
        );
        assert_eq!(
            plain_reads("principal.roles.contains(\"resource\")").map(|r| r.len()),
            None
        );
        assert_eq!(plain_reads("principal == Principal::\"alice\""), None);
        assert_eq!(plain_reads("context[\"country\"] == \"CN\""), None);
        assert_eq!(plain_reads("principal has org"), None);
        // A read inside a record literal is a read like any other.
        assert_eq!(
            plain_reads("{\"v\":principal.us_person}.v"),
            Some(vec![("principal", "us_person")])
        );
        assert_eq!(plain_reads("true"), Some(vec![]));
    }
}
