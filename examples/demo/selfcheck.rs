//! A quick check that the fake providers answer as the OpenAI clients
//! expect, run before the demo so a broken setup fails loudly at once.

use http_body_util::BodyExt;
use serde_json::Value;
use tower::BoxError;

use crate::clients::HttpClient;
use crate::fake_provider::FakeProvider;

/// Asks `provider` for its models and for one completion, non-streaming and
/// streaming, with its fault schedule held off, and checks the answers'
/// shapes; then restarts its clock and stats.
pub(crate) async fn check(
    client: &HttpClient,
    provider: &FakeProvider,
    model: &str,
) -> Result<(), BoxError> {
    provider.hold_faults(true);
    let result = answers(client, provider, model).await;
    provider.hold_faults(false);
    provider.restart();
    result
}

async fn answers(
    client: &HttpClient,
    provider: &FakeProvider,
    model: &str,
) -> Result<(), BoxError> {
    let base = provider.base_url();
    let models = client.get(format!("{base}/models").parse()?).await?;
    let models: Value = serde_json::from_slice(&models.into_body().collect().await?.to_bytes())?;
    if models["data"][0]["id"].as_str().is_none() {
        return Err(format!("{}: /v1/models lists no model: {models}", provider.name()).into());
    }
    for stream in [false, true] {
        completion(client, provider, model, stream).await?;
    }
    Ok(())
}

/// One chat completion, checked.
async fn completion(
    client: &HttpClient,
    provider: &FakeProvider,
    model: &str,
    stream: bool,
) -> Result<(), BoxError> {
    let body = serde_json::json!({
        "model": model,
        "stream": stream,
        "messages": [{"role": "user", "content": "hi"}],
    });
    let request = http::Request::post(format!("{}/chat/completions", provider.base_url()))
        .header("content-type", "application/json")
        .body(body.to_string())?;
    let response = client.request(request).await?;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    let text = String::from_utf8_lossy(&bytes);
    let expected = format!("hello from {} ({model})", provider.name());
    let ok = status.is_success()
        && if stream {
            text.ends_with("data: [DONE]\n\n") && text.contains("\"chat.completion.chunk\"")
        } else {
            serde_json::from_slice::<Value>(&bytes)?["choices"][0]["message"]["content"]
                == expected.as_str()
        };
    if !ok {
        return Err(format!("{}: unexpected answer ({status}): {text}", provider.name()).into());
    }
    Ok(())
}
