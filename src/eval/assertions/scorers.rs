//! The models some assertions need — all-MiniLM-L6-v2 for `similarity`, a local model's weights
//! for `perplexity`, the judge — each loaded once per run, only when a set uses it. The
//! CPU-bound ones run on blocking threads, off the async runtime.

use std::sync::Arc;

use super::super::judge::{Grade, Judge, Rubrics};
use super::super::metrics;
use crate::providers::local::ChatTurn;
use crate::providers::{Backend, ModelEntry};
use crate::wire::ChatMessage;

/// The models assertions may need, each loaded once per run and only when a set uses it.
#[derive(Clone, Default)]
pub struct Scorers {
    pub embedder: Option<Arc<metrics::similarity::Embedder>>,
    /// A configured local model (its weights score perplexity).
    pub local: Option<Arc<ModelEntry>>,
    pub judge: Option<Judge>,
    pub rubrics: Arc<Rubrics>,
}

impl Scorers {
    /// Cosine similarity of the two texts' embeddings, on a blocking thread.
    pub(super) async fn similarity(&self, answer: &str, reference: &str) -> Result<f64, String> {
        let embedder = self
            .embedder
            .clone()
            .ok_or("no embedding model loaded for `similarity`")?;
        let (a, b) = (answer.to_string(), reference.to_string());
        tokio::task::spawn_blocking(move || embedder.similarity(&a, &b))
            .await
            .map_err(|e| format!("similarity failed: {e}"))?
            .map_err(|e| format!("similarity failed: {e}"))
    }

    /// Perplexity of `answer` after `context` under the local model, on a blocking thread.
    pub(super) async fn perplexity(
        &self,
        context: &[ChatTurn],
        answer: &str,
    ) -> Result<f64, String> {
        let entry = self
            .local
            .clone()
            .ok_or("no local model configured for `perplexity`")?;
        let (context, answer) = (context.to_vec(), answer.to_string());
        tokio::task::spawn_blocking(move || match &entry.backend {
            Backend::Local(p) => p
                .model()
                .perplexity(&context, &answer)
                .map_err(|e| format!("perplexity failed: {e}")),
            Backend::OpenAi(_) => Err(format!("`{}` is not a local model", entry.name)),
        })
        .await
        .map_err(|e| format!("perplexity failed: {e}"))?
    }

    /// The judge's grade and the rubric's version.
    pub(super) async fn judge(
        &self,
        rubric: &str,
        conversation: &[ChatMessage],
        answer: &str,
    ) -> Result<(Grade, String), String> {
        let judge = self.judge.as_ref().ok_or("no judge model configured")?;
        let rubric = self
            .rubrics
            .get(rubric)
            .ok_or_else(|| format!("unknown rubric `{rubric}`"))?;
        let grade = judge.grade(rubric, conversation, answer).await?;
        Ok((grade, rubric.version.clone()))
    }
}
