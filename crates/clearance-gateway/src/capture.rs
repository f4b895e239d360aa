//! Capture (`[capture]`): for the apps an operator named, a sample of real requests and whole
//! answers is kept so a person can draft an eval suite from them (`clearance suites draft`).
//!
//! Off the request path: the answer is already on its way when the copy is redacted
//! (emails, phone numbers, card numbers, keys and tokens: `clearance_validate::capture`) and
//! stored by a task of its own. Nothing unredacted is ever stored. Streamed answers are not
//! captured (they would have to be held whole). A capture that cannot be stored is dropped
//! with a warning: it is a convenience, not part of the record, and never delays an answer.

use std::sync::atomic::{AtomicUsize, Ordering};

use clearance_store::Capture;
use clearance_wire::request::ClientRequest;

use crate::state::AppState;

/// Captures being redacted and stored at once; past it, samples are skipped rather than queued.
const MAX_IN_FLIGHT: usize = 32;
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Keeps a redacted copy of this exchange when `app` is captured and the sample picks it.
pub fn maybe_capture(
    state: &AppState,
    app: Option<&str>,
    request: &ClientRequest,
    model: &str,
    answer: &[u8],
) {
    let capture = &state.config.capture;
    let Some(app) = app.filter(|app| capture.captures(app)) else {
        return;
    };
    if rand::random::<f64>() >= capture.sample {
        return;
    }
    if IN_FLIGHT.fetch_add(1, Ordering::AcqRel) >= MAX_IN_FLIGHT {
        IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
        return;
    }
    let store = std::sync::Arc::clone(&state.store);
    let keep = capture.keep;
    let app = app.to_string();
    let model = model.to_string();
    let api = request.surface.as_str().to_string();
    let request = request.upstream_body(&model);
    let answer = answer.to_vec();
    tokio::spawn(async move {
        let stored = match redacted(&request, &answer) {
            Some((request, answer)) => {
                let capture = Capture {
                    id: 0,
                    app,
                    model,
                    api,
                    at: chrono::Utc::now(),
                    request,
                    answer,
                };
                store
                    .put_capture(&capture, keep)
                    .await
                    .map_err(|e| e.to_string())
            }
            None => Err("the request or answer is not JSON".into()),
        };
        if let Err(error) = stored {
            tracing::warn!(%error, "capture dropped");
        }
        IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
    });
}

/// Both sides as redacted JSON text.
fn redacted(request: &[u8], answer: &[u8]) -> Option<(String, String)> {
    let mut request: serde_json::Value = serde_json::from_slice(request).ok()?;
    let mut answer: serde_json::Value = serde_json::from_slice(answer).ok()?;
    clearance_validate::capture::redact_json(&mut request);
    clearance_validate::capture::redact_json(&mut answer);
    Some((request.to_string(), answer.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_are_redacted_before_storing() {
        let (request, answer) = redacted(
            br#"{"messages":[{"role":"user","content":"mail me at jane.doe@example.com"}]}"#,
            br#"{"choices":[{"message":{"content":"your key sk-proj-abcdefghijklmnopqrstuvwx1234"}}]}"#,
        )
        .unwrap();
        assert!(!request.contains("jane.doe@example.com"), "{request}");
        assert!(
            !answer.contains("sk-proj-abcdefghijklmnopqrstuvwx1234"),
            "{answer}"
        );
        assert!(redacted(b"not json", b"{}").is_none());
    }
}
