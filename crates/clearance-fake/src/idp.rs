//! A fake OpenID Connect identity provider, **for tests and the demo only**: it signs whatever
//! claims it is asked to with private keys that are checked into this repository
//! (`crates/clearance-fake/keys/`, generated for this purpose and public). Never configure a
//! gateway to trust it outside a test.
//!
//! It serves what a gateway needs from a real provider: `GET
//! /.well-known/openid-configuration` (issuer and `jwks_uri`), `GET /jwks.json` (the current
//! public keys; every fetch counted), and `POST /token` with a JSON object of claims, answered
//! with `{"access_token": JWT, "token_type": "Bearer", "expires_in": ...}`. `iss`, `iat` and
//! `exp` (one hour) are filled in unless given; `?alg=ES256` signs with the P-256 key instead
//! of RSA. Tests rotate the published keys with [`FakeIdp::publish`].

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use jsonwebtoken::{EncodingKey, Header};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// A checked-in test key: its id, algorithm, private key (PEM) and public JWK.
#[derive(Debug, Clone, Copy)]
pub struct TestKey {
    pub kid: &'static str,
    pub alg: jsonwebtoken::Algorithm,
    private_pem: &'static str,
    jwk: &'static str,
    /// The RSA public key as PEM, for tests of the HMAC-with-public-key attack.
    pub public_pem: Option<&'static str>,
}

pub const RSA_1: TestKey = TestKey {
    kid: "rsa-1",
    alg: jsonwebtoken::Algorithm::RS256,
    private_pem: include_str!("../keys/rsa-1.pem"),
    jwk: include_str!("../keys/rsa-1.jwk.json"),
    public_pem: Some(include_str!("../keys/rsa-1.pub.pem")),
};

pub const RSA_2: TestKey = TestKey {
    kid: "rsa-2",
    alg: jsonwebtoken::Algorithm::RS256,
    private_pem: include_str!("../keys/rsa-2.pem"),
    jwk: include_str!("../keys/rsa-2.jwk.json"),
    public_pem: Some(include_str!("../keys/rsa-2.pub.pem")),
};

pub const EC_1: TestKey = TestKey {
    kid: "ec-1",
    alg: jsonwebtoken::Algorithm::ES256,
    private_pem: include_str!("../keys/ec-1.pem"),
    jwk: include_str!("../keys/ec-1.jwk.json"),
    public_pem: None,
};

impl TestKey {
    /// The public key as a JWK.
    pub fn jwk(&self) -> Value {
        serde_json::from_str(self.jwk).expect("the checked-in JWK is JSON")
    }

    /// `claims` signed with this key, its `kid` in the header.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_as(claims, Some(self.kid))
    }

    /// `claims` signed with this key under any `kid` (or none).
    pub fn sign_as(&self, claims: &Value, kid: Option<&str>) -> String {
        let mut header = Header::new(self.alg);
        header.kid = kid.map(str::to_string);
        let key = match self.alg {
            jsonwebtoken::Algorithm::ES256 => EncodingKey::from_ec_pem(self.private_pem.as_bytes()),
            _ => EncodingKey::from_rsa_pem(self.private_pem.as_bytes()),
        }
        .expect("the checked-in test key is a valid PEM");
        jsonwebtoken::encode(&header, claims, &key).expect("signing with a valid key succeeds")
    }
}

/// A JWK Set document of `keys`.
pub fn jwks(keys: &[TestKey]) -> Value {
    json!({ "keys": keys.iter().map(TestKey::jwk).collect::<Vec<_>>() })
}

struct IdpState {
    issuer: String,
    published: Mutex<Vec<TestKey>>,
    jwks_fetches: AtomicUsize,
}

/// The running fake identity provider.
pub struct FakeIdp {
    addr: SocketAddr,
    state: Arc<IdpState>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeIdp {
    /// Listens on `addr`; the issuer is `http://ADDR`. Publishes `rsa-1` and `ec-1`.
    pub async fn start(addr: &str) -> std::io::Result<FakeIdp> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(IdpState {
            issuer: format!("http://{addr}"),
            published: Mutex::new(vec![RSA_1, EC_1]),
            jwks_fetches: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks.json", get(jwks_document))
            .route("/token", post(token))
            .with_state(Arc::clone(&state));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeIdp { addr, state, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`: what `iss` says and what a gateway's `issuer` must be.
    pub fn issuer(&self) -> &str {
        &self.state.issuer
    }

    /// Replaces the published keys (a key rotation).
    pub fn publish(&self, keys: &[TestKey]) {
        *self
            .state
            .published
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = keys.to_vec();
    }

    /// How many times `/jwks.json` was fetched.
    pub fn jwks_fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    pub fn shutdown(self) {
        self.task.abort();
    }
}

async fn discovery(State(state): State<Arc<IdpState>>) -> Json<Value> {
    Json(json!({
        "issuer": state.issuer,
        "jwks_uri": format!("{}/jwks.json", state.issuer),
        "token_endpoint": format!("{}/token", state.issuer),
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
    }))
}

async fn jwks_document(State(state): State<Arc<IdpState>>) -> Json<Value> {
    state.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let keys = state
        .published
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    Json(jwks(&keys))
}

#[derive(Deserialize)]
struct TokenQuery {
    alg: Option<String>,
}

async fn token(
    State(state): State<Arc<IdpState>>,
    Query(query): Query<TokenQuery>,
    Json(claims): Json<Value>,
) -> Response {
    let Value::Object(mut claims) = claims else {
        return (
            StatusCode::BAD_REQUEST,
            "the body must be a JSON object of claims",
        )
            .into_response();
    };
    let now = chrono::Utc::now().timestamp();
    claims
        .entry("iss")
        .or_insert_with(|| state.issuer.clone().into());
    claims.entry("iat").or_insert_with(|| now.into());
    claims.entry("exp").or_insert_with(|| (now + 3600).into());
    let key = match query.alg.as_deref() {
        None | Some("RS256") => RSA_1,
        Some("ES256") => EC_1,
        Some(_) => return (StatusCode::BAD_REQUEST, "alg is RS256 or ES256").into_response(),
    };
    let jwt = key.sign(&Value::Object(claims));
    Json(json!({"access_token": jwt, "token_type": "Bearer", "expires_in": 3600})).into_response()
}
