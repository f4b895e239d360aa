//! The provider-neutral conversation: what a chat request, its answer and a streamed answer
//! mean, independent of any vendor's wire format.
//!
//! Each wire format (OpenAI Chat Completions, Anthropic Messages, Google Gemini) is translated
//! to and from these types by `clearance-wire`; a request from one vendor's SDK reaches
//! another vendor's model as `wire A → neutral → wire B`. The types hold only what has a
//! meaning in at least one format, so that a translator can refuse (not drop) what its target
//! cannot express.
//!
//! Conventions every translator follows:
//! - Roles are `user` and `assistant` only. System prompts live in [`ChatRequest::system`];
//!   tool results are [`Part::ToolResult`] parts of a `user` message (Anthropic's model);
//!   formats that give tool results their own messages (OpenAI `role: "tool"`) split and merge
//!   them at their edge.
//! - A tool call's `id` is the thread that ties a result to its call across the conversation;
//!   a format without ids (older Gemini) gets ids invented by its translator, deterministically.
//! - Tool call arguments are a JSON object ([`serde_json::Value`]), never a string; a format
//!   that carries them as a JSON string (OpenAI) parses and prints at its edge.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One chat request, as the model should understand it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The model name as the sender wrote it (the gateway substitutes the provider's id).
    pub model: String,
    /// System prompt blocks, in order (OpenAI system/developer messages at the start,
    /// Anthropic `system`, Gemini `systemInstruction`).
    pub system: Vec<String>,
    pub messages: Vec<Message>,
    pub tools: Vec<ToolDef>,
    pub tool_choice: Option<ToolChoice>,
    /// Whether the model may call several tools in one turn (`None`: the provider's default).
    pub parallel_tool_calls: Option<bool>,
    /// The answer's length cap, in tokens.
    pub max_tokens: Option<u64>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    /// Only Anthropic and Gemini sample with top-k.
    pub top_k: Option<u64>,
    pub stop: Vec<String>,
    pub response_format: Option<ResponseFormat>,
    /// Only OpenAI and Gemini have these three.
    pub seed: Option<i64>,
    pub presence_penalty: Option<f64>,
    pub frequency_penalty: Option<f64>,
    /// An end-user id for the provider's abuse monitoring (OpenAI `user`, Anthropic
    /// `metadata.user_id`); it does not change the answer.
    pub end_user: Option<String>,
    pub stream: bool,
    /// An OpenAI streaming client asked for the final usage chunk.
    pub include_usage: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: Vec<Part>,
}

/// One piece of a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Part {
    Text {
        text: String,
    },
    Image {
        image: Image,
    },
    /// The assistant asks for a tool to be run.
    ToolCall {
        id: String,
        name: String,
        /// A JSON object.
        arguments: Value,
    },
    /// The result of running a tool, sent back by the user side.
    ToolResult {
        /// The id of the [`Part::ToolCall`] this answers.
        call_id: String,
        /// Text and images.
        content: Vec<Part>,
        is_error: bool,
    },
}

impl Part {
    pub fn text(text: impl Into<String>) -> Part {
        Part::Text { text: text.into() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Image {
    /// Inline bytes, base64-encoded.
    Base64 { media_type: String, data: String },
    /// A URL the provider fetches.
    Url { url: String },
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolDef {
    pub name: String,
    pub description: Option<String>,
    /// JSON Schema of the arguments object.
    pub parameters: Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum ToolChoice {
    /// The model decides.
    Auto,
    /// No tool calls.
    None,
    /// At least one tool call, of any tool.
    Required,
    /// This tool.
    Tool { name: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON matching a schema.
    JsonSchema {
        name: Option<String>,
        schema: Value,
        strict: Option<bool>,
    },
}

/// Why the model stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The answer is complete.
    EndTurn,
    MaxTokens,
    /// A stop sequence ended the answer (the sequence, where the provider says which).
    StopSequence(Option<String>),
    /// The model wants tool results.
    ToolUse,
    /// A provider filter cut or refused the answer.
    ContentFilter,
    /// A reason with no common meaning, under the provider's own name.
    Other(String),
}

/// Token counts a provider reported, when it did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
}

/// A whole (non-streamed) answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The provider's id for the answer, when it gave one.
    pub id: Option<String>,
    pub model: String,
    /// Text and tool calls, in the order the model produced them.
    pub content: Vec<Part>,
    pub stop_reason: Option<StopReason>,
    pub usage: Usage,
}

/// One step of a streamed answer. Text and tool calls arrive as a sequence of blocks: a
/// [`StreamEvent::TextDelta`] continues the open text block or opens one; a
/// [`StreamEvent::ToolCallStart`] always opens a new block, and the
/// [`StreamEvent::ToolCallArguments`] that follow belong to it. Encoders that need explicit
/// block boundaries (Anthropic) derive them from this order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum StreamEvent {
    /// The answer begins (always first).
    Start {
        id: Option<String>,
        model: String,
        usage: Usage,
    },
    TextDelta {
        text: String,
    },
    ToolCallStart {
        id: String,
        name: String,
    },
    /// A fragment of the open tool call's arguments, as JSON text; the fragments of one call
    /// concatenate to a JSON object.
    ToolCallArguments {
        json: String,
    },
    /// Token counts so far (later counts replace earlier ones field by field).
    Usage {
        usage: Usage,
    },
    /// The model stopped (content is complete; usage may still follow).
    Stop {
        reason: StopReason,
    },
    /// The provider reported an error inside the stream.
    Error {
        message: String,
    },
    /// The stream ended properly (always last when it does).
    End,
}

impl Usage {
    /// `self` with every count `later` reports replacing the earlier one.
    pub fn updated(self, later: Usage) -> Usage {
        Usage {
            input_tokens: later.input_tokens.or(self.input_tokens),
            output_tokens: later.output_tokens.or(self.output_tokens),
        }
    }
}

impl ChatRequest {
    /// The same conversation with adjacent messages of one role merged into one message,
    /// which is how formats that demand alternating roles see it. Two requests that differ
    /// only in this split mean the same thing.
    pub fn with_merged_turns(mut self) -> ChatRequest {
        let mut merged: Vec<Message> = Vec::with_capacity(self.messages.len());
        for message in self.messages {
            match merged.last_mut() {
                Some(last) if last.role == message.role => last.content.extend(message.content),
                _ => merged.push(message),
            }
        }
        self.messages = merged;
        self
    }

    /// The name of the tool call `call_id` refers to, looked up in the conversation so far
    /// (formats that match results to calls by name need it).
    pub fn tool_name_of(&self, call_id: &str) -> Option<&str> {
        self.messages
            .iter()
            .flat_map(|m| &m.content)
            .find_map(|part| match part {
                Part::ToolCall { id, name, .. } if id == call_id => Some(name.as_str()),
                _ => None,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(role: Role, text: &str) -> Message {
        Message {
            role,
            content: vec![Part::text(text)],
        }
    }

    #[test]
    fn adjacent_turns_of_one_role_merge_in_order() {
        let request = ChatRequest {
            messages: vec![
                message(Role::User, "a"),
                message(Role::User, "b"),
                message(Role::Assistant, "c"),
                message(Role::User, "d"),
            ],
            ..ChatRequest::default()
        }
        .with_merged_turns();
        assert_eq!(request.messages.len(), 3);
        assert_eq!(
            request.messages[0].content,
            vec![Part::text("a"), Part::text("b")]
        );
        assert_eq!(request.messages[2], message(Role::User, "d"));
    }

    #[test]
    fn tool_names_are_found_by_call_id() {
        let request = ChatRequest {
            messages: vec![Message {
                role: Role::Assistant,
                content: vec![Part::ToolCall {
                    id: "call_1".into(),
                    name: "get_weather".into(),
                    arguments: serde_json::json!({"city": "Oslo"}),
                }],
            }],
            ..ChatRequest::default()
        };
        assert_eq!(request.tool_name_of("call_1"), Some("get_weather"));
        assert_eq!(request.tool_name_of("call_2"), None);
    }

    #[test]
    fn later_usage_replaces_only_what_it_reports() {
        let start = Usage {
            input_tokens: Some(10),
            output_tokens: Some(1),
        };
        let later = Usage {
            input_tokens: None,
            output_tokens: Some(7),
        };
        assert_eq!(
            start.updated(later),
            Usage {
                input_tokens: Some(10),
                output_tokens: Some(7)
            }
        );
    }
}
