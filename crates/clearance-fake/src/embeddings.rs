//! Embeddings in each provider's wire format:
//!
//! - OpenAI `POST /v1/embeddings` and Azure OpenAI
//!   `POST /openai/deployments/DEPLOYMENT/embeddings?api-version=V`: `input` a string, strings,
//!   token ids or arrays of token ids; `encoding_format` `float` or `base64` (little-endian
//!   `f32` bytes); the answer `{"object": "list", "data": [{"object": "embedding", "index",
//!   "embedding"}], "model", "usage": {"prompt_tokens", "total_tokens"}}`;
//! - Gemini `POST /v1beta/models/MODEL:batchEmbedContents` ([`gemini`], reached through
//!   [`crate::gemini`]): `{"requests": [{"model": "models/MODEL", "content": {"parts":
//!   [{"text"}]}, "outputDimensionality"}]}`, every request naming the URL's model, answered
//!   `{"embeddings": [{"values"}]}`;
//! - Bedrock `InvokeModel` for `amazon.titan-embed-*` (`{"inputText", "dimensions",
//!   "normalize"}` or `embeddingConfig.outputEmbeddingLength`, answered `{"embedding",
//!   "inputTextTokenCount", "embeddingsByType"}`) and `cohere.embed-*` (`{"texts",
//!   "input_type", "output_dimension", "embedding_types"}`, answered `{"embeddings": [[...]],
//!   "id", "response_type": "embeddings_floats", "texts"}`, or by type with
//!   `embedding_types`) ([`bedrock`], reached through [`crate::bedrock`]), with the token count
//!   in `x-amzn-bedrock-input-token-count` as Bedrock sends it.
//!
//! The vectors are deterministic: each is derived from a hash of its text (or of its token
//! ids), so the same input always gets the same vector, different inputs different ones, and
//! every vector has length 1, as OpenAI's have. Their length is the one the request asks for
//! (`dimensions`, `outputDimensionality`, `output_dimension`, `outputEmbeddingLength`), else
//! [`default_dimensions`] of the model id: 1536 for ids containing `small`, 3072 for `large`,
//! 1024 otherwise. An input counts as its whitespace-separated words plus
//! [`TOKENS_PER_INPUT`] tokens.
//!
//! Behaviors apply as to the chat routes, keyed by the model (the Azure deployment, the URL's
//! Gemini model, the decoded Bedrock id): `status`, `delay_ms`, `refuse_connection`,
//! `fail_times`, the broken answers of a whole answer and `byte_interval_ms`.

use axum::Json;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::azure;
use crate::connection::{ConnectionKiller, refuse};
use crate::errors::{Api, GeminiError, OpenAiError, behavior_error, error_response};
use crate::errors::{insert_request_id, new_request_id};
use crate::faults;
use crate::state::FakeState;

/// `POST`: OpenAI's embeddings.
pub(crate) const PATH: &str = "/v1/embeddings";
/// `POST`: an Azure OpenAI deployment's embeddings.
pub(crate) const AZURE_ROUTE: &str = "/openai/deployments/{deployment}/embeddings";

/// Tokens an input counts for besides its words.
pub(crate) const TOKENS_PER_INPUT: u64 = 1;

/// The vector length for `model` when the request names none: 1536 for ids containing
/// `small` (`text-embedding-3-small`), 3072 for `large` (`text-embedding-3-large`), 1024
/// otherwise (Titan V2's and Cohere Embed v3's default).
pub(crate) fn default_dimensions(model: &str) -> usize {
    if model.contains("small") {
        1536
    } else if model.contains("large") {
        3072
    } else {
        1024
    }
}

/// A unit-length vector of `dimensions` numbers derived from `seed` (the same seed, the same
/// vector).
pub(crate) fn vector(seed: &[u8], dimensions: usize) -> Vec<f32> {
    // FNV-1a over the seed, then splitmix64 per component: stable across runs and builds.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in seed {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let raw: Vec<f64> = (0..dimensions as u64)
        .map(|i| {
            let mut z = hash.wrapping_add(i.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            // The top 53 bits as a number in [-1, 1).
            (z >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        })
        .collect();
    let norm = raw.iter().map(|x| x * x).sum::<f64>().sqrt();
    raw.iter()
        .map(|x| if norm > 0.0 { (x / norm) as f32 } else { 0.0 })
        .collect()
}

/// The tokens one text input counts for.
pub(crate) fn input_tokens(text: &str) -> u64 {
    text.split_whitespace().count() as u64 + TOKENS_PER_INPUT
}

/// Whether a Bedrock model id is an embedding model this fake answers `InvokeModel` for.
pub(crate) fn is_bedrock_embed_model(model_id: &str) -> bool {
    bedrock_family(model_id).is_some()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BedrockFamily {
    Titan,
    Cohere,
}

fn bedrock_family(model_id: &str) -> Option<BedrockFamily> {
    let name = model_id.rsplit('/').next().unwrap_or(model_id);
    let family = |name: &str| {
        if name.starts_with("amazon.titan-embed") {
            Some(BedrockFamily::Titan)
        } else if name.starts_with("cohere.embed") {
            Some(BedrockFamily::Cohere)
        } else {
            None
        }
    };
    family(name).or_else(|| name.split_once('.').and_then(|(_, rest)| family(rest)))
}

// ---------------------------------------------------------------------------------------------
// OpenAI and Azure OpenAI
// ---------------------------------------------------------------------------------------------

/// `POST /v1/embeddings`.
pub(crate) async fn openai(
    axum::extract::State(state): axum::extract::State<std::sync::Arc<FakeState>>,
    killer: Option<axum::Extension<ConnectionKiller>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let killer = killer.map(|axum::Extension(k)| k);
    serve_openai(&state, killer, &uri, &headers, &body, None).await
}

/// `POST /openai/deployments/{deployment}/embeddings`.
pub(crate) async fn azure(
    axum::extract::State(state): axum::extract::State<std::sync::Arc<FakeState>>,
    killer: Option<axum::Extension<ConnectionKiller>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let killer = killer.map(|axum::Extension(k)| k);
    let Some(deployment) = azure::deployment_in(uri.path()) else {
        return azure::resource_not_found();
    };
    serve_openai(&state, killer, &uri, &headers, &body, Some(&deployment)).await
}

/// One embeddings call, for OpenAI (`deployment` `None`) or an Azure deployment.
async fn serve_openai(
    state: &FakeState,
    killer: Option<ConnectionKiller>,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
    deployment: Option<&str>,
) -> Response {
    let json = serde_json::from_slice::<Value>(body).ok();
    state.record(uri, headers, body, json.as_ref());
    let api = if deployment.is_some() {
        Api::Azure
    } else {
        Api::OpenAi
    };
    let model = match deployment {
        Some(deployment) => Some(deployment.to_owned()),
        None => json
            .as_ref()
            .and_then(|j| j.get("model"))
            .and_then(Value::as_str)
            .map(str::to_owned),
    };
    let behavior = state.behavior_for(model.as_deref());
    if behavior.refuse_connection {
        return refuse(killer).await;
    }
    behavior.wait_before_answer().await;
    let required = state.required_key();
    let rejection = match deployment {
        None => crate::openai::reject_credential(headers, required.as_deref()),
        Some(_) => azure::reject_credential(headers, required.as_deref())
            .or_else(|| azure::reject_api_version(uri.query())),
    };
    if let Some(rejection) = rejection {
        return rejection;
    }
    let Some(json) = json else {
        return openai_invalid(
            api,
            "We could not parse the JSON body of your request.",
            None,
        );
    };
    let Some(model) = model else {
        return openai_invalid(api, "you must provide a model parameter", Some("model"));
    };
    let inputs = match openai_inputs(json.get("input")) {
        Ok(inputs) => inputs,
        Err(message) => return openai_invalid(api, &message, Some("input")),
    };
    let dimensions = match json.get("dimensions") {
        None | Some(Value::Null) => default_dimensions(&model),
        Some(n) => match n.as_u64().filter(|n| (1..=65_536).contains(n)) {
            Some(n) => n as usize,
            None => {
                return openai_invalid(
                    api,
                    &format!("Invalid value for 'dimensions': {n}."),
                    Some("dimensions"),
                );
            }
        },
    };
    let base64 = match json.get("encoding_format").and_then(Value::as_str) {
        None => false,
        Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return openai_invalid(
                api,
                &format!(
                    "Invalid value for 'encoding_format': {other:?}. Expected 'float' or 'base64'."
                ),
                Some("encoding_format"),
            );
        }
    };
    state.note_model(&model);
    if let Some(status) = behavior.error_status() {
        return behavior_error(api, status, &behavior, &model);
    }
    if let Some(broken) = faults::replacement(&behavior, api, false) {
        return faults::paced(broken, &behavior);
    }
    let tokens: u64 = inputs.iter().map(|(_, tokens)| tokens).sum();
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, (seed, _))| {
            let vector = vector(seed, dimensions);
            let embedding = if base64 {
                let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(aws_smithy_types::base64::encode(bytes))
            } else {
                json!(vector)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    let answer = json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    });
    let mut response = Json(answer).into_response();
    insert_request_id(response.headers_mut(), api);
    faults::paced(response, &behavior)
}

/// Each input's hash seed and token count: texts by their bytes, token arrays by their ids
/// (one token each).
fn openai_inputs(input: Option<&Value>) -> Result<Vec<(Vec<u8>, u64)>, String> {
    let text = |t: &str| (t.as_bytes().to_vec(), input_tokens(t));
    let ids = |ids: &[Value]| -> Result<(Vec<u8>, u64), String> {
        let mut seed = Vec::with_capacity(ids.len() * 4);
        for id in ids {
            let id = id
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| format!("Invalid token id in 'input': {id}."))?;
            seed.extend_from_slice(&id.to_le_bytes());
        }
        Ok((seed, ids.len() as u64))
    };
    match input {
        None => Err("you must provide an input parameter".to_owned()),
        Some(Value::String(t)) if !t.is_empty() => Ok(vec![text(t)]),
        Some(Value::Array(items)) if !items.is_empty() => match &items[0] {
            Value::Number(_) => Ok(vec![ids(items)?]),
            _ => items
                .iter()
                .map(|item| match item {
                    Value::String(t) if !t.is_empty() => Ok(text(t)),
                    Value::Array(list) if !list.is_empty() => ids(list),
                    _ => Err(format!("'$.input' is invalid: {item}.")),
                })
                .collect(),
        },
        Some(other) => Err(format!("'$.input' is invalid: {other}.")),
    }
}

fn openai_invalid(api: Api, message: &str, param: Option<&'static str>) -> Response {
    let mut error = OpenAiError::invalid_request(message);
    error.param = param;
    error_response(error.status, error.body(), api, None)
}

// ---------------------------------------------------------------------------------------------
// Gemini
// ---------------------------------------------------------------------------------------------

/// `MODEL:batchEmbedContents`, once [`crate::gemini::model_call`] has recorded the request
/// and split the path.
pub(crate) async fn gemini(
    state: &FakeState,
    killer: Option<ConnectionKiller>,
    uri: &Uri,
    headers: &HeaderMap,
    model: &str,
    json: Option<Value>,
) -> Response {
    let behavior = match crate::gemini::admit(state, killer, uri, headers, model).await {
        Ok(behavior) => behavior,
        Err(refused) => return refused,
    };
    let Some(json) = json else {
        return GeminiError::invalid_argument("Invalid JSON payload received.").into_response(None);
    };
    let requests = match gemini_requests(&json, model) {
        Ok(requests) => requests,
        Err(message) => return GeminiError::invalid_argument(message).into_response(None),
    };
    state.note_model(model);
    if let Some(status) = behavior.error_status() {
        return behavior_error(Api::Gemini, status, &behavior, model);
    }
    if let Some(broken) = faults::replacement(&behavior, Api::Gemini, false) {
        return faults::paced(broken, &behavior);
    }
    let embeddings: Vec<Value> = requests
        .iter()
        .map(|(text, dimensions)| json!({"values": vector(text.as_bytes(), *dimensions)}))
        .collect();
    faults::paced(
        Json(json!({ "embeddings": embeddings })).into_response(),
        &behavior,
    )
}

/// Each request's text (its parts' texts joined) and vector length.
fn gemini_requests(body: &Value, model: &str) -> Result<Vec<(String, usize)>, String> {
    let Some(Value::Array(requests)) = body.get("requests") else {
        return Err("Invalid JSON payload received. Missing required field \"requests\".".into());
    };
    if requests.is_empty() {
        return Err("* BatchEmbedContentsRequest.requests: contents is not specified".into());
    }
    let wanted = format!("models/{model}");
    requests
        .iter()
        .enumerate()
        .map(|(i, request)| {
            let named = request.get("model").and_then(Value::as_str);
            if named != Some(wanted.as_str()) {
                return Err(format!(
                    "* BatchEmbedContentsRequest.requests[{i}].model: model in the request ({}) does not match the model of the batch ({wanted}).",
                    named.unwrap_or("none")
                ));
            }
            let parts = request
                .pointer("/content/parts")
                .and_then(Value::as_array)
                .filter(|parts| !parts.is_empty())
                .ok_or_else(|| {
                    format!("* BatchEmbedContentsRequest.requests[{i}].content: contents is not specified")
                })?;
            let texts: Vec<&str> = parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect();
            let dimensions = match request.get("outputDimensionality") {
                None => default_dimensions(model),
                Some(n) => n
                    .as_u64()
                    .filter(|n| (1..=65_536).contains(n))
                    .ok_or_else(|| {
                        format!("* BatchEmbedContentsRequest.requests[{i}].output_dimensionality: invalid value {n}")
                    })? as usize,
            };
            Ok((texts.join(" "), dimensions))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Bedrock
// ---------------------------------------------------------------------------------------------

/// `InvokeModel` for an embedding model (see [`is_bedrock_embed_model`]), once
/// [`crate::bedrock::model_call`] has recorded the request, applied the behavior's delay and
/// connection refusal, checked the signature and read the JSON. `Err` is the message of the
/// `ValidationException` Bedrock answers a body the model does not take with.
pub(crate) fn bedrock(model_id: &str, body: &Value) -> Result<Response, String> {
    let (answer, tokens) = match bedrock_family(model_id) {
        Some(BedrockFamily::Titan) => titan(model_id, body)?,
        Some(BedrockFamily::Cohere) => cohere(model_id, body)?,
        None => return Err(format!("{model_id} is not an embedding model")),
    };
    let mut response = Json(answer).into_response();
    let headers = response.headers_mut();
    headers.insert(
        HeaderName::from_static("x-amzn-bedrock-input-token-count"),
        HeaderValue::from(tokens),
    );
    headers.insert(
        HeaderName::from_static("x-amzn-bedrock-invocation-latency"),
        HeaderValue::from(1u64),
    );
    insert_request_id(headers, Api::Bedrock);
    Ok(response)
}

fn titan(model_id: &str, body: &Value) -> Result<(Value, u64), String> {
    let malformed = |problem: &str| {
        format!("Malformed input request: {problem}, please reformat your input and try again.")
    };
    let text = match body.get("inputText") {
        Some(Value::String(text)) if !text.is_empty() => text,
        Some(_) => return Err(malformed("#/inputText: expected minLength: 1")),
        None => return Err(malformed("#: required key [inputText] not found")),
    };
    let asked = body
        .get("dimensions")
        .or_else(|| body.pointer("/embeddingConfig/outputEmbeddingLength"));
    let dimensions = match asked {
        None => default_dimensions(model_id),
        Some(n) => n
            .as_u64()
            .filter(|n| (1..=65_536).contains(n))
            .ok_or_else(|| malformed(&format!("#/dimensions: {n} is not a valid value")))?
            as usize,
    };
    let vector = vector(text.as_bytes(), dimensions);
    let tokens = input_tokens(text);
    let answer = json!({
        "embedding": vector,
        "inputTextTokenCount": tokens,
        "embeddingsByType": {"float": vector},
    });
    Ok((answer, tokens))
}

fn cohere(model_id: &str, body: &Value) -> Result<(Value, u64), String> {
    let malformed = |problem: &str| {
        format!("Malformed input request: {problem}, please reformat your input and try again.")
    };
    let Some(Value::Array(texts)) = body.get("texts") else {
        return Err(malformed("#: required key [texts] not found"));
    };
    if texts.len() > 96 {
        return Err(malformed(&format!(
            "#/texts: expected maximum item count: 96, found: {}",
            texts.len()
        )));
    }
    let texts: Vec<&str> = texts
        .iter()
        .map(|t| {
            t.as_str()
                .ok_or_else(|| malformed("#/texts: expected type: String"))
        })
        .collect::<Result<_, _>>()?;
    if body.get("input_type").and_then(Value::as_str).is_none() {
        return Err(malformed("#: required key [input_type] not found"));
    }
    let dimensions = match body.get("output_dimension") {
        None => default_dimensions(model_id),
        Some(n) => n
            .as_u64()
            .filter(|n| (1..=65_536).contains(n))
            .ok_or_else(|| malformed(&format!("#/output_dimension: {n} is not a valid value")))?
            as usize,
    };
    let vectors: Vec<Vec<f32>> = texts
        .iter()
        .map(|t| vector(t.as_bytes(), dimensions))
        .collect();
    let tokens = texts.iter().map(|t| input_tokens(t)).sum();
    let mut answer = Map::new();
    answer.insert("id".into(), json!(new_request_id()));
    answer.insert("texts".into(), json!(texts));
    match body.get("embedding_types").and_then(Value::as_array) {
        Some(types) => {
            let mut by_type = Map::new();
            if types.iter().any(|t| t == "float") {
                by_type.insert("float".into(), json!(vectors));
            }
            answer.insert("embeddings".into(), Value::Object(by_type));
            answer.insert("response_type".into(), json!("embeddings_by_type"));
        }
        None => {
            answer.insert("embeddings".into(), json!(vectors));
            answer.insert("response_type".into(), json!("embeddings_floats"));
        }
    }
    Ok((Value::Object(answer), tokens))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_deterministic_unit_length_and_distinct() {
        let a = vector(b"hello", 64);
        assert_eq!(a, vector(b"hello", 64));
        assert_ne!(a, vector(b"hello!", 64));
        assert_eq!(a.len(), 64);
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "{norm}");
        assert!(a.iter().any(|x| *x < 0.0) && a.iter().any(|x| *x > 0.0));
        assert!(vector(b"x", 0).is_empty());
    }

    #[test]
    fn default_lengths_by_model_id() {
        assert_eq!(default_dimensions("text-embedding-3-small"), 1536);
        assert_eq!(default_dimensions("text-embedding-3-large"), 3072);
        assert_eq!(default_dimensions("amazon.titan-embed-text-v2:0"), 1024);
    }

    #[test]
    fn bedrock_embedding_families() {
        assert!(is_bedrock_embed_model("amazon.titan-embed-text-v2:0"));
        assert!(is_bedrock_embed_model("us.cohere.embed-v4:0"));
        assert!(is_bedrock_embed_model(
            "arn:aws:bedrock:us-east-1::foundation-model/cohere.embed-english-v3"
        ));
        assert!(!is_bedrock_embed_model("amazon.titan-text-express-v1"));
        assert!(!is_bedrock_embed_model(
            "anthropic.claude-3-haiku-20240307-v1:0"
        ));
    }

    #[test]
    fn tokens_are_words_plus_a_constant() {
        assert_eq!(input_tokens("one two  three"), 3 + TOKENS_PER_INPUT);
    }
}
