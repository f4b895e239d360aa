//! Answers a broken provider gives: a 200 whose body is not JSON, a stream that never ends a
//! line or an event, an event far too large, an answer trickled one byte at a time. What a
//! gateway must survive with bounded memory and a timeout. (A Bedrock stream's `garbage_body`
//! is a message with a broken CRC instead, made in [`crate::bedrock`]; its endless bodies are
//! these bytes, which no event-stream reader can frame either.)

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use bytes::Bytes;
use futures::{Stream, StreamExt};

use crate::behavior::Behavior;
use crate::errors::{Api, insert_request_id};

/// What `garbage_body` answers a whole-answer request with: JSON cut off in the middle.
pub(crate) const GARBAGE_BODY: &str = "{\"id\":\"garbage\",\"choices\":[{\"message\":{\"content\":";

/// What `garbage_body` streams: one event whose data is cut-off JSON, then the end.
pub(crate) const GARBAGE_EVENT: &str = "data: {\"id\":\"garbage\",\"choices\":[{\"delta\":\n\n";

/// The size of each piece of an endless body.
const ENDLESS_PIECE: usize = 64 * 1024;

/// The answer `behavior` asks for instead of a normal one, if any (`garbage_body`,
/// `endless_line`, `endless_lines`). Decided after the request was checked, like `status`.
pub(crate) fn replacement(behavior: &Behavior, api: Api, stream: bool) -> Option<Response> {
    if behavior.garbage_body {
        let body = if stream { GARBAGE_EVENT } else { GARBAGE_BODY };
        return Some(ok_response(Body::from(body), api, stream));
    }
    let piece = if behavior.endless_line {
        // A stream's first line opens and never ends; a whole answer's string never closes.
        let opening: &[u8] = if stream { b"data: " } else { b"{\"text\":\"" };
        Some((opening, Bytes::from(vec![b'x'; ENDLESS_PIECE])))
    } else if behavior.endless_lines {
        // Complete lines, but never the blank line that would end the event.
        let line = b"data: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n";
        let repeat = ENDLESS_PIECE / line.len();
        Some((&b""[..], Bytes::from(line.repeat(repeat))))
    } else {
        None
    }?;
    let (opening, piece) = piece;
    let opening = Bytes::copy_from_slice(opening);
    let endless = futures::stream::once(async move { Ok::<_, std::io::Error>(opening) }).chain(
        futures::stream::unfold(piece, |piece| async move {
            // Yield to the runtime between pieces: the writer is as fast as the reader.
            tokio::task::yield_now().await;
            Some((Ok(piece.clone()), piece))
        }),
    );
    Some(ok_response(Body::from_stream(endless), api, stream))
}

/// `behavior` with `huge_event_bytes` applied: the answer is one word of that many bytes, so a
/// stream carries it in a single event and a whole answer is that large.
pub(crate) fn with_huge_reply(behavior: &Behavior) -> std::borrow::Cow<'_, Behavior> {
    match behavior.huge_event_bytes {
        Some(bytes) if behavior.tool_call.is_none() => {
            let mut huge = behavior.clone();
            huge.reply = Some("x".repeat(bytes));
            std::borrow::Cow::Owned(huge)
        }
        _ => std::borrow::Cow::Borrowed(behavior),
    }
}

/// `response` with `byte_interval_ms` applied: its body written one byte at a time, this long
/// apart (headers at once).
pub(crate) fn paced(response: Response, behavior: &Behavior) -> Response {
    let Some(ms) = behavior.byte_interval_ms else {
        return response;
    };
    let (parts, body) = response.into_parts();
    let bytes = trickle(body.into_data_stream(), Duration::from_millis(ms));
    Response::from_parts(parts, Body::from_stream(bytes))
}

/// Every byte of `body` as a chunk of its own, `gap` apart.
fn trickle<S>(body: S, gap: Duration) -> impl Stream<Item = Result<Bytes, axum::Error>> + Send
where
    S: Stream<Item = Result<Bytes, axum::Error>> + Send + Unpin + 'static,
{
    let bytes = body.flat_map(|chunk| {
        let singles: Vec<Result<Bytes, axum::Error>> = match chunk {
            Ok(chunk) => (0..chunk.len()).map(|i| Ok(chunk.slice(i..=i))).collect(),
            Err(e) => vec![Err(e)],
        };
        futures::stream::iter(singles)
    });
    bytes.enumerate().then(move |(i, byte)| async move {
        if i > 0 {
            tokio::time::sleep(gap).await;
        }
        byte
    })
}

fn ok_response(body: Body, api: Api, stream: bool) -> Response {
    let mut response = Response::new(body);
    let content_type = match (stream, api) {
        (true, Api::Bedrock) => crate::bedrock::EVENT_STREAM_CONTENT_TYPE,
        (true, _) => "text/event-stream; charset=utf-8",
        (false, _) => "application/json",
    };
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    insert_request_id(response.headers_mut(), api);
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_not_json() {
        assert!(serde_json::from_str::<serde_json::Value>(GARBAGE_BODY).is_err());
        let data = GARBAGE_EVENT.trim().strip_prefix("data: ").unwrap();
        assert!(serde_json::from_str::<serde_json::Value>(data).is_err());
    }

    #[tokio::test]
    async fn trickle_writes_one_byte_per_chunk() {
        let body = Body::from("abc").into_data_stream();
        let chunks: Vec<Bytes> = trickle(body, Duration::from_millis(1))
            .map(Result::unwrap)
            .collect()
            .await;
        assert_eq!(chunks, ["a", "b", "c"]);
    }
}
