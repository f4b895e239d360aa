//! Which upstream failures move on to the next candidate, and which go back to the caller.
//!
//! A failure the provider or the network caused (it cannot connect, it timed out, it is rate
//! limited, overloaded, broken, or it will not serve from where the gateway stands) moves on:
//! another model may answer. A failure the request caused (a 400 for a bad field, a 413 for a
//! too-large body, any other 4xx) goes back to the caller at once: every other model would
//! refuse it too, and trying them only multiplies load and latency.
//!
//! This module only judges what happened *before the first byte* of an answer reached the
//! caller; once the gateway has relayed a byte, nothing can move on.
//!
//! | Upstream answer | Verdict | Class |
//! |---|---|---|
//! | connect error | move on | [`FailureClass::Connect`] |
//! | timeout before the first byte, 408, 504 | move on | [`FailureClass::Timeout`] |
//! | body broken before the first byte | move on | [`FailureClass::BrokenStream`] |
//! | 429 | move on | [`FailureClass::RateLimited`] |
//! | 503, 529 | move on | [`FailureClass::Overloaded`] |
//! | other 5xx, or a status outside 200–599 that is not 2xx | move on | [`FailureClass::ServerError`] |
//! | 451 | move on | [`FailureClass::LegalBlock`] |
//! | 400 or 403 signalled [`ProviderSignal::ProviderBlock`] | move on | [`FailureClass::RegionBlock`] |
//! | any other 4xx | return to the caller | — |
//! | 2xx | return to the caller (it is an answer) | — |
//!
//! Region and access blocks are recognised by each provider's own format
//! (`clearance_wire::signal`, where the providers' bodies are listed), which hands over a typed
//! [`ProviderSignal`]; this module never reads a body.
//!
//! 529 is Anthropic's `overloaded_error` ("Anthropic's API is temporarily overloaded",
//! docs.anthropic.com/en/api/errors).

use clearance_core::audit::AttemptOutcome;
pub use clearance_core::signal::ProviderSignal;

/// What to do after an attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The provider or the network failed: try the next candidate on the route.
    MoveOn(FailureClass),
    /// The request itself was refused (or it is an answer): give it to the caller as is.
    ReturnToCaller,
}

impl Verdict {
    /// What the attempt tells the model's breaker: `Some(false)` a failure that counts
    /// against it, `Some(true)` the model answered (an answer, or a 4xx the request caused:
    /// the model is up), `None` nothing about the model's health (the gateway releases the
    /// admission instead of recording it; see [`FailureClass::counts_against_breaker`]).
    pub fn breaker_outcome(self) -> Option<bool> {
        match self {
            Verdict::ReturnToCaller => Some(true),
            Verdict::MoveOn(class) if class.counts_against_breaker() => Some(false),
            Verdict::MoveOn(_) => None,
        }
    }
}

/// Why an attempt moved on. `as_str` is stable: it is a metric label and an audit value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureClass {
    /// No connection (refused, reset, DNS, TLS) before anything was sent back.
    Connect,
    /// No first byte in time (the gateway's timeout, or the provider's 408 / 504).
    Timeout,
    /// 429: this model, for the gateway's key, is rate limited.
    RateLimited,
    /// 503 or 529: the provider says it is overloaded or unavailable.
    Overloaded,
    /// Any other 5xx (or a nonsensical status).
    ServerError,
    /// 451: the provider will not serve this for legal reasons.
    LegalBlock,
    /// The provider's own region block (403, or Gemini's 400 `FAILED_PRECONDITION`).
    RegionBlock,
    /// The body broke before the first byte reached the caller.
    BrokenStream,
}

impl FailureClass {
    /// Every class, for tests, metric registration and documentation.
    pub const ALL: [FailureClass; 8] = [
        FailureClass::Connect,
        FailureClass::Timeout,
        FailureClass::RateLimited,
        FailureClass::Overloaded,
        FailureClass::ServerError,
        FailureClass::LegalBlock,
        FailureClass::RegionBlock,
        FailureClass::BrokenStream,
    ];

    /// The stable name: a metric label and an audit value; never change one.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Connect => "connect",
            FailureClass::Timeout => "timeout",
            FailureClass::RateLimited => "rate_limited",
            FailureClass::Overloaded => "overloaded",
            FailureClass::ServerError => "server_error",
            FailureClass::LegalBlock => "legal_block",
            FailureClass::RegionBlock => "region_block",
            FailureClass::BrokenStream => "broken_stream",
        }
    }

    /// The attempt's outcome in the audit record (the same name).
    pub fn outcome(self) -> AttemptOutcome {
        match self {
            FailureClass::Connect => AttemptOutcome::Connect,
            FailureClass::Timeout => AttemptOutcome::Timeout,
            FailureClass::RateLimited => AttemptOutcome::RateLimited,
            FailureClass::Overloaded => AttemptOutcome::Overloaded,
            FailureClass::ServerError => AttemptOutcome::ServerError,
            FailureClass::LegalBlock => AttemptOutcome::LegalBlock,
            FailureClass::RegionBlock => AttemptOutcome::RegionBlock,
            FailureClass::BrokenStream => AttemptOutcome::BrokenStream,
        }
    }

    /// Whether this failure says the *model* is unhealthy, so its breaker should count it.
    ///
    /// Yes for everything that will happen to the next request too: connection failures,
    /// timeouts, overload, 5xx, broken bodies, rate limits (sending more to a model that
    /// answers 429 only deepens the hole) and region blocks (they are about where the gateway
    /// stands, so every request gets one). No for 451: a legal block can depend on the
    /// request (its content, its caller's jurisdiction), and one caller's block must not shut
    /// the model for everyone. A 4xx returned to the caller is not a failure of the model at
    /// all (see [`Verdict::breaker_outcome`]).
    pub fn counts_against_breaker(self) -> bool {
        !matches!(self, FailureClass::LegalBlock)
    }
}

/// A failure with no HTTP status: the upstream call broke before an answer began.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportFailure {
    /// Could not connect (refused, reset, DNS, TLS handshake).
    Connect,
    /// The time to first byte ran out.
    TimeoutBeforeFirstByte,
    /// The connection broke after the status line but before the first byte of the body
    /// reached the caller.
    BrokenBeforeFirstByte,
}

impl TransportFailure {
    /// Why the attempt moved on.
    pub fn class(self) -> FailureClass {
        match self {
            TransportFailure::Connect => FailureClass::Connect,
            TransportFailure::TimeoutBeforeFirstByte => FailureClass::Timeout,
            TransportFailure::BrokenBeforeFirstByte => FailureClass::BrokenStream,
        }
    }
}

/// Judges a failure that has no status. Every one of them moves on.
pub fn classify_transport(kind: TransportFailure) -> Verdict {
    Verdict::MoveOn(kind.class())
}

/// Judges an upstream answer by its status and, for the ambiguous ones (400, 403), by the
/// provider's typed signal. See the module docs for the table.
pub fn classify_status(status: u16, signal: ProviderSignal) -> Verdict {
    let class = match status {
        200..=299 => return Verdict::ReturnToCaller,
        408 | 504 => FailureClass::Timeout,
        429 => FailureClass::RateLimited,
        451 => FailureClass::LegalBlock,
        503 | 529 => FailureClass::Overloaded,
        403 | 400 if signal == ProviderSignal::ProviderBlock => FailureClass::RegionBlock,
        400..=499 => return Verdict::ReturnToCaller,
        // 5xx, and what no provider should send (1xx, 3xx: the client follows no redirects,
        // 600+): the provider is misbehaving, another model may not be.
        _ => FailureClass::ServerError,
    };
    Verdict::MoveOn(class)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clearance_core::api::WireFormat;

    /// The provider's answer as the gateway judges it: its format reads the signal, the
    /// status and the signal decide.
    fn classify(format: WireFormat, status: u16, body: &[u8]) -> Verdict {
        let signal = clearance_wire::signal::read(
            format,
            &clearance_wire::signal::ErrorAnswer {
                status,
                error_type: None,
                body,
            },
        );
        classify_status(status, signal)
    }

    const OPENAI: WireFormat = WireFormat::OpenaiChat;
    const ANTHROPIC: WireFormat = WireFormat::AnthropicMessages;
    const GEMINI: WireFormat = WireFormat::Gemini;
    const FORMATS: [WireFormat; 3] = [OPENAI, ANTHROPIC, GEMINI];

    fn move_on(class: FailureClass) -> Verdict {
        Verdict::MoveOn(class)
    }

    #[test]
    fn transport_failures_all_move_on() {
        assert_eq!(
            classify_transport(TransportFailure::Connect),
            move_on(FailureClass::Connect)
        );
        assert_eq!(
            classify_transport(TransportFailure::TimeoutBeforeFirstByte),
            move_on(FailureClass::Timeout)
        );
        assert_eq!(
            classify_transport(TransportFailure::BrokenBeforeFirstByte),
            move_on(FailureClass::BrokenStream)
        );
    }

    #[test]
    fn rate_limits_overload_server_errors_and_legal_blocks_move_on_in_every_format() {
        for format in FORMATS {
            assert_eq!(
                classify(format, 429, b""),
                move_on(FailureClass::RateLimited)
            );
            assert_eq!(
                classify(format, 529, b""),
                move_on(FailureClass::Overloaded)
            );
            assert_eq!(
                classify(format, 503, b""),
                move_on(FailureClass::Overloaded)
            );
            for status in [500, 501, 502, 505, 599] {
                assert_eq!(
                    classify(format, status, b"<html>"),
                    move_on(FailureClass::ServerError),
                    "{status}"
                );
            }
            assert_eq!(classify(format, 504, b""), move_on(FailureClass::Timeout));
            assert_eq!(classify(format, 408, b""), move_on(FailureClass::Timeout));
            assert_eq!(
                classify(format, 451, b""),
                move_on(FailureClass::LegalBlock)
            );
        }
    }

    #[test]
    fn request_errors_return_to_the_caller() {
        for format in FORMATS {
            for status in [400, 401, 402, 403, 404, 409, 413, 415, 422, 499] {
                assert_eq!(
                    classify(format, status, br#"{"error":{"message":"bad"}}"#),
                    Verdict::ReturnToCaller,
                    "{} {status}",
                    format.as_str()
                );
            }
        }
    }

    #[test]
    fn answers_return_to_the_caller() {
        assert_eq!(classify(OPENAI, 200, b"{}"), Verdict::ReturnToCaller);
        assert_eq!(classify(GEMINI, 204, b""), Verdict::ReturnToCaller);
    }

    #[test]
    fn nonsense_statuses_are_server_errors() {
        for status in [0, 100, 301, 304, 600, u16::MAX] {
            assert_eq!(
                classify(OPENAI, status, b""),
                move_on(FailureClass::ServerError),
                "{status}"
            );
        }
    }

    #[test]
    fn openai_region_block_moves_on() {
        let body = br#"{"error":{"code":"unsupported_country_region_territory","message":"Country, region, or territory not supported","param":null,"type":"request_forbidden"}}"#;
        assert_eq!(
            classify(OPENAI, 403, body),
            move_on(FailureClass::RegionBlock)
        );
    }

    #[test]
    fn openai_compatible_region_block_with_a_numeric_code_moves_on() {
        let body = br#"{
  "error": {
    "code": 403,
    "message": "Country, region, or territory not supported"
  }
}"#;
        assert_eq!(
            classify(OPENAI, 403, body),
            move_on(FailureClass::RegionBlock)
        );
    }

    #[test]
    fn openai_region_block_code_alone_is_enough() {
        let body = br#"{"error":{"code":"unsupported_country_region_territory","message":"Not available here","type":"request_forbidden"}}"#;
        assert_eq!(
            classify(OPENAI, 403, body),
            move_on(FailureClass::RegionBlock)
        );
    }

    #[test]
    fn openai_other_403_returns_to_the_caller() {
        let body = br#"{"error":{"code":"model_not_allowed","message":"You are not allowed to sample from this model","type":"invalid_request_error"}}"#;
        assert_eq!(classify(OPENAI, 403, body), Verdict::ReturnToCaller);
    }

    #[test]
    fn anthropic_region_block_moves_on() {
        let body =
            br#"{"type":"error","error":{"type":"forbidden","message":"Request not allowed"}}"#;
        assert_eq!(
            classify(ANTHROPIC, 403, body),
            move_on(FailureClass::RegionBlock)
        );
    }

    #[test]
    fn anthropic_permission_error_returns_to_the_caller() {
        let body = br#"{"type":"error","error":{"type":"permission_error","message":"Your API key does not have permission to use the specified resource."}}"#;
        assert_eq!(classify(ANTHROPIC, 403, body), Verdict::ReturnToCaller);
    }

    #[test]
    fn gemini_user_location_400_moves_on() {
        let body = br#"{
  "error": {
    "code": 400,
    "message": "User location is not supported for the API use.",
    "status": "FAILED_PRECONDITION"
  }
}"#;
        assert_eq!(
            classify(GEMINI, 400, body),
            move_on(FailureClass::RegionBlock)
        );
        let billing = br#"{"error":{"code":400,"message":"User location is not supported for the API use without a billing account linked.","status":"FAILED_PRECONDITION"}}"#;
        assert_eq!(
            classify(GEMINI, 400, billing),
            move_on(FailureClass::RegionBlock)
        );
        let streamed = br#"[{"error":{"code":400,"message":"User location is not supported for the API use.","status":"FAILED_PRECONDITION"}}]"#;
        assert_eq!(
            classify(GEMINI, 400, streamed),
            move_on(FailureClass::RegionBlock)
        );
    }

    #[test]
    fn gemini_region_not_supported_403_moves_on() {
        let body = br#"{"error":{"code":403,"message":"Region not supported.","status":"PERMISSION_DENIED"}}"#;
        assert_eq!(
            classify(GEMINI, 403, body),
            move_on(FailureClass::RegionBlock)
        );
    }

    #[test]
    fn gemini_other_400_returns_to_the_caller() {
        let body = br#"{"error":{"code":400,"message":"Invalid JSON payload received.","status":"INVALID_ARGUMENT"}}"#;
        assert_eq!(classify(GEMINI, 400, body), Verdict::ReturnToCaller);
        let precondition = br#"{"error":{"code":400,"message":"Precondition check failed.","status":"FAILED_PRECONDITION"}}"#;
        assert_eq!(classify(GEMINI, 400, precondition), Verdict::ReturnToCaller);
    }

    #[test]
    fn a_region_block_is_recognised_only_in_its_own_providers_format() {
        let gemini = br#"{"error":{"code":400,"message":"User location is not supported for the API use.","status":"FAILED_PRECONDITION"}}"#;
        assert_eq!(classify(OPENAI, 400, gemini), Verdict::ReturnToCaller);
        assert_eq!(classify(ANTHROPIC, 400, gemini), Verdict::ReturnToCaller);
        let anthropic =
            br#"{"type":"error","error":{"type":"forbidden","message":"Request not allowed"}}"#;
        assert_eq!(classify(OPENAI, 403, anthropic), Verdict::ReturnToCaller);
        assert_eq!(classify(GEMINI, 403, anthropic), Verdict::ReturnToCaller);
    }

    #[test]
    fn unreadable_403_bodies_return_to_the_caller() {
        for body in [
            &b""[..],
            b"not json",
            b"\xff\xfe",
            b"[]",
            b"null",
            b"{\"error\":7}",
        ] {
            for format in FORMATS {
                assert_eq!(classify(format, 403, body), Verdict::ReturnToCaller);
            }
        }
    }

    #[test]
    fn names_are_stable_and_distinct() {
        let names: Vec<&str> = FailureClass::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            names,
            [
                "connect",
                "timeout",
                "rate_limited",
                "overloaded",
                "server_error",
                "legal_block",
                "region_block",
                "broken_stream"
            ]
        );
    }

    #[test]
    fn each_class_is_the_outcome_of_the_same_name() {
        for class in FailureClass::ALL {
            assert_eq!(class.outcome().as_str(), class.as_str());
        }
    }

    #[test]
    fn only_legal_blocks_do_not_count_against_the_breaker() {
        for class in FailureClass::ALL {
            assert_eq!(
                class.counts_against_breaker(),
                class != FailureClass::LegalBlock,
                "{}",
                class.as_str()
            );
        }
        assert_eq!(Verdict::ReturnToCaller.breaker_outcome(), Some(true));
        assert_eq!(
            move_on(FailureClass::Connect).breaker_outcome(),
            Some(false)
        );
        assert_eq!(move_on(FailureClass::LegalBlock).breaker_outcome(), None);
    }

    proptest::proptest! {
        #[test]
        fn classify_never_panics_and_4xx_other_than_the_listed_return(
            status in proptest::prelude::any::<u16>(),
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
        ) {
            for format in FORMATS {
                let verdict = classify(format, status, &body);
                if (400..500).contains(&status) && ![400, 403, 408, 429, 451].contains(&status) {
                    proptest::prop_assert_eq!(verdict, Verdict::ReturnToCaller);
                }
                if (500..600).contains(&status) {
                    proptest::prop_assert!(matches!(verdict, Verdict::MoveOn(_)));
                }
            }
        }
    }
}
