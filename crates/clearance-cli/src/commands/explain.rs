//! `clearance explain`: the decision a principal would get for a model under the set in force
//! (the configured directive folder's, or without one the store's active set), with every
//! covering directive and why it fired or not.

use std::process::ExitCode;

use super::{block_on, load_config, open_store};
use crate::cli::{ApiArg, CapabilityArg, ExplainArgs, OutputFormat};
use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use clearance_core::api::ApiSurface;
use clearance_core::country::CountryCode;
use clearance_core::facts::{Capability, Facts, PrincipalFacts, RequestFacts};
use clearance_core::principal::PrincipalId;
use clearance_policy::Query;
use clearance_policy::explain::{explain, render_text};

pub fn run(args: &ExplainArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(&args.config.config)?;
    if config.model(&args.model).is_none() {
        let names: Vec<&str> = config.models.iter().map(|m| m.name.as_str()).collect();
        bail!(
            "unknown model `{}`; configured models: {}",
            args.model,
            names.join(", ")
        );
    }
    let request = request_facts(args)?;
    let at = match &args.at {
        Some(text) => DateTime::parse_from_rfc3339(text.trim())
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| {
                anyhow::anyhow!(
                    "--at `{text}` is not an RFC 3339 time such as 2026-07-01T12:00:00Z ({e})"
                )
            })?,
        None => Utc::now(),
    };
    let principal_id: PrincipalId = args
        .principal
        .parse()
        .with_context(|| format!("invalid principal id `{}`", args.principal))?;
    let (principal, book) = block_on(async {
        let store = open_store(&config).await?;
        let principal = store.principal(&principal_id).await?;
        let book = super::directives::active_book(&config, store.as_ref()).await?;
        Ok::<_, anyhow::Error>((principal, book))
    })??;
    let Some(principal) = principal else {
        bail!(
            "no principal `{principal_id}` in the registry; import it first with `clearance principals import`"
        );
    };
    let book = match book {
        Ok(book) => book,
        Err(errors) => {
            for error in &errors.0 {
                eprintln!("{error}");
            }
            bail!(
                "the active directive set is invalid; fix it (`clearance directives check`) to explain decisions"
            );
        }
    };
    let facts = Facts {
        principal: PrincipalFacts::from(&principal),
        request,
    };
    let explanation = explain(
        &book,
        &Query {
            principal_id: principal_id.as_str(),
            facts: &facts,
            model: &args.model,
            at,
        },
    );
    match args.format {
        OutputFormat::Json => outln!("{}", serde_json::to_string_pretty(&explanation)?),
        OutputFormat::Text => out!("{}", render_text(&explanation)),
    }
    Ok(ExitCode::SUCCESS)
}

fn request_facts(args: &ExplainArgs) -> anyhow::Result<RequestFacts> {
    let country = args
        .country
        .as_deref()
        .map(|text| {
            text.parse::<CountryCode>()
                .map_err(|e| anyhow::anyhow!("--country: {e}"))
        })
        .transpose()?;
    let capabilities = args
        .capabilities
        .iter()
        .map(|c| match c {
            CapabilityArg::Tools => Capability::Tools,
            CapabilityArg::Images => Capability::Images,
            CapabilityArg::Stream => Capability::Stream,
        })
        .collect();
    let api = match args.api {
        ApiArg::Openai => ApiSurface::OpenaiChat,
        ApiArg::Anthropic => ApiSurface::AnthropicMessages,
        ApiArg::Gemini => ApiSurface::Gemini,
        ApiArg::OpenaiResponses => ApiSurface::OpenaiResponses,
    };
    Ok(RequestFacts {
        country,
        capabilities,
        api,
        max_tokens: None,
        app: None,
    })
}
