//! Integration tests of the circuit breaker: paused time, a scripted
//! upstream, every transition and setting, drops at every await point, and
//! a proptest model.

mod config;
mod drops;
mod errors;
mod keyed;
mod model;
mod state_machine;
mod support;
