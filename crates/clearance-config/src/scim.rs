//! `[identity.scim]`: SCIM 2.0 provisioning at `/scim/v2` (docs/scim.md). The section switches
//! it on; its bearer token is its own (never the admin token: an identity provider that holds
//! it can change who may do what, but cannot reach the admin API, and the other way round).

use serde::Deserialize;
use toml::Spanned;

use clearance_scim::mapping::IdAttribute;

use crate::diagnostics::Diagnostics;
use crate::resolve::required_env;
use crate::{Secret, SecretMode};

/// The variable the SCIM token is read from when `token_env` is not given.
pub const DEFAULT_SCIM_TOKEN_ENV: &str = "CLEARANCE_SCIM_TOKEN";

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawScim {
    pub token_env: Option<Spanned<String>>,
    pub principal_id_attribute: Option<Spanned<String>>,
}

/// SCIM provisioning, switched on.
#[derive(Debug, Clone)]
pub struct ScimConfig {
    /// The bearer token identity providers present; `None` only when secrets were not read
    /// (`check-config`).
    pub token: Option<Secret>,
    /// Where the token is read from (`token_env`).
    pub token_env: String,
    /// Which User attribute is the principal id (`userName` by default).
    pub principal_id_attribute: IdAttribute,
}

pub(crate) fn resolve_scim(
    raw: Option<&RawScim>,
    env: &dyn Fn(&str) -> Option<String>,
    secrets: SecretMode,
    diag: &mut Diagnostics<'_>,
) -> Option<ScimConfig> {
    let raw = raw?;
    let token_env = raw
        .token_env
        .as_ref()
        .map_or(DEFAULT_SCIM_TOKEN_ENV, |n| n.get_ref().as_str())
        .to_string();
    let token = match (secrets, &raw.token_env) {
        (SecretMode::Skip | SecretMode::ProvidersOnly, _) => None,
        (SecretMode::Require, Some(name)) => {
            required_env(name, "identity.scim.token_env", env, diag)
        }
        (SecretMode::Require, None) => match env(DEFAULT_SCIM_TOKEN_ENV) {
            Some(value) if !value.is_empty() => Some(Secret::new(value)),
            _ => {
                diag.at(
                    None,
                    format!(
                        "identity.scim: the SCIM token is not set: set {DEFAULT_SCIM_TOKEN_ENV} or name another variable with token_env"
                    ),
                );
                None
            }
        },
    };
    let principal_id_attribute = match &raw.principal_id_attribute {
        None => IdAttribute::default(),
        Some(text) => match IdAttribute::parse(text.get_ref()) {
            Some(attribute) => attribute,
            None => {
                diag.at(
                    Some(text.span()),
                    format!(
                        "identity.scim.principal_id_attribute: `{}` is not one of userName, externalId, employeeNumber",
                        text.get_ref()
                    ),
                );
                IdAttribute::default()
            }
        },
    };
    Some(ScimConfig {
        token,
        token_env,
        principal_id_attribute,
    })
}
