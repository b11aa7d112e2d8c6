//! The gateway example, over real TCP on 127.0.0.1: its modules are included
//! from `examples/gateway/`, so these tests exercise the example's code.

#[path = "../../examples/gateway/config.rs"]
mod config;
#[path = "../../examples/gateway/errors.rs"]
mod errors;
#[path = "../../examples/support/fake_provider.rs"]
mod fake_provider;
#[path = "../../examples/gateway/local.rs"]
mod local;
#[path = "../../examples/gateway/routes.rs"]
mod routes;
#[path = "../../examples/gateway/stack.rs"]
mod stack;

mod config_errors;
mod limits_and_routing;
mod routes_tests;
mod support;
