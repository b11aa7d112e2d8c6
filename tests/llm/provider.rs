//! `ProviderError`: recorded-shaped error responses from every provider,
//! classified end to end, edge cases of the parser, and fuzzing.
//!
//! The fixtures are `tests/fixtures/<provider>/<case>.http`: a status line,
//! headers, a blank line and the body, as an upstream sent them. Each one is
//! listed in exactly one table below (a test checks that none is forgotten).
//!
//! Run these tests with
//!
//! ```text
//! cargo test --all-features --test llm provider
//! ```
//!
//! and fuzz longer (the proptests run 512 cases each by default) with
//!
//! ```text
//! PROPTEST_CASES=200000 cargo test --release --all-features --test llm provider::fuzz
//! ```

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use tower_failover::classify::{Classify, DefaultClassifier, FailureKind};
use tower_failover::hint::MAX_HINT;
use tower_failover::llm::{Provider, ProviderError};

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

/// A recorded response: status, headers and body.
#[derive(Debug)]
struct Fixture {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Reads `tests/fixtures/<path>`: `HTTP/1.1 429 Too Many Requests`, header
/// lines, a blank line, then the body as it is (LF or CRLF line ends in the
/// head; a repeated header keeps all its values).
fn fixture(path: &str) -> Result<Fixture, String> {
    let raw = std::fs::read(fixtures_dir().join(path)).map_err(|error| format!("{error}"))?;
    let (head, body) = [&b"\r\n\r\n"[..], b"\n\n"]
        .iter()
        .filter_map(|separator| {
            let at = raw
                .windows(separator.len())
                .position(|window| window == *separator)?;
            Some((&raw[..at], &raw[at + separator.len()..]))
        })
        .min_by_key(|(head, _)| head.len())
        .ok_or("no blank line after the headers")?;
    let head = std::str::from_utf8(head).map_err(|error| format!("{error}"))?;
    let mut lines = head.lines().map(|line| line.trim_end_matches('\r'));
    let status_line = lines.next().ok_or("no status line")?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("bad header line {line:?}"))?;
        headers.append(
            HeaderName::from_bytes(name.trim().as_bytes()).map_err(|error| format!("{error}"))?,
            HeaderValue::from_str(value.trim()).map_err(|error| format!("{error}"))?,
        );
    }
    Ok(Fixture {
        status,
        headers,
        body: body.to_vec(),
    })
}

/// Every fixture file, as a path relative to `tests/fixtures`.
fn all_fixture_files() -> BTreeSet<String> {
    fn walk(dir: &Path, root: &Path, found: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, found);
            } else {
                let relative = path.strip_prefix(root).unwrap();
                found.insert(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let root = fixtures_dir();
    let mut found = BTreeSet::new();
    walk(&root, &root, &mut found);
    found
}

// ---------------------------------------------------------------------------
// The tables
// ---------------------------------------------------------------------------

/// One fixture and what must come of it.
struct Row {
    path: &'static str,
    /// The format `ProviderError::parse` recognises, `None` if not an error
    /// body.
    provider: Option<Provider>,
    /// The kind the default classifier settles on.
    kind: FailureKind,
    /// The classifier's hint (headers first, body second).
    retry_after: Option<Duration>,
    /// `Failure::is_retryable()`.
    retryable: bool,
}

const fn row(
    path: &'static str,
    provider: Option<Provider>,
    kind: FailureKind,
    retry_after: Option<Duration>,
    retryable: bool,
) -> Row {
    Row {
        path,
        provider,
        kind,
        retry_after,
        retryable,
    }
}

use FailureKind::{
    Auth, ContentFiltered, ContextTooLong, Invalid, ModelNotFound, Overloaded, QuotaExhausted,
    RateLimited, Timeout, Transient,
};

const OPENAI: Option<Provider> = Some(Provider::OpenAi);
const ANTHROPIC: Option<Provider> = Some(Provider::Anthropic);
const GEMINI: Option<Provider> = Some(Provider::Gemini);
const OTHER: Option<Provider> = Some(Provider::Other);
const NONE: Option<Provider> = None;

const fn secs(secs: u64) -> Option<Duration> {
    Some(Duration::from_secs(secs))
}

const fn millis(millis: u64) -> Option<Duration> {
    Some(Duration::from_millis(millis))
}

#[rustfmt::skip]
const OPENAI_ROWS: &[Row] = &[
    // Headers win: the tokens limit is the one at 0, reset in 7.812s.
    row("openai/rate_limit_tokens_429.http", OPENAI, RateLimited, millis(7812), true),
    // No headers: "Please try again in 20s." in the message.
    row("openai/rate_limit_requests_body_hint_429.http", OPENAI, RateLimited, secs(20), true),
    row("openai/insufficient_quota_429.http", OPENAI, QuotaExhausted, None, false),
    row("openai/billing_not_active_429.http", OPENAI, QuotaExhausted, None, false),
    row("openai/context_length_exceeded_400.http", OPENAI, ContextTooLong, None, false),
    row("openai/model_not_found_404.http", OPENAI, ModelNotFound, None, false),
    row("openai/invalid_api_key_401.http", OPENAI, Auth, None, false),
    row("openai/server_error_500.http", OPENAI, Transient, None, true),
    row("openai/overloaded_503.http", OPENAI, Overloaded, None, true),
    row("openai/content_policy_violation_400.http", OPENAI, ContentFiltered, None, false),
    // Recognised, but nothing to refine: the status decides.
    row("openai/unsupported_parameter_400.http", OPENAI, Invalid, None, false),
];

#[rustfmt::skip]
const ANTHROPIC_ROWS: &[Row] = &[
    row("anthropic/overloaded_529.http", ANTHROPIC, Overloaded, None, true),
    // `retry-after: 17` wins over the RFC 3339 resets (never read then).
    row("anthropic/rate_limit_429.http", ANTHROPIC, RateLimited, secs(17), true),
    row("anthropic/credit_balance_400.http", ANTHROPIC, QuotaExhausted, None, false),
    row("anthropic/usage_limits_400.http", ANTHROPIC, QuotaExhausted, None, false),
    row("anthropic/prompt_too_long_400.http", ANTHROPIC, ContextTooLong, None, false),
    row("anthropic/billing_error_402.http", ANTHROPIC, QuotaExhausted, None, false),
    row("anthropic/not_found_404.http", ANTHROPIC, ModelNotFound, None, false),
    row("anthropic/authentication_401.http", ANTHROPIC, Auth, None, false),
    row("anthropic/permission_403.http", ANTHROPIC, Auth, None, false),
    row("anthropic/api_error_500.http", ANTHROPIC, Transient, None, true),
    row("anthropic/timeout_504.http", ANTHROPIC, Timeout, None, true),
    row("anthropic/request_too_large_413.http", ANTHROPIC, ContextTooLong, None, false),
    row("anthropic/invalid_request_400.http", ANTHROPIC, Invalid, None, false),
];

#[rustfmt::skip]
const GEMINI_ROWS: &[Row] = &[
    row("gemini/resource_exhausted_per_minute_429.http", GEMINI, RateLimited, secs(13), true),
    // A per-day violation beside a per-minute one: the day is used up.
    row("gemini/resource_exhausted_per_day_429.http", GEMINI, QuotaExhausted, Some(Duration::from_micros(43_217_598)), false),
    // "limit: 0": this tier has no quota for the model; the wait comes from
    // the message ("Please retry in 30.5s.").
    row("gemini/resource_exhausted_zero_limit_429.http", GEMINI, QuotaExhausted, millis(30_500), false),
    row("gemini/resource_exhausted_bare_429.http", GEMINI, RateLimited, None, true),
    row("gemini/stream_array_429.http", GEMINI, RateLimited, millis(500), true),
    row("gemini/unavailable_overloaded_503.http", GEMINI, Overloaded, None, true),
    row("gemini/unavailable_503.http", GEMINI, Transient, None, true),
    row("gemini/internal_500.http", GEMINI, Transient, None, true),
    row("gemini/deadline_exceeded_504.http", GEMINI, Timeout, None, true),
    row("gemini/token_count_400.http", GEMINI, ContextTooLong, None, false),
    row("gemini/invalid_argument_400.http", GEMINI, Invalid, None, false),
    row("gemini/api_key_invalid_400.http", GEMINI, Auth, None, false),
    row("gemini/not_found_404.http", GEMINI, ModelNotFound, None, false),
    row("gemini/permission_denied_403.http", GEMINI, Auth, None, false),
];

#[rustfmt::skip]
const AZURE_ROWS: &[Row] = &[
    row("azure/content_filter_400.http", OPENAI, ContentFiltered, None, false),
    row("azure/innererror_only_400.http", OPENAI, ContentFiltered, None, false),
    // `retry-after-ms` wins over `retry-after` and the message's 6 seconds.
    row("azure/rate_limit_429.http", OPENAI, RateLimited, millis(5327), true),
    row("azure/rate_limit_body_hint_429.http", OPENAI, RateLimited, secs(2), true),
    row("azure/deployment_not_found_404.http", OPENAI, ModelNotFound, None, false),
    row("azure/context_length_exceeded_400.http", OPENAI, ContextTooLong, None, false),
    row("azure/access_denied_401.http", OPENAI, Auth, None, false),
];

#[rustfmt::skip]
const OPENAI_COMPATIBLE_ROWS: &[Row] = &[
    row("openai_compatible/vllm_context_400.http", OPENAI, ContextTooLong, None, false),
    row("openai_compatible/vllm_nested_context_400.http", OPENAI, ContextTooLong, None, false),
    row("openai_compatible/vllm_bad_request_400.http", OPENAI, Invalid, None, false),
    row("openai_compatible/openrouter_credits_402.http", OPENAI, QuotaExhausted, None, false),
    row("openai_compatible/openrouter_rate_limit_429.http", OPENAI, RateLimited, None, true),
    row("openai_compatible/deepseek_balance_402.http", OPENAI, QuotaExhausted, None, false),
    row("openai_compatible/ollama_not_found_404.http", OTHER, ModelNotFound, None, false),
    row("openai_compatible/ollama_runner_500.http", OTHER, Transient, None, true),
    row("openai_compatible/detail_404.http", OTHER, ModelNotFound, None, false),
    row("openai_compatible/gateway_message_502.http", OTHER, Transient, None, true),
];

#[rustfmt::skip]
const GARBAGE_ROWS: &[Row] = &[
    row("garbage/html_502.http", NONE, Transient, None, true),
    row("garbage/cloudflare_524.http", NONE, Transient, None, true),
    row("garbage/truncated_json_429.http", NONE, RateLimited, None, true),
    row("garbage/empty_500.http", NONE, Transient, None, true),
    row("garbage/null_400.http", NONE, Invalid, None, false),
    row("garbage/deeply_nested_400.http", NONE, Invalid, None, false),
    // Deep junk in a skipped field is skipped: the error is still read.
    row("garbage/deeply_nested_error_503.http", OPENAI, Transient, None, true),
    row("garbage/not_an_error_503.http", NONE, Transient, None, true),
    row("garbage/wrong_types_500.http", NONE, Transient, None, true),
    // Would be QuotaExhausted, but trailing bytes make it not JSON.
    row("garbage/trailing_garbage_429.http", NONE, RateLimited, None, true),
];

const TABLES: [&[Row]; 6] = [
    OPENAI_ROWS,
    ANTHROPIC_ROWS,
    GEMINI_ROWS,
    AZURE_ROWS,
    OPENAI_COMPATIBLE_ROWS,
    GARBAGE_ROWS,
];

/// Classifies every row's fixture as the error-body layer and the default
/// classifier would, and returns every mismatch.
fn mismatches(rows: &[Row]) -> Vec<String> {
    let mut wrong = Vec::new();
    for row in rows {
        let fixture = match fixture(row.path) {
            Ok(fixture) => fixture,
            Err(error) => {
                wrong.push(format!("{}: unreadable: {error}", row.path));
                continue;
            }
        };
        let found = ProviderError::parse(fixture.status, &fixture.body);
        let provider = found.as_ref().map(ProviderError::provider);
        if provider != row.provider {
            wrong.push(format!(
                "{}: provider {provider:?}, expected {:?}",
                row.path, row.provider
            ));
        }
        // An SSE error event with the same data is recognised the same way.
        let event = ProviderError::parse_event(&fixture.body).map(|found| found.provider());
        if event != row.provider {
            wrong.push(format!(
                "{}: parse_event provider {event:?}, expected {:?}",
                row.path, row.provider
            ));
        }

        let mut response = http::Response::new(());
        *response.status_mut() = fixture.status;
        *response.headers_mut() = fixture.headers;
        if let Some(found) = found {
            response.extensions_mut().insert(found);
        }
        let outcome = DefaultClassifier.classify(&Ok::<_, std::io::Error>(response));
        let Some(failure) = outcome.as_failure() else {
            wrong.push(format!("{}: classified as a success", row.path));
            continue;
        };
        let actual = (
            failure.kind(),
            failure.retry_after(),
            failure.is_retryable(),
        );
        let expected = (row.kind, row.retry_after, row.retryable);
        if actual != expected {
            wrong.push(format!(
                "{}: (kind, retry_after, retryable) = {actual:?}, expected {expected:?}",
                row.path
            ));
        }
    }
    wrong
}

fn assert_table(rows: &[Row]) {
    let wrong = mismatches(rows);
    assert!(
        wrong.is_empty(),
        "{} of {} fixtures misclassified:\n{}",
        wrong.len(),
        rows.len(),
        wrong.join("\n")
    );
}

#[test]
fn openai_fixtures_are_classified() {
    assert_table(OPENAI_ROWS);
}

#[test]
fn anthropic_fixtures_are_classified() {
    assert_table(ANTHROPIC_ROWS);
}

#[test]
fn gemini_fixtures_are_classified() {
    assert_table(GEMINI_ROWS);
}

#[test]
fn azure_fixtures_are_classified() {
    assert_table(AZURE_ROWS);
}

#[test]
fn openai_compatible_fixtures_are_classified() {
    assert_table(OPENAI_COMPATIBLE_ROWS);
}

#[test]
fn garbage_fixtures_are_classified() {
    assert_table(GARBAGE_ROWS);
}

#[test]
fn every_fixture_is_in_exactly_one_table() {
    let mut listed = BTreeSet::new();
    let mut twice = Vec::new();
    for row in TABLES.iter().flat_map(|rows| rows.iter()) {
        if !listed.insert(row.path.to_owned()) {
            twice.push(row.path);
        }
    }
    let files = all_fixture_files();
    let unlisted: Vec<_> = files.difference(&listed).collect();
    let missing: Vec<_> = listed.difference(&files).collect();
    assert!(
        unlisted.is_empty() && missing.is_empty() && twice.is_empty(),
        "fixtures in no table: {unlisted:?}; rows without a file: {missing:?}; rows listed twice: {twice:?}"
    );
    assert!(files.len() >= 60, "only {} fixtures found", files.len());
}

// ---------------------------------------------------------------------------
// Parser edge cases
// ---------------------------------------------------------------------------

fn parse(status: u16, body: &str) -> Option<ProviderError> {
    ProviderError::parse(StatusCode::from_u16(status).unwrap(), body.as_bytes())
}

fn event(data: &str) -> Option<ProviderError> {
    ProviderError::parse_event(data.as_bytes())
}

#[test]
fn a_numeric_code_is_kept_as_text() {
    let found = parse(
        429,
        r#"{"error": {"message": "Rate limit exceeded", "code": 429}}"#,
    )
    .unwrap();
    assert_eq!(found.provider(), Provider::OpenAi);
    assert_eq!(found.code(), Some("429"));
    assert_eq!(found.kind(), Some(RateLimited));

    let found = parse(400, r#"{"error": {"message": "bad", "code": -1}}"#).unwrap();
    assert_eq!(found.code(), Some("-1"));
    // A float is not a code (its text could outgrow the body: 1e300).
    let found = parse(400, r#"{"error": {"message": "bad", "code": 1e300}}"#).unwrap();
    assert_eq!(found.code(), None);
}

#[test]
fn values_of_unexpected_types_do_not_fail_the_parse() {
    let found = parse(
        400,
        r#"{"error": {"message": "The response was filtered", "type": null, "param": {"x": [1]},
            "code": "content_filter", "status": 400, "innererror": "not an object", "details": 7}}"#,
    )
    .unwrap();
    assert_eq!(found.error_type(), None);
    assert_eq!(found.code(), Some("content_filter"));
    assert_eq!(found.kind(), Some(ContentFiltered));

    let found = parse(
        500,
        r#"{"error": {"message": ["not", "text"], "type": "server_error", "code": true}}"#,
    )
    .unwrap();
    assert_eq!(found.message(), None);
    assert_eq!(found.kind(), Some(Transient));
}

#[test]
fn escaped_strings_are_unescaped() {
    let found = parse(
        404,
        r#"{"error": "model \"llama3\" not found, caf\u00e9 \ud83d\ude00"}"#,
    )
    .unwrap();
    assert_eq!(found.provider(), Provider::Other);
    assert_eq!(found.message(), Some("model \"llama3\" not found, café 😀"));
}

#[test]
fn gemini_errors_wrapped_in_an_array_are_read() {
    let found = event(
        r#"[{"error": {"code": 503, "message": "The model is overloaded. Please try again later.", "status": "UNAVAILABLE"}}]"#,
    )
    .unwrap();
    assert_eq!(found.provider(), Provider::Gemini);
    assert_eq!(found.error_type(), Some("UNAVAILABLE"));
    assert_eq!(found.kind(), Some(Overloaded));
    // Only the first element counts; the rest is skipped.
    let found =
        event(r#"[{"error": {"message": "first"}}, {"error": {"message": "second"}}, 3]"#).unwrap();
    assert_eq!(found.message(), Some("first"));
    assert_eq!(event(r#"[]"#), None);
    assert_eq!(event(r#"[1, {"error": {"message": "second"}}]"#), None);
}

#[test]
fn unknown_shapes_are_none() {
    for body in [
        "",
        "   ",
        "null",
        "true",
        "42",
        r#""an error""#,
        "[]",
        "{}",
        r#"{"error": null}"#,
        r#"{"error": 500}"#,
        r#"{"error": {}}"#,
        r#"{"error": {"param": "messages"}}"#,
        r#"{"type": "error"}"#,
        r#"{"status": "error", "data": null}"#,
        r#"{"object": "chat.completion", "choices": []}"#,
        r#"{"error": {"message": "x"}"#,
        r#"{"error": {"message": "x"}}}"#,
        "<html><body>Bad Gateway</body></html>",
        "\u{feff}{\"error\": \"bom\"}",
        // serde's derive rejects a key given twice.
        r#"{"error": {"message": "a", "message": "b"}}"#,
    ] {
        assert_eq!(parse(500, body), None, "{body:?}");
        assert_eq!(event(body), None, "{body:?}");
    }
}

#[test]
fn deep_nesting_is_skipped_without_recursion() {
    // 100 000 levels: skipped values are skipped without recursion (no stack
    // overflow), so the rest of the body still counts.
    let deep = |open: &str, close: &str| open.repeat(100_000) + "0" + &close.repeat(100_000);
    let body = format!(
        r#"{{"error": {{"message": "x", "param": {}, "code": "content_filter"}}}}"#,
        deep("[", "]")
    );
    assert_eq!(parse(400, &body).unwrap().kind(), Some(ContentFiltered));
    let body = format!(
        r#"{{"error": {{"message": {}, "details": {}, "code": "insufficient_quota"}}}}"#,
        deep("[", "]"),
        deep(r#"{"a": "#, "}")
    );
    let found = parse(429, &body).unwrap();
    assert_eq!(
        (found.message(), found.kind()),
        (None, Some(QuotaExhausted))
    );
    // Nothing but nesting is no error body.
    assert_eq!(parse(400, &deep("[", "]")), None);
    assert_eq!(parse(400, &deep("[", "")), None);
}

#[test]
fn message_heuristics_ignore_case() {
    for (body, kind) in [
        (
            r#"{"message": "PROMPT IS TOO LONG: 9 > 8"}"#,
            ContextTooLong,
        ),
        (
            r#"{"detail": "This model's Maximum Context Length is 4096 tokens"}"#,
            ContextTooLong,
        ),
        (
            r#"{"error": "Your Credit Balance is too low"}"#,
            QuotaExhausted,
        ),
        (r#"{"error": "Engine OVERLOADED, retry later"}"#, Overloaded),
    ] {
        assert_eq!(
            event(body).and_then(|found| found.kind()),
            Some(kind),
            "{body}"
        );
    }
    assert_eq!(
        event(r#"{"message": "something else"}"#).unwrap().kind(),
        None
    );
}

#[test]
fn anthropic_spend_messages_are_quota_whatever_the_type() {
    for kind in [
        "rate_limit_error",
        "invalid_request_error",
        "authentication_error",
        "permission_error",
    ] {
        let body = format!(
            r#"{{"type": "error", "error": {{"type": "{kind}", "message": "You have reached your specified API usage limits."}}}}"#
        );
        assert_eq!(event(&body).unwrap().kind(), Some(QuotaExhausted), "{kind}");
    }
}

#[test]
fn anthropic_bodies_without_the_envelope_type_are_recognised() {
    let found =
        event(r#"{"error": {"type": "overloaded_error", "message": "Overloaded"}}"#).unwrap();
    assert_eq!(found.provider(), Provider::Anthropic);
    assert_eq!(found.kind(), Some(Overloaded));
    // `invalid_request_error` is OpenAI's too: without the envelope, OpenAI.
    let found = event(r#"{"error": {"type": "invalid_request_error", "message": "bad"}}"#).unwrap();
    assert_eq!(found.provider(), Provider::OpenAi);
}

#[test]
fn the_body_never_turns_a_retryable_status_into_a_caller_fault() {
    let invalid =
        r#"{"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}}"#;
    assert_eq!(event(invalid).unwrap().kind(), Some(Invalid));
    assert_eq!(parse(400, invalid).unwrap().kind(), Some(Invalid));
    for status in [500, 502, 503, 429, 408, 529, 402, 401, 404] {
        assert_eq!(parse(status, invalid).unwrap().kind(), None, "{status}");
    }
    let context = r#"{"message": "context window exceeded"}"#;
    assert_eq!(parse(400, context).unwrap().kind(), Some(ContextTooLong));
    assert_eq!(parse(503, context).unwrap().kind(), None);
    let filtered = r#"{"error": {"message": "filtered", "code": "content_filter"}}"#;
    assert_eq!(parse(400, filtered).unwrap().kind(), Some(ContentFiltered));
    assert_eq!(parse(500, filtered).unwrap().kind(), None);
    // A quota is not a vague body: it stands even over a 5xx.
    let quota = r#"{"error": {"message": "x", "code": "insufficient_quota"}}"#;
    assert_eq!(parse(503, quota).unwrap().kind(), Some(QuotaExhausted));
}

#[test]
fn events_fall_back_on_the_status_in_the_body() {
    let found = event(r#"{"error": {"message": "Provider returned error", "code": 429}}"#).unwrap();
    assert_eq!(found.kind(), Some(RateLimited));
    let found = event(r#"{"error": {"message": "Upstream failed", "code": "502"}}"#).unwrap();
    assert_eq!(found.kind(), Some(Transient));
    // With an HTTP status, the status decides.
    let found = parse(
        500,
        r#"{"error": {"message": "Upstream failed", "code": 429}}"#,
    )
    .unwrap();
    assert_eq!(found.kind(), Some(RateLimited));
    let found = parse(
        500,
        r#"{"error": {"message": "Upstream failed", "code": 418}}"#,
    )
    .unwrap();
    assert_eq!(found.kind(), None);
    // Not a status: no kind.
    assert_eq!(
        event(r#"{"error": {"message": "x", "code": 200}}"#)
            .unwrap()
            .kind(),
        None
    );
    assert_eq!(
        event(r#"{"error": {"message": "x", "code": 4290}}"#)
            .unwrap()
            .kind(),
        None
    );
}

#[test]
fn absurd_or_malformed_retry_delays_are_no_hint() {
    let gemini = |delay: &str| {
        let body = format!(
            r#"{{"error": {{"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED",
                "details": [{{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": {delay}}}]}}}}"#
        );
        event(&body).unwrap().retry_after()
    };
    assert_eq!(gemini(r#""13s""#), secs(13));
    assert_eq!(
        gemini(r#""1.000340s""#),
        Some(Duration::from_micros(1_000_340))
    );
    assert_eq!(gemini(r#""86400s""#), Some(MAX_HINT));
    for absurd in [
        r#""86401s""#,
        r#""99999999999999999999s""#,
        r#""-5s""#,
        r#""5m""#,
        r#""soon""#,
        "13",
        "null",
        r#"{"seconds": 13}"#,
    ] {
        assert_eq!(gemini(absurd), None, "{absurd}");
    }
    let openai = |message: &str| {
        event(&format!(
            r#"{{"error": {{"message": "{message}", "code": "rate_limit_exceeded"}}}}"#
        ))
        .unwrap()
        .retry_after()
    };
    assert_eq!(openai("Please try again in 1m30.5s."), millis(90_500));
    assert_eq!(openai("Please try again in 25h."), None);
    assert_eq!(openai("Please try again in a moment."), None);
}

#[test]
fn display_names_provider_type_and_message() {
    let found = parse(
        400,
        r#"{"error": {"message": "filtered", "type": null, "code": "content_filter"}}"#,
    )
    .unwrap();
    assert_eq!(found.to_string(), "openai content_filter: filtered");
    let found = parse(404, r#"{"detail": "Not Found"}"#).unwrap();
    assert_eq!(found.to_string(), "other: Not Found");
    assert_eq!(Provider::Anthropic.as_str(), "anthropic");
    assert_eq!(Provider::Other.as_str(), "other");
}

// ---------------------------------------------------------------------------
// Fuzzing
// ---------------------------------------------------------------------------

/// The kind of `body` under `status`, as the classifier will see it.
fn kind_of(status: u16, body: &str) -> FailureKind {
    let status = StatusCode::from_u16(status).unwrap();
    let mut response = http::Response::new(());
    *response.status_mut() = status;
    if let Some(found) = ProviderError::parse(status, body.as_bytes()) {
        response.extensions_mut().insert(found);
    }
    DefaultClassifier
        .classify(&Ok::<_, std::io::Error>(response))
        .as_failure()
        .unwrap()
        .kind()
}

#[test]
fn a_message_quoting_the_caller_cannot_pass_for_an_upstream_condition() {
    // OpenAI quotes the invalid value: the caller chooses the words.
    let quoted = |word: &str| {
        format!(
            r#"{{"error": {{"message": "Invalid value: '{word}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.", "type": "invalid_request_error", "param": "messages[0].role", "code": "invalid_value"}}}}"#
        )
    };
    for word in [
        "credit balance",
        "Insufficient credits",
        "overloaded",
        "usage limit",
    ] {
        assert_eq!(kind_of(400, &quoted(word)), FailureKind::Invalid, "{word}");
    }
    // A model name quoted in a 404.
    let missing = r#"{"object": "error", "message": "The model `Insufficient credits` does not exist.", "type": "NotFoundError", "param": null, "code": 404}"#;
    assert_eq!(kind_of(404, missing), FailureKind::ModelNotFound);
    // A retryable status stays retryable whatever its message mentions.
    let unavailable =
        r#"{"message": "Service unavailable: upstream usage limit reached, retry later"}"#;
    assert_eq!(kind_of(503, unavailable), FailureKind::Transient);
    let insufficient = r#"{"error": "Insufficient credits"}"#;
    assert_eq!(kind_of(503, insufficient), FailureKind::Transient);
    // Where the status allows it, the message still tells.
    assert_eq!(kind_of(402, insufficient), FailureKind::QuotaExhausted);
    assert_eq!(kind_of(400, insufficient), FailureKind::QuotaExhausted);
    let overloaded =
        r#"{"error": {"message": "That model is currently overloaded with other requests."}}"#;
    assert_eq!(kind_of(503, overloaded), FailureKind::Overloaded);
    assert_eq!(kind_of(400, overloaded), FailureKind::Invalid);
}

#[test]
fn anthropics_context_limit_message_is_context_too_long() {
    let body = r#"{"type":"error","error":{"type":"invalid_request_error","message":"input length and `max_tokens` exceed context limit: 188240 + 21333 > 200000, decrease input length or `max_tokens` and try again"}}"#;
    assert_eq!(kind_of(400, body), FailureKind::ContextTooLong);
}

mod fuzz {
    use proptest::prelude::*;
    use proptest::sample::Index;

    use super::*;

    /// 512 cases per property, or `PROPTEST_CASES`.
    fn config() -> ProptestConfig {
        let cases = std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|cases| cases.parse().ok())
            .unwrap_or(512);
        ProptestConfig::with_cases(cases)
    }

    /// The bodies of every fixture, read once.
    fn bodies() -> &'static [Vec<u8>] {
        static BODIES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
        BODIES.get_or_init(|| {
            all_fixture_files()
                .iter()
                .map(|path| fixture(path).unwrap().body)
                .collect()
        })
    }

    /// `parse` and `parse_event` on `body`: no panic, nothing longer than
    /// the input, no hint above the ceiling.
    fn check(status: u16, body: &[u8]) -> Result<(), TestCaseError> {
        let status = StatusCode::from_u16(status).unwrap();
        for found in [
            ProviderError::parse(status, body),
            ProviderError::parse_event(body),
        ]
        .into_iter()
        .flatten()
        {
            for text in [found.message(), found.code(), found.error_type()]
                .into_iter()
                .flatten()
            {
                prop_assert!(
                    text.len() <= body.len(),
                    "{text:?} from {} bytes",
                    body.len()
                );
            }
            prop_assert!(found.retry_after().is_none_or(|after| after <= MAX_HINT));
            let _ = found.to_string();
        }
        Ok(())
    }

    #[derive(Clone, Debug)]
    enum Mutation {
        Flip(Index, u8),
        Truncate(Index),
        Insert(Index, u8),
        Delete(Index, usize),
        Splice(Index, &'static str),
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            (any::<Index>(), 0..8_u8).prop_map(|(at, bit)| Mutation::Flip(at, bit)),
            any::<Index>().prop_map(Mutation::Truncate),
            (any::<Index>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert(at, byte)),
            (any::<Index>(), 1..64_usize).prop_map(|(at, len)| Mutation::Delete(at, len)),
            (
                any::<Index>(),
                prop::sample::select(vec![
                    "\"", "\\", "{", "}", "[", "]", ",", ":", "null", "429", "-1", "1e999",
                    "\"s\"", "\\u0000", "\\ud800", "[[[[[[[[", "\u{feff}", "\u{fffd}",
                ])
            )
                .prop_map(|(at, text)| Mutation::Splice(at, text)),
        ]
    }

    fn apply(body: &mut Vec<u8>, mutation: &Mutation) {
        let at = |index: &Index, len: usize| if len == 0 { 0 } else { index.index(len + 1) };
        match mutation {
            Mutation::Flip(index, bit) if !body.is_empty() => {
                let at = index.index(body.len());
                body[at] ^= 1 << bit;
            }
            Mutation::Flip(..) => {}
            Mutation::Truncate(index) => body.truncate(at(index, body.len())),
            Mutation::Insert(index, byte) => body.insert(at(index, body.len()), *byte),
            Mutation::Delete(index, len) => {
                let start = at(index, body.len());
                let end = (start + len).min(body.len());
                body.drain(start..end);
            }
            Mutation::Splice(index, text) => {
                let start = at(index, body.len());
                body.splice(start..start, text.bytes());
            }
        }
    }

    /// Arbitrary JSON built from the keys error bodies use, so that the
    /// lenient typing of every field is exercised, not only the tokenizer.
    fn json() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "[ -~]{0,24}".prop_map(Value::from),
            prop::sample::select(vec![
                "error",
                "RESOURCE_EXHAUSTED",
                "insufficient_quota",
                "overloaded_error",
                "invalid_request_error",
                "content_filter",
                "13s",
                "0.5s",
                "PerDay",
                "0",
                "API_KEY_INVALID",
                "Please try again in 6s.",
                "prompt is too long",
            ])
            .prop_map(Value::from),
        ];
        let keys = prop::sample::select(vec![
            "error",
            "type",
            "message",
            "code",
            "status",
            "details",
            "innererror",
            "violations",
            "quotaId",
            "quotaValue",
            "retryDelay",
            "reason",
            "object",
            "detail",
            "@type",
            "param",
        ]);
        leaf.prop_recursive(6, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(keys.clone(), inner, 0..5).prop_map(|map| {
                    Value::Object(map.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
                }),
            ]
        })
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn arbitrary_bytes(body in prop::collection::vec(any::<u8>(), 0..2048), status in 400_u16..600) {
            check(status, &body)?;
        }

        #[test]
        fn mutated_fixture_bodies(
            which in any::<Index>(),
            mutations in prop::collection::vec(mutation(), 1..8),
            status in 400_u16..600,
        ) {
            let mut body = which.get(bodies()).clone();
            for mutation in &mutations {
                apply(&mut body, mutation);
            }
            check(status, &body)?;
        }

        #[test]
        fn arbitrary_error_shaped_json(value in json(), wrap in any::<bool>(), status in 400_u16..600) {
            let value = if wrap { serde_json::json!({ "error": value }) } else { value };
            check(status, &serde_json::to_vec(&value).unwrap())?;
        }
    }
}
