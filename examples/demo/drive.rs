//! Open-loop load: requests arrive at a fixed rate whatever the client is
//! doing, so every client faces the same schedule over the same wall time.
//! A request that finds the in-flight cap reached at its arrival is not
//! sent, and counts as shed (a failure): nothing waits for a slot, so a
//! slow client never slows the arrivals down. A request's latency runs from
//! its planned arrival. Every request carries its number in
//! `x-demo-request`, so the providers draw its faults from that number, the
//! same for every client.

use std::sync::Arc;
use std::time::Duration;

use http::Request;
use http_body_util::BodyExt;
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;
use tower::ServiceExt;

use crate::clients::DemoClient;
use crate::fake_provider::REQUEST_HEADER;
use crate::progress::Progress;

/// One request's fate.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample {
    pub(crate) latency: Duration,
    /// The index of the provider that answered with a success, or `None`
    /// if the request failed (or was shed).
    pub(crate) served_by: Option<usize>,
    /// Not sent: the in-flight cap was reached at its arrival.
    pub(crate) shed: bool,
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
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    let shed = Sample {
                        latency: Duration::ZERO,
                        served_by: None,
                        shed: true,
                    };
                    if sender.send(shed).await.is_err() {
                        return;
                    }
                    continue;
                };
                let (client, sender) = (client.clone(), sender.clone());
                let request = chat_request(&load, n);
                let providers = load.providers.clone();
                tokio::spawn(async move {
                    let served_by = send(client, request, &providers).await;
                    drop(slot);
                    let latency = planned.elapsed();
                    let sample = Sample {
                        latency,
                        served_by,
                        shed: false,
                    };
                    let _ = sender.send(sample).await;
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
        .header(REQUEST_HEADER, n)
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use bytes::Bytes;
    use http::Response;
    use http_body_util::{BodyExt, Full};
    use tower::BoxError;
    use tower::util::BoxCloneService;

    use super::*;

    /// Answers every request after a second, as provider `p`, and notes
    /// the request numbers it saw.
    fn slow_client(seen: Arc<Mutex<Vec<u64>>>) -> DemoClient {
        BoxCloneService::new(tower::service_fn(move |request: Request<String>| {
            let seen = seen.clone();
            async move {
                let number = request.headers()[REQUEST_HEADER].to_str()?.parse()?;
                seen.lock().unwrap().push(number);
                tokio::time::sleep(Duration::from_secs(1)).await;
                let body = Full::new(Bytes::from_static(b"{}")).map_err(|never| match never {});
                let response = Response::builder()
                    .header("x-fake-provider", "p")
                    .body(body.boxed())?;
                Ok::<_, BoxError>(response)
            }
        }))
    }

    #[tokio::test(start_paused = true)]
    async fn arrivals_past_the_in_flight_cap_are_shed_not_delayed() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let load = Load {
            url: "http://127.0.0.1:9/v1/chat/completions".parse().unwrap(),
            model: "m",
            requests: 5,
            rate: 100.0,
            in_flight: 2,
            providers: Arc::from(["p".to_owned()]),
        };
        let mut progress = Progress::new("test", 5);
        let samples = drive(slow_client(seen.clone()), load, &mut progress).await;
        let shed = samples.samples.iter().filter(|s| s.shed).count();
        let served: Vec<_> = samples.samples.iter().filter(|s| !s.shed).collect();
        assert_eq!(shed, 3, "{samples:?}");
        assert_eq!(served.len(), 2);
        for sample in served {
            assert_eq!(sample.served_by, Some(0));
            assert_eq!(sample.latency, Duration::from_secs(1), "no wait for a slot");
        }
        let mut seen = seen.lock().unwrap().clone();
        seen.sort_unstable();
        assert_eq!(seen, [0, 1], "each request carries its number");
    }
}
