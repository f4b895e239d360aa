//! The dependency report of `clearance deps`, the pure part: which apps hang on which models,
//! and which of them would be left with no tested way out if a model were cut off.
//!
//! After an export directive cut off two models, the question every company asked was: which of
//! our apps depend on one model with no fallback we have tested? The CLI reads the audit log
//! (decision and completion records, joined into one [`Call`] per request), the routes with each
//! fallback's latest [`Validation`] and the policy (an [`Access`]); this module aggregates and
//! renders. It reads no file, no store and no clock: the window's ends are given.
//!
//! - [`DepsBuilder`] counts calls per (app, principal, requested model); strings are interned and
//!   rows keyed by indices, so a million calls take a fraction of a second.
//! - [`DepsBuilder::finish`] joins the counts with the routes and the policy into a
//!   [`DepsReport`]: per row, the route's fallbacks with their validation and whether this
//!   principal may use each; the *single point of failure* flag (no fallback that is both
//!   validated and permitted to this principal; a model with no route has no fallback); and,
//!   with a draft directive set, whether the draft takes the requested model away and which
//!   validated fallback the principal could still use.
//! - Renderers: [`render_text`] (an aligned table for a terminal), [`render_markdown`],
//!   [`to_json`] and [`render_html`] (one self-contained file: inline CSS and SVG, no network).
//!   They are pure functions of the report, kept beside it so that every format is tested
//!   with the data it renders (the HTML in a real headless Chromium: `tests/deps_browser.rs`);
//!   the CLI only picks one by `--format`.
//!
//! `docs/img/deps.png` is the HTML of `examples/deps_demo.rs` in Chromium; regenerate it with
//! `cargo run -p clearance-validate --example deps_demo -- target/deps.html docs/img/deps.png`.
//!
//! Ordering is deterministic: apps by requests (most first) then name; rows of an app by
//! requests then principal then model; model and served counts by requests then name.
//!
//! # JSON (`--format json`), field by field
//!
//! ```text
//! window   { since, until: RFC 3339 UTC, draft: the draft's file name | null }
//! summary  { apps, rows, requests, tokens,
//!            single_points_of_failure            rows flagged (below)
//!            apps_with_single_point_of_failure   apps with at least one such row
//!            rows_losing_primary | null           null without a draft
//!            apps_losing_primary | null }
//! apps[]   { app                 the client key's name ("(token) issuer", "(unknown key)")
//!            requests, tokens
//!            share               of the report's requests, 0.0..=1.0
//!            principals          distinct principals
//!            single_points_of_failure            rows of this app flagged
//!            rows_losing_primary | null
//!            models[] { model, requests }        requested models
//!            rows[] }
//! rows[]   { principal, model    the requested model (the route's primary)
//!            requests, tokens
//!            share               of the app's requests, 0.0..=1.0
//!            served[] { model, requests }        which models answered
//!            fell_back, rerouted, denied, failed request counts by outcome
//!            route { configured  false: the model has no route, hence no fallback
//!                    validated_only  the route falls back to validated models only
//!                    fallbacks[] { model
//!                                  status  "validated" | "failed" | "untested"
//!                                  permitted        this principal may use it now
//!                                  draft_permitted  ... under the draft | null
//!                                  validation { score, bar, at, suite, validated, reason }
//!                                             | null when never tested } }
//!            validated_fallback | null           the first fallback validated and permitted
//!            single_point_of_failure             validated_fallback is null
//!            loses_primary | null                the draft forbids the model, today's policy
//!                                                allows it (null without a draft)
//!            draft_fallback | null               the first validated fallback the draft still
//!                                                permits this principal }
//! ```

mod build;
mod format;
mod html;
mod markdown;
mod text;

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use build::DepsBuilder;
pub use html::render_html;
pub use markdown::render_markdown;
pub use text::render_text;

/// One request as the audit log tells it (decision and completion records already joined by
/// the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call<'a> {
    /// The client key's name, or `"(token) issuer"` for a signed-in caller, or
    /// `"(unknown key)"`.
    pub app: &'a str,
    pub principal: &'a str,
    /// The model the client asked for: the primary the app depends on.
    pub requested: &'a str,
    /// The model that answered, if one did.
    pub served: Option<&'a str>,
    pub outcome: CallOutcome,
    pub tokens: u64,
}

/// How a request ended, as far as dependencies go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// The requested model answered.
    Served,
    /// A fallback of the route answered.
    FellBack,
    /// A directive sent the request to another model.
    Rerouted,
    /// A directive forbade it; no model was called.
    Denied,
    /// Nothing answered.
    Failed,
}

/// A fallback's latest validation run on the user's eval suite.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Validation {
    /// The run's weighted pass rate, 0.0..=1.0.
    pub score: f64,
    /// The score the route asks for.
    pub bar: f64,
    pub at: DateTime<Utc>,
    /// The suite's name.
    pub suite: String,
    pub validated: bool,
    /// Why it is not validated (below the bar, suite changed since, ...).
    pub reason: Option<String>,
}

/// A configured route, with each fallback's latest validation (`None`: never tested).
#[derive(Debug, Clone, PartialEq)]
pub struct RouteInfo {
    pub primary: String,
    pub fallbacks: Vec<(String, Option<Validation>)>,
    /// The gateway falls back only to validated models on this route.
    pub validated_only: bool,
}

/// What the CLI can answer about policy.
pub trait Access {
    /// May `principal` use `model` under the active directives?
    fn may_use(&self, principal: &str, model: &str) -> bool;
    /// ... under the draft directive set (active and draft together), `None` when no draft was
    /// given. When a report has a draft and this still says `None`, today's answer stands.
    fn draft_may_use(&self, principal: &str, model: &str) -> Option<bool>;
}

/// The span of the audit log read, and the draft compared, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Window {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// The draft directive file's name, as the user gave it.
    pub draft: Option<String>,
}

/// The whole report; serialises to the JSON documented in the module doc.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DepsReport {
    pub window: Window,
    pub summary: Summary,
    pub apps: Vec<AppDeps>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub apps: usize,
    pub rows: usize,
    pub requests: u64,
    pub tokens: u64,
    /// Rows flagged [`DepRow::single_point_of_failure`].
    pub single_points_of_failure: usize,
    pub apps_with_single_point_of_failure: usize,
    /// `None` without a draft.
    pub rows_losing_primary: Option<usize>,
    pub apps_losing_primary: Option<usize>,
}

/// One app (client key) and its rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppDeps {
    pub app: String,
    pub requests: u64,
    /// Of the report's requests.
    pub share: f64,
    pub tokens: u64,
    pub principals: usize,
    pub single_points_of_failure: usize,
    pub rows_losing_primary: Option<usize>,
    /// Requests per requested model.
    pub models: Vec<ModelCount>,
    pub rows: Vec<DepRow>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelCount {
    pub model: String,
    pub requests: u64,
}

/// One (app, principal, requested model).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DepRow {
    pub principal: String,
    pub model: String,
    pub requests: u64,
    /// Of the app's requests.
    pub share: f64,
    pub tokens: u64,
    pub served: Vec<ModelCount>,
    pub fell_back: u64,
    pub rerouted: u64,
    pub denied: u64,
    pub failed: u64,
    pub route: RouteState,
    pub validated_fallback: Option<String>,
    pub single_point_of_failure: bool,
    pub loses_primary: Option<bool>,
    pub draft_fallback: Option<String>,
}

/// A row's route as this principal sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteState {
    /// `false`: the model has no configured route, so no fallback.
    pub configured: bool,
    pub validated_only: bool,
    pub fallbacks: Vec<FallbackState>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FallbackState {
    pub model: String,
    pub status: FallbackStatus,
    /// This principal may use it under the active directives.
    pub permitted: bool,
    /// ... under the draft; `None` without a draft.
    pub draft_permitted: Option<bool>,
    pub validation: Option<Validation>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FallbackStatus {
    /// Its latest run met the bar.
    Validated,
    /// Tested, not validated (see the validation's reason).
    Failed,
    /// Never run on the suite.
    Untested,
}

impl FallbackStatus {
    fn of(validation: Option<&Validation>) -> Self {
        match validation {
            Some(v) if v.validated => FallbackStatus::Validated,
            Some(_) => FallbackStatus::Failed,
            None => FallbackStatus::Untested,
        }
    }

    /// The word used in every format.
    pub fn as_str(self) -> &'static str {
        match self {
            FallbackStatus::Validated => "validated",
            FallbackStatus::Failed => "failed",
            FallbackStatus::Untested => "untested",
        }
    }
}

/// The report as JSON (`--format json`); field names in the module doc.
pub fn to_json(report: &DepsReport) -> serde_json::Value {
    // Every key is a string and a non-finite score becomes null: serialising cannot fail.
    serde_json::to_value(report).expect("a report serialises to JSON")
}
