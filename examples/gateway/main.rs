//! An OpenAI-compatible gateway in front of several providers, each call
//! going through tower-failover's layers: one budget for the whole call,
//! fallback along the config's chains, per provider retries, a circuit
//! breaker per model, attempt timeouts, guarded streams. An unmodified
//! official OpenAI client works against it.
//!
//! ```sh
//! cargo run --example gateway --all-features -- [--config examples/gateway.toml] [--listen 127.0.0.1:8080] [--local]
//! ```
//!
//! `--local` starts fake providers on 127.0.0.1 in place of the configured
//! ones (no network, no API keys). Routes: `POST /v1/chat/completions`,
//! `GET /v1/models`, `GET /v1/models/{id}`, `GET /health`, `GET /metrics`.
//! The modules are the
//! gateway (tests/gateway includes them); this file only reads the command
//! line and serves. `examples/gateway.toml` documents the configuration;
//! `examples/gateway/check-openai-client.sh` runs the official OpenAI
//! Python client against `--local`.

mod config;
mod errors;
#[path = "../support/fake_provider.rs"]
mod fake_provider;
mod local;
mod routes;
mod stack;

use std::net::SocketAddr;
use std::process::ExitCode;

use config::Config;
use routes::AppState;
use stack::Gateway;

const USAGE: &str = "usage: gateway [--config FILE] [--listen ADDR] [--local]";

struct Args {
    config: String,
    listen: Option<SocketAddr>,
    local: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        config: String::from("examples/gateway.toml"),
        listen: None,
        local: false,
    };
    let mut argv = std::env::args().skip(1);
    while let Some(arg) = argv.next() {
        match arg.as_str() {
            "--config" => args.config = argv.next().ok_or("--config needs a file")?,
            "--listen" => {
                let addr = argv.next().ok_or("--listen needs an address")?;
                let addr = addr
                    .parse()
                    .map_err(|_| format!("--listen: `{addr}` is not an address"))?;
                args.listen = Some(addr);
            }
            "--local" => args.local = true,
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument `{other}`; {USAGE}")),
        }
    }
    Ok(args)
}

async fn run(args: Args) -> Result<(), String> {
    // In --local mode no key is needed: the fake providers take none.
    let env = |var: &str| {
        if args.local {
            Some(String::from("local"))
        } else {
            std::env::var(var).ok()
        }
    };
    let mut config =
        Config::load(&args.config, &env).map_err(|e| format!("{}: {e}", args.config))?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    let _fakes = if args.local {
        local::start(&mut config)
            .await
            .map_err(|e| format!("--local: {e}"))?
    } else {
        Vec::new()
    };
    // The recorder goes in first: the layers register their metrics with
    // it when they are built.
    let metrics = routes::prometheus();
    let gateway = Gateway::new(&config).map_err(|e| format!("{}: {e}", args.config))?;
    let state = AppState {
        gateway,
        metrics,
        max_request_body: config.max_request_body,
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    for (model, provider) in state.gateway.models() {
        let chain: Vec<&str> = config.graph.chain(model).into_iter().flatten().collect();
        println!("gateway: model {model} → {provider}, then {chain:?}");
    }
    println!("gateway: listening on http://{addr}/v1 (health: http://{addr}/health)");
    axum::serve(routes::nodelay(listener), routes::router(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| e.to_string())
}

#[tokio::main]
async fn main() -> ExitCode {
    let result = match parse_args() {
        Ok(args) => run(args).await,
        Err(message) => Err(message),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("gateway: {message}");
            ExitCode::FAILURE
        }
    }
}
