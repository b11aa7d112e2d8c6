//! Circuit-breaker overhead benches (issue 3).

use criterion::Criterion;

pub(crate) fn benches(_c: &mut Criterion) {}
