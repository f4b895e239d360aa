//! Trusted identity providers' signing keys, cached per issuer, and token verification with
//! them.
//!
//! Each `[[identity.oidc]]` issuer's JWKS is fetched at start, again every `jwks_refresh_s`,
//! and when a token names a `kid` the cache does not hold (the provider may have rotated its
//! keys). That last refetch is rate-limited to one per issuer per [`KID_REFETCH_EVERY`], so
//! tokens with made-up key ids cannot make the gateway hammer the identity provider; a token
//! refused meanwhile is told its key id is unknown and may retry. A failed fetch is logged and
//! retried; it never stops the gateway, and keys fetched earlier stay in use.
//!
//! A token that verified is remembered (by the SHA-256 of its text, never the text) until it
//! expires or the issuer's keys are fetched again, so a client reusing its token pays for the
//! signature check once, not per request (RS256 costs ~0.2 ms, ES256 ~0.35 ms here: most of a
//! request's own time). Who the caller is and which facts the registry holds are still read on
//! every request.
//!
//! Fetching goes through `clearance-upstream` (the one HTTP client); what a JWKS and a token
//! mean is `clearance-identity`'s. No token text is ever logged here.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use clearance_config::{IdentityConfig, JwksSource, OidcIssuer};
use clearance_identity::{KeySet, TokenError, VerifiedToken, peek_issuer, verify_token};
use clearance_upstream::{FetchError, UpstreamClient};
use sha2::{Digest, Sha256};

/// At most one refetch per issuer in this long because of an unknown `kid`.
pub const KID_REFETCH_EVERY: Duration = Duration::from_secs(10);
/// After a failed fetch, the background task tries again this soon (not at the full refresh
/// interval: a gateway that started while its identity provider was down should recover fast).
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(10);
/// One fetch (discovery document or JWKS) may take this long.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// A discovery document or JWKS larger than this is not one (real ones are a few KiB).
const MAX_DOCUMENT_BYTES: usize = 1 << 20;
/// Verified tokens remembered at most; past it the expired ones are dropped, and if that is not
/// enough, all (a flood of distinct valid tokens only costs the verification it would anyway).
const MAX_REMEMBERED: usize = 16_384;

/// Why an issuer's keys could not be fetched. Holds URLs (configured or published by the
/// provider), never a body.
#[derive(Debug, thiserror::Error)]
pub enum JwksFetchError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("the discovery document at {url} is not JSON with a `jwks_uri`")]
    NoJwksUri { url: String },
    #[error(
        "the discovery document at {url} names issuer `{found}`, not the configured `{expected}`"
    )]
    IssuerMismatch {
        url: String,
        found: String,
        expected: String,
    },
    #[error("the JWKS at {url}: {source}")]
    NotAJwks {
        url: String,
        source: clearance_identity::JwksError,
    },
}

/// One trusted issuer: its configuration and the keys last fetched.
pub struct Issuer {
    pub config: OidcIssuer,
    keys: ArcSwap<KeySet>,
    /// When a request last made this issuer's keys be fetched again (unknown `kid`).
    last_kid_refetch: Mutex<Option<Instant>>,
    /// Bumped whenever new keys are swapped in: tokens remembered under older keys are checked
    /// again (a key the provider withdrew must stop verifying).
    generation: AtomicU64,
}

impl Issuer {
    fn new(config: OidcIssuer) -> Issuer {
        Issuer {
            config,
            keys: ArcSwap::from_pointee(KeySet::default()),
            last_kid_refetch: Mutex::new(None),
            generation: AtomicU64::new(0),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.config.policy.issuer
    }

    /// Whether a request may make the keys be fetched again now; if so, the next may not
    /// before [`KID_REFETCH_EVERY`] has passed.
    fn take_refetch_turn(&self, now: Instant) -> bool {
        let mut last = self
            .last_kid_refetch
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match *last {
            Some(at) if now.duration_since(at) < KID_REFETCH_EVERY => false,
            _ => {
                *last = Some(now);
                true
            }
        }
    }

    /// Fetches the keys and swaps them in whole.
    pub async fn refresh(&self, client: &UpstreamClient) -> Result<usize, JwksFetchError> {
        let url = self.jwks_url(client).await?;
        let body = client
            .get_json(url.as_str(), FETCH_TIMEOUT, MAX_DOCUMENT_BYTES)
            .await?;
        let keys = KeySet::parse(&body).map_err(|source| JwksFetchError::NotAJwks {
            url: url.to_string(),
            source,
        })?;
        let count = keys.len();
        tracing::info!(
            issuer = %self.issuer(),
            kids = ?keys.kids(),
            skipped = keys.skipped,
            "identity provider keys fetched"
        );
        self.keys.store(Arc::new(keys));
        self.generation.fetch_add(1, Ordering::SeqCst);
        Ok(count)
    }

    /// The JWKS location: configured, or read from the discovery document (whose `issuer`
    /// must be the configured one, OpenID Connect Discovery 1.0 section 4.3).
    async fn jwks_url(&self, client: &UpstreamClient) -> Result<url::Url, JwksFetchError> {
        let discovery = match &self.config.jwks {
            JwksSource::Url(url) => return Ok(url.clone()),
            JwksSource::Discovery(url) => url,
        };
        let body = client
            .get_json(discovery.as_str(), FETCH_TIMEOUT, MAX_DOCUMENT_BYTES)
            .await?;
        let no_uri = || JwksFetchError::NoJwksUri {
            url: discovery.to_string(),
        };
        let document: serde_json::Value = serde_json::from_slice(&body).map_err(|_| no_uri())?;
        if let Some(found) = document.get("issuer").and_then(|i| i.as_str())
            && found != self.issuer()
        {
            return Err(JwksFetchError::IssuerMismatch {
                url: discovery.to_string(),
                found: found.to_string(),
                expected: self.issuer().to_string(),
            });
        }
        document
            .get("jwks_uri")
            .and_then(|u| u.as_str())
            .and_then(|u| url::Url::parse(u).ok())
            .filter(|u| matches!(u.scheme(), "https" | "http"))
            .ok_or_else(no_uri)
    }

    /// Fetches the keys now and then every `jwks_refresh`; a failure is logged and retried
    /// after [`RETRY_AFTER_FAILURE`].
    async fn refresh_forever(&self, client: &UpstreamClient) {
        loop {
            let wait = match self.refresh(client).await {
                Ok(_) => self.config.jwks_refresh,
                Err(error) => {
                    tracing::warn!(issuer = %self.issuer(), %error, "could not fetch the identity provider's keys; tokens from it are refused until a fetch succeeds, retrying");
                    RETRY_AFTER_FAILURE.min(self.config.jwks_refresh)
                }
            };
            tokio::time::sleep(wait).await;
        }
    }
}

/// A token that verified: for whom, under which keys.
struct Remembered {
    issuer: Arc<Issuer>,
    token: VerifiedToken,
    generation: u64,
}

/// Every trusted issuer.
#[derive(Default)]
pub struct Oidc {
    issuers: Vec<Arc<Issuer>>,
    /// SHA-256 of a token's text to what verifying it gave.
    verified: Mutex<HashMap<[u8; 32], Remembered>>,
}

impl Oidc {
    pub fn new(config: &IdentityConfig) -> Oidc {
        Oidc {
            issuers: config
                .oidc
                .iter()
                .cloned()
                .map(|c| Arc::new(Issuer::new(c)))
                .collect(),
            verified: Mutex::default(),
        }
    }

    /// Whether any issuer is configured: without one, no credential is read as a token.
    pub fn enabled(&self) -> bool {
        !self.issuers.is_empty()
    }

    pub fn issuer(&self, iss: &str) -> Option<&Arc<Issuer>> {
        self.issuers.iter().find(|i| i.issuer() == iss)
    }

    /// One background task per issuer, fetching its keys now and then periodically.
    pub fn spawn_refresh(&self, client: &UpstreamClient) -> Vec<tokio::task::JoinHandle<()>> {
        self.issuers
            .iter()
            .map(|issuer| {
                let issuer = Arc::clone(issuer);
                let client = client.clone();
                tokio::spawn(async move { issuer.refresh_forever(&client).await })
            })
            .collect()
    }

    /// Verifies `token` with its issuer's keys, or finds it verified already (same text,
    /// same keys, not expired); an unknown `kid` refetches the keys (at most once per
    /// [`KID_REFETCH_EVERY`]) and tries once more.
    pub async fn verify(
        &self,
        token: &str,
        client: &UpstreamClient,
    ) -> Result<(Arc<Issuer>, VerifiedToken), TokenError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(found) = self.remembered(&digest)? {
            return Ok(found);
        }
        let (issuer, verified) = self.verify_afresh(token, client).await?;
        let generation = issuer.generation.load(Ordering::SeqCst);
        let mut remembered = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if remembered.len() >= MAX_REMEMBERED {
            let now = chrono::Utc::now().timestamp();
            remembered.retain(|_, r| r.token.expires_at > now);
            if remembered.len() >= MAX_REMEMBERED {
                remembered.clear();
            }
        }
        remembered.insert(
            digest,
            Remembered {
                issuer: Arc::clone(&issuer),
                token: verified.clone(),
                generation,
            },
        );
        Ok((issuer, verified))
    }

    /// A token verified before under the issuer's current keys; `Expired` once its `exp`
    /// (plus the skew) has passed.
    fn remembered(
        &self,
        digest: &[u8; 32],
    ) -> Result<Option<(Arc<Issuer>, VerifiedToken)>, TokenError> {
        let mut remembered = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        let Some(hit) = remembered.get(digest) else {
            return Ok(None);
        };
        if hit.generation != hit.issuer.generation.load(Ordering::SeqCst) {
            remembered.remove(digest);
            return Ok(None);
        }
        let skew = i64::try_from(hit.issuer.config.policy.clock_skew_s).unwrap_or(i64::MAX);
        if hit.token.expires_at.saturating_add(skew) <= chrono::Utc::now().timestamp() {
            remembered.remove(digest);
            return Err(TokenError::Expired);
        }
        Ok(Some((Arc::clone(&hit.issuer), hit.token.clone())))
    }

    async fn verify_afresh(
        &self,
        token: &str,
        client: &UpstreamClient,
    ) -> Result<(Arc<Issuer>, VerifiedToken), TokenError> {
        let iss = peek_issuer(token)?;
        let issuer = Arc::clone(self.issuer(&iss).ok_or(TokenError::UnknownIssuer)?);
        let now = || chrono::Utc::now().timestamp();
        let policy = &issuer.config.policy;
        let first = verify_token(token, policy, &issuer.keys.load(), now());
        let verified = match first {
            Err(TokenError::UnknownKeyId) if issuer.take_refetch_turn(Instant::now()) => {
                if let Err(error) = issuer.refresh(client).await {
                    tracing::warn!(issuer = %issuer.issuer(), %error, "could not refetch the identity provider's keys for an unknown key id");
                }
                verify_token(token, policy, &issuer.keys.load(), now())
            }
            other => other,
        }?;
        Ok((issuer, verified))
    }
}
