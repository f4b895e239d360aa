//! Reading and writing request and answer JSON with the path of every field, shared by the
//! three translators.
//!
//! A translator names each field it refuses or cannot read by its JSON path (`messages[2].
//! content[0].type`), and its refusals name its format. [`Json`] holds both choices for one
//! format: the [`WireFormat`] its refusals name and the [`Wording`] its errors use for a value
//! of the wrong type (the formats' translators word them differently, and clients and tests
//! read those words). Everything else here is the same for every format: JSON `null` reads as
//! absent (all three APIs accept `null` for an optional field), paths are built with [`at`].

use clearance_core::api::WireFormat;
use serde_json::{Map, Value};

use super::TranslateError;

/// How a format's errors say what is wrong with a value.
pub(super) struct Wording {
    pub object: &'static str,
    pub array: &'static str,
    pub string: &'static str,
    pub boolean: &'static str,
    pub number: &'static str,
    pub integer: &'static str,
    pub count: &'static str,
    /// A required field that is absent (or `null`).
    pub required: &'static str,
}

impl Wording {
    /// "must be a JSON object", "is required" (OpenAI and Gemini).
    pub const MUST: Wording = Wording {
        object: "must be a JSON object",
        array: "must be an array",
        string: "must be a string",
        boolean: "must be true or false",
        number: "must be a number",
        integer: "must be an integer",
        count: "must be a non-negative integer",
        required: "is required",
    };

    /// "expected a JSON object", "required" (Anthropic).
    pub const EXPECTED: Wording = Wording {
        object: "expected a JSON object",
        array: "expected an array",
        string: "expected a string",
        boolean: "expected true or false",
        number: "expected a number",
        integer: "expected an integer",
        count: "expected a non-negative integer",
        required: "required",
    };
}

/// The path-aware JSON helpers of one format: its refusals name `format`, its errors use
/// `wording`, and a body that is not an object is called `root` (the empty path).
#[derive(Clone, Copy)]
pub(super) struct Json {
    pub format: WireFormat,
    pub wording: &'static Wording,
    pub root: &'static str,
}

impl Json {
    /// A field valid in this format that no other format can express.
    pub fn untranslatable(
        self,
        field: impl Into<String>,
        why: impl Into<String>,
    ) -> TranslateError {
        TranslateError::untranslatable(field, self.format, why)
    }

    /// A field of the neutral request that this format cannot express.
    pub fn unsupported(self, field: impl Into<String>, why: impl Into<String>) -> TranslateError {
        TranslateError::unsupported(field, self.format, why)
    }

    /// `value` as an object; `path` empty is the body, named `root`.
    pub fn object<'a>(
        self,
        value: &'a Value,
        path: &str,
    ) -> Result<&'a Map<String, Value>, TranslateError> {
        value.as_object().ok_or_else(|| {
            let field = if path.is_empty() { self.root } else { path };
            invalid(field, self.wording.object)
        })
    }

    pub fn array<'a>(self, value: &'a Value, path: &str) -> Result<&'a Vec<Value>, TranslateError> {
        expect(value.as_array(), path, self.wording.array)
    }

    pub fn str<'a>(self, value: &'a Value, path: &str) -> Result<&'a str, TranslateError> {
        expect(value.as_str(), path, self.wording.string)
    }

    pub fn bool(self, value: &Value, path: &str) -> Result<bool, TranslateError> {
        expect(value.as_bool(), path, self.wording.boolean)
    }

    pub fn f64(self, value: &Value, path: &str) -> Result<f64, TranslateError> {
        expect(value.as_f64(), path, self.wording.number)
    }

    pub fn i64(self, value: &Value, path: &str) -> Result<i64, TranslateError> {
        expect(value.as_i64(), path, self.wording.integer)
    }

    pub fn u64(self, value: &Value, path: &str) -> Result<u64, TranslateError> {
        expect(value.as_u64(), path, self.wording.count)
    }

    /// The member `key` of the object at `path` read by `read` (one of the readers above),
    /// `None` when it is absent or `null`.
    pub fn member<'a, T>(
        self,
        object: &'a Map<String, Value>,
        path: &str,
        key: &str,
        read: impl FnOnce(Json, &'a Value, &str) -> Result<T, TranslateError>,
    ) -> Result<Option<T>, TranslateError> {
        present(object, key)
            .map(|value| read(self, value, &at(path, key)))
            .transpose()
    }

    /// The member `key` of the object at `path`, which must be present and not `null`.
    pub fn required<'a>(
        self,
        object: &'a Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Result<&'a Value, TranslateError> {
        present(object, key).ok_or_else(|| invalid(at(path, key), self.wording.required))
    }

    /// A required string member `key` of the object at `path`.
    pub fn required_str<'a>(
        self,
        object: &'a Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Result<&'a str, TranslateError> {
        self.str(self.required(object, path, key)?, &at(path, key))
    }

    pub fn optional_str<'a>(
        self,
        object: &'a Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Result<Option<&'a str>, TranslateError> {
        self.member(object, path, key, Json::str)
    }

    /// Refuses the first member of the object at `path` that `known` does not accept, as
    /// untranslatable for the reason `why` gives for its key.
    pub fn check_keys(
        self,
        object: &Map<String, Value>,
        path: &str,
        known: impl Fn(&str, &Value) -> bool,
        why: impl FnOnce(&str) -> &'static str,
    ) -> Result<(), TranslateError> {
        match object.iter().find(|(key, value)| !known(key, value)) {
            Some((key, _)) => Err(self.untranslatable(at(path, key), why(key))),
            None => Ok(()),
        }
    }
}

/// Whether inline data's media type is an image's (`image/png`): the one kind of inline data
/// every format translates, as an image. An image part holding anything else (a PDF, audio)
/// would reach a provider that reads media types, such as Gemini, as that other kind of input.
pub(super) fn is_image_media_type(media_type: &str) -> bool {
    media_type.starts_with("image/")
}

/// A field that is not valid in its source format (wrong type, missing, unknown value).
pub(super) fn invalid(field: impl Into<String>, why: impl Into<String>) -> TranslateError {
    TranslateError::invalid(field, why)
}

/// What `read` found, or an error at `path` saying what it must be.
fn expect<T>(read: Option<T>, path: &str, what: &'static str) -> Result<T, TranslateError> {
    read.ok_or_else(|| invalid(path, what))
}

/// `path.key`, or `key` at the top level (`path` empty).
pub(super) fn at(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// The member `key` when it is present and not `null`: the APIs read `null` as absent, and
/// their SDKs send it.
pub(super) fn present<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|value| !value.is_null())
}

/// Writes `key` when there is a value for it.
pub(super) fn insert_some<T: Into<Value>>(
    object: &mut Map<String, Value>,
    key: &str,
    value: Option<T>,
) {
    if let Some(value) = value {
        object.insert(key.to_string(), value.into());
    }
}
