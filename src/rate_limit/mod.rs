//! Caller-side rate limiting (being written: issue 8).
