//! Impact preview: what a draft directive would cut before it is active, next to what a
//! blanket block of the same models would cut.
//!
//! Two sources are re-evaluated with real decisions ([`PolicyBook::decide`]), never with a
//! re-implementation of Cedar:
//!
//! - **the principal registry**: every principal on every model the draft covers, with the
//!   request facts unknown (no request country) and the draft's capabilities assumed used;
//! - **recorded requests**: groups of audit records (one principal, one requested model, the
//!   same recorded facts), each decided once against the facts recorded with it.
//!
//! The draft is compiled alone with its mode forced to `enforce`, and evaluated at
//! `max(now, effective)`, so a shadow or future-dated draft still shows what it would do once
//! in force. The blanket block is a generated TOML directive with the draft's id, models, tags
//! and window, no condition, no capability restriction and `effect = "deny"`.
//!
//! Each distinct (model, recorded facts) combination is decided once, whichever principals
//! and however many records share it (the principal's id joins the key only when the
//! condition names a principal directly), on every core.
//!
//! [`Draft::compile`] checks and compiles the draft; [`Draft::models`] says which recorded
//! requests are worth reading; [`Draft::preview`] gives the [`Preview`], whose JSON keys
//! `docs/preview.md` documents.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, SecondsFormat, Utc};
use clearance_core::api::ApiSurface;
use clearance_core::country::CountryCode;
use clearance_core::facts::{Facts, PrincipalFacts, RequestFacts};
use clearance_core::principal::Principal;
use rustc_hash::FxBuildHasher;
use serde::Serialize;

use crate::book::{Catalog, Outcome, PolicyBook, Query, SourceFile};
use crate::directive::{Directive, Effect, Mode};
use crate::error::{DirectiveError, DirectiveErrors};

/// At most this many affected principal ids are listed (the counts always cover everyone).
pub const MAX_LISTED_PRINCIPALS: usize = 1000;

/// The label for a fact the registry or the record does not hold.
pub const UNKNOWN: &str = "unknown";

/// Audit records of one principal for one requested model with the same recorded facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestGroup {
    pub principal_id: String,
    pub model: String,
    /// The `facts` object as the audit records hold it (JSON); `None` when they hold none.
    pub facts_json: Option<String>,
    pub count: u64,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
}

/// What a preview looks at.
#[derive(Debug, Clone, Copy)]
pub struct PreviewInput<'a> {
    /// The principal registry.
    pub principals: &'a [Principal],
    /// The recorded requests in the window, grouped. Groups for models the draft does not
    /// cover ([`Draft::models`]) may be left out: they are not re-evaluated.
    pub requests: &'a [RequestGroup],
    /// How many recorded requests the window holds, for every model (when `requests` holds
    /// only the covered models); the sum of `requests`' counts if larger.
    pub requests_in_window: u64,
    /// The start of the window the requests were read from.
    pub since: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

/// A draft's impact, side by side with a blanket block's. Serialised as documented in
/// `docs/preview.md`; the keys are stable.
#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    pub directive: DraftSummary,
    /// When the decisions were evaluated: `max(now, effective)`.
    pub evaluated_at: String,
    pub window: Window,
    /// The draft as written, enforced.
    pub draft: Impact,
    /// A blanket block: the same models and window, no condition, no capability restriction.
    pub blanket: Impact,
    pub notes: Vec<String>,
}

/// The draft directive, as read.
#[derive(Debug, Clone, Serialize)]
pub struct DraftSummary {
    pub id: String,
    pub title: String,
    pub authority: String,
    pub file: String,
    /// The mode written in the file; the preview evaluates it as `enforce` either way.
    pub mode: String,
    /// `deny` or `reroute`.
    pub effect: String,
    pub reroute_to: Option<String>,
    pub scope_models: Vec<String>,
    pub scope_tags: Vec<String>,
    pub capabilities: Vec<String>,
    /// The catalog models the scope covers.
    pub models: Vec<String>,
    pub condition: Option<String>,
    pub effective: Option<String>,
    pub expires: Option<String>,
}

/// The stretch of the audit log that was read.
#[derive(Debug, Clone, Serialize)]
pub struct Window {
    pub since: String,
    pub until: String,
    /// The earliest and latest recorded request for a covered model found in the window
    /// (`null` if none).
    pub first_request: Option<String>,
    pub last_request: Option<String>,
}

/// How many were denied and how many rerouted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub denied: u64,
    pub rerouted: u64,
}

impl Tally {
    pub fn affected(&self) -> u64 {
        self.denied + self.rerouted
    }

    fn add(&mut self, outcome: Cut, count: u64) {
        match outcome {
            Cut::Denied => self.denied += count,
            Cut::Rerouted => self.rerouted += count,
        }
    }
}

/// One directive's impact on the registry and on the recorded requests.
#[derive(Debug, Clone, Serialize)]
pub struct Impact {
    pub principals: PrincipalImpact,
    pub requests: RequestImpact,
}

/// Who would lose access (deny) or be served another model (reroute).
#[derive(Debug, Clone, Serialize)]
pub struct PrincipalImpact {
    /// Principals in the registry.
    pub registry: u64,
    /// Principals denied or rerouted on at least one covered model (`denied + rerouted`).
    pub affected: u64,
    /// Principals denied on at least one covered model.
    pub denied: u64,
    /// Principals rerouted on at least one covered model and denied on none.
    pub rerouted: u64,
    /// Per covered model: principals denied or rerouted on it (every covered model listed).
    pub by_model: BTreeMap<String, Tally>,
    pub by_org: BTreeMap<String, Tally>,
    /// Every citizenship of an affected principal counts once; `unknown` when none is known.
    pub by_citizenship: BTreeMap<String, Tally>,
    pub by_residence: BTreeMap<String, Tally>,
    /// Affected principal ids in id order, at most [`MAX_LISTED_PRINCIPALS`].
    pub ids: Vec<String>,
    pub ids_capped: bool,
}

/// Which recorded requests would have been denied or rerouted.
#[derive(Debug, Clone, Serialize)]
pub struct RequestImpact {
    /// Recorded requests in the window (with a principal and a requested model).
    pub in_window: u64,
    /// Of those, requests for a model the directive covers.
    pub in_scope: u64,
    /// In-scope requests recorded without facts (or with facts this version cannot read):
    /// not re-evaluated, and counted in no other figure.
    pub without_facts: u64,
    pub denied: u64,
    pub rerouted: u64,
    /// Per covered model (every covered model listed).
    pub by_model: BTreeMap<String, Tally>,
    /// By the principal's org as recorded.
    pub by_org: BTreeMap<String, Tally>,
    /// By the request country as recorded (geo-IP).
    pub by_country: BTreeMap<String, Tally>,
    /// The principals with the most affected requests, at most [`MAX_LISTED_PRINCIPALS`].
    pub by_principal: BTreeMap<String, Tally>,
    pub by_principal_capped: bool,
}

/// A way a request is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    Denied,
    Rerouted,
}

fn cut_of(outcome: &Outcome) -> Option<Cut> {
    match outcome {
        Outcome::Allow => None,
        Outcome::Deny => Some(Cut::Denied),
        Outcome::Reroute { .. } => Some(Cut::Rerouted),
    }
}

/// The draft and the blanket block, each compiled alone and enforced.
struct Books {
    directive: Directive,
    draft: PolicyBook,
    blanket: PolicyBook,
    /// The catalog models the draft covers, in catalog order.
    models: Vec<String>,
    /// Whether the condition names a principal other than through its attributes, so two
    /// principals with the same facts may be decided differently.
    reads_identity: bool,
}

/// A draft compiled for previewing: enforced, and beside its blanket block.
pub struct Draft {
    books: Books,
}

impl Draft {
    /// Compiles a draft TOML directive alone against the catalog; every problem is reported
    /// at its line.
    pub fn compile(draft: &SourceFile, catalog: &Catalog) -> Result<Draft, DirectiveErrors> {
        Ok(Draft {
            books: compile_books(draft, catalog)?,
        })
    }

    pub fn directive(&self) -> &Directive {
        &self.books.directive
    }

    /// The catalog models the draft covers, in catalog order: the only recorded requests a
    /// preview needs grouped.
    pub fn models(&self) -> &[String] {
        &self.books.models
    }

    /// The draft's impact beside a blanket block's.
    pub fn preview(&self, input: &PreviewInput<'_>) -> Preview {
        run_preview(&self.books, input)
    }
}

fn run_preview(books: &Books, input: &PreviewInput<'_>) -> Preview {
    let d = &books.directive;
    let at = d.effective.map_or(input.now, |from| from.max(input.now));
    let mut principals = (
        PrincipalTally::new(&books.models),
        PrincipalTally::new(&books.models),
    );
    evaluate_principals(books, input.principals, at, &mut principals);
    let (totals, draft_requests, blanket_requests) =
        evaluate_requests(books, input.requests, at, input.requests_in_window);
    let (first, last) = request_span(books, input.requests);
    Preview {
        directive: summary(d, &books.models),
        evaluated_at: rfc3339(at),
        window: Window {
            since: rfc3339(input.since),
            until: rfc3339(input.now),
            first_request: first.map(rfc3339),
            last_request: last.map(rfc3339),
        },
        draft: Impact {
            principals: principals.0.finish(input.principals.len()),
            requests: draft_requests,
        },
        blanket: Impact {
            principals: principals.1.finish(input.principals.len()),
            requests: blanket_requests,
        },
        notes: notes(books, input.now, at, &totals),
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn compile_books(draft: &SourceFile, catalog: &Catalog) -> Result<Books, DirectiveErrors> {
    let problem =
        |message: String| DirectiveErrors(vec![DirectiveError::new(&draft.path, None, message)]);
    if draft.path.extension().and_then(|e| e.to_str()) != Some("toml") {
        return Err(problem(
            "a preview takes one TOML directive (a .toml file)".to_string(),
        ));
    }
    let as_written = PolicyBook::compile(std::slice::from_ref(draft), catalog)?;
    let directive = as_written
        .directives()
        .next()
        .map(|d| d.as_ref().clone())
        .ok_or_else(|| problem("the file holds no directive".to_string()))?;
    let draft_book = if directive.mode == Mode::Enforce {
        as_written
    } else {
        let text = enforced_text(&draft.text).map_err(problem)?;
        compile_generated(draft, text, catalog)?
    };
    let blanket = compile_generated(draft, blanket_text(&directive), catalog)?;
    let models = catalog
        .models
        .iter()
        .map(|m| m.name.clone())
        .filter(|m| draft_book.covers(m))
        .collect();
    let reads_identity = directive
        .condition
        .as_deref()
        .is_some_and(names_principal_directly);
    Ok(Books {
        directive,
        draft: draft_book,
        blanket,
        models,
        reads_identity,
    })
}

/// Compiles text the preview generated from a valid draft; a failure is reported against
/// the draft's file.
fn compile_generated(
    draft: &SourceFile,
    text: String,
    catalog: &Catalog,
) -> Result<PolicyBook, DirectiveErrors> {
    let source = SourceFile {
        path: draft.path.clone(),
        text,
    };
    PolicyBook::compile(&[source], catalog)
}

/// The draft's text with `mode = "enforce"`.
fn enforced_text(text: &str) -> Result<String, String> {
    let mut table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| format!("TOML: {}", e.message()))?;
    table.insert("mode".into(), toml::Value::String("enforce".into()));
    toml::to_string(&table).map_err(|e| format!("cannot rewrite the draft as enforced: {e}"))
}

/// A directive with the draft's id, title, scope (models and tags) and window, no condition,
/// no capability restriction, that denies.
fn blanket_text(d: &Directive) -> String {
    let mut table = toml::Table::new();
    let text = |s: &str| toml::Value::String(s.to_string());
    let list = |items: &[String]| toml::Value::Array(items.iter().map(|s| text(s)).collect());
    table.insert("id".into(), text(&d.id));
    table.insert("title".into(), text(&format!("Blanket block: {}", d.title)));
    table.insert("authority".into(), text(&d.authority));
    if let Some(from) = d.effective {
        table.insert("effective".into(), text(&from.to_rfc3339()));
    }
    if let Some(until) = d.expires {
        table.insert("expires".into(), text(&until.to_rfc3339()));
    }
    table.insert("mode".into(), text("enforce"));
    if !d.scope.models.is_empty() {
        table.insert("models".into(), list(&d.scope.models));
    }
    if !d.scope.tags.is_empty() {
        table.insert("tags".into(), list(&d.scope.tags));
    }
    table.insert("effect".into(), text("deny"));
    toml::to_string(&table).expect("a table of strings always serialises")
}

/// Whether a condition uses `principal` other than as `principal.attribute` (e.g.
/// `principal == Principal::"x"`, `principal in ...`): then the principal's id is an input.
fn names_principal_directly(condition: &str) -> bool {
    if condition.contains("Principal::") {
        return true;
    }
    let bytes = condition.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    condition.match_indices("principal").any(|(start, word)| {
        let end = start + word.len();
        let before = start.checked_sub(1).map(|i| bytes[i]);
        let whole_word = !before.is_some_and(|b| is_ident(b) || b == b'.')
            && !bytes.get(end).copied().is_some_and(is_ident);
        whole_word && bytes.get(end) != Some(&b'.')
    })
}

fn summary(d: &Directive, models: &[String]) -> DraftSummary {
    let (effect, reroute_to) = match &d.effect {
        Effect::Deny => ("deny".to_string(), None),
        Effect::Reroute(to) => ("reroute".to_string(), Some(to.clone())),
    };
    DraftSummary {
        id: d.id.clone(),
        title: d.title.clone(),
        authority: d.authority.clone(),
        file: d.origin.file.display().to_string(),
        mode: d.mode.as_str().to_string(),
        effect,
        reroute_to,
        scope_models: d.scope.models.clone(),
        scope_tags: d.scope.tags.clone(),
        capabilities: d
            .scope
            .capabilities
            .iter()
            .map(|c| c.as_str().to_string())
            .collect(),
        models: models.to_vec(),
        condition: d.condition.clone(),
        effective: d.effective.map(rfc3339),
        expires: d.expires.map(rfc3339),
    }
}

// ---------------------------------------------------------------------------------------------
// The registry

/// Per-principal counts for one directive.
struct PrincipalTally {
    affected: u64,
    cuts: Tally,
    by_model: BTreeMap<String, Tally>,
    by_org: BTreeMap<String, Tally>,
    by_citizenship: BTreeMap<String, Tally>,
    by_residence: BTreeMap<String, Tally>,
    ids: Vec<String>,
}

impl PrincipalTally {
    fn new(models: &[String]) -> PrincipalTally {
        PrincipalTally {
            affected: 0,
            cuts: Tally::default(),
            by_model: models
                .iter()
                .map(|m| (m.clone(), Tally::default()))
                .collect(),
            by_org: BTreeMap::new(),
            by_citizenship: BTreeMap::new(),
            by_residence: BTreeMap::new(),
            ids: Vec::new(),
        }
    }

    /// Records one principal's outcomes, one per covered model.
    fn add(&mut self, p: &Principal, outcomes: &[(&str, Option<Cut>)]) {
        let mut worst = None;
        for (model, cut) in outcomes {
            if let Some(cut) = *cut {
                self.by_model
                    .entry(model.to_string())
                    .or_default()
                    .add(cut, 1);
                if worst != Some(Cut::Denied) {
                    worst = Some(cut);
                }
            }
        }
        let Some(cut) = worst else { return };
        self.affected += 1;
        self.cuts.add(cut, 1);
        let label = |value: Option<&str>| value.unwrap_or(UNKNOWN).to_string();
        self.by_org
            .entry(label(p.org.as_deref()))
            .or_default()
            .add(cut, 1);
        self.by_residence
            .entry(label(p.residence.as_ref().map(|c| c.as_str())))
            .or_default()
            .add(cut, 1);
        if p.citizenships.is_empty() {
            self.by_citizenship
                .entry(UNKNOWN.to_string())
                .or_default()
                .add(cut, 1);
        }
        for c in &p.citizenships {
            self.by_citizenship
                .entry(c.as_str().to_string())
                .or_default()
                .add(cut, 1);
        }
        self.ids.push(p.id.to_string());
    }

    fn finish(mut self, registry: usize) -> PrincipalImpact {
        self.ids.sort();
        let ids_capped = self.ids.len() > MAX_LISTED_PRINCIPALS;
        self.ids.truncate(MAX_LISTED_PRINCIPALS);
        PrincipalImpact {
            registry: registry as u64,
            affected: self.affected,
            denied: self.cuts.denied,
            rerouted: self.cuts.rerouted,
            by_model: self.by_model,
            by_org: self.by_org,
            by_citizenship: self.by_citizenship,
            by_residence: self.by_residence,
            ids: self.ids,
            ids_capped,
        }
    }
}

/// Every principal on every covered model, request facts unknown, the draft's capabilities
/// used. Principals with the same facts are decided once (unless the condition names
/// principals directly).
fn evaluate_principals(
    books: &Books,
    principals: &[Principal],
    at: DateTime<Utc>,
    tallies: &mut (PrincipalTally, PrincipalTally),
) {
    let request = RequestFacts {
        country: None,
        capabilities: books.directive.scope.capabilities.iter().copied().collect(),
        api: ApiSurface::OpenaiChat,
        max_tokens: None,
        app: None,
    };
    let mut decided: HashMap<(Option<String>, PrincipalKey), Vec<Cuts>> = HashMap::new();
    for p in principals {
        let principal_facts = PrincipalFacts::from(p);
        let key = (
            books.reads_identity.then(|| p.id.to_string()),
            PrincipalKey::of(&principal_facts),
        );
        let cuts = decided.entry(key).or_insert_with(|| {
            let facts = Facts {
                principal: principal_facts,
                request: request.clone(),
            };
            books
                .models
                .iter()
                .map(|model| decide_both(books, p.id.as_str(), &facts, model, at))
                .collect()
        });
        let draft: Vec<(&str, Option<Cut>)> = books
            .models
            .iter()
            .zip(cuts.iter())
            .map(|(m, c)| (m.as_str(), c.0))
            .collect();
        let blanket: Vec<(&str, Option<Cut>)> = books
            .models
            .iter()
            .zip(cuts.iter())
            .map(|(m, c)| (m.as_str(), c.1))
            .collect();
        tallies.0.add(p, &draft);
        tallies.1.add(p, &blanket);
    }
}

/// A decision's cut under the draft and under the blanket block.
type Cuts = (Option<Cut>, Option<Cut>);

/// Principal facts as a hashable key (the core type is compared, not hashed).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PrincipalKey(String);

impl PrincipalKey {
    fn of(facts: &PrincipalFacts) -> PrincipalKey {
        PrincipalKey(serde_json::to_string(facts).expect("principal facts always serialise"))
    }
}

fn decide_both(
    books: &Books,
    principal_id: &str,
    facts: &Facts,
    model: &str,
    at: DateTime<Utc>,
) -> Cuts {
    let query = Query {
        principal_id,
        facts,
        model,
        at,
    };
    (
        cut_of(&books.draft.decide(&query).outcome),
        cut_of(&books.blanket.decide(&query).outcome),
    )
}

// ---------------------------------------------------------------------------------------------
// Recorded requests

/// Request counts shared by both directives (same scope).
#[derive(Debug, Default)]
struct RequestTotals {
    in_window: u64,
    in_scope: u64,
    without_facts: u64,
    unreadable_facts: u64,
}

/// Per-request counts for one directive, keyed by borrowed labels while counting.
struct RequestTally<'a> {
    cuts: Tally,
    by_model: Counts<'a>,
    by_org: Counts<'a>,
    by_country: Counts<'a>,
    by_principal: Counts<'a>,
}

type Counts<'a> = HashMap<&'a str, Tally, FxBuildHasher>;

impl<'a> RequestTally<'a> {
    fn new(models: &'a [String]) -> RequestTally<'a> {
        RequestTally {
            cuts: Tally::default(),
            by_model: models
                .iter()
                .map(|m| (m.as_str(), Tally::default()))
                .collect(),
            by_org: HashMap::default(),
            by_country: HashMap::default(),
            by_principal: HashMap::default(),
        }
    }

    fn add(&mut self, group: &'a RequestGroup, labels: &'a Labels, cut: Option<Cut>) {
        let Some(cut) = cut else { return };
        let n = group.count;
        self.cuts.add(cut, n);
        self.by_model.entry(&group.model).or_default().add(cut, n);
        self.by_org.entry(labels.org()).or_default().add(cut, n);
        self.by_country
            .entry(labels.country())
            .or_default()
            .add(cut, n);
        self.by_principal
            .entry(&group.principal_id)
            .or_default()
            .add(cut, n);
    }

    fn finish(self, totals: &RequestTotals) -> RequestImpact {
        let sorted = |map: Counts<'_>| -> BTreeMap<String, Tally> {
            map.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
        };
        let mut principals: Vec<(&str, Tally)> = self.by_principal.into_iter().collect();
        let by_principal_capped = principals.len() > MAX_LISTED_PRINCIPALS;
        if by_principal_capped {
            principals.sort_by(|a, b| b.1.affected().cmp(&a.1.affected()).then(a.0.cmp(b.0)));
            principals.truncate(MAX_LISTED_PRINCIPALS);
        }
        RequestImpact {
            in_window: totals.in_window,
            in_scope: totals.in_scope,
            without_facts: totals.without_facts,
            denied: self.cuts.denied,
            rerouted: self.cuts.rerouted,
            by_model: sorted(self.by_model),
            by_org: sorted(self.by_org),
            by_country: sorted(self.by_country),
            by_principal: principals
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            by_principal_capped,
        }
    }
}

/// What a breakdown needs from recorded facts, kept with each decided combination.
struct Labels {
    org: Option<String>,
    country: Option<CountryCode>,
}

impl Labels {
    fn org(&self) -> &str {
        self.org.as_deref().unwrap_or(UNKNOWN)
    }

    fn country(&self) -> &str {
        self.country.as_ref().map_or(UNKNOWN, CountryCode::as_str)
    }
}

/// One decided (model, recorded facts) combination.
struct Decided {
    labels: Labels,
    draft: Option<Cut>,
    blanket: Option<Cut>,
}

/// Decides each distinct (model, recorded facts) combination once, then counts every group.
fn evaluate_requests(
    books: &Books,
    groups: &[RequestGroup],
    at: DateTime<Utc>,
    in_window: u64,
) -> (RequestTotals, RequestImpact, RequestImpact) {
    type Key<'k> = (Option<&'k str>, &'k str, &'k str);
    let mut index: HashMap<Key<'_>, usize, FxBuildHasher> = HashMap::default();
    let mut distinct: Vec<&RequestGroup> = Vec::new();
    let mut counted: Vec<(&RequestGroup, usize)> = Vec::with_capacity(groups.len());
    let mut totals = RequestTotals::default();
    for group in groups {
        totals.in_window += group.count;
        if !books.models.contains(&group.model) {
            continue;
        }
        totals.in_scope += group.count;
        let Some(facts_json) = group.facts_json.as_deref() else {
            totals.without_facts += group.count;
            continue;
        };
        let key = (
            books.reads_identity.then_some(group.principal_id.as_str()),
            group.model.as_str(),
            facts_json,
        );
        let slot = *index.entry(key).or_insert_with(|| {
            distinct.push(group);
            distinct.len() - 1
        });
        counted.push((group, slot));
    }
    totals.in_window = totals.in_window.max(in_window);
    let decided = decide_all(books, &distinct, at);
    let mut draft = RequestTally::new(&books.models);
    let mut blanket = RequestTally::new(&books.models);
    for (group, i) in counted {
        match &decided[i] {
            Some(result) => {
                draft.add(group, &result.labels, result.draft);
                blanket.add(group, &result.labels, result.blanket);
            }
            None => {
                totals.without_facts += group.count;
                totals.unreadable_facts += group.count;
            }
        }
    }
    let draft = draft.finish(&totals);
    let blanket = blanket.finish(&totals);
    (totals, draft, blanket)
}

/// Below this many distinct combinations, threads cost more than they save.
const PARALLEL_FROM: usize = 4_096;

/// Decides each distinct combination (`None`: its facts could not be read), on every core:
/// parsing recorded facts and deciding are independent per combination, and a book decides
/// from any thread.
fn decide_all(
    books: &Books,
    distinct: &[&RequestGroup],
    at: DateTime<Utc>,
) -> Vec<Option<Decided>> {
    let decide_part = |part: &[&RequestGroup]| -> Vec<Option<Decided>> {
        part.iter()
            .map(|group| decide_recorded(books, group, at))
            .collect()
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || distinct.len() < PARALLEL_FROM {
        return decide_part(distinct);
    }
    let chunk = distinct.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let parts: Vec<_> = distinct
            .chunks(chunk)
            .map(|part| scope.spawn(move || decide_part(part)))
            .collect();
        parts
            .into_iter()
            .flat_map(|part| {
                part.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

fn decide_recorded(books: &Books, group: &RequestGroup, at: DateTime<Utc>) -> Option<Decided> {
    let facts: Facts = serde_json::from_str(group.facts_json.as_deref()?).ok()?;
    let (draft, blanket) = decide_both(books, &group.principal_id, &facts, &group.model, at);
    Some(Decided {
        labels: Labels {
            country: facts.request.country,
            org: facts.principal.org,
        },
        draft,
        blanket,
    })
}

/// The earliest and latest recorded request for a covered model.
fn request_span(
    books: &Books,
    groups: &[RequestGroup],
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let covered = || groups.iter().filter(|g| books.models.contains(&g.model));
    (
        covered().map(|g| g.first).min(),
        covered().map(|g| g.last).max(),
    )
}

/// What a reader must know to read the figures right.
fn notes(
    books: &Books,
    now: DateTime<Utc>,
    at: DateTime<Utc>,
    totals: &RequestTotals,
) -> Vec<String> {
    let d = &books.directive;
    let mut notes = Vec::new();
    if d.mode == Mode::Shadow {
        notes.push(
            "the draft is written in shadow mode; the preview shows what it would do enforced"
                .to_string(),
        );
    }
    if at > now {
        notes.push(format!(
            "the draft takes effect at {}, in the future; every decision is evaluated at that time",
            rfc3339(at)
        ));
    }
    if let Some(until) = d.expires.filter(|until| *until <= at) {
        notes.push(format!(
            "the draft expired at {}, before {}: it cuts nothing, and neither does the blanket block of the same window",
            rfc3339(until),
            rfc3339(at)
        ));
    }
    let context_read: Vec<&str> = books
        .draft
        .facts_read_by(&d.id)
        .iter()
        .map(String::as_str)
        .filter(|f| {
            f.starts_with("context.") && !matches!(*f, "context.now" | "context.capabilities")
        })
        .collect();
    if !context_read.is_empty() {
        notes.push(format!(
            "the draft reads {}; principals are evaluated with request facts unknown (no request country, no app, no token limit, api openai_chat), recorded requests with the facts recorded",
            context_read.join(", ")
        ));
    }
    if !d.scope.capabilities.is_empty() {
        let names: Vec<&str> = d.scope.capabilities.iter().map(|c| c.as_str()).collect();
        notes.push(format!(
            "the draft covers only requests using {}: principals are evaluated as using it; the blanket block covers every request",
            names.join(" or ")
        ));
    }
    if books.reads_identity {
        notes.push(
            "the condition names principals directly, so each principal is decided on its own"
                .to_string(),
        );
    }
    if totals.without_facts > totals.unreadable_facts {
        notes.push(format!(
            "{} in-scope recorded requests hold no facts (written before facts were recorded, or refused before a decision) and are not re-evaluated",
            totals.without_facts - totals.unreadable_facts
        ));
    }
    if totals.unreadable_facts > 0 {
        notes.push(format!(
            "{} in-scope recorded requests hold facts this version cannot read; they are counted in without_facts",
            totals.unreadable_facts
        ));
    }
    notes
}

// ---------------------------------------------------------------------------------------------
// Text

/// Rows shown per breakdown in text; the JSON holds them all.
const TEXT_ROWS: usize = 12;

/// Affected principal ids shown in text.
const TEXT_IDS: usize = 20;

/// The preview as a side-by-side table for a person: the draft next to the blanket block.
pub fn render_text(p: &Preview) -> String {
    let d = &p.directive;
    let mut out = String::new();
    let effect = match &d.reroute_to {
        Some(to) => format!("reroute to {to}"),
        None => d.effect.clone(),
    };
    out.push_str(&format!(
        "Impact preview of {} \"{}\" ({}; models {}",
        d.id,
        d.title,
        effect,
        d.models.join(", ")
    ));
    if !d.capabilities.is_empty() {
        out.push_str(&format!("; only {}", d.capabilities.join(", ")));
    }
    if let Some(condition) = &d.condition {
        out.push_str(&format!("; when {condition}"));
    }
    out.push_str(")\n");
    out.push_str(&format!(
        "Evaluated as enforced at {}; recorded requests since {}\n\n",
        p.evaluated_at, p.window.since
    ));
    let (a, b) = (&p.draft.principals, &p.blanket.principals);
    let mut table = Table::default();
    table.heading(format!("PRINCIPALS (registry: {})", a.registry));
    table.row("lose access or rerouted", a.affected, b.affected);
    table.row("  denied", a.denied, b.denied);
    table.row("  rerouted", a.rerouted, b.rerouted);
    table.breakdown("by model", &a.by_model, &b.by_model);
    table.breakdown("by org", &a.by_org, &b.by_org);
    table.breakdown("by citizenship", &a.by_citizenship, &b.by_citizenship);
    table.breakdown("by residence", &a.by_residence, &b.by_residence);
    let (a, b) = (&p.draft.requests, &p.blanket.requests);
    table.heading(format!(
        "RECORDED REQUESTS (in window: {}; in scope: {}; without facts: {})",
        a.in_window, a.in_scope, a.without_facts
    ));
    table.row(
        "denied or rerouted",
        a.denied + a.rerouted,
        b.denied + b.rerouted,
    );
    table.row("  denied", a.denied, b.denied);
    table.row("  rerouted", a.rerouted, b.rerouted);
    table.breakdown("by model", &a.by_model, &b.by_model);
    table.breakdown("by org", &a.by_org, &b.by_org);
    table.breakdown("by request country", &a.by_country, &b.by_country);
    table.breakdown_by_draft("by principal", &a.by_principal, &b.by_principal);
    out.push_str(&table.render());
    let affected = &p.draft.principals;
    if !affected.ids.is_empty() {
        let shown: Vec<&str> = affected
            .ids
            .iter()
            .take(TEXT_IDS)
            .map(String::as_str)
            .collect();
        let more = affected.affected - shown.len() as u64;
        out.push_str(&format!(
            "\nPrincipals the draft affects: {}{}\n",
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more (--format json lists up to {MAX_LISTED_PRINCIPALS})")
            } else {
                String::new()
            }
        ));
    }
    if !p.notes.is_empty() {
        out.push_str("\nNotes:\n");
        for note in &p.notes {
            out.push_str(&format!("  - {note}\n"));
        }
    }
    out
}

/// Rows of (label, draft, blanket) with section headings.
#[derive(Default)]
struct Table {
    lines: Vec<Line>,
}

enum Line {
    Heading(String),
    Row(String, String, String),
}

impl Table {
    fn heading(&mut self, text: String) {
        self.lines.push(Line::Heading(text));
    }

    fn row(&mut self, label: &str, draft: u64, blanket: u64) {
        self.lines.push(Line::Row(
            label.to_string(),
            draft.to_string(),
            blanket.to_string(),
        ));
    }

    /// A breakdown's rows, most affected by the blanket block first: what the draft spares
    /// shows at the top.
    fn breakdown(
        &mut self,
        title: &str,
        draft: &BTreeMap<String, Tally>,
        blanket: &BTreeMap<String, Tally>,
    ) {
        self.breakdown_sorted(title, draft, blanket, true);
    }

    /// A breakdown's rows, most affected by the draft first.
    fn breakdown_by_draft(
        &mut self,
        title: &str,
        draft: &BTreeMap<String, Tally>,
        blanket: &BTreeMap<String, Tally>,
    ) {
        self.breakdown_sorted(title, draft, blanket, false);
    }

    fn breakdown_sorted(
        &mut self,
        title: &str,
        draft: &BTreeMap<String, Tally>,
        blanket: &BTreeMap<String, Tally>,
        blanket_first: bool,
    ) {
        let mut keys: Vec<&String> = blanket.keys().chain(draft.keys()).collect();
        keys.sort();
        keys.dedup();
        if keys.is_empty() {
            return;
        }
        let count =
            |map: &BTreeMap<String, Tally>, key: &String| map.get(key).map_or(0, Tally::affected);
        let (first, second) = if blanket_first {
            (blanket, draft)
        } else {
            (draft, blanket)
        };
        keys.sort_by(|x, y| {
            count(first, y)
                .cmp(&count(first, x))
                .then(count(second, y).cmp(&count(second, x)))
                .then(x.cmp(y))
        });
        self.lines.push(Line::Row(
            format!("  {title}"),
            String::new(),
            String::new(),
        ));
        for key in keys.iter().take(TEXT_ROWS) {
            self.row(
                &format!("    {key}"),
                count(draft, key),
                count(blanket, key),
            );
        }
        if keys.len() > TEXT_ROWS {
            self.lines.push(Line::Row(
                format!("    ({} more)", keys.len() - TEXT_ROWS),
                String::new(),
                String::new(),
            ));
        }
    }

    fn render(&self) -> String {
        let width = self
            .lines
            .iter()
            .filter_map(|l| match l {
                Line::Row(label, ..) => Some(label.chars().count()),
                Line::Heading(_) => None,
            })
            .max()
            .unwrap_or(0)
            .max(24);
        let mut out = String::new();
        for line in &self.lines {
            let text = match line {
                Line::Heading(text) => {
                    if !out.is_empty() {
                        out.push('\n');
                    }
                    format!("{text}\n{:<width$}  {:>10}  {:>10}", "", "DRAFT", "BLANKET")
                }
                Line::Row(label, a, b) => format!("{label:<width$}  {a:>10}  {b:>10}"),
            };
            out.push_str(text.trim_end());
            out.push('\n');
        }
        out
    }
}
