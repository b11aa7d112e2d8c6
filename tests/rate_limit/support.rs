//! A scripted HTTP upstream that logs when it was called.
#![allow(unreachable_pub)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tower::Service;
use tower::service_fn;

/// One scripted answer: a status and headers.
pub type Answer = (u16, Vec<(&'static str, String)>);

/// The upstream: answers each call with the next scripted answer (then 200
/// without headers forever) and logs when each call arrived.
#[derive(Clone, Debug)]
pub struct Upstream {
    script: Arc<Mutex<VecDeque<Answer>>>,
    calls: Arc<Mutex<Vec<Instant>>>,
    started: Instant,
}

impl Upstream {
    pub fn new(script: impl IntoIterator<Item = Answer>) -> Self {
        Self {
            script: Arc::new(Mutex::new(script.into_iter().collect())),
            calls: Arc::default(),
            started: Instant::now(),
        }
    }

    /// When each call arrived, from the upstream's creation.
    pub fn offsets(&self) -> Vec<Duration> {
        let calls = self.calls.lock().unwrap();
        calls.iter().map(|at| *at - self.started).collect()
    }

    pub fn count(&self) -> usize {
        self.calls.lock().unwrap().len()
    }

    pub fn service(
        &self,
    ) -> impl Service<
        (),
        Response = http::Response<()>,
        Error = Infallible,
        Future = impl Future<Output = Result<http::Response<()>, Infallible>> + Send,
    > + Clone
    + Send
    + 'static {
        let this = self.clone();
        service_fn(move |(): ()| {
            this.calls.lock().unwrap().push(Instant::now());
            let (status, headers) = this
                .script
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or((200, Vec::new()));
            async move {
                let mut response = http::Response::builder().status(status);
                for (name, value) in headers {
                    response = response.header(name, value);
                }
                Ok::<_, Infallible>(response.body(()).unwrap())
            }
        })
    }
}

/// A 200 with these headers.
pub fn with_headers(headers: &[(&'static str, &str)]) -> Answer {
    (
        200,
        headers
            .iter()
            .map(|&(name, value)| (name, value.to_owned()))
            .collect(),
    )
}

/// `at` as RFC 3339 (UTC, whole seconds), for Anthropic's reset headers.
pub fn rfc3339(at: std::time::SystemTime) -> String {
    let secs = at.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3_600,
        rest % 3_600 / 60,
        rest % 60
    )
}
