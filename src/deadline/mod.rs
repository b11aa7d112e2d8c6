//! One deadline for the whole logical call.
//!
//! A logical call to an LLM API is more than one request: a first attempt,
//! a backoff sleep, a retry, perhaps a fallback to another provider. Giving
//! each of those its own timeout lets the total run far past what the caller
//! can wait. Here the caller sets one budget, and everything below fits
//! inside it:
//!
//! - [`TimeoutBudgetLayer`] sets the [`Deadline`] (the earlier of its own
//!   budget and any outer deadline) and fails the call with
//!   [`DeadlineExceeded`] when it passes;
//! - every layer below reads it with [`Deadline::current`], whatever the
//!   request type: [`Retry`](crate::retry::Retry) never sleeps past it and
//!   gives up rather than start an attempt it cannot finish;
//! - [`AttemptTimeoutLayer`] gives each attempt `min(per_try, remaining)`,
//!   failing with [`AttemptTimedOut`] (retryable) or, when the deadline was
//!   the tighter, [`DeadlineExceeded`];
//! - with [`HttpDeadline`], an `http::Request` also carries the deadline in
//!   its extensions (to cross task boundaries) and can tell the upstream how
//!   long it has in a header.
//!
//! [`DeadlineExceeded`] is an error the caller receives; a caller that gives
//! up first simply drops the future, and everything below is dropped with it.
//!
//! # Examples
//!
//! ```
//! # #[cfg(feature = "retry")]
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use std::time::Duration;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use tower_failover::deadline::{DeadlineExceeded, TimeoutBudgetLayer};
//!
//! // An upstream that takes a minute.
//! let slow = service_fn(|_: ()| async {
//!     tokio::time::sleep(Duration::from_secs(60)).await;
//!     Ok::<_, std::io::Error>("late")
//! });
//! let service = ServiceBuilder::new()
//!     .layer(TimeoutBudgetLayer::new(Duration::from_secs(2)))
//!     .service(slow);
//!
//! let error = service.oneshot(()).await.unwrap_err();
//! assert!(error.is::<DeadlineExceeded>());
//! # }
//! # #[cfg(not(feature = "retry"))]
//! # fn main() {}
//! ```
//!
//! # Order
//!
//! `TimeoutBudgetLayer` goes outermost (above fallback and retry), and
//! `AttemptTimeoutLayer` innermost, right above the client, so that it times
//! each attempt and not the retries around it.

#[cfg(feature = "serde")]
mod de;
#[allow(clippy::module_inception)]
mod deadline;
mod error;
mod propagate;
mod scope;

#[cfg(feature = "timeout-budget")]
mod attempt;
#[cfg(feature = "timeout-budget")]
mod budget;
#[cfg(feature = "timeout-budget")]
mod future;
#[cfg(feature = "timeout-budget")]
mod layer;

pub use self::deadline::{Deadline, Scoped};
pub use self::error::{AttemptTimedOut, DeadlineExceeded};
pub use self::propagate::{HttpDeadline, PropagateDeadline};

#[cfg(feature = "timeout-budget")]
pub use self::attempt::AttemptTimeout;
#[cfg(feature = "timeout-budget")]
pub use self::budget::TimeoutBudget;
#[cfg(feature = "timeout-budget")]
pub use self::future::ResponseFuture;
#[cfg(feature = "timeout-budget")]
pub use self::layer::{AttemptTimeoutLayer, TimeoutBudgetLayer};
