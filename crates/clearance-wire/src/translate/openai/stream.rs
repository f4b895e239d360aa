//! A streamed answer: `chat.completion.chunk` objects sent as `data: <json>` server-sent
//! events and closed by `data: [DONE]`.
//!
//! Tool calls arrive as deltas keyed by `index`: the first delta of an index carries the
//! call's `id` and `function.name`, later ones fragments of `function.arguments`. The neutral
//! stream is a sequence of blocks, so the decoder turns a new index into
//! [`StreamEvent::ToolCallStart`] and the fragments into [`StreamEvent::ToolCallArguments`];
//! the encoder numbers the calls of one answer from 0 again.

use clearance_core::chat::{StreamEvent, Usage};
use serde_json::{Map, Value, json};

use super::{finish_reason_of, invented_call_id, stop_reason_from_finish, usage_from, usage_json};
use crate::sse::SseFrame;
use crate::translate::json::present;
use crate::translate::{EncoderOptions, StreamDecoder, StreamEncoder, write_sse_event};

/// The `index` given to a legacy `delta.function_call`, which has none (one call per answer).
const LEGACY_FUNCTION_INDEX: u64 = u64::MAX;

/// How much of an unreadable chunk an error message quotes.
const QUOTED_CHARS: usize = 200;

/// Reads an OpenAI-compatible provider's stream.
#[derive(Debug, Default)]
pub struct Decoder {
    started: bool,
    ended: bool,
    /// The answer's id, from which ids a server leaves out are made.
    id: Option<String>,
    /// The tool-call indexes begun so far, in order.
    tool_indexes: Vec<u64>,
    /// The tool call whose arguments are arriving (`None` once text follows it).
    open_tool: Option<u64>,
}

impl StreamDecoder for Decoder {
    fn decode(&mut self, frame: &SseFrame, out: &mut Vec<StreamEvent>) {
        let data = frame.data.trim();
        if data.is_empty() || self.ended {
            return;
        }
        if data == "[DONE]" {
            self.ended = true;
            out.push(StreamEvent::End);
            return;
        }
        let chunk = match serde_json::from_str::<Value>(data) {
            Ok(Value::Object(chunk)) => chunk,
            Ok(_) => return out.push(unreadable("a chunk that is not a JSON object", data)),
            Err(e) => {
                return out.push(unreadable(&format!("a chunk that is not JSON ({e})"), data));
            }
        };
        if let Some(error) = present(&chunk, "error") {
            return out.push(StreamEvent::Error {
                message: provider_error_message(error),
            });
        }
        if !self.started {
            self.start(&chunk, out);
        }
        if let Some(choice) = first_choice(&chunk) {
            self.decode_choice(choice, out);
        }
        if let Some(usage) = present(&chunk, "usage") {
            out.push(StreamEvent::Usage {
                usage: usage_from(usage),
            });
        }
    }

    /// OpenAI ends with `[DONE]`; a stream cut before it owes nothing more.
    fn finish(&mut self, _out: &mut Vec<StreamEvent>) {}
}

impl Decoder {
    fn start(&mut self, chunk: &Map<String, Value>, out: &mut Vec<StreamEvent>) {
        self.started = true;
        self.id = chunk.get("id").and_then(Value::as_str).map(str::to_string);
        out.push(StreamEvent::Start {
            id: self.id.clone(),
            model: chunk
                .get("model")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            usage: Usage::default(),
        });
    }

    fn decode_choice(&mut self, choice: &Map<String, Value>, out: &mut Vec<StreamEvent>) {
        if let Some(delta) = present(choice, "delta").and_then(Value::as_object) {
            self.decode_delta(delta, out);
        }
        if let Some(reason) = present(choice, "finish_reason").and_then(Value::as_str) {
            out.push(StreamEvent::Stop {
                reason: stop_reason_from_finish(reason),
            });
        }
    }

    fn decode_delta(&mut self, delta: &Map<String, Value>, out: &mut Vec<StreamEvent>) {
        for key in ["content", "refusal"] {
            if let Some(text) = delta
                .get(key)
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
            {
                self.open_tool = None;
                out.push(StreamEvent::TextDelta {
                    text: text.to_string(),
                });
            }
        }
        if let Some(calls) = present(delta, "tool_calls") {
            let Some(calls) = calls.as_array() else {
                return out.push(error("`delta.tool_calls` is not an array"));
            };
            for call in calls {
                let index = call.get("index").and_then(Value::as_u64);
                let Some(index) = index else {
                    return out.push(error("a tool-call delta without an `index`"));
                };
                let id = call.get("id").and_then(Value::as_str);
                self.decode_tool_call(index, id, call.get("function"), out);
            }
        }
        if let Some(function) = present(delta, "function_call") {
            self.decode_tool_call(LEGACY_FUNCTION_INDEX, None, Some(function), out);
        }
    }

    /// Opens the call at `index` if it is new, then passes on its arguments fragment.
    fn decode_tool_call(
        &mut self,
        index: u64,
        id: Option<&str>,
        function: Option<&Value>,
        out: &mut Vec<StreamEvent>,
    ) {
        let text_of = |key: &str| function.and_then(|f| f.get(key)).and_then(Value::as_str);
        if self.open_tool != Some(index) {
            if self.tool_indexes.contains(&index) {
                return out.push(error(&format!(
                    "tool call {index} continued after other output began"
                )));
            }
            let Some(name) = text_of("name") else {
                return out.push(error(&format!("tool call {index} began without a name")));
            };
            let n = self.tool_indexes.len() as u64;
            let id = id.map_or_else(|| invented_call_id(self.id.as_deref(), n), str::to_string);
            self.tool_indexes.push(index);
            self.open_tool = Some(index);
            out.push(StreamEvent::ToolCallStart {
                id,
                name: name.to_string(),
            });
        }
        if let Some(fragment) = text_of("arguments").filter(|a| !a.is_empty()) {
            out.push(StreamEvent::ToolCallArguments {
                json: fragment.to_string(),
            });
        }
    }
}

/// The choice this gateway asked for (index 0; requests for more are refused).
fn first_choice(chunk: &Map<String, Value>) -> Option<&Map<String, Value>> {
    chunk
        .get("choices")?
        .as_array()?
        .iter()
        .filter_map(Value::as_object)
        .find(|choice| choice.get("index").and_then(Value::as_u64).unwrap_or(0) == 0)
}

fn provider_error_message(error: &Value) -> String {
    error
        .get("message")
        .and_then(Value::as_str)
        .map_or_else(|| error.to_string(), str::to_string)
}

fn error(what: &str) -> StreamEvent {
    StreamEvent::Error {
        message: format!("unreadable OpenAI stream: {what}"),
    }
}

fn unreadable(what: &str, data: &str) -> StreamEvent {
    let quoted: String = data.chars().take(QUOTED_CHARS).collect();
    error(&format!("{what}: {quoted}"))
}

/// Writes neutral events as an OpenAI Chat Completions stream.
#[derive(Debug)]
pub struct Encoder {
    options: EncoderOptions,
    id: String,
    started: bool,
    /// Tool calls begun in this answer (the next one's `index`).
    tool_calls: u64,
    usage: Usage,
}

impl Encoder {
    pub fn new(options: EncoderOptions) -> Encoder {
        Encoder {
            id: options.fallback_id.clone(),
            options,
            started: false,
            tool_calls: 0,
            usage: Usage::default(),
        }
    }

    /// The first chunk, announcing the assistant's turn (written before anything else even
    /// when the provider's stream gave no start).
    fn begin(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        self.write_delta(json!({"role": "assistant", "content": ""}), None, out);
    }

    fn write_delta(&self, delta: Value, finish_reason: Option<&str>, out: &mut Vec<u8>) {
        let choices = json!([{
            "index": 0,
            "delta": delta,
            "logprobs": null,
            "finish_reason": finish_reason,
        }]);
        let usage = self.options.include_usage.then_some(Value::Null);
        write_data(&self.chunk(choices, usage), out);
    }

    /// A `chat.completion.chunk`. OpenAI adds `"usage": null` to every chunk of a stream
    /// whose client asked for usage, and the usage itself to the last one.
    fn chunk(&self, choices: Value, usage: Option<Value>) -> Value {
        let mut chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.options.created,
            "model": self.options.model,
            "choices": choices,
        });
        if let Some(usage) = usage {
            chunk["usage"] = usage;
        }
        chunk
    }

    fn end(&mut self, out: &mut Vec<u8>) {
        if self.options.include_usage
            && let Some(usage) = usage_json(self.usage)
        {
            write_data(&self.chunk(json!([]), Some(usage)), out);
        }
        out.extend_from_slice(b"data: [DONE]\n\n");
    }
}

impl StreamEncoder for Encoder {
    fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        match event {
            StreamEvent::Start { id, usage, .. } => {
                if !self.started
                    && let Some(id) = id
                {
                    self.id = id.clone();
                }
                self.usage = self.usage.updated(*usage);
                self.begin(out);
            }
            StreamEvent::TextDelta { text } => {
                self.begin(out);
                self.write_delta(json!({"content": text}), None, out);
            }
            StreamEvent::ToolCallStart { id, name } => {
                self.begin(out);
                let index = self.tool_calls;
                self.tool_calls += 1;
                let call = json!({
                    "index": index,
                    "id": id,
                    "type": "function",
                    "function": {"name": name, "arguments": ""},
                });
                self.write_delta(json!({"tool_calls": [call]}), None, out);
            }
            StreamEvent::ToolCallArguments { json } => {
                // Arguments with no call begun have nowhere to go in OpenAI's format.
                let Some(index) = self.tool_calls.checked_sub(1) else {
                    return;
                };
                self.begin(out);
                let call = json!({"index": index, "function": {"arguments": json}});
                self.write_delta(json!({"tool_calls": [call]}), None, out);
            }
            StreamEvent::Usage { usage } => self.usage = self.usage.updated(*usage),
            StreamEvent::Stop { reason } => {
                self.begin(out);
                self.write_delta(json!({}), Some(finish_reason_of(reason)), out);
            }
            StreamEvent::Error { message } => write_data(
                &json!({"error": {
                    "message": message,
                    "type": "server_error",
                    "param": null,
                    "code": null,
                }}),
                out,
            ),
            StreamEvent::End => self.end(out),
        }
    }
}

/// One SSE event as OpenAI writes them: data only, no event name.
fn write_data(value: &Value, out: &mut Vec<u8>) {
    write_sse_event(out, None, value, "\n");
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use clearance_core::chat::StopReason;
    use proptest::prelude::*;

    use super::*;

    fn decode(chunks: &[&str]) -> Vec<StreamEvent> {
        let mut decoder = Decoder::default();
        let mut events = Vec::new();
        for data in chunks {
            let frame = SseFrame {
                event: None,
                data: (*data).to_string(),
            };
            decoder.decode(&frame, &mut events);
        }
        decoder.finish(&mut events);
        events
    }

    fn chunk(delta: Value) -> String {
        json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": null}]})
        .to_string()
    }

    fn options(include_usage: bool) -> EncoderOptions {
        EncoderOptions {
            model: "mythos-5".into(),
            fallback_id: "gen-1".into(),
            own_id: None,
            created: 1_767_225_600,
            include_usage,
        }
    }

    fn encode(events: &[StreamEvent], include_usage: bool) -> String {
        let mut encoder = Encoder::new(options(include_usage));
        let mut out = Vec::new();
        for event in events {
            encoder.encode(event, &mut out);
        }
        String::from_utf8(out).unwrap()
    }

    fn is_error(event: &StreamEvent, containing: &str) -> bool {
        matches!(event, StreamEvent::Error { message } if message.contains(containing))
    }

    #[test]
    fn a_provider_error_chunk_becomes_an_error_event() {
        let events = decode(&[
            &chunk(json!({"role": "assistant", "content": ""})),
            r#"{"error": {"message": "The server had an error while processing your request.", "type": "server_error", "param": null, "code": null}}"#,
        ]);
        assert_eq!(
            events[1],
            StreamEvent::Error {
                message: "The server had an error while processing your request.".into()
            }
        );
    }

    #[test]
    fn unreadable_data_becomes_an_error_naming_it() {
        let events = decode(&["{\"id\": \"chatcmpl-1\", \"choi", "[1, 2]"]);
        assert_eq!(events.len(), 2);
        assert!(is_error(&events[0], "not JSON"), "{events:?}");
        assert!(is_error(&events[0], "\"choi"), "{events:?}");
        assert!(is_error(&events[1], "not a JSON object"), "{events:?}");
    }

    #[test]
    fn null_usage_and_empty_content_say_nothing() {
        let mut with_null_usage: Value =
            serde_json::from_str(&chunk(json!({"content": "Hi"}))).unwrap();
        with_null_usage["usage"] = Value::Null;
        let events = decode(&[
            &chunk(json!({"role": "assistant", "content": ""})),
            &with_null_usage.to_string(),
        ]);
        assert_eq!(
            events,
            vec![
                StreamEvent::Start {
                    id: Some("chatcmpl-1".into()),
                    model: "gpt-4o".into(),
                    usage: Usage::default()
                },
                StreamEvent::TextDelta { text: "Hi".into() },
            ]
        );
    }

    #[test]
    fn nothing_after_done_is_read() {
        let events = decode(&[
            &chunk(json!({"content": "a"})),
            "[DONE]",
            &chunk(json!({"content": "b"})),
        ]);
        assert_eq!(events.last(), Some(&StreamEvent::End));
        assert_eq!(events.len(), 3);
    }

    #[test]
    fn a_tool_call_without_an_id_gets_one_made_from_the_answers() {
        let events = decode(&[&chunk(json!({"tool_calls": [
            {"index": 0, "function": {"name": "weather", "arguments": "{\"city\":\"Oslo\"}"}}
        ]}))]);
        assert_eq!(
            events[1..],
            [
                StreamEvent::ToolCallStart {
                    id: "call_chatcmpl-1_0".into(),
                    name: "weather".into()
                },
                StreamEvent::ToolCallArguments {
                    json: "{\"city\":\"Oslo\"}".into()
                },
            ]
        );
    }

    #[test]
    fn a_tool_call_resumed_after_another_began_is_an_error() {
        let call = |index: u64, id: Option<&str>, arguments: &str| {
            let mut call = json!({"index": index, "function": {"arguments": arguments}});
            if let Some(id) = id {
                call["id"] = json!(id);
                call["function"]["name"] = json!("f");
            }
            chunk(json!({"tool_calls": [call]}))
        };
        let events = decode(&[
            &call(0, Some("call_a"), ""),
            &call(1, Some("call_b"), "{}"),
            &call(0, None, "{}"),
        ]);
        assert!(
            is_error(events.last().unwrap(), "tool call 0 continued"),
            "{events:?}"
        );
        let nameless = decode(&[&chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_a", "function": {"arguments": ""}}]}),
        )]);
        assert!(is_error(&nameless[1], "without a name"), "{nameless:?}");
    }

    #[test]
    fn finish_reason_and_usage_on_one_chunk_give_stop_then_usage() {
        let body = json!({"id": "c", "model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}});
        let events = decode(&[&body.to_string()]);
        assert_eq!(
            events[1],
            StreamEvent::Stop {
                reason: StopReason::MaxTokens
            }
        );
        assert_eq!(
            events[2],
            StreamEvent::Usage {
                usage: Usage {
                    input_tokens: Some(3),
                    output_tokens: Some(4)
                }
            }
        );
    }

    #[test]
    fn tool_calls_are_numbered_from_zero_in_each_answer() {
        let out = encode(
            &[
                StreamEvent::Start {
                    id: Some("msg_1".into()),
                    model: "claude".into(),
                    usage: Usage::default(),
                },
                StreamEvent::TextDelta {
                    text: "Checking.".into(),
                },
                StreamEvent::ToolCallStart {
                    id: "toolu_a".into(),
                    name: "weather".into(),
                },
                StreamEvent::ToolCallArguments {
                    json: "{\"city\":".into(),
                },
                StreamEvent::ToolCallStart {
                    id: "toolu_b".into(),
                    name: "time".into(),
                },
                StreamEvent::ToolCallArguments { json: "{}".into() },
                StreamEvent::Stop {
                    reason: StopReason::ToolUse,
                },
                StreamEvent::End,
            ],
            false,
        );
        let chunks: Vec<Value> = out
            .split("\n\n")
            .filter_map(|event| event.strip_prefix("data: "))
            .filter(|data| *data != "[DONE]")
            .map(|data| serde_json::from_str(data).unwrap())
            .collect();
        let deltas: Vec<&Value> = chunks.iter().map(|c| &c["choices"][0]["delta"]).collect();
        assert_eq!(deltas[0], &json!({"role": "assistant", "content": ""}));
        assert_eq!(deltas[2]["tool_calls"][0]["index"], 0);
        assert_eq!(
            deltas[3],
            &json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]})
        );
        assert_eq!(deltas[4]["tool_calls"][0]["index"], 1);
        assert_eq!(deltas[5]["tool_calls"][0]["index"], 1);
        assert_eq!(chunks[6]["choices"][0]["finish_reason"], "tool_calls");
        assert!(
            chunks.iter().all(|c| c["id"] == "msg_1"
                && c["model"] == "mythos-5"
                && c.get("usage").is_none())
        );
        assert!(out.ends_with("data: [DONE]\n\n"));
    }

    #[test]
    fn the_usage_chunk_is_written_only_when_asked_for_and_known() {
        let events = [
            StreamEvent::Start {
                id: None,
                model: "m".into(),
                usage: Usage {
                    input_tokens: Some(9),
                    output_tokens: None,
                },
            },
            StreamEvent::Usage {
                usage: Usage {
                    input_tokens: None,
                    output_tokens: Some(4),
                },
            },
            StreamEvent::End,
        ];
        let asked = encode(&events, true);
        assert!(asked.contains(r#""choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4,"total_tokens":13}"#), "{asked}");
        assert!(asked.contains(r#""id":"gen-1""#));
        assert!(!encode(&events, false).contains("prompt_tokens"));
        let unknown = encode(&[StreamEvent::End], true);
        assert_eq!(unknown, "data: [DONE]\n\n");
    }

    #[test]
    fn errors_are_written_in_openais_error_shape() {
        let out = encode(
            &[StreamEvent::Error {
                message: "overloaded".into(),
            }],
            true,
        );
        assert_eq!(
            out,
            "data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n"
        );
    }

    #[test]
    fn content_before_any_start_still_opens_the_turn() {
        let out = encode(&[StreamEvent::TextDelta { text: "Hi".into() }], false);
        assert_eq!(out.matches("data: ").count(), 2);
        assert!(out.starts_with("data: {\"id\":\"gen-1\""));
        assert!(out.contains(r#""delta":{"role":"assistant","content":""}"#));
    }

    fn chunk_like_json() -> impl Strategy<Value = Value> {
        crate::translate::arbitrary::json_with(
            &[
                "id",
                "model",
                "choices",
                "index",
                "delta",
                "content",
                "refusal",
                "role",
                "tool_calls",
                "function",
                "function_call",
                "name",
                "arguments",
                "finish_reason",
                "usage",
                "prompt_tokens",
                "completion_tokens",
                "error",
                "message",
            ],
            &[
                "stop",
                "length",
                "tool_calls",
                "assistant",
                "{\"a\":",
                "1}",
                "",
            ],
        )
    }

    proptest! {
        /// Whatever a provider sends, decoding never panics, and what is decoded encodes.
        #[test]
        fn any_chunks_decode_without_panicking(
            chunks in prop::collection::vec(prop_oneof![
                chunk_like_json().prop_map(|c| c.to_string()),
                ".*",
                Just("[DONE]".to_string()),
            ], 1..8)
        ) {
            let chunks: Vec<&str> = chunks.iter().map(String::as_str).collect();
            let events = decode(&chunks);
            let _ = encode(&events, true);
        }
    }
}
