//! A streamed answer: typed server-sent events (`event: <type>` and a JSON object with the
//! same `type` and a `sequence_number`), from `response.created` to one of
//! `response.completed`, `response.incomplete` or `response.failed`.
//!
//! Between them, each output item is announced (`response.output_item.added`), filled by
//! deltas (`response.output_text.delta` in a content part, `response.function_call_arguments.
//! delta`) and closed by `.done` events that repeat it whole; the last event holds the whole
//! response, usage included. The decoder reads the deltas and takes a `.done` event's text
//! only when no delta carried it (servers that send items whole); the encoder must write
//! those repetitions, so it is the one encoder that keeps the answer's text and arguments
//! until the end.

use std::collections::{HashMap, HashSet};

use clearance_core::chat::{StopReason, StreamEvent, Usage};
use serde_json::{Map, Value, json};

use super::response::failure_message;
use super::{
    item_id, message_item, output_function_call, output_text_part, response_object, status_of,
    stop_reason_of, usage_from,
};
use crate::sse::SseFrame;
use crate::translate::{EncoderOptions, StreamDecoder, StreamEncoder, write_sse_event};

/// How much of an unreadable event an error message quotes.
const QUOTED_CHARS: usize = 200;

/// What an output item is, so its deltas can be read (or passed over).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ItemKind {
    Message,
    FunctionCall,
    /// Reasoning (dropped as documented) or an item with no translation (reported once).
    Skipped,
}

/// Reads a Responses stream.
#[derive(Debug, Default)]
pub struct Decoder {
    started: bool,
    ended: bool,
    /// The kind of each output item announced so far, by its id.
    items: HashMap<String, ItemKind>,
    /// The function call whose arguments may arrive (`None` once another item began).
    open_call: Option<String>,
    /// Item ids (with the content index, for text) whose content arrived in deltas.
    streamed: HashSet<(String, u64)>,
    /// Whether the answer called a function (a complete answer then stopped for tool use).
    called: bool,
    /// Whether an `error` event was passed on (a `response.failed` then repeats it).
    errored: bool,
}

/// The content index used for a function call's arguments in [`Decoder::streamed`].
const ARGUMENTS: u64 = u64::MAX;

impl StreamDecoder for Decoder {
    fn decode(&mut self, frame: &SseFrame, out: &mut Vec<StreamEvent>) {
        let data = frame.data.trim();
        if data.is_empty() || data == "[DONE]" || self.ended {
            return;
        }
        let event = match serde_json::from_str::<Value>(data) {
            Ok(Value::Object(event)) => event,
            Ok(_) => return out.push(unreadable("an event that is not a JSON object", data)),
            Err(e) => {
                return out.push(unreadable(
                    &format!("an event that is not JSON ({e})"),
                    data,
                ));
            }
        };
        let kind = text_of(&event, "type")
            .or(frame.event.as_deref())
            .unwrap_or_default();
        match kind {
            "response.created" | "response.in_progress" | "response.queued" => {
                self.start(event.get("response"), out);
            }
            "response.output_item.added" => self.item_added(&event, out),
            "response.content_part.added" | "response.content_part.done" => {
                let part = event.get("part");
                let text = part
                    .and_then(|p| text_of_value(p, "text").or(text_of_value(p, "refusal")))
                    .unwrap_or_default();
                self.whole_text(&event, text, out);
            }
            "response.output_text.delta" | "response.refusal.delta" => {
                self.text_delta(&event, out);
            }
            "response.output_text.done" => {
                self.whole_text(&event, text_of(&event, "text").unwrap_or_default(), out);
            }
            "response.refusal.done" => {
                self.whole_text(&event, text_of(&event, "refusal").unwrap_or_default(), out);
            }
            "response.function_call_arguments.delta" => {
                let delta = text_of(&event, "delta").unwrap_or_default();
                self.arguments(item_key(&event, "item_id"), delta, false, out);
            }
            "response.function_call_arguments.done" => {
                let whole = text_of(&event, "arguments").unwrap_or_default();
                self.arguments(item_key(&event, "item_id"), whole, true, out);
            }
            "response.output_item.done" => self.item_done(&event, out),
            "response.completed" => self.end(event.get("response"), "completed", out),
            "response.incomplete" => self.end(event.get("response"), "incomplete", out),
            "response.failed" => self.failed(event.get("response"), out),
            "error" => {
                self.errored = true;
                out.push(StreamEvent::Error {
                    message: error_event_message(&event),
                });
            }
            // Reasoning summaries, annotations, built-in tool progress, and event types the
            // API adds later: nothing a translation carries.
            _ => {}
        }
    }

    /// The API ends a stream with `response.completed` (or `.incomplete`, `.failed`); a stream
    /// cut before it owes nothing more.
    fn finish(&mut self, _out: &mut Vec<StreamEvent>) {}
}

impl Decoder {
    /// The neutral stream's first event, from the response snapshot of the first event that
    /// has one (or without one, so that nothing comes before it).
    fn start(&mut self, response: Option<&Value>, out: &mut Vec<StreamEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        let text = |key: &str| response.and_then(|r| text_of_value(r, key));
        out.push(StreamEvent::Start {
            id: text("id").map(str::to_string),
            model: text("model").unwrap_or_default().to_string(),
            usage: usage_from(response.and_then(|r| r.get("usage"))),
        });
    }

    fn item_added(&mut self, event: &Map<String, Value>, out: &mut Vec<StreamEvent>) {
        self.start(None, out);
        let Some(item) = event.get("item").filter(|item| item.is_object()) else {
            return out.push(stream_error("response.output_item.added without an item"));
        };
        let key = item_key_of_item(event, item);
        self.open_call = None;
        let kind = match text_of_value(item, "type").unwrap_or_default() {
            "message" => ItemKind::Message,
            "function_call" => {
                match (text_of_value(item, "call_id"), text_of_value(item, "name")) {
                    (Some(call_id), Some(name)) => {
                        out.push(StreamEvent::ToolCallStart {
                            id: call_id.to_string(),
                            name: name.to_string(),
                        });
                        self.called = true;
                        self.open_call = Some(key.clone());
                        self.items.insert(key.clone(), ItemKind::FunctionCall);
                        // The API announces a call with empty arguments; arguments given
                        // whole are passed on as one fragment.
                        let given = text_of_value(item, "arguments").unwrap_or_default();
                        self.arguments(key.clone(), given, false, out);
                        ItemKind::FunctionCall
                    }
                    _ => {
                        out.push(stream_error(format!(
                            "function_call item `{key}` without a call_id or a name"
                        )));
                        ItemKind::Skipped
                    }
                }
            }
            "reasoning" => ItemKind::Skipped,
            other => {
                out.push(stream_error(format!(
                    "output item `{key}` of type `{other}` has no translation"
                )));
                ItemKind::Skipped
            }
        };
        self.items.insert(key, kind);
    }

    /// Text is text wherever it goes, even in an item whose announcement was missed; only
    /// reasoning and untranslatable items' text is passed over.
    fn text_delta(&mut self, event: &Map<String, Value>, out: &mut Vec<StreamEvent>) {
        let key = item_key(event, "item_id");
        if self.items.get(&key) == Some(&ItemKind::Skipped) {
            return;
        }
        let Some(text) = text_of(event, "delta").filter(|t| !t.is_empty()) else {
            return;
        };
        self.start(None, out);
        self.streamed.insert((key, content_index(event)));
        out.push(StreamEvent::TextDelta {
            text: text.to_string(),
        });
    }

    /// A `.added` or `.done` event repeating a content part's text: passed on only when no
    /// delta carried it.
    fn whole_text(&mut self, event: &Map<String, Value>, text: &str, out: &mut Vec<StreamEvent>) {
        let key = item_key(event, "item_id");
        if text.is_empty() || self.items.get(&key) == Some(&ItemKind::Skipped) {
            return;
        }
        if self.streamed.insert((key, content_index(event))) {
            self.start(None, out);
            out.push(StreamEvent::TextDelta {
                text: text.to_string(),
            });
        }
    }

    /// A fragment of a function call's arguments, or (`whole`) all of them repeated: passed
    /// on only when no fragment came before. Arguments belong to the call announced last;
    /// attached to any other item they would be read as another call's.
    fn arguments(&mut self, key: String, json: &str, whole: bool, out: &mut Vec<StreamEvent>) {
        if json.is_empty() {
            return;
        }
        if self.items.get(&key) != Some(&ItemKind::FunctionCall) {
            return out.push(stream_error(format!(
                "function call arguments for item `{key}`, which is not a function call"
            )));
        }
        if self.open_call.as_deref() != Some(key.as_str()) {
            return out.push(stream_error(format!(
                "function call `{key}` continued after another item began"
            )));
        }
        let first = self.streamed.insert((key, ARGUMENTS));
        if first || !whole {
            out.push(StreamEvent::ToolCallArguments {
                json: json.to_string(),
            });
        }
    }

    /// An item's last event repeats it whole: what no delta carried is passed on.
    fn item_done(&mut self, event: &Map<String, Value>, out: &mut Vec<StreamEvent>) {
        let Some(item) = event.get("item").filter(|item| item.is_object()) else {
            return out.push(stream_error("response.output_item.done without an item"));
        };
        let key = item_key_of_item(event, item);
        match self.items.get(&key) {
            Some(ItemKind::FunctionCall) => {
                let whole = text_of_value(item, "arguments").unwrap_or_default();
                self.arguments(key, whole, true, out);
            }
            Some(ItemKind::Message) => {
                let parts = item.get("content").and_then(Value::as_array);
                for (j, part) in parts.into_iter().flatten().enumerate() {
                    let text = text_of_value(part, "text")
                        .or(text_of_value(part, "refusal"))
                        .unwrap_or_default();
                    if !text.is_empty() && self.streamed.insert((key.clone(), j as u64)) {
                        out.push(StreamEvent::TextDelta {
                            text: text.to_string(),
                        });
                    }
                }
            }
            // Skipped items stay skipped; an item never announced is reported when its
            // content would have been read.
            Some(ItemKind::Skipped) | None => {}
        }
    }

    /// `response.completed` / `.incomplete`: the stop reason, the final counts, the end.
    fn end(&mut self, response: Option<&Value>, status: &str, out: &mut Vec<StreamEvent>) {
        self.start(response, out);
        self.ended = true;
        let incomplete_reason = response
            .and_then(|r| r.get("incomplete_details"))
            .and_then(|details| text_of_value(details, "reason"));
        let called = self.called
            || response
                .and_then(|r| r.get("output"))
                .and_then(Value::as_array)
                .is_some_and(|items| {
                    items
                        .iter()
                        .any(|item| text_of_value(item, "type") == Some("function_call"))
                });
        if let Some(reason) = stop_reason_of(status, incomplete_reason, called) {
            out.push(StreamEvent::Stop { reason });
        }
        if let Some(usage) = response
            .and_then(|r| r.get("usage"))
            .filter(|u| u.is_object())
        {
            out.push(StreamEvent::Usage {
                usage: usage_from(Some(usage)),
            });
        }
        out.push(StreamEvent::End);
    }

    /// `response.failed`: the error (unless an `error` event already said it), then the end
    /// of the stream, which ended as the API ends a failed answer.
    fn failed(&mut self, response: Option<&Value>, out: &mut Vec<StreamEvent>) {
        self.start(response, out);
        self.ended = true;
        if !self.errored {
            out.push(StreamEvent::Error {
                message: failure_message(response.and_then(|r| r.get("error"))),
            });
        }
        out.push(StreamEvent::End);
    }
}

fn text_of<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    object.get(key).and_then(Value::as_str)
}

fn text_of_value<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

fn content_index(event: &Map<String, Value>) -> u64 {
    event
        .get("content_index")
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

/// The item an event is about: its id, or its place in the output when it has none.
fn item_key(event: &Map<String, Value>, id_key: &str) -> String {
    match text_of(event, id_key) {
        Some(id) => id.to_string(),
        None => index_key(event),
    }
}

/// The key of the item an `output_item` event carries.
fn item_key_of_item(event: &Map<String, Value>, item: &Value) -> String {
    match text_of_value(item, "id") {
        Some(id) => id.to_string(),
        None => index_key(event),
    }
}

fn index_key(event: &Map<String, Value>) -> String {
    match event.get("output_index").and_then(Value::as_u64) {
        Some(index) => format!("output[{index}]"),
        None => "(unnamed)".to_string(),
    }
}

/// An `error` event's message, with its code when it has one.
fn error_event_message(event: &Map<String, Value>) -> String {
    // Older servers nest the error as `{"type": "error", "error": {...}}`.
    let nested = event.get("error").and_then(Value::as_object);
    let field = |key: &str| text_of(event, key).or(nested.and_then(|e| text_of(e, key)));
    match (field("message"), field("code")) {
        (Some(message), _) => message.to_string(),
        (None, Some(code)) => format!("OpenAI reported an error ({code})"),
        (None, None) => "OpenAI reported an error".to_string(),
    }
}

fn stream_error(message: impl Into<String>) -> StreamEvent {
    StreamEvent::Error {
        message: message.into(),
    }
}

fn unreadable(what: &str, data: &str) -> StreamEvent {
    let quoted: String = data.chars().take(QUOTED_CHARS).collect();
    stream_error(format!(
        "the provider sent {what} in its Responses stream: {quoted}"
    ))
}

/// The output item the encoder has open, with what it has written of it so far.
#[derive(Debug)]
enum OpenItem {
    Message {
        item_id: String,
        text: String,
    },
    Call {
        item_id: String,
        call_id: String,
        name: String,
        arguments: String,
    },
}

/// Writes neutral events as the API's stream: `response.created` and `response.in_progress`,
/// then per output item its `added`, deltas and `done` events (a message with one
/// `output_text` part), then `response.completed` or `response.incomplete` with the whole
/// response (`response.failed` when the stream ends after an error and no stop reason), every
/// event numbered from 0. An error is an `error` event.
pub struct Encoder {
    options: EncoderOptions,
    /// The answer's id: the provider's, or the fallback.
    id: String,
    started: bool,
    ended: bool,
    sequence_number: u64,
    /// The output items closed so far, as the final response holds them.
    output: Vec<Value>,
    open: Option<OpenItem>,
    usage: Usage,
    stop: Option<StopReason>,
    error: Option<String>,
}

impl Encoder {
    pub fn new(options: EncoderOptions) -> Encoder {
        Encoder {
            id: options.fallback_id.clone(),
            options,
            started: false,
            ended: false,
            sequence_number: 0,
            output: Vec::new(),
            open: None,
            usage: Usage::default(),
            stop: None,
            error: None,
        }
    }

    /// Writes one event: `type` and `sequence_number` first, then `fields`.
    fn emit(&mut self, out: &mut Vec<u8>, kind: &str, fields: Value) {
        let mut event = Map::new();
        event.insert("type".into(), json!(kind));
        event.insert("sequence_number".into(), json!(self.sequence_number));
        self.sequence_number += 1;
        if let Value::Object(fields) = fields {
            event.extend(fields);
        }
        write_sse_event(out, Some(kind), &Value::Object(event), "\n");
    }

    fn snapshot(&self, status: &str, output: Vec<Value>, usage: Usage) -> Value {
        response_object(
            &self.id,
            self.options.created,
            &self.options.model,
            status,
            output,
            usage,
        )
    }

    fn start(&mut self, id: Option<&str>, usage: Usage, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        if let Some(id) = id {
            self.id = id.to_string();
        }
        self.usage = self.usage.updated(usage);
        // The API's snapshots carry no usage until the end.
        let response = self.snapshot("in_progress", Vec::new(), Usage::default());
        self.emit(out, "response.created", json!({"response": response}));
        self.emit(out, "response.in_progress", json!({"response": response}));
    }

    /// A stream whose first event is not `Start` still opens with `response.created`.
    fn ensure_started(&mut self, out: &mut Vec<u8>) {
        self.start(None, Usage::default(), out);
    }

    fn output_index(&self) -> usize {
        self.output.len()
    }

    fn text(&mut self, text: &str, out: &mut Vec<u8>) {
        if text.is_empty() {
            return;
        }
        self.ensure_started(out);
        if !matches!(self.open, Some(OpenItem::Message { .. })) {
            self.open_message(out);
        }
        let output_index = self.output_index();
        let Some(OpenItem::Message { item_id, text: all }) = &mut self.open else {
            return;
        };
        all.push_str(text);
        let item_id = item_id.clone();
        self.emit(
            out,
            "response.output_text.delta",
            json!({
                "item_id": item_id,
                "output_index": output_index,
                "content_index": 0,
                "delta": text,
                "logprobs": [],
            }),
        );
    }

    fn open_message(&mut self, out: &mut Vec<u8>) {
        self.close_item("completed", out);
        let output_index = self.output_index();
        let item_id = item_id("msg", &self.id, output_index);
        let item = message_item(&item_id, "in_progress", Vec::new());
        self.emit(
            out,
            "response.output_item.added",
            json!({"output_index": output_index, "item": item}),
        );
        self.emit(
            out,
            "response.content_part.added",
            json!({
                "item_id": item_id,
                "output_index": output_index,
                "content_index": 0,
                "part": output_text_part(""),
            }),
        );
        self.open = Some(OpenItem::Message {
            item_id,
            text: String::new(),
        });
    }

    fn tool_start(&mut self, call_id: &str, name: &str, out: &mut Vec<u8>) {
        self.ensure_started(out);
        self.close_item("completed", out);
        let output_index = self.output_index();
        let item_id = item_id("fc", &self.id, output_index);
        let item = output_function_call(&item_id, "in_progress", call_id, name, "");
        self.emit(
            out,
            "response.output_item.added",
            json!({"output_index": output_index, "item": item}),
        );
        self.open = Some(OpenItem::Call {
            item_id,
            call_id: call_id.to_string(),
            name: name.to_string(),
            arguments: String::new(),
        });
    }

    fn tool_arguments(&mut self, json: &str, out: &mut Vec<u8>) {
        let output_index = self.output_index();
        // Fragments with no open call belong to nothing the client could read.
        let Some(OpenItem::Call {
            item_id, arguments, ..
        }) = &mut self.open
        else {
            return;
        };
        if json.is_empty() {
            return;
        }
        arguments.push_str(json);
        let item_id = item_id.clone();
        self.emit(
            out,
            "response.function_call_arguments.delta",
            json!({"item_id": item_id, "output_index": output_index, "delta": json}),
        );
    }

    /// Writes the open item's `done` events (the item `status` it ended with) and keeps it
    /// for the final response.
    fn close_item(&mut self, status: &str, out: &mut Vec<u8>) {
        let output_index = self.output_index();
        let item = match self.open.take() {
            None => return,
            Some(OpenItem::Message { item_id, text }) => {
                let place = json!({
                    "item_id": item_id,
                    "output_index": output_index,
                    "content_index": 0,
                });
                let mut done = place.clone();
                done["text"] = json!(text);
                done["logprobs"] = json!([]);
                self.emit(out, "response.output_text.done", done);
                let mut part_done = place;
                part_done["part"] = output_text_part(&text);
                self.emit(out, "response.content_part.done", part_done);
                message_item(&item_id, status, vec![output_text_part(&text)])
            }
            Some(OpenItem::Call {
                item_id,
                call_id,
                name,
                arguments,
            }) => {
                self.emit(
                    out,
                    "response.function_call_arguments.done",
                    json!({
                        "item_id": item_id,
                        "output_index": output_index,
                        "arguments": arguments,
                    }),
                );
                output_function_call(&item_id, status, &call_id, &name, &arguments)
            }
        };
        self.emit(
            out,
            "response.output_item.done",
            json!({"output_index": output_index, "item": item}),
        );
        self.output.push(item);
    }

    fn error(&mut self, message: &str, out: &mut Vec<u8>) {
        self.error = Some(message.to_string());
        self.emit(
            out,
            "error",
            json!({"code": "server_error", "message": message, "param": null}),
        );
    }

    /// The last event: the whole response, as complete, incomplete or failed.
    fn end(&mut self, out: &mut Vec<u8>) {
        self.ensure_started(out);
        // The API marks the item the cap or the filter cut short.
        let (status, _) = status_of(self.stop.as_ref());
        let item_status = if status == "incomplete" {
            "incomplete"
        } else {
            "completed"
        };
        self.close_item(item_status, out);
        self.ended = true;
        let output = std::mem::take(&mut self.output);
        let (kind, response) = match (&self.stop, &self.error) {
            (None, Some(message)) => {
                let mut response = self.snapshot("failed", output, self.usage);
                response["error"] = json!({"code": "server_error", "message": message});
                ("response.failed", response)
            }
            (stop, _) => {
                let (status, incomplete_details) = status_of(stop.as_ref());
                let mut response = self.snapshot(status, output, self.usage);
                response["incomplete_details"] = incomplete_details;
                let kind = if status == "incomplete" {
                    "response.incomplete"
                } else {
                    "response.completed"
                };
                (kind, response)
            }
        };
        self.emit(out, kind, json!({"response": response}));
    }
}

impl StreamEncoder for Encoder {
    fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        match event {
            StreamEvent::Start { id, usage, .. } => self.start(id.as_deref(), *usage, out),
            StreamEvent::TextDelta { text } => self.text(text, out),
            StreamEvent::ToolCallStart { id, name } => self.tool_start(id, name, out),
            StreamEvent::ToolCallArguments { json } => self.tool_arguments(json, out),
            StreamEvent::Usage { usage } => self.usage = self.usage.updated(*usage),
            StreamEvent::Stop { reason } => self.stop = Some(reason.clone()),
            StreamEvent::Error { message } => self.error(message, out),
            StreamEvent::End => self.end(out),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn frame(data: &Value) -> SseFrame {
        SseFrame {
            event: data.get("type").and_then(Value::as_str).map(str::to_string),
            data: data.to_string(),
        }
    }

    fn decode(events: &[Value]) -> Vec<StreamEvent> {
        let mut decoder = Decoder::default();
        let mut out = Vec::new();
        for event in events {
            decoder.decode(&frame(event), &mut out);
        }
        decoder.finish(&mut out);
        out
    }

    fn created() -> Value {
        json!({"type": "response.created", "sequence_number": 0, "response": {
            "id": "resp_1", "object": "response", "created_at": 1, "status": "in_progress",
            "model": "gpt-4.1", "output": [], "usage": null}})
    }

    fn completed(output: Value) -> Value {
        json!({"type": "response.completed", "sequence_number": 9, "response": {
            "id": "resp_1", "object": "response", "created_at": 1, "status": "completed",
            "model": "gpt-4.1", "output": output,
            "usage": {"input_tokens": 10, "output_tokens": 4, "total_tokens": 14}}})
    }

    fn options() -> EncoderOptions {
        EncoderOptions {
            model: "mythos-5".into(),
            fallback_id: "gen-1".into(),
            own_id: None,
            created: 1_767_225_600,
            include_usage: false,
        }
    }

    /// The data of every event the encoder writes, checked to carry its name as its `type`.
    fn encode(events: &[StreamEvent]) -> Vec<Value> {
        let mut encoder = Encoder::new(options());
        let mut out = Vec::new();
        for event in events {
            encoder.encode(event, &mut out);
        }
        let text = String::from_utf8(out).unwrap();
        text.split_terminator("\n\n")
            .map(|event| {
                let (name, data) = event.split_once('\n').unwrap();
                let data: Value =
                    serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
                assert_eq!(name.strip_prefix("event: "), data["type"].as_str());
                data
            })
            .collect()
    }

    fn types(events: &[Value]) -> Vec<&str> {
        events.iter().map(|e| e["type"].as_str().unwrap()).collect()
    }

    fn text(text: &str) -> StreamEvent {
        StreamEvent::TextDelta { text: text.into() }
    }

    #[test]
    fn items_sent_whole_are_read_once() {
        let events = decode(&[
            created(),
            json!({"type": "response.output_item.added", "output_index": 0,
                "item": {"id": "msg_1", "type": "message", "status": "in_progress", "role": "assistant", "content": []}}),
            json!({"type": "response.output_text.done", "item_id": "msg_1", "output_index": 0, "content_index": 0, "text": "Hello"}),
            json!({"type": "response.content_part.done", "item_id": "msg_1", "output_index": 0, "content_index": 0,
                "part": {"type": "output_text", "text": "Hello", "annotations": []}}),
            json!({"type": "response.output_item.added", "output_index": 1,
                "item": {"id": "fc_1", "type": "function_call", "status": "completed", "call_id": "call_1",
                    "name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}),
            json!({"type": "response.function_call_arguments.done", "item_id": "fc_1", "output_index": 1,
                "arguments": "{\"city\":\"Oslo\"}"}),
            json!({"type": "response.output_item.done", "output_index": 1,
                "item": {"id": "fc_1", "type": "function_call", "status": "completed", "call_id": "call_1",
                    "name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}),
            completed(json!([])),
        ]);
        assert_eq!(
            events[1..],
            [
                text("Hello"),
                StreamEvent::ToolCallStart {
                    id: "call_1".into(),
                    name: "get_weather".into()
                },
                StreamEvent::ToolCallArguments {
                    json: "{\"city\":\"Oslo\"}".into()
                },
                StreamEvent::Stop {
                    reason: StopReason::ToolUse
                },
                StreamEvent::Usage {
                    usage: Usage {
                        input_tokens: Some(10),
                        output_tokens: Some(4)
                    }
                },
                StreamEvent::End,
            ]
        );
    }

    #[test]
    fn arguments_for_a_call_after_another_item_began_are_an_error() {
        let call = |id: &str, index: u64| {
            json!({"type": "response.output_item.added", "output_index": index,
                "item": {"id": id, "type": "function_call", "call_id": format!("call_{id}"), "name": "f", "arguments": ""}})
        };
        let events = decode(&[
            created(),
            call("fc_a", 0),
            call("fc_b", 1),
            json!({"type": "response.function_call_arguments.delta", "item_id": "fc_a", "output_index": 0, "delta": "{}"}),
            json!({"type": "response.function_call_arguments.delta", "item_id": "msg_x", "output_index": 2, "delta": "{}"}),
        ]);
        assert!(
            matches!(&events[3], StreamEvent::Error { message } if message.contains("`fc_a` continued")),
            "{events:?}"
        );
        assert!(
            matches!(&events[4], StreamEvent::Error { message } if message.contains("not a function call")),
            "{events:?}"
        );
    }

    #[test]
    fn reasoning_is_skipped_and_unknown_items_are_reported() {
        let events = decode(&[
            created(),
            json!({"type": "response.output_item.added", "output_index": 0,
                "item": {"id": "rs_1", "type": "reasoning", "summary": []}}),
            json!({"type": "response.reasoning_summary_text.delta", "item_id": "rs_1", "output_index": 0, "delta": "Thinking"}),
            json!({"type": "response.output_item.added", "output_index": 1,
                "item": {"id": "ws_1", "type": "web_search_call", "status": "in_progress"}}),
        ]);
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(
            matches!(&events[1], StreamEvent::Error { message } if message.contains("`web_search_call`")),
            "{events:?}"
        );
    }

    #[test]
    fn a_failed_response_is_one_error_then_the_end() {
        let failed = json!({"type": "response.failed", "sequence_number": 3, "response": {
            "id": "resp_1", "status": "failed", "model": "gpt-4.1", "output": [],
            "error": {"code": "server_error", "message": "The model failed."}}});
        let alone = decode(&[created(), failed.clone()]);
        assert_eq!(
            alone[1..],
            [
                StreamEvent::Error {
                    message: "The model failed.".into()
                },
                StreamEvent::End
            ]
        );
        let after_error = decode(&[
            created(),
            json!({"type": "error", "sequence_number": 2, "code": "server_error", "message": "Overloaded", "param": null}),
            failed,
        ]);
        assert_eq!(
            after_error[1..],
            [
                StreamEvent::Error {
                    message: "Overloaded".into()
                },
                StreamEvent::End
            ]
        );
    }

    #[test]
    fn unreadable_data_becomes_an_error_naming_it() {
        let mut decoder = Decoder::default();
        let mut events = Vec::new();
        for data in ["{\"type\": \"response.out", "[1, 2]", "[DONE]", ""] {
            let frame = SseFrame {
                event: None,
                data: data.into(),
            };
            decoder.decode(&frame, &mut events);
        }
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(
            matches!(&events[0], StreamEvent::Error { message } if message.contains("not JSON") && message.contains("response.out"))
        );
        assert!(
            matches!(&events[1], StreamEvent::Error { message } if message.contains("not a JSON object"))
        );
    }

    #[test]
    fn nothing_after_the_last_event_is_read() {
        let events = decode(&[
            created(),
            completed(json!([])),
            json!({"type": "response.output_text.delta", "item_id": "msg_1", "content_index": 0, "delta": "late"}),
        ]);
        assert_eq!(events.last(), Some(&StreamEvent::End));
        assert!(!events.contains(&text("late")));
    }

    #[test]
    fn events_are_numbered_in_order_and_items_close_before_the_next_opens() {
        let events = encode(&[
            StreamEvent::Start {
                id: Some("msg_01".into()),
                model: "claude".into(),
                usage: Usage {
                    input_tokens: Some(9),
                    output_tokens: None,
                },
            },
            text("Checking."),
            StreamEvent::ToolCallStart {
                id: "toolu_a".into(),
                name: "weather".into(),
            },
            StreamEvent::ToolCallArguments {
                json: "{\"city\":".into(),
            },
            StreamEvent::ToolCallArguments {
                json: "\"Oslo\"}".into(),
            },
            StreamEvent::Stop {
                reason: StopReason::ToolUse,
            },
            StreamEvent::Usage {
                usage: Usage {
                    input_tokens: None,
                    output_tokens: Some(20),
                },
            },
            StreamEvent::End,
        ]);
        assert_eq!(
            types(&events),
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        for (n, event) in events.iter().enumerate() {
            assert_eq!(event["sequence_number"], n);
        }
        assert_eq!(events[8]["output_index"], 1);
        assert_eq!(events[11]["arguments"], "{\"city\":\"Oslo\"}");
        let response = &events[13]["response"];
        assert_eq!(response["id"], "msg_01");
        assert_eq!(response["model"], "mythos-5");
        assert_eq!(response["status"], "completed");
        assert_eq!(response["output"][0]["content"][0]["text"], "Checking.");
        assert_eq!(response["output"][1]["call_id"], "toolu_a");
        assert_eq!(response["usage"]["input_tokens"], 9);
        assert_eq!(response["usage"]["total_tokens"], 29);
    }

    #[test]
    fn a_capped_answer_ends_incomplete() {
        let events = encode(&[
            text("Once upon a"),
            StreamEvent::Stop {
                reason: StopReason::MaxTokens,
            },
            StreamEvent::End,
        ]);
        let last = events.last().unwrap();
        assert_eq!(last["type"], "response.incomplete");
        assert_eq!(last["response"]["id"], "gen-1");
        assert_eq!(
            last["response"]["incomplete_details"],
            json!({"reason": "max_output_tokens"})
        );
        assert_eq!(last["response"]["usage"], Value::Null);
        assert_eq!(last["response"]["output"][0]["status"], "incomplete");
    }

    #[test]
    fn an_error_is_an_error_event_and_an_end_without_a_stop_fails_the_response() {
        let events = encode(&[
            StreamEvent::Start {
                id: None,
                model: "m".into(),
                usage: Usage::default(),
            },
            StreamEvent::Error {
                message: "overloaded".into(),
            },
            StreamEvent::End,
            text("ignored"),
        ]);
        assert_eq!(
            types(&events),
            [
                "response.created",
                "response.in_progress",
                "error",
                "response.failed"
            ]
        );
        assert_eq!(
            events[2],
            json!({"type": "error", "sequence_number": 2, "code": "server_error", "message": "overloaded", "param": null})
        );
        assert_eq!(events[3]["response"]["status"], "failed");
        assert_eq!(events[3]["response"]["error"]["message"], "overloaded");
    }

    fn event_like_json() -> impl Strategy<Value = Value> {
        crate::translate::arbitrary::json_with(
            &[
                "type",
                "response",
                "item",
                "item_id",
                "output_index",
                "content_index",
                "delta",
                "text",
                "arguments",
                "call_id",
                "name",
                "id",
                "output",
                "usage",
                "status",
                "incomplete_details",
                "reason",
                "error",
                "message",
                "part",
            ],
            &[
                "response.created",
                "response.output_item.added",
                "response.output_text.delta",
                "response.output_text.done",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.completed",
                "response.incomplete",
                "response.failed",
                "error",
                "message",
                "function_call",
                "reasoning",
                "fc_1",
                "msg_1",
                "{\"a\":",
                "1}",
            ],
        )
    }

    proptest! {
        /// Whatever a provider sends, decoding never panics, and what is decoded encodes.
        #[test]
        fn any_events_decode_without_panicking(
            events in prop::collection::vec(event_like_json(), 1..10)
        ) {
            let decoded = decode(&events);
            let mut encoder = Encoder::new(options());
            let mut out = Vec::new();
            for event in &decoded {
                encoder.encode(event, &mut out);
            }
        }
    }
}
