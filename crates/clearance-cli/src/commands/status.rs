//! `clearance status`: the running gateway's failover state (`GET /admin/status`): every
//! model's kill switch, breaker, route and provider health, and every provider's checks.

use std::process::ExitCode;

use serde_json::Value;

use super::admin_api::{AdminApi, table, text};
use super::block_on;
use crate::cli::{OutputFormat, StatusArgs};

pub fn run(args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let admin = AdminApi::resolve(&args.gateway)?;
    let status = block_on(admin.call(&["admin", "status"], None))??;
    match args.format {
        OutputFormat::Json => outln!("{}", serde_json::to_string_pretty(&status)?),
        OutputFormat::Text => out!("{}", report(&status)),
    }
    Ok(ExitCode::SUCCESS)
}

fn report(status: &Value) -> String {
    let none = Vec::new();
    let models = status["models"].as_array().unwrap_or(&none);
    let providers = status["providers"].as_array().unwrap_or(&none);
    let model_rows: Vec<[String; 6]> = models.iter().map(model_row).collect();
    let provider_rows: Vec<[String; 6]> = providers.iter().map(provider_row).collect();
    let mut out = table(
        [
            "MODEL",
            "STATE",
            "BREAKER",
            "FAILED/REQUESTS (WINDOW)",
            "PROVIDER",
            "ROUTE",
        ],
        &model_rows,
    );
    out.push('\n');
    out.push_str(&table(
        [
            "PROVIDER",
            "HEALTH",
            "CHECKS",
            "FAILED",
            "LAST CHECK",
            "LAST ERROR",
        ],
        &provider_rows,
    ));
    out
}

fn model_row(model: &Value) -> [String; 6] {
    let breaker = &model["breaker"];
    let state = match &model["disabled"] {
        Value::Null => "enabled".to_string(),
        off => format!("DISABLED ({})", text(&off["reason"])),
    };
    let breaker_state = match breaker["retry_in_ms"].as_u64() {
        Some(ms) => format!("{} (probe in {ms} ms)", text(&breaker["state"])),
        None => text(&breaker["state"]),
    };
    let window = format!(
        "{}/{}",
        text(&breaker["failures_in_window"]),
        text(&breaker["requests_in_window"])
    );
    let provider = format!(
        "{}{}",
        text(&model["provider"]),
        if model["provider_healthy"] == false {
            " (UNHEALTHY)"
        } else {
            ""
        }
    );
    let validation = model["route"]["validation"].as_array();
    let route = match model["route"]["fallbacks"].as_array() {
        Some(fallbacks) if !fallbacks.is_empty() => format!(
            "-> {} (retries {}, budget {:.1}{})",
            fallbacks
                .iter()
                .enumerate()
                .map(|(i, f)| format!(
                    "{} [{}]",
                    text(f),
                    validation
                        .and_then(|v| v.get(i))
                        .map(fallback_state)
                        .unwrap_or_default()
                ))
                .collect::<Vec<_>>()
                .join(" -> "),
            text(&model["route"]["retries"]),
            model["route"]["retry_budget_available"]
                .as_f64()
                .unwrap_or(0.0),
            if model["route"]["validated_only"] == true {
                ", validated only"
            } else {
                ""
            }
        ),
        _ => "-".to_string(),
    };
    [
        text(&model["model"]),
        state,
        breaker_state,
        window,
        provider,
        route,
    ]
}

fn provider_row(provider: &Value) -> [String; 6] {
    let health = if provider["checked"] != true {
        "not checked".to_string()
    } else if provider["healthy"] == true {
        "healthy".to_string()
    } else {
        "UNHEALTHY".to_string()
    };
    [
        text(&provider["provider"]),
        health,
        text(&provider["checks"]),
        text(&provider["failures"]),
        text(&provider["last_check"]),
        text(&provider["last_error"]),
    ]
}

/// A fallback's validation in a few words: `validated 0.95 on support answers, 2026-12-01`,
/// `FAILED 0.40 on ...`, `stale ...`, `unvalidated`.
fn fallback_state(validation: &Value) -> String {
    let state = text(&validation["state"]);
    let score = validation["score"].as_f64();
    let date = validation["at"]
        .as_str()
        .map(|at| at.get(..10).unwrap_or(at).to_string());
    let suite = text(&validation["suite"]);
    match (state.as_str(), score, date) {
        ("unvalidated", ..) => "unvalidated".into(),
        ("failed", Some(score), Some(date)) => format!("FAILED {score:.2} on {suite}, {date}"),
        (state, Some(score), Some(date)) => format!("{state} {score:.2} on {suite}, {date}"),
        (state, ..) => state.to_string(),
    }
}
