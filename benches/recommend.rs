//! `cargo bench --bench recommend`: one recommendation in-process over a 1,000-article catalogue
//! (fixed pseudo-random 384-dimension unit vectors, as MiniLM's), for a patient with 15 reads,
//! topic engagement, a week and a language: the profile, the scoring of every article, the sort
//! and the explanations. Prints mean, p50 and p99 over 10,000 timed calls, then criterion's
//! estimate. Target (issue 16): p99 ≤ 5 ms. Under `cargo test` (no `--bench` argument) the
//! percentiles take 20 calls: a smoke run of the same code, not a measurement.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use powerbirth::features::EngagementFeatures;
use powerbirth::ml::recommend::Query;
use powerbirth::ml::recommend::synth::synthetic_ranker;

fn features() -> EngagementFeatures {
    let mut f = EngagementFeatures {
        language: Some("pt-BR".into()),
        gestational_week: Some(24),
        read_content_ids: (0..15).map(|i| format!("article-{:05}", i * 37)).collect(),
        ..EngagementFeatures::default()
    };
    for (t, n) in [("topic-1", 5), ("topic-4", 3), ("topic-7", 1)] {
        f.views_30d.insert(t.into(), n);
        f.completions_7d.insert(t.into(), n / 2);
    }
    f
}

fn percentiles(ranker: &powerbirth::ml::recommend::Ranker, f: &EngagementFeatures) {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this once unoptimised,
    // where 10,000 calls took minutes.
    let calls = if std::env::args().any(|a| a == "--bench") {
        10_000
    } else {
        20
    };
    let mut times: Vec<Duration> = (0..calls)
        .map(|_| {
            let start = Instant::now();
            black_box(ranker.recommend(Query {
                features: Some(f),
                fallback_language: None,
                k: 5,
            }));
            start.elapsed()
        })
        .collect();
    times.sort();
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "recommend, 1,000 articles: mean {:?}, p50 {:?}, p99 {:?} over {} calls",
        mean,
        at(0.50),
        at(0.99),
        times.len()
    );
}

fn bench(c: &mut Criterion) {
    let ranker = synthetic_ranker(1_000, 384, 42);
    let f = features();
    percentiles(&ranker, &f);
    c.bench_function("recommend_1000_articles", |b| {
        b.iter(|| {
            ranker.recommend(Query {
                features: Some(black_box(&f)),
                fallback_language: None,
                k: 5,
            })
        })
    });
    c.bench_function("recommend_1000_articles_cold_start", |b| {
        b.iter(|| {
            ranker.recommend(Query {
                features: None,
                fallback_language: None,
                k: 5,
            })
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
