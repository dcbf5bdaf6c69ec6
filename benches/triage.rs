//! The triage classifier's cost per user turn on the request path (issue #19, budget ≤ 15 ms on
//! 2 cores): one message through the frozen encoder (all-MiniLM-L6-v2) and the head, which is
//! what the guard's second opinion does; and eight turns embedded in one batch, per turn. The
//! head's weights do not change its cost (four dot products), so a zero head is used and no
//! trained version is needed. Needs `make models`.
//! `cargo bench --bench triage -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use powerbirth::embed::Embedder;
use powerbirth::ml::triage::head::Head;

const TURN: &str = "oi, to com 34 semanas e desde ontem to com uma dor de cabeça chata que não \
passa, e agora to vendo uns pontinhos brilhando, é normal?";

fn bench(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/base/all-minilm-l6-v2");
    let embedder = Embedder::load(&dir).expect("models/base/all-minilm-l6-v2 (make models)");
    let head = Head {
        weights: vec![0.0; 4 * 384],
        bias: vec![0.0; 4],
        classes: 4,
        dim: 384,
    };
    c.bench_function("triage one turn (embed + head)", |b| {
        b.iter(|| {
            let x = embedder.embed(&[black_box(TURN)]).expect("embed");
            black_box(head.proba(&x[0]))
        })
    });
    let turns = [TURN; 8];
    c.bench_function("triage 8 concurrent turns in one batch", |b| {
        b.iter(|| {
            let xs = embedder.embed(black_box(&turns)).expect("embed");
            black_box(xs.iter().map(|x| head.proba(x)).collect::<Vec<_>>())
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
