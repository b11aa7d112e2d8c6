//! `model_of`, `set_model` and `rewrite_model`: exact bytes on a table of
//! real bodies, a byte-exact oracle and a fuzz run in proptest, deep
//! nesting, and a rewrite through a real fallback layer.

use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use serde_json::{Map, Value};
use tower::{Layer, ServiceBuilder, ServiceExt};
use tower_failover::fallback::{FallbackLayer, Tier};
use tower_failover::llm::model::{JsonBody, model_of, rewrite_model, set_model};

use crate::support::{Upstream, ok, status};

const OPENAI: &str = r#"{"model":"gpt-4o","messages":[{"role":"system","content":"Say \"model\": \"x\""},{"role":"user","content":"hi","model":"nested"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"model":{"type":"string"}}}}],"temperature":0.70,"max_tokens":1e3,"stream":true}"#;

const ANTHROPIC_PRETTY: &str = "{\r\n  \"max_tokens\" : 1024,\n\t\"system\": \"You are \\u00e9l\\u00e8ve \\\\ \\/ \\n\",\n  \"model\" :  \"claude-sonnet-4-0\"  ,\n  \"messages\": [ {\"role\": \"user\", \"content\": [ {\"type\": \"text\", \"text\": \"\u{1f600} caf\u{e9}\"} ] } ],\n  \"metadata\": {\"model\": null}\n}\n";

#[test]
fn set_model_rewrites_only_the_top_level_value() {
    let table: &[(&str, &str, &str)] = &[
        // OpenAI chat with `"model"` in prompts and nested keys.
        (
            OPENAI,
            "gpt-4o-mini",
            &OPENAI.replacen(r#""model":"gpt-4o""#, r#""model":"gpt-4o-mini""#, 1),
        ),
        // Anthropic, pretty-printed with CRLF, tabs, spaces around the colon.
        (
            ANTHROPIC_PRETTY,
            "claude-3-5-haiku-latest",
            &ANTHROPIC_PRETTY.replacen("\"claude-sonnet-4-0\"", "\"claude-3-5-haiku-latest\"", 1),
        ),
        // The model is the last member.
        (
            r#"{"a":[1,{"b":2}],"model":"x"}"#,
            "y",
            r#"{"a":[1,{"b":2}],"model":"y"}"#,
        ),
        // Not a string: any type is replaced by a string.
        (r#"{"model":null,"n":1}"#, "m", r#"{"model":"m","n":1}"#),
        (
            r#"{"model":{"id":"x","v":[1,2]},"n":1}"#,
            "m",
            r#"{"model":"m","n":1}"#,
        ),
        (
            r#"{"model":[],"n":-0.5E-3}"#,
            "m",
            r#"{"model":"m","n":-0.5E-3}"#,
        ),
        (r#"{"model":12.5e+2}"#, "m", r#"{"model":"m"}"#),
        (r#"{"model":true}"#, "m", r#"{"model":"m"}"#),
        // Duplicates: every top-level one.
        (
            r#"{"model":"a","x":{"model":"n"},"model":"b"}"#,
            "c",
            r#"{"model":"c","x":{"model":"n"},"model":"c"}"#,
        ),
        // An escaped key is the same key.
        (
            r#"{"mod\u0065l":"a","modelx":"b"}"#,
            "c",
            r#"{"mod\u0065l":"c","modelx":"b"}"#,
        ),
        (
            r#"{"\u006d\u006F\u0064\u0065\u006c":1}"#,
            "c",
            r#"{"\u006d\u006F\u0064\u0065\u006c":"c"}"#,
        ),
        // Keys that are not `model`.
        (r#"{"Model":"a"}"#, "c", r#"{"model":"c","Model":"a"}"#),
        (
            r#"{"model\u0000":"a"}"#,
            "c",
            r#"{"model":"c","model\u0000":"a"}"#,
        ),
        // Missing model: inserted first.
        (r#"{"messages":[]}"#, "m", r#"{"model":"m","messages":[]}"#),
        ("{}", "m", r#"{"model":"m"}"#),
        ("{ }", "m", r#"{"model":"m" }"#),
        (" \n{\n}\n ", "m", " \n{\"model\":\"m\"\n}\n "),
        ("{\n  \"a\": 1\n}", "m", "{\"model\":\"m\",\n  \"a\": 1\n}"),
        // The new model is escaped.
        (
            r#"{"model":"a"}"#,
            "q\"b\\s/\n\t\u{1}\u{1f}é😀",
            r#"{"model":"q\"b\\s/\n\t\u0001\u001fé😀"}"#,
        ),
        (r#"{"model":"a"}"#, "", r#"{"model":""}"#),
        (r#"{"model":"a"}"#, "\u{8}\u{c}\r", r#"{"model":"\b\f\r"}"#),
        // Escapes and unicode elsewhere survive untouched.
        (
            r#"{"s":"\"\\\/\b\f\n\r\t\u00E9\ud83d\ude00","model":"a","é":"😀"}"#,
            "b",
            r#"{"s":"\"\\\/\b\f\n\r\t\u00E9\ud83d\ude00","model":"b","é":"😀"}"#,
        ),
    ];
    for (input, model, expected) in table {
        let output =
            set_model(input.as_bytes(), model).unwrap_or_else(|error| panic!("{input}: {error}"));
        assert_eq!(
            String::from_utf8(output).unwrap(),
            *expected,
            "set_model({input:?}, {model:?})"
        );
    }
}

#[test]
fn a_delete_character_is_written_as_it_is() {
    assert_eq!(
        set_model(br#"{"model":"a"}"#, "\u{7f}").unwrap(),
        "{\"model\":\"\u{7f}\"}".as_bytes()
    );
}

#[test]
fn model_of_reads_the_top_level_string() {
    let table: &[(&str, Option<&str>)] = &[
        (OPENAI, Some("gpt-4o")),
        (ANTHROPIC_PRETTY, Some("claude-sonnet-4-0")),
        (r#"{"model":"a","model":"b"}"#, Some("b")),
        (
            r#"{"mod\u0065l":"\u00e9\ud83d\ude00 \"q\" \\"}"#,
            Some("é😀 \"q\" \\"),
        ),
        (r#"{"model":""}"#, Some("")),
        (r#"{"model":null}"#, None),
        (r#"{"model":1}"#, None),
        (r#"{"model":{"name":"x"}}"#, None),
        (r#"{"messages":[{"model":"x"}]}"#, None),
        (r#"{"model":"\ud83d"}"#, None),
        ("{}", None),
        (r#"{"model":"a""#, None),
        (r#"["model","a"]"#, None),
        (r#"{"model":"a"} x"#, None),
    ];
    for (input, expected) in table {
        assert_eq!(model_of(input.as_bytes()).as_deref(), *expected, "{input}");
    }
    // Borrowed when there is nothing to unescape.
    assert!(matches!(
        model_of(br#"{"model":"gpt-4o"}"#),
        Some(std::borrow::Cow::Borrowed("gpt-4o"))
    ));
}

#[test]
fn errors_on_what_is_not_one_json_object() {
    let not_object = [
        "[]",
        "[{\"model\":\"a\"}]",
        "\"model\"",
        "1",
        "-1",
        "true",
        "null",
        " [ ",
    ];
    for input in not_object {
        let error = set_model(input.as_bytes(), "m").unwrap_err();
        assert_eq!(error.to_string(), "json is not an object", "{input}");
        assert_eq!(error.offset(), None);
    }
    let truncated = [
        "",
        "  ",
        "{",
        "{\"model\"",
        "{\"model\":",
        "{\"model\":\"a",
        "{\"a\":[1,",
        "{\"a\":tr",
        "{\"a\":\"\\u00",
        "{\"a\":1.",
        "{\"a\":{\"b\":1}",
        "{\"model\":\"a\",",
    ];
    for input in truncated {
        let error = set_model(input.as_bytes(), "m").unwrap_err();
        assert_eq!(error.to_string(), "truncated json", "{input:?}");
    }
    let malformed: &[(&str, usize)] = &[
        ("x", 0),
        ("{x}", 1),
        ("{\"a\" 1}", 5),
        ("{\"a\":1,}", 7),
        ("{\"a\":1 \"b\":2}", 7),
        ("{\"a\":[1,]}", 8),
        ("{\"a\":[1}", 7),
        ("{\"a\":{\"b\":1]}", 11),
        ("{\"a\":01}", 6),
        ("{\"a\":+1}", 5),
        ("{\"a\":.5}", 5),
        ("{\"a\":1e}", 7),
        ("{\"a\":tru}", 8),
        ("{\"a\":nul1}", 8),
        ("{\"a\":\"\\x\"}", 7),
        ("{\"a\":\"\\u12g4\"}", 10),
        ("{\"a\":\"tab\there\"}", 9),
        ("{\"a\":1}}", 7),
        ("{\"a\":1} {}", 8),
        ("{'a':1}", 1),
        ("{\"model\":undefined}", 9),
    ];
    for (input, offset) in malformed {
        let error = set_model(input.as_bytes(), "m").unwrap_err();
        assert_eq!(error.offset(), Some(*offset), "{input}: {error}");
        assert_eq!(
            error.to_string(),
            format!("malformed json at byte {offset}")
        );
        assert_eq!(model_of(input.as_bytes()), None);
    }
}

#[test]
fn deep_nesting_does_not_overflow_the_stack() {
    const DEPTH: usize = 100_000;
    let mut deep = String::from(r#"{"a":"#);
    deep.push_str(&"[".repeat(DEPTH));
    deep.push_str(&"]".repeat(DEPTH));
    deep.push_str(r#","b":"#);
    deep.push_str(&"{\"model\":".repeat(DEPTH));
    deep.push('1');
    deep.push_str(&"}".repeat(DEPTH));
    deep.push('}');
    let output = set_model(deep.as_bytes(), "m").unwrap();
    assert_eq!(&output[..15], br#"{"model":"m","a"#);
    assert_eq!(output.len(), deep.len() + r#""model":"m","#.len());
    assert_eq!(model_of(deep.as_bytes()), None);

    let open = "[".repeat(DEPTH);
    let unclosed = format!(r#"{{"a":{open}"#);
    assert_eq!(
        set_model(unclosed.as_bytes(), "m").unwrap_err().to_string(),
        "truncated json"
    );
    let mismatched = format!(r#"{{"a":{open}}}"#);
    assert_eq!(
        set_model(mismatched.as_bytes(), "m").unwrap_err().offset(),
        Some(5 + DEPTH)
    );
}

#[test]
fn json_bodies_read_and_replace_their_bytes() {
    let mut text = String::from("{}");
    assert_eq!(text.json_bytes(), Some(&b"{}"[..]));
    assert!(!text.set_json(vec![0xff]));
    assert_eq!(text, "{}");
    assert!(text.set_json(b"{\"a\":1}".to_vec()));
    assert_eq!(text, "{\"a\":1}");

    let mut bytes = bytes::Bytes::from_static(b"{}");
    assert!(bytes.set_json(b"[]".to_vec()));
    assert_eq!(bytes.json_bytes(), Some(&b"[]"[..]));

    let mut vec = b"{}".to_vec();
    assert!(vec.set_json(b"[1]".to_vec()));
    assert_eq!(vec, b"[1]");
}

#[test]
fn rewrite_model_sets_the_model_and_the_content_length() {
    let rewrite = rewrite_model::<String>("gpt-4o-mini");
    let body = r#"{"model":"gpt-4o","n":1}"#;
    let mut request = http::Request::post("/v1/chat/completions")
        .header("content-length", body.len())
        .body(String::from(body))
        .unwrap();
    rewrite(&mut request);
    assert_eq!(request.body(), r#"{"model":"gpt-4o-mini","n":1}"#);
    assert_eq!(request.headers()["content-length"], "29");

    // No content-length: none is added.
    let mut request = http::Request::new(bytes::Bytes::from_static(b"{}"));
    rewrite_model("m")(&mut request);
    assert_eq!(request.body().as_ref(), br#"{"model":"m"}"#);
    assert!(request.headers().get("content-length").is_none());

    // Not JSON: unchanged (and a warning).
    let mut request = http::Request::post("/")
        .header("content-length", 5)
        .body(b"hello".to_vec())
        .unwrap();
    rewrite_model("m")(&mut request);
    assert_eq!(request.body(), b"hello");
    assert_eq!(request.headers()["content-length"], "5");
}

#[tokio::test(start_paused = true)]
async fn replay_bodies_are_rewritten_when_buffered() {
    use tower_failover::retry::ReplayBody;
    type Body = ReplayBody<http_body_util::Empty<bytes::Bytes>>;
    let mut request = http::Request::new(Body::from_bytes(&br#"{"model":"a"}"#[..]));
    rewrite_model("bb")(&mut request);
    assert_eq!(request.body().json_bytes(), Some(&br#"{"model":"bb"}"#[..]));
    let collected = http_body_util::BodyExt::collect(request.into_body())
        .await
        .unwrap();
    assert_eq!(collected.to_bytes().as_ref(), br#"{"model":"bb"}"#);
}

#[tokio::test(start_paused = true)]
async fn a_fallback_tier_sees_the_rewritten_model() {
    let primary = Upstream::new([status(529)]);
    let backup = Upstream::new([ok()]);
    let lengths = Arc::new(Mutex::new(Vec::new()));
    let record = {
        let lengths = lengths.clone();
        move |request: http::Request<String>| {
            let length = request.headers().get("content-length").cloned();
            lengths.lock().unwrap().push(length);
            request
        }
    };
    let fallback = FallbackLayer::builder("sonnet")
        .tier(
            Tier::new(
                "haiku",
                ServiceBuilder::new()
                    .map_request(record)
                    .service(backup.clone()),
            )
            .rewrite(rewrite_model("claude-3-5-haiku-latest")),
        )
        .build()
        .unwrap();
    let body = r#"{"model": "claude-sonnet-4-0", "messages": [{"role": "user", "content": "hi", "model": "k"}]}"#;
    let request = http::Request::post("https://api.anthropic.com/v1/messages")
        .header("content-length", body.len())
        .body(String::from(body))
        .unwrap();
    let response = fallback
        .layer(primary.clone())
        .oneshot(request)
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    assert_eq!(primary.calls()[0].body, body);
    let rewritten = body.replace("claude-sonnet-4-0", "claude-3-5-haiku-latest");
    let backup_calls = backup.calls();
    assert_eq!(backup_calls.len(), 1);
    assert_eq!(backup_calls[0].body, rewritten);
    let lengths = lengths.lock().unwrap();
    assert_eq!(lengths.len(), 1);
    assert_eq!(lengths[0].as_ref().unwrap(), &rewritten.len().to_string());
    assert_ne!(rewritten.len(), body.len());
}

// A JSON value written with random whitespace between all tokens.
fn write_value(value: &Value, space: &mut impl Iterator<Item = &'static str>, out: &mut String) {
    match value {
        Value::Object(map) => {
            out.push('{');
            out.push_str(space.next().unwrap());
            for (index, (key, value)) in map.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                    out.push_str(space.next().unwrap());
                }
                out.push_str(&serde_json::to_string(key).unwrap());
                out.push_str(space.next().unwrap());
                out.push(':');
                out.push_str(space.next().unwrap());
                write_value(value, space, out);
                out.push_str(space.next().unwrap());
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            out.push_str(space.next().unwrap());
            for (index, value) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                    out.push_str(space.next().unwrap());
                }
                write_value(value, space, out);
                out.push_str(space.next().unwrap());
            }
            out.push(']');
        }
        other => out.push_str(&serde_json::to_string(other).unwrap()),
    }
}

/// A top-level object written like [`write_value`], with its `model`
/// value replaced by `model` if given; the model's value draws its
/// whitespace from a separate iterator, so that both texts have the same
/// whitespace everywhere else.
fn write_object(
    object: &Map<String, Value>,
    space: &[&'static str],
    model: Option<&str>,
) -> String {
    let mut out = String::from(space[0]);
    let mut outer = space.iter().copied().cycle();
    let mut inner = space.iter().copied().cycle();
    out.push('{');
    out.push_str(outer.next().unwrap());
    for (index, (key, value)) in object.iter().enumerate() {
        if index > 0 {
            out.push(',');
            out.push_str(outer.next().unwrap());
        }
        out.push_str(&serde_json::to_string(key).unwrap());
        out.push_str(outer.next().unwrap());
        out.push(':');
        out.push_str(outer.next().unwrap());
        match model {
            Some(model) if key == "model" => out.push_str(&serde_json::to_string(model).unwrap()),
            _ if key == "model" => write_value(value, &mut inner, &mut out),
            _ => write_value(value, &mut outer, &mut out),
        }
        out.push_str(outer.next().unwrap());
    }
    out.push('}');
    out.push_str(space[space.len() - 1]);
    out
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("model".to_owned()),
        Just("messages".to_owned()),
        Just("Model".to_owned()),
        "\\PC{0,6}",
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e12f64..1e12).prop_map(Value::from),
        "\\PC{0,8}".prop_map(Value::String),
        Just(Value::String("model\"\\/\n\u{1}".to_owned())),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..5)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn whitespace() -> impl Strategy<Value = Vec<&'static str>> {
    prop::collection::vec(
        prop::sample::select(vec!["", "", " ", "\n  ", "\t", "\r\n"]),
        1..16,
    )
}

proptest! {
    #[test]
    fn set_model_changes_the_model_bytes_and_nothing_else(
        members in prop::collection::btree_map(key(), value(), 0..6),
        model in "\\PC{0,12}|[\\x00-\\x1f\"\\\\]{0,4}",
        space in whitespace(),
    ) {
        let object: Map<String, Value> = members.into_iter().collect();
        let json = write_object(&object, &space, None);

        let output = set_model(json.as_bytes(), &model).unwrap();

        let expected = if object.contains_key("model") {
            // The same text with the new model written in: byte-exact.
            write_object(&object, &space, Some(&model))
        } else {
            let open = json.find('{').unwrap() + 1;
            let comma = if object.is_empty() { "" } else { "," };
            let model = serde_json::to_string(&model).unwrap();
            format!("{}\"model\":{model}{comma}{}", &json[..open], &json[open..])
        };
        prop_assert_eq!(std::str::from_utf8(&output).unwrap(), expected.as_str());
        // Parsed, as serde_json reads the input (its floats do not round-trip).
        let mut reread: Map<String, Value> = serde_json::from_str(&json).unwrap();
        reread.insert("model".to_owned(), Value::String(model.clone()));
        let parsed: Map<String, Value> = serde_json::from_slice(&output).unwrap();
        prop_assert_eq!(parsed, reread);
        let read = model_of(&output);
        prop_assert_eq!(read.as_deref(), Some(model.as_str()));
        let original = object.get("model").and_then(Value::as_str);
        let read = model_of(json.as_bytes());
        prop_assert_eq!(read.as_deref(), original);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_stay_linear(
        input in prop::collection::vec(any::<u8>(), 0..256),
        model in "\\PC{0,8}",
    ) {
        check_against_serde(&input, &model)?;
    }

    #[test]
    fn mutated_bodies_agree_with_serde_json(
        position in any::<prop::sample::Index>(),
        byte in prop::sample::select(b"{}[],:\" \\0123456789.-eEtrufalsnm".to_vec()),
        cut in any::<bool>(),
        model in "\\PC{0,8}",
    ) {
        let mut input = OPENAI.as_bytes().to_vec();
        let at = position.index(input.len());
        if cut {
            input.truncate(at);
        } else {
            input[at] = byte;
        }
        check_against_serde(&input, &model)?;
    }
}

/// `set_model` succeeds exactly when serde_json reads an object (for
/// inputs where the two agree on what JSON is: UTF-8, no `\u` escapes),
/// and its output is the same object with the new model, no longer than
/// the input plus one model per byte.
fn check_against_serde(input: &[u8], model: &str) -> Result<(), TestCaseError> {
    let result = set_model(input, model);
    let _ = model_of(input);
    let serde: Option<Map<String, Value>> = serde_json::from_slice(input).ok();
    if let Ok(output) = &result {
        let bound = input.len() + (input.len() + 1) * (model.len() * 6 + 10);
        prop_assert!(output.len() <= bound);
    }
    if let Some(mut object) = serde {
        let output = result.expect("serde_json read an object");
        object.insert("model".to_owned(), Value::String(model.to_owned()));
        let parsed: Map<String, Value> = serde_json::from_slice(&output).unwrap();
        prop_assert_eq!(parsed, object);
    } else if std::str::from_utf8(input).is_ok() && !input.windows(2).any(|w| w == b"\\u") {
        prop_assert!(
            result.is_err(),
            "accepted what serde_json rejects: {:?}",
            String::from_utf8_lossy(input)
        );
    }
    Ok(())
}
