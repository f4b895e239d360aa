//! One exchange between a client and the models that may serve it: the client's request, its
//! neutral form (read once, on the first attempt that needs a translation, and reused by every
//! other), and the names an answer written for the client carries. The attempt loop asks it
//! for each attempt's body, answer and stream; it knows nothing of availability or policy.

use std::sync::OnceLock;

use chrono::Utc;
use clearance_core::api::{ApiSurface, WireFormat};
use clearance_core::chat::ChatRequest;
use clearance_upstream::ForwardedHeaders;
use clearance_wire::Usage;
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
        }
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
            created: Utc::now().timestamp(),
            include_usage,
        }
    }
}
