//! The triage classifier's cost per user turn on the request path (issue #19, budget ≤ 15 ms on
//! 2 cores): one message through the encoder (all-MiniLM-L6-v2) and the head, which is what the
//! guard's second opinion does for a lone turn; eight turns embedded in one batch; and eight
//! concurrent turns through the batcher the server installs (`ml::triage::batch`: window, one
//! forward pass on a blocking thread, an answer per turn). The head's weights do not change its
//! cost (four dot products), so a zero head is used and no trained version is needed; a version
//! with fine-tuned layers (`head.freeze`) runs the same encoder, so it costs the same.
//! Each case runs twice: on the serving forward (`[fast]`, `Embedder::embed`) and on candle's
//! `BertModel` (`[candle]`, `Embedder::candle_forward`, what served before), same weights.
//! Needs `make models`.
//! `cargo bench --bench triage -- --warm-up-time 1 --measurement-time 3`
//! (`TRIAGE_BENCH_UNPINNED=1`: candle works its thread count out per product, as before `threads`).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use powerbirth::embed::Embedder;
use powerbirth::ml::triage::batch::BatchedTriage;
use powerbirth::ml::triage::head::Head;
use powerbirth::ml::triage::model::TriageFile;
use powerbirth::ml::triage::{CLASSES, FORMAT, TriageModel};

/// A long turn (27 words of pt-BR, about 45 word pieces for the English vocabulary).
const TURN: &str = "oi, to com 34 semanas e desde ontem to com uma dor de cabeça chata que não \
passa, e agora to vendo uns pontinhos brilhando, é normal?";
/// A short turn (7 words), the length of most red flags in the guard's sets.
const SHORT: &str = "socorro, tem alguma coisa muito errada comigo";

fn bench(c: &mut Criterion) {
    // As `main` does (before this runtime or any other thread starts): candle's thread count
    // worked out once, not on every matrix product. `TRIAGE_BENCH_UNPINNED=1` leaves it to
    // candle, for the before/after figure of docs/performance.md.
    if std::env::var_os("TRIAGE_BENCH_UNPINNED").is_none() {
        // SAFETY: criterion runs this on its only thread, before anything below spawns one.
        unsafe { powerbirth::threads::pin_candle_threads() };
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/base/all-minilm-l6-v2");
    let fast = Embedder::load(&dir).expect("models/base/all-minilm-l6-v2 (make models)");
    let candle = fast.candle_forward().expect("candle's model");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    cases(c, &rt, "fast", fast);
    cases(c, &rt, "candle", candle);
}

/// The five cases on one forward.
fn cases(c: &mut Criterion, rt: &tokio::runtime::Runtime, path: &str, embedder: Embedder) {
    let head = Head {
        weights: vec![0.0; 4 * 384],
        bias: vec![0.0; 4],
        classes: 4,
        dim: 384,
    };
    c.bench_function(&format!("triage one turn (embed + head) [{path}]"), |b| {
        b.iter(|| {
            let x = embedder.embed(&[black_box(TURN)]).expect("embed");
            black_box(head.proba(&x[0]))
        })
    });
    c.bench_function(
        &format!("triage one short turn (embed + head) [{path}]"),
        |b| {
            b.iter(|| {
                let x = embedder.embed(&[black_box(SHORT)]).expect("embed");
                black_box(head.proba(&x[0]))
            })
        },
    );
    let turns = [TURN; 8];
    c.bench_function(
        &format!("triage 8 concurrent turns in one batch [{path}]"),
        |b| {
            b.iter(|| {
                let xs = embedder.embed(black_box(&turns)).expect("embed");
                black_box(xs.iter().map(|x| head.proba(x)).collect::<Vec<_>>())
            })
        },
    );

    // What the server runs: eight turns sent at once to the batcher, each awaiting its answer.
    let file = TriageFile {
        format: FORMAT.into(),
        version: "bench".into(),
        classes: CLASSES.iter().map(|c| c.to_string()).collect(),
        thresholds: BTreeMap::from([("red_flag".into(), 0.5), ("self_harm".into(), 0.5)]),
        base_model: "all-minilm-l6-v2".into(),
        encoder_sha256: String::new(),
        dim: 384,
        trained_layers: 0,
    };
    let model = TriageModel::from_parts(file, head, embedder);
    let batcher = Arc::new(rt.block_on(async { BatchedTriage::spawn(model) }));
    c.bench_function(
        &format!("triage 8 concurrent turns through the batcher [{path}]"),
        |b| {
            b.iter(|| {
                rt.block_on(futures_util::future::join_all((0..8).map(|_| {
                    let batcher = batcher.clone();
                    async move { batcher.proba(black_box(TURN)).await.expect("answered") }
                })))
            })
        },
    );
    c.bench_function(
        &format!("triage one turn through the batcher [{path}]"),
        |b| {
            b.iter(|| {
                rt.block_on(batcher.proba(black_box(TURN)))
                    .expect("answered")
            })
        },
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
