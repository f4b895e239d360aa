//! Server-sent events from a provider, rewritten for the client one event at a time.
//!
//! Bytes arrive in arbitrary pieces; [`SseRewriter::push`] returns every event completed so
//! far, rewritten, and keeps only the unfinished tail, so the client receives each event as
//! soon as the provider finishes sending it and no answer is ever held whole. Per event it
//! shows the client-facing model name, reads token usage for the audit log, and notes whether
//! the stream reached its proper end (`[DONE]` for OpenAI, `message_stop` for Anthropic,
//! `response.completed` (or `.incomplete`, `.failed`) for OpenAI Responses; Gemini has no
//! terminal event: its stream is complete when it closes after a finish reason).
//!
//! [`JsonArrayWriter`] turns a Gemini SSE stream into the JSON array `streamGenerateContent`
//! sends when the client did not ask for `alt=sse`.

use clearance_core::api::ApiSurface;
use serde_json::Value;

use crate::Usage;
use crate::response::usage_of;

/// A provider's stream turned into the client's, one event at a time: the same-format
/// [`SseRewriter`] or the cross-format [`crate::translate::StreamTranslator`].
pub trait StreamRewrite: Send {
    /// Feeds the provider's next bytes; returns the client bytes of every event they complete.
    fn push(&mut self, chunk: &[u8]) -> Vec<u8>;
    /// The provider closed the stream: whatever is still owed to the client.
    fn finish(&mut self) -> Vec<u8>;
    /// What the provider's stream has said so far.
    fn progress(&self) -> StreamProgress;
    /// Bytes held back: the provider's unfinished event. The caller caps this (an endless
    /// line or a huge event would otherwise grow it without bound).
    fn pending_bytes(&self) -> usize;

    /// Token counts seen so far.
    fn usage(&self) -> Usage {
        self.progress().usage
    }

    /// Whether the stream's terminal event went by.
    fn completed(&self) -> bool {
        self.progress().completed
    }

    /// Whether the provider sent an error event inside the stream.
    fn upstream_error(&self) -> bool {
        self.progress().upstream_error
    }
}

/// What a provider's stream has said so far, for the audit record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamProgress {
    pub usage: Usage,
    /// The stream's terminal event went by.
    pub completed: bool,
    /// The provider sent an error event inside the stream.
    pub upstream_error: bool,
}

impl StreamRewrite for SseRewriter {
    fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        SseRewriter::push(self, chunk)
    }

    fn finish(&mut self) -> Vec<u8> {
        SseRewriter::finish(self)
    }

    fn progress(&self) -> StreamProgress {
        self.progress
    }

    fn pending_bytes(&self) -> usize {
        self.pending.len()
    }
}

pub struct SseRewriter {
    surface: ApiSurface,
    client_model: String,
    /// Drop OpenAI's usage-only chunk: the gateway asked for it, the client did not.
    strip_usage_chunk: bool,
    pending: Vec<u8>,
    /// How much of `pending` has been searched for an event's end: a long unfinished event
    /// is scanned once, not again with every piece that extends it.
    scanned: usize,
    progress: StreamProgress,
    /// Gemini: a finish reason went by (the stream is complete when it then closes).
    finished: bool,
}

impl SseRewriter {
    pub fn new(surface: ApiSurface, client_model: &str, strip_usage_chunk: bool) -> SseRewriter {
        SseRewriter {
            surface,
            client_model: client_model.to_string(),
            strip_usage_chunk,
            pending: Vec::new(),
            scanned: 0,
            progress: StreamProgress::default(),
            finished: false,
        }
    }

    /// Feeds the next bytes; returns the rewritten complete events among what arrived so far.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        self.pending.extend_from_slice(chunk);
        let mut out = Vec::with_capacity(chunk.len() + 32);
        let mut start = 0;
        let mut from = resume_at(self.scanned);
        while let Some((end, terminator)) = find_event_end(&self.pending[from..]) {
            let end = from + end;
            let event = self.pending[start..end].to_vec();
            self.rewrite_event(&event, &mut out);
            start = end + terminator;
            from = start;
        }
        self.pending.drain(..start);
        self.scanned = self.pending.len();
        out
    }

    /// Whatever is left when the provider closes: passed on as it is. A Gemini stream that
    /// gave its finish reason is complete now.
    pub fn finish(&mut self) -> Vec<u8> {
        if self.finished {
            self.progress.completed = true;
        }
        std::mem::take(&mut self.pending)
    }

    fn rewrite_event(&mut self, event: &[u8], out: &mut Vec<u8>) {
        let Ok(text) = std::str::from_utf8(event) else {
            return emit(out, event);
        };
        let data_lines: Vec<&str> = text.lines().filter_map(data_of).collect();
        if data_lines.len() != 1 {
            return emit(out, event);
        }
        let data = data_lines[0];
        if data == "[DONE]" {
            self.progress.completed = true;
            return emit(out, event);
        }
        let Ok(Value::Object(mut object)) = serde_json::from_str::<Value>(data) else {
            // Neither JSON nor `[DONE]`: the provider's stream is broken, whatever follows.
            self.progress.upstream_error = true;
            return emit(out, event);
        };
        let keep = match self.surface {
            // Embeddings and token counts are never streamed; were one, it would be read in the
            // shape of its API family.
            ApiSurface::OpenaiChat | ApiSurface::OpenaiEmbeddings => self.openai_chunk(&mut object),
            ApiSurface::AnthropicMessages | ApiSurface::AnthropicCountTokens => {
                self.anthropic_event(&mut object)
            }
            ApiSurface::Gemini => self.gemini_chunk(&mut object),
            ApiSurface::OpenaiResponses => self.responses_event(&mut object),
        };
        if !keep {
            return;
        }
        let json = serde_json::to_string(&object).expect("a JSON map always serialises");
        for line in text.lines() {
            if data_of(line).is_some() {
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(json.as_bytes());
            } else {
                out.extend_from_slice(line.as_bytes());
            }
            out.push(b'\n');
        }
        out.push(b'\n');
    }

    /// Returns whether the chunk goes to the client.
    fn openai_chunk(&mut self, chunk: &mut serde_json::Map<String, Value>) -> bool {
        if chunk.contains_key("error") {
            self.progress.upstream_error = true;
        }
        if chunk.contains_key("model") {
            chunk.insert("model".into(), Value::String(self.client_model.clone()));
        }
        if self.strip_usage_chunk && chunk.get("usage").is_some_and(Value::is_null) {
            // `"usage": null` on every chunk appears only because the gateway asked for usage.
            chunk.remove("usage");
        }
        let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) else {
            return true;
        };
        self.progress.usage = usage_of(self.surface, usage);
        let usage_only = chunk
            .get("choices")
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty);
        !(self.strip_usage_chunk && usage_only)
    }

    fn anthropic_event(&mut self, event: &mut serde_json::Map<String, Value>) -> bool {
        match event.get("type").and_then(Value::as_str) {
            Some("message_start") => {
                if let Some(Value::Object(message)) = event.get_mut("message") {
                    message.insert("model".into(), Value::String(self.client_model.clone()));
                    if let Some(usage) = message.get("usage") {
                        self.progress.usage.input_tokens =
                            usage_of(self.surface, usage).input_tokens;
                    }
                }
            }
            Some("message_delta") => {
                if let Some(usage) = event.get("usage") {
                    let delta = usage_of(self.surface, usage);
                    self.progress.usage.output_tokens =
                        delta.output_tokens.or(self.progress.usage.output_tokens);
                    self.progress.usage.input_tokens =
                        delta.input_tokens.or(self.progress.usage.input_tokens);
                }
            }
            Some("message_stop") => self.progress.completed = true,
            Some("error") => self.progress.upstream_error = true,
            _ => {}
        }
        true
    }

    /// A `GenerateContentResponse` chunk: `modelVersion` shows the client's model name; each
    /// chunk's `usageMetadata` holds the counts so far; a finish reason (or a blocked prompt)
    /// means the stream is whole once it closes.
    fn gemini_chunk(&mut self, chunk: &mut serde_json::Map<String, Value>) -> bool {
        if chunk.contains_key("error") {
            self.progress.upstream_error = true;
        }
        if chunk.contains_key("modelVersion") {
            chunk.insert(
                "modelVersion".into(),
                Value::String(self.client_model.clone()),
            );
        }
        if let Some(usage) = chunk.get("usageMetadata").filter(|u| u.is_object()) {
            let read = usage_of(self.surface, usage);
            self.progress.usage = self.progress.usage.updated(read);
        }
        let finished = chunk
            .get("candidates")
            .and_then(Value::as_array)
            .is_some_and(|candidates| {
                candidates
                    .iter()
                    .any(|c| c.get("finishReason").is_some_and(Value::is_string))
            })
            || chunk
                .get("promptFeedback")
                .and_then(|feedback| feedback.get("blockReason"))
                .is_some_and(Value::is_string);
        self.finished |= finished;
        true
    }

    /// An OpenAI Responses event: the `response` object it carries shows the client's model
    /// name; its usage is read when present; `response.completed`, `.incomplete` and `.failed`
    /// end the stream.
    fn responses_event(&mut self, event: &mut serde_json::Map<String, Value>) -> bool {
        if let Some(Value::Object(response)) = event.get_mut("response") {
            if response.contains_key("model") {
                response.insert("model".into(), Value::String(self.client_model.clone()));
            }
            if let Some(usage) = response.get("usage").filter(|u| u.is_object()) {
                self.progress.usage = usage_of(self.surface, usage);
            }
        }
        match event.get("type").and_then(Value::as_str) {
            Some("response.completed" | "response.incomplete") => self.progress.completed = true,
            Some("response.failed") => {
                self.progress.completed = true;
                self.progress.upstream_error = true;
            }
            Some("error") => self.progress.upstream_error = true,
            _ => {}
        }
        true
    }
}

/// Writes Gemini's server-sent events as the JSON array `streamGenerateContent` answers with
/// when the client did not ask for `alt=sse`: `[` before the first element, `,` between
/// elements, each element the data of one event, and `]` when [`close`](Self::close)d. Fed
/// the client's SSE bytes (complete events, as a [`StreamRewrite`] gives them), it holds
/// nothing back but an unfinished event.
#[derive(Debug, Default)]
pub struct JsonArrayWriter {
    framer: SseFramer,
    opened: bool,
    closed: bool,
}

impl JsonArrayWriter {
    /// The array text for the events `sse` completes.
    pub fn push(&mut self, sse: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(sse.len() + 8);
        for frame in self.framer.push(sse) {
            if frame.data.is_empty() || self.closed {
                continue;
            }
            let separator: &[u8] = if self.opened { b",\r\n" } else { b"[" };
            out.extend_from_slice(separator);
            self.opened = true;
            out.extend_from_slice(frame.data.as_bytes());
            out.push(b'\n');
        }
        out
    }

    /// The end of the array (the whole of it, `[]`, when no event went by); nothing once closed.
    pub fn close(&mut self) -> Vec<u8> {
        if self.closed {
            return Vec::new();
        }
        self.closed = true;
        if self.opened {
            b"]\n".to_vec()
        } else {
            b"[]\n".to_vec()
        }
    }
}

/// One server-sent event: its `event:` name, if any, and its `data:` lines joined by `\n`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseFrame {
    pub event: Option<String>,
    pub data: String,
}

impl SseFrame {
    /// Parses one event's text (without its blank-line terminator). Comment lines and fields
    /// other than `event` and `data` are ignored, as the SSE spec says.
    pub fn parse(text: &str) -> SseFrame {
        let mut frame = SseFrame::default();
        let mut data_lines = 0;
        for line in text.lines() {
            if let Some(data) = data_of(line) {
                if data_lines > 0 {
                    frame.data.push('\n');
                }
                frame.data.push_str(data);
                data_lines += 1;
            } else if let Some(name) = line.strip_prefix("event:") {
                frame.event = Some(name.trim_start().to_string());
            }
        }
        frame
    }

    /// Whether the event is empty (only comments, e.g. a keep-alive `: ping`).
    pub fn is_empty(&self) -> bool {
        self.event.is_none() && self.data.is_empty()
    }
}

/// Splits a byte stream into [`SseFrame`]s, holding back only the unfinished last event.
#[derive(Debug, Default)]
pub struct SseFramer {
    pending: Vec<u8>,
    /// How much of `pending` has been searched for an event's end (see [`SseRewriter`]).
    scanned: usize,
}

impl SseFramer {
    /// Feeds the next bytes; returns every event they complete (empty events skipped).
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseFrame> {
        self.pending.extend_from_slice(chunk);
        let mut frames = Vec::new();
        let mut start = 0;
        let mut from = resume_at(self.scanned);
        while let Some((end, terminator)) = find_event_end(&self.pending[from..]) {
            let end = from + end;
            let text = String::from_utf8_lossy(&self.pending[start..end]);
            let frame = SseFrame::parse(&text);
            if !frame.is_empty() {
                frames.push(frame);
            }
            start = end + terminator;
            from = start;
        }
        self.pending.drain(..start);
        self.scanned = self.pending.len();
        frames
    }

    /// Bytes of the unfinished event held back.
    pub fn pending_bytes(&self) -> usize {
        self.pending.len()
    }
}

fn emit(out: &mut Vec<u8>, event: &[u8]) {
    out.extend_from_slice(event);
    out.extend_from_slice(b"\n\n");
}

/// The value of a `data:` line (one optional space after the colon, as the SSE spec says).
fn data_of(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("data:")?;
    Some(rest.strip_prefix(' ').unwrap_or(rest))
}

/// Where to search on for an event's end when the first `scanned` bytes held none: three
/// bytes back, since a terminator (at most `\r\n\r\n`) may straddle the old end.
fn resume_at(scanned: usize) -> usize {
    scanned.saturating_sub(3)
}

/// The end of the first complete event and the length of its blank-line terminator (`\n\n`
/// or `\r\n\r\n`, whichever starts first).
///
/// One pass that stops at the first terminator: each event costs its own length. (Looking for
/// each kind of terminator separately scanned the rest of the buffer for the kind that was
/// absent, once per event: quadratic in a chunk of many events.)
fn find_event_end(buffer: &[u8]) -> Option<(usize, usize)> {
    (0..buffer.len()).find_map(|i| {
        let rest = &buffer[i..];
        if rest.starts_with(b"\n\n") {
            Some((i, 2))
        } else if rest.starts_with(b"\r\n\r\n") {
            Some((i, 4))
        } else {
            None
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const OPENAI_STREAM: &str = concat!(
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"up\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"up\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"}}]}\n\n",
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"up\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"up\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1,\"total_tokens\":6}}\n\n",
        "data: [DONE]\n\n",
    );

    const ANTHROPIC_STREAM: &str = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"up\",\"content\":[],\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        "event: ping\ndata: {\"type\": \"ping\"}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":15}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );

    const GEMINI_STREAM: &str = concat!(
        "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Hel\"}]}}],\"usageMetadata\":{\"promptTokenCount\":8,\"totalTokenCount\":8},\"modelVersion\":\"gemini-3-flash-001\",\"responseId\":\"r1\"}\r\n\r\n",
        "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"lo\"}]},\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":8,\"candidatesTokenCount\":2,\"totalTokenCount\":10},\"modelVersion\":\"gemini-3-flash-001\",\"responseId\":\"r1\"}\r\n\r\n",
    );

    fn run(rewriter: &mut SseRewriter, pieces: &[&[u8]]) -> String {
        let mut out = Vec::new();
        for piece in pieces {
            out.extend(rewriter.push(piece));
        }
        out.extend(rewriter.finish());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn openai_chunks_show_the_client_model_and_usage_is_read() {
        let mut rewriter = SseRewriter::new(ApiSurface::OpenaiChat, "mythos-5", false);
        let out = run(&mut rewriter, &[OPENAI_STREAM.as_bytes()]);
        assert!(!out.contains("\"model\":\"up\""));
        assert_eq!(out.matches("\"model\":\"mythos-5\"").count(), 4);
        assert!(out.ends_with("data: [DONE]\n\n"));
        assert!(rewriter.completed());
        assert_eq!(
            rewriter.usage(),
            Usage {
                input_tokens: Some(5),
                output_tokens: Some(1)
            }
        );
    }

    #[test]
    fn usage_chunk_the_client_did_not_ask_for_is_removed() {
        let mut rewriter = SseRewriter::new(ApiSurface::OpenaiChat, "m", true);
        let out = run(&mut rewriter, &[OPENAI_STREAM.as_bytes()]);
        assert!(!out.contains("\"usage\""));
        assert_eq!(out.matches("data: ").count(), 4);
        assert_eq!(rewriter.usage().output_tokens, Some(1));
    }

    #[test]
    fn usage_null_fields_the_client_did_not_ask_for_are_removed() {
        let mut rewriter = SseRewriter::new(ApiSurface::OpenaiChat, "m", true);
        let chunk = "data: {\"model\":\"up\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}],\"usage\":null}\n\n";
        let out = run(&mut rewriter, &[chunk.as_bytes()]);
        assert!(!out.contains("usage"), "{out}");
        let mut asked = SseRewriter::new(ApiSurface::OpenaiChat, "m", false);
        assert!(run(&mut asked, &[chunk.as_bytes()]).contains("\"usage\":null"));
    }

    #[test]
    fn anthropic_events_keep_their_names_and_order() {
        let mut rewriter = SseRewriter::new(ApiSurface::AnthropicMessages, "mythos-5", false);
        let out = run(&mut rewriter, &[ANTHROPIC_STREAM.as_bytes()]);
        let names: Vec<&str> = out
            .lines()
            .filter_map(|l| l.strip_prefix("event: "))
            .collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "ping",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert!(out.contains("\"model\":\"mythos-5\""));
        assert!(rewriter.completed());
        assert_eq!(
            rewriter.usage(),
            Usage {
                input_tokens: Some(9),
                output_tokens: Some(15)
            }
        );
    }

    #[test]
    fn gemini_chunks_show_the_client_model_and_complete_on_close_after_a_finish_reason() {
        let mut rewriter = SseRewriter::new(ApiSurface::Gemini, "gemini-flash", false);
        let first = rewriter.push(&GEMINI_STREAM.as_bytes()[..GEMINI_STREAM.len() / 2]);
        let first = String::from_utf8(first).unwrap();
        assert!(
            first.contains("\"modelVersion\":\"gemini-flash\""),
            "{first}"
        );
        assert!(!rewriter.completed());
        let out = run(
            &mut rewriter,
            &[&GEMINI_STREAM.as_bytes()[GEMINI_STREAM.len() / 2..]],
        );
        assert!(!out.contains("gemini-3-flash-001"), "{out}");
        assert!(rewriter.completed());
        assert_eq!(
            rewriter.usage(),
            Usage {
                input_tokens: Some(8),
                output_tokens: Some(2)
            }
        );
        // Cut before the finish reason: not complete, however it closes.
        let mut cut = SseRewriter::new(ApiSurface::Gemini, "m", false);
        let first_event = GEMINI_STREAM.split_inclusive("\r\n\r\n").next().unwrap();
        run(&mut cut, &[first_event.as_bytes()]);
        assert!(!cut.completed());
        let mut failed = SseRewriter::new(ApiSurface::Gemini, "m", false);
        run(
            &mut failed,
            &[b"data: {\"error\":{\"code\":500,\"message\":\"x\",\"status\":\"INTERNAL\"}}\n\n"],
        );
        assert!(failed.upstream_error());
    }

    #[test]
    fn responses_events_show_the_client_model_and_end_with_response_completed() {
        let stream = concat!(
            "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\",\"model\":\"up\",\"status\":\"in_progress\",\"usage\":null}}\n\n",
            "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":1,\"delta\":\"Hi\"}\n\n",
            "event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":2,\"response\":{\"id\":\"resp_1\",\"model\":\"up\",\"status\":\"completed\",\"usage\":{\"input_tokens\":4,\"output_tokens\":1,\"total_tokens\":5}}}\n\n",
        );
        let mut rewriter = SseRewriter::new(ApiSurface::OpenaiResponses, "client", false);
        let out = run(&mut rewriter, &[stream.as_bytes()]);
        assert_eq!(out.matches("\"model\":\"client\"").count(), 2, "{out}");
        assert!(rewriter.completed());
        assert_eq!(rewriter.usage().output_tokens, Some(1));
    }

    #[test]
    fn a_gemini_stream_becomes_the_json_array_without_alt_sse() {
        let mut rewriter = SseRewriter::new(ApiSurface::Gemini, "gemini-flash", false);
        let mut array = JsonArrayWriter::default();
        let mut out = Vec::new();
        for piece in GEMINI_STREAM.as_bytes().chunks(13) {
            out.extend(array.push(&rewriter.push(piece)));
        }
        out.extend(array.push(&rewriter.finish()));
        out.extend(array.close());
        assert!(array.close().is_empty());
        let value: Value = serde_json::from_slice(&out).unwrap();
        let chunks = value.as_array().unwrap();
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0]["modelVersion"], "gemini-flash");
        assert_eq!(chunks[1]["candidates"][0]["finishReason"], "STOP");
        let mut empty = JsonArrayWriter::default();
        assert_eq!(empty.close(), b"[]\n");
    }

    #[test]
    fn a_cut_stream_is_not_completed() {
        let mut rewriter = SseRewriter::new(ApiSurface::AnthropicMessages, "m", false);
        let cut = &ANTHROPIC_STREAM.as_bytes()[..300];
        run(&mut rewriter, &[cut]);
        assert!(!rewriter.completed());
    }

    #[test]
    fn frames_carry_the_event_name_and_joined_data_lines() {
        let mut framer = SseFramer::default();
        let frames = framer.push(
            b"event: a\ndata: {\"x\":\ndata: 1}\n\n: keep-alive\n\ndata:[DONE]\r\n\r\ndata: tail",
        );
        assert_eq!(
            frames,
            [
                SseFrame {
                    event: Some("a".into()),
                    data: "{\"x\":\n1}".into()
                },
                SseFrame {
                    event: None,
                    data: "[DONE]".into()
                },
            ]
        );
        assert_eq!(framer.push(b"\n\n")[0].data, "tail");
    }

    #[test]
    fn a_terminator_split_across_pieces_is_found() {
        for terminator in ["\n\n", "\r\n\r\n"] {
            let event = format!("data: {}{terminator}data: b{terminator}", "a".repeat(1000));
            let mut framer = SseFramer::default();
            let mut frames = Vec::new();
            for byte in event.as_bytes() {
                frames.extend(framer.push(std::slice::from_ref(byte)));
            }
            assert_eq!(frames.len(), 2, "{terminator:?}");
            assert_eq!(framer.pending_bytes(), 0);
            let mut rewriter = SseRewriter::new(ApiSurface::OpenaiChat, "m", false);
            let out = run(
                &mut rewriter,
                &event.as_bytes().chunks(7).collect::<Vec<_>>(),
            );
            assert_eq!(out.matches("data: ").count(), 2, "{terminator:?}");
        }
    }

    proptest! {
        /// However the provider's bytes are split, the client receives the same events.
        #[test]
        fn splitting_never_changes_the_output(cuts in proptest::collection::vec(0usize..1200, 0..12)) {
            let bytes = ANTHROPIC_STREAM.as_bytes();
            let mut whole = SseRewriter::new(ApiSurface::AnthropicMessages, "m", false);
            let expected = run(&mut whole, &[bytes]);
            let mut points: Vec<usize> = cuts.into_iter().map(|c| c % bytes.len()).collect();
            points.sort_unstable();
            let mut pieces = Vec::new();
            let mut last = 0;
            for p in points { pieces.push(&bytes[last..p]); last = p; }
            pieces.push(&bytes[last..]);
            let mut split = SseRewriter::new(ApiSurface::AnthropicMessages, "m", false);
            prop_assert_eq!(run(&mut split, &pieces), expected);
        }
    }
}
