//! A mock LLM provider with seeded random faults, and the counters that
//! prove every call it started has ended.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::Frame;
use tokio::time::Sleep;
use tower::Service;

/// SplitMix64: small, seeded, good enough to draw faults.
#[derive(Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with probability `percent` / 100.
    pub(crate) fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub(crate) fn millis(&mut self, max: u64) -> Duration {
        Duration::from_millis(self.below(max + 1))
    }
}

/// Live things the upstream handed out: call futures and response bodies.
/// Both must be zero once every caller is done.
#[derive(Debug, Default)]
pub(crate) struct Live {
    pub(crate) calls: AtomicUsize,
    pub(crate) bodies: AtomicUsize,
    pub(crate) started: AtomicUsize,
}

/// Decrements its counter when dropped, however the owner ended.
struct Guard(Arc<Live>, fn(&Live) -> &AtomicUsize);

impl Guard {
    fn new(live: &Arc<Live>, counter: fn(&Live) -> &AtomicUsize) -> Self {
        counter(live).fetch_add(1, Ordering::SeqCst);
        Self(live.clone(), counter)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        (self.1)(&self.0).fetch_sub(1, Ordering::SeqCst);
    }
}

/// One piece of a scripted body.
#[derive(Debug)]
enum Part {
    Data(&'static str),
    Wait(Duration),
    /// Never yields again.
    Stall,
    /// A transport error.
    Cut,
}

/// A body that plays its parts in order, waiting in paused time.
pub(crate) struct MockBody {
    parts: VecDeque<Part>,
    sleep: Option<Pin<Box<Sleep>>>,
    _live: Guard,
}

impl std::fmt::Debug for MockBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockBody")
            .field("parts", &self.parts)
            .finish()
    }
}

impl http_body::Body for MockBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        loop {
            if let Some(sleep) = self.sleep.as_mut() {
                std::task::ready!(sleep.as_mut().poll(cx));
                self.sleep = None;
            }
            match self.parts.pop_front() {
                None => return Poll::Ready(None),
                Some(Part::Data(data)) => {
                    return Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(data.as_bytes())))));
                }
                Some(Part::Wait(wait)) => self.sleep = Some(Box::pin(tokio::time::sleep(wait))),
                Some(Part::Stall) => {
                    self.parts.push_front(Part::Stall);
                    return Poll::Pending;
                }
                Some(Part::Cut) => {
                    return Poll::Ready(Some(Err(io::Error::from(io::ErrorKind::ConnectionReset))));
                }
            }
        }
    }
}

/// What one call does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Fault {
    Ok,
    Stream,
    ServiceUnavailable,
    RateLimited,
    Quota,
    Overloaded,
    Hang,
    Transport,
    BadRequest,
    StreamError,
    StreamStalls,
    StreamStallsLater,
    StreamEndsEarly,
    StreamCut,
}

/// The weighted table faults are drawn from (weights sum to 100).
const FAULTS: [(u64, Fault); 14] = [
    (55, Fault::Ok),
    (8, Fault::Stream),
    (7, Fault::ServiceUnavailable),
    (5, Fault::RateLimited),
    (1, Fault::Quota),
    (3, Fault::Overloaded),
    (4, Fault::Hang),
    (5, Fault::Transport),
    (3, Fault::BadRequest),
    (3, Fault::StreamError),
    (2, Fault::StreamStalls),
    (2, Fault::StreamStallsLater),
    (1, Fault::StreamEndsEarly),
    (1, Fault::StreamCut),
];

const OK_BODY: &str = r#"{"id":"chatcmpl-1","choices":[{"message":{"content":"hi"}}]}"#;
const QUOTA_BODY: &str = r#"{"error": {"message": "You exceeded your current quota, please check your plan and billing details.", "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}}"#;
const RATE_LIMIT_BODY: &str = r#"{"error": {"message": "Rate limit reached for requests", "type": "requests", "param": null, "code": "rate_limit_exceeded"}}"#;
const OVERLOADED_BODY: &str =
    r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
const BAD_REQUEST_BODY: &str = r#"{"error": {"message": "Invalid 'messages': empty array.", "type": "invalid_request_error", "param": "messages", "code": "invalid_value"}}"#;
const STREAM_ERROR: &str = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";

/// The mock provider: each call draws a fault and a latency from the shared
/// seeded generator. While `down` is set, every call fails to connect.
#[derive(Clone, Debug)]
pub(crate) struct Provider {
    rng: Arc<Mutex<Rng>>,
    pub(crate) live: Arc<Live>,
    pub(crate) down: Arc<AtomicBool>,
    pub(crate) healthy: Arc<AtomicBool>,
    pub(crate) seen: Arc<Mutex<std::collections::HashMap<Fault, u64>>>,
}

impl Provider {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            rng: Arc::new(Mutex::new(Rng::new(seed))),
            live: Arc::default(),
            down: Arc::default(),
            healthy: Arc::default(),
            seen: Arc::default(),
        }
    }

    fn draw(&self) -> (Fault, Duration, Duration) {
        let mut rng = self.rng.lock().unwrap();
        let latency = rng.millis(300);
        let hint = Duration::from_secs(1 + rng.below(3));
        if self.healthy.load(Ordering::SeqCst) {
            return (Fault::Ok, latency, hint);
        }
        if self.down.load(Ordering::SeqCst) {
            return (Fault::Transport, latency, hint);
        }
        let mut pick = rng.below(100);
        for (weight, fault) in FAULTS {
            if pick < weight {
                return (fault, latency, hint);
            }
            pick -= weight;
        }
        unreachable!("the weights sum to 100")
    }
}

type Response = http::Response<MockBody>;

fn response(
    live: &Arc<Live>,
    status: u16,
    headers: &[(&'static str, String)],
    parts: Vec<Part>,
) -> Response {
    let body = MockBody {
        parts: parts.into(),
        sleep: None,
        _live: Guard::new(live, |live| &live.bodies),
    };
    let mut response = http::Response::new(body);
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
    for (name, value) in headers {
        response
            .headers_mut()
            .insert(*name, http::HeaderValue::from_str(value).unwrap());
    }
    response
}

fn sse() -> (&'static str, String) {
    ("content-type", "text/event-stream".to_owned())
}

impl Service<http::Request<String>> for Provider {
    type Response = Response;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, io::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<String>) -> Self::Future {
        let (fault, latency, hint) = self.draw();
        *self.seen.lock().unwrap().entry(fault).or_default() += 1;
        self.live.started.fetch_add(1, Ordering::SeqCst);
        let guard = Guard::new(&self.live, |live| &live.calls);
        let live = self.live.clone();
        Box::pin(async move {
            let _guard = guard;
            tokio::time::sleep(latency).await;
            let json = || ("content-type", "application/json".to_owned());
            Ok(match fault {
                Fault::Ok => response(&live, 200, &[json()], vec![Part::Data(OK_BODY)]),
                Fault::Stream => response(
                    &live,
                    200,
                    &[sse()],
                    vec![
                        Part::Data(": keep-alive\n\n"),
                        Part::Wait(Duration::from_millis(50)),
                        Part::Data("data: {\"delta\":\"Hel\"}\n\n"),
                        Part::Wait(Duration::from_millis(50)),
                        Part::Data("data: {\"delta\":\"lo\"}\n\ndata: [DONE]\n\n"),
                    ],
                ),
                Fault::ServiceUnavailable => response(&live, 503, &[], vec![]),
                Fault::RateLimited => response(
                    &live,
                    429,
                    &[json(), ("retry-after", hint.as_secs().to_string())],
                    vec![Part::Data(RATE_LIMIT_BODY)],
                ),
                Fault::Quota => response(&live, 429, &[json()], vec![Part::Data(QUOTA_BODY)]),
                Fault::Overloaded => {
                    response(&live, 529, &[json()], vec![Part::Data(OVERLOADED_BODY)])
                }
                Fault::Hang => match std::future::pending::<Infallible>().await {},
                Fault::Transport => return Err(io::Error::from(io::ErrorKind::ConnectionReset)),
                Fault::BadRequest => {
                    response(&live, 400, &[json()], vec![Part::Data(BAD_REQUEST_BODY)])
                }
                Fault::StreamError => {
                    response(&live, 200, &[sse()], vec![Part::Data(STREAM_ERROR)])
                }
                Fault::StreamStalls => response(
                    &live,
                    200,
                    &[sse()],
                    vec![Part::Data(": processing\n\n"), Part::Stall],
                ),
                Fault::StreamStallsLater => response(
                    &live,
                    200,
                    &[sse()],
                    vec![Part::Data("data: {\"delta\":\"Hel\"}\n\n"), Part::Stall],
                ),
                Fault::StreamEndsEarly => {
                    response(&live, 200, &[sse()], vec![Part::Data(": processing\n\n")])
                }
                Fault::StreamCut => response(
                    &live,
                    200,
                    &[sse()],
                    vec![Part::Data(": processing\n\n"), Part::Cut],
                ),
            })
        })
    }
}
