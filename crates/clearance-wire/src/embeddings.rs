//! Embeddings: OpenAI's `POST /v1/embeddings` read into a neutral [`EmbedRequest`], written
//! for each provider's embeddings API, and the provider's answer read into a neutral
//! [`EmbedResponse`] and written back in OpenAI's shape.
//!
//! How the gateway uses it, for one model on one provider:
//! 1. [`parse_request`] the client's body (400 on [`EmbedError`]).
//! 2. Pick the [`EmbedTarget`] from the provider kind (`clearance_upstream::embed_target`,
//!    which refuses kinds without an embeddings API).
//! 3. [`render_request`]: the bodies to send, **one upstream call per body, in order**. OpenAI
//!    and Azure take every input in one call; Gemini's `batchEmbedContents` up to
//!    [`GEMINI_BATCH_LIMIT`] per call; Cohere Embed on Bedrock up to [`COHERE_BATCH_LIMIT`]
//!    per call; Amazon Titan on Bedrock one input per call ([`bedrock_titan_bodies`]).
//! 4. [`parse_response`] each answer (a Bedrock answer's token count may also come from its
//!    `x-amzn-bedrock-input-token-count` header: [`EmbedResponse::or_input_tokens`]), then
//!    [`merge`] them in the order the bodies were sent.
//! 5. [`check_answer`]: one vector per input, each of the model's configured length
//!    ([`check_dimensions`] alone for the length).
//! 6. [`render_response`] in the client's `encoding_format`, under the client's model name.
//!
//! What is refused, each naming the field: token-array `input`s for any target but OpenAI
//! (Azure included), which alone reads token ids; `dimensions` a model family does not take
//! (Titan G1, Cohere Embed v3) or a length it does not offer (Titan V2: 256, 512, 1024; Titan
//! Multimodal: 256, 384, 1024; Cohere Embed v4: 256, 512, 1024, 1536); any field that is not an
//! OpenAI embeddings field, for targets that would have to drop it. `user` (an end-user id for
//! abuse monitoring) changes no vector, so it is dropped for targets without one.
//!
//! Answers without a token count (Gemini; Cohere, whose count is only in a header) are written
//! with `usage` 0: OpenAI's SDKs require the object, and 0 is what an unknown count reads as.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Number, Value, json};

/// OpenAI's cap on inputs per request (its API refuses more).
pub const MAX_INPUTS: usize = 2048;
/// Gemini `batchEmbedContents`: at most this many requests in one batch.
pub const GEMINI_BATCH_LIMIT: usize = 100;
/// Cohere Embed on Bedrock: at most this many texts per call.
pub const COHERE_BATCH_LIMIT: usize = 96;
/// Cohere Embed models need an input type; an OpenAI request has none, so the texts are taken
/// as documents (what is stored and searched), the common case of an embeddings call.
pub const COHERE_INPUT_TYPE: &str = "search_document";

/// The fields of an OpenAI embeddings request.
const REQUEST_FIELDS: &[&str] = &["model", "input", "encoding_format", "dimensions", "user"];

/// Why a request cannot be sent or an answer cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmbedError {
    /// The request is not a valid OpenAI embeddings request (400).
    #[error("`{field}`: {why}")]
    Invalid { field: String, why: String },
    /// The request is valid but the target cannot take this field or value (400).
    #[error("`{field}` cannot be sent to a model served through {target}: {why}")]
    Unsupported {
        field: String,
        target: &'static str,
        why: String,
    },
    /// The provider (its kind, or on Bedrock the model's family) has no embeddings API this
    /// gateway speaks (400: the model is misconfigured, not the request).
    #[error("{what} has no embeddings API the gateway can call")]
    NotSupported { what: String },
    /// The provider's answer is not an embeddings answer of its API (502).
    #[error("the provider's embeddings answer cannot be read: {why}")]
    BadAnswer { why: String },
    /// A vector of another length than the model is configured for (502).
    #[error(
        "the provider answered a vector of {got} dimensions for input {index}; the model is configured for {expected}"
    )]
    Dimensions {
        index: usize,
        expected: u32,
        got: usize,
    },
    /// Not one vector per input (502).
    #[error("the provider answered {got} vectors for {expected} inputs")]
    Count { expected: usize, got: usize },
}

impl EmbedError {
    fn invalid(field: impl Into<String>, why: impl Into<String>) -> EmbedError {
        EmbedError::Invalid {
            field: field.into(),
            why: why.into(),
        }
    }

    fn unsupported(
        field: impl Into<String>,
        target: EmbedTarget,
        why: impl Into<String>,
    ) -> EmbedError {
        EmbedError::Unsupported {
            field: field.into(),
            target: target.title(),
            why: why.into(),
        }
    }

    fn bad_answer(why: impl Into<String>) -> EmbedError {
        EmbedError::BadAnswer { why: why.into() }
    }

    /// The request field the error is about (OpenAI's error `param`), if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            EmbedError::Invalid { field, .. } | EmbedError::Unsupported { field, .. } => {
                Some(field)
            }
            _ => None,
        }
    }

    /// Whether the request (or the model's configuration) is at fault, so the answer is a 400
    /// and another provider would not do better; otherwise the provider's answer is (502).
    pub fn is_request_error(&self) -> bool {
        matches!(
            self,
            EmbedError::Invalid { .. }
                | EmbedError::Unsupported { .. }
                | EmbedError::NotSupported { .. }
        )
    }
}

/// How the client wants its vectors written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncodingFormat {
    /// JSON arrays of numbers.
    #[default]
    Float,
    /// Base64 of the vector's little-endian `f32` bytes, as OpenAI writes it.
    Base64,
}

/// What is to be embedded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmbedInputs {
    Texts(Vec<String>),
    /// Token ids (OpenAI's tokenizer): only OpenAI-format targets read them.
    Tokens(Vec<Vec<u32>>),
}

/// An embeddings request, neutral: what every target needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedRequest {
    /// The client's model name.
    pub model: String,
    pub inputs: EmbedInputs,
    pub encoding_format: EncodingFormat,
    /// The vector length asked for.
    pub dimensions: Option<u32>,
    pub user: Option<String>,
    /// Fields that are not OpenAI embeddings fields (passed through to OpenAI-format targets,
    /// refused for the others).
    pub other_fields: Vec<String>,
}

impl EmbedRequest {
    /// How many vectors the answer must hold.
    pub fn input_count(&self) -> usize {
        match &self.inputs {
            EmbedInputs::Texts(texts) => texts.len(),
            EmbedInputs::Tokens(tokens) => tokens.len(),
        }
    }

    /// The texts, for a target that reads only text.
    fn texts(&self, target: EmbedTarget) -> Result<&[String], EmbedError> {
        match &self.inputs {
            EmbedInputs::Texts(texts) => Ok(texts),
            EmbedInputs::Tokens(_) => Err(EmbedError::unsupported(
                "input",
                target,
                "token arrays are ids of OpenAI's tokenizer, which only OpenAI-format \
                 embeddings APIs read; send the text instead",
            )),
        }
    }
}

/// An embeddings answer, neutral: one vector per input, in input order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EmbedResponse {
    pub vectors: Vec<Vec<f32>>,
    /// The input tokens the provider counted, when it says.
    pub input_tokens: Option<u64>,
}

impl EmbedResponse {
    /// This answer with `tokens` as its input token count when its body gave none (Bedrock
    /// reports the count in the `x-amzn-bedrock-input-token-count` header of every
    /// `InvokeModel` answer).
    pub fn or_input_tokens(mut self, tokens: Option<u64>) -> EmbedResponse {
        self.input_tokens = self.input_tokens.or(tokens);
        self
    }
}

/// Which embeddings API a body is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbedTarget {
    /// OpenAI `POST /embeddings`, and Azure OpenAI's deployment `.../embeddings`: the client's
    /// body with the model swapped.
    Openai,
    /// Gemini `POST /v1beta/models/{id}:batchEmbedContents`.
    Gemini,
    /// Amazon Titan Text Embeddings (V2, G1) and Titan Multimodal Embeddings (text only) over
    /// Bedrock `InvokeModel`: one input per call.
    BedrockTitan,
    /// Cohere Embed (v3, v4) over Bedrock `InvokeModel`: up to [`COHERE_BATCH_LIMIT`] inputs
    /// per call.
    BedrockCohere,
}

impl EmbedTarget {
    /// The embeddings API of a Bedrock model, from its id's family: `amazon.titan-embed-*` and
    /// `cohere.embed-*`, also behind an inference profile prefix (`us.cohere.embed-v4:0`) or
    /// at the end of an ARN. `None` for any other family.
    pub fn for_bedrock_model(model_id: &str) -> Option<EmbedTarget> {
        let name = model_id.rsplit('/').next().unwrap_or(model_id);
        let family = |name: &str| {
            if name.starts_with("amazon.titan-embed") {
                Some(EmbedTarget::BedrockTitan)
            } else if name.starts_with("cohere.embed") {
                Some(EmbedTarget::BedrockCohere)
            } else {
                None
            }
        };
        family(name).or_else(|| name.split_once('.').and_then(|(_, rest)| family(rest)))
    }

    /// How errors name the target.
    pub fn title(self) -> &'static str {
        match self {
            EmbedTarget::Openai => "OpenAI embeddings",
            EmbedTarget::Gemini => "Gemini batchEmbedContents",
            EmbedTarget::BedrockTitan => "Amazon Titan Embeddings on Bedrock",
            EmbedTarget::BedrockCohere => "Cohere Embed on Bedrock",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// Reads an OpenAI embeddings request body: `model` and `input` required; `input` a string, an
/// array of strings, an array of token ids or an array of token-id arrays (never empty, no
/// empty string, at most [`MAX_INPUTS`]); `encoding_format` `"float"` or `"base64"`;
/// `dimensions` a positive integer; `user` a string. Unknown fields are kept by name in
/// [`EmbedRequest::other_fields`].
pub fn parse_request(body: &Value) -> Result<EmbedRequest, EmbedError> {
    let Value::Object(body) = body else {
        return Err(EmbedError::invalid("", "the body must be a JSON object"));
    };
    let model = match body.get("model") {
        Some(Value::String(model)) if !model.is_empty() => model.clone(),
        Some(Value::String(_)) => return Err(EmbedError::invalid("model", "must not be empty")),
        Some(_) => return Err(EmbedError::invalid("model", "expected a string")),
        None => return Err(EmbedError::invalid("model", "is required")),
    };
    let inputs = parse_inputs(body.get("input"))?;
    let encoding_format = match body.get("encoding_format") {
        None | Some(Value::Null) => EncodingFormat::Float,
        Some(Value::String(f)) if f == "float" => EncodingFormat::Float,
        Some(Value::String(f)) if f == "base64" => EncodingFormat::Base64,
        Some(other) => {
            return Err(EmbedError::invalid(
                "encoding_format",
                format!("expected \"float\" or \"base64\", not {other}"),
            ));
        }
    };
    let dimensions = match body.get("dimensions") {
        None | Some(Value::Null) => None,
        Some(value) => match value.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) if n > 0 => Some(n),
            _ => {
                return Err(EmbedError::invalid(
                    "dimensions",
                    format!("expected a positive integer, not {value}"),
                ));
            }
        },
    };
    let user = match body.get("user") {
        None | Some(Value::Null) => None,
        Some(Value::String(user)) => Some(user.clone()),
        Some(_) => return Err(EmbedError::invalid("user", "expected a string")),
    };
    let other_fields = body
        .keys()
        .filter(|key| !REQUEST_FIELDS.contains(&key.as_str()))
        .cloned()
        .collect();
    Ok(EmbedRequest {
        model,
        inputs,
        encoding_format,
        dimensions,
        user,
        other_fields,
    })
}

fn parse_inputs(input: Option<&Value>) -> Result<EmbedInputs, EmbedError> {
    const SHAPES: &str = "expected a string, an array of strings, an array of token ids or an array of arrays of token ids";
    let items = match input {
        None | Some(Value::Null) => return Err(EmbedError::invalid("input", "is required")),
        Some(Value::String(text)) => {
            return non_empty_text(text, "input").map(|t| EmbedInputs::Texts(vec![t]));
        }
        Some(Value::Array(items)) => items,
        Some(_) => return Err(EmbedError::invalid("input", SHAPES)),
    };
    let Some(first) = items.first() else {
        return Err(EmbedError::invalid("input", "must not be an empty array"));
    };
    if items.len() > MAX_INPUTS {
        return Err(EmbedError::invalid(
            "input",
            format!(
                "at most {MAX_INPUTS} inputs per request, not {}",
                items.len()
            ),
        ));
    }
    match first {
        Value::String(_) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(text) => non_empty_text(text, &format!("input[{i}]")),
                _ => Err(EmbedError::invalid(
                    format!("input[{i}]"),
                    "expected a string, as the first input is",
                )),
            })
            .collect::<Result<_, _>>()
            .map(EmbedInputs::Texts),
        // One token array: the items are token ids.
        Value::Number(_) => token_ids(items, "input").map(|ids| EmbedInputs::Tokens(vec![ids])),
        Value::Array(_) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let path = format!("input[{i}]");
                match item {
                    Value::Array(ids) if !ids.is_empty() => token_ids(ids, &path),
                    Value::Array(_) => Err(EmbedError::invalid(path, "must not be empty")),
                    _ => Err(EmbedError::invalid(
                        path,
                        "expected an array of token ids, as the first input is",
                    )),
                }
            })
            .collect::<Result<_, _>>()
            .map(EmbedInputs::Tokens),
        _ => Err(EmbedError::invalid("input[0]", SHAPES)),
    }
}

fn non_empty_text(text: &str, path: &str) -> Result<String, EmbedError> {
    if text.is_empty() {
        Err(EmbedError::invalid(path, "must not be an empty string"))
    } else {
        Ok(text.to_string())
    }
}

fn token_ids(items: &[Value], path: &str) -> Result<Vec<u32>, EmbedError> {
    items
        .iter()
        .enumerate()
        .map(|(j, id)| {
            id.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| {
                    EmbedError::invalid(
                        format!("{path}[{j}]"),
                        format!("expected a token id (a non-negative integer), not {id}"),
                    )
                })
        })
        .collect()
}

/// The bodies to send for `request` to `upstream_model` through `target`, one upstream call
/// each, in order (their answers are [`merge`]d in the same order). `client_body` is the
/// body [`parse_request`] read, passed on to OpenAI-format targets with only the model
/// swapped.
pub fn render_request(
    target: EmbedTarget,
    client_body: &Value,
    request: &EmbedRequest,
    upstream_model: &str,
) -> Result<Vec<Value>, EmbedError> {
    if target != EmbedTarget::Openai
        && let Some(field) = request.other_fields.first()
    {
        return Err(EmbedError::unsupported(
            field.as_str(),
            target,
            "it is not an OpenAI embeddings field, so it has no translation",
        ));
    }
    match target {
        EmbedTarget::Openai => Ok(vec![render_openai(client_body, upstream_model)]),
        EmbedTarget::Gemini => render_gemini(request, upstream_model),
        EmbedTarget::BedrockTitan => bedrock_titan_bodies(request, upstream_model),
        EmbedTarget::BedrockCohere => bedrock_cohere_bodies(request, upstream_model),
    }
}

/// OpenAI and Azure OpenAI: the client's body as it came (unknown fields kept, in order), its
/// `model` the provider's id (Azure reads the deployment from the URL and ignores it).
pub fn render_openai(client_body: &Value, upstream_model: &str) -> Value {
    let mut body = client_body.clone();
    if let Value::Object(fields) = &mut body {
        fields.insert("model".into(), Value::String(upstream_model.to_string()));
    }
    body
}

/// Gemini `batchEmbedContents` bodies, at most [`GEMINI_BATCH_LIMIT`] inputs each:
/// `{"requests": [{"model": "models/ID", "content": {"parts": [{"text": ...}]},
/// "outputDimensionality": N}]}`.
pub fn render_gemini(
    request: &EmbedRequest,
    upstream_model: &str,
) -> Result<Vec<Value>, EmbedError> {
    let texts = request.texts(EmbedTarget::Gemini)?;
    let model = format!("models/{}", upstream_model.trim_start_matches("models/"));
    Ok(texts
        .chunks(GEMINI_BATCH_LIMIT)
        .map(|chunk| {
            let requests: Vec<Value> = chunk
                .iter()
                .map(|text| {
                    let mut one = Map::new();
                    one.insert("model".into(), json!(model));
                    one.insert("content".into(), json!({"parts": [{"text": text}]}));
                    if let Some(n) = request.dimensions {
                        one.insert("outputDimensionality".into(), json!(n));
                    }
                    Value::Object(one)
                })
                .collect();
            json!({ "requests": requests })
        })
        .collect())
}

/// Amazon Titan bodies for Bedrock `InvokeModel`, **one per input** (Titan embeds one text per
/// call; the gateway makes one call per body and [`merge`]s the answers in order):
/// - Titan Text Embeddings V2 (`amazon.titan-embed-text-v2:0`): `{"inputText", "dimensions",
///   "normalize": true}` (OpenAI's vectors are normalized; `dimensions` only when asked, one
///   of 256, 512, 1024);
/// - Titan Multimodal Embeddings (`amazon.titan-embed-image-v1`), text only: `{"inputText",
///   "embeddingConfig": {"outputEmbeddingLength"}}` (256, 384, 1024);
/// - Titan Embeddings G1 - Text (`amazon.titan-embed-text-v1`, `amazon.titan-embed-g1-*`):
///   `{"inputText"}` only; `dimensions` is refused.
pub fn bedrock_titan_bodies(
    request: &EmbedRequest,
    model_id: &str,
) -> Result<Vec<Value>, EmbedError> {
    const TARGET: EmbedTarget = EmbedTarget::BedrockTitan;
    let texts = request.texts(TARGET)?;
    let shape = if model_id.contains("titan-embed-text-v2") {
        TitanShape::V2
    } else if model_id.contains("titan-embed-image") {
        TitanShape::Multimodal
    } else {
        TitanShape::G1
    };
    if let Some(n) = request.dimensions {
        let offered: &[u32] = match shape {
            TitanShape::V2 => &[256, 512, 1024],
            TitanShape::Multimodal => &[256, 384, 1024],
            TitanShape::G1 => &[],
        };
        check_offered(TARGET, model_id, n, offered)?;
    }
    Ok(texts
        .iter()
        .map(|text| match (shape, request.dimensions) {
            (TitanShape::V2, Some(n)) => {
                json!({"inputText": text, "dimensions": n, "normalize": true})
            }
            (TitanShape::V2, None) => json!({"inputText": text, "normalize": true}),
            (TitanShape::Multimodal, Some(n)) => {
                json!({"inputText": text, "embeddingConfig": {"outputEmbeddingLength": n}})
            }
            (TitanShape::Multimodal | TitanShape::G1, _) => json!({ "inputText": text }),
        })
        .collect())
}

#[derive(Debug, Clone, Copy)]
enum TitanShape {
    V2,
    Multimodal,
    G1,
}

/// Cohere Embed bodies for Bedrock `InvokeModel`, at most [`COHERE_BATCH_LIMIT`] texts each:
/// `{"texts": [...], "input_type": "search_document"}` ([`COHERE_INPUT_TYPE`]), with
/// `output_dimension` for Embed v4 (256, 512, 1024, 1536); Embed v3's length is fixed, so
/// `dimensions` is refused for it.
pub fn bedrock_cohere_bodies(
    request: &EmbedRequest,
    model_id: &str,
) -> Result<Vec<Value>, EmbedError> {
    const TARGET: EmbedTarget = EmbedTarget::BedrockCohere;
    let texts = request.texts(TARGET)?;
    let v4 = model_id.contains("embed-v4");
    if let Some(n) = request.dimensions {
        let offered: &[u32] = if v4 { &[256, 512, 1024, 1536] } else { &[] };
        check_offered(TARGET, model_id, n, offered)?;
    }
    Ok(texts
        .chunks(COHERE_BATCH_LIMIT)
        .map(|chunk| {
            let mut body = json!({"texts": chunk, "input_type": COHERE_INPUT_TYPE});
            if let Some(n) = request.dimensions {
                body["output_dimension"] = json!(n);
            }
            body
        })
        .collect())
}

fn check_offered(
    target: EmbedTarget,
    model_id: &str,
    asked: u32,
    offered: &[u32],
) -> Result<(), EmbedError> {
    if offered.contains(&asked) {
        return Ok(());
    }
    let why = if offered.is_empty() {
        format!("`{model_id}` has one vector length; leave `dimensions` out")
    } else {
        let lengths: Vec<String> = offered.iter().map(u32::to_string).collect();
        format!(
            "`{model_id}` offers vectors of {} dimensions, not {asked}",
            lengths.join(", ")
        )
    };
    Err(EmbedError::unsupported("dimensions", target, why))
}

// ---------------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------------

/// Reads one answer of `target` (the answer to one body of [`render_request`]):
/// - OpenAI: `{"data": [{"index", "embedding": [...] or "<base64>"}], "usage":
///   {"prompt_tokens"}}`, put in `index` order;
/// - Gemini: `{"embeddings": [{"values": [...]}]}` (no token count);
/// - Titan: `{"embedding": [...], "inputTextTokenCount": n}`;
/// - Cohere: `{"embeddings": [[...]]}`, or by type `{"embeddings": {"float": [[...]]}}` (no
///   token count in the body).
pub fn parse_response(target: EmbedTarget, body: &Value) -> Result<EmbedResponse, EmbedError> {
    match target {
        EmbedTarget::Openai => parse_openai(body),
        EmbedTarget::Gemini => {
            let embeddings = array_at(body, "embeddings")?;
            let vectors = embeddings
                .iter()
                .enumerate()
                .map(|(i, e)| float_vector(e.get("values"), &format!("embeddings[{i}].values")))
                .collect::<Result<_, _>>()?;
            Ok(EmbedResponse {
                vectors,
                input_tokens: None,
            })
        }
        EmbedTarget::BedrockTitan => {
            let vector = float_vector(body.get("embedding"), "embedding")?;
            Ok(EmbedResponse {
                vectors: vec![vector],
                input_tokens: body.get("inputTextTokenCount").and_then(Value::as_u64),
            })
        }
        EmbedTarget::BedrockCohere => {
            let embeddings = match body.get("embeddings") {
                Some(Value::Object(by_type)) => by_type.get("float").ok_or_else(|| {
                    EmbedError::bad_answer("`embeddings` holds no `float` vectors")
                })?,
                other => other.ok_or_else(|| EmbedError::bad_answer("no `embeddings`"))?,
            };
            let Value::Array(embeddings) = embeddings else {
                return Err(EmbedError::bad_answer("`embeddings` is not an array"));
            };
            let vectors = embeddings
                .iter()
                .enumerate()
                .map(|(i, e)| float_vector(Some(e), &format!("embeddings[{i}]")))
                .collect::<Result<_, _>>()?;
            Ok(EmbedResponse {
                vectors,
                input_tokens: None,
            })
        }
    }
}

fn parse_openai(body: &Value) -> Result<EmbedResponse, EmbedError> {
    let data = array_at(body, "data")?;
    let mut slots: Vec<Option<Vec<f32>>> = vec![None; data.len()];
    for (i, item) in data.iter().enumerate() {
        let path = format!("data[{i}]");
        let index = match item.get("index") {
            None => i,
            Some(index) => index
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .filter(|n| *n < data.len())
                .ok_or_else(|| {
                    EmbedError::bad_answer(format!("{path}.index is not an index of `data`"))
                })?,
        };
        let vector = match item.get("embedding") {
            Some(Value::String(encoded)) => decode_base64(encoded, &path)?,
            other => float_vector(other, &format!("{path}.embedding"))?,
        };
        let slot = &mut slots[index];
        if slot.is_some() {
            return Err(EmbedError::bad_answer(format!(
                "two vectors for index {index}"
            )));
        }
        *slot = Some(vector);
    }
    Ok(EmbedResponse {
        // Every slot is filled: `data.len()` distinct indexes below `data.len()`.
        vectors: slots.into_iter().flatten().collect(),
        input_tokens: body.pointer("/usage/prompt_tokens").and_then(Value::as_u64),
    })
}

fn array_at<'a>(body: &'a Value, field: &str) -> Result<&'a Vec<Value>, EmbedError> {
    match body.get(field) {
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(EmbedError::bad_answer(format!("`{field}` is not an array"))),
        None => Err(EmbedError::bad_answer(format!("no `{field}`"))),
    }
}

fn float_vector(value: Option<&Value>, path: &str) -> Result<Vec<f32>, EmbedError> {
    let Some(Value::Array(numbers)) = value else {
        return Err(EmbedError::bad_answer(format!(
            "`{path}` is not an array of numbers"
        )));
    };
    numbers
        .iter()
        .map(|n| {
            n.as_f64()
                .map(|x| x as f32)
                .filter(|x| x.is_finite())
                .ok_or_else(|| EmbedError::bad_answer(format!("`{path}` holds {n}, not a number")))
        })
        .collect()
}

fn decode_base64(encoded: &str, path: &str) -> Result<Vec<f32>, EmbedError> {
    let bytes = BASE64
        .decode(encoded)
        .map_err(|e| EmbedError::bad_answer(format!("`{path}.embedding` is not base64: {e}")))?;
    if bytes.len() % 4 != 0 {
        return Err(EmbedError::bad_answer(format!(
            "`{path}.embedding` holds {} bytes, not whole 32-bit floats",
            bytes.len()
        )));
    }
    bytes
        .chunks_exact(4)
        .map(|b| {
            let x = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            if x.is_finite() {
                Ok(x)
            } else {
                Err(EmbedError::bad_answer(format!(
                    "`{path}.embedding` holds a value that is not a finite number"
                )))
            }
        })
        .collect()
}

/// The answers to the bodies of one [`render_request`], in the order the bodies were sent, as
/// one answer: the vectors in that order, the token counts summed (unknown if any is).
pub fn merge(parts: Vec<EmbedResponse>) -> EmbedResponse {
    let mut merged = EmbedResponse {
        vectors: Vec::new(),
        input_tokens: Some(0),
    };
    for part in parts {
        merged.vectors.extend(part.vectors);
        merged.input_tokens = match (merged.input_tokens, part.input_tokens) {
            (Some(sum), Some(n)) => Some(sum.saturating_add(n)),
            _ => None,
        };
    }
    merged
}

/// Every vector is `expected` long (the model's configured `embedding_dimensions`); the first
/// that is not is the error. A client asking for other `dimensions` than configured is the
/// gateway's to refuse before the call.
pub fn check_dimensions(response: &EmbedResponse, expected: u32) -> Result<(), EmbedError> {
    for (index, vector) in response.vectors.iter().enumerate() {
        if u32::try_from(vector.len()).ok() != Some(expected) {
            return Err(EmbedError::Dimensions {
                index,
                expected,
                got: vector.len(),
            });
        }
    }
    Ok(())
}

/// One vector per input of `request`, each `expected` long.
pub fn check_answer(
    response: &EmbedResponse,
    request: &EmbedRequest,
    expected: u32,
) -> Result<(), EmbedError> {
    if response.vectors.len() != request.input_count() {
        return Err(EmbedError::Count {
            expected: request.input_count(),
            got: response.vectors.len(),
        });
    }
    check_dimensions(response, expected)
}

/// The answer in OpenAI's shape, under the client's model name: `{"object": "list", "data":
/// [{"object": "embedding", "index": i, "embedding": [...] or "<base64>"}], "model", "usage":
/// {"prompt_tokens": n, "total_tokens": n}}` (`usage` 0 when the provider gave no count).
pub fn render_response(
    response: &EmbedResponse,
    encoding: EncodingFormat,
    client_model: &str,
) -> Value {
    let data: Vec<Value> = response
        .vectors
        .iter()
        .enumerate()
        .map(|(index, vector)| {
            let embedding = match encoding {
                EncodingFormat::Float => {
                    Value::Array(vector.iter().map(|x| float_json(*x)).collect())
                }
                EncodingFormat::Base64 => Value::String(encode_base64(vector)),
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    let tokens = response.input_tokens.unwrap_or(0);
    json!({
        "object": "list",
        "data": data,
        "model": client_model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    })
}

/// An `f32` as the shortest decimal that reads back as it (`0.1`, not `0.10000000149011612`).
fn float_json(x: f32) -> Value {
    let shortest = x.to_string().parse::<f64>().unwrap_or(f64::from(x));
    Number::from_f64(shortest).map_or(Value::Null, Value::Number)
}

/// Base64 of the vector's little-endian `f32` bytes, as OpenAI writes `encoding_format:
/// "base64"`.
pub fn encode_base64(vector: &[f32]) -> String {
    let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
    BASE64.encode(bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn texts(request: &EmbedRequest) -> Vec<String> {
        match &request.inputs {
            EmbedInputs::Texts(t) => t.clone(),
            EmbedInputs::Tokens(_) => panic!("expected texts"),
        }
    }

    fn request(body: Value) -> EmbedRequest {
        parse_request(&body).unwrap()
    }

    // --- requests ------------------------------------------------------------------------

    /// platform.openai.com/docs/api-reference/embeddings/create, the example request.
    #[test]
    fn reads_the_reference_request() {
        let body = json!({
            "input": "The food was delicious and the waiter...",
            "model": "text-embedding-ada-002",
            "encoding_format": "float"
        });
        let r = request(body);
        assert_eq!(r.model, "text-embedding-ada-002");
        assert_eq!(texts(&r), ["The food was delicious and the waiter..."]);
        assert_eq!(r.encoding_format, EncodingFormat::Float);
        assert_eq!(r.dimensions, None);
        assert!(r.other_fields.is_empty());
    }

    #[test]
    fn reads_every_input_shape() {
        let r = request(
            json!({"model": "m", "input": ["a", "b c"], "dimensions": 256,
            "encoding_format": "base64", "user": "u-1"}),
        );
        assert_eq!(texts(&r), ["a", "b c"]);
        assert_eq!(r.dimensions, Some(256));
        assert_eq!(r.encoding_format, EncodingFormat::Base64);
        assert_eq!(r.user.as_deref(), Some("u-1"));
        let r = request(json!({"model": "m", "input": [1212, 318, 257]}));
        assert_eq!(r.inputs, EmbedInputs::Tokens(vec![vec![1212, 318, 257]]));
        assert_eq!(r.input_count(), 1);
        let r = request(json!({"model": "m", "input": [[1, 2], [3]]}));
        assert_eq!(r.inputs, EmbedInputs::Tokens(vec![vec![1, 2], vec![3]]));
        assert_eq!(r.input_count(), 2);
    }

    #[test]
    fn refuses_bad_requests_naming_the_field() {
        let cases = [
            (json!([1]), ""),
            (json!({"input": "x"}), "model"),
            (json!({"model": 3, "input": "x"}), "model"),
            (json!({"model": "m"}), "input"),
            (json!({"model": "m", "input": ""}), "input"),
            (json!({"model": "m", "input": []}), "input"),
            (json!({"model": "m", "input": {"text": "x"}}), "input"),
            (json!({"model": "m", "input": ["a", ""]}), "input[1]"),
            (json!({"model": "m", "input": ["a", 3]}), "input[1]"),
            (json!({"model": "m", "input": [1, -2]}), "input[1]"),
            (json!({"model": "m", "input": [[1], []]}), "input[1]"),
            (json!({"model": "m", "input": [[1], [1.5]]}), "input[1][0]"),
            (json!({"model": "m", "input": [true]}), "input[0]"),
            (
                json!({"model": "m", "input": "x", "encoding_format": "int8"}),
                "encoding_format",
            ),
            (
                json!({"model": "m", "input": "x", "dimensions": 0}),
                "dimensions",
            ),
            (
                json!({"model": "m", "input": "x", "dimensions": "8"}),
                "dimensions",
            ),
            (json!({"model": "m", "input": "x", "user": 5}), "user"),
        ];
        for (body, field) in cases {
            let error = parse_request(&body).unwrap_err();
            assert_eq!(error.field(), Some(field), "{body}: {error}");
            assert!(error.is_request_error());
        }
        let many: Vec<String> = (0..=MAX_INPUTS).map(|i| i.to_string()).collect();
        let error = parse_request(&json!({"model": "m", "input": many})).unwrap_err();
        assert!(error.to_string().contains("2048"), "{error}");
    }

    #[test]
    fn openai_bodies_pass_through_with_the_model_swapped() {
        let body = json!({"model": "embed", "input": [[1, 2]], "dimensions": 64, "extra": true});
        let r = request(body.clone());
        assert_eq!(r.other_fields, ["extra"]);
        let bodies =
            render_request(EmbedTarget::Openai, &body, &r, "text-embedding-3-small").unwrap();
        assert_eq!(
            bodies,
            [
                json!({"model": "text-embedding-3-small", "input": [[1, 2]], "dimensions": 64, "extra": true})
            ]
        );
    }

    /// ai.google.dev/api/embeddings#method:-models.batchembedcontents, the request shape.
    #[test]
    fn gemini_batches_with_the_model_in_every_request() {
        let r = request(
            json!({"model": "embed", "input": ["What is the meaning of life?",
            "How much wood would a woodchuck chuck?"], "dimensions": 768, "user": "dropped"}),
        );
        let bodies =
            render_request(EmbedTarget::Gemini, &json!({}), &r, "gemini-embedding-001").unwrap();
        assert_eq!(
            bodies,
            [json!({"requests": [
                {"model": "models/gemini-embedding-001",
                 "content": {"parts": [{"text": "What is the meaning of life?"}]},
                 "outputDimensionality": 768},
                {"model": "models/gemini-embedding-001",
                 "content": {"parts": [{"text": "How much wood would a woodchuck chuck?"}]},
                 "outputDimensionality": 768},
            ]})]
        );
        let many: Vec<String> = (0..GEMINI_BATCH_LIMIT + 1)
            .map(|i| format!("t{i}"))
            .collect();
        let r = request(json!({"model": "e", "input": many}));
        let bodies = render_gemini(&r, "models/text-embedding-004").unwrap();
        assert_eq!(bodies.len(), 2);
        assert_eq!(
            bodies[0]["requests"].as_array().unwrap().len(),
            GEMINI_BATCH_LIMIT
        );
        assert_eq!(
            bodies[1]["requests"][0]["content"]["parts"][0]["text"],
            "t100"
        );
        assert_eq!(
            bodies[1]["requests"][0]["model"],
            "models/text-embedding-004"
        );
        assert!(
            bodies[1]["requests"][0]
                .get("outputDimensionality")
                .is_none()
        );
    }

    /// docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-titan-embed-text.html
    #[test]
    fn titan_takes_one_input_per_call() {
        let r = request(json!({"model": "e", "input": ["one", "two"], "dimensions": 512}));
        let bodies = render_request(
            EmbedTarget::BedrockTitan,
            &json!({}),
            &r,
            "amazon.titan-embed-text-v2:0",
        )
        .unwrap();
        assert_eq!(
            bodies,
            [
                json!({"inputText": "one", "dimensions": 512, "normalize": true}),
                json!({"inputText": "two", "dimensions": 512, "normalize": true}),
            ]
        );
        let r = request(json!({"model": "e", "input": "x"}));
        assert_eq!(
            bedrock_titan_bodies(&r, "amazon.titan-embed-text-v2:0").unwrap(),
            [json!({"inputText": "x", "normalize": true})]
        );
        assert_eq!(
            bedrock_titan_bodies(&r, "amazon.titan-embed-text-v1").unwrap(),
            [json!({"inputText": "x"})]
        );
        let r = request(json!({"model": "e", "input": "x", "dimensions": 384}));
        assert_eq!(
            bedrock_titan_bodies(&r, "amazon.titan-embed-image-v1").unwrap(),
            [json!({"inputText": "x", "embeddingConfig": {"outputEmbeddingLength": 384}})]
        );
    }

    #[test]
    fn lengths_a_model_does_not_offer_are_refused() {
        let asks = |n: u32| request(json!({"model": "e", "input": "x", "dimensions": n}));
        let error = bedrock_titan_bodies(&asks(1536), "amazon.titan-embed-text-v2:0").unwrap_err();
        assert_eq!(error.field(), Some("dimensions"));
        assert!(error.to_string().contains("256, 512, 1024"), "{error}");
        let error = bedrock_titan_bodies(&asks(1536), "amazon.titan-embed-text-v1").unwrap_err();
        assert!(
            error.to_string().contains("leave `dimensions` out"),
            "{error}"
        );
        let error = bedrock_cohere_bodies(&asks(1024), "cohere.embed-english-v3").unwrap_err();
        assert_eq!(error.field(), Some("dimensions"));
        let body = bedrock_cohere_bodies(&asks(1536), "us.cohere.embed-v4:0").unwrap();
        assert_eq!(body[0]["output_dimension"], 1536);
        assert!(bedrock_cohere_bodies(&asks(100), "cohere.embed-v4:0").is_err());
    }

    /// docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-embed.html
    #[test]
    fn cohere_batches_texts_as_documents() {
        let r = request(json!({"model": "e", "input": ["hello", "world"]}));
        let bodies = render_request(
            EmbedTarget::BedrockCohere,
            &json!({}),
            &r,
            "cohere.embed-english-v3",
        )
        .unwrap();
        assert_eq!(
            bodies,
            [json!({"texts": ["hello", "world"], "input_type": "search_document"})]
        );
        let many: Vec<String> = (0..200).map(|i| format!("t{i}")).collect();
        let r = request(json!({"model": "e", "input": many}));
        let bodies = bedrock_cohere_bodies(&r, "cohere.embed-multilingual-v3").unwrap();
        let sizes: Vec<usize> = bodies
            .iter()
            .map(|b| b["texts"].as_array().unwrap().len())
            .collect();
        assert_eq!(sizes, [96, 96, 8]);
        assert_eq!(bodies[2]["texts"][0], "t192");
    }

    #[test]
    fn token_arrays_and_unknown_fields_reach_only_openai() {
        let tokens = request(json!({"model": "e", "input": [[1, 2]]}));
        for target in [
            EmbedTarget::Gemini,
            EmbedTarget::BedrockTitan,
            EmbedTarget::BedrockCohere,
        ] {
            let error = render_request(target, &json!({}), &tokens, "m").unwrap_err();
            assert_eq!(error.field(), Some("input"), "{target:?}");
            assert!(error.to_string().contains(target.title()), "{error}");
            assert!(error.to_string().contains("token"), "{error}");
        }
        let extra = request(json!({"model": "e", "input": "x", "input_type": "query"}));
        let error = render_request(EmbedTarget::Gemini, &json!({}), &extra, "m").unwrap_err();
        assert_eq!(error.field(), Some("input_type"));
        assert!(render_request(EmbedTarget::Openai, &json!({}), &extra, "m").is_ok());
    }

    #[test]
    fn bedrock_families_by_model_id() {
        let cases = [
            (
                "amazon.titan-embed-text-v2:0",
                Some(EmbedTarget::BedrockTitan),
            ),
            (
                "amazon.titan-embed-image-v1",
                Some(EmbedTarget::BedrockTitan),
            ),
            ("cohere.embed-english-v3", Some(EmbedTarget::BedrockCohere)),
            ("us.cohere.embed-v4:0", Some(EmbedTarget::BedrockCohere)),
            (
                "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v1",
                Some(EmbedTarget::BedrockTitan),
            ),
            ("amazon.titan-text-express-v1", None),
            ("anthropic.claude-3-haiku-20240307-v1:0", None),
            ("cohere.command-r-v1:0", None),
        ];
        for (id, target) in cases {
            assert_eq!(EmbedTarget::for_bedrock_model(id), target, "{id}");
        }
    }

    // --- answers -------------------------------------------------------------------------

    /// The reference answer of OpenAI's create-embeddings page.
    #[test]
    fn reads_the_openai_reference_answer() {
        let body = json!({
            "object": "list",
            "data": [{"object": "embedding", "embedding": [0.0023064255, -0.009327292, -0.0028842222], "index": 0}],
            "model": "text-embedding-ada-002",
            "usage": {"prompt_tokens": 8, "total_tokens": 8}
        });
        let r = parse_response(EmbedTarget::Openai, &body).unwrap();
        assert_eq!(
            r.vectors,
            [vec![0.0023064255f32, -0.009327292, -0.0028842222]]
        );
        assert_eq!(r.input_tokens, Some(8));
    }

    #[test]
    fn openai_answers_are_put_in_index_order_and_base64_is_read() {
        let b64 = encode_base64(&[1.5, -2.0]);
        let body = json!({"data": [
            {"index": 1, "embedding": [3.0]},
            {"index": 0, "embedding": b64},
        ], "usage": {"prompt_tokens": 2}});
        let r = parse_response(EmbedTarget::Openai, &body).unwrap();
        assert_eq!(r.vectors, [vec![1.5, -2.0], vec![3.0]]);
        for bad in [
            json!({"data": [{"index": 0, "embedding": [1.0]}, {"index": 0, "embedding": [2.0]}]}),
            json!({"data": [{"index": 5, "embedding": [1.0]}]}),
            json!({"data": [{"index": 0, "embedding": "AAA"}]}),
            json!({"data": [{"index": 0, "embedding": ["x"]}]}),
            json!({"data": {}}),
            json!({"error": {"message": "no"}}),
        ] {
            let error = parse_response(EmbedTarget::Openai, &bad).unwrap_err();
            assert!(!error.is_request_error(), "{bad}");
        }
    }

    /// ai.google.dev/api/embeddings: `BatchEmbedContentsResponse`.
    #[test]
    fn reads_gemini_titan_and_cohere_answers() {
        let gemini = json!({"embeddings": [{"values": [0.1, 0.2]}, {"values": [0.3, 0.4]}]});
        let r = parse_response(EmbedTarget::Gemini, &gemini).unwrap();
        assert_eq!(r.vectors, [vec![0.1, 0.2], vec![0.3, 0.4]]);
        assert_eq!(r.input_tokens, None);

        let titan = json!({"embedding": [0.5, -0.5], "inputTextTokenCount": 4,
            "embeddingsByType": {"float": [0.5, -0.5]}});
        let r = parse_response(EmbedTarget::BedrockTitan, &titan).unwrap();
        assert_eq!(r.vectors, [vec![0.5, -0.5]]);
        assert_eq!(r.input_tokens, Some(4));

        let cohere = json!({"embeddings": [[0.25], [0.75]], "id": "x",
            "response_type": "embeddings_floats", "texts": ["a", "b"]});
        let r = parse_response(EmbedTarget::BedrockCohere, &cohere).unwrap();
        assert_eq!(r.vectors, [vec![0.25], vec![0.75]]);
        assert_eq!(r.clone().or_input_tokens(Some(7)).input_tokens, Some(7));
        let by_type =
            json!({"embeddings": {"float": [[0.25]]}, "response_type": "embeddings_by_type"});
        let r = parse_response(EmbedTarget::BedrockCohere, &by_type).unwrap();
        assert_eq!(r.vectors, [vec![0.25]]);
        let int8 = json!({"embeddings": {"int8": [[1]]}});
        assert!(parse_response(EmbedTarget::BedrockCohere, &int8).is_err());
        assert!(parse_response(EmbedTarget::BedrockTitan, &json!({"message": "x"})).is_err());
    }

    #[test]
    fn merging_keeps_order_and_sums_known_tokens() {
        let part = |v: f32, t: Option<u64>| EmbedResponse {
            vectors: vec![vec![v]],
            input_tokens: t,
        };
        let merged = merge(vec![part(1.0, Some(3)), part(2.0, Some(4))]);
        assert_eq!(merged.vectors, [vec![1.0], vec![2.0]]);
        assert_eq!(merged.input_tokens, Some(7));
        let merged = merge(vec![part(1.0, Some(3)), part(2.0, None)]);
        assert_eq!(merged.input_tokens, None);
    }

    #[test]
    fn checks_lengths_and_counts() {
        let r = request(json!({"model": "e", "input": ["a", "b"]}));
        let answer = EmbedResponse {
            vectors: vec![vec![0.0; 4], vec![0.0; 3]],
            input_tokens: None,
        };
        assert_eq!(
            check_dimensions(&answer, 4),
            Err(EmbedError::Dimensions {
                index: 1,
                expected: 4,
                got: 3
            })
        );
        let good = EmbedResponse {
            vectors: vec![vec![0.0; 4], vec![0.0; 4]],
            input_tokens: None,
        };
        assert_eq!(check_answer(&good, &r, 4), Ok(()));
        let short = EmbedResponse {
            vectors: vec![vec![0.0; 4]],
            input_tokens: None,
        };
        assert_eq!(
            check_answer(&short, &r, 4),
            Err(EmbedError::Count {
                expected: 2,
                got: 1
            })
        );
    }

    #[test]
    fn renders_openai_answers_in_both_encodings() {
        let answer = EmbedResponse {
            vectors: vec![vec![0.1, -1.0], vec![0.5, 2.0]],
            input_tokens: Some(6),
        };
        let body = render_response(&answer, EncodingFormat::Float, "my-embed");
        assert_eq!(
            body,
            json!({
                "object": "list",
                "data": [
                    {"object": "embedding", "index": 0, "embedding": [0.1, -1.0]},
                    {"object": "embedding", "index": 1, "embedding": [0.5, 2.0]},
                ],
                "model": "my-embed",
                "usage": {"prompt_tokens": 6, "total_tokens": 6},
            })
        );
        let body = render_response(&answer, EncodingFormat::Base64, "my-embed");
        // 0.1f32 = 0x3dcccccd, -1.0f32 = 0xbf800000, little-endian.
        let bytes = BASE64
            .decode(body["data"][0]["embedding"].as_str().unwrap())
            .unwrap();
        assert_eq!(bytes, [0xcd, 0xcc, 0xcc, 0x3d, 0x00, 0x00, 0x80, 0xbf]);
        // What OpenAI's base64 reads back as.
        let again = parse_response(EmbedTarget::Openai, &body).unwrap();
        assert_eq!(again.vectors, answer.vectors);
        let unknown = EmbedResponse {
            vectors: vec![vec![1.0]],
            input_tokens: None,
        };
        let body = render_response(&unknown, EncodingFormat::Float, "m");
        assert_eq!(
            body["usage"],
            json!({"prompt_tokens": 0, "total_tokens": 0})
        );
    }
}
