//! The verifiable log over HTTP: checkpoints, C2SP tiles, proofs and receipts.
//!
//! | path | who | what |
//! |---|---|---|
//! | `GET /audit/checkpoint?log=ID` (= `/audit/log/ID/checkpoint`) | anyone | the log's latest signed checkpoint, with its cosignatures |
//! | `GET /audit/checkpoint` | anyone | a note signed now that binds the heads of every log of the deployment |
//! | `GET /audit/log/ID/tile/L/N[.p/W]` | anyone | C2SP hash tiles (hashes reveal nothing) |
//! | `GET /audit/log/ID/tile/entries/N[.p/W]` | admin or reader token | the records themselves (they name people and their facts) |
//! | `GET /audit/proof/inclusion?log=&index=&size=`, `/audit/proof/consistency?log=&from=&to=` | anyone | proofs, JSON |
//! | `GET /audit/receipt/REQUEST_ID` | the client key that made the request, or the admin or reader token | the receipt bundle; 425 until a checkpoint covers it and carries the required witness cosignatures |
//!
//! The reader token (`[audit] reader_token_env`) is for auditors and mirrors: it reads the
//! records and receipts and opens nothing else.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use clearance_core::api::ApiSurface;
use clearance_store::verifiable::{self, VerifiableError};
use clearance_tlog::tiles::Tile;
use clearance_wire::error::ErrorKind;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Deserialize;

use crate::error::ApiError;
use crate::state::AppState;

fn audit_error(
    status: StatusCode,
    kind: ErrorKind,
    class: &'static str,
    message: String,
) -> ApiError {
    ApiError::new(ApiSurface::OpenaiChat, status, kind, class, message)
}

fn from_verifiable(error: VerifiableError) -> ApiError {
    use VerifiableError as E;
    match error {
        E::NoSuchLog(_) | E::NoSuchRequest(_) => audit_error(
            StatusCode::NOT_FOUND,
            ErrorKind::NotFound,
            "not_found",
            error.to_string(),
        ),
        E::NotYetCheckpointed { .. } => audit_error(
            StatusCode::from_u16(425).unwrap_or(StatusCode::CONFLICT),
            ErrorKind::InvalidRequest,
            "not_yet_checkpointed",
            error.to_string(),
        )
        .with_retry_after(1),
        E::Pruned(_) => audit_error(
            StatusCode::GONE,
            ErrorKind::NotFound,
            "pruned",
            error.to_string(),
        ),
        E::BeyondLog { .. } | E::Proof(_) => audit_error(
            StatusCode::BAD_REQUEST,
            ErrorKind::InvalidRequest,
            "bad_proof_request",
            error.to_string(),
        ),
        other => audit_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::Api,
            "store_error",
            other.to_string(),
        ),
    }
}

/// How long a signed deployment note is served again before a new one is signed.
const DEPLOYMENT_NOTE_FRESH: std::time::Duration = std::time::Duration::from_secs(1);

/// The admin token, or the auditors' read-only token.
fn authorize_reader(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let admin = crate::admin::authorize(state, headers);
    let Some(reader) = &state.config.audit.log.reader_token else {
        return admin;
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let matches: bool =
        subtle::ConstantTimeEq::ct_eq(presented.as_bytes(), reader.expose().as_bytes()).into();
    if matches {
        return Ok(());
    }
    admin.map_err(|_| {
        audit_error(
            StatusCode::UNAUTHORIZED,
            ErrorKind::Authentication,
            "invalid_reader_token",
            "the records need `Authorization: Bearer <admin or audit reader token>`".to_string(),
        )
    })
}

fn text(body: String, cache: &'static str) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

#[derive(Debug, Deserialize)]
pub struct CheckpointQuery {
    log: Option<String>,
}

pub async fn checkpoint(
    State(state): State<AppState>,
    Query(query): Query<CheckpointQuery>,
) -> Response {
    match query.log {
        Some(log) => log_checkpoint_of(&state, &log).await,
        None => deployment_note(&state).await,
    }
    .unwrap_or_else(IntoResponse::into_response)
}

pub async fn log_checkpoint(State(state): State<AppState>, Path(log): Path<String>) -> Response {
    log_checkpoint_of(&state, &log)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn log_checkpoint_of(state: &AppState, log: &str) -> Result<Response, ApiError> {
    let latest = state
        .store
        .latest_checkpoint(log)
        .await
        .map_err(|e| from_verifiable(e.into()))?;
    let latest = latest.ok_or_else(|| {
        audit_error(
            StatusCode::NOT_FOUND,
            ErrorKind::NotFound,
            "no_checkpoint",
            format!(
                "log `{log}` has no signed checkpoint (no such log, or no signing key configured)"
            ),
        )
    })?;
    Ok(text(latest.note, "no-cache, max-age=1"))
}

async fn deployment_note(state: &AppState) -> Result<Response, ApiError> {
    let signing = state.log.as_ref().ok_or_else(|| {
        audit_error(
            StatusCode::NOT_FOUND,
            ErrorKind::NotFound,
            "no_signing_key",
            "this gateway has no audit signing key (audit.signing_key_file or signing_key_env)"
                .to_string(),
        )
    })?;
    // One signer at a time; the others wait and take its note.
    let mut cached = state.deployment_note.lock().await;
    if let Some((at, note)) = cached.as_ref()
        && at.elapsed() < DEPLOYMENT_NOTE_FRESH
    {
        return Ok(text(note.clone(), "no-cache, max-age=1"));
    }
    let note = verifiable::deployment_note(state.store.as_ref(), &signing.origin, &signing.signer)
        .await
        .map_err(from_verifiable)?;
    *cached = Some((std::time::Instant::now(), note.clone()));
    Ok(text(note, "no-cache, max-age=1"))
}

pub async fn tile(
    State(state): State<AppState>,
    Path((log, rest)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    tile_of(&state, &log, &rest, &headers)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn tile_of(
    state: &AppState,
    log: &str,
    rest: &str,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let tile = Tile::parse(rest).map_err(|e| {
        audit_error(
            StatusCode::NOT_FOUND,
            ErrorKind::NotFound,
            "bad_tile_path",
            e.to_string(),
        )
    })?;
    if tile.level.is_none() {
        authorize_reader(state, headers)?;
    }
    let bytes = verifiable::tile(state.store.as_ref(), log, tile)
        .await
        .map_err(from_verifiable)?
        .ok_or_else(|| {
            audit_error(
                StatusCode::NOT_FOUND,
                ErrorKind::NotFound,
                "no_such_tile",
                format!("log `{log}` has no tile {}", tile.path()),
            )
        })?;
    let mut response = (StatusCode::OK, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=604800, immutable"),
    );
    Ok(response)
}

#[derive(Debug, Deserialize)]
pub struct InclusionQuery {
    log: String,
    index: u64,
    size: u64,
}

pub async fn inclusion(State(state): State<AppState>, Query(q): Query<InclusionQuery>) -> Response {
    match verifiable::inclusion_proof(state.store.as_ref(), &q.log, q.index, q.size).await {
        Ok(proof) => Json(serde_json::json!({
            "log": q.log,
            "index": q.index,
            "size": q.size,
            "proof": proof.iter().map(|h| h.to_base64()).collect::<Vec<_>>(),
        }))
        .into_response(),
        Err(error) => from_verifiable(error).into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub struct ConsistencyQuery {
    log: String,
    from: u64,
    to: u64,
}

pub async fn consistency(
    State(state): State<AppState>,
    Query(q): Query<ConsistencyQuery>,
) -> Response {
    match verifiable::consistency_proof(state.store.as_ref(), &q.log, q.from, q.to).await {
        Ok(proof) => Json(serde_json::json!({
            "log": q.log,
            "from": q.from,
            "to": q.to,
            "proof": proof.iter().map(|h| h.to_base64()).collect::<Vec<_>>(),
        }))
        .into_response(),
        Err(error) => from_verifiable(error).into_response(),
    }
}

pub async fn receipt(
    State(state): State<AppState>,
    Path(request_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    receipt_of(&state, &request_id, &headers)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// Whether a stored record was made with this credential: the same key, or a token from the
/// same issuer for the same subject.
fn made_by(record: &serde_json::Value, credential: &crate::auth::Credential) -> bool {
    match credential {
        crate::auth::Credential::Key(id) => {
            record.get("key_id").and_then(|k| k.as_str()) == Some(id.as_str())
        }
        crate::auth::Credential::Token { issuer, subject } => {
            let token = record.get("token");
            let field = |name: &str| token.and_then(|t| t.get(name)).and_then(|v| v.as_str());
            field("issuer") == Some(issuer.as_str()) && field("subject") == Some(subject.as_str())
        }
    }
}

async fn receipt_of(
    state: &AppState,
    request_id: &str,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let is_reader = authorize_reader(state, headers).is_ok();
    let caller = if is_reader {
        None
    } else {
        Some(crate::auth::authenticate(state, headers, ApiSurface::OpenaiChat).await?)
    };
    if let Some(caller) = caller {
        // Only the key that made the request may have its receipt: the records name who asked
        // and the facts that decided. Checked before anything else is said about the request
        // (not yet checkpointed, pruned), so another key learns nothing, not even that it exists.
        let records = state
            .store
            .records_of_request(request_id)
            .await
            .map_err(|e| from_verifiable(e.into()))?;
        let own = records.iter().any(|logged| {
            serde_json::from_str::<serde_json::Value>(&logged.record.record_json)
                .is_ok_and(|r| made_by(&r, &caller.credential))
        });
        if !own {
            return Err(audit_error(
                StatusCode::NOT_FOUND,
                ErrorKind::NotFound,
                "not_found",
                format!("no record with request id `{request_id}` made with this credential"),
            ));
        }
    }
    let receipt = verifiable::receipt(state.store.as_ref(), request_id)
        .await
        .map_err(from_verifiable)?;
    awaiting_witnesses(state, &receipt.checkpoint)?;
    Ok(Json(receipt).into_response())
}

/// A checkpoint is stored once signed and again once the witnesses cosigned it; when the
/// deployment requires cosignatures, a receipt waits for them (425 like a missing checkpoint)
/// rather than hand out the bare one in between.
fn awaiting_witnesses(state: &AppState, checkpoint: &str) -> Result<(), ApiError> {
    let required = state.witnesses.required;
    // The log's own signature is one line; the checkpointer keeps only cosignatures that
    // verified under a configured witness key.
    let cosigned = clearance_tlog::note::Note::parse(checkpoint)
        .map_or(0, |note| note.signatures.len().saturating_sub(1));
    if cosigned >= required {
        return Ok(());
    }
    Err(audit_error(
        StatusCode::from_u16(425).unwrap_or(StatusCode::CONFLICT),
        ErrorKind::InvalidRequest,
        "not_yet_cosigned",
        format!(
            "the checkpoint covering this request has {cosigned} of the {required} witness cosignatures this deployment requires; ask again shortly"
        ),
    )
    .with_retry_after(1))
}
