//! The `[identity]` part of the config: identity providers whose tokens callers may present
//! (`[[identity.oidc]]`), resolved into [`clearance_identity::IssuerPolicy`] (what
//! verification and the combine rule need) plus where the issuer's keys are fetched from.
//!
//! Refused here, at start, rather than per request: `none` and HMAC algorithms (the gateway
//! holds only public keys), issuers that are not `https` (but for loopback addresses, for
//! tests and the demo), two entries for one issuer, and claim paths or fact names that do
//! not exist.

use std::collections::BTreeMap;
use std::time::Duration;

use clearance_identity::{
    Algorithm, ClaimMapping, ClaimPath, FactPreference, IssuerPolicy, Prefer, UnknownPrincipals,
    principal_fact,
};
use serde::Deserialize;
use toml::Spanned;

use crate::diagnostics::Diagnostics;
use crate::resolve::at_least;

const DEFAULT_CLOCK_SKEW_S: i64 = 60;
const DEFAULT_JWKS_REFRESH_S: i64 = 300;
/// Refetching a JWKS more often than this only loads the identity provider.
const MIN_JWKS_REFRESH_S: i64 = 10;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawIdentity {
    #[serde(default)]
    pub oidc: Vec<RawOidc>,
    /// `[identity.scim]` (crate::scim).
    pub scim: Option<crate::scim::RawScim>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RawOidc {
    pub issuer: Spanned<String>,
    pub audience: Spanned<RawAudience>,
    pub jwks_url: Option<Spanned<String>>,
    pub algorithms: Option<Vec<Spanned<String>>>,
    pub clock_skew_s: Option<Spanned<i64>>,
    pub jwks_refresh_s: Option<Spanned<i64>>,
    pub principal_claim: Option<Spanned<String>>,
    pub principal_prefix: Option<Spanned<String>>,
    #[serde(default)]
    pub claims: RawFacts,
    pub prefer: Option<Spanned<String>>,
    #[serde(default)]
    pub prefer_fact: RawFacts,
    pub unknown_principals: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawAudience {
    One(String),
    Many(Vec<String>),
}

/// One value per principal fact, keyed by the fact's name in the fact table: a claim path in
/// `claims`, a preference in `prefer_fact`. The keys are checked against the table (not a
/// struct of known fields), so a fact added to the table can be mapped with no change here. A
/// bad key is reported at its value's place (`key = "value"` is one line).
pub(crate) type RawFacts = BTreeMap<String, Spanned<String>>;

/// Each entry whose key names a principal fact, with its value; every other key is reported
/// at its line, with the names that would have been right.
fn fact_entries<'r>(
    raw: &'r RawFacts,
    table: &str,
    ok: &mut bool,
    diag: &mut Diagnostics<'_>,
) -> Vec<(&'static str, &'r Spanned<String>)> {
    let mut entries = Vec::new();
    for (key, value) in raw {
        match principal_fact(key) {
            Ok(fact) => entries.push((fact, value)),
            Err(unknown) => {
                diag.at(Some(value.span()), format!("{table}: {unknown}"));
                *ok = false;
            }
        }
    }
    entries
}

/// Who may sign callers in (`[identity]`).
#[derive(Debug, Clone, Default)]
pub struct IdentityConfig {
    /// Trusted OIDC issuers; empty: only Clearance keys authenticate.
    pub oidc: Vec<OidcIssuer>,
    /// SCIM provisioning at `/scim/v2` (`[identity.scim]`); `None`: switched off.
    pub scim: Option<crate::scim::ScimConfig>,
}

/// One trusted issuer.
#[derive(Debug, Clone)]
pub struct OidcIssuer {
    /// Verification and the combine rule.
    pub policy: IssuerPolicy,
    /// Where its signing keys are published.
    pub jwks: JwksSource,
    /// How often the keys are fetched again even when every `kid` is known.
    pub jwks_refresh: Duration,
}

/// Where an issuer's JWKS is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    /// `jwks_url`, as configured.
    Url(url::Url),
    /// OpenID Connect Discovery: the `jwks_uri` of this `openid-configuration` document.
    Discovery(url::Url),
}

pub(crate) fn resolve_identity(raw: &RawIdentity, diag: &mut Diagnostics<'_>) -> IdentityConfig {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut oidc = Vec::new();
    for entry in &raw.oidc {
        let issuer = entry.issuer.get_ref();
        if let Some(first) = seen.get(issuer) {
            let line = diag.line_of(*first);
            diag.at(
                Some(entry.issuer.span()),
                format!(
                    "identity.oidc: issuer `{issuer}` is configured twice (first on line {line})"
                ),
            );
            continue;
        }
        seen.insert(issuer.clone(), entry.issuer.span().start);
        if let Some(resolved) = resolve_oidc(entry, diag) {
            oidc.push(resolved);
        }
    }
    // `scim` needs the environment (its token): resolve.rs sets it.
    IdentityConfig { oidc, scim: None }
}

/// An issuer or JWKS URL: `https`, or `http` on a loopback host (tests, the demo's fake IdP).
fn issuer_url(raw: &Spanned<String>, key: &str, diag: &mut Diagnostics<'_>) -> Option<url::Url> {
    let problem = match url::Url::parse(raw.get_ref()) {
        Ok(url) if url.scheme() == "https" && url.host().is_some() => return Some(url),
        Ok(url) if url.scheme() == "http" && is_loopback(&url) => return Some(url),
        Ok(url) if url.scheme() == "http" => {
            "plain http is allowed only on a loopback address: keys fetched over it could be swapped".to_string()
        }
        Ok(url) => format!("scheme `{}` is not https", url.scheme()),
        Err(e) => e.to_string(),
    };
    diag.at(
        Some(raw.span()),
        format!("{key}: `{}` is not usable: {problem}", raw.get_ref()),
    );
    None
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn resolve_oidc(raw: &RawOidc, diag: &mut Diagnostics<'_>) -> Option<OidcIssuer> {
    let mut ok = true;
    let issuer = issuer_url(&raw.issuer, "identity.oidc.issuer", diag);
    ok &= issuer.is_some();
    let jwks = match &raw.jwks_url {
        Some(text) => issuer_url(text, "identity.oidc.jwks_url", diag).map(JwksSource::Url),
        None => issuer.as_ref().and_then(|_| {
            // OIDC Discovery 1.0 section 4: the issuer with the well-known path appended.
            let base = raw.issuer.get_ref().trim_end_matches('/');
            url::Url::parse(&format!("{base}/.well-known/openid-configuration"))
                .ok()
                .map(JwksSource::Discovery)
        }),
    };
    ok &= jwks.is_some();
    let audiences: Vec<String> = match raw.audience.get_ref() {
        RawAudience::One(one) => vec![one.clone()],
        RawAudience::Many(many) => many.clone(),
    };
    if audiences.is_empty() || audiences.iter().any(|a| a.trim().is_empty()) {
        diag.at(
            Some(raw.audience.span()),
            "identity.oidc.audience: name at least one audience, none empty (the client id or API identifier tokens are issued for)",
        );
        ok = false;
    }
    let algorithms = match &raw.algorithms {
        None => Algorithm::DEFAULT.to_vec(),
        Some(names) => {
            let mut algorithms = Vec::new();
            for name in names {
                match Algorithm::parse(name.get_ref()) {
                    Ok(alg) if !algorithms.contains(&alg) => algorithms.push(alg),
                    Ok(_) => {}
                    Err(refused) => {
                        diag.at(
                            Some(name.span()),
                            format!("identity.oidc.algorithms: {refused}"),
                        );
                        ok = false;
                    }
                }
            }
            if names.is_empty() {
                diag.at(
                    Some(raw.issuer.span()),
                    "identity.oidc.algorithms: an empty list would refuse every token; leave the key out for RS256 and ES256",
                );
                ok = false;
            }
            algorithms
        }
    };
    let clock_skew_s = at_least(
        0,
        "zero or more",
        raw.clock_skew_s.as_ref(),
        DEFAULT_CLOCK_SKEW_S,
        "identity.oidc.clock_skew_s",
        diag,
    );
    let refresh = at_least(
        MIN_JWKS_REFRESH_S,
        &format!("at least {MIN_JWKS_REFRESH_S}"),
        raw.jwks_refresh_s.as_ref(),
        DEFAULT_JWKS_REFRESH_S,
        "identity.oidc.jwks_refresh_s",
        diag,
    );
    let principal = match &raw.principal_claim {
        None => ClaimPath::parse("sub"),
        Some(text) => claim_path(text, "identity.oidc.principal_claim", diag),
    };
    ok &= principal.is_some();
    let principal_prefix = raw.principal_prefix.as_ref().and_then(|prefix| {
        let text = prefix.get_ref();
        match clearance_core::limits::principal_id_problem(&format!("{text}x")) {
            Some(problem) if !text.is_empty() => {
                diag.at(
                    Some(prefix.span()),
                    format!("identity.oidc.principal_prefix: {problem}"),
                );
                ok = false;
                None
            }
            _ => (!text.is_empty()).then(|| text.clone()),
        }
    });
    let mut facts = Vec::new();
    for (fact, path) in fact_entries(&raw.claims, "identity.oidc.claims", &mut ok, diag) {
        let key = format!("identity.oidc.claims.{fact}");
        match claim_path(path, &key, diag) {
            Some(p) => facts.push((fact, p)),
            None => ok = false,
        }
    }
    let default = match &raw.prefer {
        None => Some(Prefer::Registry),
        Some(text) => prefer(text, "identity.oidc.prefer", diag),
    };
    ok &= default.is_some();
    let mut per_fact = BTreeMap::new();
    let preferences = fact_entries(&raw.prefer_fact, "identity.oidc.prefer_fact", &mut ok, diag);
    for (fact, text) in preferences {
        match prefer(text, &format!("identity.oidc.prefer_fact.{fact}"), diag) {
            Some(p) => {
                per_fact.insert(fact, p);
            }
            None => ok = false,
        }
    }
    let unknown_principals = match raw.unknown_principals.as_ref() {
        None => Some(UnknownPrincipals::Refuse),
        Some(text) => match text.get_ref().as_str() {
            "refuse" => Some(UnknownPrincipals::Refuse),
            "token_facts" => Some(UnknownPrincipals::TokenFacts),
            other => {
                diag.at(
                    Some(text.span()),
                    format!(
                        "identity.oidc.unknown_principals: `{other}` is not `refuse` or `token_facts`"
                    ),
                );
                None
            }
        },
    };
    ok &= unknown_principals.is_some();
    if !ok {
        return None;
    }
    Some(OidcIssuer {
        policy: IssuerPolicy {
            issuer: raw.issuer.get_ref().clone(),
            audiences,
            algorithms,
            clock_skew_s: clock_skew_s as u64,
            claims: ClaimMapping {
                principal: principal?,
                principal_prefix,
                facts,
            },
            prefer: FactPreference {
                default: default?,
                per_fact,
            },
            unknown_principals: unknown_principals?,
        },
        jwks: jwks?,
        jwks_refresh: Duration::from_secs(refresh as u64),
    })
}

fn claim_path(text: &Spanned<String>, key: &str, diag: &mut Diagnostics<'_>) -> Option<ClaimPath> {
    let path = ClaimPath::parse(text.get_ref());
    if path.is_none() {
        diag.at(
            Some(text.span()),
            format!(
                "{key}: `{}` is not a claim name or a dotted path like `ext.employee_id`",
                text.get_ref()
            ),
        );
    }
    path
}

fn prefer(text: &Spanned<String>, key: &str, diag: &mut Diagnostics<'_>) -> Option<Prefer> {
    match text.get_ref().as_str() {
        "registry" => Some(Prefer::Registry),
        "token" => Some(Prefer::Token),
        other => {
            diag.at(
                Some(text.span()),
                format!("{key}: `{other}` is not `registry` or `token`"),
            );
            None
        }
    }
}
