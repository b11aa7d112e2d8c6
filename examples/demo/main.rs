//! The failover demo (being rebuilt): for now, starts a fake provider and
//! checks that it answers.

#[path = "../support/fake_provider.rs"]
mod fake_provider;
mod selfcheck;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::BoxError;

use fake_provider::{FakeProvider, ProviderConfig};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let provider = FakeProvider::start(ProviderConfig::healthy("primary")).await?;
    selfcheck::check(&client, &provider, "gpt-4o").await?;
    println!("{} ok on {}", provider.name(), provider.base_url());
    Ok(())
}
