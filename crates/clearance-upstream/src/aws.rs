//! AWS Signature Version 4 for `bedrock` providers that authenticate with AWS credentials,
//! computed by `aws-sigv4` (the signer AWS's own Rust SDK uses) over the final method, URL,
//! signed headers and body.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign as sigv4};
use aws_sigv4::sign::v4;
use clearance_config::{Provider, ProviderKind};
use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::UpstreamError;

/// Bedrock's signing name, for the runtime as for the control plane.
const SERVICE: &str = "bedrock";

/// The SigV4 headers (`authorization`, `x-amz-date`, `x-amz-content-sha256` and, for
/// temporary credentials, `x-amz-security-token`) for a request of `provider`'s, appended to
/// `headers` when `provider` signs; `headers` untouched otherwise. A `POST` is signed with the
/// `content-type: application/json` it carries.
pub(crate) fn sign(
    headers: &mut HeaderMap,
    provider: &Provider,
    method: &str,
    url: &str,
    body: &[u8],
) -> Result<(), UpstreamError> {
    let ProviderKind::Bedrock(bedrock) = &provider.kind else {
        return Ok(());
    };
    let Some(credentials) = &bedrock.credentials else {
        return Ok(());
    };
    let identity = Credentials::new(
        credentials.access_key_id.expose(),
        credentials.secret_access_key.expose(),
        credentials
            .session_token
            .as_ref()
            .map(|t| t.expose().to_string()),
        None,
        "clearance-config",
    )
    .into();
    let failed = |detail: String| UpstreamError::Other {
        provider: provider.name.clone(),
        detail: format!("cannot sign the request: {detail}"),
    };
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&bedrock.region)
        .name(SERVICE)
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| failed(e.to_string()))?
        .into();
    let content_type = [("content-type", "application/json")];
    let signable = match method {
        "GET" => SignableRequest::new(method, url, std::iter::empty(), SignableBody::Bytes(body)),
        _ => SignableRequest::new(
            method,
            url,
            content_type.iter().copied(),
            SignableBody::Bytes(body),
        ),
    }
    .map_err(|e| failed(e.to_string()))?;
    let (instructions, _signature) = sigv4(signable, &params)
        .map_err(|e| failed(e.to_string()))?
        .into_parts();
    for (name, value) in instructions.headers() {
        let name = HeaderName::try_from(name).map_err(|e| failed(e.to_string()))?;
        let mut value = HeaderValue::try_from(value).map_err(|e| failed(e.to_string()))?;
        value.set_sensitive(true);
        headers.append(name, value);
    }
    Ok(())
}
