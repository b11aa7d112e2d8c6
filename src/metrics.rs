//! Counters and histograms through the `metrics` facade (the `metrics` feature).
