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
//! A condition is remembered only when every use of `principal`, `context` and `resource` in
//! it is a plain `.attribute` read and it does not read `context.now`, so the key holds every
//! input the condition can see. Raw Cedar policies are never remembered: Cedar evaluates them
//! on every request.

use std::collections::HashMap;
use std::sync::RwLock;

use cedar_policy::{Authorizer, Context, Entities, Entity, PolicySet, Request};
use rustc_hash::FxBuildHasher;

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
type MemoKey = (Option<String>, Vec<FactValue>);

/// One directive's remembered results.
#[derive(Debug)]
pub(crate) struct Memo {
    inputs: Vec<Input>,
    reads_model: bool,
    results: RwLock<HashMap<MemoKey, Fire, FxBuildHasher>>,
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
            results: RwLock::new(HashMap::default()),
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
    cedar: Option<(Entity, Context)>,
}

impl<'q> Evaluation<'q> {
    pub(crate) fn new(query: &'q Query<'q>) -> Evaluation<'q> {
        Evaluation {
            query,
            principal_values: principal_attributes(&query.facts.principal),
            context_values: context_attributes(&query.facts.request, query.at.timestamp()),
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
        let key = (memo.reads_model.then(|| model.to_string()), self.key(memo));
        if let Some(known) = memo.results.read().ok().and_then(|r| r.get(&key).cloned()) {
            return Ok(known);
        }
        let fire = self.ask_cedar(book, &compiled.alone, model)?;
        if let Ok(mut results) = memo.results.write()
            && results.len() < MEMO_CAPACITY
        {
            results.insert(key, fire.clone());
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

    fn key(&self, memo: &Memo) -> Vec<FactValue> {
        memo.inputs
            .iter()
            .map(|input| match *input {
                Input::Principal(i) => self.principal_values[i].1.clone(),
                Input::Context(i) => self.context_values[i].1.clone(),
            })
            .collect()
    }

    fn ask_cedar(
        &mut self,
        book: &PolicyBook,
        set: &PolicySet,
        model: &str,
    ) -> Result<Fire, FactsError> {
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
mod tests {
    use super::plain_reads;

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
