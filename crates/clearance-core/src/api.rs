//! The client-facing API surfaces: which wire format a request arrived in. The surface decides
//! the error JSON shape a client gets back and which providers can serve the request as-is.

use serde::{Deserialize, Serialize};

/// The wire format a client spoke to the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiSurface {
    /// `POST /v1/chat/completions` (OpenAI Chat Completions).
    OpenaiChat,
    /// `POST /v1/messages` (Anthropic Messages).
    AnthropicMessages,
}

impl ApiSurface {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiSurface::OpenaiChat => "openai_chat",
            ApiSurface::AnthropicMessages => "anthropic_messages",
        }
    }
}
