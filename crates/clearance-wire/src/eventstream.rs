//! Amazon's binary event-stream framing (`application/vnd.amazon.eventstream`), the wire under
//! Bedrock's `ConverseStream` and `InvokeModelWithResponseStream`, turned into the same
//! [`SseFrame`]s a server-sent-events stream gives, so that the stream decoders of
//! [`crate::translate`] read either without knowing which framing carried them.
//!
//! An event-stream message is a prelude (total length, headers length, prelude CRC), typed
//! headers, a payload and a message CRC. Reading and writing messages, CRCs included, is done
//! by `aws-smithy-eventstream`, the crate AWS's own Rust SDK uses; this module only waits for a
//! whole message (its length is the prelude's first four bytes) and says what the message
//! means:
//! - [`EventStreamFramer::converse`]: `ConverseStream`. An event (`:message-type` `event`)
//!   becomes `SseFrame { event: <:event-type>, data: <payload JSON> }`; an exception becomes
//!   `event: "exception:<:exception-type>"` with its payload (`{"message": ...}`), which the
//!   Bedrock decoder turns into a stream error.
//! - [`EventStreamFramer::invoke_model_chunks`]: `InvokeModelWithResponseStream` for Anthropic
//!   models, whose `chunk` events carry `{"bytes": "<base64 of one Anthropic Messages stream
//!   event>"}`: each is unwrapped into `SseFrame { event: <the event's "type">, data: <the
//!   event JSON> }`, so that the Anthropic decoder reads it unchanged; exceptions become
//!   Anthropic `error` events.
//!
//! A message that cannot be read (bad CRC, impossible length, bad headers, a stream that ends
//! inside a message) becomes one error frame, never a panic, and the framer reads nothing
//! after it: past a broken message there is no telling where the next one starts.
//!
//! [`encode_event`], [`encode_exception`] and [`encode_chunk`] write messages the way Bedrock
//! does, for the Bedrock stream encoder, the fake provider and tests.

use aws_smithy_eventstream::frame::{read_message_from, write_message_to};
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

use crate::sse::{SseFrame, SseFramer};

/// Splits a provider's byte stream into frames the stream decoders read: server-sent events
/// ([`SseFramer`]) or Amazon event-stream messages ([`EventStreamFramer`]).
pub trait Framer: Send {
    /// Feeds the next bytes; returns every frame they complete.
    fn push(&mut self, chunk: &[u8]) -> Vec<SseFrame>;
    /// Bytes held back: the unfinished last frame. The caller caps this.
    fn pending_bytes(&self) -> usize;
    /// The provider closed the stream: the frames still owed (an error for a frame it cut
    /// short, where the framing can tell).
    fn finish(&mut self) -> Vec<SseFrame> {
        Vec::new()
    }
}

impl Framer for SseFramer {
    fn push(&mut self, chunk: &[u8]) -> Vec<SseFrame> {
        SseFramer::push(self, chunk)
    }

    /// An unfinished last event is not passed on: a server-sent event exists only once its
    /// blank line arrived.
    fn pending_bytes(&self) -> usize {
        SseFramer::pending_bytes(self)
    }
}

/// The prelude: total length, headers length, prelude CRC (four bytes each).
const PRELUDE_LEN: usize = 12;
/// The prelude and the message CRC: the smallest message there is.
const MIN_MESSAGE_LEN: usize = PRELUDE_LEN + 4;
/// The largest message the event-stream format allows (16 MiB). A prelude announcing more is
/// broken, and waiting for it would only hold bytes until the caller's cap.
pub const MAX_MESSAGE_LEN: usize = 16 * 1024 * 1024;

/// The exception type of the error frame a [`EventStreamFramer::converse`] framer gives for a
/// message it cannot read (`exception:malformedEventStream`).
pub const MALFORMED_STREAM: &str = "malformedEventStream";

/// What the messages of a stream carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Payloads {
    /// `ConverseStream`: each event's payload is the event's JSON.
    Converse,
    /// `InvokeModelWithResponseStream` of an Anthropic model: `chunk` events wrapping
    /// Anthropic Messages stream events.
    AnthropicChunks,
}

/// Splits an `application/vnd.amazon.eventstream` body into frames, one per message, holding
/// back only the unfinished last message.
#[derive(Debug)]
pub struct EventStreamFramer {
    payloads: Payloads,
    pending: Vec<u8>,
    /// A message could not be read: nothing after it is.
    broken: bool,
}

impl EventStreamFramer {
    /// For `ConverseStream` (see the module documentation).
    pub fn converse() -> EventStreamFramer {
        EventStreamFramer::new(Payloads::Converse)
    }

    /// For `InvokeModelWithResponseStream` answered by an Anthropic model: frames the
    /// Anthropic Messages decoder reads (see the module documentation).
    pub fn invoke_model_chunks() -> EventStreamFramer {
        EventStreamFramer::new(Payloads::AnthropicChunks)
    }

    fn new(payloads: Payloads) -> EventStreamFramer {
        EventStreamFramer {
            payloads,
            pending: Vec::new(),
            broken: false,
        }
    }

    /// The error frame for a broken stream; nothing is read after it.
    fn fail(&mut self, why: &str) -> SseFrame {
        self.broken = true;
        self.pending = Vec::new();
        let message = format!("unreadable Bedrock event stream: {why}");
        match self.payloads {
            Payloads::Converse => exception_frame(MALFORMED_STREAM, &message),
            Payloads::AnthropicChunks => anthropic_error_frame("api_error", &message),
        }
    }

    fn frame_of(&self, message: &Message) -> Result<Option<SseFrame>, String> {
        match self.payloads {
            Payloads::Converse => converse_frame(message).map(Some),
            Payloads::AnthropicChunks => anthropic_frame(message),
        }
    }
}

impl Framer for EventStreamFramer {
    fn push(&mut self, chunk: &[u8]) -> Vec<SseFrame> {
        if self.broken {
            return Vec::new();
        }
        self.pending.extend_from_slice(chunk);
        let mut frames = Vec::new();
        let mut start = 0;
        loop {
            let rest = &self.pending[start..];
            let len = match whole_message_len(rest) {
                Ok(Some(len)) => len,
                Ok(None) => break,
                Err(why) => {
                    frames.push(self.fail(&why));
                    return frames;
                }
            };
            let read = read_message_from(&rest[..len])
                .map_err(|e| e.to_string())
                .and_then(|message| self.frame_of(&message));
            match read {
                Ok(frame) => frames.extend(frame),
                Err(why) => {
                    frames.push(self.fail(&why));
                    return frames;
                }
            }
            start += len;
        }
        self.pending.drain(..start);
        frames
    }

    fn pending_bytes(&self) -> usize {
        self.pending.len()
    }

    fn finish(&mut self) -> Vec<SseFrame> {
        if self.broken || self.pending.is_empty() {
            return Vec::new();
        }
        let why = format!(
            "the stream ended inside a message ({} bytes of it arrived)",
            self.pending.len()
        );
        vec![self.fail(&why)]
    }
}

/// The length of the message at the start of `bytes` once all of it is there; an error for a
/// length no message can have. Only the prelude's first field is read here: whether the
/// prelude is intact (its CRC) is for the reader of the whole message to say.
fn whole_message_len(bytes: &[u8]) -> Result<Option<usize>, String> {
    let Some(total) = bytes.first_chunk::<4>() else {
        return Ok(None);
    };
    let total = u32::from_be_bytes(*total) as usize;
    if !(MIN_MESSAGE_LEN..=MAX_MESSAGE_LEN).contains(&total) {
        return Err(format!(
            "an event-stream message cannot be {total} bytes long"
        ));
    }
    Ok((bytes.len() >= total).then_some(total))
}

/// A string header of `message`.
fn header<'a>(message: &'a Message, name: &str) -> Option<&'a str> {
    message
        .headers()
        .iter()
        .find(|header| header.name().as_str() == name)
        .and_then(|header| header.value().as_string().ok())
        .map(|value| value.as_str())
}

/// What a message is: an event of a type, an exception of a type, or the event-stream
/// protocol's own error (`:error-code`, `:error-message` headers).
enum Kind<'a> {
    Event(&'a str),
    Exception(&'a str),
    Error { code: &'a str, message: &'a str },
}

fn kind_of(message: &Message) -> Result<Kind<'_>, String> {
    let required = |name: &str| {
        header(message, name).ok_or_else(|| format!("a message without a `{name}` header"))
    };
    match header(message, ":message-type").unwrap_or("event") {
        "event" => Ok(Kind::Event(required(":event-type")?)),
        "exception" => Ok(Kind::Exception(required(":exception-type")?)),
        "error" => Ok(Kind::Error {
            code: required(":error-code")?,
            message: header(message, ":error-message").unwrap_or_default(),
        }),
        other => Err(format!("a message of unknown type `{other}`")),
    }
}

fn payload_text(message: &Message) -> Result<&str, String> {
    std::str::from_utf8(message.payload()).map_err(|_| "a payload that is not UTF-8".to_string())
}

fn converse_frame(message: &Message) -> Result<SseFrame, String> {
    match kind_of(message)? {
        Kind::Event(event_type) => Ok(SseFrame {
            event: Some(event_type.to_string()),
            data: payload_text(message)?.to_string(),
        }),
        Kind::Exception(exception_type) => Ok(SseFrame {
            event: Some(format!("exception:{exception_type}")),
            data: payload_text(message)?.to_string(),
        }),
        Kind::Error { code, message } => Ok(exception_frame(code, message)),
    }
}

/// The frame of an exception `exception_type` saying `message`, as a Converse framer gives it.
fn exception_frame(exception_type: &str, message: &str) -> SseFrame {
    SseFrame {
        event: Some(format!("exception:{exception_type}")),
        data: json!({ "message": message }).to_string(),
    }
}

/// A `chunk` event unwrapped into the Anthropic event it carries; `None` for events of other
/// types (`InvokeModelWithResponseStream` documents none, and may add some).
fn anthropic_frame(message: &Message) -> Result<Option<SseFrame>, String> {
    match kind_of(message)? {
        Kind::Event("chunk") => unwrap_chunk(payload_text(message)?).map(Some),
        Kind::Event(_) => Ok(None),
        Kind::Exception(exception_type) => {
            let text = payload_text(message)?;
            let said = serde_json::from_str::<Value>(text)
                .ok()
                .and_then(|payload| payload.get("message")?.as_str().map(str::to_string))
                .unwrap_or_else(|| text.to_string());
            Ok(Some(anthropic_error_frame(
                anthropic_error_type(exception_type),
                &format!("{exception_type}: {said}"),
            )))
        }
        Kind::Error { code, message } => Ok(Some(anthropic_error_frame(
            "api_error",
            &format!("{code}: {message}"),
        ))),
    }
}

fn unwrap_chunk(payload: &str) -> Result<SseFrame, String> {
    let part: Value = serde_json::from_str(payload)
        .map_err(|e| format!("a chunk whose payload is not JSON ({e})"))?;
    let encoded = part
        .get("bytes")
        .and_then(Value::as_str)
        .ok_or("a chunk without `bytes`")?;
    let bytes = BASE64
        .decode(encoded)
        .map_err(|e| format!("a chunk whose `bytes` are not base64 ({e})"))?;
    let data = String::from_utf8(bytes).map_err(|_| "a chunk that is not UTF-8 text")?;
    let event: Value = serde_json::from_str(&data)
        .map_err(|e| format!("a chunk that is not an Anthropic event ({e})"))?;
    let event_type = event
        .get("type")
        .and_then(Value::as_str)
        .ok_or("a chunk whose Anthropic event has no `type`")?;
    Ok(SseFrame {
        event: Some(event_type.to_string()),
        data,
    })
}

/// The Anthropic error type closest to a Bedrock stream exception.
fn anthropic_error_type(exception_type: &str) -> &'static str {
    match exception_type {
        "throttlingException" => "rate_limit_error",
        "serviceUnavailableException" => "overloaded_error",
        "validationException" => "invalid_request_error",
        _ => "api_error",
    }
}

fn anthropic_error_frame(error_type: &str, message: &str) -> SseFrame {
    let event = json!({ "type": "error", "error": { "type": error_type, "message": message } });
    SseFrame {
        event: Some("error".into()),
        data: event.to_string(),
    }
}

/// One event message as Bedrock writes it: `:event-type`, `:content-type`
/// (`application/json`) and `:message-type` (`event`) headers, then `payload`.
pub fn encode_event(event_type: &str, payload: &[u8]) -> Vec<u8> {
    encode(
        vec![
            string_header(":event-type", event_type),
            string_header(":content-type", "application/json"),
            string_header(":message-type", "event"),
        ],
        payload,
    )
}

/// One exception message as Bedrock writes it: `:exception-type`, `:content-type` and
/// `:message-type` (`exception`) headers, then `payload` (`{"message": ...}`).
pub fn encode_exception(exception_type: &str, payload: &[u8]) -> Vec<u8> {
    encode(
        vec![
            string_header(":exception-type", exception_type),
            string_header(":content-type", "application/json"),
            string_header(":message-type", "exception"),
        ],
        payload,
    )
}

/// One `InvokeModelWithResponseStream` `chunk` event carrying one Anthropic Messages stream
/// event (`{"bytes": "<base64>"}`).
pub fn encode_chunk(anthropic_event_json: &[u8]) -> Vec<u8> {
    let part = json!({ "bytes": BASE64.encode(anthropic_event_json) });
    encode_event("chunk", part.to_string().as_bytes())
}

fn string_header(name: &'static str, value: &str) -> Header {
    Header::new(name, HeaderValue::String(value.to_string().into()))
}

fn encode(headers: Vec<Header>, payload: &[u8]) -> Vec<u8> {
    let message = Message::new_from_parts(headers, payload.to_vec());
    let mut out = Vec::with_capacity(payload.len() + 128);
    write_message_to(&message, &mut out)
        .expect("short string headers and a payload under 4 GiB always fit a message");
    out
}
