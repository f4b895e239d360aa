//! `clearance deps`: from the audit log, which apps (key names) and principals use which
//! models and how much, each model's route and whether its fallbacks are validated, and which
//! rows have no validated fallback their principal may use (a single point of failure). With
//! `--directive DRAFT`: which would lose their primary under the draft, and what is left.
//!
//! Who may use a model is decided by the directive set in force (and the draft) for the
//! principal's registry facts, from no known country, with no tools or images: the facts a
//! plain request of theirs carries. A principal no longer in the registry may use nothing.

use std::collections::HashMap;
use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;
use clearance_core::api::ApiSurface;
use clearance_core::audit::{Decision, Phase};
use clearance_core::facts::{Facts, PrincipalFacts, RequestFacts};
use clearance_core::principal::Principal;
use clearance_policy::{Outcome, PolicyBook, Query};
use clearance_store::UsageRow;
use clearance_validate::deps::{
    Access, Call, CallOutcome, DepsBuilder, RouteInfo, Validation, Window, render_html,
    render_markdown, render_text, to_json,
};

use super::directives::{active_sources, parse_since, read_drafts};
use super::{block_on, load_config, open_store};
use crate::cli::{DepsArgs, DepsFormat};

pub fn run(args: &DepsArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(&args.config.config)?;
    let now = Utc::now();
    let since = parse_since(&args.since, now)?;
    let drafts = match &args.directive {
        Some(path) => read_drafts(std::slice::from_ref(path), "nothing was read")?,
        None => Vec::new(),
    };
    let report = block_on(async {
        let store = open_store(&config).await?;
        let usage = store
            .audit_usage(since)
            .await
            .context("reading the audit log")?;
        let keys: HashMap<String, String> = store
            .keys()
            .await?
            .into_iter()
            .map(|k| {
                let name = k.name.unwrap_or_else(|| format!("(key {})", k.id.as_str()));
                (k.id.as_str().to_string(), name)
            })
            .collect();
        let principals: HashMap<String, Principal> = store
            .principals()
            .await?
            .into_iter()
            .map(|p| (p.id.as_str().to_string(), p))
            .collect();
        let standings = store.fallback_validations().await?;
        let (active, place) = active_sources(&config, store.as_ref()).await?;
        let catalog = clearance_gateway::directives::catalog(&config);
        let book = PolicyBook::compile(&active, &catalog)
            .map_err(|e| anyhow::anyhow!("the directive set in force does not compile: {e}"))?;
        let draft_book = if drafts.is_empty() {
            None
        } else {
            let sources = clearance_gateway::directives::with_drafts(active, &place, &drafts);
            Some(PolicyBook::compile(&sources, &catalog).map_err(|e| {
                anyhow::anyhow!("the directive set with the draft does not compile: {e}")
            })?)
        };
        let mut builder = DepsBuilder::new();
        for call in joined_calls(&usage, &keys) {
            builder.add(&call.borrow());
        }
        let routes = route_infos(&config, &standings);
        let access = PolicyAccess {
            book,
            draft: draft_book,
            principals,
            at: now,
        };
        let window = Window {
            since,
            until: now,
            draft: args.directive.as_ref().map(|p| p.display().to_string()),
        };
        Ok::<_, anyhow::Error>(builder.finish(&routes, &access, window))
    })??;
    let text = match args.format {
        DepsFormat::Text => render_text(&report),
        DepsFormat::Md => render_markdown(&report),
        DepsFormat::Html => render_html(&report),
        DepsFormat::Json => format!("{}\n", serde_json::to_string_pretty(&to_json(&report))?),
    };
    match &args.out {
        Some(path) => {
            std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?;
            outln!("wrote {}", path.display());
        }
        None => out!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// One request, owned, as the builder borrows it.
struct OwnedCall {
    app: String,
    principal: String,
    requested: String,
    served: Option<String>,
    outcome: CallOutcome,
    tokens: u64,
}

impl OwnedCall {
    fn borrow(&self) -> Call<'_> {
        Call {
            app: &self.app,
            principal: &self.principal,
            requested: &self.requested,
            served: self.served.as_deref(),
            outcome: self.outcome,
            tokens: self.tokens,
        }
    }
}

/// Each request's decision (or whole) record completed by its completion record, when it has
/// one. A request whose completion is missing (in flight, or its gateway crashed) counts by
/// its decision.
fn joined_calls(usage: &[UsageRow], keys: &HashMap<String, String>) -> Vec<OwnedCall> {
    let mut calls: Vec<OwnedCall> = Vec::new();
    let mut pending: HashMap<&str, usize> = HashMap::new();
    for row in usage {
        match row.phase {
            Phase::Whole | Phase::Decision => {
                let (Some(principal), Some(requested)) = (&row.principal_id, &row.requested_model)
                else {
                    continue;
                };
                let app = match &row.key_id {
                    Some(id) => keys
                        .get(id)
                        .cloned()
                        .unwrap_or_else(|| "(unknown key)".into()),
                    None => "(token)".into(),
                };
                if row.phase == Phase::Decision {
                    pending.insert(&row.request_id, calls.len());
                }
                calls.push(OwnedCall {
                    app,
                    principal: principal.clone(),
                    requested: requested.clone(),
                    served: row.served_model.clone(),
                    outcome: outcome_of(row.decision, row.served_model.is_some()),
                    tokens: tokens(row),
                });
            }
            Phase::Completion => {
                if let Some(index) = pending.remove(row.request_id.as_str()) {
                    let call = &mut calls[index];
                    call.served.clone_from(&row.served_model);
                    call.outcome = outcome_of(row.decision, row.served_model.is_some());
                    call.tokens = tokens(row);
                }
            }
        }
    }
    calls
}

fn tokens(row: &UsageRow) -> u64 {
    row.input_tokens.unwrap_or(0) + row.output_tokens.unwrap_or(0)
}

fn outcome_of(decision: Decision, served: bool) -> CallOutcome {
    match decision {
        Decision::Deny => CallOutcome::Denied,
        Decision::Reroute => CallOutcome::Rerouted,
        Decision::Fallback if served => CallOutcome::FellBack,
        Decision::Allow if served => CallOutcome::Served,
        _ => CallOutcome::Failed,
    }
}

fn route_infos(
    config: &clearance_config::Config,
    standings: &[clearance_store::FallbackValidation],
) -> Vec<RouteInfo> {
    config
        .routes
        .iter()
        .map(|route| RouteInfo {
            primary: route.model.clone(),
            validated_only: route.validated_only,
            fallbacks: route
                .fallbacks
                .iter()
                .map(|fallback| {
                    let standing = standings
                        .iter()
                        .find(|s| s.primary_model == route.model && s.fallback_model == *fallback);
                    (
                        fallback.clone(),
                        standing.map(|s| Validation {
                            score: s.score,
                            bar: s.bar,
                            at: s.at,
                            suite: s.suite_name.clone(),
                            validated: s.validated,
                            reason: s.reason.clone(),
                        }),
                    )
                })
                .collect(),
        })
        .collect()
}

/// Decisions for a plain request of a registry principal.
struct PolicyAccess {
    book: PolicyBook,
    draft: Option<PolicyBook>,
    principals: HashMap<String, Principal>,
    at: chrono::DateTime<Utc>,
}

impl PolicyAccess {
    fn allowed(&self, book: &PolicyBook, principal: &str, model: &str) -> bool {
        let Some(found) = self.principals.get(principal) else {
            return false;
        };
        let facts = Facts {
            principal: PrincipalFacts::from(found),
            request: RequestFacts {
                country: None,
                capabilities: Default::default(),
                api: ApiSurface::OpenaiChat,
                max_tokens: None,
                app: None,
            },
        };
        let decision = book.decide(&Query {
            principal_id: principal,
            facts: &facts,
            model,
            at: self.at,
        });
        matches!(decision.outcome, Outcome::Allow)
    }
}

impl Access for PolicyAccess {
    fn may_use(&self, principal: &str, model: &str) -> bool {
        self.allowed(&self.book, principal, model)
    }

    fn draft_may_use(&self, principal: &str, model: &str) -> Option<bool> {
        self.draft
            .as_ref()
            .map(|draft| self.allowed(draft, principal, model))
    }
}
