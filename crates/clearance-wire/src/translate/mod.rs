//! Cross-format translation: a request written for one vendor's API, answered by a model that
//! speaks another's.
//!
//! Every format translates to and from the neutral types in [`clearance_core::chat`]; a
//! request goes `client format → neutral → provider format`, the answer comes back the same
//! way, and a stream is translated event by event ([`StreamTranslator`]) without ever holding
//! the whole answer. What the target format cannot express is refused with a
//! [`TranslateError`] naming the field (the gateway answers 400); it is never dropped silently.
//!
//! - [`openai`]: OpenAI Chat Completions.
//! - [`anthropic`]: Anthropic Messages.
//! - [`gemini`]: Google Gemini `generateContent` / `streamGenerateContent` (`alt=sse`).
//! - [`bedrock`]: Amazon Bedrock `Converse` / `ConverseStream` (an event stream, read through
//!   [`crate::eventstream`]), and the body of `InvokeModel` for Anthropic models.
//!
//! Same-format requests do not come here: they pass through untouched (see [`crate::request`]).

pub mod anthropic;
pub mod bedrock;
pub mod gemini;
mod json;
pub mod openai;
pub mod responses;

use clearance_core::api::WireFormat;
use clearance_core::chat::{ChatRequest, ChatResponse, Role, StreamEvent, Usage};
use serde_json::Value;

use crate::eventstream::{EventStreamFramer, Framer};
use crate::sse::{SseFrame, SseFramer, StreamProgress, StreamRewrite};

/// Why a request or answer cannot be translated. Shown to the client (HTTP 400) as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranslateError {
    /// The field is valid in the source format but the target cannot express it.
    #[error("`{field}` cannot be sent to a model served through {target}: {why}")]
    Unsupported {
        field: String,
        target: &'static str,
        why: String,
    },
    /// The field is valid in the source format but has no equivalent in any other format
    /// (e.g. OpenAI `logprobs`, Anthropic `thinking`), or is not a field of the source format
    /// at all.
    #[error(
        "`{field}` has no translation from {source_format}: {why}; send it to a model served through {source_format}"
    )]
    Untranslatable {
        field: String,
        source_format: &'static str,
        why: String,
    },
    /// The field is not valid in the source format (wrong type, missing, unknown value).
    #[error("`{field}`: {why}")]
    Invalid { field: String, why: String },
}

impl TranslateError {
    pub fn unsupported(
        field: impl Into<String>,
        target: WireFormat,
        why: impl Into<String>,
    ) -> Self {
        TranslateError::Unsupported {
            field: field.into(),
            target: target.title(),
            why: why.into(),
        }
    }

    pub fn untranslatable(
        field: impl Into<String>,
        source: WireFormat,
        why: impl Into<String>,
    ) -> Self {
        TranslateError::Untranslatable {
            field: field.into(),
            source_format: source.title(),
            why: why.into(),
        }
    }

    pub fn invalid(field: impl Into<String>, why: impl Into<String>) -> Self {
        TranslateError::Invalid {
            field: field.into(),
            why: why.into(),
        }
    }

    /// The field the error is about (OpenAI's error `param`).
    pub fn field(&self) -> &str {
        match self {
            TranslateError::Unsupported { field, .. }
            | TranslateError::Untranslatable { field, .. }
            | TranslateError::Invalid { field, .. } => field,
        }
    }
}

/// Choices a request translation needs that the request itself does not carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderOptions {
    /// Anthropic requires `max_tokens`; used when the client sent none.
    pub default_max_tokens: u64,
    /// OpenAI-format targets: write the answer cap as `max_tokens`, which OpenAI-compatible
    /// servers (vLLM, Ollama, llama.cpp, Mistral) read, instead of `max_completion_tokens`,
    /// which OpenAI's own API wants (its reasoning models refuse `max_tokens`).
    pub legacy_max_tokens: bool,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            default_max_tokens: 4096,
            legacy_max_tokens: false,
        }
    }
}

/// What a stream encoder writes that the provider's events do not say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncoderOptions {
    /// The model name the client asked for (shown instead of the provider's id).
    pub model: String,
    /// The answer's id when the provider gave none.
    pub fallback_id: String,
    /// The id the answer carries whatever the provider's was: a gateway that keeps the answer
    /// (OpenAI Responses' `store`) names it itself, so that the name is unique and its own.
    pub own_id: Option<String>,
    /// Unix seconds, for formats that stamp answers (OpenAI `created`).
    pub created: i64,
    /// OpenAI: the client asked for the final usage chunk (`stream_options.include_usage`).
    pub include_usage: bool,
}

/// Turns one provider SSE event into neutral events.
pub trait StreamDecoder: Send {
    /// Appends to `out` the neutral events `frame` carries. A frame the decoder cannot read
    /// becomes a [`StreamEvent::Error`], never a panic.
    fn decode(&mut self, frame: &SseFrame, out: &mut Vec<StreamEvent>);
    /// The provider closed the connection: appends what a proper end implies (formats with no
    /// terminal event end with [`StreamEvent::End`] once a stop reason went by).
    fn finish(&mut self, out: &mut Vec<StreamEvent>);
}

/// Writes neutral events as a client format's SSE bytes.
pub trait StreamEncoder: Send {
    fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>);
}

/// Reads a request body in `format` into the neutral model.
pub fn parse_request(format: WireFormat, body: &Value) -> Result<ChatRequest, TranslateError> {
    match format {
        WireFormat::OpenaiChat => openai::parse_request(body),
        WireFormat::AnthropicMessages => anthropic::parse_request(body),
        WireFormat::Gemini => gemini::parse_request(body),
        WireFormat::OpenaiResponses => responses::parse_request(body),
        WireFormat::BedrockConverse => bedrock::parse_request(body),
    }
}

/// Writes a neutral request as a `format` body for `upstream_model`.
pub fn render_request(
    format: WireFormat,
    request: &ChatRequest,
    upstream_model: &str,
    options: &RenderOptions,
) -> Result<Value, TranslateError> {
    match format {
        WireFormat::OpenaiChat => openai::render_request(request, upstream_model, options),
        WireFormat::AnthropicMessages => {
            anthropic::render_request(request, upstream_model, options)
        }
        WireFormat::Gemini => gemini::render_request(request, upstream_model, options),
        WireFormat::OpenaiResponses => responses::render_request(request, upstream_model, options),
        WireFormat::BedrockConverse => bedrock::render_request(request, upstream_model, options),
    }
}

/// Reads a whole answer in `format`.
pub fn parse_response(format: WireFormat, body: &Value) -> Result<ChatResponse, TranslateError> {
    match format {
        WireFormat::OpenaiChat => openai::parse_response(body),
        WireFormat::AnthropicMessages => anthropic::parse_response(body),
        WireFormat::Gemini => gemini::parse_response(body),
        WireFormat::OpenaiResponses => responses::parse_response(body),
        WireFormat::BedrockConverse => bedrock::parse_response(body),
    }
}

/// Writes a whole answer in `format`.
pub fn render_response(format: WireFormat, response: &ChatResponse, created: i64) -> Value {
    match format {
        WireFormat::OpenaiChat => openai::render_response(response, created),
        WireFormat::AnthropicMessages => anthropic::render_response(response),
        WireFormat::Gemini => gemini::render_response(response),
        WireFormat::OpenaiResponses => responses::render_response(response, created),
        WireFormat::BedrockConverse => bedrock::render_response(response),
    }
}

pub fn decoder(format: WireFormat) -> Box<dyn StreamDecoder> {
    match format {
        WireFormat::OpenaiChat => Box::<openai::Decoder>::default(),
        WireFormat::AnthropicMessages => Box::<anthropic::Decoder>::default(),
        WireFormat::Gemini => Box::<gemini::Decoder>::default(),
        WireFormat::OpenaiResponses => Box::<responses::Decoder>::default(),
        WireFormat::BedrockConverse => Box::<bedrock::Decoder>::default(),
    }
}

pub fn encoder(format: WireFormat, options: EncoderOptions) -> Box<dyn StreamEncoder> {
    match format {
        WireFormat::OpenaiChat => Box::new(openai::Encoder::new(options)),
        WireFormat::AnthropicMessages => Box::new(anthropic::Encoder::new(options)),
        WireFormat::Gemini => Box::new(gemini::Encoder::new(options)),
        WireFormat::OpenaiResponses => Box::new(responses::Encoder::new(options)),
        WireFormat::BedrockConverse => Box::new(bedrock::Encoder::new(options)),
    }
}

/// A provider's whole answer in `from`, written for a client of `to`: the client's model name
/// (`names.model`), the provider's id or `names.fallback_id`, and the token usage read out.
pub fn translate_response(
    from: WireFormat,
    to: WireFormat,
    body: &[u8],
    names: &EncoderOptions,
) -> Result<(Vec<u8>, Usage), TranslateError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| TranslateError::invalid("(answer)", format!("not valid JSON: {e}")))?;
    let mut answer = parse_response(from, &value)?;
    answer.model.clone_from(&names.model);
    if names.own_id.is_some() {
        answer.id.clone_from(&names.own_id);
    } else if answer.id.is_none() {
        answer.id = Some(names.fallback_id.clone());
    }
    let rendered = render_response(to, &answer, names.created);
    let bytes = serde_json::to_vec(&rendered).expect("a JSON value always serialises");
    Ok((bytes, answer.usage))
}

/// A provider's stream in `from`, re-written for a client of `to`, one event at a time:
/// bytes in, complete client events out, only an unfinished provider event held back.
pub struct StreamTranslator {
    framer: Box<dyn Framer>,
    decoder: Box<dyn StreamDecoder>,
    encoder: Box<dyn StreamEncoder>,
    events: Vec<StreamEvent>,
    progress: StreamProgress,
    /// [`EncoderOptions::own_id`], written over the provider's.
    own_id: Option<String>,
}

impl StreamTranslator {
    /// Reads `from`'s own stream framing: Amazon's event stream for Bedrock Converse,
    /// server-sent events for every other format.
    pub fn new(from: WireFormat, to: WireFormat, options: EncoderOptions) -> StreamTranslator {
        let framer: Box<dyn Framer> = match from {
            WireFormat::BedrockConverse => Box::new(EventStreamFramer::converse()),
            WireFormat::OpenaiChat
            | WireFormat::AnthropicMessages
            | WireFormat::Gemini
            | WireFormat::OpenaiResponses => Box::<SseFramer>::default(),
        };
        StreamTranslator::with_framer(framer, from, to, options)
    }

    /// Reads `from`'s events out of the frames `framer` gives: e.g. an Anthropic model on
    /// Bedrock's `InvokeModelWithResponseStream` is
    /// ([`EventStreamFramer::invoke_model_chunks`], [`WireFormat::AnthropicMessages`]).
    pub fn with_framer(
        framer: Box<dyn Framer>,
        from: WireFormat,
        to: WireFormat,
        mut options: EncoderOptions,
    ) -> StreamTranslator {
        if let Some(id) = &options.own_id {
            options.fallback_id.clone_from(id);
        }
        StreamTranslator {
            framer,
            decoder: decoder(from),
            own_id: options.own_id.clone(),
            encoder: encoder(to, options),
            events: Vec::new(),
            progress: StreamProgress::default(),
        }
    }

    /// Feeds the provider's next bytes; returns the client bytes for every event they complete.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for frame in self.framer.push(chunk) {
            self.decoder.decode(&frame, &mut self.events);
            self.flush(&mut out);
        }
        out
    }

    /// The provider closed the stream: the client bytes a proper end still owes.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        for frame in self.framer.finish() {
            self.decoder.decode(&frame, &mut self.events);
        }
        self.decoder.finish(&mut self.events);
        self.flush(&mut out);
        out
    }

    fn flush(&mut self, out: &mut Vec<u8>) {
        for mut event in self.events.drain(..) {
            if let (StreamEvent::Start { id, .. }, Some(own)) = (&mut event, &self.own_id) {
                *id = Some(own.clone());
            }
            match &event {
                StreamEvent::Start { usage, .. } | StreamEvent::Usage { usage } => {
                    self.progress.usage = self.progress.usage.updated(*usage);
                }
                StreamEvent::Error { .. } => self.progress.upstream_error = true,
                StreamEvent::End => self.progress.completed = true,
                _ => {}
            }
            self.encoder.encode(&event, out);
        }
    }
}

impl StreamRewrite for StreamTranslator {
    fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        StreamTranslator::push(self, chunk)
    }

    fn finish(&mut self) -> Vec<u8> {
        StreamTranslator::finish(self)
    }

    fn progress(&self) -> StreamProgress {
        self.progress
    }

    fn pending_bytes(&self) -> usize {
        self.framer.pending_bytes()
    }
}

/// One server-sent event as a stream encoder writes it: `event: <name>` when it has a name,
/// then `data: ` and the data as compact JSON, each line ended by `newline`, then a blank line.
fn write_sse_event(out: &mut Vec<u8>, name: Option<&str>, data: &Value, newline: &str) {
    if let Some(name) = name {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(newline.as_bytes());
    }
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(data.to_string().as_bytes());
    out.extend_from_slice(newline.as_bytes());
    out.extend_from_slice(newline.as_bytes());
}

/// Adds a message's rendered `items` to `turns` for formats that demand alternating roles: into
/// the last turn when it has the same `role`, else as a new turn; a message that rendered to
/// nothing is left out.
fn push_turn<T>(turns: &mut Vec<(Role, Vec<T>)>, role: Role, items: Vec<T>) {
    if items.is_empty() {
        return;
    }
    match turns.last_mut() {
        Some((last, existing)) if *last == role => existing.extend(items),
        _ => turns.push((role, items)),
    }
}

/// Input plus output tokens, a count not reported taken as 0; `None` when neither is known,
/// for formats that then write no usage at all (made-up zeros would be a lie in the client's
/// accounting).
fn total_tokens(usage: Usage) -> Option<u64> {
    if usage.input_tokens.is_none() && usage.output_tokens.is_none() {
        return None;
    }
    Some(
        usage
            .input_tokens
            .unwrap_or(0)
            .saturating_add(usage.output_tokens.unwrap_or(0)),
    )
}

/// Random JSON shaped like the format's bodies, for property tests that no input panics.
#[cfg(test)]
pub(crate) mod arbitrary {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    /// JSON whose object keys come from `keys` and whose strings are often from `strings`, so
    /// that random values get past the first checks.
    pub(crate) fn json_with(
        keys: &[&'static str],
        strings: &[&'static str],
    ) -> impl Strategy<Value = Value> + use<> {
        let keys = prop::sample::select(keys.to_vec());
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (0u64..5).prop_map(Value::from),
            any::<f64>().prop_map(|f| json!(f)),
            prop::sample::select(strings.to_vec()).prop_map(Value::from),
            ".*".prop_map(Value::from),
        ];
        leaf.prop_recursive(5, 64, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((keys.clone(), inner), 0..6).prop_map(|pairs| {
                    Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
                }),
            ]
        })
    }
}
