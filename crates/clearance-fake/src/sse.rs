//! Streamed bodies: frames server-sent events, and writes any stream of framed events (SSE, or
//! Bedrock's binary event-stream messages) spaced by `chunk_delay_ms`, cutting the connection
//! after `drop_after_events` by failing the body, which makes hyper abort it (no terminating
//! chunk, so the client sees an incomplete body).

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use bytes::Bytes;
use futures::Stream;
use serde_json::Value;

use crate::behavior::Behavior;
use crate::connection::FLUSH_BEFORE_CUT;
use crate::errors::{Api, insert_request_id};

/// `data: JSON` (OpenAI style: no event name).
pub(crate) fn data_event(data: &Value) -> Bytes {
    Bytes::from(format!("data: {data}\n\n"))
}

/// `event: NAME` + `data: JSON` (Anthropic style).
pub(crate) fn named_event(name: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// `data: JSON` ended by CRLF CRLF, as Google's `alt=sse` streams are framed.
pub(crate) fn gemini_event(data: &Value) -> Bytes {
    Bytes::from(format!("data: {data}\r\n\r\n"))
}

/// OpenAI's end-of-stream marker.
pub(crate) fn done_event() -> Bytes {
    Bytes::from_static(b"data: [DONE]\n\n")
}

/// A `text/event-stream` response writing `events` as `behavior` says.
pub(crate) fn sse_response(events: Vec<Bytes>, behavior: &Behavior, api: Api) -> Response {
    let mut response = stream_response(events, behavior, api);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    response
}

/// A response writing `events` (each one framed event) as `behavior` says, with the API's
/// request id and no content type yet.
pub(crate) fn stream_response(events: Vec<Bytes>, behavior: &Behavior, api: Api) -> Response {
    let pacer = Pacer {
        events: events.into_iter(),
        sent: 0,
        gap: behavior.chunk_delay_ms.map(Duration::from_millis),
        cut_after: behavior.drop_after_events,
        finished: false,
    };
    let mut response = Response::new(Body::from_stream(pacer.into_stream()));
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    insert_request_id(headers, api);
    response
}

/// Hands out events one at a time with the configured gaps and cut.
struct Pacer {
    events: std::vec::IntoIter<Bytes>,
    sent: usize,
    gap: Option<Duration>,
    cut_after: Option<usize>,
    finished: bool,
}

impl Pacer {
    fn into_stream(self) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
        futures::stream::unfold(self, Pacer::next)
    }

    async fn next(mut self) -> Option<(Result<Bytes, std::io::Error>, Pacer)> {
        if self.finished {
            return None;
        }
        if self.cut_after == Some(self.sent) {
            self.finished = true;
            tokio::time::sleep(FLUSH_BEFORE_CUT).await;
            return Some((Err(cut_error()), self));
        }
        let event = self.events.next()?;
        if let (Some(gap), true) = (self.gap, self.sent > 0) {
            tokio::time::sleep(gap).await;
        }
        self.sent += 1;
        Some((Ok(event), self))
    }
}

fn cut_error() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        "clearance-fake: stream dropped by behavior",
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use serde_json::json;

    fn pacer(n: usize, cut_after: Option<usize>) -> Pacer {
        let events: Vec<Bytes> = (0..n).map(|i| data_event(&json!({ "i": i }))).collect();
        Pacer {
            events: events.into_iter(),
            sent: 0,
            gap: None,
            cut_after,
            finished: false,
        }
    }

    #[tokio::test]
    async fn writes_all_events() {
        let items: Vec<_> = pacer(3, None).into_stream().collect().await;
        assert_eq!(items.len(), 3);
        assert!(items.iter().all(Result::is_ok));
    }

    #[tokio::test]
    async fn cuts_after_n_events() {
        let items: Vec<_> = pacer(5, Some(2)).into_stream().collect().await;
        assert_eq!(items.len(), 3);
        assert!(items[0].is_ok() && items[1].is_ok() && items[2].is_err());
    }

    #[test]
    fn framing() {
        assert_eq!(
            named_event("ping", &json!({"type": "ping"})),
            "event: ping\ndata: {\"type\":\"ping\"}\n\n"
        );
        assert_eq!(data_event(&json!({"a": 1})), "data: {\"a\":1}\n\n");
        assert_eq!(gemini_event(&json!({"a": 1})), "data: {\"a\":1}\r\n\r\n");
    }
}
