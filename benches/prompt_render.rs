//! Resolving and rendering a shipped prompt: the per-request cost of the prompt registry
//! (target ≤ 20 µs). `cargo bench --bench prompt_render`.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use powerbirth::prompts::PromptRegistry;
use powerbirth::wire::PromptSelector;
use serde_json::json;

fn render(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts");
    let registry = PromptRegistry::load(&dir).expect("shipped prompts load");
    let mut sel = PromptSelector::new("assistant-general");
    sel.persona = Some("doula".into());
    sel.variables.insert("user_name".into(), json!("Ana"));
    sel.variables.insert("gestational_week".into(), json!(32));
    let accept_language = Some("pt-BR,pt;q=0.9,en-US;q=0.8,en;q=0.7");

    let r = registry.render(&sel, accept_language).expect("renders");
    assert_eq!(
        (r.prompt_ref.to_string().as_str(), r.language.as_str()),
        ("assistant-general@1", "pt-BR")
    );

    c.bench_function("render assistant-general production pt-BR doula", |b| {
        b.iter(|| {
            registry
                .render(black_box(&sel), black_box(accept_language))
                .unwrap()
        })
    });
}

criterion_group!(benches, render);
criterion_main!(benches);
