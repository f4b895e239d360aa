//! Bedrock's streamed answers as Amazon event-stream messages
//! (`application/vnd.amazon.eventstream`): each message is a prelude (lengths and a CRC), typed
//! headers, a payload and a CRC, written by `aws-smithy-eventstream`, the crate AWS's own Rust
//! SDK reads them with. An event has `:message-type` `event`, its name in `:event-type` and
//! JSON in the payload; an error has `:message-type` `exception` and its name in
//! `:exception-type`.

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::Bytes;
use serde_json::{Value, json};

/// The padding field Bedrock adds to stream payloads (so that lengths do not reveal content).
const PADDING: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123";

/// An event message: `:event-type` `event_type`, JSON payload.
pub(crate) fn encode_event(event_type: &str, payload: &[u8]) -> Bytes {
    encode(event_type, ":event-type", "event", payload)
}

/// An exception message: `:exception-type` `exception_type` (`throttlingException`), payload
/// `{"message": ...}`.
pub(crate) fn encode_exception(exception_type: &str, payload: &[u8]) -> Bytes {
    encode(exception_type, ":exception-type", "exception", payload)
}

/// An `InvokeModelWithResponseStream` `chunk` event: the payload `{"bytes": "<base64>"}` wraps
/// one Anthropic Messages stream event.
pub(crate) fn encode_chunk(anthropic_event_json: &[u8]) -> Bytes {
    let payload = json!({
        "bytes": aws_smithy_types::base64::encode(anthropic_event_json),
        "p": padding(anthropic_event_json.len()),
    });
    encode_event("chunk", payload.to_string().as_bytes())
}

/// A `ConverseStream` event with Bedrock's padding added to its JSON object.
pub(crate) fn converse_event(event_type: &str, mut payload: Value) -> Bytes {
    if let Some(object) = payload.as_object_mut() {
        object.insert("p".to_owned(), Value::from(padding(event_type.len())));
    }
    encode_event(event_type, payload.to_string().as_bytes())
}

/// A message that is not one: its last payload byte flipped after the CRC was written, so a
/// reader fails on the CRC (what `garbage_body` streams).
pub(crate) fn corrupted_event(event_type: &str, payload: &[u8]) -> Bytes {
    let mut message = encode_event(event_type, payload).to_vec();
    let last_payload_byte = message.len().saturating_sub(5);
    if let Some(byte) = message.get_mut(last_payload_byte) {
        *byte ^= 0xff;
    }
    Bytes::from(message)
}

/// Padding of a length that varies with the content, as Bedrock's does.
fn padding(seed: usize) -> &'static str {
    &PADDING[..1 + seed % (PADDING.len() - 1)]
}

fn encode(
    name: &str,
    name_header: &'static str,
    message_type: &'static str,
    payload: &[u8],
) -> Bytes {
    let message = Message::new(Bytes::copy_from_slice(payload))
        .add_header(Header::new(
            name_header,
            HeaderValue::String(name.to_owned().into()),
        ))
        .add_header(Header::new(
            ":content-type",
            HeaderValue::String("application/json".into()),
        ))
        .add_header(Header::new(
            ":message-type",
            HeaderValue::String(message_type.into()),
        ));
    let mut buffer = Vec::with_capacity(payload.len() + 128);
    match write_message_to(&message, &mut buffer) {
        Ok(()) => Bytes::from(buffer),
        // Only a payload or headers past 4 GiB fail; say so in the stream rather than panic.
        Err(e) => {
            tracing::warn!(
                "clearance-fake: cannot frame a {}-byte event: {e}",
                payload.len()
            );
            let failure = json!({"message": format!("clearance-fake: event not framed: {e}")});
            let message = Message::new(Bytes::from(failure.to_string()))
                .add_header(Header::new(
                    ":exception-type",
                    HeaderValue::String("internalServerException".into()),
                ))
                .add_header(Header::new(
                    ":message-type",
                    HeaderValue::String("exception".into()),
                ));
            let mut buffer = Vec::new();
            match write_message_to(&message, &mut buffer) {
                Ok(()) => Bytes::from(buffer),
                Err(_) => Bytes::new(),
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use aws_smithy_eventstream::frame::read_message_from;

    fn header<'a>(message: &'a Message, name: &str) -> &'a str {
        message
            .headers()
            .iter()
            .find(|h| h.name().as_str() == name)
            .unwrap()
            .value()
            .as_string()
            .unwrap()
            .as_str()
    }

    #[test]
    fn events_read_back() {
        let bytes = converse_event("messageStart", json!({"role": "assistant"}));
        let message = read_message_from(bytes).unwrap();
        assert_eq!(header(&message, ":event-type"), "messageStart");
        assert_eq!(header(&message, ":message-type"), "event");
        assert_eq!(header(&message, ":content-type"), "application/json");
        let payload: Value = serde_json::from_slice(message.payload()).unwrap();
        assert_eq!(payload["role"], "assistant");
        assert!(payload["p"].as_str().is_some());
    }

    #[test]
    fn chunks_wrap_base64() {
        let event = br#"{"type":"message_stop"}"#;
        let message = read_message_from(encode_chunk(event)).unwrap();
        assert_eq!(header(&message, ":event-type"), "chunk");
        let payload: Value = serde_json::from_slice(message.payload()).unwrap();
        let inner = aws_smithy_types::base64::decode(payload["bytes"].as_str().unwrap()).unwrap();
        assert_eq!(inner, event);
    }

    #[test]
    fn exceptions_and_corruption() {
        let message = read_message_from(encode_exception(
            "throttlingException",
            b"{\"message\":\"x\"}",
        ))
        .unwrap();
        assert_eq!(header(&message, ":message-type"), "exception");
        assert_eq!(header(&message, ":exception-type"), "throttlingException");
        assert!(read_message_from(corrupted_event("messageStop", b"{}")).is_err());
    }
}
