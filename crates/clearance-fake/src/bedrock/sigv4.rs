//! AWS Signature Version 4, checked the way AWS checks it: the `Authorization` header is read
//! (`AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request, SignedHeaders=...,
//! Signature=...`), its scope compared with the fake's key, region and the service `bedrock`,
//! the time with the fake's clock (five minutes either way), and the request signed again with
//! the `aws-sigv4` crate (the signer AWS's Rust SDK uses) from exactly the headers the client
//! says it signed, the path as sent (encoded again, as AWS does for every service but S3), the
//! query and the body. A different signature is refused as AWS refuses it.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SessionTokenMode, SignableBody, SignableRequest, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use axum::http::{HeaderMap, Method, Uri, header};

use super::errors::BedrockError;

/// The service name Bedrock's runtime (and control plane) signatures are scoped to.
pub(crate) const SERVICE: &str = "bedrock";

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// How far a request's time may be from the fake's clock.
const MAX_SKEW: Duration = Duration::from_secs(5 * 60);
const X_AMZ_DATE: &str = "x-amz-date";
const X_AMZ_SECURITY_TOKEN: &str = "x-amz-security-token";
const X_AMZ_CONTENT_SHA256: &str = "x-amz-content-sha256";
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
const UNKNOWN_KEY: &str = "The security token included in the request is invalid.";

/// The credentials the fake checks Bedrock requests against.
#[derive(Clone, PartialEq, Eq)]
pub struct AwsSigningKey {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// The region requests must be scoped to; `None` accepts the region the request names.
    pub region: Option<String>,
}

impl std::fmt::Debug for AwsSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsSigningKey")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("region", &self.region)
            .finish()
    }
}

/// The parts of a SigV4 `Authorization` header.
#[derive(Debug, PartialEq, Eq)]
struct Authorization<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

/// `Ok` when the request is signed with `key` for Bedrock, else the error AWS answers.
pub(crate) fn verify(
    key: &AwsSigningKey,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<(), BedrockError> {
    verify_for(SERVICE, key, method, uri, headers, body, now)
}

/// [`verify`] for any service's signing name.
fn verify_for(
    service: &str,
    key: &AwsSigningKey,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<(), BedrockError> {
    let Some(authorization) = headers.get(header::AUTHORIZATION) else {
        return Err(BedrockError::auth(
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ));
    };
    let authorization = authorization
        .to_str()
        .map_err(|_| incomplete("Authorization"))?;
    let amz_date = headers.get(X_AMZ_DATE).and_then(|v| v.to_str().ok());
    let parsed = parse_authorization(authorization, amz_date.is_some())?;
    if parsed.access_key_id != key.access_key_id {
        return Err(BedrockError::auth(
            "UnrecognizedClientException",
            UNKNOWN_KEY,
        ));
    }
    let amz_date = amz_date.unwrap_or_default();
    let time = parse_amz_date(amz_date).ok_or_else(|| {
        invalid(format!(
            "Date must be in ISO-8601 'basic format'. Got '{amz_date}'. See http://en.wikipedia.org/wiki/ISO_8601"
        ))
    })?;
    if !amz_date.starts_with(parsed.date) || parsed.date.len() != 8 {
        return Err(invalid(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{amz_date}'.",
            parsed.date,
            amz_date.get(..8).unwrap_or(amz_date),
        )));
    }
    if parsed.service != service {
        return Err(invalid(format!(
            "Credential should be scoped to correct service: '{service}'. "
        )));
    }
    if key.region.as_deref().is_some_and(|r| r != parsed.region) {
        return Err(invalid("Credential should be scoped to a valid region. "));
    }
    check_clock(amz_date, time, now)?;
    let expected = signature(key, &parsed, method, uri, headers, body, time)?;
    if expected != parsed.signature {
        return Err(invalid(SIGNATURE_MISMATCH));
    }
    Ok(())
}

/// Reads `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`; a header that
/// lacks a part is an `IncompleteSignatureException` naming every missing part, as AWS's is.
fn parse_authorization(value: &str, has_date: bool) -> Result<Authorization<'_>, BedrockError> {
    let fields = value.strip_prefix(ALGORITHM).unwrap_or("");
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for field in fields.split(',') {
        match field.trim().split_once('=') {
            Some(("Credential", v)) => credential = Some(v),
            Some(("SignedHeaders", v)) => signed_headers = Some(v),
            Some(("Signature", v)) => signature = Some(v),
            _ => {}
        }
    }
    let mut missing = String::new();
    for (name, part) in [
        ("Credential", credential),
        ("Signature", signature),
        ("SignedHeaders", signed_headers),
    ] {
        if part.is_none_or(str::is_empty) {
            missing.push_str(&format!(
                "Authorization header requires '{name}' parameter. "
            ));
        }
    }
    if !has_date {
        missing.push_str(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ",
        );
    }
    let (Some(credential), Some(signed_headers), Some(signature), true) =
        (credential, signed_headers, signature, missing.is_empty())
    else {
        return Err(BedrockError::auth(
            "IncompleteSignatureException",
            format!("{missing}Authorization={value}"),
        ));
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, "aws4_request"] = scope[..] else {
        return Err(BedrockError::auth(
            "IncompleteSignatureException",
            format!(
                "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{credential}'"
            ),
        ));
    };
    Ok(Authorization {
        access_key_id,
        date,
        region,
        service,
        signed_headers: signed_headers.split(';').collect(),
        signature,
    })
}

/// `20240102T030405Z` as a time.
fn parse_amz_date(value: &str) -> Option<SystemTime> {
    let parsed = chrono::NaiveDateTime::parse_from_str(value, "%Y%m%dT%H%M%SZ").ok()?;
    Some(SystemTime::from(parsed.and_utc()))
}

fn format_amz_date(time: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(time)
        .format("%Y%m%dT%H%M%SZ")
        .to_string()
}

fn check_clock(amz_date: &str, time: SystemTime, now: SystemTime) -> Result<(), BedrockError> {
    let now_text = format_amz_date(now);
    if time + MAX_SKEW < now {
        let earliest = format_amz_date(now - MAX_SKEW);
        return Err(invalid(format!(
            "Signature expired: {amz_date} is now earlier than {earliest} ({now_text} - 5 min.)"
        )));
    }
    if time > now + MAX_SKEW {
        let latest = format_amz_date(now + MAX_SKEW);
        return Err(invalid(format!(
            "Signature not yet current: {amz_date} is still later than {latest} ({now_text} + 5 min.)"
        )));
    }
    Ok(())
}

/// The signature `key` gives this request, signed again from the headers it names.
fn signature(
    key: &AwsSigningKey,
    authorization: &Authorization<'_>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    time: SystemTime,
) -> Result<String, BedrockError> {
    // HTTP/2 carries the host in the URI's authority, not in a header.
    let authority = uri.authority().map(|a| a.as_str());
    let mut signed: Vec<(&str, &str)> = Vec::new();
    for name in &authorization.signed_headers {
        if *name == X_AMZ_SECURITY_TOKEN {
            // The signer adds it from the credentials.
            continue;
        }
        let mut values = headers.get_all(*name).iter().peekable();
        if values.peek().is_none() {
            match (*name, authority) {
                ("host", Some(authority)) => signed.push(("host", authority)),
                _ => return Err(invalid(SIGNATURE_MISMATCH)),
            }
        }
        for value in values {
            let value = value.to_str().map_err(|_| invalid(SIGNATURE_MISMATCH))?;
            signed.push((name, value));
        }
    }
    let session_token = headers
        .get(X_AMZ_SECURITY_TOKEN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = match headers.get(X_AMZ_CONTENT_SHA256) {
        Some(v) if v.as_bytes() == UNSIGNED_PAYLOAD.as_bytes() => SignableBody::UnsignedPayload,
        _ => SignableBody::Bytes(body),
    };
    let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
    let request = SignableRequest::new(method.as_str(), path_and_query, signed.into_iter(), body)
        .map_err(|_| invalid(SIGNATURE_MISMATCH))?;
    let mut settings = SigningSettings::default();
    // Sign exactly what the client signed: none of the signer's own exclusions.
    settings.excluded_headers = None;
    settings.session_token_mode = if authorization.signed_headers.contains(&X_AMZ_SECURITY_TOKEN) {
        SessionTokenMode::Include
    } else {
        SessionTokenMode::Exclude
    };
    let identity = Credentials::new(
        &key.access_key_id,
        &key.secret_access_key,
        session_token,
        None,
        "clearance-fake",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(authorization.region)
        .name(authorization.service)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|_| invalid(SIGNATURE_MISMATCH))?
        .into();
    let output = sign(request, &params).map_err(|_| invalid(SIGNATURE_MISMATCH))?;
    Ok(output.signature().to_owned())
}

fn invalid(message: impl Into<String>) -> BedrockError {
    BedrockError::auth("InvalidSignatureException", message)
}

fn incomplete(what: &str) -> BedrockError {
    BedrockError::auth(
        "IncompleteSignatureException",
        format!("{what} header is not valid ASCII."),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const KEY_ID: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    fn key(region: Option<&str>) -> AwsSigningKey {
        AwsSigningKey {
            access_key_id: KEY_ID.into(),
            secret_access_key: SECRET.into(),
            region: region.map(str::to_owned),
        }
    }

    /// Headers of a request to `path` signed by the real signer at `time`.
    fn signed(secret: &str, region: &str, path: &str, body: &[u8], time: SystemTime) -> HeaderMap {
        let host = "bedrock-runtime.us-east-1.amazonaws.com";
        let request = SignableRequest::new(
            "POST",
            path,
            [("host", host), ("content-type", "application/json")].into_iter(),
            SignableBody::Bytes(body),
        )
        .unwrap();
        let identity = Credentials::new(KEY_ID, secret, None, None, "test").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(SERVICE)
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let (instructions, _) = sign(request, &params).unwrap().into_parts();
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static(host));
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        for (name, value) in instructions.headers() {
            headers.insert(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        headers
    }

    const PATH: &str = "/model/us.anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse";

    fn check(
        key: &AwsSigningKey,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), BedrockError> {
        verify(
            key,
            &Method::POST,
            &PATH.parse().unwrap(),
            headers,
            body,
            now,
        )
    }

    #[test]
    fn accepts_the_right_signature_and_refuses_a_wrong_one() {
        let now = SystemTime::now();
        let body = br#"{"messages":[]}"#;
        let good = signed(SECRET, "us-east-1", PATH, body, now);
        check(&key(None), &good, body, now).unwrap();
        check(&key(Some("us-east-1")), &good, body, now).unwrap();

        let wrong_secret = signed("not-the-secret", "us-east-1", PATH, body, now);
        let error = check(&key(None), &wrong_secret, body, now).unwrap_err();
        assert_eq!(
            (error.status, error.kind.as_str()),
            (403, "InvalidSignatureException")
        );
        assert_eq!(error.message, SIGNATURE_MISMATCH);

        // A body changed after signing no longer matches.
        let error = check(&key(None), &good, br#"{"messages":[1]}"#, now).unwrap_err();
        assert_eq!(error.kind, "InvalidSignatureException");
    }

    #[test]
    fn scope_and_clock_are_checked() {
        let now = SystemTime::now();
        let body = b"{}";
        let other_region = signed(SECRET, "eu-west-1", PATH, body, now);
        let error = check(&key(Some("us-east-1")), &other_region, body, now).unwrap_err();
        assert!(
            error
                .message
                .starts_with("Credential should be scoped to a valid region")
        );

        let old = now - Duration::from_secs(600);
        let stale = signed(SECRET, "us-east-1", PATH, body, old);
        let error = check(&key(None), &stale, body, now).unwrap_err();
        assert!(
            error.message.starts_with("Signature expired: "),
            "{}",
            error.message
        );

        let mut unknown = signed(SECRET, "us-east-1", PATH, body, now);
        let authorization = unknown[header::AUTHORIZATION]
            .to_str()
            .unwrap()
            .replace(KEY_ID, "AKIDOTHER");
        unknown.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&authorization).unwrap(),
        );
        let error = check(&key(None), &unknown, body, now).unwrap_err();
        assert_eq!(error.kind, "UnrecognizedClientException");
    }

    #[test]
    fn missing_and_incomplete_authorization() {
        let now = SystemTime::now();
        let error = check(&key(None), &HeaderMap::new(), b"", now).unwrap_err();
        assert_eq!(error.kind, "MissingAuthenticationTokenException");
        let mut bearer = HeaderMap::new();
        bearer.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        let error = check(&key(None), &bearer, b"", now).unwrap_err();
        assert_eq!(error.kind, "IncompleteSignatureException");
        assert!(error.message.contains("requires 'Credential' parameter"));
        assert!(error.message.contains("'X-Amz-Date'"));
    }

    /// AWS's own SigV4 test suite, `get-vanilla` (service `service`): a signature made by
    /// AWS's reference signer, not by the crate the fake verifies with.
    #[test]
    fn matches_the_aws_test_suite() {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("example.amazonaws.com"));
        headers.insert("x-amz-date", HeaderValue::from_static("20150830T123600Z"));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            ),
        );
        let then = parse_amz_date("20150830T123600Z").unwrap();
        let uri: Uri = "/".parse().unwrap();
        let vanilla = |key: &AwsSigningKey, headers: &HeaderMap| {
            verify_for("service", key, &Method::GET, &uri, headers, b"", then)
        };
        vanilla(&key(Some("us-east-1")), &headers).unwrap();
        let mut other = key(None);
        other.secret_access_key.push('x');
        assert!(vanilla(&other, &headers).is_err());
        headers.insert("x-amz-date", HeaderValue::from_static("20150830T123601Z"));
        assert!(vanilla(&key(None), &headers).is_err());
    }

    #[test]
    fn reads_authorization_headers() {
        let parsed = parse_authorization(
            "AWS4-HMAC-SHA256 Credential=AKID/20240102/us-west-2/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc123",
            true,
        )
        .unwrap();
        assert_eq!(
            parsed,
            Authorization {
                access_key_id: "AKID",
                date: "20240102",
                region: "us-west-2",
                service: "bedrock",
                signed_headers: vec!["host", "x-amz-date"],
                signature: "abc123",
            }
        );
        let short = parse_authorization(
            "AWS4-HMAC-SHA256 Credential=AKID/20240102/bedrock, SignedHeaders=host, Signature=a",
            true,
        )
        .unwrap_err();
        assert!(short.message.starts_with("Credential must have exactly 5"));
    }
}
