//! Criterion benchmark of the core on one thread (issue 15): parse + normalize, and the whole
//! core (checks, parse, normalize, correlate), over 3,049 records of `waymark simulate --flows
//! 220 --seed 1` (`fixtures/records/`: JSON and text systems, split failure reasons, noise).
//! Target: parse + normalize ≥ 2,500,000 records/s. Run: `cargo bench -p waymark-core --bench
//! core`; the throughput line gives records/s (`elem/s`).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use waymark_core::config::Config;
use waymark_core::pipeline::{Batch, Processor};
use waymark_core::Origin;

const RECORDS: &str = include_str!("../../../fixtures/records/simulated_220_flows.log");

fn records() -> Vec<&'static [u8]> {
    RECORDS.lines().filter(|l| !l.is_empty()).map(str::as_bytes).collect()
}

fn parse_normalize(c: &mut Criterion) {
    let config = Config::load(None).expect("built-in config");
    let records = records();
    let mut group = c.benchmark_group("core");
    group.throughput(Throughput::Elements(records.len() as u64));
    group.bench_function("parse_normalize", |b| {
        b.iter(|| {
            let mut ok = 0u64;
            for r in &records {
                ok += u64::from(config.parsers.parse_bytes(r).is_ok());
            }
            ok
        })
    });
    group.bench_function("whole_core", |b| {
        b.iter_batched(
            || (Processor::new(&config), Batch::default()),
            |(mut processor, mut batch)| {
                for (i, r) in records.iter().enumerate() {
                    processor.record(Origin { source: 1, position: i as u64 }, r, &mut batch);
                }
                batch
            },
            criterion::BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, parse_normalize);
criterion_main!(benches);
