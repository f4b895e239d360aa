//! Real traffic turned into a suite: captured requests redacted before they are kept, and a
//! suite drafted from what was kept.
//!
//! The gateway keeps, for the apps an operator opts in (`[capture]`), a sample of their
//! requests and the primary model's answers, so that a person can turn real traffic into the
//! suite a fallback is validated on. Storing, sampling and the command that writes the draft
//! live elsewhere; this module is the pure part:
//!
//! - [`redact_text`] and [`redact_json`]: emails, phone numbers, payment card numbers, keys and
//!   tokens replaced by `[email]`, `[phone]`, `[card]` and `[secret]` before anything is
//!   stored;
//! - [`draft_suite`]: the TOML text of a suite (the format [`crate::suite`] reads) with one case
//!   per distinct request, each checked against the primary's answer. It is a draft: the
//!   references are whatever the primary said, so a person must review them.
//!
//! Redaction errs towards hiding, but it is driven by shapes, not by meaning: a number a person
//! wrote without separators and without a word like "phone" before it stays, and so does a
//! secret of no recognisable shape outside a `password: ...`-style pair or a sentence that says
//! it is a key. It reads only strings: a phone number sent as a JSON number is not a string.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::LazyLock;

use chrono::{DateTime, SecondsFormat, Utc};
use regex::Regex;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::check::{Answer, Check, ToolCall, Verdict};
use crate::similarity::similarity;

// ---------------------------------------------------------------------------------------------
// Redaction
// ---------------------------------------------------------------------------------------------

const EMAIL: &str = "[email]";
const PHONE: &str = "[phone]";
const CARD: &str = "[card]";
const SECRET: &str = "[secret]";

/// A pass finds the spans to replace in the text the passes before it left, in order and
/// without overlap, each with what replaces it.
type Pass = fn(&str) -> Vec<(Range<usize>, &'static str)>;

/// The passes in the order they run. Order matters because each pass sees what the ones
/// before it left, and a placeholder has no digits, `@` or key characters for a later pass to
/// take apart:
///
/// 1. **Secrets** first, as whole tokens: a key, a JWT or a bearer token can hold a run of
///    digits that passes for a card or a phone number; were those taken first, the rest of the
///    token would be left on either side of a `[card]`. (`password: ...` pairs come before
///    emails for the same reason: `P@ss.word` is not an address.)
/// 2. **Emails** next, whole: an address can hold digits (`+15551234567@sms.example.com`,
///    `4111111111111111@example.com`) and it sits inside URLs (`mailto:`,
///    `?email=jane@example.com`, `https://user:pass@db.example.com/`); taken first it becomes one
///    `[email]` instead of `[phone]@example.com`.
/// 3. **Cards** before phones: `4111 1111 1111 1111` is also a run of digit groups a loose
///    phone shape could take part of; the Luhn check decides, and what fails it is left for
///    the phone shapes, which do not take 16 digits.
/// 4. **Phones** last: the loosest shapes, tried only on what is left.
const PASSES: &[Pass] = &[
    jwts,
    prefixed_keys,
    scheme_tokens,
    secret_pairs,
    contextual_runs,
    emails,
    cards,
    contextual_phones,
    phones,
];

/// `text` with every email, phone number, payment card number, key and token replaced by
/// `[email]`, `[phone]`, `[card]` or `[secret]`; borrowed when there is none. Running it on its
/// own output changes nothing.
pub fn redact_text(text: &str) -> Cow<'_, str> {
    redact_counted(text).0
}

/// Applies [`redact_text`] to every string value in `value`, however deep (object keys are
/// left alone: they are the client's field names), and returns how many replacements were
/// made (each email, number or secret counts once).
pub fn redact_json(value: &mut Value) -> usize {
    match value {
        Value::String(text) => {
            let (redacted, count) = redact_counted(text);
            let owned = match redacted {
                Cow::Owned(owned) => Some(owned),
                Cow::Borrowed(_) => None,
            };
            if let Some(owned) = owned {
                *text = owned;
            }
            count
        }
        Value::Array(items) => items.iter_mut().map(redact_json).sum(),
        Value::Object(fields) => fields.values_mut().map(redact_json).sum(),
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
    }
}

/// The most rounds of every pass; see [`redact_counted`].
const MOST_ROUNDS: usize = 8;

/// Every pass in order, then again until a round changes nothing: a replacement shortens the
/// text, which can bring a word like "key" within reach of a random run only the next round
/// sees. No pattern can start inside a placeholder, so every round that changes something
/// leaves fewer characters outside placeholders and the rounds end; in practice a second
/// round finds nothing. [`MOST_ROUNDS`] only bounds the work on input no test has imagined.
fn redact_counted(text: &str) -> (Cow<'_, str>, usize) {
    let mut out = Cow::Borrowed(text);
    let mut count = 0;
    for _ in 0..MOST_ROUNDS {
        let before = count;
        for pass in PASSES {
            let spans = pass(&out);
            if spans.is_empty() {
                continue;
            }
            count += spans.len();
            out = Cow::Owned(splice(&out, &spans));
        }
        if count == before {
            break;
        }
    }
    (out, count)
}

fn splice(text: &str, spans: &[(Range<usize>, &str)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (span, label) in spans {
        out.push_str(&text[at..span.start]);
        out.push_str(label);
        at = span.end;
    }
    out.push_str(&text[at..]);
    out
}

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("the module's own patterns compile (the tests run every pass)")
}

/// Every match of `pattern` that `keep` accepts (it may narrow the span), labelled `label`.
fn spans_of(
    text: &str,
    pattern: &Regex,
    label: &'static str,
    keep: impl Fn(&str, &regex::Captures) -> Option<Range<usize>>,
) -> Vec<(Range<usize>, &'static str)> {
    pattern
        .captures_iter(text)
        .filter_map(|caps| keep(text, &caps).map(|span| (span, label)))
        .collect()
}

/// As [`spans_of`], but a declined match is tried again from its next character, and a match
/// kept narrower is followed from where the kept span ends. The regex crate has no look-behind,
/// so a match that starts glued to a word (`A01 0100 ...`) would otherwise hide the number
/// right after it. Only for patterns whose matches are short: a declined match costs a search
/// over its length again.
fn spans_retrying(
    text: &str,
    pattern: &Regex,
    label: &'static str,
    keep: impl Fn(&str, &regex::Captures) -> Option<Range<usize>>,
) -> Vec<(Range<usize>, &'static str)> {
    let mut spans = Vec::new();
    let mut at = 0;
    while let Some(caps) = pattern.captures_at(text, at) {
        let start = whole(&caps).start;
        match keep(text, &caps) {
            Some(span) => {
                at = span.end;
                spans.push((span, label));
            }
            None => at = start + char_after(text, start).map_or(1, char::len_utf8),
        }
        if at >= text.len() {
            break;
        }
    }
    spans
}

fn whole(caps: &regex::Captures) -> Range<usize> {
    caps.get(0).expect("group 0 is the match").range()
}

fn group(caps: &regex::Captures, n: usize) -> Option<Range<usize>> {
    caps.get(n).map(|m| m.range())
}

/// A random-looking credential rather than a word or a name in code: eight characters or more
/// with a digit among letters, or twelve or more with capitals both in pairs and after small
/// letters, twice each (random base64 has plenty of both; `camelCaseNames` have no pair of
/// capitals, `OPENAI_API_KEY` no small letters, `Instruments` neither).
fn looks_random(text: &str) -> bool {
    let bytes = text.as_bytes();
    let digit = bytes.iter().any(u8::is_ascii_digit);
    let letter = bytes.iter().any(u8::is_ascii_alphabetic);
    let count = |first: fn(&u8) -> bool, second: fn(&u8) -> bool| {
        bytes
            .windows(2)
            .filter(|pair| first(&pair[0]) && second(&pair[1]))
            .count()
    };
    let capital_pairs = count(u8::is_ascii_uppercase, u8::is_ascii_uppercase);
    let rising = count(u8::is_ascii_lowercase, u8::is_ascii_uppercase);
    (text.len() >= 8 && digit && letter) || (text.len() >= 12 && capital_pairs >= 2 && rising >= 2)
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '+' | '/' | '=' | '-')
}

fn char_before(text: &str, at: usize) -> Option<char> {
    text[..at].chars().next_back()
}

fn char_after(text: &str, at: usize) -> Option<char> {
    text[at..].chars().next()
}

/// Whether a number ending or starting at `at` runs on into a word or a longer number.
fn glued(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || c == '_')
}

// --- Secrets -----------------------------------------------------------------------------------

/// `eyJ` opens the base64url of a JSON object (`{"`), which is how a JWT's header starts.
fn jwts(text: &str) -> Vec<(Range<usize>, &'static str)> {
    static JWT: LazyLock<Regex> =
        LazyLock::new(|| regex(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"));
    spans_of(text, &JWT, SECRET, |_, caps| Some(whole(caps)))
}

/// Keys whose issuers give them a prefix. Matched from a word boundary so `task-...` is not
/// `sk-...`; the `sk-` body must also look random, so `sk-learn-tutorial-for-beginners` stays.
fn prefixed_keys(text: &str) -> Vec<(Range<usize>, &'static str)> {
    static KEYS: LazyLock<Regex> = LazyLock::new(|| {
        regex(concat!(
            // OpenAI (`sk-`, `sk-proj-`, `sk-svcacct-`) and Anthropic (`sk-ant-api03-`).
            r"\bsk-(?P<sk>[A-Za-z0-9_-]{16,})",
            // Stripe secret and restricted keys.
            r"|\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}",
            // Clearance's own client keys: clr_<16 hex id>_<64 hex secret> (clearance-core's
            // key.rs); a key cut short is still taken once part of its secret is there.
            r"|\bclr_[0-9A-Fa-f]{16}_[0-9A-Fa-f]{8,}",
            // AWS access key ids (long-term and temporary).
            r"|\b(?:AKIA|ASIA)[A-Z0-9]{16}\b",
            // GitHub tokens: personal (classic and fine-grained), OAuth, user, server, refresh.
            r"|\bgh[pousr]_[A-Za-z0-9]{30,}|\bgithub_pat_[A-Za-z0-9_]{22,}",
            // Google API keys.
            r"|\bAIza[0-9A-Za-z_-]{35,}",
            // Slack bot, user, app-level, refresh and legacy tokens.
            r"|\bxox[abprs]-[A-Za-z0-9-]{10,}",
        ))
    });
    spans_of(text, &KEYS, SECRET, |text, caps| match caps.name("sk") {
        Some(body) if !looks_random(&text[body.range()]) => None,
        _ => Some(whole(caps)),
    })
}

/// The credential after an HTTP auth scheme (`Bearer ...`, `Basic ...`), the scheme kept. The
/// credential must look random, so "bearer bonds" and "basic question" stay.
fn scheme_tokens(text: &str) -> Vec<(Range<usize>, &'static str)> {
    static SCHEME: LazyLock<Regex> =
        LazyLock::new(|| regex(r"(?i)\b(?:bearer|basic)[ \t]+([A-Za-z0-9._~+/=-]+)"));
    spans_of(text, &SCHEME, SECRET, |text, caps| {
        let token = group(caps, 1)?;
        let trimmed = text[token.clone()].trim_end_matches('.');
        let base64_sign = trimmed.contains(['+', '/', '=']);
        (looks_random(trimmed) || (trimmed.len() >= 8 && base64_sign))
            .then(|| token.start..token.start + trimmed.len())
    })
}

/// What a `name: value` or `name=value` pair's name says its value is.
enum SecretName {
    /// A password: taken whatever it looks like (four characters or more).
    Password,
    /// A key or token: taken when it looks random.
    Key,
}

/// The name's last word decides: `x-api-key`, `apiKey`, `client_secret`, `access_token`,
/// `Authorization`; but not `monkey` or `max_tokens`.
fn secret_name(name: &str) -> Option<SecretName> {
    let mut last = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        // A new word starts after punctuation, and at a capital after a small letter.
        if !c.is_ascii_alphanumeric() || (c.is_ascii_uppercase() && previous_lower) {
            last.clear();
        }
        if c.is_ascii_alphanumeric() {
            last.push(c.to_ascii_lowercase());
        }
        previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
    }
    match last.as_str() {
        "password" | "passwd" | "pwd" | "passphrase" => Some(SecretName::Password),
        "key" | "apikey" | "token" | "secret" | "signature" | "credential" | "credentials"
        | "auth" | "authorization" => Some(SecretName::Key),
        _ => None,
    }
}

/// The value of a pair whose name says it is secret: `?api_key=...`, `"x-api-key": "..."`,
/// `password: hunter2`, `client_secret=...`. The pattern only takes names that end like a
/// secret's, so a pair it declines (`monkey: banana`) never hides one after it. Values already
/// replaced (`[secret]`) are skipped.
fn secret_pairs(text: &str) -> Vec<(Range<usize>, &'static str)> {
    static PAIR: LazyLock<Regex> = LazyLock::new(|| {
        regex(concat!(
            r"([A-Za-z0-9_.-]*(?i:password|passwd|pwd|passphrase|key|token|secret|signature",
            r"|credentials?|auth|authorization))",
            r#"["']?[ \t]*[:=][ \t]*["']?([^\s"'`,;&<>()\[\]{}][^\s"'`,;&<>]*)"#,
        ))
    });
    spans_of(text, &PAIR, SECRET, |text, caps| {
        let kind = secret_name(&text[group(caps, 1)?])?;
        let value = group(caps, 2)?;
        let raw = text[value.clone()].trim_end_matches('.');
        let taken = match kind {
            SecretName::Password => Some(raw).filter(|v| v.chars().count() >= 4),
            SecretName::Key => {
                let end = raw.find(|c| !is_key_char(c)).unwrap_or(raw.len());
                Some(&raw[..end]).filter(|v| looks_random(v))
            }
        }?;
        Some(value.start..value.start + taken.len())
    })
}

/// How far back on its line a word must be to make a long random run a key.
const CONTEXT_BYTES: usize = 48;

/// A long random run (32 or more characters of hex, or of base64/base64url with letters and
/// digits or both letter cases) with a word like "key", "token" or "secret" shortly before it
/// on its line: "my API key is 3f9a...". Without such a word it stays, so commit hashes,
/// request ids and checksums in ordinary text survive.
fn contextual_runs(text: &str) -> Vec<(Range<usize>, &'static str)> {
    static RUN: LazyLock<Regex> = LazyLock::new(|| regex(r"[A-Za-z0-9+/_=-]{32,}"));
    static CONTEXT: LazyLock<Regex> = LazyLock::new(|| {
        regex(concat!(
            // Not after `[`: a placeholder (`[secret]`) is not a person's word for a key.
            r"(?i)(?:^|[^a-z\[])(?:api|access|private|secret|session|auth|client|refresh)?[ _-]?",
            r"(?:keys?|tokens?|secrets?|passwords?|passwd|credentials?|signatures?|auth|bearer)",
            r"(?:[^a-z]|$)",
        ))
    });
    spans_of(text, &RUN, SECRET, |text, caps| {
        let span = whole(caps);
        let run = &text[span.clone()];
        if !high_entropy(run) {
            return None;
        }
        let mut from = span.start.saturating_sub(CONTEXT_BYTES);
        while !text.is_char_boundary(from) {
            from += 1;
        }
        let before = &text[from..span.start];
        let line = before.rsplit('\n').next().unwrap_or(before);
        CONTEXT.is_match(line).then_some(span)
    })
}

fn high_entropy(run: &str) -> bool {
    let hex = run.bytes().all(|b| b.is_ascii_hexdigit());
    let digit = run.bytes().any(|b| b.is_ascii_digit());
    let lower = run.bytes().any(|b| b.is_ascii_lowercase());
    let upper = run.bytes().any(|b| b.is_ascii_uppercase());
    hex || (digit && (lower || upper)) || (lower && upper)
}

// --- Emails ------------------------------------------------------------------------------------

/// An address, also URL-encoded (`jane%40example.com`); local part and domain in any script.
fn emails(text: &str) -> Vec<(Range<usize>, &'static str)> {
    static ADDRESS: LazyLock<Regex> =
        LazyLock::new(|| regex(r"[\w.%+-]+(?:@|%40)[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}"));
    spans_of(text, &ADDRESS, EMAIL, |_, caps| Some(whole(caps)))
}

// --- Cards -------------------------------------------------------------------------------------

/// Digit groups joined by single spaces or dashes.
static DIGIT_RUN: LazyLock<Regex> = LazyLock::new(|| regex(r"[0-9]+(?:[ -][0-9]+)*"));

/// 13 to 19 digits, whole groups of a run of digit groups laid out as cards are written (one
/// group, or a group of 4, then groups of 4 to 6, the last of 1 to 6: `4111 1111 1111 1111`,
/// `3782 822463 10005`), that pass the Luhn check and start with 2 to 6 (ISO/IEC 7812's
/// banking and financial industries: Mastercard 2 and 5, Amex, Diners and JCB 3, Visa 4,
/// Discover, UnionPay and Maestro 6). The industry digit keeps out ISBNs (978...), millisecond
/// timestamps (1...) and zero-padded ids; it also leaves out UATP airline cards (1...), rare in
/// prompts. The layout keeps a card from being found across
/// unrelated numbers: `+1 555 123 4567 2024` and `2024-03-15 ...` are not laid out as cards.
fn cards(text: &str) -> Vec<(Range<usize>, &'static str)> {
    let mut spans = Vec::new();
    for run in DIGIT_RUN.find_iter(text) {
        let groups: Vec<Range<usize>> = run
            .as_str()
            .split([' ', '-'])
            .scan(run.start(), |at, group| {
                let span = *at..*at + group.len();
                *at += group.len() + 1;
                Some(span)
            })
            .collect();
        let glued_before =
            char_before(text, run.start()).is_some_and(|c| glued(Some(c)) || c == '+');
        let glued_after = glued(char_after(text, run.end()));
        let mut first = 0;
        while first < groups.len() {
            match card_in(text, &groups, first, glued_before, glued_after) {
                Some(last) => {
                    spans.push((groups[first].start..groups[last].end, CARD));
                    first = last + 1;
                }
                None => first += 1,
            }
        }
    }
    spans
}

/// The last group of the longest card starting at group `first`, if there is one.
fn card_in(
    text: &str,
    groups: &[Range<usize>],
    first: usize,
    glued_before: bool,
    glued_after: bool,
) -> Option<usize> {
    if first == 0 && glued_before {
        return None;
    }
    if !matches!(text.as_bytes()[groups[first].start], b'2'..=b'6') {
        return None;
    }
    let mut digits = String::new();
    let mut candidates = Vec::new();
    for (last, group) in groups.iter().enumerate().skip(first) {
        digits.push_str(&text[group.clone()]);
        if digits.len() > 19 {
            break;
        }
        let laid_out = last == first
            || (groups[first].len() == 4
                && groups[first + 1..last]
                    .iter()
                    .all(|g| (4..=6).contains(&g.len()))
                && group.len() <= 6);
        if digits.len() >= 13 && laid_out && !(last == groups.len() - 1 && glued_after) {
            candidates.push((last, luhn_valid(&digits)));
        }
    }
    candidates
        .into_iter()
        .rev()
        .find_map(|(last, valid)| valid.then_some(last))
}

/// The Luhn checksum every payment card number carries in its last digit.
fn luhn_valid(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

// --- Phones ------------------------------------------------------------------------------------

/// The shapes a number is written in, and how many digits that shape holds.
#[derive(Clone, Copy)]
struct PhoneShape {
    least: usize,
    most: usize,
    /// Whether the number must use one kind of separator throughout (national numbers with a
    /// trunk `0`): that tells `05.03.2024 12` (a date and a count) from `020 7946 0958`.
    one_separator: bool,
}

const INTERNATIONAL: PhoneShape = PhoneShape {
    least: 7,
    most: 15,
    one_separator: false,
};
const NORTH_AMERICAN: PhoneShape = PhoneShape {
    least: 10,
    most: 11,
    one_separator: false,
};
const TRUNK_PREFIXED: PhoneShape = PhoneShape {
    least: 9,
    most: 12,
    one_separator: true,
};
/// After a word like "phone" any grouping counts.
const NAMED: PhoneShape = INTERNATIONAL;

/// Numbers with the word for one before them: `phone: 5551234567`, `Tel. 555-0199`,
/// `mobile number is 07700900123`. The word is what makes a bare number or a seven-digit local
/// one a phone number; dates after it (`phone bill of 2024-03-15`) stay.
fn contextual_phones(text: &str) -> Vec<(Range<usize>, &'static str)> {
    static NAMED_NUMBER: LazyLock<Regex> = LazyLock::new(|| {
        regex(concat!(
            // Not after `[`: the `[phone]` placeholder does not make the next number a phone.
            r"(?i)(?:^|[^\[\w])(?:phone|telephone|tel|mobile|cell|cellphone|fax|whatsapp|sms)\b",
            r"[^0-9\n]{0,16}?(\+?[0-9][0-9 ().-]{5,24}[0-9])",
        ))
    });
    static DATE: LazyLock<Regex> = LazyLock::new(|| {
        regex(
            r"^(?:[0-9]{4}[-./][0-9]{1,2}[-./][0-9]{1,2}|[0-9]{1,2}[-./][0-9]{1,2}[-./][0-9]{2,4})$",
        )
    });
    spans_of(text, &NAMED_NUMBER, PHONE, |text, caps| {
        let number = group(caps, 1)?;
        if DATE.is_match(&text[number.clone()]) {
            return None;
        }
        phone_in(text, number, NAMED)
    })
}

/// International numbers (`+` and a country code, any grouping: `+44 20 7946 0958`,
/// `+1 (555) 123-4567`, `+15551234567`), North American ones (`(555) 123-4567`,
/// `1-800-555-0199`, `555.123.4567`) and national numbers with a trunk `0`, written with
/// separators (`020 7946 0958`, `01 23 45 67 89`, `030-1234567`). A bare national number is
/// not taken without a word like "phone" before it: too many order ids and amounts look like
/// one. Neither are `1990-2005`, `2024-03-15` or `15.03.2024`: no shape here fits them.
fn phones(text: &str) -> Vec<(Range<usize>, &'static str)> {
    static NUMBER: LazyLock<Regex> = LazyLock::new(|| {
        regex(concat!(
            r"(?P<intl>\+[0-9]{1,3}(?:[ .-]?\([0-9]{1,4}\)|[ .-]?[0-9]{1,14}){0,8})",
            r"|(?P<nanp>(?:1[ .-]?)?(?:\([0-9]{3}\)[ .-]?|[0-9]{3}[ .-])[0-9]{3}[ .-][0-9]{4})",
            r"|(?P<trunk>\(?0[1-9][0-9]{0,4}\)?(?:[ .-][0-9]{2,8}){1,5})",
        ))
    });
    spans_retrying(text, &NUMBER, PHONE, |text, caps| {
        let span = whole(caps);
        let shape = if caps.name("intl").is_some() {
            INTERNATIONAL
        } else if caps.name("nanp").is_some() {
            NORTH_AMERICAN
        } else {
            TRUNK_PREFIXED
        };
        let before = char_before(text, span.start);
        if glued(before) || before == Some('+') || continues_number(text, span.start, true) {
            return None;
        }
        phone_in(text, span, shape)
    })
}

/// Whether a separator and another digit sit just outside `at` (`12-555-123-4567`): the
/// number is part of a longer one.
fn continues_number(text: &str, at: usize, backwards: bool) -> bool {
    let (separator, digit) = if backwards {
        let mut chars = text[..at].chars().rev();
        (chars.next(), chars.next())
    } else {
        let mut chars = text[at..].chars();
        (chars.next(), chars.next())
    };
    matches!(separator, Some('-' | '.')) && digit.is_some_and(|c| c.is_ascii_digit())
}

/// The phone number in `span`: its longest prefix of whole digit groups that stands on its
/// own (the last group not glued to a word or a longer number) and holds at most `shape.most`
/// digits, so a number followed by a count or a word keeps them out; `None` unless that prefix
/// holds at least `shape.least` digits with the separators the shape allows.
fn phone_in(text: &str, span: Range<usize>, shape: PhoneShape) -> Option<Range<usize>> {
    let candidate = &text[span.clone()];
    // Where each digit group ends, with the digits and the separators up to there.
    let mut ends: Vec<(usize, usize, Vec<char>)> = Vec::new();
    let mut digits = 0;
    let mut separators = Vec::new();
    let mut chars = candidate.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c.is_ascii_digit() {
            digits += 1;
            if !chars.peek().is_some_and(|(_, next)| next.is_ascii_digit()) {
                // A closing parenthesis belongs to the group it closes.
                let end = if candidate[i + 1..].starts_with(')') {
                    i + 2
                } else {
                    i + 1
                };
                ends.push((end, digits, separators.clone()));
            }
        } else if matches!(c, ' ' | '.' | '-') {
            separators.push(c);
        }
    }
    let (end, digits, separators) = ends.into_iter().rev().find(|(end, digits, _)| {
        let at = span.start + end;
        *digits <= shape.most && !glued(char_after(text, at)) && !continues_number(text, at, false)
    })?;
    let one_kind = separators.windows(2).all(|pair| pair[0] == pair[1]);
    (digits >= shape.least && (one_kind || !shape.one_separator))
        .then_some(span.start..span.start + end)
}

// ---------------------------------------------------------------------------------------------
// Drafting a suite
// ---------------------------------------------------------------------------------------------

/// One captured exchange, as the gateway stored it (already redacted).
#[derive(Debug, Clone, PartialEq)]
pub struct Captured {
    /// The capture's id in the store; the drafted case is `capture-<id>`.
    pub id: i64,
    /// The model that answered, by its configured name.
    pub model: String,
    /// The client API the request came in: `openai_chat`, `anthropic_messages`, `gemini`, or
    /// `openai_responses` (whose request is handed over as the Chat Completions request it
    /// translates to: a suite case has no Responses format).
    pub api: String,
    pub at: DateTime<Utc>,
    /// The client's request body.
    pub request: Value,
    /// The primary's answer text (every text block, joined).
    pub answer_text: String,
    /// The tools the primary's answer called, with their arguments.
    pub answer_tool_calls: Vec<ToolCall>,
}

/// How similar a fallback's answer must be to the primary's, to begin with: low, because two
/// good answers share far fewer words than one answer shares with itself. The reviewer sets
/// the real one.
const DRAFT_THRESHOLD: f64 = 0.5;

/// The TOML text of a suite drafted from `captured` (an app's captures on its primary model):
/// one case per distinct request (same format, messages and tools: later duplicates are folded
/// into the first and named in its comment), checked by `similar_to` the primary's answer at
/// 0.5, `json_valid` when that answer is a JSON object or array, and `tool_called` for each
/// tool it called (with the tool's declared argument schema, when the primary's own arguments
/// satisfy it). Every drafted check passes on the primary's own answer.
///
/// A header comment says where the draft came from and that a person must review each
/// reference and threshold. Captures that cannot become a case (an unknown API, no messages,
/// an answer with no words and no tool call) are listed in comments. The text always reads
/// back with [`crate::suite::parse_toml`], but for a draft with no case at all (no capture,
/// or none usable), which it rejects as having no cases.
///
/// A case keeps the request's messages and tools, not its other parameters (temperature,
/// token limits): a suite case has no place for them. TOML has no null, so a null field is
/// left out (every format reads a missing field as it reads a null one). Anthropic's `system`
/// prompt and Gemini's `systemInstruction` become the first message, a user turn, because a
/// case has no `system` field and neither format has a system role; the case's comment says so.
/// A Gemini request's `contents` are the case's messages (`format = "gemini"`).
pub fn draft_suite(app: &str, primary: &str, captured: &[Captured]) -> String {
    let mut ordered: Vec<&Captured> = captured.iter().collect();
    ordered.sort_by_key(|c| (c.at, c.id));

    let mut drafts: Vec<Draft> = Vec::new();
    let mut skipped = Vec::new();
    for capture in ordered {
        match draft_case(capture) {
            Err(why) => skipped.push(format!("capture {}: {why}", capture.id)),
            Ok(draft) => {
                if let Some(same) = drafts.iter_mut().find(|d| d.same_request(&draft)) {
                    same.folded.push(capture.id);
                } else if drafts.iter().any(|d| d.capture.id == capture.id) {
                    skipped.push(format!(
                        "capture {}: a second capture with this id",
                        capture.id
                    ));
                } else {
                    drafts.push(draft);
                }
            }
        }
    }

    let mut out = header(app, primary, captured);
    out.push_str(&format!(
        "name = {}\n",
        toml_string(&format!("{app} on {primary} (drafted from captures)"))
    ));
    if !skipped.is_empty() {
        out.push_str("\n# Not drafted:\n");
        for why in &skipped {
            out.push_str(&format!("# - {}\n", one_line(why)));
        }
    }
    for draft in &drafts {
        out.push('\n');
        out.push_str(&draft.render());
    }
    out
}

fn header(app: &str, primary: &str, captured: &[Captured]) -> String {
    let days = captured.iter().map(|c| c.at.format("%Y-%m-%d").to_string());
    let (first, last) = (days.clone().min(), days.max());
    let when = match (first, last) {
        (Some(first), Some(last)) if first == last => format!("on {first}"),
        (Some(first), Some(last)) => format!("from {first} to {last}"),
        _ => "(no captures)".to_string(),
    };
    format!(
        "# Drafted from {count} capture{s} of app {app} on {primary}, captured {when} (UTC).\n\
         # Each case's reference is one answer of {primary}, not a known-good answer, and each\n\
         # threshold is a starting point: a person must review every reference answer and\n\
         # threshold (and add checks for what matters) before this suite is trusted to validate\n\
         # a fallback.\n\n",
        count = captured.len(),
        s = if captured.len() == 1 { "" } else { "s" },
        app = one_line(&format!("{app:?}")),
        primary = one_line(&format!("{primary:?}")),
    )
}

/// A case drafted from one capture, with the captures folded into it.
struct Draft<'c> {
    capture: &'c Captured,
    format: &'static str,
    messages: Value,
    tools: Option<Value>,
    system_moved: bool,
    /// The messages, tools and checks as TOML values.
    toml: CaseToml,
    folded: Vec<i64>,
}

/// The case's lists as TOML, one item a line so a reviewer reads a conversation turn by turn.
struct CaseToml {
    messages: String,
    tools: Option<String>,
    checks: String,
}

impl Draft<'_> {
    fn same_request(&self, other: &Draft) -> bool {
        self.format == other.format && self.messages == other.messages && self.tools == other.tools
    }

    fn render(&self) -> String {
        let capture = self.capture;
        let mut out = format!(
            "# Capture {} of model {}, {}.\n",
            capture.id,
            one_line(&format!("{:?}", capture.model)),
            capture.at.to_rfc3339_opts(SecondsFormat::Secs, true),
        );
        if !self.folded.is_empty() {
            let ids: Vec<String> = self.folded.iter().map(ToString::to_string).collect();
            out.push_str(&format!(
                "# The same request was also captured as {}.\n",
                ids.join(", ")
            ));
        }
        if self.system_moved && self.format == "gemini" {
            out.push_str(
                "# The request's `systemInstruction` is the first content (a user turn): a case \
                 has no\n# `system` field and Gemini contents have no system role.\n",
            );
        } else if self.system_moved {
            out.push_str(
                "# The request's `system` prompt is the first message (a user message): a case \
                 has no\n# `system` field and Anthropic messages have no system role.\n",
            );
        }
        out.push_str("[[cases]]\n");
        out.push_str(&format!(
            "id = {}\n",
            toml_string(&format!("capture-{}", capture.id))
        ));
        out.push_str(&format!("format = {}\n", toml_string(self.format)));
        out.push_str(&format!("messages = {}\n", self.toml.messages));
        if let Some(tools) = &self.toml.tools {
            out.push_str(&format!("tools = {tools}\n"));
        }
        out.push_str(&format!("checks = {}\n", self.toml.checks));
        out
    }
}

/// The case one capture gives, or why it gives none.
fn draft_case(capture: &Captured) -> Result<Draft<'_>, String> {
    let format = match capture.api.as_str() {
        "openai_chat" | "openai_responses" => "openai",
        "anthropic_messages" => "anthropic",
        "gemini" => "gemini",
        other => {
            return Err(format!(
                "its API {other:?} is none of openai_chat, openai_responses, anthropic_messages \
                 and gemini"
            ));
        }
    };
    let request = &capture.request;
    let list = if format == "gemini" {
        "contents"
    } else {
        "messages"
    };
    let mut messages = match request.get(list).map(without_nulls) {
        Some(Value::Array(messages)) if !messages.is_empty() => messages,
        _ => return Err(format!("the request has no {list}")),
    };
    let mut system_moved = false;
    if let Some(first) = system_as_first_message(format, request) {
        messages.insert(0, first);
        system_moved = true;
    }
    let messages = Value::Array(messages);
    let tools = request
        .get("tools")
        .map(without_nulls)
        .filter(|tools| tools.as_array().is_some_and(|t| !t.is_empty()));
    let checks = checks_for(capture, tools.as_ref());
    if checks.is_empty() {
        return Err("the answer has no words and calls no tool: nothing to check".into());
    }
    // TOML writes every JSON value but null (already gone), so this is a guard, not a path.
    let unwritable = |e: toml::ser::Error| format!("it cannot be written as TOML: {e}");
    let toml = CaseToml {
        messages: toml_list(&messages).map_err(unwritable)?,
        tools: tools
            .as_ref()
            .map(toml_list)
            .transpose()
            .map_err(unwritable)?,
        checks: toml_list(&Value::Array(checks)).map_err(unwritable)?,
    };
    Ok(Draft {
        capture,
        format,
        messages,
        tools,
        system_moved,
        toml,
        folded: Vec::new(),
    })
}

/// The request's system prompt as a first user turn, for the formats whose messages have no
/// system role: Anthropic's `system`, Gemini's `systemInstruction` (its parts).
fn system_as_first_message(format: &str, request: &Value) -> Option<Value> {
    match format {
        "anthropic" => {
            let system = request.get("system").map(without_nulls)?;
            system_has_content(&system).then(|| json!({"role": "user", "content": system}))
        }
        "gemini" => {
            let instruction = request
                .get("systemInstruction")
                .or_else(|| request.get("system_instruction"))
                .map(without_nulls)?;
            let parts = instruction.get("parts")?.clone();
            system_has_content(&parts).then(|| json!({"role": "user", "parts": parts}))
        }
        _ => None,
    }
}

fn system_has_content(system: &Value) -> bool {
    match system {
        Value::String(text) => !text.is_empty(),
        Value::Array(blocks) => !blocks.is_empty(),
        _ => false,
    }
}

/// The checks for one capture, each as its TOML table, each passing on the primary's answer.
fn checks_for(capture: &Captured, tools: Option<&Value>) -> Vec<Value> {
    let answer = Answer {
        text: capture.answer_text.clone(),
        tool_calls: capture.answer_tool_calls.clone(),
        latency_ms: 0,
    };
    let passes = |check: &Check| check.evaluate(&answer) == Verdict::Pass;
    let mut checks = Vec::new();
    // `similarity` is 0 for a text with no words, so such a reference could never be met.
    if similarity(&answer.text, &answer.text) > 0.0 {
        checks.push(json!({"similar_to": {
            "reference": answer.text,
            "threshold": DRAFT_THRESHOLD,
        }}));
    }
    // A bare number or word is valid JSON too, but only a structure is worth checking for.
    if answer.text.contains(['{', '[']) && passes(&Check::JsonValid) {
        checks.push(json!({"json_valid": true}));
    }
    if let Some(tools) = tools {
        let mut named = Vec::new();
        for call in &answer.tool_calls {
            if named.contains(&call.name) {
                continue;
            }
            named.push(call.name.clone());
            let schema = declared_schema(tools, &call.name).filter(|schema| {
                passes(&Check::ToolCalled {
                    name: call.name.clone(),
                    arguments_schema: Some(schema.clone()),
                })
            });
            checks.push(match schema {
                Some(schema) => {
                    json!({"tool_called": {"name": call.name, "arguments_schema": schema}})
                }
                None => json!({"tool_called": {"name": call.name}}),
            });
        }
    }
    checks
}

/// The argument schema a request's tool declares: OpenAI's `function.parameters`, Anthropic's
/// `input_schema`.
fn declared_schema(tools: &Value, name: &str) -> Option<Value> {
    tools.as_array()?.iter().find_map(|tool| {
        let openai = tool.get("function");
        let declared_name = openai.unwrap_or(tool).get("name")?.as_str()?;
        if declared_name != name {
            return None;
        }
        match openai {
            Some(function) => function.get("parameters").cloned(),
            None => tool.get("input_schema").cloned(),
        }
    })
}

/// `value` with every null left out (TOML has none), and integers past TOML's 64-bit signed
/// range as floats.
fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(
            items
                .iter()
                .filter(|v| !v.is_null())
                .map(without_nulls)
                .collect(),
        ),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect::<Map<String, Value>>(),
        ),
        Value::Number(n) if n.is_u64() && n.as_i64().is_none() => {
            n.as_f64().map_or(Value::Null, |f| json!(f))
        }
        other => other.clone(),
    }
}

/// A value as TOML writes it inline, quoting and escaping done by the `toml` crate.
fn toml_inline(value: &Value) -> Result<String, toml::ser::Error> {
    let mut out = String::new();
    value.serialize(toml::ser::ValueSerializer::new(&mut out))?;
    Ok(out)
}

/// A list as TOML, one item a line (`[\n  a,\n  b,\n]`); any other value inline.
fn toml_list(value: &Value) -> Result<String, toml::ser::Error> {
    let Value::Array(items) = value else {
        return toml_inline(value);
    };
    let mut out = String::from("[\n");
    for item in items {
        out.push_str("  ");
        out.push_str(&toml_inline(item)?);
        out.push_str(",\n");
    }
    out.push(']');
    Ok(out)
}

fn toml_string(text: &str) -> String {
    toml_inline(&Value::String(text.to_string())).expect("TOML writes every string")
}

/// Text for a comment: one line, no control characters (TOML allows neither in a comment).
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
