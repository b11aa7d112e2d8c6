//! Integration tests of the rate limiter, in paused time: the rate over a
//! long window, sharing across clones, adapting to the upstream's headers,
//! the token bucket, failing fast, the deadline, cancellation, the keyed
//! form, configuration errors and classification.

mod adapt;
mod config;
mod contention;
mod keyed;
mod limits;
mod metrics;
mod order;
mod props;
mod rate;
mod support;
