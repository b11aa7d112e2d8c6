//! Hedged requests (being written: issue 8).
