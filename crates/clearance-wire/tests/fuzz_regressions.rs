//! Inputs the fuzz targets in `fuzz/` (`bash bench/fuzz.sh MINUTES`) found, each kept as a test
//! of the invariant it broke, with the input as the fuzzer wrote it where it is short.

#![allow(clippy::unwrap_used)]

use clearance_core::api::{ApiSurface, WireFormat};
use clearance_wire::sse::{SseFramer, SseRewriter};
use clearance_wire::translate::{self, RenderOptions, TranslateError};
use serde_json::{Value, json};

const FORMATS: [WireFormat; 3] = [
    WireFormat::OpenaiChat,
    WireFormat::AnthropicMessages,
    WireFormat::Gemini,
];

/// The `translate_request` target's invariant: a request one format accepts renders to every
/// format either as a body that format's own parser reads back or as an error naming a field.
fn every_rendering_parses_back(from: WireFormat, body: &Value) -> Result<(), TranslateError> {
    let neutral = translate::parse_request(from, body)?;
    for to in FORMATS {
        let Ok(rendered) =
            translate::render_request(to, &neutral, "upstream-model", &RenderOptions::default())
        else {
            continue;
        };
        if let Err(e) = translate::parse_request(to, &rendered) {
            panic!("{from:?} -> {to:?} wrote a body it cannot read back ({e}): {rendered}");
        }
    }
    Ok(())
}

/// `fuzz/artifacts/translate_request/crash-e3ce7053…`: an OpenAI image part whose data URL held
/// `imag%/png` was read as an image, and sent to Gemini as inline data of that type (where a
/// `data:application/pdf` URL would have been read as a PDF). Every format now refuses an
/// image part whose media type is not an image's, as Gemini's parser already did.
#[test]
fn an_openai_image_data_url_that_holds_no_image_is_refused() {
    let crash = br#"{
  "model": "gpt-4o",
  "messages": [
    {
      "role": "user",
      "content": [
        {
          "type": "text",
     "type": "image_url",
          "image_url": {
            "url": "data:imag%/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
            "detail": "auto"
          }
        }
      ]
    }
  ],
  "max_tokens": 300
}"#;
    let body: Value = serde_json::from_slice(crash).unwrap();
    let error = every_rendering_parses_back(WireFormat::OpenaiChat, &body).unwrap_err();
    assert_eq!(
        error.field(),
        "messages[0].content[0].image_url.url",
        "{error}"
    );

    for media_type in ["application/pdf", "audio/wav", "imag%/png", "text/plain"] {
        let body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": format!("data:{media_type};base64,AAAA")}}
        ]}]});
        let error = every_rendering_parses_back(WireFormat::OpenaiChat, &body).unwrap_err();
        assert!(matches!(error, TranslateError::Invalid { .. }), "{error}");
    }
    let image = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    ]}]});
    every_rendering_parses_back(WireFormat::OpenaiChat, &image).unwrap();
}

/// The same hole in the Anthropic reader: a base64 image `source` of any media type.
#[test]
fn an_anthropic_image_source_that_holds_no_image_is_refused() {
    for media_type in ["application/pdf", "audio/wav", "imag%/png"] {
        let body = json!({"model": "claude", "max_tokens": 64, "messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": "AAAA"}}
        ]}]});
        let error = every_rendering_parses_back(WireFormat::AnthropicMessages, &body).unwrap_err();
        assert_eq!(
            error.field(),
            "messages[0].content[0].source.media_type",
            "{error}"
        );
    }
    let image = json!({"model": "claude", "max_tokens": 64, "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/webp", "data": "AAAA"}}
    ]}]});
    every_rendering_parses_back(WireFormat::AnthropicMessages, &image).unwrap();
}

/// `fuzz/artifacts/translate_request/crash-be1e8915…`: a `top_p` above 1 (here Gemini's, the
/// second of two `topP`s) was written into an Anthropic body, which Anthropic refuses; the
/// Anthropic writer checked only `temperature`'s range. It now refuses `top_p` outside 0..=1
/// too, naming the field, as it does for what Anthropic cannot express.
#[test]
fn a_top_p_above_one_is_not_written_for_anthropic() {
    let crash = br#"{
  "contents": [
    {"role": "user", "parts": [{"text": "Hello"}]},
    {"role": "model", "parts": [{"text": "Great to meet you. What would you like to know?"}]},
    {"role": "user", "parts": [{"text": "I have two dogs in my house. How many paws are in my house?"}]}
  ],
  "systemInstruction": {"parts": [{"text": "You are a cat. Your name is Neko."}]},
  "generationConfig": {"stopSequences": ["Title"], "temperature": 0.0, "topP": 0.8, "topP": 10}
}"#;
    let body: Value = serde_json::from_slice(crash).unwrap();
    every_rendering_parses_back(WireFormat::Gemini, &body).unwrap();

    // The same from an OpenAI client, whose API the gateway reads without a range for `top_p`.
    for top_p in [10.0, -0.5] {
        let body = json!({"model": "gpt-4o", "top_p": top_p,
            "messages": [{"role": "user", "content": "Hello"}]});
        every_rendering_parses_back(WireFormat::OpenaiChat, &body).unwrap();
        let neutral = translate::parse_request(WireFormat::OpenaiChat, &body).unwrap();
        let error = translate::render_request(
            WireFormat::AnthropicMessages,
            &neutral,
            "claude",
            &RenderOptions::default(),
        )
        .unwrap_err();
        assert!(
            matches!(&error, TranslateError::Unsupported { field, .. } if field == "top_p"),
            "{error}"
        );
    }
}

/// Not a crash but the `sse_stream` target's throughput (50 inputs a second on 4 KB streams):
/// the event framing looked for `\r\n\r\n` to the end of the buffer once per `\n\n` event
/// (and the other way round for CRLF streams such as Gemini's), so a chunk holding many
/// events cost the square of its length: 20,000 events in one chunk took 4.5 minutes in a
/// debug build; 5,000 here now take milliseconds (the bound leaves a wide margin for a loaded
/// machine).
#[test]
fn a_chunk_of_many_events_is_framed_in_one_pass() {
    for terminator in ["\n\n", "\r\n\r\n"] {
        let chunk = format!("data: {{\"n\":1}}{terminator}").repeat(5_000);
        let started = std::time::Instant::now();
        let frames = SseFramer::default().push(chunk.as_bytes());
        let mut rewriter = SseRewriter::new(ApiSurface::OpenaiChat, "client-model", false);
        let rewritten = rewriter.push(chunk.as_bytes());
        let took = started.elapsed();
        assert_eq!(frames.len(), 5_000);
        assert_eq!(rewritten.len(), "data: {\"n\":1}\n\n".len() * 5_000);
        assert!(
            took < std::time::Duration::from_secs(2),
            "{terminator:?}: {took:?}"
        );
    }
}
