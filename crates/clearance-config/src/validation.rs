//! The validated-fallback part of the config: `[validation]` (how `clearance validate` runs
//! by default, how often `serve` re-runs stored suites, how old a validation may grow before
//! it is reported stale), `[capture]` (which apps' traffic is sampled for drafting suites) and
//! the per-model prices a validation run reports cost from.

use std::time::Duration;

use toml::Spanned;

use crate::diagnostics::Diagnostics;
use crate::raw::RawModel;
use crate::resolve::positive;

const DEFAULT_BAR: f64 = 0.9;
const DEFAULT_CONCURRENCY: i64 = 8;
const DEFAULT_CASE_TIMEOUT_MS: i64 = 60_000;
const DEFAULT_RETRIES: i64 = 2;
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(30 * 24 * 3600);
const DEFAULT_CAPTURE_SAMPLE: f64 = 0.1;
const DEFAULT_CAPTURE_KEEP: i64 = 500;
/// Validation is about drift over days; the floor only keeps a typo (`7` for `7d`) from
/// re-running a suite in a tight loop.
const MIN_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct RawValidation {
    pub bar: Option<Spanned<f64>>,
    pub concurrency: Option<Spanned<i64>>,
    pub case_timeout_ms: Option<Spanned<i64>>,
    pub retries: Option<Spanned<i64>>,
    pub max_age: Option<Spanned<String>>,
    pub every: Option<Spanned<String>>,
}

#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct RawCapture {
    #[serde(default)]
    pub apps: Vec<Spanned<String>>,
    pub sample: Option<Spanned<f64>>,
    pub keep: Option<Spanned<i64>>,
}

/// `[validation]`: defaults for `clearance validate` and what `serve` does with stored runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationConfig {
    /// The score (weighted pass rate, 0..=1) a candidate needs to become a validated fallback.
    pub bar: f64,
    /// Cases in flight at once per run.
    pub concurrency: usize,
    /// One case on one model, retries included.
    pub case_timeout: Duration,
    /// Retries of a case whose call failed (connection, timeout, 429, 5xx), not of a wrong
    /// answer.
    pub retries: u32,
    /// A validation older than this is reported stale (`check-config`, `serve`, status).
    pub max_age: Duration,
    /// `serve` re-runs each stored run's suite this often; `None`: never.
    pub every: Option<Duration>,
}

impl Default for ValidationConfig {
    fn default() -> Self {
        ValidationConfig {
            bar: DEFAULT_BAR,
            concurrency: DEFAULT_CONCURRENCY as usize,
            case_timeout: Duration::from_millis(DEFAULT_CASE_TIMEOUT_MS as u64),
            retries: DEFAULT_RETRIES as u32,
            max_age: DEFAULT_MAX_AGE,
            every: None,
        }
    }
}

/// `[capture]`: opt-in sampling of real traffic, redacted before it is stored.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CaptureConfig {
    /// Key names (apps) whose requests are sampled; empty: capture is off.
    pub apps: Vec<String>,
    /// The share of an app's requests kept, 0..=1.
    pub sample: f64,
    /// The most captures kept per app (the oldest go first).
    pub keep: usize,
}

impl CaptureConfig {
    pub fn captures(&self, app: &str) -> bool {
        self.apps.iter().any(|a| a == app)
    }
}

/// A model's price in US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
}

impl Price {
    pub fn cost(&self, input_tokens: u64, output_tokens: u64) -> f64 {
        (input_tokens as f64 * self.input_per_mtok + output_tokens as f64 * self.output_per_mtok)
            / 1_000_000.0
    }
}

pub(crate) fn resolve_validation(
    raw: &RawValidation,
    diag: &mut Diagnostics<'_>,
) -> ValidationConfig {
    let defaults = ValidationConfig::default();
    let bar = crate::failover::ratio(raw.bar.as_ref(), DEFAULT_BAR, "validation.bar", diag);
    let concurrency = positive(
        raw.concurrency.as_ref(),
        DEFAULT_CONCURRENCY,
        "validation.concurrency",
        diag,
    );
    let case_timeout = positive(
        raw.case_timeout_ms.as_ref(),
        DEFAULT_CASE_TIMEOUT_MS,
        "validation.case_timeout_ms",
        diag,
    );
    let retries = crate::resolve::non_negative(
        raw.retries.as_ref(),
        DEFAULT_RETRIES,
        "validation.retries",
        diag,
    );
    let max_age = raw
        .max_age
        .as_ref()
        .and_then(|v| duration(v, "validation.max_age", Duration::from_secs(1), diag))
        .unwrap_or(defaults.max_age);
    let every = raw
        .every
        .as_ref()
        .and_then(|v| duration(v, "validation.every", MIN_EVERY, diag));
    ValidationConfig {
        bar,
        concurrency: usize::try_from(concurrency).unwrap_or(usize::MAX),
        case_timeout: Duration::from_millis(case_timeout as u64),
        retries: u32::try_from(retries).unwrap_or(u32::MAX),
        max_age,
        every,
    }
}

pub(crate) fn resolve_capture(raw: &RawCapture, diag: &mut Diagnostics<'_>) -> CaptureConfig {
    let mut apps: Vec<String> = Vec::new();
    for app in &raw.apps {
        if app.get_ref().is_empty() {
            diag.at(
                Some(app.span()),
                "capture.apps: an app name cannot be empty",
            );
        } else if apps.contains(app.get_ref()) {
            diag.at(
                Some(app.span()),
                format!("capture.apps: `{}` is listed twice", app.get_ref()),
            );
        } else {
            apps.push(app.get_ref().clone());
        }
    }
    let sample = crate::failover::ratio(
        raw.sample.as_ref(),
        DEFAULT_CAPTURE_SAMPLE,
        "capture.sample",
        diag,
    );
    let keep = positive(
        raw.keep.as_ref(),
        DEFAULT_CAPTURE_KEEP,
        "capture.keep",
        diag,
    );
    CaptureConfig {
        apps,
        sample,
        keep: usize::try_from(keep).unwrap_or(usize::MAX),
    }
}

pub(crate) fn resolve_price(model: &RawModel, diag: &mut Diagnostics<'_>) -> Option<Price> {
    let name = model.name.get_ref();
    let mut read = |value: Option<&Spanned<f64>>, key: &str| {
        let value = value?;
        let price = *value.get_ref();
        if price.is_finite() && price >= 0.0 {
            Some(price)
        } else {
            diag.at(
                Some(value.span()),
                format!("model `{name}`: {key} must be zero or more, not {price}"),
            );
            None
        }
    };
    let input = read(model.input_price_per_mtok.as_ref(), "input_price_per_mtok");
    let output = read(
        model.output_price_per_mtok.as_ref(),
        "output_price_per_mtok",
    );
    match (input, output) {
        (None, None) => None,
        (input, output) => Some(Price {
            input_per_mtok: input.unwrap_or(0.0),
            output_per_mtok: output.unwrap_or(0.0),
        }),
    }
}

/// A duration written as people write them: `30s`, `15m`, `12h`, `7d`, `1d 12h`.
fn duration(
    value: &Spanned<String>,
    key: &str,
    min: Duration,
    diag: &mut Diagnostics<'_>,
) -> Option<Duration> {
    match humantime::parse_duration(value.get_ref()) {
        Ok(d) if d >= min => Some(d),
        Ok(_) => {
            diag.at(
                Some(value.span()),
                format!(
                    "{key} must be at least {}, not `{}`",
                    humantime::format_duration(min),
                    value.get_ref()
                ),
            );
            None
        }
        Err(e) => {
            diag.at(
                Some(value.span()),
                format!(
                    "{key}: `{}` is not a duration ({e}); write e.g. `12h` or `7d`",
                    value.get_ref()
                ),
            );
            None
        }
    }
}
