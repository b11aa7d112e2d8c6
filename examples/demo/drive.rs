//! Open-loop load: requests arrive at a fixed rate whatever the client is
//! doing, so every client faces the same schedule over the same wall time.
//! A request's latency runs from its planned arrival, so time spent waiting
//! for an in-flight slot counts too.

use std::sync::Arc;
use std::time::Duration;

use http::Request;
use http_body_util::BodyExt;
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;
use tower::ServiceExt;

use crate::clients::DemoClient;
use crate::progress::Progress;

/// One request's fate.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample {
    pub(crate) latency: Duration,
    /// The index of the provider that answered with a success, or `None`
    /// if the request failed.
    pub(crate) served_by: Option<usize>,
}

/// What a run measured on the client side.
#[derive(Debug)]
pub(crate) struct Samples {
    pub(crate) samples: Vec<Sample>,
    pub(crate) wall: Duration,
}

/// Where and how fast to send.
#[derive(Clone, Debug)]
pub(crate) struct Load {
    pub(crate) url: http::Uri,
    pub(crate) model: &'static str,
    pub(crate) requests: u64,
    pub(crate) rate: f64,
    pub(crate) in_flight: usize,
    /// The providers' names, in tier order, to tell who answered.
    pub(crate) providers: Arc<[String]>,
}

/// Sends `load.requests` chat requests through `client` at `load.rate`.
pub(crate) async fn drive(client: DemoClient, load: Load, progress: &mut Progress) -> Samples {
    let start = Instant::now();
    let (sender, mut receiver) = mpsc::channel(1024);
    let slots = Arc::new(Semaphore::new(load.in_flight));
    let interval = Duration::from_secs_f64(1.0 / load.rate);
    let launcher = tokio::spawn({
        let load = load.clone();
        async move {
            for n in 0..load.requests {
                let planned = start + interval.mul_f64(n as f64);
                tokio::time::sleep_until(planned).await;
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                let (client, sender) = (client.clone(), sender.clone());
                let request = chat_request(&load, n);
                let providers = load.providers.clone();
                tokio::spawn(async move {
                    let served_by = send(client, request, &providers).await;
                    drop(slot);
                    let latency = planned.elapsed();
                    let _ = sender.send(Sample { latency, served_by }).await;
                });
            }
        }
    });
    let mut samples = Vec::with_capacity(load.requests as usize);
    let mut failed = 0;
    while let Some(sample) = receiver.recv().await {
        failed += u64::from(sample.served_by.is_none());
        samples.push(sample);
        progress.update(samples.len() as u64, failed);
        if samples.len() as u64 == load.requests {
            break;
        }
    }
    let _ = launcher.await;
    Samples {
        samples,
        wall: start.elapsed(),
    }
}

fn chat_request(load: &Load, n: u64) -> Request<String> {
    let body = format!(
        r#"{{"model":"{}","messages":[{{"role":"user","content":"Say hello to request {n}."}}]}}"#,
        load.model
    );
    Request::post(load.url.clone())
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::AUTHORIZATION, "Bearer sk-demo")
        .body(body)
        .expect("a valid request")
}

/// Sends one request and reads the whole answer: a success is a 2xx whose
/// body arrived in full.
async fn send(client: DemoClient, request: Request<String>, providers: &[String]) -> Option<usize> {
    let response = client.oneshot(request).await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    let served_by = response.headers().get("x-fake-provider").and_then(|name| {
        providers
            .iter()
            .position(|p| p.as_bytes() == name.as_bytes())
    });
    response.into_body().collect().await.ok()?;
    served_by
}
