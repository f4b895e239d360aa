//! Captures: every kind of personal data and credential redacted, ordinary text left alone,
//! JSON redacted in place with a count; suites drafted from captures read back with the
//! checks they should have, duplicates folded.

#![allow(clippy::unwrap_used)]

use std::borrow::Cow;
use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use clearance_validate::capture::{Captured, draft_suite, redact_json, redact_text};
use clearance_validate::suite::parse_toml;
use clearance_validate::{Answer, Check, ClientFormat, Suite, ToolCall, Verdict};
use proptest::prelude::*;
use serde_json::{Value, json};

fn redacts(cases: &[(&str, &str)]) {
    for (text, expected) in cases {
        assert_eq!(redact_text(text), *expected, "{text}");
    }
}

fn keeps(texts: &[&str]) {
    for text in texts {
        assert!(
            matches!(redact_text(text), Cow::Borrowed(_)),
            "{text} -> {}",
            redact_text(text)
        );
    }
}

#[test]
fn emails_are_redacted_whole_even_inside_urls() {
    redacts(&[
        (
            "Contact jane.doe@example.com for details",
            "Contact [email] for details",
        ),
        (
            "Write to mailto:j.smith+billing@mail.example.co.uk.",
            "Write to mailto:[email].",
        ),
        (
            "https://example.com/unsubscribe?email=jane@example.com&list=2",
            "https://example.com/unsubscribe?email=[email]&list=2",
        ),
        (
            "https://example.com/u?e=jane%40example.com",
            "https://example.com/u?e=[email]",
        ),
        ("josé.garcía@correo.example.es", "[email]"),
        ("MAX_MUSTERMANN@FIRMA.DE, thanks", "[email], thanks"),
        // Digits in the local part are part of the address, not a phone or a card.
        ("text +15551234567@sms.example.com now", "text [email] now"),
        ("4111111111111111@cards.example.com", "[email]"),
    ]);
}

#[test]
fn phone_numbers_are_redacted_in_international_and_national_forms() {
    redacts(&[
        (
            "Call me on +44 20 7946 0958 tomorrow",
            "Call me on [phone] tomorrow",
        ),
        ("US office: +1 (555) 123-4567.", "US office: [phone]."),
        ("+15551234567", "[phone]"),
        (
            "Berlin +49 30 12345678, Paris +33 1 23 45 67 89",
            "Berlin [phone], Paris [phone]",
        ),
        ("+44 (0)20 7946 0958", "[phone]"),
        ("(555) 123-4567", "[phone]"),
        ("toll free 1-800-555-0199!", "toll free [phone]!"),
        ("555.123.4567 or 555 123 4567", "[phone] or [phone]"),
        ("London 020 7946 0958", "London [phone]"),
        ("Mobile 07700 900123", "Mobile [phone]"),
        ("Paris 01 23 45 67 89", "Paris [phone]"),
        ("Sydney (02) 9876 5432", "Sydney [phone]"),
        ("Berlin 030-1234567", "Berlin [phone]"),
        // After a word that says so, bare and local numbers too.
        ("Phone: 5551234567", "Phone: [phone]"),
        (
            "my mobile number is 07700900123.",
            "my mobile number is [phone].",
        ),
        ("Tel. 555-0199", "Tel. [phone]"),
        ("WhatsApp +4915123456789", "WhatsApp [phone]"),
        // What follows a number is not swallowed into it: past 15 digits, or a word.
        ("+44 20 7946 0958 1234 5678", "[phone] 1234 5678"),
        ("+44 20 7946 0958 3rd floor", "[phone] 3rd floor"),
        ("020 7946 0958 12 items", "[phone] 12 items"),
    ]);
}

#[test]
fn luhn_valid_card_numbers_are_redacted() {
    redacts(&[
        ("4111 1111 1111 1111", "[card]"),
        (
            "card 4111-1111-1111-1111 exp 12/27",
            "card [card] exp 12/27",
        ),
        ("Mastercard 5500005555555559.", "Mastercard [card]."),
        ("Mastercard 2223 0031 2200 3222", "Mastercard [card]"),
        ("Amex 3782 822463 10005", "Amex [card]"),
        ("Discover 6011111111111117", "Discover [card]"),
        (
            "Visa 4012888888881881 and 4222222222222",
            "Visa [card] and [card]",
        ),
        (
            "UnionPay 6200000000000005 (19: 6011000990139424)",
            "UnionPay [card] (19: [card])",
        ),
        // A card after a date on the same line is still found.
        (
            "paid 2024-03-15 4111 1111 1111 1111",
            "paid 2024-03-15 [card]",
        ),
    ]);
}

/// Fake keys in the providers' shapes, put together at run time so that no literal in this
/// file looks like a live credential to a secret scanner.
fn fake(prefix: &str, body: &str) -> String {
    format!("{prefix}{body}")
}

#[test]
fn keys_and_tokens_are_redacted() {
    let jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
    let cases = [
        (
            fake("sk-", "proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"),
            "[secret]".to_string(),
        ),
        (
            format!(
                "key {} was revoked",
                fake("sk-", "ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz012345-_xyz")
            ),
            "key [secret] was revoked".to_string(),
        ),
        (
            fake("clr_0011223344556677_", &"8899aabbccddeeff".repeat(4)),
            "[secret]".to_string(),
        ),
        (
            "Authorization: Bearer abc123def456ghi789".to_string(),
            "Authorization: Bearer [secret]".to_string(),
        ),
        (format!("Bearer {jwt}"), "Bearer [secret]".to_string()),
        (format!("token {jwt}."), "token [secret].".to_string()),
        (
            "Authorization: Basic dXNlcjpwYXNzd29yZA==".to_string(),
            "Authorization: Basic [secret]".to_string(),
        ),
        (fake("AKIA", "IOSFODNN7EXAMPLE"), "[secret]".to_string()),
        (
            format!("id={}", fake("ASIA", "Y34FZKBOKMUTVV7A")),
            "id=[secret]".to_string(),
        ),
        (
            fake("ghp_", "16C7e42F292c6912E7710c838347Ae178B4a"),
            "[secret]".to_string(),
        ),
        (
            fake(
                "github_pat_",
                "11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ",
            ),
            "[secret]".to_string(),
        ),
        (
            fake("AIza", "SyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW"),
            "[secret]".to_string(),
        ),
        (
            fake(
                "xox",
                "b-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
            ),
            "[secret]".to_string(),
        ),
        (
            fake("sk_", "live_4eC39HqLyjWDarjtT1zdp7dc"),
            "[secret]".to_string(),
        ),
        (
            "GET /v1/x?api_key=9f8e7d6c5b4a39281706&alt=sse".to_string(),
            "GET /v1/x?api_key=[secret]&alt=sse".to_string(),
        ),
        (
            r#"{"x-api-key": "Zx81Lp02Qw93", "n": 1}"#.to_string(),
            r#"{"x-api-key": "[secret]", "n": 1}"#.to_string(),
        ),
        (
            "clientSecret=Qm9vdHN0cmFw0042".to_string(),
            "clientSecret=[secret]".to_string(),
        ),
        (
            "password: hunter2".to_string(),
            "password: [secret]".to_string(),
        ),
        (
            "DB_PASSWORD=correct-horse-battery-staple".to_string(),
            "DB_PASSWORD=[secret]".to_string(),
        ),
        (
            "my API key is 3f9a1c0b7e2d4f6a8b9c0d1e2f3a4b5c, keep it safe".to_string(),
            "my API key is [secret], keep it safe".to_string(),
        ),
        (
            "the session token: Yq3vR8tZ0bN5mK2wX7cL4pH9sD6fJ1gA".to_string(),
            "the session token: [secret]".to_string(),
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(redact_text(&text), expected, "{text}");
    }
}

#[test]
fn a_card_inside_a_token_goes_with_the_token() {
    let key = fake("sk-", "live4111111111111111abcdefgh");
    assert_eq!(redact_text(&format!("use {key} now")), "use [secret] now");
    let pair = "password: 4111111111111111";
    assert_eq!(redact_text(pair), "password: [secret]");
}

#[test]
fn ordinary_text_numbers_and_words_are_kept() {
    keeps(&[
        "The treaty was signed in 1648 and revised in 1990-2005.",
        "Meeting on 2024-03-15 at 10:30; invoices dated 15.03.2024 and 05.03.2024.",
        "03/15/2024 and 2024/03/15 and 15 March 2024",
        "It costs $1,299.99 or €45.50 or 1 299,00 kr; refunds take 30 days.",
        "Order #48213 shipped: 3 items, 250 g, 12 months, 100-200 pages.",
        "Order 1234567 and ticket 98765432 are open.",
        // 16 digits that fail the Luhn check, with and without groups.
        "4111 1111 1111 1112",
        "4111111111111112",
        "ISBN 978-3-16-148410-0 and 9783161484100",
        "created 1700000000000 ms, id 1234567890123456789",
        "version 1.2.3 on 192.168.0.1:8080",
        "task-management-service-for-teams and sk-learn-tutorial-for-beginners",
        "Bearer bonds are a basic question.",
        // Names in code are not credentials.
        "const apiKey = process.env.OPENAI_API_KEY; let token = getToken(); key=myApiKeyName",
        "The monkey: banana; max_tokens=1024; Invalid key: the model",
        "primary key: customer_id",
        "commit 3f9a1c0b7e2d4f6a8b9c0d1e2f3a4b5c6d7e8f90 fixed it",
        "this-is-a-very-long-hyphenated-identifier-without-digits",
        "Email me at the office, @mention me, or user@localhost.",
        "call 2 of 7; phone bill of 2024-03-15; phone costs 1299.99",
        "Ünïcödé text — with dashes – and 30 % off",
        "",
    ]);
}

#[test]
fn redaction_is_stable_on_its_own_output() {
    let text = "jane@example.com, +44 20 7946 0958, 4111 1111 1111 1111, password: hunter2";
    let once = redact_text(text).into_owned();
    assert_eq!(once, "[email], [phone], [card], password: [secret]");
    assert!(matches!(redact_text(&once), Cow::Borrowed(_)));
}

#[test]
fn json_is_redacted_in_every_string_but_not_in_keys() {
    let mut body = json!({
        "model": "gpt-5",
        "messages": [
            {"role": "system", "content": "Agent jane@example.com, ext +1 555 123 4567"},
            {"role": "user", "content": [
                {"type": "text", "text": "My card is 4111 1111 1111 1111"},
                {"type": "text", "text": "nothing here"},
            ]},
        ],
        "metadata": {
            "jane@example.com": "key as a field name stays",
            "nested": [[{"token": fake("sk-", "proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z")}]],
            "count": 4111111111111111u64,
            "flag": true,
            "none": null,
        },
    });
    assert_eq!(redact_json(&mut body), 4);
    assert_eq!(body["messages"][0]["content"], "Agent [email], ext [phone]");
    assert_eq!(
        body["messages"][1]["content"][0]["text"],
        "My card is [card]"
    );
    assert_eq!(body["messages"][1]["content"][1]["text"], "nothing here");
    assert_eq!(
        body["metadata"]["jane@example.com"],
        "key as a field name stays"
    );
    assert_eq!(body["metadata"]["nested"][0][0]["token"], "[secret]");
    assert_eq!(body["metadata"]["count"], 4111111111111111u64);
    assert_eq!(redact_json(&mut body), 0, "nothing left the second time");
}

// ---------------------------------------------------------------------------------------------
// Drafting suites
// ---------------------------------------------------------------------------------------------

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, day, hour, 0, 0).unwrap()
}

fn openai(id: i64, day: u32, question: &str, answer: &str) -> Captured {
    Captured {
        id,
        model: "support".into(),
        api: "openai_chat".into(),
        at: at(day, 9),
        request: json!({
            "model": "support",
            "temperature": 0.2,
            "messages": [
                {"role": "system", "content": "You answer for ACME support."},
                {"role": "user", "content": question},
            ],
        }),
        answer_text: answer.into(),
        answer_tool_calls: Vec::new(),
    }
}

fn read(text: &str) -> Suite {
    match parse_toml(Path::new("draft.toml"), text) {
        Ok(suite) => suite,
        Err(e) => panic!("{e}\n---\n{text}"),
    }
}

fn answer_of(capture: &Captured) -> Answer {
    Answer {
        text: capture.answer_text.clone(),
        tool_calls: capture.answer_tool_calls.clone(),
        latency_ms: 0,
    }
}

#[test]
fn a_drafted_suite_reads_back_with_its_checks() {
    let weather_tool = json!({"type": "function", "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }});
    let mut tool_call = openai(7, 2, "Weather in Paris?", "");
    tool_call.request["tools"] = json!([weather_tool]);
    tool_call.request["messages"][1]["content"] = json!("Weather in Paris?");
    tool_call.answer_tool_calls = vec![ToolCall {
        name: "get_weather".into(),
        arguments: json!({"city": "Paris"}),
    }];
    let json_answer = openai(
        3,
        1,
        "Give the order as JSON",
        "```json\n{\"order\": 48213, \"status\": \"shipped\"}\n```",
    );
    let anthropic = Captured {
        id: 9,
        model: "claude".into(),
        api: "anthropic_messages".into(),
        at: at(4, 18),
        request: json!({
            "model": "claude",
            "max_tokens": 512,
            "system": "Be brief.",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "How long do refunds take?"}]}],
        }),
        answer_text: "Refunds take 30 days.".into(),
        answer_tool_calls: Vec::new(),
    };
    let captured = [tool_call.clone(), json_answer.clone(), anthropic.clone()];
    let text = draft_suite("support-bot", "gpt-5", &captured);

    assert!(text.starts_with("# Drafted from 3 captures of app \"support-bot\" on \"gpt-5\", captured from 2025-03-01 to 2025-03-04 (UTC)."), "{text}");
    assert!(
        text.contains("a person must review every reference answer and\n# threshold"),
        "{text}"
    );
    assert!(
        text.contains("`system` prompt is the first message"),
        "{text}"
    );

    let suite = read(&text);
    assert_eq!(suite.name, "support-bot on gpt-5 (drafted from captures)");
    let ids: Vec<&str> = suite.cases.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        ["capture-3", "capture-7", "capture-9"],
        "in the order captured"
    );

    let json_case = &suite.cases[0];
    assert_eq!(json_case.format, ClientFormat::Openai);
    assert_eq!(json_case.messages, json_answer.request["messages"]);
    assert!(json_case.tools.is_none());
    assert!(matches!(
        json_case.checks.as_slice(),
        [Check::SimilarTo { reference, threshold }, Check::JsonValid]
            if *reference == json_answer.answer_text && *threshold == 0.5
    ));

    let tool_case = &suite.cases[1];
    assert_eq!(tool_case.tools, Some(tool_call.request["tools"].clone()));
    match tool_case.checks.as_slice() {
        [
            Check::ToolCalled {
                name,
                arguments_schema: Some(schema),
            },
        ] => {
            assert_eq!(name, "get_weather");
            assert_eq!(*schema, weather_tool["function"]["parameters"]);
        }
        other => panic!("{other:?}"),
    }

    let anthropic_case = &suite.cases[2];
    assert_eq!(anthropic_case.format, ClientFormat::Anthropic);
    assert_eq!(
        anthropic_case.messages,
        json!([
            {"role": "user", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "How long do refunds take?"}]},
        ])
    );
    assert!(matches!(
        anthropic_case.checks.as_slice(),
        [Check::SimilarTo { reference, .. }] if reference == "Refunds take 30 days."
    ));

    for (case, capture) in suite
        .cases
        .iter()
        .zip([&json_answer, &tool_call, &anthropic])
    {
        for check in &case.checks {
            assert_eq!(
                check.evaluate(&answer_of(capture)),
                Verdict::Pass,
                "{}",
                case.id
            );
        }
    }
}

#[test]
fn duplicate_requests_give_one_case() {
    let first = openai(1, 1, "How long do refunds take?", "Refunds take 30 days.");
    let other = openai(2, 1, "Where is my order?", "It shipped yesterday.");
    let again = openai(3, 2, "How long do refunds take?", "Thirty days.");
    let last = openai(4, 3, "How long do refunds take?", "30 days.");
    let text = draft_suite("support-bot", "gpt-5", &[last, again, other, first]);
    let suite = read(&text);
    let ids: Vec<&str> = suite.cases.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["capture-1", "capture-2"]);
    assert!(matches!(
        suite.cases[0].checks.as_slice(),
        [Check::SimilarTo { reference, .. }] if reference == "Refunds take 30 days."
    ));
    assert!(
        text.contains("# The same request was also captured as 3, 4."),
        "{text}"
    );
}

#[test]
fn a_gemini_capture_drafts_a_gemini_case_with_its_instruction_first() {
    let tools = json!([{"functionDeclarations": [{
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }]}]);
    let gemini = Captured {
        id: 5,
        model: "gemini-flash".into(),
        api: "gemini".into(),
        at: at(2, 10),
        request: json!({
            "systemInstruction": {"parts": [{"text": "Answer in one sentence."}]},
            "contents": [{"role": "user", "parts": [{"text": "How long do refunds take?"}]}],
            "tools": tools,
            "generationConfig": {"temperature": 0.1},
        }),
        answer_text: "Refunds take 30 days.".into(),
        answer_tool_calls: Vec::new(),
    };
    let text = draft_suite("support-bot", "gemini-flash", std::slice::from_ref(&gemini));
    assert!(
        text.contains("`systemInstruction` is the first content"),
        "{text}"
    );
    let suite = read(&text);
    let case = &suite.cases[0];
    assert_eq!(case.format, ClientFormat::Gemini);
    assert_eq!(
        case.messages,
        json!([
            {"role": "user", "parts": [{"text": "Answer in one sentence."}]},
            {"role": "user", "parts": [{"text": "How long do refunds take?"}]},
        ])
    );
    assert_eq!(case.tools, Some(tools));
    assert!(matches!(
        case.checks.as_slice(),
        [Check::SimilarTo { reference, .. }] if reference == "Refunds take 30 days."
    ));

    let mut no_contents = gemini.clone();
    no_contents.request = json!({"contents": []});
    let text = draft_suite("support-bot", "gemini-flash", &[no_contents]);
    assert!(
        text.contains("capture 5: the request has no contents"),
        "{text}"
    );
}

#[test]
fn captures_that_cannot_be_cases_are_listed_not_drafted() {
    let unknown = Captured {
        api: "openai_completions".into(),
        ..openai(1, 1, "Hi", "Hello")
    };
    let no_words = openai(2, 1, "Say nothing", "  ...  ");
    let mut no_messages = openai(3, 1, "", "Hello");
    no_messages.request = json!({"model": "support", "messages": []});
    let good = openai(4, 1, "Hi", "Hello there.");
    let text = draft_suite(
        "app\nwith newline",
        "gpt-5",
        &[unknown, no_words, no_messages, good],
    );
    assert!(
        text.contains("# - capture 1: its API \"openai_completions\" is none of"),
        "{text}"
    );
    assert!(
        text.contains("# - capture 2: the answer has no words and calls no tool"),
        "{text}"
    );
    assert!(
        text.contains("# - capture 3: the request has no messages"),
        "{text}"
    );
    assert!(text.contains("app \"app\\nwith newline\""), "{text}");
    let suite = read(&text);
    assert_eq!(suite.cases.len(), 1);
    assert_eq!(
        suite.name,
        "app\nwith newline on gpt-5 (drafted from captures)"
    );
}

#[test]
fn nulls_and_huge_integers_survive_the_trip_as_toml_can_hold_them() {
    let mut capture = openai(5, 1, "Hi", "Hello there.");
    capture.request["messages"] = json!([
        {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
            "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "done", "n": 18446744073709551615u64},
        {"role": "user", "content": "Hi"},
    ]);
    let suite = read(&draft_suite("a", "b", &[capture]));
    let messages = &suite.cases[0].messages;
    assert!(messages[0].get("content").is_none(), "a null is left out");
    assert_eq!(
        messages[1]["n"].as_f64(),
        Some(18446744073709551615u64 as f64)
    );
}

#[test]
fn no_capture_gives_a_header_and_no_case() {
    let text = draft_suite("support-bot", "gpt-5", &[]);
    assert!(text.contains("(no captures)"), "{text}");
    let error = parse_toml(Path::new("draft.toml"), &text).unwrap_err();
    assert!(
        error.to_string().contains("the suite has no cases"),
        "{error}"
    );
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

/// A credential, card, email or phone number in one of the shapes above, and the part of it
/// that must not survive.
fn sensitive() -> impl Strategy<Value = String> {
    prop_oneof![
        "sk-(proj-|ant-api03-)?[A-Za-z]{4}[0-9][A-Za-z0-9_-]{15,60}",
        "AKIA[A-Z0-9]{16}",
        "AIza[A-Za-z0-9_-]{35}",
        "gh[pousr]_[A-Za-z0-9]{36}",
        "xox[abprs]-[0-9]{10,13}-[A-Za-z0-9]{20}",
        "clr_[0-9a-f]{16}_[0-9a-f]{64}",
        "eyJ[A-Za-z0-9_-]{10,40}\\.eyJ[A-Za-z0-9_-]{10,80}\\.[A-Za-z0-9_-]{20,43}",
        "[a-z][a-z0-9._-]{0,20}[a-z0-9]@[a-z][a-z0-9-]{0,15}\\.(com|org|co\\.uk|de)",
        "\\+[1-9][0-9]{0,2} [0-9]{2,4} [0-9]{3,4} [0-9]{3,4}",
        "\\([2-9][0-9]{2}\\) [0-9]{3}-[0-9]{4}",
        "0[1-9][0-9]{2} [0-9]{3} [0-9]{4}",
        "4[0-9]{14}".prop_map(|body| with_luhn_digit(&body)),
        "5[1-5][0-9]{13}".prop_map(|body| {
            let card = with_luhn_digit(&body);
            format!(
                "{} {} {} {}",
                &card[..4],
                &card[4..8],
                &card[8..12],
                &card[12..]
            )
        }),
    ]
}

fn with_luhn_digit(body: &str) -> String {
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                (d * 2) % 9 + u32::from(d == 9) * 9
            } else {
                d
            }
        })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

fn text_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~\n\t]{0,40}",
        "[\\PC\"'\\\\#\\[\\]{}=]{0,30}"
    ]
}

fn message() -> impl Strategy<Value = Value> {
    let content = prop_oneof![
        text_value().prop_map(Value::String),
        prop::collection::vec(text_value(), 1..3).prop_map(|texts| {
            Value::Array(
                texts
                    .into_iter()
                    .map(|text| json!({"type": "text", "text": text}))
                    .collect(),
            )
        }),
    ];
    (prop_oneof![Just("user"), Just("assistant")], content)
        .prop_map(|(role, content)| json!({"role": role, "content": content}))
}

fn capture() -> impl Strategy<Value = Captured> {
    (
        any::<bool>(),
        prop::option::of(text_value()),
        prop::collection::vec(message(), 1..4),
        text_value(),
        0u32..28,
    )
        .prop_map(|(anthropic, system, messages, answer, day)| {
            let mut request = json!({"model": "m", "messages": messages});
            if let (true, Some(system)) = (anthropic, system) {
                request["system"] = json!(system);
            }
            Captured {
                id: 0,
                model: "m".into(),
                api: if anthropic {
                    "anthropic_messages"
                } else {
                    "openai_chat"
                }
                .into(),
                at: at(day + 1, 12),
                request,
                answer_text: answer,
                answer_tool_calls: Vec::new(),
            }
        })
}

fn mixed_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        sensitive(),
        "(api key|token|secret|password|phone|Bearer|key)(: |=| is | )",
        "[0-9a-f]{32,40}",
        "[A-Za-z0-9_-]{32,40}",
        "[0-9]{1,5}",
        "[a-z]{1,10}",
        "[ .,:;=@+()\n-]{1,3}",
    ];
    prop::collection::vec(piece, 1..12).prop_map(|pieces| pieces.concat())
}

/// A few captures with distinct ids.
fn captures() -> impl Strategy<Value = Vec<Captured>> {
    prop::collection::vec(capture(), 1..6).prop_map(|mut captures| {
        for (id, capture) in captures.iter_mut().enumerate() {
            capture.id = id as i64;
        }
        captures
    })
}

proptest! {
    // No regression files: the failing input is printed, and this tree is shared.
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Whatever the messages and answers hold, the draft reads back, every case keeps its
    /// capture's messages and answer, and every check passes on the primary's own answer.
    #[test]
    fn every_draft_reads_back(captures in captures(), app in text_value()) {
        let text = draft_suite(&app, "gpt-5", &captures);
        let has_case = captures.iter().any(|c| c.answer_text.chars().any(char::is_alphanumeric));
        let parsed = parse_toml(Path::new("draft.toml"), &text);
        if !has_case {
            prop_assert!(parsed.is_err());
            return Ok(());
        }
        let suite = match parsed {
            Ok(suite) => suite,
            Err(e) => return Err(TestCaseError::fail(format!("{e}\n---\n{text}"))),
        };
        for case in &suite.cases {
            let id: i64 = case.id.trim_start_matches("capture-").parse().unwrap();
            let capture = captures.iter().find(|c| c.id == id).unwrap();
            let mut messages = capture.request["messages"].as_array().unwrap().clone();
            if let Some(system) = capture.request.get("system").filter(|s| s.as_str() != Some("")) {
                messages.insert(0, json!({"role": "user", "content": system}));
            }
            prop_assert_eq!(&case.messages, &Value::Array(messages));
            for check in &case.checks {
                prop_assert_eq!(check.evaluate(&answer_of(capture)), Verdict::Pass);
            }
        }
    }

    /// Something sensitive between any two pieces of text (apart from it by a space) never
    /// survives redaction, in a string or in JSON.
    #[test]
    fn sensitive_text_never_survives(
        secret in sensitive(),
        before in "[ -~]{0,20}",
        after in "[ -~]{0,20}",
    ) {
        let text = format!("{before} {secret} {after}");
        let redacted = redact_text(&text);
        prop_assert!(!redacted.contains(&secret), "{:?} -> {:?}", text, redacted);
        let mut value = json!({"a": [text.clone()]});
        prop_assert!(redact_json(&mut value) >= 1);
        prop_assert_eq!(value["a"][0].as_str().unwrap(), redacted.as_ref());
    }

    /// Redaction never panics and changes nothing in its own output, on any text and on text
    /// made of the pieces that interact: sensitive values, the words that give context, digits
    /// and separators.
    #[test]
    fn redaction_is_total_and_idempotent(
        text in prop_oneof![any::<String>(), mixed_text()],
    ) {
        let once = redact_text(&text).into_owned();
        prop_assert_eq!(redact_text(&once), once.as_str());
    }
}
