//! The success path with the `metrics` feature on: with no recorder
//! installed, with the facade's no-op recorder, and with a Prometheus
//! recorder (what the gateway example installs). Run with
//! `cargo bench --bench overhead --all-features -- metrics`.

use std::hint::black_box;

use criterion::Criterion;
use metrics_exporter_prometheus::PrometheusBuilder;

use super::stacks::{call, full_stack, stack};

pub(crate) fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let mut group = c.benchmark_group("metrics");

    macro_rules! bench {
        ($name:literal, $service:expr) => {{
            // Built after the recorder is in place, as the module docs ask.
            let mut service = $service;
            group.bench_function($name, |b| b.iter(|| call(&mut service, black_box(1))));
        }};
    }

    bench!("stack_no_recorder", stack());
    bench!("full_stack_no_recorder", full_stack(false));
    {
        let noop = ::metrics::NoopRecorder;
        let _local = ::metrics::set_default_local_recorder(&noop);
        bench!("stack_noop_recorder", stack());
        bench!("full_stack_noop_recorder", full_stack(false));
    }
    {
        let prometheus = PrometheusBuilder::new().build_recorder();
        let _local = ::metrics::set_default_local_recorder(&prometheus);
        tower_failover::metrics::describe();
        bench!("stack_prometheus", stack());
        bench!("full_stack_prometheus", full_stack(false));
    }
    group.finish();
}
