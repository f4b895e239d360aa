//! What the fake does with a request (answer, fail, stall, cut the stream, refuse the
//! connection), and the table that picks a behavior per upstream model id.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// How the fake answers requests for one model (or for every model, as the default).
///
/// Every field is optional; `Behavior::default()` answers normally and at once.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Behavior {
    /// Answer with this HTTP status (400 or above) and the API's own error JSON. 451 (a region
    /// or legal block) is answered the way each provider refuses one, as none sends 451:
    /// Gemini with HTTP 400 `FAILED_PRECONDITION`, "User location is not supported for the API
    /// use."; Azure OpenAI with 403 "Access denied due to Virtual Network/Firewall rules.";
    /// Bedrock with 400 `ValidationException` "Access to Anthropic models is not allowed from
    /// unsupported countries, regions, or territories. ..." for Anthropic models and 403
    /// `AccessDeniedException` "You don't have access to the model with the specified model
    /// ID." for the others.
    ///
    /// On a Bedrock stream (`converse-stream`, `invoke-with-response-stream`) together with
    /// `drop_after_events`, the error comes mid-stream instead: that many events, then an
    /// exception message (`throttlingException`, ...) and the end of the stream, as Bedrock
    /// reports a failure after the answer has begun.
    pub status: Option<u16>,
    /// Wait this long before answering anything (time to first byte).
    pub delay_ms: Option<u64>,
    /// Wait this long between streamed events.
    pub chunk_delay_ms: Option<u64>,
    /// Streaming only: write this many SSE events, then cut the connection with no
    /// terminating event (counts every event written, `[DONE]` and `ping` included).
    pub drop_after_events: Option<usize>,
    /// Close the TCP connection without writing any response.
    pub refuse_connection: bool,
    /// Text of the answer. Default: a fixed sentence naming the model and echoing the last
    /// user message.
    pub reply: Option<String>,
    /// Answer with a call of this tool instead of text, unless the request ends with a tool
    /// result (that is answered `tool result: ...` so a test sees the result arrive).
    pub tool_call: Option<ToolCall>,
    /// Message inside the error JSON when `status` is set (default: the provider's usual one).
    pub error_message: Option<String>,
    /// Bedrock only: the exception to name when `status` is set (`x-amzn-errortype`, or the
    /// `:exception-type` of a mid-stream error), e.g. `ModelNotReadyException`, instead of the
    /// one the status stands for (`ThrottlingException` for 429, ...).
    pub error_type: Option<String>,
    /// Value of a `retry-after` header (seconds) sent with `status` errors.
    pub retry_after_s: Option<u64>,
    /// Apply the failure knobs (`status`, `refuse_connection`, `drop_after_events` and the
    /// broken answers below) to only the first N requests that use this behavior, then answer
    /// normally: a provider that recovers.
    pub fail_times: Option<u32>,
    /// Answer 200 with a body that is not JSON: a whole answer is JSON cut off in the middle
    /// (`application/json`); a stream is one event whose data is cut-off JSON, then the end.
    pub garbage_body: bool,
    /// Answer 200 with a body that never ends and never ends a line: a stream sends `data: `
    /// and then `x` for ever (no newline); a whole answer opens a JSON string and never closes
    /// it. Written as fast as the client reads, until it hangs up.
    pub endless_line: bool,
    /// Stream complete `data: x...` lines for ever, never the blank line that would end the
    /// event (a whole answer gets the same lines as its body).
    pub endless_lines: bool,
    /// Answer with one word of this many bytes: a stream carries it in a single event of that
    /// size, a whole answer is that large. Ignored with `tool_call`.
    pub huge_event_bytes: Option<usize>,
    /// Write the answer's body one byte at a time, this many milliseconds apart (the status
    /// and headers at once): a provider that trickles.
    pub byte_interval_ms: Option<u64>,
}

/// A tool call the fake answers with: `{"name": "get_weather", "arguments": {"city": "Paris"}}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolCall {
    pub name: String,
    /// The call's arguments; a JSON object, as every provider requires.
    #[serde(default)]
    pub arguments: Map<String, Value>,
}

impl Behavior {
    /// The error status to answer with, if any. Statuses below 400 are not errors, so they are
    /// ignored rather than sent with an error body.
    pub(crate) fn error_status(&self) -> Option<u16> {
        self.status.filter(|s| (400..=999).contains(s))
    }

    /// Sleeps for `delay_ms`, the time to first byte the behavior asks for.
    pub(crate) async fn wait_before_answer(&self) {
        if let Some(ms) = self.delay_ms.filter(|ms| *ms > 0) {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
    }

    /// This behavior with every failure knob turned off, for requests past `fail_times`.
    fn recovered(mut self) -> Behavior {
        self.status = None;
        self.refuse_connection = false;
        self.drop_after_events = None;
        self.garbage_body = false;
        self.endless_line = false;
        self.endless_lines = false;
        self.huge_event_bytes = None;
        self.byte_interval_ms = None;
        self
    }
}

/// The behaviors in force, as shown by `GET /_fake/behavior`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BehaviorSnapshot {
    /// Used for models without their own entry.
    pub default: Behavior,
    /// Per upstream model id.
    pub models: BTreeMap<String, Behavior>,
}

/// A behavior and how many requests have used it, so `fail_times` can run out.
#[derive(Debug, Default)]
struct Slot {
    behavior: Behavior,
    used: u32,
}

impl Slot {
    fn new(behavior: Behavior) -> Slot {
        Slot { behavior, used: 0 }
    }

    /// Counts one request and returns the behavior it gets.
    fn take(&mut self) -> Behavior {
        let failing = self.failing();
        self.used = self.used.saturating_add(1);
        if failing {
            self.behavior.clone()
        } else {
            self.behavior.clone().recovered()
        }
    }

    fn failing(&self) -> bool {
        self.behavior.fail_times.is_none_or(|n| self.used < n)
    }
}

/// Default behavior plus per-model overrides.
#[derive(Debug, Default)]
pub(crate) struct BehaviorTable {
    default: Slot,
    per_model: HashMap<String, Slot>,
}

impl BehaviorTable {
    /// `None` sets the default for all models; setting restarts the `fail_times` count.
    pub(crate) fn set(&mut self, model: Option<&str>, behavior: Behavior) {
        match model {
            None => self.default = Slot::new(behavior),
            Some(m) => {
                self.per_model.insert(m.to_owned(), Slot::new(behavior));
            }
        }
    }

    pub(crate) fn remove(&mut self, model: &str) {
        self.per_model.remove(model);
    }

    pub(crate) fn clear(&mut self) {
        *self = BehaviorTable::default();
    }

    /// The behavior for a request naming `model`, counted against `fail_times`.
    pub(crate) fn take(&mut self, model: Option<&str>) -> Behavior {
        match model.and_then(|m| self.per_model.get_mut(m)) {
            Some(slot) => slot.take(),
            None => self.default.take(),
        }
    }

    /// The default behavior without counting a use: for endpoints that name no model
    /// (health checks must not use up failures meant for model calls).
    pub(crate) fn peek_default(&self) -> Behavior {
        if self.default.failing() {
            self.default.behavior.clone()
        } else {
            self.default.behavior.clone().recovered()
        }
    }

    pub(crate) fn snapshot(&self) -> BehaviorSnapshot {
        BehaviorSnapshot {
            default: self.default.behavior.clone(),
            models: self
                .per_model
                .iter()
                .map(|(m, slot)| (m.clone(), slot.behavior.clone()))
                .collect(),
        }
    }

    pub(crate) fn configured_models(&self) -> impl Iterator<Item = &str> {
        self.per_model.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failing(status: u16, times: Option<u32>) -> Behavior {
        Behavior {
            status: Some(status),
            fail_times: times,
            ..Behavior::default()
        }
    }

    #[test]
    fn per_model_overrides_default() {
        let mut table = BehaviorTable::default();
        table.set(None, failing(500, None));
        table.set(Some("m1"), failing(429, None));
        assert_eq!(table.take(Some("m1")).status, Some(429));
        assert_eq!(table.take(Some("other")).status, Some(500));
        assert_eq!(table.take(None).status, Some(500));
    }

    #[test]
    fn fail_times_runs_out() {
        let mut table = BehaviorTable::default();
        table.set(Some("m"), failing(503, Some(2)));
        assert_eq!(table.take(Some("m")).status, Some(503));
        assert_eq!(table.take(Some("m")).status, Some(503));
        assert_eq!(table.take(Some("m")).status, None);
    }

    #[test]
    fn low_statuses_are_not_errors() {
        assert_eq!(failing(200, None).error_status(), None);
        assert_eq!(failing(529, None).error_status(), Some(529));
    }
}
