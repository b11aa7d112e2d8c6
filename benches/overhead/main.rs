#![allow(missing_docs)]
//! Overhead of each layer on the happy and failure paths, side by side with
//! the peers, in one run: `cargo bench --bench overhead`.

use criterion::{Criterion, criterion_group, criterion_main};

mod breaker;

fn all(c: &mut Criterion) {
    breaker::benches(c);
}

criterion_group!(benches, all);
criterion_main!(benches);
