//! Counting calls, then joining the counts with routes and policy into a report.
//!
//! `add` runs once per audited request (millions for a month of a busy gateway), so it touches
//! no `String`: names are interned once and a row is keyed by three indices. Everything per
//! row (routes, policy questions, sorting) happens once per row in `finish`. FxHash rather
//! than SipHash: names are key, principal and model names the operator chose, and hashing
//! them is most of the cost of `add`.

use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};

use rustc_hash::FxBuildHasher;

use super::{
    Access, AppDeps, Call, CallOutcome, DepRow, DepsReport, FallbackState, FallbackStatus,
    ModelCount, RouteInfo, RouteState, Summary, Window,
};

/// An interned name: an index into [`Names`].
type Id = u32;

/// One app's rows before they are joined: (principal, requested model) and the counts.
type AppTallies = Vec<((Id, Id), Tally)>;

/// Counts calls per (app, principal, requested model).
#[derive(Debug, Default)]
pub struct DepsBuilder {
    names: Names,
    rows: HashMap<(Id, Id, Id), Tally, FxBuildHasher>,
}

/// Every distinct string seen, once.
#[derive(Debug, Default)]
struct Names {
    ids: HashMap<Box<str>, Id, FxBuildHasher>,
    names: Vec<Box<str>>,
}

impl Names {
    fn id(&mut self, name: &str) -> Id {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = Id::try_from(self.names.len()).expect("fewer than 2^32 distinct names");
        self.names.push(name.into());
        self.ids.insert(name.into(), id);
        id
    }

    fn get(&self, id: Id) -> &str {
        &self.names[id as usize]
    }
}

/// One row's counts.
#[derive(Debug, Default)]
struct Tally {
    requests: u64,
    tokens: u64,
    fell_back: u64,
    rerouted: u64,
    denied: u64,
    failed: u64,
    /// Per serving model; a row has a handful, so a vector beats a map.
    served: Vec<(Id, u64)>,
}

impl DepsBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, call: &Call<'_>) {
        let key = (
            self.names.id(call.app),
            self.names.id(call.principal),
            self.names.id(call.requested),
        );
        // Most calls are answered by the model they asked for: no second lookup then.
        let served = call.served.map(|model| {
            if model == call.requested {
                key.2
            } else {
                self.names.id(model)
            }
        });
        let tally = self.rows.entry(key).or_default();
        tally.requests += 1;
        tally.tokens = tally.tokens.saturating_add(call.tokens);
        match call.outcome {
            CallOutcome::Served => {}
            CallOutcome::FellBack => tally.fell_back += 1,
            CallOutcome::Rerouted => tally.rerouted += 1,
            CallOutcome::Denied => tally.denied += 1,
            CallOutcome::Failed => tally.failed += 1,
        }
        if let Some(model) = served {
            match tally.served.iter_mut().find(|(m, _)| *m == model) {
                Some((_, n)) => *n += 1,
                None => tally.served.push((model, 1)),
            }
        }
    }

    /// The report: counts joined with `routes` (by primary; a model without one has no
    /// fallback) and with `access`, asked about every row's principal and fallbacks.
    pub fn finish(self, routes: &[RouteInfo], access: &dyn Access, window: Window) -> DepsReport {
        let ctx = Context {
            names: &self.names,
            routes: routes_by_primary(routes),
            access,
            draft: window.draft.is_some(),
        };
        let mut by_app: HashMap<Id, AppTallies> = HashMap::new();
        for ((app, principal, model), tally) in self.rows {
            by_app
                .entry(app)
                .or_default()
                .push(((principal, model), tally));
        }
        let mut apps: Vec<AppDeps> = by_app
            .into_iter()
            .map(|(app, rows)| ctx.app(app, rows))
            .collect();
        apps.sort_by(|a, b| (Reverse(a.requests), &a.app).cmp(&(Reverse(b.requests), &b.app)));
        let total: u64 = apps.iter().map(|a| a.requests).sum();
        for app in &mut apps {
            app.share = share(app.requests, total);
        }
        DepsReport {
            summary: summary(&apps, ctx.draft),
            window,
            apps,
        }
    }
}

/// The first route wins when the caller passes two for one primary (config forbids it).
fn routes_by_primary(routes: &[RouteInfo]) -> HashMap<&str, &RouteInfo> {
    let mut by_primary = HashMap::new();
    for route in routes {
        by_primary.entry(route.primary.as_str()).or_insert(route);
    }
    by_primary
}

/// What every row is joined with.
struct Context<'a> {
    names: &'a Names,
    routes: HashMap<&'a str, &'a RouteInfo>,
    access: &'a dyn Access,
    draft: bool,
}

impl Context<'_> {
    fn app(&self, app: Id, tallies: AppTallies) -> AppDeps {
        let requests: u64 = tallies.iter().map(|(_, t)| t.requests).sum();
        let tokens = tallies
            .iter()
            .fold(0u64, |sum, (_, t)| sum.saturating_add(t.tokens));
        let principals = tallies.iter().map(|((p, _), _)| *p).collect::<HashSet<_>>();
        let mut models: HashMap<Id, u64> = HashMap::new();
        for ((_, model), tally) in &tallies {
            *models.entry(*model).or_default() += tally.requests;
        }
        let mut rows: Vec<DepRow> = tallies
            .into_iter()
            .map(|((principal, model), tally)| self.row(principal, model, tally, requests))
            .collect();
        rows.sort_by(|a, b| {
            (Reverse(a.requests), &a.principal, &a.model).cmp(&(
                Reverse(b.requests),
                &b.principal,
                &b.model,
            ))
        });
        AppDeps {
            app: self.names.get(app).to_string(),
            requests,
            share: 0.0, // of the report's total, known once every app is counted
            tokens,
            principals: principals.len(),
            single_points_of_failure: rows.iter().filter(|r| r.single_point_of_failure).count(),
            rows_losing_primary: self.draft.then(|| {
                rows.iter()
                    .filter(|r| r.loses_primary == Some(true))
                    .count()
            }),
            models: self.counts(models),
            rows,
        }
    }

    fn row(&self, principal: Id, model: Id, tally: Tally, app_requests: u64) -> DepRow {
        let who = self.names.get(principal);
        let requested = self.names.get(model);
        let route = self.route_state(who, requested);
        let first = |usable: fn(&FallbackState) -> bool| {
            route
                .fallbacks
                .iter()
                .find(|f| f.status == FallbackStatus::Validated && usable(f))
                .map(|f| f.model.clone())
        };
        let validated_fallback = first(|f| f.permitted);
        let draft_fallback = first(|f| f.draft_permitted == Some(true));
        let loses_primary = self
            .draft
            .then(|| self.access.may_use(who, requested) && !self.draft_may_use(who, requested));
        DepRow {
            principal: who.to_string(),
            model: requested.to_string(),
            requests: tally.requests,
            share: share(tally.requests, app_requests),
            tokens: tally.tokens,
            served: self.counts(tally.served),
            fell_back: tally.fell_back,
            rerouted: tally.rerouted,
            denied: tally.denied,
            failed: tally.failed,
            single_point_of_failure: validated_fallback.is_none(),
            validated_fallback,
            loses_primary,
            draft_fallback,
            route,
        }
    }

    fn route_state(&self, principal: &str, requested: &str) -> RouteState {
        let Some(route) = self.routes.get(requested) else {
            return RouteState {
                configured: false,
                validated_only: false,
                fallbacks: Vec::new(),
            };
        };
        let fallbacks = route
            .fallbacks
            .iter()
            .map(|(model, validation)| FallbackState {
                model: model.clone(),
                status: FallbackStatus::of(validation.as_ref()),
                permitted: self.access.may_use(principal, model),
                draft_permitted: self.draft.then(|| self.draft_may_use(principal, model)),
                validation: validation.clone(),
            })
            .collect();
        RouteState {
            configured: true,
            validated_only: route.validated_only,
            fallbacks,
        }
    }

    /// Under the draft; where the draft says nothing, today's answer.
    fn draft_may_use(&self, principal: &str, model: &str) -> bool {
        self.access
            .draft_may_use(principal, model)
            .unwrap_or_else(|| self.access.may_use(principal, model))
    }

    /// Named counts, most first, then by name.
    fn counts(&self, counts: impl IntoIterator<Item = (Id, u64)>) -> Vec<ModelCount> {
        let mut named: Vec<ModelCount> = counts
            .into_iter()
            .map(|(id, requests)| ModelCount {
                model: self.names.get(id).to_string(),
                requests,
            })
            .collect();
        named.sort_by(|a, b| (Reverse(a.requests), &a.model).cmp(&(Reverse(b.requests), &b.model)));
        named
    }
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn summary(apps: &[AppDeps], draft: bool) -> Summary {
    let rows_losing = |a: &AppDeps| a.rows_losing_primary.unwrap_or(0);
    Summary {
        apps: apps.len(),
        rows: apps.iter().map(|a| a.rows.len()).sum(),
        requests: apps.iter().map(|a| a.requests).sum(),
        tokens: apps.iter().fold(0, |sum, a| sum.saturating_add(a.tokens)),
        single_points_of_failure: apps.iter().map(|a| a.single_points_of_failure).sum(),
        apps_with_single_point_of_failure: apps
            .iter()
            .filter(|a| a.single_points_of_failure > 0)
            .count(),
        rows_losing_primary: draft.then(|| apps.iter().map(rows_losing).sum()),
        apps_losing_primary: draft.then(|| apps.iter().filter(|a| rows_losing(a) > 0).count()),
    }
}
