//! Tests of the server-hint parsers and of `Hint::from_headers_at`.
//!
//! - `parsers`: table-driven tests of every parser, with values shaped like
//!   what OpenAI, Azure OpenAI, Anthropic and gRPC servers send, and the edge
//!   cases around them;
//! - `headers`: how `Hint::from_headers_at` combines the headers
//!   (precedence, rate-limit resets, refusals, the ceiling);
//! - `props`: proptest: arbitrary bytes never panic any parser, results never
//!   exceed `MAX_HINT`, and formatting then parsing round-trips.

mod headers;
mod parsers;
mod props;
mod support;
