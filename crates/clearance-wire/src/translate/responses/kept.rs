//! A conversation kept across requests (`previous_response_id`): the gateway keeps each
//! answer's input items and `response` object, and a request that continues one is sent on as
//! the whole conversation, earlier turns first, so any provider can serve it.

use serde_json::{Map, Value, json};

/// This turn's `input` as items (a string is one user message), as a kept response holds
/// them; `None` when `input` is neither (the request is refused for it when it is read).
pub fn input_items(body: &Map<String, Value>) -> Option<Vec<Value>> {
    match body.get("input") {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(Value::String(text)) => Some(vec![json!({"role": "user", "content": text})]),
        Some(Value::Array(items)) => Some(items.clone()),
        Some(_) => None,
    }
}

/// The items that repeat a kept answer in a later request: its `output` items, which the API
/// takes back as input (messages with `output_text` parts, `function_call` items).
pub fn output_items(response: &Value) -> Vec<Value> {
    response
        .get("output")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// `body` continuing `earlier` (every earlier turn's input and output items, oldest first):
/// its `input` becomes those items followed by its own, and `previous_response_id` goes. As at
/// OpenAI, earlier `instructions` are not carried over. An `input` of another type is left for
/// the request's reading to refuse.
pub fn continue_from(body: &mut Map<String, Value>, earlier: Vec<Value>) {
    body.remove("previous_response_id");
    if let Some(own) = input_items(body) {
        let mut items = earlier;
        items.extend(own);
        body.insert("input".into(), Value::Array(items));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn a_string_input_is_one_user_message() {
        let body = object(json!({"input": "hi"}));
        assert_eq!(
            input_items(&body),
            Some(vec![json!({"role": "user", "content": "hi"})])
        );
        assert_eq!(input_items(&object(json!({}))), Some(Vec::new()));
        assert_eq!(input_items(&object(json!({"input": 3}))), None);
    }

    #[test]
    fn a_continuation_puts_earlier_items_first_and_drops_the_reference() {
        let mut body = object(json!({
            "model": "m",
            "previous_response_id": "resp_1",
            "instructions": "be brief",
            "input": [{"type": "function_call_output", "call_id": "c1", "output": "21 C"}]
        }));
        let earlier = vec![
            json!({"role": "user", "content": "weather?"}),
            json!({"type": "function_call", "call_id": "c1", "name": "w", "arguments": "{}"}),
        ];
        continue_from(&mut body, earlier.clone());
        assert!(!body.contains_key("previous_response_id"));
        assert_eq!(body["instructions"], "be brief");
        let input = body["input"].as_array().expect("input is a list");
        assert_eq!(input[..2], earlier[..]);
        assert_eq!(input[2]["type"], "function_call_output");
        assert_eq!(input.len(), 3);
    }

    #[test]
    fn an_input_of_another_type_is_left_to_be_refused() {
        let mut body = object(json!({"previous_response_id": "resp_1", "input": 7}));
        continue_from(&mut body, vec![json!({"role": "user", "content": "x"})]);
        assert_eq!(body["input"], 7);
        assert!(!body.contains_key("previous_response_id"));
    }

    #[test]
    fn output_items_are_the_answers_output() {
        let response = json!({"output": [{"type": "message", "role": "assistant",
            "content": [{"type": "output_text", "text": "hello"}]}]});
        assert_eq!(output_items(&response).len(), 1);
        assert!(output_items(&json!({})).is_empty());
    }
}
