//! The SSE guard against scripted streaming upstreams, in paused time, and
//! the `EventReader` on the specification's examples and on fuzzed input.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use proptest::prelude::*;
use tokio::time::{Instant, Sleep};
use tower::{Layer, Service, ServiceExt};
use tower_failover::BoxError;
use tower_failover::classify::{Classify, DefaultClassifier, FailureKind, Outcome, classify_error};
use tower_failover::deadline::{Deadline, DeadlineExceeded};
use tower_failover::fallback::{FallbackLayer, ServedBy, Tier};
use tower_failover::llm::sse::{
    Event, EventReader, SseBody, SseGuard, SseGuardLayer, StreamEnded, StreamErrorEvent,
    StreamTimedOut,
};
use tower_failover::retry::HttpReplay;

use crate::support::poll_once;

const ANTHROPIC_OVERLOADED: &str = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";

// ---------------------------------------------------------------------------
// A scripted streaming upstream.

/// How a scripted body ends after its chunks.
#[derive(Clone, Copy, Debug)]
enum End {
    Clean,
    Reset,
    Hang,
}

/// One scripted response: status, content type, when the headers come,
/// then chunks each after a delay, then the end.
#[derive(Clone, Debug)]
struct Script {
    status: u16,
    content_type: Option<&'static str>,
    headers_after: Duration,
    chunks: Vec<(Duration, Bytes)>,
    end: End,
}

impl Script {
    fn sse() -> Self {
        Self {
            status: 200,
            content_type: Some("text/event-stream"),
            headers_after: Duration::ZERO,
            chunks: Vec::new(),
            end: End::Clean,
        }
    }

    fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    fn content_type(mut self, content_type: Option<&'static str>) -> Self {
        self.content_type = content_type;
        self
    }

    fn headers_after(mut self, after: Duration) -> Self {
        self.headers_after = after;
        self
    }

    /// A chunk `after` the previous one.
    fn chunk(mut self, after: Duration, bytes: impl Into<Bytes>) -> Self {
        self.chunks.push((after, bytes.into()));
        self
    }

    fn end(mut self, end: End) -> Self {
        self.end = end;
        self
    }

    /// Every byte the body sends.
    fn bytes(&self) -> Vec<u8> {
        self.chunks.iter().flat_map(|(_, c)| c.to_vec()).collect()
    }
}

/// A streaming body that plays a script, counted in `live` while alive.
struct ScriptBody {
    chunks: VecDeque<(Duration, Bytes)>,
    end: End,
    sleep: Option<Pin<Box<Sleep>>>,
    live: Arc<AtomicUsize>,
}

impl Drop for ScriptBody {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Body for ScriptBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        loop {
            if let Some(sleep) = self.sleep.as_mut() {
                ready!(sleep.as_mut().poll(cx));
                self.sleep = None;
                let (_, chunk) = self.chunks.pop_front().expect("a chunk was waited for");
                return Poll::Ready(Some(Ok(Frame::data(chunk))));
            }
            match self.chunks.front() {
                Some((delay, _)) if !delay.is_zero() => {
                    self.sleep = Some(Box::pin(tokio::time::sleep(*delay)));
                }
                Some(_) => {
                    let (_, chunk) = self.chunks.pop_front().unwrap();
                    return Poll::Ready(Some(Ok(Frame::data(chunk))));
                }
                None => {
                    return match self.end {
                        End::Clean => Poll::Ready(None),
                        End::Reset => {
                            self.end = End::Clean;
                            Poll::Ready(Some(Err(io::Error::from(io::ErrorKind::ConnectionReset))))
                        }
                        End::Hang => Poll::Pending,
                    };
                }
            }
        }
    }
}

/// The mock upstream: answers each call with the next script.
#[derive(Clone)]
struct Mock {
    scripts: Arc<Mutex<VecDeque<Script>>>,
    calls: Arc<Mutex<Vec<Instant>>>,
    live: Arc<AtomicUsize>,
    started: Instant,
}

impl Mock {
    fn new(scripts: impl IntoIterator<Item = Script>) -> Self {
        Self {
            scripts: Arc::new(Mutex::new(scripts.into_iter().collect())),
            calls: Arc::default(),
            live: Arc::default(),
            started: Instant::now(),
        }
    }

    /// When each call started, relative to the mock's creation.
    fn call_offsets(&self) -> Vec<Duration> {
        let calls = self.calls.lock().unwrap();
        calls.iter().map(|at| *at - self.started).collect()
    }

    /// Bodies handed out and not yet dropped.
    fn live_bodies(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }
}

impl Service<http::Request<String>> for Mock {
    type Response = http::Response<ScriptBody>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<String>) -> Self::Future {
        self.calls.lock().unwrap().push(Instant::now());
        let script = self
            .scripts
            .lock()
            .unwrap()
            .pop_front()
            .expect("the mock was called more often than scripted");
        let live = self.live.clone();
        Box::pin(async move {
            tokio::time::sleep(script.headers_after).await;
            let mut response = http::Response::builder().status(script.status);
            if let Some(content_type) = script.content_type {
                response = response.header("content-type", content_type);
            }
            live.fetch_add(1, Ordering::SeqCst);
            let body = ScriptBody {
                chunks: script.chunks.into(),
                end: script.end,
                sleep: None,
                live,
            };
            Ok(response.body(body)?)
        })
    }
}

type Res = http::Response<SseBody<ScriptBody>>;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn guard(first_event: Option<u64>, idle: Option<u64>) -> SseGuardLayer {
    let mut builder = SseGuardLayer::builder();
    if let Some(first_event) = first_event {
        builder = builder.first_event_timeout(secs(first_event));
    }
    if let Some(idle) = idle {
        builder = builder.idle_timeout(secs(idle));
    }
    builder.build().unwrap()
}

fn request() -> http::Request<String> {
    http::Request::new(String::from("{\"model\":\"claude\",\"stream\":true}"))
}

/// Reads a body to its end: every byte, and the error it ended with, if any.
/// A body that failed must end right after its error.
async fn read_all<B>(body: B) -> (Vec<u8>, Option<BoxError>)
where
    B: Body<Data = Bytes, Error = BoxError>,
{
    let mut body = std::pin::pin!(body);
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => bytes.extend_from_slice(&frame.into_data().unwrap()),
            Err(error) => {
                assert!(body.frame().await.is_none(), "the body ends after an error");
                return (bytes, Some(error));
            }
        }
    }
    (bytes, None)
}

/// `n` OpenAI-style delta events.
fn deltas(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("data: {{\"choices\":[{{\"delta\":{{\"content\":\"t{i}\"}}}}]}}\n\n"))
        .collect()
}

fn kind_of(error: &BoxError) -> FailureKind {
    classify_error(error.as_ref()).kind()
}

// ---------------------------------------------------------------------------
// Must-show: fallback before the commit, no fallback after it.

#[tokio::test(start_paused = true)]
async fn fallback_moves_on_when_tier_1_sends_no_event_before_the_first_event_timeout() {
    let start = Instant::now();
    // Tier 1 answers 200 at once, then only keep-alive comments.
    let mut silent = Script::sse();
    for _ in 0..20 {
        silent = silent.chunk(secs(1), ": OPENROUTER PROCESSING\n\n");
    }
    let tier_1 = Mock::new([silent.end(End::Hang)]);
    let served = Script::sse()
        .chunk(Duration::ZERO, deltas(1).concat())
        .chunk(secs(1), deltas(2)[1].clone())
        .chunk(Duration::ZERO, "data: [DONE]\n\n");
    let expected = served.bytes();
    let tier_2 = Mock::new([served]);

    let layer = guard(Some(5), Some(30));
    let fallback = FallbackLayer::builder("tier-1")
        .replay(HttpReplay)
        .tier(Tier::new("tier-2", layer.layer(tier_2.clone())))
        .build()
        .unwrap();
    let service = fallback.layer(layer.layer(tier_1.clone()));

    let response: Res = service.oneshot(request()).await.unwrap();
    let served_by = response.extensions().get::<ServedBy>().unwrap();
    assert_eq!((served_by.tier(), served_by.name()), (2, "tier-2"));
    // The switch happened exactly at the first-event timeout.
    assert_eq!(tier_2.call_offsets(), [secs(5)]);
    assert_eq!(Instant::now() - start, secs(5));
    assert_eq!(tier_1.live_bodies(), 0, "tier 1's stream was dropped");

    let (bytes, error) = read_all(response.into_body()).await;
    assert!(error.is_none());
    assert_eq!(bytes, expected, "tier 2's bytes, exactly");
}

#[tokio::test(start_paused = true)]
async fn an_error_event_after_a_200_is_classified_overloaded_and_falls_back() {
    let tier_1 = Mock::new([Script::sse()
        .chunk(Duration::ZERO, ": ping\n\n")
        .chunk(secs(1), ANTHROPIC_OVERLOADED)
        .end(End::Hang)]);
    let served = Script::sse().chunk(secs(1), deltas(3).concat());
    let expected = served.bytes();
    let tier_2 = Mock::new([served]);

    let kinds = Arc::new(Mutex::new(Vec::new()));
    let recorded = kinds.clone();
    let classifier = move |result: &Result<Res, BoxError>| {
        let outcome = DefaultClassifier.classify(result);
        if let Outcome::Failure(failure) = &outcome {
            recorded.lock().unwrap().push(failure.kind());
        }
        outcome
    };
    let layer = guard(Some(10), None);
    let service = FallbackLayer::builder("anthropic")
        .replay(HttpReplay)
        .classifier(classifier)
        .tier(Tier::new("openai", layer.layer(tier_2.clone())))
        .build()
        .unwrap()
        .layer(layer.layer(tier_1.clone()));

    let response = service.oneshot(request()).await.unwrap();
    let served_by = response.extensions().get::<ServedBy>().unwrap();
    assert_eq!((served_by.tier(), served_by.name()), (2, "openai"));
    assert_eq!(tier_2.call_offsets(), [secs(1)], "at the error event");
    assert_eq!(tier_1.live_bodies(), 0);
    assert_eq!(*kinds.lock().unwrap(), [FailureKind::Overloaded]);
    let (bytes, error) = read_all(response.into_body()).await;
    assert!(error.is_none());
    assert_eq!(bytes, expected);

    // The guard's own error says what the event was.
    let direct = Mock::new([Script::sse().chunk(Duration::ZERO, ANTHROPIC_OVERLOADED)]);
    let error = layer.layer(direct).oneshot(request()).await.unwrap_err();
    let event = error.downcast_ref::<StreamErrorEvent>().unwrap();
    assert_eq!(event.event_type(), "error");
    assert!(event.data().contains("overloaded_error"));
    assert_eq!(kind_of(&error), FailureKind::Overloaded);
}

/// Tier 1 commits, sends three events, then fails with `end`: the caller
/// gets the three events' bytes, then an error; tier 2 is never called.
async fn fails_after_three_events(end: End, idle: u64) -> (BoxError, Mock) {
    let mut script = Script::sse();
    for event in deltas(3) {
        script = script.chunk(secs(1), event);
    }
    let expected = script.bytes();
    let tier_1 = Mock::new([script.end(end)]);
    let tier_2 = Mock::new([Script::sse().chunk(Duration::ZERO, deltas(1).concat())]);
    let layer = guard(Some(5), Some(idle));
    let service = FallbackLayer::builder("tier-1")
        .replay(HttpReplay)
        .tier(Tier::new("tier-2", layer.layer(tier_2.clone())))
        .build()
        .unwrap()
        .layer(layer.layer(tier_1.clone()));

    let response = service.oneshot(request()).await.unwrap();
    assert_eq!(response.extensions().get::<ServedBy>().unwrap().tier(), 1);
    let (bytes, error) = read_all(response.into_body()).await;
    assert_eq!(bytes, expected, "the three events, byte for byte");
    let error = error.expect("an error, not a clean end");
    assert!(tier_2.call_offsets().is_empty(), "no fallback after commit");
    assert_eq!(tier_1.live_bodies(), 0, "the inner body is dropped");
    (error, tier_1)
}

#[tokio::test(start_paused = true)]
async fn a_transport_error_after_three_events_ends_the_body_with_that_error() {
    let (error, _) = fails_after_three_events(End::Reset, 30).await;
    let io = error
        .downcast_ref::<io::Error>()
        .expect("the io::Error itself");
    assert_eq!(io.kind(), io::ErrorKind::ConnectionReset);
}

#[tokio::test(start_paused = true)]
async fn going_idle_after_three_events_ends_the_body_with_a_timeout() {
    let start = Instant::now();
    let (error, _) = fails_after_three_events(End::Hang, 10).await;
    let timed_out = error.downcast_ref::<StreamTimedOut>().unwrap();
    assert!(!timed_out.is_first_event());
    assert_eq!(timed_out.timeout(), secs(10));
    // The third event ended at 3 s: idle until 13 s.
    assert_eq!(Instant::now() - start, secs(13));
    assert_eq!(kind_of(&error), FailureKind::Timeout);
}

// ---------------------------------------------------------------------------
// Before the first event.

#[tokio::test(start_paused = true)]
async fn comments_and_blocks_without_data_do_not_commit_nor_stop_the_timer() {
    let start = Instant::now();
    let mut script = Script::sse().chunk(Duration::ZERO, "event: ping\n\n");
    for _ in 0..10 {
        script = script.chunk(secs(1), ": keep-alive\n\n");
    }
    let upstream = Mock::new([script.end(End::Hang)]);
    // `call` starts the timer (the mock is always ready).
    let mut future = Box::pin(guard(Some(3), None).layer(upstream.clone()).call(request()));
    tokio::time::sleep(secs(2)).await;
    assert!(
        poll_once(&mut future).await.is_none(),
        "not committed at 2 s"
    );
    assert_eq!(upstream.live_bodies(), 1);

    let error = future.await.unwrap_err();
    let timed_out = error.downcast_ref::<StreamTimedOut>().unwrap();
    assert!(timed_out.is_first_event());
    assert_eq!(Instant::now() - start, secs(3));
    assert_eq!(upstream.live_bodies(), 0, "the inner body is dropped");
    assert_eq!(kind_of(&error), FailureKind::Timeout);
}

#[tokio::test(start_paused = true)]
async fn the_first_event_commits_with_every_byte_read_so_far() {
    let start = Instant::now();
    // The first event is split across chunks, CRLF split too, and the
    // chunk that ends it starts the next event.
    let script = Script::sse()
        .chunk(Duration::ZERO, ": OPENROUTER PROCESSING\r\n\r\n")
        .chunk(secs(1), "data: {\"choices\":")
        .chunk(secs(1), "[]}\r")
        .chunk(Duration::ZERO, "\n\r")
        .chunk(Duration::ZERO, "\ndata: {\"cho")
        .chunk(secs(1), "ices\":[]}\r\n\r\ndata: [DONE]\r\n\r\n");
    let expected = script.bytes();
    let upstream = Mock::new([script]);
    let mut future = Box::pin(
        guard(Some(10), Some(10))
            .layer(upstream.clone())
            .call(request()),
    );
    // The comment alone does not commit.
    assert!(poll_once(&mut future).await.is_none(), "no event yet");
    let response = future.await.unwrap();
    assert_eq!(
        Instant::now() - start,
        secs(2),
        "committed at the first event"
    );
    assert!(response.body().is_guarded());
    let (bytes, error) = read_all(response.into_body()).await;
    assert!(error.is_none());
    assert_eq!(bytes, expected);
}

#[tokio::test(start_paused = true)]
async fn the_first_event_timeout_covers_the_wait_for_headers() {
    let upstream = Mock::new([Script::sse()
        .headers_after(secs(60))
        .chunk(Duration::ZERO, deltas(1).concat())]);
    let start = Instant::now();
    let error = guard(Some(4), None)
        .layer(upstream.clone())
        .oneshot(request())
        .await
        .unwrap_err();
    assert!(error.is::<StreamTimedOut>());
    assert_eq!(Instant::now() - start, secs(4));
    assert_eq!(upstream.live_bodies(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_earlier_deadline_clips_the_first_event_timeout() {
    let upstream = Mock::new([Script::sse().end(End::Hang)]);
    let start = Instant::now();
    let service = guard(Some(10), None).layer(upstream);
    let error = Deadline::after(secs(2))
        .scope(service.oneshot(request()))
        .await
        .unwrap_err();
    assert!(error.is::<DeadlineExceeded>(), "{error}");
    assert_eq!(Instant::now() - start, secs(2));
    assert_eq!(kind_of(&error), FailureKind::BudgetExhausted);
}

#[tokio::test(start_paused = true)]
async fn a_clean_end_before_any_event_is_stream_ended() {
    for script in [
        Script::sse(),
        Script::sse().chunk(secs(1), ": ping\n\nevent: ping\n\n"),
        // An incomplete block is never dispatched.
        Script::sse().chunk(secs(1), "data: {\"choices\":[]}\n"),
    ] {
        let upstream = Mock::new([script]);
        let error = guard(Some(10), None)
            .layer(upstream.clone())
            .oneshot(request())
            .await
            .unwrap_err();
        assert!(error.is::<StreamEnded>(), "{error}");
        assert_eq!(kind_of(&error), FailureKind::Transient);
        assert_eq!(upstream.live_bodies(), 0);
    }
}

#[tokio::test(start_paused = true)]
async fn a_transport_error_before_the_first_event_fails_the_call_with_it() {
    let upstream = Mock::new([Script::sse()
        .chunk(Duration::ZERO, ": ping\n\n")
        .end(End::Reset)]);
    let error = guard(None, None)
        .layer(upstream.clone())
        .oneshot(request())
        .await
        .unwrap_err();
    let io = error.downcast_ref::<io::Error>().unwrap();
    assert_eq!(io.kind(), io::ErrorKind::ConnectionReset);
    assert_eq!(upstream.live_bodies(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_openai_error_object_first_is_an_error_event_but_other_json_is_not() {
    let openai = "data: {\"error\":{\"message\":\"Rate limit reached\",\"type\":\"requests\",\"code\":\"rate_limit_exceeded\"}}\n\n";
    let upstream = Mock::new([Script::sse().chunk(Duration::ZERO, openai)]);
    let error = guard(None, None)
        .layer(upstream)
        .oneshot(request())
        .await
        .unwrap_err();
    let event = error.downcast_ref::<StreamErrorEvent>().unwrap();
    assert_eq!(event.event_type(), "message");
    assert!(event.data().starts_with("{\"error\""));

    for first in [
        "data: {\"choices\":[{\"delta\":{\"error\":1}}]}\n\n",
        "data: {\"error\":null}\n\n",
        "data: [\"error\"]\n\n",
        "data: error\n\n",
        "event: message\ndata: {\"type\":\"message_start\"}\n\n",
    ] {
        let upstream = Mock::new([Script::sse().chunk(Duration::ZERO, first)]);
        let response = guard(None, None)
            .layer(upstream)
            .oneshot(request())
            .await
            .unwrap();
        let (bytes, error) = read_all(response.into_body()).await;
        assert!(error.is_none());
        assert_eq!(bytes, first.as_bytes());
    }
}

#[tokio::test(start_paused = true)]
async fn an_oversized_first_event_commits_and_passes_through() {
    let big = format!("event: error\ndata: {}\n\n", "x".repeat(4000));
    let mut script = Script::sse();
    for piece in big.as_bytes().chunks(100) {
        script = script.chunk(Duration::from_millis(10), Bytes::copy_from_slice(piece));
    }
    let expected = script.bytes();
    let layer = SseGuardLayer::builder()
        .max_first_event_bytes(1024)
        .build()
        .unwrap();
    let start = Instant::now();
    let response = layer
        .layer(Mock::new([script]))
        .oneshot(request())
        .await
        .unwrap();
    // Committed once past the bound, unjudged, before the event ended.
    assert!(Instant::now() - start < Duration::from_millis(200));
    let (bytes, error) = read_all(response.into_body()).await;
    assert!(error.is_none());
    assert_eq!(bytes, expected);
}

#[tokio::test(start_paused = true)]
async fn responses_that_are_not_2xx_event_streams_pass_through_untouched() {
    let json = Script::sse()
        .content_type(Some("application/json"))
        .chunk(secs(100), "{\"id\":\"x\"}");
    let failed = Script::sse()
        .status(529)
        .chunk(secs(100), ANTHROPIC_OVERLOADED);
    let untyped = Script::sse()
        .content_type(None)
        .chunk(secs(100), "data: x\n\n");
    for script in [json, failed, untyped] {
        let expected = (script.status, script.bytes());
        let start = Instant::now();
        let response = guard(Some(1), Some(1))
            .layer(Mock::new([script]))
            .oneshot(request())
            .await
            .unwrap();
        assert_eq!(Instant::now(), start, "resolved on the headers");
        assert!(!response.body().is_guarded());
        let status = response.status().as_u16();
        let (bytes, error) = read_all(response.into_body()).await;
        assert!(error.is_none(), "no timer on a pass-through body");
        assert_eq!((status, bytes), expected);
    }

    // Parameters and case do not hide an event stream.
    let upstream = Mock::new([Script::sse()
        .content_type(Some("Text/Event-Stream; charset=utf-8"))
        .chunk(secs(2), "data: x\n\n")]);
    let response = guard(None, None)
        .layer(upstream)
        .oneshot(request())
        .await
        .unwrap();
    assert!(response.body().is_guarded());
}

#[tokio::test(start_paused = true)]
async fn dropping_the_response_future_mid_read_drops_the_inner_body() {
    let upstream = Mock::new([Script::sse()
        .chunk(Duration::ZERO, ": ping\n\n")
        .chunk(secs(5), "data: x\n\n")]);
    let mut future = Box::pin(
        guard(Some(10), None)
            .layer(upstream.clone())
            .call(request()),
    );
    assert!(poll_once(&mut future).await.is_none());
    tokio::time::sleep(secs(1)).await;
    assert!(poll_once(&mut future).await.is_none());
    assert_eq!(upstream.live_bodies(), 1, "reading the body");
    drop(future);
    assert_eq!(upstream.live_bodies(), 0);
}

// ---------------------------------------------------------------------------
// After the commit.

#[tokio::test(start_paused = true)]
async fn pings_keep_a_committed_stream_alive_past_the_idle_timeout() {
    let mut script = Script::sse().chunk(Duration::ZERO, deltas(1).concat());
    for _ in 0..10 {
        // Split across chunks: the block ends with the second piece.
        script = script.chunk(secs(4), ": pi").chunk(secs(4), "ng\n\n");
    }
    let script = script.chunk(secs(1), "data: [DONE]\n\n");
    let expected = script.bytes();
    let start = Instant::now();
    let response = guard(None, Some(9))
        .layer(Mock::new([script]))
        .oneshot(request())
        .await
        .unwrap();
    let (bytes, error) = read_all(response.into_body()).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(bytes, expected);
    assert_eq!(Instant::now() - start, secs(81));
}

#[tokio::test(start_paused = true)]
async fn a_partial_line_does_not_restart_the_idle_timer() {
    let script = Script::sse()
        .chunk(Duration::ZERO, deltas(1).concat())
        .chunk(secs(4), "data: {\"cho")
        .chunk(secs(4), "ices\":[]}")
        .end(End::Hang);
    let start = Instant::now();
    let response = guard(None, Some(6))
        .layer(Mock::new([script]))
        .oneshot(request())
        .await
        .unwrap();
    let (_, error) = read_all(response.into_body()).await;
    assert!(error.unwrap().is::<StreamTimedOut>());
    assert_eq!(Instant::now() - start, secs(6));
}

#[tokio::test(start_paused = true)]
async fn error_events_after_the_commit_are_data() {
    let script = Script::sse()
        .chunk(Duration::ZERO, deltas(1).concat())
        .chunk(secs(1), ANTHROPIC_OVERLOADED);
    let expected = script.bytes();
    let response = guard(Some(5), Some(5))
        .layer(Mock::new([script]))
        .oneshot(request())
        .await
        .unwrap();
    let (bytes, error) = read_all(response.into_body()).await;
    assert!(error.is_none());
    assert_eq!(bytes, expected);
}

// ---------------------------------------------------------------------------
// Settings and accessors.

#[test]
fn invalid_settings_are_rejected_at_build_time() {
    let cases = [
        (
            SseGuardLayer::builder().first_event_timeout(Duration::ZERO),
            "first_event_timeout",
        ),
        (
            SseGuardLayer::builder().idle_timeout(Duration::ZERO),
            "idle_timeout",
        ),
        (
            SseGuardLayer::builder().max_first_event_bytes(0),
            "max_first_event_bytes",
        ),
        (
            SseGuardLayer::builder().max_first_event_bytes(usize::MAX),
            "max_first_event_bytes",
        ),
    ];
    for (builder, field) in cases {
        let error = builder.build().unwrap_err();
        assert_eq!((error.layer(), error.field()), ("sse", field));
    }
    let layer = SseGuardLayer::new();
    assert_eq!(layer.first_event_timeout(), None);
    assert_eq!(layer.idle_timeout(), None);
    assert_eq!(layer.max_first_event_bytes(), 64 * 1024);

    let mut service: SseGuard<u8> = layer.layer(7);
    *service.get_mut() += 1;
    assert_eq!(*service.get_ref(), 8);
    assert_eq!(service.into_inner(), 8);
}

// ---------------------------------------------------------------------------
// The reader.

/// Every event of `input`, fed in one piece.
fn events(input: &[u8]) -> Vec<Event> {
    let mut reader = EventReader::new(1 << 20);
    let mut input = input;
    let mut events = Vec::new();
    while let Some(event) = reader.next_event(&mut input).unwrap() {
        events.push(event);
    }
    assert!(input.is_empty());
    events
}

fn summary(events: &[Event]) -> Vec<(String, String, Option<String>)> {
    events
        .iter()
        .map(|e| {
            (
                e.event_type().to_owned(),
                e.data().to_owned(),
                e.id().map(str::to_owned),
            )
        })
        .collect()
}

#[test]
fn reader_joins_data_lines_with_newlines() {
    let events = events(b"data: YHOO\ndata: +2\ndata: 10\n\n");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data(), "YHOO\n+2\n10");
    assert_eq!(events[0].event_type(), "message");
}

#[test]
fn reader_handles_the_specifications_id_and_space_examples() {
    let events = events(
        b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n",
    );
    let got = summary(&events);
    let want = [
        ("message", "first event", Some("1")),
        ("message", "second event", Some("")),
        ("message", " third event", Some("")),
    ];
    assert_eq!(got.len(), 3);
    for ((t, d, i), (wt, wd, wi)) in got.iter().zip(want) {
        assert_eq!((t.as_str(), d.as_str(), i.as_deref()), (wt, wd, wi));
    }
}

#[test]
fn reader_dispatches_empty_data_and_drops_an_unterminated_block() {
    let events = events(b"data\n\ndata\ndata\n\ndata:");
    let data: Vec<_> = events.iter().map(Event::data).collect();
    assert_eq!(data, ["", "\n"]);
    let same = events_of(b"data:test\n\ndata: test\n\n");
    assert_eq!(same, ["test", "test"]);
}

fn events_of(input: &[u8]) -> Vec<String> {
    events(input).iter().map(|e| e.data().to_owned()).collect()
}

#[test]
fn reader_accepts_cr_lf_and_crlf_line_ends_and_one_leading_bom() {
    let want = ["a", "b", "c"];
    assert_eq!(events_of(b"data: a\r\rdata: b\n\ndata: c\r\n\r\n"), want);
    assert_eq!(events_of(b"\xEF\xBB\xBFdata: a\n\n"), ["a"]);
    // A second BOM is part of the field name: an unknown field.
    assert_eq!(
        events_of(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\ndata: b\n\n"),
        ["b"]
    );
    // A BOM split across chunks, and a CRLF split across chunks.
    let mut reader = EventReader::new(1024);
    let mut got = Vec::new();
    for chunk in [
        &b"\xEF"[..],
        b"\xBB",
        b"\xBFdata: a\r",
        b"\n",
        b"\r",
        b"\ndata: b\n\n",
    ] {
        let mut input = chunk;
        while let Some(event) = reader.next_event(&mut input).unwrap() {
            got.push(event.data().to_owned());
        }
    }
    assert_eq!(got, ["a", "b"]);
}

#[test]
fn reader_reads_event_id_and_retry_fields_by_the_rules() {
    let events = events(
        b"event: delta\nretry: 3000\nid: 7\nunknown: x\ndata: a\n\n\
          event\nretry: 10a\nid: x\0y\ndata: b\n\n\
          event: ping\n\nretry:\ndata:c\n\n",
    );
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].event_type(), "delta");
    assert_eq!(events[0].retry(), Some(Duration::from_secs(3)));
    assert_eq!(events[0].id(), Some("7"));
    // An empty event type is "message"; a NUL id is ignored; bad retry too.
    assert_eq!(events[1].event_type(), "message");
    assert_eq!(events[1].id(), Some("7"));
    assert_eq!(events[1].retry(), None);
    // A block without data only resets the event type.
    assert_eq!(events[2].event_type(), "message");
    assert_eq!(events[2].data(), "c");
}

#[test]
fn reader_decodes_invalid_utf8_lossily() {
    assert_eq!(events_of(b"data: a\xFFb\n\n"), ["a\u{FFFD}b"]);
}

#[test]
fn reader_refuses_a_block_above_its_bound_and_resumes_after_it() {
    let mut reader = EventReader::new(16);
    let mut input = &b"data: 0123456789abcdef\ndata: more\n\ndata: ok\n\n"[..];
    assert_eq!(reader.next_event(&mut input).unwrap_err().max(), 16);
    assert!(reader.buffered() <= 16);
    let event = reader.next_event(&mut input).unwrap().unwrap();
    assert_eq!(event.data(), "ok");
    // Comments are not buffered: any length goes.
    let long_comment = format!(":{}\ndata: ok\n\n", "x".repeat(1000));
    let mut input = long_comment.as_bytes();
    assert_eq!(reader.next_event(&mut input).unwrap().unwrap().data(), "ok");
}

// ---------------------------------------------------------------------------
// Properties and fuzzing.

/// Bytes that look like an event stream often, and like garbage sometimes.
fn sse_bytes() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just(b"data".to_vec()),
        Just(b"event".to_vec()),
        Just(b"id".to_vec()),
        Just(b"retry".to_vec()),
        Just(b":".to_vec()),
        Just(b": ".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\n\n".to_vec()),
        Just(b"\xEF\xBB\xBF".to_vec()),
        Just(b"error".to_vec()),
        Just(b"{\"error\":{}}".to_vec()),
        Just(b"123".to_vec()),
        Just(b"\0".to_vec()),
        prop::collection::vec(any::<u8>(), 1..8),
    ];
    prop::collection::vec(token, 0..60).prop_map(|tokens| tokens.concat())
}

/// `bytes` cut at `cuts` (positions taken modulo the length).
fn chunked(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut cuts: Vec<usize> = cuts
        .iter()
        .map(|c| if bytes.is_empty() { 0 } else { c % bytes.len() })
        .collect();
    cuts.push(0);
    cuts.push(bytes.len());
    cuts.sort_unstable();
    cuts.dedup();
    cuts.windows(2)
        .map(|w| bytes[w[0]..w[1]].to_vec())
        .collect()
}

/// Events and "too large" errors, in order, from feeding `chunks`.
fn read_chunks(chunks: &[Vec<u8>], max: usize) -> Vec<Result<Event, ()>> {
    let mut reader = EventReader::new(max);
    let mut out = Vec::new();
    for chunk in chunks {
        let mut input = &chunk[..];
        loop {
            let before = input.len();
            match reader.next_event(&mut input) {
                Ok(Some(event)) => out.push(Ok(event)),
                Ok(None) => break,
                Err(_) => out.push(Err(())),
            }
            assert!(reader.buffered() <= max, "buffered above the bound");
            assert!(input.len() < before || input.is_empty());
        }
        assert!(input.is_empty());
    }
    out
}

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

proptest! {
    #[test]
    fn reader_yields_the_same_events_whatever_the_chunking(
        bytes in sse_bytes(),
        cuts in prop::collection::vec(any::<usize>(), 0..20),
        max in 0usize..80,
    ) {
        let whole = read_chunks(std::slice::from_ref(&bytes), max);
        let chunks = chunked(&bytes, &cuts);
        prop_assert_eq!(read_chunks(&chunks, max), whole.clone());
        let bytewise: Vec<Vec<u8>> = bytes.iter().map(|&b| vec![b]).collect();
        prop_assert_eq!(read_chunks(&bytewise, max), whole);
    }

    #[test]
    fn reader_never_panics_on_arbitrary_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        cuts in prop::collection::vec(any::<usize>(), 0..10),
        max in 0usize..300,
    ) {
        let chunks = chunked(&bytes, &cuts);
        read_chunks(&chunks, max);
    }

    #[test]
    fn the_guard_delivers_the_upstreams_bytes_exactly(
        events in prop::collection::vec(("[a-z ]{0,12}", any::<bool>(), 0usize..3), 1..8),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let line_end = ["\n", "\r\n", "\r"];
        let mut stream = String::new();
        for (data, comment, end) in &events {
            let end = line_end[*end];
            if *comment {
                stream.push_str(&format!(": keep-alive{end}{end}"));
            }
            stream.push_str(&format!("data: {data}{end}{end}"));
        }
        let mut script = Script::sse().end(End::Clean);
        for chunk in chunked(stream.as_bytes(), &cuts) {
            script = script.chunk(Duration::from_millis(5), chunk);
        }
        let (bytes, error) = paused_runtime().block_on(async move {
            let response = guard(Some(10), Some(10))
                .layer(Mock::new([script]))
                .oneshot(request())
                .await
                .unwrap();
            read_all(response.into_body()).await
        });
        prop_assert!(error.is_none());
        prop_assert_eq!(bytes, stream.into_bytes());
    }

    #[test]
    fn the_guard_survives_arbitrary_streams(
        bytes in sse_bytes(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
        max in 1usize..128,
    ) {
        let mut script = Script::sse().end(End::Clean);
        for chunk in chunked(&bytes, &cuts) {
            script = script.chunk(Duration::from_millis(1), chunk);
        }
        let layer = SseGuardLayer::builder()
            .max_first_event_bytes(max)
            .first_event_timeout(secs(10))
            .build()
            .unwrap();
        let upstream = Mock::new([script]);
        let live = upstream.clone();
        let result = paused_runtime().block_on(async move {
            match layer.layer(upstream).oneshot(request()).await {
                Ok(response) => Ok(read_all(response.into_body()).await),
                Err(error) => Err(error),
            }
        });
        match result {
            Ok((delivered, error)) => {
                prop_assert!(error.is_none());
                prop_assert_eq!(delivered, bytes);
            }
            Err(error) => prop_assert!(
                error.is::<StreamEnded>() || error.is::<StreamErrorEvent>(),
                "unexpected error {}", error
            ),
        }
        prop_assert_eq!(live.live_bodies(), 0);
    }
}
