//! One exchange between a client and the models that may serve it: the client's request, its
//! neutral form (read once, on the first attempt that needs a translation, and reused by every
//! other), and the names an answer written for the client carries. The attempt loop asks it
//! for each attempt's bodies, answer and stream; it knows nothing of availability or policy.
//!
//! Three operations share it ([`Operation`], from the client's surface): a chat answer (one
//! call per attempt, whole or streamed), embeddings (one or several calls per attempt: Titan
//! embeds one input per call, Gemini and Cohere batch theirs; the answers are merged in order
//! and every vector checked against the model's configured dimension) and a token count.

use std::sync::OnceLock;

use chrono::Utc;
use clearance_core::api::{ApiSurface, Operation, WireFormat};
use clearance_core::chat::ChatRequest;
use clearance_upstream::ForwardedHeaders;
use clearance_wire::Usage;
use clearance_wire::count_tokens::{self, CountError};
use clearance_wire::embeddings::{self, EmbedError, EmbedRequest};
use clearance_wire::request::{ClientRequest, render_neutral};
use clearance_wire::response::rewrite_response;
use clearance_wire::sse::{SseFramer, SseRewriter, StreamRewrite};
use clearance_wire::translate::{
    EncoderOptions, RenderOptions, StreamTranslator, TranslateError, translate_response,
};

use crate::state::ModelEntry;

pub(crate) struct Exchange<'a> {
    pub surface: ApiSurface,
    pub request: &'a ClientRequest,
    /// Client headers that travel to the provider (Anthropic's version and beta flags).
    pub forwarded: &'a ForwardedHeaders,
    /// The audit record's id: an answer's id when the provider gave none.
    pub request_id: &'a str,
    neutral: OnceLock<Result<ChatRequest, TranslateError>>,
    embed: OnceLock<Result<EmbedRequest, TranslateError>>,
}

/// One answer of one call of an attempt: its body and the input token count a header gave.
pub(crate) struct Part {
    pub body: bytes::Bytes,
    pub input_tokens: Option<u64>,
}

impl<'a> Exchange<'a> {
    pub(crate) fn new(
        request: &'a ClientRequest,
        forwarded: &'a ForwardedHeaders,
        request_id: &'a str,
    ) -> Exchange<'a> {
        Exchange {
            surface: request.surface,
            request,
            forwarded,
            request_id,
            neutral: OnceLock::new(),
            embed: OnceLock::new(),
        }
    }

    pub(crate) fn operation(&self) -> Operation {
        self.surface.operation()
    }

    /// The bodies of one attempt on `entry`, one call each, in order: one for a chat answer
    /// or a count, as many as the provider's embeddings API needs for the inputs.
    pub(crate) fn bodies_for(&self, entry: &ModelEntry) -> Result<Vec<Vec<u8>>, TranslateError> {
        let upstream = entry.model.upstream.as_str();
        let kind = &entry.provider.kind;
        let values = match self.operation() {
            Operation::Generate => return Ok(vec![self.body_for(entry)?]),
            Operation::Embed => {
                let request = self.embed_request()?;
                if let (Some(asked), Some(configured)) =
                    (request.dimensions, entry.model.embedding_dimensions)
                    && asked != configured
                {
                    return Err(TranslateError::invalid(
                        "dimensions",
                        format!(
                            "`{}` answers vectors of {configured} dimensions; ask for those, or \
                             for a model of {asked}",
                            entry.model.name
                        ),
                    ));
                }
                let target =
                    clearance_upstream::embed_target(kind, upstream).map_err(embed_error)?;
                embeddings::render_request(target, self.request.body(), request, upstream)
                    .map_err(embed_error)?
            }
            Operation::CountTokens => {
                let target = clearance_upstream::count_target(kind).map_err(count_error)?;
                let options = RenderOptions {
                    default_max_tokens: entry.provider.default_max_tokens,
                    ..RenderOptions::default()
                };
                vec![
                    count_tokens::render_request(target, self.request.body(), upstream, &options)
                        .map_err(count_error)?,
                ]
            }
        };
        Ok(values
            .iter()
            .map(|v| serde_json::to_vec(v).expect("a JSON value always serialises"))
            .collect())
    }

    /// The answers of an embeddings or count attempt, as one answer for the client.
    pub(crate) fn operation_answer(
        &self,
        entry: &ModelEntry,
        parts: Vec<Part>,
    ) -> Result<(Vec<u8>, Usage), TranslateError> {
        let read = |part: &Part| {
            serde_json::from_slice::<serde_json::Value>(&part.body)
                .map_err(|e| TranslateError::invalid("(answer)", format!("not valid JSON: {e}")))
        };
        let kind = &entry.provider.kind;
        let upstream = entry.model.upstream.as_str();
        match self.operation() {
            Operation::Generate => match parts.first() {
                Some(part) => self.whole_answer(entry, &part.body),
                None => Err(TranslateError::invalid("(answer)", "no answer")),
            },
            Operation::Embed => {
                let request = self.embed_request()?;
                let target =
                    clearance_upstream::embed_target(kind, upstream).map_err(embed_error)?;
                let mut answers = Vec::with_capacity(parts.len());
                for part in &parts {
                    let answer = embeddings::parse_response(target, &read(part)?)
                        .map_err(embed_error)?
                        .or_input_tokens(part.input_tokens);
                    answers.push(answer);
                }
                let merged = embeddings::merge(answers);
                if let Some(dimensions) = entry.model.embedding_dimensions {
                    embeddings::check_answer(&merged, request, dimensions).map_err(embed_error)?;
                }
                let body = embeddings::render_response(
                    &merged,
                    request.encoding_format,
                    &entry.model.name,
                );
                let usage = Usage {
                    input_tokens: merged.input_tokens,
                    output_tokens: None,
                };
                Ok((serde_json::to_vec(&body).expect("JSON serialises"), usage))
            }
            Operation::CountTokens => {
                let target = clearance_upstream::count_target(kind).map_err(count_error)?;
                let Some(part) = parts.first() else {
                    return Err(TranslateError::invalid("(answer)", "no answer"));
                };
                let count =
                    count_tokens::parse_response(target, &read(part)?).map_err(count_error)?;
                let body = count_tokens::render_response(count);
                // A count spends no tokens: nothing for the usage figures.
                Ok((
                    serde_json::to_vec(&body).expect("JSON serialises"),
                    Usage::default(),
                ))
            }
        }
    }

    fn embed_request(&self) -> Result<&EmbedRequest, TranslateError> {
        self.embed
            .get_or_init(|| embeddings::parse_request(self.request.body()).map_err(embed_error))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Whether `entry`'s provider speaks another API than the client.
    pub(crate) fn is_translated(&self, entry: &ModelEntry) -> bool {
        entry.provider.kind.format() != WireFormat::from(self.surface)
    }

    /// The body for `entry`'s provider: the client's own, model id swapped, when it speaks
    /// the client's API; otherwise written from the neutral request.
    pub(crate) fn body_for(&self, entry: &ModelEntry) -> Result<Vec<u8>, TranslateError> {
        if !self.is_translated(entry) {
            return Ok(self.request.upstream_body(&entry.model.upstream));
        }
        let neutral = self
            .neutral
            .get_or_init(|| self.request.neutral())
            .as_ref()
            .map_err(Clone::clone)?;
        let options = RenderOptions {
            default_max_tokens: entry.provider.default_max_tokens,
            // Only OpenAI's own API insists on the newer name; compatible servers read the older.
            legacy_max_tokens: entry.provider.base_url.host_str() != Some("api.openai.com"),
        };
        render_neutral(
            neutral,
            entry.provider.kind.format(),
            &entry.model.upstream,
            &options,
        )
    }

    /// A whole answer from `entry`, written for the client, with its token usage.
    pub(crate) fn whole_answer(
        &self,
        entry: &ModelEntry,
        body: &[u8],
    ) -> Result<(Vec<u8>, Usage), TranslateError> {
        if self.is_translated(entry) {
            let names = self.names(entry, false);
            let from = entry.provider.kind.format();
            return translate_response(from, self.surface.into(), body, &names);
        }
        // Passed through, so checked here: a 200 that is not a JSON object is a provider fault
        // (the route moves on), never an answer.
        let is_object = body.trim_ascii_start().starts_with(b"{")
            && serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok();
        if !is_object {
            return Err(TranslateError::Invalid {
                field: "(body)".into(),
                why: "not a JSON object".into(),
            });
        }
        Ok(rewrite_response(self.surface, body, &entry.model.name))
    }

    /// How a stream from `entry` becomes the client's stream: rewritten (model name, usage
    /// chunk) in the same format, or translated event by event.
    pub(crate) fn stream_for(&self, entry: &ModelEntry) -> Box<dyn StreamRewrite> {
        let wants_usage = self.request.client_wants_usage_chunk();
        if self.is_translated(entry) {
            let names = self.names(entry, wants_usage);
            let from = entry.provider.kind.format();
            // Every provider stream arrives as server-sent events: `clearance-upstream` unwraps
            // Bedrock's event streams at the transport.
            let sse = Box::<SseFramer>::default();
            return Box::new(StreamTranslator::with_framer(
                sse,
                from,
                self.surface.into(),
                names,
            ));
        }
        let strip_usage = self.surface == ApiSurface::OpenaiChat && !wants_usage;
        Box::new(SseRewriter::new(
            self.surface,
            &entry.model.name,
            strip_usage,
        ))
    }

    /// What an answer written for the client says that the provider's answer may not.
    fn names(&self, entry: &ModelEntry, include_usage: bool) -> EncoderOptions {
        EncoderOptions {
            model: entry.model.name.clone(),
            fallback_id: format!("gen-{}", self.request_id),
            // Responses answers are named by the gateway, which keeps them under that name.
            own_id: (self.surface == ApiSurface::OpenaiResponses)
                .then(|| crate::kept::response_id(self.request_id)),
            created: Utc::now().timestamp(),
            include_usage,
        }
    }
}

/// An embeddings problem as the attempt loop reports it: the request's (400, naming the field)
/// or the answer's (the provider's fault, the route moves on).
fn embed_error(error: EmbedError) -> TranslateError {
    let field = error.field().unwrap_or("(answer)").to_string();
    TranslateError::Invalid {
        field,
        why: strip_field(&error.to_string()),
    }
}

fn count_error(error: CountError) -> TranslateError {
    let field = error.field().unwrap_or("(answer)").to_string();
    TranslateError::Invalid {
        field,
        why: strip_field(&error.to_string()),
    }
}

/// The message without a leading "`field`: " (the error says the field again).
fn strip_field(message: &str) -> String {
    match message.strip_prefix('`').and_then(|m| m.split_once("`: ")) {
        Some((_, rest)) => rest.to_string(),
        None => message.to_string(),
    }
}
