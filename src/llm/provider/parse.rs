//! The JSON shapes of provider error bodies, read with serde straight from the
//! body's bytes.
//!
//! Every string is borrowed from the body when it has no escapes (a
//! `Cow::Borrowed`) and unescaped into its own buffer otherwise, which is never
//! longer than the escaped text. Nothing else is kept: arrays are folded as
//! they are read (the Gemini `details`), and everything not named here is
//! skipped with [`IgnoredAny`]. Every field accepts every JSON type: a value
//! of an unexpected type (`"code": 429` where a string was expected, `"type":
//! null`, an object where a message was expected) is read as "absent" instead
//! of failing the whole parse. The fields read have a fixed depth (at most
//! seven levels, down to a Gemini quota violation); whatever is skipped,
//! however deep, `serde_json` skips without recursion, keeping one byte per
//! level, so no body can overflow the stack or take more memory than its own
//! size. A key that appears twice in one object is an error
//! (serde's derive rejects duplicates), hence no `ProviderError` either.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::rules::{contains_ci, parse_protobuf_duration};

/// Reads a body: an error object, or a one-element array around one (Gemini's
/// streaming endpoints). `None` for anything else, including invalid or
/// truncated JSON and trailing garbage.
pub(super) fn read(body: &[u8]) -> Option<Envelope<'_>> {
    serde_json::from_slice::<Body<'_>>(body).ok()?.0
}

/// Implements the visitor methods for every JSON value a lenient visitor does
/// not care about: each is consumed (arrays and objects drained with
/// [`IgnoredAny`]) and read as `$other`.
macro_rules! ignore_other_values {
    ($other:expr, [$($skip:ident),*]) => {
        ignore_other_values!(@scalars $other, [$($skip),*]);
    };
    (@scalars $other:expr, [$($skip:ident),*]) => {
        fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_bytes<E: serde::de::Error>(self, _: &[u8]) -> Result<Self::Value, E> {
            Ok($other)
        }
        $(ignore_other_values!(@one $skip, $other);)*
    };
    (@one integers, $other:expr) => {
        fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($other)
        }
    };
    (@one strings, $other:expr) => {
        fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($other)
        }
    };
    (@one seqs, $other:expr) => {
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok($other)
        }
    };
    (@one maps, $other:expr) => {
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok($other)
        }
    };
}

/// A JSON value where a string or a number is expected; anything else is
/// [`Loose::Other`].
#[derive(Debug, Default)]
pub(super) enum Loose<'a> {
    /// A string, borrowed from the body unless it had escapes.
    Text(Cow<'a, str>),
    /// An integer (`"code": 429`). Floats and integers beyond 64 bits are
    /// [`Loose::Other`]: their text could be longer than the body's.
    Integer(i128),
    /// `null`, a boolean, a float, an array or an object.
    #[default]
    Other,
}

impl<'a> Loose<'a> {
    /// The string, if this is one.
    pub(super) fn into_text(self) -> Option<Cow<'a, str>> {
        match self {
            Self::Text(text) => Some(text),
            _ => None,
        }
    }

    /// The string, or the integer as text.
    pub(super) fn into_code(self) -> Option<Cow<'a, str>> {
        match self {
            Self::Text(text) => Some(text),
            Self::Integer(number) => Some(Cow::Owned(number.to_string())),
            Self::Other => None,
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Loose<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LooseVisitor(PhantomData))
    }
}

struct LooseVisitor<'a>(PhantomData<Loose<'a>>);

impl<'de: 'a, 'a> Visitor<'de> for LooseVisitor<'a> {
    type Value = Loose<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(Loose::Text(Cow::Borrowed(text)))
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Loose::Text(Cow::Owned(text.to_owned())))
    }

    fn visit_string<E: serde::de::Error>(self, text: String) -> Result<Self::Value, E> {
        Ok(Loose::Text(Cow::Owned(text)))
    }

    fn visit_i64<E: serde::de::Error>(self, number: i64) -> Result<Self::Value, E> {
        Ok(Loose::Integer(number.into()))
    }

    fn visit_u64<E: serde::de::Error>(self, number: u64) -> Result<Self::Value, E> {
        Ok(Loose::Integer(number.into()))
    }

    ignore_other_values!(Loose::Other, [seqs, maps]);
}

/// An object read as `T`, or `None` for any other JSON value.
#[derive(Debug)]
pub(super) struct Object<T>(pub(super) Option<T>);

impl<T> Default for Object<T> {
    fn default() -> Self {
        Self(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ObjectVisitor(PhantomData))
    }
}

struct ObjectVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
    type Value = Object<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(|value| Object(Some(value)))
    }

    ignore_other_values!(Object(None), [integers, strings, seqs]);
}

/// The whole body: an object, or an array whose first element is one.
struct Body<'a>(Option<Envelope<'a>>);

impl<'de> Deserialize<'de> for Body<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(BodyVisitor)
    }
}

struct BodyVisitor;

impl<'de> Visitor<'de> for BodyVisitor {
    type Value = Body<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON error body")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Envelope::deserialize(MapAccessDeserializer::new(map)).map(|envelope| Body(Some(envelope)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let first = seq.next_element::<Object<Envelope<'de>>>()?;
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Body(first.and_then(|object| object.0)))
    }

    ignore_other_values!(Body(None), [integers, strings]);
}

/// The top level of an error body: every field any known shape puts there.
#[derive(Debug, Deserialize)]
pub(super) struct Envelope<'a> {
    /// `{"error": {…}}` (OpenAI, Anthropic, Gemini) or `{"error": "…"}`.
    #[serde(default, borrow)]
    pub(super) error: ErrorField<'a>,
    /// Anthropic's `"type": "error"`, vLLM's `"type": "BadRequestError"`.
    #[serde(rename = "type", borrow)]
    pub(super) kind: Option<Loose<'a>>,
    /// vLLM's `"object": "error"`.
    #[serde(borrow)]
    pub(super) object: Option<Loose<'a>>,
    /// vLLM's message, or a bare `{"message": "…"}`.
    #[serde(borrow)]
    pub(super) message: Option<Loose<'a>>,
    /// FastAPI-style `{"detail": "…"}`.
    #[serde(borrow)]
    pub(super) detail: Option<Loose<'a>>,
    /// vLLM's `"code": 400`.
    #[serde(borrow)]
    pub(super) code: Option<Loose<'a>>,
}

/// The value of a top-level `error`.
#[derive(Debug, Default)]
pub(super) enum ErrorField<'a> {
    /// Absent, or of a type no provider sends.
    #[default]
    Absent,
    /// An error object.
    Object(ErrorObject<'a>),
    /// A message (`{"error": "model not found"}`).
    Text(Cow<'a, str>),
}

impl<'de: 'a, 'a> Deserialize<'de> for ErrorField<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ErrorFieldVisitor(PhantomData))
    }
}

struct ErrorFieldVisitor<'a>(PhantomData<ErrorField<'a>>);

impl<'de: 'a, 'a> Visitor<'de> for ErrorFieldVisitor<'a> {
    type Value = ErrorField<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        ErrorObject::deserialize(MapAccessDeserializer::new(map)).map(ErrorField::Object)
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(ErrorField::Text(Cow::Borrowed(text)))
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(ErrorField::Text(Cow::Owned(text.to_owned())))
    }

    ignore_other_values!(ErrorField::Absent, [integers, seqs]);
}

/// The object under `error`: the union of the OpenAI, Azure, Anthropic and
/// Gemini fields.
#[derive(Debug, Deserialize)]
pub(super) struct ErrorObject<'a> {
    #[serde(borrow)]
    pub(super) message: Option<Loose<'a>>,
    /// OpenAI's and Anthropic's `type`.
    #[serde(rename = "type", borrow)]
    pub(super) kind: Option<Loose<'a>>,
    /// OpenAI's string code, Azure's `"429"`, Gemini's and OpenRouter's `429`.
    #[serde(borrow)]
    pub(super) code: Option<Loose<'a>>,
    /// Gemini's `RESOURCE_EXHAUSTED`; Azure's `400`.
    #[serde(borrow)]
    pub(super) status: Option<Loose<'a>>,
    /// Gemini's `details`, folded.
    #[serde(default, borrow)]
    pub(super) details: Details<'a>,
    /// Azure's `innererror`.
    #[serde(default, borrow)]
    pub(super) innererror: Object<InnerError<'a>>,
}

/// Azure's `innererror`: `{"code": "ResponsibleAIPolicyViolation", …}`.
#[derive(Debug, Deserialize)]
pub(super) struct InnerError<'a> {
    #[serde(borrow)]
    pub(super) code: Option<Loose<'a>>,
}

/// What Gemini's `details` said, folded over the array as it is read.
#[derive(Debug, Default)]
pub(super) struct Details<'a> {
    /// The first valid `RetryInfo.retryDelay`.
    pub(super) retry_delay: Option<Duration>,
    /// The first `ErrorInfo.reason` (`API_KEY_INVALID`).
    pub(super) reason: Option<Cow<'a, str>>,
    /// A `QuotaFailure` violation is a per-day quota (`quotaId` contains
    /// `PerDay`).
    pub(super) per_day: bool,
    /// A `QuotaFailure` violation has a limit of zero (`quotaValue` `"0"`): the
    /// tier does not include this model at all.
    pub(super) zero_limit: bool,
}

impl<'de: 'a, 'a> Deserialize<'de> for Details<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DetailsVisitor(PhantomData))
    }
}

struct DetailsVisitor<'a>(PhantomData<Details<'a>>);

impl<'de: 'a, 'a> Visitor<'de> for DetailsVisitor<'a> {
    type Value = Details<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut details = Details::default();
        while let Some(Object(detail)) = seq.next_element::<Object<Detail<'de>>>()? {
            let Some(detail) = detail else { continue };
            if details.retry_delay.is_none() {
                details.retry_delay = detail
                    .retry_delay
                    .and_then(Loose::into_text)
                    .and_then(|text| parse_protobuf_duration(&text));
            }
            if details.reason.is_none() {
                details.reason = detail.reason.and_then(Loose::into_text);
            }
            details.per_day |= detail.violations.per_day;
            details.zero_limit |= detail.violations.zero_limit;
        }
        Ok(details)
    }

    ignore_other_values!(Details::default(), [integers, strings, maps]);
}

/// One element of Gemini's `details` (`RetryInfo`, `QuotaFailure`,
/// `ErrorInfo`, `Help`…); only the fields read are named.
#[derive(Debug, Deserialize)]
struct Detail<'a> {
    #[serde(rename = "retryDelay", borrow)]
    retry_delay: Option<Loose<'a>>,
    #[serde(borrow)]
    reason: Option<Loose<'a>>,
    #[serde(default)]
    violations: Violations,
}

/// What a `QuotaFailure`'s `violations` said, folded.
#[derive(Debug, Default)]
struct Violations {
    per_day: bool,
    zero_limit: bool,
}

impl<'de> Deserialize<'de> for Violations {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ViolationsVisitor)
    }
}

struct ViolationsVisitor;

impl<'de> Visitor<'de> for ViolationsVisitor {
    type Value = Violations;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut violations = Violations::default();
        while let Some(Object(violation)) = seq.next_element::<Object<Violation<'de>>>()? {
            let Some(violation) = violation else { continue };
            if let Some(Loose::Text(id)) = &violation.quota_id {
                violations.per_day |= contains_ci(id, "PerDay");
            }
            violations.zero_limit |= match &violation.quota_value {
                Some(Loose::Text(value)) => value.trim() == "0",
                Some(Loose::Integer(value)) => *value == 0,
                _ => false,
            };
        }
        Ok(violations)
    }

    ignore_other_values!(Violations::default(), [integers, strings, maps]);
}

/// One `QuotaFailure` violation.
#[derive(Debug, Deserialize)]
struct Violation<'a> {
    #[serde(rename = "quotaId", borrow)]
    quota_id: Option<Loose<'a>>,
    #[serde(rename = "quotaValue", borrow)]
    quota_value: Option<Loose<'a>>,
}
