//! Streaming without holding back plain text: an answer without numbers goes out chunk by
//! chunk; a dose split anywhere still never reaches the client.

use serde_json::Value;

use super::{app, events};
use crate::common::{chat, notice, scripted::PLAIN, sse_text};

#[tokio::test]
async fn a_plain_answer_streamed_in_25_chunks_reaches_the_client_in_at_least_20() {
    let app = app().await;
    let sse = app
        .post_stream(
            "/v1/chat/completions",
            &chat("gpt-plain-25", "como descansar melhor?"),
        )
        .await;
    let with_text = events(&sse)
        .iter()
        .filter(|e| {
            e["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|t| !t.is_empty())
        })
        .count();
    assert_eq!(sse_text(&sse), PLAIN);
    assert_eq!(PLAIN.split_inclusive(' ').count(), 25);
    assert!(with_text >= 20, "{with_text} chunks with text: {sse}");
}

#[tokio::test]
async fn a_dose_split_at_random_chunk_boundaries_never_reaches_the_client() {
    let app = app().await;
    for seed in 1..=5 {
        let model = format!("gpt-split-{seed}");
        let sse = app
            .post_stream("/v1/chat/completions", &chat(&model, "e para dor?"))
            .await;
        let text = sse_text(&sse);
        assert!(
            !text.contains("500") && !text.contains("6 em 6"),
            "seed {seed}: {text:?}"
        );
        assert!(
            text.ends_with(&notice("dosing", "pt-BR")),
            "seed {seed}: {text:?}"
        );
        let last: Vec<Value> = events(&sse);
        assert!(
            last.iter()
                .any(|e| e["choices"][0]["finish_reason"] == "content_filter"),
            "seed {seed}"
        );
    }
}
