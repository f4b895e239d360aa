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
    /// `POST /v1beta/models/{model}:generateContent` and `:streamGenerateContent` (Google
    /// Gemini; the model and whether to stream come from the path).
    Gemini,
    /// `POST /v1/responses` (OpenAI Responses; answers kept by the gateway for
    /// `previous_response_id`).
    OpenaiResponses,
    /// `POST /v1/embeddings` (OpenAI embeddings; embedding models only).
    OpenaiEmbeddings,
    /// `POST /v1/messages/count_tokens` (Anthropic's token count of a Messages request).
    AnthropicCountTokens,
}

impl ApiSurface {
    /// Every surface: what `context.api` can hold.
    pub const ALL: [ApiSurface; 6] = [
        ApiSurface::OpenaiChat,
        ApiSurface::AnthropicMessages,
        ApiSurface::Gemini,
        ApiSurface::OpenaiResponses,
        ApiSurface::OpenaiEmbeddings,
        ApiSurface::AnthropicCountTokens,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ApiSurface::OpenaiChat => "openai_chat",
            ApiSurface::AnthropicMessages => "anthropic_messages",
            ApiSurface::Gemini => "gemini",
            ApiSurface::OpenaiResponses => "openai_responses",
            ApiSurface::OpenaiEmbeddings => "openai_embeddings",
            ApiSurface::AnthropicCountTokens => "anthropic_count_tokens",
        }
    }

    /// What the surface asks a model for: a generated answer (every chat surface), vectors,
    /// or a token count.
    pub fn operation(self) -> Operation {
        match self {
            ApiSurface::OpenaiEmbeddings => Operation::Embed,
            ApiSurface::AnthropicCountTokens => Operation::CountTokens,
            ApiSurface::OpenaiChat
            | ApiSurface::AnthropicMessages
            | ApiSurface::Gemini
            | ApiSurface::OpenaiResponses => Operation::Generate,
        }
    }

    /// Whether errors are written in OpenAI's shape (`{"error": {"message", "type", "param",
    /// "code"}}`): Chat Completions and Responses share it.
    pub fn openai_shaped(self) -> bool {
        matches!(
            self,
            ApiSurface::OpenaiChat | ApiSurface::OpenaiResponses | ApiSurface::OpenaiEmbeddings
        )
    }
}

/// What a request asks of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Operation {
    /// A chat answer (whole or streamed).
    #[default]
    Generate,
    /// Embedding vectors.
    Embed,
    /// The input token count of a chat request.
    CountTokens,
}

impl Operation {
    /// A stable name, for errors, logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Generate => "generate",
            Operation::Embed => "embeddings",
            Operation::CountTokens => "count_tokens",
        }
    }
}

/// A wire format the gateway can read or write: each client surface, and each provider kind's
/// own API. A request crosses formats when the client's surface and the provider's format
/// differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WireFormat {
    /// OpenAI Chat Completions (and every OpenAI-compatible server).
    OpenaiChat,
    /// Anthropic Messages.
    AnthropicMessages,
    /// Google Gemini `generateContent` / `streamGenerateContent`.
    Gemini,
    /// OpenAI Responses (`/v1/responses`).
    OpenaiResponses,
    /// Amazon Bedrock Converse / ConverseStream.
    BedrockConverse,
}

impl WireFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            WireFormat::OpenaiChat => "openai_chat",
            WireFormat::AnthropicMessages => "anthropic_messages",
            WireFormat::Gemini => "gemini",
            WireFormat::OpenaiResponses => "openai_responses",
            WireFormat::BedrockConverse => "bedrock_converse",
        }
    }

    /// The name people know the format by, for messages.
    pub fn title(self) -> &'static str {
        match self {
            WireFormat::OpenaiChat => "OpenAI Chat Completions",
            WireFormat::AnthropicMessages => "Anthropic Messages",
            WireFormat::Gemini => "Gemini",
            WireFormat::OpenaiResponses => "OpenAI Responses",
            WireFormat::BedrockConverse => "Bedrock Converse",
        }
    }
}

impl From<ApiSurface> for WireFormat {
    fn from(surface: ApiSurface) -> WireFormat {
        match surface {
            ApiSurface::OpenaiChat => WireFormat::OpenaiChat,
            ApiSurface::AnthropicMessages => WireFormat::AnthropicMessages,
            ApiSurface::Gemini => WireFormat::Gemini,
            ApiSurface::OpenaiResponses => WireFormat::OpenaiResponses,
            // Their bodies are OpenAI's and Anthropic's: a provider of that format gets them
            // passed through (model swapped); every other kind has its own operation body.
            ApiSurface::OpenaiEmbeddings => WireFormat::OpenaiChat,
            ApiSurface::AnthropicCountTokens => WireFormat::AnthropicMessages,
        }
    }
}
