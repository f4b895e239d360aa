//! The fake's shared state: behaviors in force, the credential it demands, the models it has
//! seen, and a record of the model calls it received.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use axum::http::{HeaderMap, Uri};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::bedrock::AwsSigningKey;
use crate::behavior::{Behavior, BehaviorSnapshot, BehaviorTable};

/// Only the most recent requests are kept, so a long benchmark run does not grow memory
/// without bound.
const RECORD_LIMIT: usize = 2_000;

/// Headers worth keeping: the ones a gateway must set or forward to a provider.
const RECORDED_HEADERS: &[&str] = &[
    "authorization",
    "x-api-key",
    "anthropic-version",
    "anthropic-beta",
    "content-type",
    "openai-organization",
    "openai-project",
    "x-goog-api-key",
    "api-key",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
    "x-amzn-bedrock-accept",
];

/// One model call the fake received (`POST /v1/chat/completions`, `POST /v1/messages`,
/// `POST /v1beta/models/MODEL:generateContent` or `:streamGenerateContent`,
/// `POST /openai/deployments/DEPLOYMENT/chat/completions`, `POST /model/MODEL/converse`,
/// `/converse-stream`, `/invoke` or `/invoke-with-response-stream`), including ones it rejected.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    pub method: String,
    /// The URL path as sent (percent-encoded); for Gemini it names the model and the action, for
    /// Azure the deployment, for Bedrock the model id.
    pub path: String,
    /// The URL query string, if any, with the value of every `key` parameter replaced by
    /// `REDACTED` (Gemini clients may send their API key there): `alt=sse&key=REDACTED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Selected headers, names lower-cased: authorization, x-api-key, anthropic-version,
    /// anthropic-beta, content-type, openai-organization, openai-project, x-goog-api-key,
    /// api-key, x-amz-date, x-amz-security-token, x-amz-content-sha256, x-amzn-bedrock-accept.
    pub headers: BTreeMap<String, String>,
    /// The JSON body; a body that is not JSON is kept as a string of its (lossy UTF-8) text.
    pub body: Value,
    /// The model the path names, percent-decoded: the Azure deployment
    /// (`/openai/deployments/DEPLOYMENT/...`) or the Bedrock model id (`/model/MODEL/...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_model: Option<String>,
}

impl RecordedRequest {
    /// A recorded header by lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The model asked for: for Azure the deployment and for Bedrock the model id (both from the
    /// path, percent-decoded), otherwise the `model` field of the body, or for Gemini the model in
    /// the path.
    pub fn model(&self) -> Option<&str> {
        self.path_model.as_deref().or_else(|| {
            self.body
                .get("model")
                .and_then(Value::as_str)
                .or_else(|| crate::gemini::model_and_action(&self.path).map(|(model, _)| model))
        })
    }
}

/// Everything the handlers share. Locks are held only for a copy or an insert.
#[derive(Debug, Default)]
pub(crate) struct FakeState {
    behaviors: Mutex<BehaviorTable>,
    requests: Mutex<VecDeque<RecordedRequest>>,
    required_key: Mutex<Option<String>>,
    aws_key: Mutex<Option<AwsSigningKey>>,
    models_seen: Mutex<BTreeSet<String>>,
}

/// A panic in one handler must not wedge the fake for every later test, so poisoning is ignored.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FakeState {
    pub(crate) fn record(
        &self,
        uri: &Uri,
        headers: &HeaderMap,
        raw_body: &[u8],
        body: Option<&Value>,
    ) {
        let request = RecordedRequest {
            method: "POST".to_owned(),
            path: uri.path().to_owned(),
            query: uri.query().map(crate::query::redacted),
            headers: selected_headers(headers),
            body: body
                .cloned()
                .unwrap_or_else(|| Value::String(String::from_utf8_lossy(raw_body).into_owned())),
            path_model: crate::azure::deployment_in(uri.path()).or_else(|| {
                crate::bedrock::model_and_operation(uri.path()).map(|(model, _)| model)
            }),
        };
        let mut requests = lock(&self.requests);
        if requests.len() >= RECORD_LIMIT {
            requests.pop_front();
        }
        requests.push_back(request);
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.requests).iter().cloned().collect()
    }

    pub(crate) fn clear_requests(&self) {
        lock(&self.requests).clear();
    }

    pub(crate) fn behavior_for(&self, model: Option<&str>) -> Behavior {
        lock(&self.behaviors).take(model)
    }

    pub(crate) fn default_behavior(&self) -> Behavior {
        lock(&self.behaviors).peek_default()
    }

    pub(crate) fn set_behavior(&self, model: Option<&str>, behavior: Behavior) {
        lock(&self.behaviors).set(model, behavior);
    }

    pub(crate) fn remove_behavior(&self, model: &str) {
        lock(&self.behaviors).remove(model);
    }

    pub(crate) fn clear_behaviors(&self) {
        lock(&self.behaviors).clear();
    }

    pub(crate) fn behaviors(&self) -> BehaviorSnapshot {
        lock(&self.behaviors).snapshot()
    }

    pub(crate) fn set_required_key(&self, key: Option<String>) {
        *lock(&self.required_key) = key;
    }

    pub(crate) fn required_key(&self) -> Option<String> {
        lock(&self.required_key).clone()
    }

    pub(crate) fn set_aws_key(&self, key: Option<AwsSigningKey>) {
        *lock(&self.aws_key) = key;
    }

    pub(crate) fn aws_key(&self) -> Option<AwsSigningKey> {
        lock(&self.aws_key).clone()
    }

    pub(crate) fn note_model(&self, model: &str) {
        let mut seen = lock(&self.models_seen);
        if !seen.contains(model) {
            seen.insert(model.to_owned());
        }
    }

    /// Models asked for so far plus models with their own behavior, sorted.
    pub(crate) fn known_models(&self) -> Vec<String> {
        let mut models = lock(&self.models_seen).clone();
        models.extend(lock(&self.behaviors).configured_models().map(str::to_owned));
        models.into_iter().collect()
    }

    pub(crate) fn forget_models(&self) {
        lock(&self.models_seen).clear();
    }
}

fn selected_headers(headers: &HeaderMap) -> BTreeMap<String, String> {
    RECORDED_HEADERS
        .iter()
        .filter_map(|name| {
            let value = headers.get(*name)?;
            Some((
                (*name).to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            ))
        })
        .collect()
}
