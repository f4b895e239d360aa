//! SCAFFOLD: being written (issue 15). Signatures fixed; bodies to come.

use clearance_core::chat::{ChatRequest, ChatResponse, StreamEvent};
use serde_json::Value;

use super::{EncoderOptions, RenderOptions, StreamDecoder, StreamEncoder, TranslateError};
use crate::sse::SseFrame;

pub fn parse_request(_body: &Value) -> Result<ChatRequest, TranslateError> {
    Err(TranslateError::invalid("(request)", "not yet"))
}

pub fn render_request(
    _request: &ChatRequest,
    _upstream_model: &str,
    _options: &RenderOptions,
) -> Result<Value, TranslateError> {
    Err(TranslateError::invalid("(request)", "not yet"))
}

pub fn parse_response(_body: &Value) -> Result<ChatResponse, TranslateError> {
    Err(TranslateError::invalid("(answer)", "not yet"))
}

pub fn render_response(_response: &ChatResponse) -> Value {
    Value::Null
}

#[derive(Default)]
pub struct Decoder;

impl StreamDecoder for Decoder {
    fn decode(&mut self, _frame: &SseFrame, _out: &mut Vec<StreamEvent>) {}
    fn finish(&mut self, _out: &mut Vec<StreamEvent>) {}
}

pub struct Encoder;

impl Encoder {
    pub fn new(_options: EncoderOptions) -> Encoder {
        Encoder
    }
}

impl StreamEncoder for Encoder {
    fn encode(&mut self, _event: &StreamEvent, _out: &mut Vec<u8>) {}
}
