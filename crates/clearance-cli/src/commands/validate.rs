//! `clearance validate` (an eval suite on a primary and its candidate fallbacks, through the
//! gateway's own provider layer; the run is stored and resumable, and each candidate's
//! standing goes to the store, where running gateways pick it up) and `clearance suites draft`
//! (a suite from an app's captured traffic).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clearance_config::Config;
use clearance_core::api::{ApiSurface, WireFormat};
use clearance_core::chat::Part;
use clearance_gateway::validate::{self, ModelCaller, Progress, RunPlan};
use clearance_validate::capture::{Captured, draft_suite};
use indicatif::{ProgressBar, ProgressStyle};

use super::{block_on, open_store, open_store_at};
use crate::cli::{SuitesCommand, ValidateArgs, ValidateFormat};

pub fn run(args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let config =
        Config::load_for_providers(&args.config.config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let text = std::fs::read_to_string(&args.suite)
        .with_context(|| format!("reading the suite {}", args.suite.display()))?;
    let suite = match clearance_validate::parse(&args.suite, &text) {
        Ok(suite) => suite,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let bar = args.bar.unwrap_or(config.validation.bar);
    if !(0.0..=1.0).contains(&bar) {
        anyhow::bail!("--bar must be between 0 and 1, not {bar}");
    }
    let plan = RunPlan {
        suite,
        suite_file: file_name(&args.suite),
        suite_text: text,
        primary: args.primary.clone(),
        candidates: args.candidates.clone(),
        bar,
        concurrency: args.concurrency.unwrap_or(config.validation.concurrency),
        case_timeout: config.validation.case_timeout,
        retries: config.validation.retries,
        actor: super::CLI_ACTOR.into(),
        fresh: args.fresh,
    };
    let bar_ui = progress_bar();
    let finished = block_on(async {
        let store = open_store(&config).await?;
        let caller = ModelCaller::new(&config).context("starting the provider client")?;
        let show = |p: Progress| {
            bar_ui.set_length(p.total as u64);
            bar_ui.set_position(p.done as u64);
        };
        validate::run(store.as_ref(), &caller, &plan, &show)
            .await
            .map_err(anyhow::Error::from)
    })??;
    bar_ui.finish_and_clear();
    match args.format {
        ValidateFormat::Text => out!("{}", finished.summary.render_text()),
        ValidateFormat::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "summary": finished.summary,
                "cases": finished.records,
            }))?
        ),
        ValidateFormat::Junit => out!("{}", finished.summary.render_junit(&finished.records)),
    }
    let all_validated = finished.standings.iter().all(|s| s.validated);
    Ok(if all_validated {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// A bar on a terminal; nothing when stderr is not one (CI logs, pipes).
fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::new(0);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} {bar:40} {pos}/{len} cases  {elapsed_precise}")
    {
        bar.set_style(style);
    }
    bar
}

pub fn suites(command: SuitesCommand) -> anyhow::Result<ExitCode> {
    let SuitesCommand::Draft {
        app,
        out,
        primary,
        limit,
        config,
    } = command;
    if out.exists() {
        anyhow::bail!(
            "{} exists; draft into a new file (a reviewed suite is never overwritten)",
            out.display()
        );
    }
    let (config, captures) = block_on(async {
        let (config, store) = open_store_at(&config.config).await?;
        let captures = store
            .captures(&app, usize::MAX)
            .await
            .context("reading captures")?;
        Ok::<_, anyhow::Error>((config, captures))
    })??;
    if !config.capture.captures(&app) && captures.is_empty() {
        anyhow::bail!(
            "no captures of app `{app}`: name it in [capture] apps of {} and let the gateway \
             serve some of its requests",
            config.source.display()
        );
    }
    let primary = match primary {
        Some(primary) => primary,
        None => {
            most_used_model(&captures).with_context(|| format!("no captures of app `{app}` yet"))?
        }
    };
    let captured: Vec<Captured> = captures
        .iter()
        .filter(|c| c.model == primary)
        .filter_map(captured_of)
        .take(limit)
        .collect();
    if captured.is_empty() {
        anyhow::bail!("no readable captures of app `{app}` answered by `{primary}`");
    }
    let text = draft_suite(&app, &primary, &captured);
    // Checked before it is written: a draft must parse as the suite it claims to be.
    clearance_validate::suite::parse_toml(&out, &text)
        .map_err(|e| anyhow::anyhow!("the drafted suite does not parse (a bug): {e}"))?;
    std::fs::write(&out, &text).with_context(|| format!("writing {}", out.display()))?;
    outln!(
        "wrote {} cases from {} captures of `{app}` on `{primary}` to {}; review each reference \
         answer and threshold before you validate with it",
        text.matches("[[cases]]").count(),
        captured.len(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn most_used_model(captures: &[clearance_store::Capture]) -> Option<String> {
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for capture in captures {
        *counts.entry(capture.model.as_str()).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map(|(m, _)| m.to_string())
}

/// A Responses request as the Chat Completions request it translates to (a suite case has no
/// Responses format): `instructions` become the system message, input items the messages,
/// function tools Chat Completions tools.
fn responses_as_chat(request: &serde_json::Value, model: &str) -> Option<serde_json::Value> {
    use clearance_wire::translate::{RenderOptions, parse_request, render_request};
    let neutral = parse_request(WireFormat::OpenaiResponses, request).ok()?;
    render_request(
        WireFormat::OpenaiChat,
        &neutral,
        model,
        &RenderOptions::default(),
    )
    .ok()
}

/// A stored capture as drafting reads it: the request, and the answer's text and tool calls
/// read from the client format it was stored in.
fn captured_of(capture: &clearance_store::Capture) -> Option<Captured> {
    let surface = match capture.api.as_str() {
        "openai_chat" => ApiSurface::OpenaiChat,
        "anthropic_messages" => ApiSurface::AnthropicMessages,
        "gemini" => ApiSurface::Gemini,
        "openai_responses" => ApiSurface::OpenaiResponses,
        _ => return None,
    };
    let mut request: serde_json::Value = serde_json::from_str(&capture.request).ok()?;
    if surface == ApiSurface::OpenaiResponses {
        request = responses_as_chat(&request, &capture.model)?;
    }
    let answer: serde_json::Value = serde_json::from_str(&capture.answer).ok()?;
    let answer =
        clearance_wire::translate::parse_response(WireFormat::from(surface), &answer).ok()?;
    let mut answer_text = String::new();
    let mut answer_tool_calls = Vec::new();
    for part in answer.content {
        match part {
            Part::Text { text } => answer_text.push_str(&text),
            Part::ToolCall {
                name, arguments, ..
            } => answer_tool_calls.push(clearance_validate::ToolCall { name, arguments }),
            _ => {}
        }
    }
    Some(Captured {
        id: capture.id,
        model: capture.model.clone(),
        api: capture.api.clone(),
        at: capture.at,
        request,
        answer_text,
        answer_tool_calls,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stored(
        api: &str,
        request: serde_json::Value,
        answer: serde_json::Value,
    ) -> clearance_store::Capture {
        clearance_store::Capture {
            id: 11,
            app: "agent".into(),
            model: "gpt-5".into(),
            api: api.into(),
            at: chrono::Utc::now(),
            request: request.to_string(),
            answer: answer.to_string(),
        }
    }

    #[test]
    fn a_responses_capture_is_drafted_as_its_chat_completions_request() {
        let capture = stored(
            "openai_responses",
            json!({
                "model": "gpt-5",
                "instructions": "Be brief.",
                "input": [{"role": "user", "content": "Weather in Paris?"}],
                "tools": [{"type": "function", "name": "get_weather",
                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}],
            }),
            json!({
                "id": "resp_1", "object": "response", "created_at": 1, "model": "gpt-5",
                "status": "completed",
                "output": [{"type": "function_call", "id": "fc_1", "call_id": "call_1",
                            "name": "get_weather", "arguments": "{\"city\":\"Paris\"}", "status": "completed"}],
                "usage": {"input_tokens": 5, "output_tokens": 3, "total_tokens": 8},
            }),
        );
        let captured = captured_of(&capture).unwrap();
        assert_eq!(captured.api, "openai_responses");
        let messages = captured.request["messages"].as_array().unwrap();
        assert_eq!(messages[0]["role"], "system");
        assert_eq!(messages[0]["content"], "Be brief.");
        assert_eq!(messages[1]["role"], "user");
        assert_eq!(
            captured.request["tools"][0]["function"]["name"],
            "get_weather"
        );
        assert_eq!(captured.answer_tool_calls[0].name, "get_weather");

        let text = draft_suite("agent", "gpt-5", &[captured]);
        assert!(text.contains("format = \"openai\""), "{text}");
        assert!(text.contains("tool_called"), "{text}");
    }

    #[test]
    fn a_responses_capture_that_does_not_translate_is_not_drafted() {
        let capture = stored(
            "openai_responses",
            json!({"model": "gpt-5", "input": 42}),
            json!({"output": []}),
        );
        assert!(captured_of(&capture).is_none());
    }
}
