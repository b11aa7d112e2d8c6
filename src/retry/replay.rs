use super::Attempt;

/// How [`Retry`](super::Retry) gets a copy of a request to send again.
///
/// The retry layer keeps one copy of each request beside the one it sends,
/// and makes a fresh copy from it before every attempt that may be followed
/// by another. A request that cannot be copied (`replay` returns `None`) is
/// sent once and never retried; the retry layer says so in an event.
///
/// - [`CloneReplay`] (the default) clones `Clone` requests.
/// - Any `Fn(&Req) -> Option<Req>` is a replay, e.g.
///   `|r: &MyRequest| r.try_clone()` for requests that are only sometimes
///   copyable.
/// - [`TryCloneReplay`] (with the `reqwest` feature) replays
///   `reqwest::Request` with `try_clone`; a request whose body is a stream
///   does not clone, so it is sent once.
/// - [`HttpReplay`] clones `http::Request<B>` with a `Clone` body and stamps
///   the [`Attempt`] into each copy's extensions.
/// - [`ReplayBodyLayer`](super::ReplayBodyLayer) makes `http::Request<B>`
///   with a streaming body replayable by buffering it, up to a limit.
pub trait Replay<Req> {
    /// A copy of `request` to send in a later attempt, or `None` if it
    /// cannot be copied.
    fn replay(&self, request: &Req) -> Option<Req>;

    /// Called on each request just before attempt `attempt` sends it (the
    /// first included). Does nothing unless overridden.
    #[inline]
    fn prepare(&self, request: &mut Req, attempt: Attempt) {
        let _ = (request, attempt);
    }
}

/// Replays requests by cloning them. The default.
#[derive(Clone, Copy, Debug, Default)]
pub struct CloneReplay;

impl<Req: Clone> Replay<Req> for CloneReplay {
    #[inline]
    fn replay(&self, request: &Req) -> Option<Req> {
        Some(request.clone())
    }
}

impl<F, Req> Replay<Req> for F
where
    F: Fn(&Req) -> Option<Req>,
{
    #[inline]
    fn replay(&self, request: &Req) -> Option<Req> {
        self(request)
    }
}

/// Replays `http::Request<B>` with a `Clone` body, and records the
/// [`Attempt`] in each request's extensions, so that inner services across a
/// task boundary (or the client's own code) can read it.
///
/// ```
/// use tower_failover::retry::{Attempt, HttpReplay, Replay};
///
/// let request = http::Request::new(String::from("{}"));
/// let mut copy = HttpReplay.replay(&request).unwrap();
/// HttpReplay.prepare(&mut copy, Attempt::FIRST.next());
/// assert_eq!(copy.extensions().get::<Attempt>().map(|a| a.number()), Some(2));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct HttpReplay;

impl<B: Clone> Replay<http::Request<B>> for HttpReplay {
    #[inline]
    fn replay(&self, request: &http::Request<B>) -> Option<http::Request<B>> {
        Some(request.clone())
    }

    #[inline]
    fn prepare(&self, request: &mut http::Request<B>, attempt: Attempt) {
        request.extensions_mut().insert(attempt);
    }
}

/// Replays `reqwest::Request` with [`try_clone`](reqwest::Request::try_clone)
/// (the `reqwest` feature): a request with a buffered body is copied, one
/// whose body is a stream cannot be, and is sent once and never retried.
///
/// A named type rather than a closure, so that a stack's type can be
/// written down (`Retry<reqwest::Client, DefaultClassifier, TryCloneReplay>`).
///
/// ```
/// use tower_failover::retry::{Replay, TryCloneReplay};
///
/// let client = reqwest::Client::new();
/// let buffered = client.post("http://127.0.0.1:1/").body("{}").build().unwrap();
/// assert!(TryCloneReplay.replay(&buffered).is_some());
///
/// let stream = tokio_stream::iter([Ok::<_, std::io::Error>("{}")]);
/// let streaming = client
///     .post("http://127.0.0.1:1/")
///     .body(reqwest::Body::wrap_stream(stream))
///     .build()
///     .unwrap();
/// assert!(TryCloneReplay.replay(&streaming).is_none());
/// ```
#[cfg(feature = "reqwest")]
#[derive(Clone, Copy, Debug, Default)]
pub struct TryCloneReplay;

#[cfg(feature = "reqwest")]
impl Replay<reqwest::Request> for TryCloneReplay {
    #[inline]
    fn replay(&self, request: &reqwest::Request) -> Option<reqwest::Request> {
        request.try_clone()
    }
}
