//! The access decision on the request path: gather the facts (principal facts from the
//! registry, request country from geo-IP, capabilities from the body), ask the active directive
//! set, record what was read and decided, and turn a denial into HTTP 451.
//!
//! Nothing a client sends can change a principal fact: the principal comes from the key, its
//! facts from the registry. `X-Forwarded-For` is believed only when the connection comes from
//! a configured trusted proxy, and it only ever sets the request country.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use clearance_core::api::ApiSurface;
use clearance_core::audit::{AuditRecord, Decision as AuditDecision};
use clearance_core::country::CountryCode;
use clearance_core::facts::{Facts, PrincipalFacts, RequestFacts};
use clearance_geoip::{GeoIp, TrustedProxies};
use clearance_policy::{Decision, Outcome, PolicyBook, Query};
use clearance_wire::error::{ErrorKind, error_body};
use clearance_wire::request::ClientRequest;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use crate::auth::Caller;

pub const DECISION: &str = "x-clearance-decision";
pub const DIRECTIVE: &str = "x-clearance-directive";

/// Where requests come from: the geo-IP database and the proxies whose `X-Forwarded-For` we
/// believe.
#[derive(Clone, Default)]
pub struct Origin {
    pub geoip: Option<Arc<GeoIp>>,
    pub trusted: Arc<TrustedProxies>,
}

impl Origin {
    /// The request country, if a geo-IP database is configured and knows the client address.
    pub fn country(&self, peer: SocketAddr, headers: &HeaderMap) -> Option<CountryCode> {
        let geoip = self.geoip.as_ref()?;
        let forwarded: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| v.to_str().unwrap_or(""))
            .collect();
        let client = self.trusted.client_ip(peer.ip(), &forwarded);
        geoip.country(client)
    }
}

/// The facts one request is decided on.
pub fn facts_for(
    caller: &Caller,
    surface: ApiSurface,
    request: Option<&ClientRequest>,
    country: Option<CountryCode>,
) -> Facts {
    Facts {
        principal: PrincipalFacts {
            sources: caller.fact_sources.clone(),
            ..PrincipalFacts::from(caller.principal.as_ref())
        },
        request: RequestFacts {
            country,
            capabilities: request.map(ClientRequest::capabilities).unwrap_or_default(),
            api: surface,
            max_tokens: request.and_then(ClientRequest::max_tokens),
            app: caller.app.clone(),
        },
    }
}

/// Decides `model` for this caller with the given book.
pub fn decide(
    book: &PolicyBook,
    caller: &Caller,
    facts: &Facts,
    model: &str,
    at: DateTime<Utc>,
) -> Decision {
    book.decide(&Query {
        principal_id: caller.principal.id.as_str(),
        facts,
        model,
        at,
    })
}

/// Writes the decision, and the facts it read, into the audit record.
pub fn record(record: &mut AuditRecord, facts: Facts, decision: &Decision) {
    record.decision = audit_decision(&decision.outcome);
    record.directive_ids = decision.directive_ids();
    record.shadow_hits = decision.shadow_ids();
    record.shadow_decision = decision.shadow_outcome.as_ref().map(audit_decision);
    record.policy_version = Some(decision.policy_version.clone());
    record.facts_read = decision.facts_read.clone();
    record.facts = Some(facts);
}

fn audit_decision(outcome: &Outcome) -> AuditDecision {
    match outcome {
        Outcome::Allow => AuditDecision::Allow,
        Outcome::Deny => AuditDecision::Deny,
        Outcome::Reroute { .. } => AuditDecision::Reroute,
    }
}

/// Sets `x-clearance-decision` and, when directives decided, `x-clearance-directive`.
pub fn stamp_decision(response: &mut Response, decision: &Decision) {
    if let Ok(value) = HeaderValue::from_str(decision.outcome.as_str()) {
        response.headers_mut().insert(DECISION, value);
    }
    let ids = decision.directive_ids();
    if !ids.is_empty()
        && let Ok(value) = HeaderValue::from_str(&ids.join(", "))
    {
        response.headers_mut().insert(DIRECTIVE, value);
    }
}

/// HTTP 451 in the client's error shape: the directive's id, title and authority in words, how
/// to ask for review, and RFC 7725's `Link: <...>; rel="blocked-by"` naming who imposes it.
pub fn denial(
    surface: ApiSurface,
    model: &str,
    decision: &Decision,
    default_blocked_by: Option<&str>,
    note: Option<&str>,
) -> Response {
    let directive = decision.denying();
    let message = denial_message(model, decision, note);
    let mut body = error_body(
        surface,
        ErrorKind::LegalBlock,
        &message,
        Some("unavailable_for_legal_reasons"),
    );
    if let Some(d) = directive
        && let Some(error) = body.get_mut("error").and_then(|e| e.as_object_mut())
    {
        error.insert(
            "directive".into(),
            serde_json::json!({
                "id": d.id, "title": d.title, "authority": d.authority, "review": d.review,
            }),
        );
    }
    let mut response =
        (StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS, axum::Json(body)).into_response();
    let blocked_by = directive
        .and_then(|d| d.blocked_by.clone())
        .or_else(|| default_blocked_by.map(str::to_string))
        .or_else(|| directive.map(|d| format!("urn:clearance:directive:{}", d.id)));
    if let Some(uri) = blocked_by
        && let Ok(value) = HeaderValue::from_str(&format!("<{uri}>; rel=\"blocked-by\""))
    {
        response.headers_mut().insert(header::LINK, value);
    }
    stamp_decision(&mut response, decision);
    response
}

fn denial_message(model: &str, decision: &Decision, note: Option<&str>) -> String {
    let Some(d) = decision.denying() else {
        return format!(
            "access to model `{model}` is refused for legal reasons: the access directives could not be evaluated, \
             so the gateway refuses rather than risk serving a request they may forbid"
        );
    };
    let mut text = format!(
        "access to model `{model}` is refused for legal reasons under directive {} \"{}\" (authority: {}).",
        d.id, d.title, d.authority
    );
    if let Some(message) = &d.message {
        text.push(' ');
        text.push_str(message.trim());
    }
    let others: Vec<String> = decision
        .directive_ids()
        .into_iter()
        .filter(|id| *id != d.id)
        .collect();
    if !others.is_empty() {
        text.push_str(&format!(" Also applied: {}.", others.join(", ")));
    }
    if let Some(note) = note {
        text.push(' ');
        text.push_str(note);
    }
    if let Some(review) = &d.review {
        text.push_str(&format!(" To ask for review: {review}"));
    }
    text
}

/// A route's models judged for one caller before any is tried: policy before availability.
/// Models absent from `forbidden` are permitted; the attempt loop never calls a forbidden one
/// and never consults the policy itself.
#[derive(Debug, Default)]
pub(crate) struct Candidates {
    forbidden: Vec<(String, Decision)>,
}

impl Candidates {
    /// Judges `models` (a route, first candidate first) for `caller`. The first candidate's
    /// verdict is the request's own decision (`first_forbidden` when it denies the first
    /// model); every other model gets the same book, caller and facts.
    pub(crate) fn judge(
        book: &PolicyBook,
        caller: &Caller,
        facts: &Facts,
        models: &[&str],
        first_forbidden: Option<Decision>,
        now: DateTime<Utc>,
    ) -> Candidates {
        let mut forbidden = Vec::new();
        let mut models = models.iter();
        if let Some(first) = models.next()
            && let Some(decision) = first_forbidden
        {
            forbidden.push((first.to_string(), decision));
        }
        for model in models {
            let decision = decide(book, caller, facts, model, now);
            if !matches!(decision.outcome, Outcome::Allow) {
                forbidden.push((model.to_string(), decision));
            }
        }
        Candidates { forbidden }
    }

    /// The decision that forbids `model` to this caller, if one does.
    pub(crate) fn forbidden(&self, model: &str) -> Option<&Decision> {
        self.forbidden
            .iter()
            .find(|(m, _)| m == model)
            .map(|(_, decision)| decision)
    }
}
