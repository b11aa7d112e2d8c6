//! Read and rewrite the `model` of an LLM request body, byte for byte, for
//! fallback tiers that send the same request to another model.
//!
//! OpenAI-compatible chat and responses bodies and Anthropic messages
//! bodies all carry the model in a top-level `"model"` member. A fallback
//! tier that changes it must not re-serialise the rest: unknown fields,
//! their order, whitespace, number formats (`1.0`, `1e3`) and escapes all
//! reach the upstream exactly as the caller wrote them. So this module does
//! not parse the body into a value; a small scanner walks the bytes once,
//! checks that they are one well-formed JSON object, and finds the values
//! of its top-level `model` members. Only those bytes change.
//!
//! - [`model_of`] reads the model, e.g. to route in a gateway;
//! - [`set_model`] writes it;
//! - [`rewrite_model`] makes a request rewrite for
//!   [`Tier::rewrite`](crate::fallback::Tier::rewrite) out of it, for any
//!   request body that is a [`JsonBody`].
//!
//! What counts as the model:
//!
//! - only **top-level** members: a `"model"` key inside `messages`, `tools`
//!   or `metadata`, or the word `"model"` inside a prompt, is never
//!   touched;
//! - keys are compared **after decoding escapes**: `"mod\u0065l"` is the
//!   key `model` to every JSON parser, so it is here too;
//! - with **duplicate** `model` keys, [`set_model`] replaces every one (so
//!   the upstream sees the new model whichever duplicate its parser keeps)
//!   and [`model_of`] reads the last one (what most parsers keep);
//! - the value may be of any JSON type; [`set_model`] always writes a
//!   string, [`model_of`] reads only a string.
//!
//! Scanning takes linear time, no recursion (a nested body cannot overflow
//! the stack, however deep) and one bit of memory per level of nesting.
//! Malformed or truncated JSON, or JSON that is not an object, is a
//! [`SetModelError`]. The bytes inside strings are not checked to be UTF-8
//! (they are copied as they are), except the model's own.
//!
//! Gemini and Azure OpenAI carry the model (or deployment) in the URL path,
//! not the body: rewrite the URI with [`Tier::rewrite`](crate::fallback::Tier::rewrite)
//! for those.
//!
//! # Examples
//!
//! ```
//! use tower_failover::llm::model::{model_of, set_model};
//!
//! let body = br#"{"model": "gpt-4o", "messages": [{"role": "user", "content": "hi", "model": "x"}], "temperature": 1.0}"#;
//! assert_eq!(model_of(body).as_deref(), Some("gpt-4o"));
//!
//! let rewritten = set_model(body, "gpt-4o-mini").unwrap();
//! assert_eq!(
//!     rewritten,
//!     br#"{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi", "model": "x"}], "temperature": 1.0}"#
//! );
//!
//! // A body without a model gets one, as its first member.
//! assert_eq!(set_model(b"{}", "claude").unwrap(), br#"{"model":"claude"}"#);
//! assert!(set_model(b"[1, 2]", "claude").is_err());
//! ```
//!
//! A fallback tier that sends the same request to a cheaper model:
//!
//! ```
//! # #[cfg(feature = "fallback")]
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use tower_failover::fallback::{FallbackLayer, Tier};
//! use tower_failover::llm::model::{model_of, rewrite_model};
//!
//! // An upstream where only the haiku model has capacity left.
//! let client = service_fn(|request: http::Request<String>| async move {
//!     let model = model_of(request.body().as_bytes()).unwrap().into_owned();
//!     let status = if model == "claude-3-5-haiku-latest" { 200 } else { 529 };
//!     let response = http::Response::builder().status(status).body(model);
//!     Ok::<_, std::io::Error>(response.unwrap())
//! });
//!
//! let fallback = FallbackLayer::builder("sonnet")
//!     .tier(Tier::new("haiku", client.clone()).rewrite(rewrite_model("claude-3-5-haiku-latest")))
//!     .build()
//!     .unwrap();
//! let service = ServiceBuilder::new().layer(fallback).service(client);
//!
//! let body = r#"{"model":"claude-sonnet-4-0","max_tokens":1024,"messages":[{"role":"user","content":"Hello"}]}"#;
//! let request = http::Request::post("https://api.anthropic.com/v1/messages")
//!     .header("content-length", body.len())
//!     .body(String::from(body))
//!     .unwrap();
//! let response = service.oneshot(request).await.unwrap();
//! assert_eq!(response.status(), 200);
//! assert_eq!(response.body(), "claude-3-5-haiku-latest");
//! # }
//! # #[cfg(not(feature = "fallback"))]
//! # fn main() {}
//! ```

mod rewrite;
mod scan;

use std::borrow::Cow;
use std::fmt;

pub use self::rewrite::{JsonBody, rewrite_model};
use self::scan::{scan, string_len, unescape, write_string};

/// The top-level `model` of a JSON object (the last one if the key is
/// repeated), escapes decoded; `None` if `json` is not a well-formed JSON
/// object, has no `model`, or its model is not a string (or not UTF-8).
///
/// ```
/// use tower_failover::llm::model::model_of;
///
/// assert_eq!(model_of(br#"{"model":"gpt-4o"}"#).as_deref(), Some("gpt-4o"));
/// assert_eq!(model_of(br#"{"mod\u0065l":"a\/b"}"#).as_deref(), Some("a/b"));
/// assert_eq!(model_of(br#"{"messages":[{"model":"x"}]}"#), None);
/// assert_eq!(model_of(br#"{"model":null}"#), None);
/// ```
pub fn model_of(json: &[u8]) -> Option<Cow<'_, str>> {
    let found = scan(json).ok()?;
    let value = &json[found.models.last()?.clone()];
    let raw = value.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    unescape(raw)
}

/// `json` with the value of its top-level `model` set to the JSON string
/// `model`; everything else is kept byte for byte.
///
/// - Every top-level `model` member (keys compared with escapes decoded) has
///   its value, whatever its type, replaced; nested `model` keys are not
///   touched.
/// - Without a top-level `model`, `"model":"…"` is inserted as the first
///   member, right after the `{`.
/// - `model` is written as a JSON string: `"` and `\` are escaped, and so
///   are control characters; everything else is written as it is.
///
/// The output is as long as the input, less the old values, plus the new
/// ones (or plus the inserted member).
///
/// # Errors
///
/// [`SetModelError`] if `json` is not a JSON object (an array, a string…),
/// is malformed, or is truncated. Whitespace around the object is allowed,
/// anything else after it is not.
///
/// ```
/// use tower_failover::llm::model::set_model;
///
/// let body = b"{\n  \"model\": \"gpt-4o\",\n  \"n\": 1e3\n}";
/// assert_eq!(set_model(body, "o3\"mini").unwrap(), b"{\n  \"model\": \"o3\\\"mini\",\n  \"n\": 1e3\n}");
/// assert_eq!(set_model(b"{ }", "m").unwrap(), br#"{"model":"m" }"#);
/// assert_eq!(set_model(br#"{"a":1}"#, "m").unwrap(), br#"{"model":"m","a":1}"#);
/// assert_eq!(set_model(br#"{"a":"#, "m").unwrap_err().to_string(), "truncated json");
/// ```
pub fn set_model(json: &[u8], model: &str) -> Result<Vec<u8>, SetModelError> {
    let found = scan(json)?;
    let new = string_len(model);
    if found.models.is_empty() {
        const KEY: &[u8] = b"\"model\":";
        let mut out = Vec::with_capacity(json.len() + KEY.len() + new + 1);
        out.extend_from_slice(&json[..found.open]);
        out.extend_from_slice(KEY);
        write_string(&mut out, model);
        if !found.empty {
            out.push(b',');
        }
        out.extend_from_slice(&json[found.open..]);
        return Ok(out);
    }
    let old: usize = found.models.iter().map(|range| range.len()).sum();
    let mut out = Vec::with_capacity(json.len() - old + new * found.models.len());
    let mut copied = 0;
    for range in &found.models {
        out.extend_from_slice(&json[copied..range.start]);
        write_string(&mut out, model);
        copied = range.end;
    }
    out.extend_from_slice(&json[copied..]);
    Ok(out)
}

/// Why [`set_model`] could not set the model: the body is not a JSON
/// object, or is malformed or truncated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetModelError {
    kind: ErrorKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ErrorKind {
    NotObject,
    Malformed { at: usize },
    Truncated,
}

impl SetModelError {
    fn not_object() -> Self {
        Self {
            kind: ErrorKind::NotObject,
        }
    }

    fn malformed(at: usize) -> Self {
        Self {
            kind: ErrorKind::Malformed { at },
        }
    }

    fn truncated() -> Self {
        Self {
            kind: ErrorKind::Truncated,
        }
    }

    /// The byte offset where the JSON stops being well formed, if it is
    /// malformed (not merely truncated, or not an object).
    pub fn offset(&self) -> Option<usize> {
        match self.kind {
            ErrorKind::Malformed { at } => Some(at),
            ErrorKind::NotObject | ErrorKind::Truncated => None,
        }
    }
}

impl fmt::Display for SetModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ErrorKind::NotObject => f.write_str("json is not an object"),
            ErrorKind::Malformed { at } => write!(f, "malformed json at byte {at}"),
            ErrorKind::Truncated => f.write_str("truncated json"),
        }
    }
}

impl std::error::Error for SetModelError {}
