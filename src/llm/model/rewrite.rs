use std::sync::Arc;

use bytes::Bytes;

use super::set_model;

/// A request body whose bytes can be read and replaced, so that
/// [`rewrite_model`] can set the model in it.
///
/// Implemented for the in-memory bodies `bytes::Bytes`, `Vec<u8>`, `String`
/// and, with the `retry` feature, a fully buffered
/// [`ReplayBody`](crate::retry::ReplayBody). Implement it for your own body
/// type if it keeps its bytes in memory.
pub trait JsonBody {
    /// The whole body, or `None` if it is not in memory (a stream).
    fn json_bytes(&self) -> Option<&[u8]>;

    /// Replaces the body with `json`. Returns `false`, leaving the body as
    /// it was, if this body cannot hold `json` (a `String` and bytes that
    /// are not UTF-8, a stream).
    fn set_json(&mut self, json: Vec<u8>) -> bool;
}

impl JsonBody for Bytes {
    fn json_bytes(&self) -> Option<&[u8]> {
        Some(self)
    }

    fn set_json(&mut self, json: Vec<u8>) -> bool {
        *self = Bytes::from(json);
        true
    }
}

impl JsonBody for Vec<u8> {
    fn json_bytes(&self) -> Option<&[u8]> {
        Some(self)
    }

    fn set_json(&mut self, json: Vec<u8>) -> bool {
        *self = json;
        true
    }
}

impl JsonBody for String {
    fn json_bytes(&self) -> Option<&[u8]> {
        Some(self.as_bytes())
    }

    fn set_json(&mut self, json: Vec<u8>) -> bool {
        match String::from_utf8(json) {
            Ok(json) => {
                *self = json;
                true
            }
            Err(_) => false,
        }
    }
}

#[cfg(feature = "retry")]
impl<B> JsonBody for crate::retry::ReplayBody<B> {
    fn json_bytes(&self) -> Option<&[u8]> {
        self.buffered_bytes()
    }

    fn set_json(&mut self, json: Vec<u8>) -> bool {
        self.set_buffered_bytes(Bytes::from(json))
    }
}

/// A request rewrite for [`Tier::rewrite`](crate::fallback::Tier::rewrite)
/// that sets the top-level `model` of the request's JSON body to `model`
/// (see [`set_model`]), and updates the `content-length` header if the
/// request has one.
///
/// If the body cannot be rewritten (it is not a JSON object, is malformed,
/// or is a stream not in memory), the request is left as it was and a
/// `tracing` warning is emitted (`layer = "fallback"`,
/// `outcome = "rewrite_failed"`, `reason`, `model`): the tier then sends the
/// original model, and whatever its upstream answers is classified as
/// usual. The tier is not skipped, because an upstream may well accept the
/// original model; guard it with [`Tier::guard`](crate::fallback::Tier::guard)
/// and [`model_of`](super::model_of) if it must not see it.
///
/// The rewrite copies the body once (a few hundred bytes to a few
/// megabytes for a long prompt), only when the tier is tried.
///
/// See the [module docs](super) for an example.
pub fn rewrite_model<B>(
    model: impl Into<Arc<str>>,
) -> impl Fn(&mut http::Request<B>) + Clone + Send + Sync + 'static
where
    B: JsonBody + 'static,
{
    let model: Arc<str> = model.into();
    move |request: &mut http::Request<B>| {
        let reason = match request
            .body()
            .json_bytes()
            .map(|json| set_model(json, &model))
        {
            None => "body not in memory".to_owned(),
            Some(Err(error)) => error.to_string(),
            Some(Ok(json)) => {
                let length = json.len();
                if !request.body_mut().set_json(json) {
                    "body cannot hold the rewritten json".to_owned()
                } else {
                    if let Some(header) =
                        request.headers_mut().get_mut(http::header::CONTENT_LENGTH)
                    {
                        *header = http::HeaderValue::from(length);
                    }
                    return;
                }
            }
        };
        tracing::warn!(
            layer = "fallback",
            outcome = "rewrite_failed",
            reason = %reason,
            model = %model,
            "the request keeps its original model"
        );
    }
}
