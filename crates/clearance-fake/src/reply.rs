//! What the fake answers, decided once for all three APIs: a tool call when the behavior asks
//! for one, an echo of the tool result a request ends with, otherwise text (a deterministic
//! default reply). Text is split into word-sized pieces that serve as both the streamed deltas
//! and the token count, so streaming and non-streaming answers always agree.

use serde_json::{Map, Value};

use crate::behavior::{Behavior, ToolCall};
use crate::prompt::Prompt;

/// Echoing a huge prompt back word by word would make the benchmark measure the fake.
const ECHO_WORD_LIMIT: usize = 100;

/// Streamed tool arguments arrive in fragments of at most this many characters.
const ARGUMENT_FRAGMENT_CHARS: usize = 8;

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    Text(TextAnswer),
    ToolCall(ToolCallAnswer),
}

/// Why the answer ended, named by each API in its own words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The model finished (OpenAI `stop`, Anthropic `end_turn`, Gemini `STOP`).
    Finished,
    /// The output cap cut the text (OpenAI `length`, Anthropic and Gemini max tokens).
    OutputCap,
    /// The model wants a tool run (OpenAI `tool_calls`, Anthropic `tool_use`, Gemini `STOP`).
    ToolCall,
}

/// A text answer, cut to the request's output cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TextAnswer {
    pieces: Vec<String>,
    /// The output cap cut the answer short.
    pub cut_short: bool,
}

/// A call of one tool. Never cut by the output cap: a truncated call would be useless.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ToolCallAnswer {
    pub name: String,
    pub arguments: Map<String, Value>,
    /// `arguments` as compact JSON, as OpenAI sends them and streams cut them.
    arguments_json: String,
}

impl Answer {
    /// The answer for `prompt` under `behavior`. A request that ends with a tool result gets
    /// `tool result: TEXT` (over `reply` and `tool_call`), so the result is visible in the
    /// answer and a tool loop ends.
    pub(crate) fn for_prompt(prompt: &Prompt, behavior: &Behavior) -> Answer {
        if let Some(result) = &prompt.tool_result {
            let text = format!("tool result: {result}");
            return Answer::Text(TextAnswer::new(&text, prompt.max_tokens));
        }
        if let Some(call) = &behavior.tool_call {
            return Answer::ToolCall(ToolCallAnswer::new(call));
        }
        let text = behavior
            .reply
            .clone()
            .unwrap_or_else(|| default_reply(&prompt.model, prompt.last_user_text.as_deref()));
        Answer::Text(TextAnswer::new(&text, prompt.max_tokens))
    }

    pub(crate) fn tokens(&self) -> u64 {
        match self {
            Answer::Text(text) => text.tokens(),
            Answer::ToolCall(call) => call.tokens(),
        }
    }

    pub(crate) fn stop(&self) -> Stop {
        match self {
            Answer::Text(text) if text.cut_short => Stop::OutputCap,
            Answer::Text(_) => Stop::Finished,
            Answer::ToolCall(_) => Stop::ToolCall,
        }
    }
}

impl TextAnswer {
    pub(crate) fn new(text: &str, max_tokens: Option<u64>) -> TextAnswer {
        let mut pieces: Vec<String> = split_pieces(text).into_iter().map(str::to_owned).collect();
        let cap = max_tokens.map_or(usize::MAX, |m| usize::try_from(m).unwrap_or(usize::MAX));
        let cut_short = pieces.len() > cap;
        pieces.truncate(cap);
        TextAnswer { pieces, cut_short }
    }

    /// The streamed deltas; concatenated they give [`TextAnswer::text`].
    pub(crate) fn pieces(&self) -> &[String] {
        &self.pieces
    }

    pub(crate) fn text(&self) -> String {
        self.pieces.concat()
    }

    pub(crate) fn tokens(&self) -> u64 {
        self.pieces.len() as u64
    }
}

impl ToolCallAnswer {
    fn new(call: &ToolCall) -> ToolCallAnswer {
        ToolCallAnswer {
            name: call.name.clone(),
            arguments: call.arguments.clone(),
            arguments_json: Value::Object(call.arguments.clone()).to_string(),
        }
    }

    pub(crate) fn arguments_json(&self) -> &str {
        &self.arguments_json
    }

    /// The arguments JSON cut into at least two fragments, as streams deliver it.
    pub(crate) fn argument_fragments(&self) -> Vec<&str> {
        split_fragments(&self.arguments_json)
    }

    /// One for the name plus one per streamed fragment.
    pub(crate) fn tokens(&self) -> u64 {
        1 + self.argument_fragments().len() as u64
    }
}

/// A sentence that names the model and echoes the user, so a test can tell which model answered
/// which request.
pub(crate) fn default_reply(model: &str, last_user_text: Option<&str>) -> String {
    match last_user_text {
        None => format!("Fake reply from {model}."),
        Some(text) => {
            let words: Vec<&str> = text.split_whitespace().collect();
            let echo = if words.len() > ECHO_WORD_LIMIT {
                format!("{} ...", words[..ECHO_WORD_LIMIT].join(" "))
            } else {
                words.join(" ")
            };
            format!("Fake reply from {model}. You said: {echo}")
        }
    }
}

/// The fake's token count: one per word-sized piece.
pub(crate) fn count_tokens(text: &str) -> u64 {
    split_pieces(text).len() as u64
}

/// Splits text into pieces of leading whitespace plus one word (as tokenizers put the space
/// before the word), keeping every character so the pieces concatenate back to the exact text.
/// Trailing whitespace stays with the last word rather than counting as a token of its own.
fn split_pieces(text: &str) -> Vec<&str> {
    let mut starts = Vec::new();
    let mut previous_was_word = false;
    for (i, c) in text.char_indices() {
        let space = c.is_whitespace();
        if space && previous_was_word {
            starts.push(i);
        }
        previous_was_word = !space;
    }
    let ends_in_space = !previous_was_word;
    if ends_in_space {
        // The last start opens the trailing whitespace: fold it into the last word.
        starts.pop();
    }
    let mut pieces = Vec::with_capacity(starts.len() + 1);
    let mut from = 0;
    for at in starts {
        pieces.push(&text[from..at]);
        from = at;
    }
    if from < text.len() {
        pieces.push(&text[from..]);
    }
    pieces
}

/// Cuts `json` into pieces of at most [`ARGUMENT_FRAGMENT_CHARS`] characters, and into at least
/// two whenever it has two characters (the smallest object, `{}`, has), so a client must
/// reassemble fragments. Cuts fall on character boundaries.
fn split_fragments(json: &str) -> Vec<&str> {
    let chars = json.chars().count();
    let size = ARGUMENT_FRAGMENT_CHARS.min(chars.div_ceil(2)).max(1);
    let mut fragments = Vec::with_capacity(chars / size + 1);
    let mut from = 0;
    for (n, (at, _)) in json.char_indices().enumerate() {
        if n > 0 && n % size == 0 {
            fragments.push(&json[from..at]);
            from = at;
        }
    }
    if from < json.len() {
        fragments.push(&json[from..]);
    }
    fragments
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_rebuild_the_text() {
        let text = " Hello  world,\nhow are you? ";
        let pieces = split_pieces(text);
        assert_eq!(
            pieces,
            vec![" Hello", "  world,", "\nhow", " are", " you? "]
        );
        assert_eq!(pieces.concat(), text);
    }

    #[test]
    fn empty_text_has_no_tokens() {
        assert_eq!(count_tokens(""), 0);
        assert_eq!(TextAnswer::new("", None).text(), "");
    }

    #[test]
    fn cap_cuts_answer() {
        let a = TextAnswer::new("one two three four", Some(2));
        assert_eq!(a.text(), "one two");
        assert!(a.cut_short);
        assert_eq!(a.tokens(), 2);
        assert!(!TextAnswer::new("one two", Some(2)).cut_short);
    }

    #[test]
    fn fragments_rebuild_the_json_and_are_at_least_two() {
        for json in ["{}", r#"{"a":1}"#, r#"{"city":"Zürich","days":[1,2,3]}"#] {
            let fragments = split_fragments(json);
            assert!(fragments.len() >= 2, "{json}: {fragments:?}");
            assert!(
                fragments
                    .iter()
                    .all(|f| f.chars().count() <= ARGUMENT_FRAGMENT_CHARS)
            );
            assert_eq!(fragments.concat(), json);
        }
        assert!(split_fragments("").is_empty());
    }

    fn prompt(tool_result: Option<&str>) -> Prompt {
        Prompt {
            model: "m".into(),
            last_user_text: Some("hi".into()),
            tool_result: tool_result.map(str::to_owned),
            prompt_tokens: 1,
            max_tokens: None,
            stream: false,
            include_usage: false,
        }
    }

    fn calling(name: &str) -> Behavior {
        let mut arguments = Map::new();
        arguments.insert("city".into(), Value::from("Paris"));
        Behavior {
            tool_call: Some(ToolCall {
                name: name.into(),
                arguments,
            }),
            reply: Some("not this".into()),
            ..Behavior::default()
        }
    }

    #[test]
    fn tool_call_behavior_answers_with_the_call() {
        let Answer::ToolCall(call) = Answer::for_prompt(&prompt(None), &calling("get_weather"))
        else {
            panic!("expected a tool call");
        };
        assert_eq!(call.name, "get_weather");
        assert_eq!(call.arguments_json(), r#"{"city":"Paris"}"#);
        assert_eq!(
            Answer::ToolCall(call.clone()).tokens(),
            1 + call.argument_fragments().len() as u64
        );
    }

    #[test]
    fn a_tool_result_is_echoed_even_when_a_call_is_configured() {
        let answer = Answer::for_prompt(&prompt(Some("18 degrees")), &calling("get_weather"));
        let Answer::Text(text) = &answer else {
            panic!("expected text");
        };
        assert_eq!(text.text(), "tool result: 18 degrees");
        assert_eq!(answer.stop(), Stop::Finished);
    }

    #[test]
    fn default_reply_names_model_and_echoes() {
        assert_eq!(
            default_reply("m1", Some("hi  there")),
            "Fake reply from m1. You said: hi there"
        );
        assert_eq!(default_reply("m1", None), "Fake reply from m1.");
    }
}
