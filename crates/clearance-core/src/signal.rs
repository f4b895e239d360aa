//! What a provider's error answer says beyond its status, read by the provider's own format
//! (`clearance_wire::signal`) and judged by failover (`clearance_failover::classify_status`),
//! so the judge never parses a body.

/// A provider's typed signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderSignal {
    /// Nothing beyond the status.
    Plain,
    /// The provider will not serve the gateway where it stands, or this account, this model:
    /// its own region or access block (OpenAI's `unsupported_country_region_territory`,
    /// Anthropic's "Request not allowed", Gemini's "User location is not supported", Bedrock's
    /// `AccessDeniedException` for the model). Another model may answer; this one will not.
    ProviderBlock,
}
