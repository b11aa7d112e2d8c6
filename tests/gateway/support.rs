//! A gateway on 127.0.0.1:0 and an upstream that records what it is sent.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::post;
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::routes::{self, AppState};
use crate::stack::Gateway;

/// A running gateway; stops when dropped.
pub(crate) struct TestGateway {
    pub(crate) addr: SocketAddr,
    server: JoinHandle<()>,
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TestGateway {
    /// Parses `toml` (API keys: every variable is `sk-upstream`), builds the
    /// gateway and serves it on 127.0.0.1:0.
    pub(crate) async fn start(toml: &str) -> TestGateway {
        let config = Config::from_toml(toml, &|_| Some(String::from("sk-upstream")))
            .unwrap_or_else(|error| panic!("config: {error}"));
        Self::from_config(&config).await
    }

    /// Builds the gateway from a checked config and serves it on 127.0.0.1:0.
    pub(crate) async fn from_config(config: &Config) -> TestGateway {
        let metrics = routes::prometheus();
        let gateway = Gateway::new(config).unwrap();
        let state = AppState {
            gateway,
            metrics,
            max_request_body: config.max_request_body,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = routes::router(state);
        let server = tokio::spawn(async move {
            axum::serve(routes::nodelay(listener), app).await.unwrap();
        });
        TestGateway { addr, server }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// POSTs a chat completion body.
    pub(crate) async fn chat(&self, body: &Value) -> reqwest::Response {
        reqwest::Client::new()
            .post(self.url("/v1/chat/completions"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    pub(crate) async fn get_json(&self, path: &str) -> Value {
        let response = reqwest::get(self.url(path)).await.unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
    }
}

/// A chat request body.
pub(crate) fn chat_body(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "stream": stream,
        "messages": [{"role": "user", "content": "hello"}],
    })
}

/// The JSON of a response.
pub(crate) async fn json_of(response: reqwest::Response) -> Value {
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

/// An upstream answering every chat request with `status`, `content_type`,
/// extra headers and `body`, recording each request's headers and JSON
/// body.
pub(crate) struct Recorder {
    pub(crate) addr: SocketAddr,
    pub(crate) seen: Arc<Mutex<Vec<(HeaderMap, Value)>>>,
    server: JoinHandle<()>,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Recorder {
    /// Answers with `status` and `answer` as JSON.
    pub(crate) async fn json(status: u16, answer: Value) -> Recorder {
        Self::start(status, "application/json", answer.to_string()).await
    }

    /// Answers with `status` and `answer` as JSON, and `headers`.
    pub(crate) async fn json_with_headers(
        status: u16,
        answer: Value,
        headers: &[(&'static str, &'static str)],
    ) -> Recorder {
        Self::with_headers(status, "application/json", answer.to_string(), headers).await
    }

    pub(crate) async fn start(status: u16, content_type: &'static str, answer: String) -> Recorder {
        Self::with_headers(status, content_type, answer, &[]).await
    }

    pub(crate) async fn with_headers(
        status: u16,
        content_type: &'static str,
        answer: String,
        headers: &[(&'static str, &'static str)],
    ) -> Recorder {
        let extra: Vec<(&'static str, &'static str)> = headers.to_vec();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let app = Router::new().route(
            "/v1/chat/completions",
            post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let log = log.clone();
                let answer = answer.clone();
                let extra = extra.clone();
                async move {
                    let request = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    log.lock().unwrap().push((headers, request));
                    let mut response =
                        axum::response::Response::new(axum::body::Body::from(answer));
                    *response.status_mut() = StatusCode::from_u16(status).unwrap();
                    let headers = response.headers_mut();
                    headers.insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static(content_type),
                    );
                    for (name, value) in extra {
                        headers.append(name, http::HeaderValue::from_static(value));
                    }
                    response
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Recorder { addr, seen, server }
    }

    pub(crate) fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The requests seen so far.
    pub(crate) fn seen(&self) -> Vec<(HeaderMap, Value)> {
        self.seen.lock().unwrap().clone()
    }
}

/// A minimal OpenAI chat completion naming `who`.
pub(crate) fn completion(who: &str) -> Value {
    json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": who,
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": format!("hello from {who}")}}],
    })
}
