//! Transports that wrap a wire format: the same format's body and answer, carried another way.
//!
//! Claude on Bedrock (`api = "anthropic"`) is the Anthropic Messages format over Bedrock's
//! `InvokeModel`: the body loses `model` and `stream` (the URL says both) and names Bedrock's
//! `anthropic_version`; the streamed answer arrives as an AWS event stream of `chunk` messages,
//! each wrapping one Anthropic event. Converse streams arrive as an event stream too. Both are
//! turned here into server-sent events (`event: <type>`, `data: <json>`), so everything past
//! this crate reads one framing: an Anthropic stream from Bedrock is an Anthropic stream.

use bytes::Bytes;
use clearance_config::{BedrockApi, ProviderKind};
use clearance_wire::eventstream::{EventStreamFramer, Framer};
use clearance_wire::sse::SseFrame;
use futures::stream::{self, BoxStream, StreamExt};

use crate::UpstreamError;

/// The content type of an AWS event stream.
pub const EVENT_STREAM: &str = "application/vnd.amazon.eventstream";

/// The body as the transport carries it.
pub(crate) fn request_body(kind: &ProviderKind, body: Vec<u8>) -> Vec<u8> {
    match kind {
        ProviderKind::Bedrock(bedrock) if bedrock.api == BedrockApi::Anthropic => {
            match serde_json::from_slice(&body) {
                Ok(value) => serde_json::to_vec(
                    &clearance_wire::translate::bedrock::anthropic_invoke_body(&value),
                )
                .unwrap_or(body),
                // Not JSON: the provider says so in its own words.
                Err(_) => body,
            }
        }
        _ => body,
    }
}

/// The answer's body as server-sent events when the transport sent an event stream; any
/// other body as it came.
pub(crate) fn unwrap_stream(
    kind: &ProviderKind,
    content_type: Option<String>,
    body: BoxStream<'static, Result<Bytes, UpstreamError>>,
) -> (
    Option<String>,
    BoxStream<'static, Result<Bytes, UpstreamError>>,
) {
    let is_event_stream = content_type
        .as_deref()
        .is_some_and(|t| t.starts_with(EVENT_STREAM));
    let ProviderKind::Bedrock(bedrock) = kind else {
        return (content_type, body);
    };
    if !is_event_stream {
        return (content_type, body);
    }
    let framer: Box<dyn Framer> = match bedrock.api {
        BedrockApi::Converse => Box::new(EventStreamFramer::converse()),
        BedrockApi::Anthropic => Box::new(EventStreamFramer::invoke_model_chunks()),
    };
    (
        Some("text/event-stream".to_string()),
        as_server_sent_events(framer, body),
    )
}

fn as_server_sent_events(
    framer: Box<dyn Framer>,
    body: BoxStream<'static, Result<Bytes, UpstreamError>>,
) -> BoxStream<'static, Result<Bytes, UpstreamError>> {
    stream::unfold(
        (framer, body, false),
        |(mut framer, mut body, done)| async move {
            if done {
                return None;
            }
            loop {
                match body.next().await {
                    Some(Ok(chunk)) => {
                        let frames = framer.push(&chunk);
                        if !frames.is_empty() {
                            return Some((Ok(write_frames(&frames)), (framer, body, false)));
                        }
                    }
                    Some(Err(error)) => return Some((Err(error), (framer, body, true))),
                    None => {
                        let frames = framer.finish();
                        if frames.is_empty() {
                            return None;
                        }
                        return Some((Ok(write_frames(&frames)), (framer, body, true)));
                    }
                }
            }
        },
    )
    .boxed()
}

fn write_frames(frames: &[SseFrame]) -> Bytes {
    let mut out = Vec::new();
    for frame in frames {
        if let Some(event) = &frame.event {
            out.extend_from_slice(b"event: ");
            out.extend_from_slice(event.as_bytes());
            out.push(b'\n');
        }
        for line in frame.data.split('\n') {
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
        out.push(b'\n');
    }
    Bytes::from(out)
}
