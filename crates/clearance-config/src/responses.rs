//! `[responses]`: how long the gateway keeps OpenAI Responses answers, which a later request
//! continues with `previous_response_id` and their caller reads back or deletes.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::diagnostics::Diagnostics;
use crate::resolve::{non_negative, positive};

/// OpenAI keeps a stored response for 30 days; a client written for it expects as much.
const DEFAULT_KEEP_DAYS: i64 = 30;
const DEFAULT_MAX_CHAIN: i64 = 1_000;
/// Far beyond any retention anyone means, and short of where expiry times stop being dates.
const MAX_KEEP_DAYS: i64 = 36_500;
const SECONDS_PER_DAY: u64 = 24 * 3600;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawResponses {
    pub keep_days: Option<Spanned<i64>>,
    pub max_chain: Option<Spanned<i64>>,
}

/// `[responses]`: whether and how long Responses answers are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponsesConfig {
    /// How long a kept answer can be continued or read; `None` (`keep_days = 0`): nothing is
    /// kept, and `store: true` and `previous_response_id` are refused.
    pub keep_for: Option<Duration>,
    /// The most responses one conversation may chain through `previous_response_id`.
    pub max_chain: usize,
}

impl Default for ResponsesConfig {
    fn default() -> Self {
        ResponsesConfig {
            keep_for: keep_for(DEFAULT_KEEP_DAYS),
            max_chain: DEFAULT_MAX_CHAIN as usize,
        }
    }
}

fn keep_for(days: i64) -> Option<Duration> {
    let days = u64::try_from(days).ok().filter(|d| *d > 0)?;
    Some(Duration::from_secs(days.saturating_mul(SECONDS_PER_DAY)))
}

pub(crate) fn resolve_responses(raw: &RawResponses, diag: &mut Diagnostics<'_>) -> ResponsesConfig {
    let mut days = non_negative(
        raw.keep_days.as_ref(),
        DEFAULT_KEEP_DAYS,
        "responses.keep_days",
        diag,
    );
    if days > MAX_KEEP_DAYS
        && let Some(value) = &raw.keep_days
    {
        diag.at(
            Some(value.span()),
            format!("responses.keep_days: at most {MAX_KEEP_DAYS} (100 years), not {days}"),
        );
        days = DEFAULT_KEEP_DAYS;
    }
    let max_chain = positive(
        raw.max_chain.as_ref(),
        DEFAULT_MAX_CHAIN,
        "responses.max_chain",
        diag,
    );
    ResponsesConfig {
        keep_for: keep_for(days),
        max_chain: usize::try_from(max_chain).unwrap_or(usize::MAX),
    }
}
