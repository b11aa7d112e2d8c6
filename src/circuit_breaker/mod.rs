//! A lock-free, sliding-window circuit breaker (in progress).

mod error;

pub use self::error::CircuitOpen;
