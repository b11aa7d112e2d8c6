//! `--local`: fake OpenAI-compatible providers on 127.0.0.1 in place of the
//! configured ones, so that the gateway can be tried without network or API
//! keys. A provider whose models fall back somewhere is flaky (down for 10 s
//! of every 20 s, and 10 % 503s the rest of the time); the others are
//! healthy.

use std::time::Duration;

use crate::config::Config;
use crate::fake_provider::{FakeProvider, Fault, ProviderConfig, When};

/// Starts one fake provider per configured provider and points the config
/// at them. Keep the returned providers alive as long as the gateway runs.
pub(crate) async fn start(config: &mut Config) -> std::io::Result<Vec<FakeProvider>> {
    let mut fakes = Vec::with_capacity(config.providers.len());
    for provider in &mut config.providers {
        let upstream: Vec<String> = provider.models.iter().map(|r| r.upstream.clone()).collect();
        let flaky = provider.models.iter().any(|route| {
            config
                .graph
                .chain(&route.exposed)
                .is_some_and(|chain| chain.len() > 0)
        });
        let mut fake = ProviderConfig::healthy(&provider.name).models(upstream);
        if flaky {
            let down = When::Every {
                start: Duration::ZERO,
                period: Duration::from_secs(20),
                length: Duration::from_secs(10),
            };
            fake =
                fake.fault(down, 1.0, Fault::Outage)
                    .fault(When::Always, 0.1, Fault::ServerError);
        }
        let fake = FakeProvider::start(fake).await?;
        provider.base_url = fake
            .base_url()
            .parse()
            .map_err(|e| std::io::Error::other(format!("fake provider url: {e}")))?;
        provider.api_key = None;
        println!(
            "gateway: --local: provider {} is {} at {}",
            provider.name,
            if flaky {
                "flaky (down 10 s in every 20 s)"
            } else {
                "healthy"
            },
            fake.base_url()
        );
        fakes.push(fake);
    }
    Ok(fakes)
}
