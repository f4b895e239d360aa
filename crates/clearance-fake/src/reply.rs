//! The answer's text and its token accounting: a deterministic default reply, and the split into
//! word-sized pieces that serve as both the streamed deltas and the token count, so streaming and
//! non-streaming answers always agree.

use crate::behavior::Behavior;
use crate::prompt::Prompt;

/// Echoing a huge prompt back word by word would make the benchmark measure the fake.
const ECHO_WORD_LIMIT: usize = 100;

/// The answer, cut to the request's output cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pieces: Vec<String>,
    /// The output cap cut the answer short (OpenAI `length`, Anthropic `max_tokens`).
    pub cut_short: bool,
}

impl Answer {
    pub(crate) fn new(text: &str, max_tokens: Option<u64>) -> Answer {
        let mut pieces: Vec<String> = split_pieces(text).into_iter().map(str::to_owned).collect();
        let cap = max_tokens.map_or(usize::MAX, |m| usize::try_from(m).unwrap_or(usize::MAX));
        let cut_short = pieces.len() > cap;
        pieces.truncate(cap);
        Answer { pieces, cut_short }
    }

    /// The answer for `prompt` under `behavior`.
    pub(crate) fn for_prompt(prompt: &Prompt, behavior: &Behavior) -> Answer {
        let text = behavior
            .reply
            .clone()
            .unwrap_or_else(|| default_reply(&prompt.model, prompt.last_user_text.as_deref()));
        Answer::new(&text, prompt.max_tokens)
    }

    /// The streamed deltas; concatenated they give [`Answer::text`].
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
        assert_eq!(Answer::new("", None).text(), "");
    }

    #[test]
    fn cap_cuts_answer() {
        let a = Answer::new("one two three four", Some(2));
        assert_eq!(a.text(), "one two");
        assert!(a.cut_short);
        assert_eq!(a.tokens(), 2);
        assert!(!Answer::new("one two", Some(2)).cut_short);
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
