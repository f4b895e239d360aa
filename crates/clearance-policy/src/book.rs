//! The active directive set, compiled: a [`PolicyBook`] decides one request in a few
//! microseconds and never changes once built. A new set is compiled whole and swapped in by
//! the caller, so no request ever sees half of a change.
//!
//! Directives are bucketed by model when the set is compiled: a request is evaluated only
//! against the directives that cover its model, in one Cedar call for the enforced ones and one
//! for the shadow ones. A model no directive covers costs no Cedar call at all.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use cedar_policy::{Authorizer, Entity, Policy, PolicySet};
use chrono::{DateTime, Utc};
use clearance_core::facts::Facts;
use sha2::{Digest, Sha256};

use crate::compile::{
    BASE_PERMIT_ID, base_permit, compile_toml, facts_read, parse_cedar_file, validation_errors,
};
use crate::directive::{Directive, Effect, Mode, parse_toml};
use crate::error::{DirectiveError, DirectiveErrors};
use crate::eval::{Evaluation, Fire, Memo, cedar_fires};
use crate::facts::{self, FactsError, missing_fact_for};

/// How many reroutes a decision follows before it gives up and denies.
const MAX_REROUTE_HOPS: usize = 4;

/// One directive file's name and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
}

/// The models directives may name, with their tags.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub models: Vec<CatalogModel>,
}

#[derive(Debug, Clone)]
pub struct CatalogModel {
    pub name: String,
    pub provider: String,
    pub tags: Vec<String>,
}

impl Catalog {
    pub fn model(&self, name: &str) -> Option<&CatalogModel> {
        self.models.iter().find(|m| m.name == name)
    }

    /// Whether a directive with this scope covers the model (its condition aside).
    pub fn covers(scope: &crate::directive::Scope, model: &CatalogModel) -> bool {
        scope.covers_every_model()
            || scope.models.contains(&model.name)
            || scope.tags.iter().any(|t| model.tags.contains(t))
    }
}

/// A directive with what compiling it produced.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub directive: Arc<Directive>,
    pub policy: Policy,
    pub facts_read: Vec<String>,
    /// The policy beside the base permit: what Cedar evaluates for this directive alone.
    pub alone: PolicySet,
    /// Remembered results, when the condition's inputs are known exactly (see [`crate::eval`]).
    pub memo: Option<Memo>,
}

/// The directives that cover one model, as indices into the book's directives, in id order.
#[derive(Default)]
struct Bucket {
    enforce: Vec<usize>,
    shadow: Vec<usize>,
    facts_read: BTreeSet<String>,
}

/// A compiled, validated, immutable directive set.
pub struct PolicyBook {
    version: String,
    compiled: Vec<Compiled>,
    by_id: HashMap<String, usize>,
    buckets: HashMap<String, Bucket>,
    models: HashMap<String, Entity>,
    catalog: Catalog,
    authorizer: Authorizer,
}

/// What a decision concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Allow,
    Deny,
    Reroute { to: String },
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Deny => "deny",
            Outcome::Reroute { .. } => "reroute",
        }
    }
}

/// A directive that fired for a request, on the model it was evaluated for.
#[derive(Debug, Clone)]
pub struct Hit {
    pub directive: Arc<Directive>,
    pub model: String,
    /// Set when Cedar could not evaluate the directive; it then counts as fired (fail closed).
    pub error: Option<String>,
}

/// One request's access decision.
#[derive(Debug, Clone)]
pub struct Decision {
    pub outcome: Outcome,
    /// Enforced directives that fired, on the requested model and on any reroute target.
    pub enforced: Vec<Hit>,
    /// Shadow directives that would have fired on the requested model.
    pub shadow: Vec<Hit>,
    /// What the answer would have been had the shadow directives been enforced.
    pub shadow_outcome: Option<Outcome>,
    /// Facts the covering directives read that the registry or geo-IP did not know.
    pub missing_facts: Vec<String>,
    /// Attributes the fired (enforced or shadow) directives read.
    pub facts_read: Vec<String>,
    pub policy_version: String,
}

impl Decision {
    fn allow(version: &str) -> Decision {
        Decision {
            outcome: Outcome::Allow,
            enforced: Vec::new(),
            shadow: Vec::new(),
            shadow_outcome: None,
            missing_facts: Vec::new(),
            facts_read: Vec::new(),
            policy_version: version.to_string(),
        }
    }

    /// The ids of the directives that decided a deny or reroute.
    pub fn directive_ids(&self) -> Vec<String> {
        unique_ids(&self.enforced)
    }

    pub fn shadow_ids(&self) -> Vec<String> {
        unique_ids(&self.shadow)
    }

    /// The directive a denial names first: a deny directive if one fired, else the reroute
    /// whose target could not serve.
    pub fn denying(&self) -> Option<&Directive> {
        self.enforced
            .iter()
            .find(|h| h.directive.effect == Effect::Deny)
            .or_else(|| self.enforced.first())
            .map(|h| h.directive.as_ref())
    }
}

fn unique_ids(hits: &[Hit]) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for hit in hits {
        if !ids.contains(&hit.directive.id) {
            ids.push(hit.directive.id.clone());
        }
    }
    ids
}

/// One request to decide.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    pub principal_id: &'a str,
    pub facts: &'a Facts,
    pub model: &'a str,
    pub at: DateTime<Utc>,
}

impl PolicyBook {
    /// A book with no directives: every request is allowed.
    pub fn empty(catalog: &Catalog) -> PolicyBook {
        PolicyBook::compile(&[], catalog).expect("an empty directive set always compiles")
    }

    /// Reads, checks and compiles a whole directive set. Any problem in any file rejects the
    /// whole set, with every problem found.
    pub fn compile(
        sources: &[SourceFile],
        catalog: &Catalog,
    ) -> Result<PolicyBook, DirectiveErrors> {
        let mut errors = Vec::new();
        let mut compiled = Vec::new();
        for source in sources {
            match read_source(source) {
                Ok(mut found) => compiled.append(&mut found),
                Err(mut found) => errors.append(&mut found),
            }
        }
        check_unique_ids(&compiled, &mut errors);
        for c in &compiled {
            check_against_catalog(&c.directive, catalog, &mut errors);
        }
        // Every directive that parsed is schema-checked too, so one run reports every problem.
        errors.extend(validate(&compiled));
        if !errors.is_empty() {
            return Err(DirectiveErrors(errors));
        }
        compiled.sort_by(|a, b| a.directive.id.cmp(&b.directive.id));
        Ok(PolicyBook::assemble(compiled, catalog, version_of(sources)))
    }

    fn assemble(compiled: Vec<Compiled>, catalog: &Catalog, version: String) -> PolicyBook {
        let by_id = compiled
            .iter()
            .enumerate()
            .map(|(i, c)| (c.directive.id.clone(), i))
            .collect();
        let mut buckets = HashMap::new();
        let mut models = HashMap::new();
        for model in &catalog.models {
            let covering: Vec<(usize, &Compiled)> = compiled
                .iter()
                .enumerate()
                .filter(|(_, c)| Catalog::covers(&c.directive.scope, model))
                .collect();
            buckets.insert(model.name.clone(), bucket_of(&covering));
            if let Ok(entity) = facts::model_entity(&model.name, &model.provider, &model.tags) {
                models.insert(model.name.clone(), entity);
            }
        }
        PolicyBook {
            version,
            compiled,
            by_id,
            buckets,
            models,
            catalog: catalog.clone(),
            authorizer: Authorizer::new(),
        }
    }

    /// A content hash of the directive files: the same files give the same version.
    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn directives(&self) -> impl Iterator<Item = &Arc<Directive>> {
        self.compiled.iter().map(|c| &c.directive)
    }

    pub fn directive(&self, id: &str) -> Option<&Arc<Directive>> {
        self.by_id.get(id).map(|&i| &self.compiled[i].directive)
    }

    /// The Cedar policy text a directive compiled to.
    pub fn cedar_of(&self, id: &str) -> Option<String> {
        self.by_id
            .get(id)
            .map(|&i| self.compiled[i].policy.to_string())
    }

    pub fn facts_read_by(&self, id: &str) -> &[String] {
        self.by_id
            .get(id)
            .map_or(&[], |&i| self.compiled[i].facts_read.as_slice())
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Whether any directive covers this model (if none, every request for it is allowed).
    pub fn covers(&self, model: &str) -> bool {
        self.buckets
            .get(model)
            .is_some_and(|b| !b.enforce.is_empty() || !b.shadow.is_empty())
    }

    pub(crate) fn model_entity(&self, model: &str) -> Option<&Entity> {
        self.models.get(model)
    }

    pub(crate) fn authorizer(&self) -> &Authorizer {
        &self.authorizer
    }

    /// Decides one request. Never fails: a directive Cedar cannot evaluate counts as fired.
    pub fn decide(&self, query: &Query<'_>) -> Decision {
        let Some(bucket) = self.buckets.get(query.model) else {
            return Decision::allow(&self.version);
        };
        if bucket.enforce.is_empty() && bucket.shadow.is_empty() {
            return Decision::allow(&self.version);
        }
        match self.decide_covered(query, bucket) {
            Ok(decision) => decision,
            Err(error) => self.fail_closed(query, error),
        }
    }

    fn decide_covered(&self, query: &Query<'_>, bucket: &Bucket) -> Result<Decision, FactsError> {
        let fresh = Evaluation::new(query);
        // Directives with `stale_after` read the same request with every stored principal fact
        // unknown when the facts are older than that: built only if such a directive exists.
        let blank_facts;
        let blank_query;
        let mut evaluation = Evaluations { fresh, blank: None };
        if self
            .compiled
            .iter()
            .any(|c| c.directive.stale_after_s.is_some())
        {
            blank_facts = Facts {
                principal: query.facts.principal.without_stored_facts(),
                request: query.facts.request.clone(),
            };
            blank_query = Query {
                facts: &blank_facts,
                ..*query
            };
            evaluation.blank = Some(Evaluation::new(&blank_query));
        }
        let shadow = self.fired(&bucket.shadow, query.model, &mut evaluation)?;
        let mut enforced = Vec::new();
        let mut outcome = Outcome::Allow;
        let mut model = query.model.to_string();
        let mut visited = vec![model.clone()];
        while let Some(covering) = self.buckets.get(&model).map(|b| &b.enforce) {
            let hits = self.fired(covering, &model, &mut evaluation)?;
            let next = next_step(&hits, &visited);
            enforced.extend(hits);
            match next {
                Step::Serve if model == query.model => break,
                Step::Serve => {
                    outcome = Outcome::Reroute { to: model.clone() };
                    break;
                }
                Step::Deny => {
                    outcome = Outcome::Deny;
                    break;
                }
                Step::Reroute(_) if visited.len() > MAX_REROUTE_HOPS => {
                    outcome = Outcome::Deny;
                    break;
                }
                Step::Reroute(target) => {
                    visited.push(target.clone());
                    model = target;
                }
            }
        }
        let shadow_outcome = shadow_outcome(&shadow);
        let facts_read = enforced
            .iter()
            .chain(&shadow)
            .flat_map(|h| self.facts_read_by(&h.directive.id).iter().cloned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        Ok(Decision {
            outcome,
            enforced,
            shadow,
            shadow_outcome,
            missing_facts: self.missing_facts(query, bucket),
            facts_read,
            policy_version: self.version.clone(),
        })
    }

    /// The directives among `covering` that fire for this request on `model`.
    fn fired(
        &self,
        covering: &[usize],
        model: &str,
        evaluation: &mut Evaluations<'_>,
    ) -> Result<Vec<Hit>, FactsError> {
        let mut hits = Vec::new();
        for &i in covering {
            let compiled = &self.compiled[i];
            let error = match evaluation.fires(self, compiled, model)? {
                Fire::No => continue,
                Fire::Yes => None,
                Fire::Error(error) => Some(error),
            };
            hits.push(Hit {
                directive: Arc::clone(&compiled.directive),
                model: model.to_string(),
                error,
            });
        }
        Ok(hits)
    }

    /// Evaluates one Cedar policy alone for this request: `Ok(true)` if it fires. Used to
    /// explain decisions, never on the hot path.
    pub(crate) fn fires_alone(&self, policy: &Policy, query: &Query<'_>) -> Result<bool, String> {
        let set =
            PolicySet::from_policies([base_permit(), policy.clone()]).map_err(|e| e.to_string())?;
        let principal = facts::principal_entity(query.principal_id, &query.facts.principal)
            .map_err(|e| e.to_string())?;
        let context = facts::context(&query.facts.request, query.at.timestamp())
            .map_err(|e| e.to_string())?;
        let model = self
            .models
            .get(query.model)
            .ok_or_else(|| FactsError::unknown_model(query.model).to_string())?;
        match cedar_fires(&self.authorizer, &set, &principal, model, &context) {
            Ok(Fire::Yes) => Ok(true),
            Ok(Fire::No) => Ok(false),
            Ok(Fire::Error(error)) => Err(error),
            Err(error) => Err(error.to_string()),
        }
    }

    pub(crate) fn policy_of(&self, id: &str) -> Option<&Policy> {
        self.by_id.get(id).map(|&i| &self.compiled[i].policy)
    }

    /// Every directive covering `model`, in id order.
    pub(crate) fn covering(&self, model: &str) -> Vec<&Arc<Directive>> {
        let Some(model) = self.catalog.model(model) else {
            return Vec::new();
        };
        self.directives()
            .filter(|d| Catalog::covers(&d.scope, model))
            .collect()
    }

    /// When the request itself cannot be put to Cedar, every enforced directive covering the
    /// model counts as fired: a broken evaluation never lets a request through.
    fn fail_closed(&self, query: &Query<'_>, error: FactsError) -> Decision {
        let model = self.catalog.model(query.model);
        let enforced: Vec<Hit> = self
            .compiled
            .iter()
            .filter(|c| c.directive.mode == Mode::Enforce)
            .filter(|c| model.is_some_and(|m| Catalog::covers(&c.directive.scope, m)))
            .map(|c| Hit {
                directive: Arc::clone(&c.directive),
                model: query.model.to_string(),
                error: Some(error.to_string()),
            })
            .collect();
        let outcome = if enforced.is_empty() {
            Outcome::Allow
        } else {
            Outcome::Deny
        };
        Decision {
            outcome,
            enforced,
            ..Decision::allow(&self.version)
        }
    }
}

enum Step {
    Serve,
    Deny,
    Reroute(String),
}

/// Deny wins over reroute; a reroute back to a model already tried is a deny.
fn next_step(hits: &[Hit], visited: &[String]) -> Step {
    if hits.is_empty() {
        return Step::Serve;
    }
    if hits
        .iter()
        .any(|h| h.error.is_some() || h.directive.effect == Effect::Deny)
    {
        return Step::Deny;
    }
    match hits.iter().find_map(|h| h.directive.reroute_target()) {
        Some(target) if !visited.iter().any(|v| v == target) => Step::Reroute(target.to_string()),
        _ => Step::Deny,
    }
}

fn shadow_outcome(hits: &[Hit]) -> Option<Outcome> {
    if hits.is_empty() {
        return None;
    }
    if hits.iter().any(|h| h.directive.effect == Effect::Deny) {
        return Some(Outcome::Deny);
    }
    hits.iter()
        .find_map(|h| h.directive.reroute_target())
        .map(|to| Outcome::Reroute { to: to.to_string() })
}

/// The two evaluations of one request: with the principal's facts, and (only when some
/// directive has `stale_after`) with every stored principal fact unknown.
struct Evaluations<'q> {
    fresh: Evaluation<'q>,
    blank: Option<Evaluation<'q>>,
}

impl Evaluations<'_> {
    /// Whether a directive fires. One that does not trust facts this old fires if it fires
    /// on the facts or on no facts at all: stale facts read as missing, and can only ever
    /// add a denial, never lift one (a listed person's stale record still keeps them out).
    fn fires(
        &mut self,
        book: &PolicyBook,
        compiled: &Compiled,
        model: &str,
    ) -> Result<Fire, FactsError> {
        let on_facts = self.fresh.fires(book, compiled, model)?;
        let at = self.fresh.at();
        let confirmed = self.fresh.confirmed_at();
        let blank = match (&mut self.blank, compiled.directive.stale_after_s) {
            (Some(blank), Some(max_age)) if facts_are_stale(confirmed, at, max_age) => blank,
            _ => return Ok(on_facts),
        };
        Ok(match (on_facts, blank.fires(book, compiled, model)?) {
            (Fire::Error(error), _) | (_, Fire::Error(error)) => Fire::Error(error),
            (Fire::Yes, _) | (_, Fire::Yes) => Fire::Yes,
            (Fire::No, Fire::No) => Fire::No,
        })
    }
}

/// Facts never confirmed by the identity provider, or confirmed more than `max_age_s` ago.
pub(crate) fn facts_are_stale(confirmed_at: Option<i64>, at: i64, max_age_s: u64) -> bool {
    confirmed_at.is_none_or(|confirmed| {
        u64::try_from(at.saturating_sub(confirmed)).is_ok_and(|age| age > max_age_s)
    })
}

impl PolicyBook {
    /// Unknown facts the directives covering the model read; a directive that found the
    /// facts stale read every stored fact it names as unknown.
    fn missing_facts(&self, query: &Query<'_>, bucket: &Bucket) -> Vec<String> {
        let mut missing = missing_facts(query.facts, &bucket.facts_read);
        let at = query.at.timestamp();
        let stale_reads = bucket
            .enforce
            .iter()
            .chain(&bucket.shadow)
            .map(|&i| &self.compiled[i])
            .filter(|c| {
                c.directive.stale_after_s.is_some_and(|max_age| {
                    facts_are_stale(query.facts.principal.confirmed_at, at, max_age)
                })
            })
            .flat_map(|c| c.facts_read.iter())
            .filter_map(|attribute| attribute.strip_prefix("principal."))
            .filter_map(clearance_core::fact_table::missing_fact_for);
        missing.extend(stale_reads.map(String::from));
        missing.sort();
        missing.dedup();
        missing
    }
}

/// Unknown facts that the directives covering the model read.
fn missing_facts(facts: &Facts, read: &BTreeSet<String>) -> Vec<String> {
    let mut unknown: BTreeSet<&str> = facts.principal.missing.iter().map(String::as_str).collect();
    if facts.request.country.is_none() {
        unknown.insert("request_country");
    }
    if facts.request.max_tokens.is_none() {
        unknown.insert("max_tokens");
    }
    let mut missing: Vec<String> = read
        .iter()
        .filter_map(|attribute| missing_fact_for(attribute))
        .filter(|fact| unknown.contains(fact))
        .map(String::from)
        .collect();
    missing.dedup();
    missing.sort();
    missing.dedup();
    missing
}

fn bucket_of(covering: &[(usize, &Compiled)]) -> Bucket {
    let in_mode = |mode: Mode| {
        covering
            .iter()
            .filter(|(_, c)| c.directive.mode == mode)
            .map(|(i, _)| *i)
            .collect()
    };
    Bucket {
        enforce: in_mode(Mode::Enforce),
        shadow: in_mode(Mode::Shadow),
        facts_read: covering
            .iter()
            .flat_map(|(_, c)| c.facts_read.iter().cloned())
            .collect(),
    }
}

fn read_source(source: &SourceFile) -> Result<Vec<Compiled>, Vec<DirectiveError>> {
    let extension = source.path.extension().and_then(|e| e.to_str());
    let pairs = match extension {
        Some("toml") => {
            let directive = parse_toml(&source.path, &source.text)?;
            let policy = compile_toml(&directive).map_err(|e| vec![e])?;
            vec![(directive, policy)]
        }
        Some("cedar") => parse_cedar_file(&source.path, &source.text)?,
        _ => {
            return Err(vec![DirectiveError::new(
                &source.path,
                None,
                "a directive file must end in .toml or .cedar",
            )]);
        }
    };
    pairs
        .into_iter()
        .map(|(directive, policy)| {
            let alone = PolicySet::from_policies([base_permit(), policy.clone()]).map_err(|e| {
                vec![DirectiveError::new(
                    &directive.origin.file,
                    Some(directive.origin.line),
                    format!("Cedar: {e}"),
                )]
            })?;
            Ok(Compiled {
                facts_read: facts_read(&directive),
                memo: Memo::for_directive(&directive),
                directive: Arc::new(directive),
                policy,
                alone,
            })
        })
        .collect()
}

fn check_unique_ids(compiled: &[Compiled], errors: &mut Vec<DirectiveError>) {
    let mut first: HashMap<&str, &Directive> = HashMap::new();
    for c in compiled {
        let d = c.directive.as_ref();
        if d.id == BASE_PERMIT_ID {
            errors.push(at_directive(d, format!("`{}` is reserved", d.id)));
        }
        if let Some(earlier) = first.insert(&d.id, d) {
            errors.push(at_directive(
                d,
                format!(
                    "duplicate directive id `{}`; first defined at {}:{}",
                    d.id,
                    earlier.origin.file.display(),
                    earlier.origin.line
                ),
            ));
        }
    }
}

fn at_directive(d: &Directive, message: String) -> DirectiveError {
    DirectiveError::new(&d.origin.file, Some(d.origin.line), message)
}

fn check_against_catalog(d: &Directive, catalog: &Catalog, errors: &mut Vec<DirectiveError>) {
    let names = || {
        catalog
            .models
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (index, model) in d.scope.models.iter().enumerate() {
        if catalog.model(model).is_none() {
            errors.push(DirectiveError::new(
                &d.origin.file,
                Some(d.origin.model_line(index)),
                format!(
                    "`{}` names unknown model `{model}`; configured models: {}",
                    d.id,
                    names()
                ),
            ));
        }
    }
    for tag in &d.scope.tags {
        if !catalog.models.iter().any(|m| m.tags.contains(tag)) {
            let mut tags: Vec<&str> = catalog
                .models
                .iter()
                .flat_map(|m| m.tags.iter().map(String::as_str))
                .collect();
            tags.sort_unstable();
            tags.dedup();
            errors.push(at_directive(
                d,
                format!(
                    "`{}` names tag `{tag}` that no model has; tags in use: {}",
                    d.id,
                    tags.join(", ")
                ),
            ));
        }
    }
    if let Some(target) = d.reroute_target() {
        match catalog.model(target) {
            None => errors.push(at_directive(
                d,
                format!("`{}` reroutes to unknown model `{target}`; configured models: {}", d.id, names()),
            )),
            Some(model) if Catalog::covers(&d.scope, model) => errors.push(at_directive(
                d,
                format!(
                    "`{}` reroutes to `{target}`, which the directive itself covers: the rerouted request would be refused by the same directive",
                    d.id
                ),
            )),
            Some(_) => {}
        }
    }
}

fn validate(compiled: &[Compiled]) -> Vec<DirectiveError> {
    let policies = compiled.iter().map(|c| c.policy.clone());
    let set = match PolicySet::from_policies(std::iter::once(base_permit()).chain(policies)) {
        Ok(set) => set,
        Err(error) => {
            return vec![DirectiveError::new(
                PathBuf::from("<directives>"),
                None,
                format!("Cedar: {error}"),
            )];
        }
    };
    let by_id = compiled
        .iter()
        .map(|c| (c.directive.id.clone(), c.directive.as_ref()))
        .collect();
    validation_errors(&set, &by_id)
}

/// The version a set of directive files compiles to: a content hash of their names and texts,
/// so a caller can tell that nothing changed without compiling anything.
pub fn version_of(sources: &[SourceFile]) -> String {
    let mut sorted: Vec<&SourceFile> = sources.iter().collect();
    sorted.sort_by(|a, b| a.path.file_name().cmp(&b.path.file_name()));
    let mut hasher = Sha256::new();
    for source in sorted {
        let name = source
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        hasher.update((name.len() as u64).to_be_bytes());
        hasher.update(name.as_bytes());
        hasher.update((source.text.len() as u64).to_be_bytes());
        hasher.update(source.text.as_bytes());
    }
    hex::encode(&hasher.finalize()[..8])
}
