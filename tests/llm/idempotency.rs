//! IdempotencyLayer and AttemptCountLayer around retry and fallback, in
//! paused time: one key per logical request, calls counted across retries
//! and tiers.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use http::{HeaderName, HeaderValue};
use tower::{Layer, Service, ServiceBuilder, ServiceExt};
use tower_failover::fallback::{FallbackLayer, Tier};
use tower_failover::llm::idempotency::{
    ATTEMPT_COUNT, AttemptCount, AttemptCountLayer, IDEMPOTENCY_KEY, IdempotencyKey,
    IdempotencyLayer,
};
use tower_failover::retry::{RetryLayer, RetryPolicy};

use crate::support::{Upstream, ok, request, status};

type Req = http::Request<String>;

/// What one upstream call saw: the key header, the count header, the key
/// in the extensions, and which upstream it was.
#[derive(Clone, Debug, PartialEq)]
struct Seen {
    upstream: &'static str,
    key: Option<String>,
    count: Option<String>,
    extension: Option<IdempotencyKey>,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// `upstream` behind an [`AttemptCountLayer`], logging what it sees.
fn counted(
    name: &'static str,
    upstream: &Upstream,
    log: &Log,
) -> AttemptCount<tower::util::MapRequest<Upstream, impl Fn(Req) -> Req + Clone + use<>>> {
    let log = log.clone();
    let record = move |request: Req| {
        let header = |name: &HeaderName| {
            request
                .headers()
                .get(name)
                .map(|value| value.to_str().unwrap().to_owned())
        };
        log.lock().unwrap().push(Seen {
            upstream: name,
            key: header(&IDEMPOTENCY_KEY),
            count: header(&ATTEMPT_COUNT),
            extension: request.extensions().get::<IdempotencyKey>().cloned(),
        });
        request
    };
    AttemptCountLayer::new().layer(
        ServiceBuilder::new()
            .map_request(record)
            .service(upstream.clone()),
    )
}

fn is_uuid_v4(key: &str) -> bool {
    let bytes = key.as_bytes();
    key.len() == 36
        && bytes.iter().enumerate().all(|(index, &byte)| match index {
            8 | 13 | 18 | 23 => byte == b'-',
            _ => matches!(byte, b'0'..=b'9' | b'a'..=b'f'),
        })
        && bytes[14] == b'4'
        && matches!(bytes[19], b'8' | b'9' | b'a' | b'b')
}

fn counts(log: &Log) -> Vec<(&'static str, String)> {
    log.lock()
        .unwrap()
        .iter()
        .map(|seen| (seen.upstream, seen.count.clone().unwrap()))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn one_key_and_one_count_across_retries_and_tiers() {
    let log = Log::default();
    let primary = Upstream::new([status(503), status(503), status(503)]);
    let backup = Upstream::new([status(503), ok()]);
    let retry = RetryLayer::new(RetryPolicy::default());
    let fallback = FallbackLayer::builder("primary")
        .tier(Tier::new(
            "backup",
            retry.layer(counted("backup", &backup, &log)),
        ))
        .build()
        .unwrap();
    let mut service = ServiceBuilder::new()
        .layer(IdempotencyLayer::new())
        .layer(fallback)
        .service(retry.layer(counted("primary", &primary, &log)));

    let response = service
        .ready()
        .await
        .unwrap()
        .call(request())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        counts(&log),
        [
            ("primary", "1".to_owned()),
            ("primary", "2".to_owned()),
            ("primary", "3".to_owned()),
            ("backup", "4".to_owned()),
            ("backup", "5".to_owned()),
        ]
    );
    let first = log.lock().unwrap().clone();
    let key = first[0].key.clone().unwrap();
    assert!(is_uuid_v4(&key), "{key}");
    for seen in &first {
        assert_eq!(seen.key.as_deref(), Some(key.as_str()));
        let extension = seen.extension.as_ref().unwrap();
        assert_eq!(extension.as_str(), Some(key.as_str()));
        assert_eq!(extension.as_header_value(), &key);
    }

    // The next logical request: a new key, counted from 1 again.
    log.lock().unwrap().clear();
    let response = service
        .ready()
        .await
        .unwrap()
        .call(request())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let second = log.lock().unwrap().clone();
    assert_eq!(counts(&log)[0], ("primary", "1".to_owned()));
    let second_key = second[0].key.clone().unwrap();
    assert!(is_uuid_v4(&second_key));
    assert_ne!(second_key, key);
    assert!(
        second
            .iter()
            .all(|seen| seen.key.as_deref() == Some(&*second_key))
    );
}

#[tokio::test(start_paused = true)]
async fn a_callers_own_key_is_kept() {
    let log = Log::default();
    let upstream = Upstream::new([status(503), ok()]);
    let service = ServiceBuilder::new()
        .layer(IdempotencyLayer::new())
        .layer(RetryLayer::new(RetryPolicy::default()))
        .service(counted("upstream", &upstream, &log));
    let mut request = request();
    request
        .headers_mut()
        .insert(IDEMPOTENCY_KEY, HeaderValue::from_static("caller-key-1"));
    service.oneshot(request).await.unwrap();
    let seen = log.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    for (index, seen) in seen.iter().enumerate() {
        assert_eq!(seen.key.as_deref(), Some("caller-key-1"));
        assert_eq!(
            seen.extension.as_ref().unwrap().as_str(),
            Some("caller-key-1")
        );
        assert_eq!(seen.count, Some((index + 1).to_string()));
    }
}

#[tokio::test(start_paused = true)]
async fn without_an_idempotency_layer_the_count_is_the_retry_attempt() {
    let log = Log::default();
    let primary = Upstream::new([status(503), status(503), status(503)]);
    let backup = Upstream::new([status(503), ok()]);
    let retry = RetryLayer::new(RetryPolicy::default());
    let fallback = FallbackLayer::builder("primary")
        .tier(Tier::new(
            "backup",
            retry.layer(counted("backup", &backup, &log)),
        ))
        .build()
        .unwrap();
    let service = fallback.layer(retry.layer(counted("primary", &primary, &log)));
    service.oneshot(request()).await.unwrap();
    // Each tier's retry layer counts its own attempts.
    assert_eq!(
        counts(&log),
        [
            ("primary", "1".to_owned()),
            ("primary", "2".to_owned()),
            ("primary", "3".to_owned()),
            ("backup", "1".to_owned()),
            ("backup", "2".to_owned()),
        ]
    );
    assert!(log.lock().unwrap().iter().all(|seen| seen.key.is_none()));

    // No retry layer either: 1.
    log.lock().unwrap().clear();
    let alone = Upstream::new([ok()]);
    counted("alone", &alone, &log)
        .oneshot(request())
        .await
        .unwrap();
    assert_eq!(counts(&log), [("alone", "1".to_owned())]);
}

#[tokio::test(start_paused = true)]
async fn headers_prefixes_and_key_functions_are_configurable() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let echo = {
        let seen = seen.clone();
        tower::service_fn(move |request: Req| {
            seen.lock().unwrap().push(request.headers().clone());
            async { Ok::<_, std::convert::Infallible>(http::Response::new(String::new())) }
        })
    };
    let key = HeaderName::from_static("x-request-key");
    let count = HeaderName::from_static("x-stainless-retry-count");
    let prefixed = ServiceBuilder::new()
        .layer(
            IdempotencyLayer::new()
                .header(key.clone())
                .prefix(HeaderValue::from_static("gw-")),
        )
        .layer(AttemptCountLayer::new().header(count.clone()).from_zero())
        .service(echo.clone());
    prefixed.oneshot(request()).await.unwrap();
    {
        let headers = &seen.lock().unwrap()[0];
        let value = headers[&key].to_str().unwrap();
        assert!(
            value.starts_with("gw-") && is_uuid_v4(&value[3..]),
            "{value}"
        );
        assert_eq!(headers[&count], "0");
        assert!(headers.get(IDEMPOTENCY_KEY).is_none());
        assert!(headers.get(ATTEMPT_COUNT).is_none());
    }

    let custom = ServiceBuilder::new()
        .layer(IdempotencyLayer::new().key_fn(|| HeaderValue::from_static("fixed")))
        .service(echo);
    custom.oneshot(request()).await.unwrap();
    assert_eq!(seen.lock().unwrap()[1][IDEMPOTENCY_KEY], "fixed");
}

#[test]
fn random_keys_are_uuid_v4_shaped_and_distinct() {
    let mut keys = HashSet::new();
    for _ in 0..20_000 {
        let key = IdempotencyKey::random();
        let text = key.as_str().unwrap().to_owned();
        assert!(is_uuid_v4(&text), "{text}");
        assert!(keys.insert(text));
    }
    // Other threads draw other keys.
    let others: Vec<String> = std::thread::spawn(|| {
        (0..1000)
            .map(|_| IdempotencyKey::random().as_str().unwrap().to_owned())
            .collect()
    })
    .join()
    .unwrap();
    assert!(others.iter().all(|key| !keys.contains(key)));
    // Every hex digit that is not fixed takes many values.
    let positions: HashSet<char> = keys
        .iter()
        .map(|key| key.chars().nth(19).unwrap())
        .collect();
    assert_eq!(positions.len(), 4);
}

#[test]
fn services_expose_their_inner_service() {
    let mut service = IdempotencyLayer::default().layer(7u8);
    assert_eq!(*service.get_ref(), 7);
    *service.get_mut() = 8;
    assert_eq!(service.clone().into_inner(), 8);
    assert!(format!("{service:?}").contains("idempotency-key"));

    let mut service = AttemptCountLayer::default().layer(7u8);
    assert_eq!(*service.get_ref(), 7);
    *service.get_mut() = 8;
    assert_eq!(service.clone().into_inner(), 8);
    assert!(format!("{service:?}").contains("x-attempt-count"));
    let custom = IdempotencyLayer::new().key_fn(|| HeaderValue::from_static("k"));
    assert!(format!("{custom:?}").contains("Custom"));
}
